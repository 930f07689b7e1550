//! The registry store: people, roles, templates, grants, approvals, visits and the media register in SQLite.
//!
//! It changes only through the daemon's audited commands. Opening refuses a file that is not a tobira
//! registry rather than recreating it: a wrong path or a damaged disk must never look like an empty site.

mod admin;
mod cards;
mod media;
pub use admin::{REQUEST_NUMBERING, short_request_id};
mod outbox;
mod rows;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Row, migrate::Migrator};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use admin::{AlarmRow, LoanRow, RequestRow, TemplateInfo};
pub use cards::{CardRow, card_hash};
pub use media::{MEDIA_NUMBERING, MediaRow};
pub use outbox::OutboxRow;
pub use rows::TemplateRow;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// `PRAGMA application_id` of a tobira registry ("tobr").
pub const APPLICATION_ID: i64 = 1_953_456_754;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{path} is not a tobira registry (application id {found}); refusing to touch it — check --data-dir")]
    Foreign { path: PathBuf, found: i64 },
    #[error("{path} is not a readable SQLite database ({detail}); refusing to start — restore it from backup")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "registry {path}: the disk is full (ディスク容量不足, {free} bytes free): free space or grow the volume, \
         then start tobirad again — the registry is not damaged, do not restore it"
    )]
    DiskFull { path: PathBuf, free: u64 },
    #[error(
        "registry {path}: permission denied (アクセス権限なし: {detail}) — tobirad's user must be able to write \
         the data directory and every file in it: check `ls -l {dir}` (e.g. `chown -R tobira: {dir}`) and, for \
         a read-only file system, `findmnt -T {dir}` and the kernel log before remounting it read-write"
    )]
    Permission { path: PathBuf, dir: PathBuf, detail: String },
    #[error(
        "registry {path} cannot be opened ({detail}); check the disk and the kernel log (journalctl -k) before \
         restoring anything"
    )]
    Unopenable { path: PathBuf, detail: String },
    #[error("cannot create the registry {path}: {source}")]
    Create { path: PathBuf, source: std::io::Error },
    #[error("registry {path} does not exist; run `tobirad --init` to create a new site")]
    Missing { path: PathBuf },
    #[error("{what} already exists")]
    Conflict { what: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("registry migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("registry database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("registry holds a malformed value in {field}: {value}")]
    Malformed { field: &'static str, value: String },
}

pub struct RegistryStore {
    pool: SqlitePool,
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation() || d.is_foreign_key_violation())
}

impl RegistryStore {
    /// A consistent copy of the registry at `path` (SQLite `VACUUM INTO`: one read transaction, writers go on).
    pub async fn vacuum_into(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let target = path.to_string_lossy().into_owned();
        sqlx::query("VACUUM INTO ?").bind(target).execute(&self.pool).await?;
        Ok(())
    }
}

impl StoreError {
    /// The error for `e`, raised while opening the registry at `path`, by its real cause: a full disk or a
    /// permission is not corruption, and "restore it from backup" would throw away a healthy registry.
    pub fn opening(path: &Path, e: &sqlx::Error) -> StoreError {
        use tobira_audit::fault::StoreFault;
        let path = path.to_path_buf();
        match tobira_audit::fault::classify(&path, e) {
            StoreFault::DiskFull { free } => StoreError::DiskFull { path, free },
            StoreFault::Permission { detail } => StoreError::Permission { dir: parent(&path), path, detail },
            StoreFault::Corrupt { detail } => StoreError::Corrupt { path, detail },
            StoreFault::Other { detail } => StoreError::Unopenable { path, detail },
        }
    }
}

