//! Image → template → score, and 1:N search. No I/O, no runtime.
//!
//! - [`fingerprint`]: minutiae templates, the ISO/IEC 19794-2:2005 record, the matcher.
//! - [`palm`]: palm vein (issue 4): hand region, orientation-code template, matcher, 1:N, ISO/IEC 19794-9,
//!   synthetic palms.
//! - [`gallery`]: 1:N identification with a fast index first pass and the matcher on the best candidates.
//! - [`score`]: scores and thresholds calibrated to a false-match rate.
//! - [`synthetic`]: synthetic fingers and their impressions, for the simulator, the demo and scale tests.
//! - [`sample`]: what a reader delivers, and extraction from it.

pub mod bench;
pub mod eval;
pub mod fingerprint;
pub mod gallery;
pub mod image;
pub mod palm;
pub mod sample;
pub mod score;
pub mod site_check;
pub use tobira_sample::synthetic;
#[cfg(test)]
mod synthetic_tests;

pub use fingerprint::enrolled::{FingerTemplate, PreparedFinger};
pub use fingerprint::iso19794_2;
pub use fingerprint::matcher::{Prepared, compare};
pub use fingerprint::template::{Minutia, MinutiaKind, MinutiaeTemplate};
pub use gallery::Gallery;
pub use sample::{ExtractError, Sample, extract, extract_for_enrolment, extract_with_quality};
pub use score::{Score, Threshold};
