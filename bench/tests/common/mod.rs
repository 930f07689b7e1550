//! What the bench's data tests share: finding `../shared` beside the clone, reading its prints.

use std::path::{Path, PathBuf};
use tobira_biometrics::image::GrayImage;

/// `../shared/<what>` (or the directory `env` names). When it is missing the test says loudly what goes
/// unchecked (`unchecked`) and returns `None`; under CI, where the data is always beside the clone, that is
/// a failure rather than a quiet skip.
pub fn shared(what: &str, env: &str, unchecked: &str) -> Option<PathBuf> {
    let p = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")).join(what));
    if p.is_dir() {
        return Some(p);
    }
    let msg = format!("!!! {what} not found at {} (set {env}): {unchecked} NOT checked", p.display());
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("{msg}");
    None
}

/// An FVC image read as 500 dpi; a missing or unreadable file fails the test naming it.
#[allow(dead_code)] // every test crate includes this module; not every one decodes images itself
pub fn fvc_image(path: &Path) -> GrayImage {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    GrayImage::decode(&bytes, 500).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
