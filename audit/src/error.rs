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
