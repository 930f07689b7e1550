//! Fingerprint minutiae: the template, its ISO record, and the matcher.

pub mod enrolled;
pub mod iso19794_2;
pub mod matcher;
pub use tobira_sample::template;
