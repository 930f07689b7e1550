use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    #[error("audit store {path} does not exist; create a site with `tobirad --init`")]
    Missing { path: PathBuf },
    #[error("{path} is not a tobira audit store; refusing to touch it — check --data-dir")]
    ForeignDatabase { path: PathBuf },
    #[error("audit store {path} is unreadable or corrupt ({detail}); restore it from backup")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "audit store {path}: the disk is full (ディスク容量不足, {free} bytes free): free space or grow the volume, \
         then start tobirad again — the store is not damaged, do not restore it"
    )]
    DiskFull { path: PathBuf, free: u64 },
    #[error(
        "audit store {path}: permission denied (アクセス権限なし: {detail}) — tobirad's user must be able to write \
         the data directory and every file in it: check `ls -l {dir}` (e.g. `chown -R tobira: {dir}`) and, for \
         a read-only file system, `findmnt -T {dir}` and the kernel log before remounting it read-write"
    )]
    Permission { path: PathBuf, dir: PathBuf, detail: String },
    #[error(
        "audit store {path} cannot be opened ({detail}); check the disk and the kernel log (journalctl -k) before \
         restoring anything"
    )]
    Unopenable { path: PathBuf, detail: String },
    #[error("signing key {path}: {detail}")]
    Key { path: PathBuf, detail: String },
    #[error("deleting audit events younger than 7 years is refused (000 §9(3), 003 §17)")]
    RetentionViolation,
    #[error("the audit store cannot take events: {0}")]
    Write(String),
    #[error("the audit writer has stopped")]
    Closed,
    #[error("audit database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("audit migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl AuditError {
    /// The error for `e`, raised while opening the store at `path`, by its real cause (see [`crate::fault`]).
    pub fn opening(path: &std::path::Path, e: &sqlx::Error) -> AuditError {
        use crate::fault::StoreFault;
        let path = path.to_path_buf();
        match crate::fault::classify(&path, e) {
            StoreFault::DiskFull { free } => AuditError::DiskFull { path, free },
            StoreFault::Permission { detail } => AuditError::Permission { dir: parent(&path), path, detail },
            StoreFault::Corrupt { detail } => AuditError::Corrupt { path, detail },
            StoreFault::Other { detail } => AuditError::Unopenable { path, detail },
        }
    }
}

/// The directory holding `path`, for a message.
fn parent(path: &std::path::Path) -> std::path::PathBuf {
    path.parent().map(std::path::Path::to_path_buf).unwrap_or_default()
}