impl RegistryStore {
    /// Opens the registry at `path`; creates it only when `create` is set and no file exists.
    pub async fn open(path: &Path, create: bool) -> Result<Self, StoreError> {
        let exists = path.exists();
        if !exists && !create {
            return Err(StoreError::Missing { path: path.into() });
        }
        let corrupt = |e: sqlx::Error| StoreError::opening(path, &e);
        let url = format!("sqlite://{}", path.display());
        if exists {
            // Look read-only before anything writes: a foreign file must stay exactly as it was.
            let mut c = SqliteConnectOptions::from_str(&url)?.read_only(true).connect().await.map_err(corrupt)?;
            let app_id: i64 = sqlx::query_scalar("PRAGMA application_id").fetch_one(&mut c).await.map_err(corrupt)?;
            if app_id != APPLICATION_ID {
                return Err(StoreError::Foreign { path: path.into(), found: app_id });
            }
        }
        if !exists {
            // Owner-only before SQLite sees it, whatever the umask: the -wal and -shm take the database's mode.
            tobira_audit::fault::create_private(path).map_err(|source| match tobira_audit::fault::disk_full(path) {
                Some(free) => StoreError::DiskFull { path: path.into(), free },
                None => StoreError::Create { path: path.into(), source },
            })?;
        }
        let opts = SqliteConnectOptions::from_str(&url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new().max_connections(4).connect_with(opts).await.map_err(corrupt)?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn conflict_or(e: sqlx::Error, what: impl Into<String>) -> StoreError {
        if is_unique_violation(&e) { StoreError::Conflict { what: what.into() } } else { StoreError::Db(e) }
    }

    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| r.get(0)))
    }

    /// Takes the next number of this node's grant counter (`G-0001`, `G-0002`, …: issue 22,
    /// `tobira_core::grant_id`). One statement, so two grants issued at once never share a number; a number
    /// taken by a request that is then rejected or withdrawn is not given again.
    pub async fn next_grant_number(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "INSERT INTO meta(key, value) VALUES ('grant_numbering', '1') \
             ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING CAST(value AS INTEGER)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(1) as u64)
    }

    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub(crate) fn parse_ts(field: &'static str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Malformed { field, value: s.to_string() })
}

/// The directory holding `path`, for a message.
fn parent(path: &std::path::Path) -> std::path::PathBuf {
    path.parent().map(std::path::Path::to_path_buf).unwrap_or_default()
}

/// Upgrades (issue 19 §5): a registry made by the previous release opens and migrates. The repository has no
/// tagged release yet, so "previous" is every migration but the newest, applied from copies of their files
/// (sqlx would refuse an edited one: STYLE §12, migrations are append-only).
#[cfg(test)]
mod upgrade {
    use super::*;

    #[tokio::test]
    async fn a_registry_of_the_previous_migration_set_opens_migrates_and_keeps_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(&src).unwrap().flatten().map(|e| e.file_name()).collect();
        files.sort();
        assert!(files.len() >= 2, "{files:?}");
        let previous = dir.path().join("previous");
        std::fs::create_dir(&previous).unwrap();
        for f in &files[..files.len() - 1] {
            std::fs::copy(src.join(f), previous.join(f)).unwrap();
        }
        let path = dir.path().join("registry.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        {
            let pool = SqlitePoolOptions::new().connect(&url).await.unwrap();
            Migrator::new(previous.as_path()).await.unwrap().run(&pool).await.unwrap();
            sqlx::query(
                "INSERT INTO people (id, match_id, name, affiliation, appointment_end, active, created_at) \
                 VALUES ('tanaka', 'm-1', '田中', '市民課', '2027-03-31', 1, '2026-04-01T00:00:00Z')",
            )
            .execute(&pool)
            .await
            .unwrap();
            sqlx::query("INSERT INTO person_roles (person_id, role) VALUES ('tanaka', 'operator')")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        let store = RegistryStore::open(&path, false).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(applied as usize, files.len(), "the newest migration was applied on open");
        let site = tobira_core::site::parse_site("demo.toml", include_str!("../../../config/demo.toml")).unwrap();
        let reg = store.load_registry(site).await.unwrap();
        let p = reg.person(&tobira_core::ids::PersonId::new("tanaka")).expect("the person survives the upgrade");
        assert_eq!(p.name, "田中");
        store.close().await;
    }
}
