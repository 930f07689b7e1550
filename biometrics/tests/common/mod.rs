//! What the real-data tests share: finding `../shared/datasets` beside the clone.

use std::path::PathBuf;

/// The datasets directory (`TOBIRA_DATASETS`, else `../shared/datasets`) when it holds `needs`
/// (`fingerprint`, `palm`). When it does not, the test says loudly what goes unchecked (`unchecked`) and
/// returns `None`; under CI, where the data is always beside the clone, that is a failure rather than a
/// quiet skip.
pub fn datasets(needs: &str, unchecked: &str) -> Option<PathBuf> {
    let p = std::env::var_os("TOBIRA_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/datasets")));
    if p.join(needs).is_dir() {
        return Some(p);
    }
    let msg = format!("!!! real datasets not found at {} (set TOBIRA_DATASETS): {unchecked} NOT checked", p.display());
    assert!(std::env::var_os("CI").is_none(), "{msg}");
    eprintln!("{msg}");
    None
}
