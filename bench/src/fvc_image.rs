//! One FVC image as the fingerprint benches hold it (`fingerprint.rs` loads and scores the sets,
//! `cross_sensor.rs` compares two of them).

use crate::nist::NistTemplate;
use tobira_biometrics::{MinutiaeTemplate, Prepared};

/// One FVC image: `F_I.tif`, finger F, impression I; each side's template, `None` when it failed to enrol.
pub(crate) struct Item {
    /// `SET/F_I.tif`, as the score CSVs name it.
    pub(crate) name: String,
    pub(crate) finger: u32,
    pub(crate) impression: u32,
    pub(crate) ours: Option<(MinutiaeTemplate, Prepared)>,
    pub(crate) nist: Option<NistTemplate>,
}
