//! The readers' runs of unidentified attempts kept on disk (`reader-throttle.json` in the data directory,
//! 0600), so restarting the daemon does not reset a stranger's delay or count (issue 16 §2, NIST SP 800-63B
//! §5.2.2). Written after every change, replaced atomically; an unreadable file is logged and starts empty
//! (throttling is a delay, never a reason to keep a door from working).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use tobira_core::throttle::{ReaderThrottle, RunRecord};

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("reader-throttle.json")
}

pub fn load(data_dir: &Path) -> ReaderThrottle {
    let p = path(data_dir);
    match std::fs::read(&p) {
        Ok(b) => match serde_json::from_slice::<Vec<RunRecord>>(&b) {
            Ok(r) => ReaderThrottle::restore(r),
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "reader throttle state unreadable; starting without it");
                ReaderThrottle::default()
            }
        },
        Err(_) => ReaderThrottle::default(),
    }
}

pub fn save(data_dir: &Path, t: &ReaderThrottle) {
    let p = path(data_dir);
    let tmp = p.with_extension("tmp");
    let r = (|| -> std::io::Result<()> {
        let text = serde_json::to_vec(&t.snapshot()).map_err(std::io::Error::other)?;
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &p)
    })();
    if let Err(e) = r {
        tracing::warn!(path = %p.display(), error = %e, "reader throttle state not saved");
    }
}
