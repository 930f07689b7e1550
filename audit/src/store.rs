//! Opening and querying the store.

use crate::disk::{index_step, options, read_only};
use crate::error::AuditError;
use crate::event::{EventRow, StoredEvent};
use crate::signing::Signer;
use crate::writer::AuditWriter;
use chrono::{DateTime, Utc};
use sqlx::ConnectOptions;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqlitePool, SqlitePoolOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// `PRAGMA application_id` of a tobira audit store ("toba").
pub const APPLICATION_ID: i64 = 1_953_456_737;

/// Checkpoints are signed every this many events unless configured otherwise.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 1000;

pub struct AuditStore {
    path: PathBuf,
    pool: SqlitePool,
    node: String,
    public_key: Vec<u8>,
    writer: AuditWriter,
}

#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Actor or subject.
    pub person: Option<String>,
    pub place: Option<String>,
    /// Kind or kind prefix ("door." matches "door.enter").
    pub kind: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub after_seq: Option<i64>,
    pub limit: Option<u32>,
}

fn pub_path(key: &Path) -> PathBuf {
    key.with_extension("pub")
}

/// The public key the store names in its own metadata. Not a basis of trust: whoever can rewrite the store
/// can rewrite this too (and `audit-signing.pub` beside it, which is no longer read here). `tobira audit
/// verify` checks against the pinned key (`anchors`); this is for display and for comparing with it.
pub async fn read_store_key(db: &Path) -> Result<Vec<u8>, AuditError> {
    if !db.exists() {
        return Err(AuditError::Missing { path: db.into() });
    }
    let mut c = read_only(db)?.connect().await.map_err(|e| AuditError::opening(db, &e))?;
    let v: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'public_key'")
        .fetch_optional(&mut c)
        .await
        .map_err(|_| AuditError::ForeignDatabase { path: db.into() })?;
    v.and_then(|h| hex::decode(h).ok()).ok_or_else(|| AuditError::ForeignDatabase { path: db.into() })
}

/// Kept for the callers that only label proofs with the node's key: the store's own key (see
/// [`read_store_key`]).
pub async fn read_public_key(db: &Path) -> Result<Vec<u8>, AuditError> {
    read_store_key(db).await
}

/// Brings the person and place postings up to the end of the chain, in bounded steps.
pub(crate) async fn catch_up_index(conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    while index_step(conn, 5_000).await? > 0 {}
    Ok(())
}

impl AuditStore {
    /// Creates a new store (and its signing key if absent). Refuses if the database already exists.
    pub async fn create(path: &Path, node: &str, signing_key: &Path) -> Result<AuditStore, AuditError> {
        Self::create_with(path, node, signing_key, DEFAULT_CHECKPOINT_EVERY).await
    }

    pub async fn create_with(
        path: &Path,
        node: &str,
        signing_key: &Path,
        checkpoint_every: u64,
    ) -> Result<AuditStore, AuditError> {
        if path.exists() {
            return Err(AuditError::Write(format!("{} already exists; refusing to create over it", path.display())));
        }
        if !signing_key.exists() {
            Signer::create(signing_key)?;
        }
        let signer = Signer::load(signing_key)?;
        let pk = hex::encode(signer.public_key());
        crate::fault::write_private_atomic(&pub_path(signing_key), format!("{pk}\n").as_bytes())
            .map_err(|source| AuditError::Io { path: pub_path(signing_key), source })?;
        // Owner-only before SQLite sees it: the -wal and -shm files take the database's mode.
        crate::fault::create_private(path).map_err(|source| AuditError::Io { path: path.into(), source })?;
        let opening = |e: sqlx::Error| AuditError::opening(path, &e);
        let pool =
            SqlitePoolOptions::new().max_connections(4).connect_with(options(path, false)?).await.map_err(opening)?;
        MIGRATOR.run(&pool).await?;
        sqlx::query("INSERT INTO meta(key, value) VALUES ('format', '1'), ('node', ?), ('public_key', ?), ('indexed_upto', '0')")
            .bind(node)
            .bind(&pk)
            .execute(&pool)
            .await?;
        pool.close().await;
        Self::open_with(path, signing_key, checkpoint_every).await
    }

    /// Opens an existing store. A missing file is an error (never recreated silently); a file that is not a
    /// tobira audit store is refused untouched.
    pub async fn open(path: &Path, signing_key: &Path) -> Result<AuditStore, AuditError> {
        Self::open_with(path, signing_key, DEFAULT_CHECKPOINT_EVERY).await
    }

    pub async fn open_with(path: &Path, signing_key: &Path, checkpoint_every: u64) -> Result<AuditStore, AuditError> {
        if !path.exists() {
            return Err(AuditError::Missing { path: path.into() });
        }
        // By its real cause: a full disk or a permission is not corruption (issue 15).
        let corrupt = |e: sqlx::Error| AuditError::opening(path, &e);
        // Look before writing anything: a foreign file must stay byte-for-byte as it was.
        {
            let mut c = read_only(path)?.connect().await.map_err(corrupt)?;
            let app: i64 = sqlx::query_scalar("PRAGMA application_id").fetch_one(&mut c).await.map_err(corrupt)?;
            if app != APPLICATION_ID {
                return Err(AuditError::ForeignDatabase { path: path.into() });
            }
        }
        let pool =
            SqlitePoolOptions::new().max_connections(4).connect_with(options(path, false)?).await.map_err(corrupt)?;
        MIGRATOR.run(&pool).await?;
        let node: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'node'")
            .fetch_one(&pool)
            .await
            .map_err(|_| AuditError::ForeignDatabase { path: path.into() })?;
        let stored_pk: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'public_key'")
            .fetch_one(&pool)
            .await
            .map_err(|_| AuditError::ForeignDatabase { path: path.into() })?;
        let signer = Signer::load(signing_key)?;
        if hex::encode(signer.public_key()) != stored_pk {
            return Err(AuditError::Key {
                path: signing_key.into(),
                detail: "is not the key this audit store was created with".into(),
            });
        }
        let writer = AuditWriter::start(path, node.clone(), Arc::new(signer), checkpoint_every).await?;
        Ok(AuditStore { path: path.into(), pool, node, public_key: hex::decode(stored_pk).unwrap_or_default(), writer })
    }

    pub fn writer(&self) -> AuditWriter {
        self.writer.clone()
    }

    /// The store's connections, for this crate's own modules (the backup): the tables are read and written only
    /// through the store's methods, never by its users.
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.public_key.clone()
    }

    /// Writes the final checkpoint and stops the writer.
    pub async fn close(&self) {
        self.writer.shutdown().await;
        self.pool.close().await;
    }

    pub async fn query(&self, f: &Filter) -> Result<Vec<StoredEvent>, AuditError> {
        let mut sql = String::from("SELECT * FROM events WHERE 1=1");
        let mut binds: Vec<String> = Vec::new();
        if f.person.is_some() || f.place.is_some() {
            catch_up_index(&mut *self.pool.acquire().await?).await?;
        }
        if let Some(p) = &f.person {
            sql.push_str(" AND seq IN (SELECT seq FROM event_people WHERE person = ?)");
            binds.push(p.clone());
        }
        if let Some(p) = &f.place {
            sql.push_str(" AND seq IN (SELECT seq FROM event_places WHERE place = ?)");
            binds.push(p.clone());
        }
        if let Some(k) = &f.kind {
            // Prefix match without LIKE's wildcards: kind >= k AND kind < k + U+FFFF.
            sql.push_str(" AND kind >= ? AND kind < ?");
            binds.push(k.clone());
            binds.push(format!("{k}\u{ffff}"));
        }
        if let Some(t) = f.from {
            sql.push_str(" AND time >= ?");
            binds.push(crate::event::time_text(t));
        }
        if let Some(t) = f.until {
            sql.push_str(" AND time < ?");
            binds.push(crate::event::time_text(t));
        }
        if let Some(s) = f.after_seq {
            sql.push_str(" AND seq > ?");
            binds.push(s.to_string());
        }
        sql.push_str(" ORDER BY seq");
        if let Some(l) = f.limit {
            sql.push_str(&format!(" LIMIT {l}"));
        }
        // Built only from fixed fragments above; every value is a bind parameter (LIMIT is a u32).
        let mut q = sqlx::query_as::<_, EventRow>(sqlx::AssertSqlSafe(sql));
        for b in &binds {
            q = q.bind(b);
        }
        Ok(q.fetch_all(&self.pool).await?.into_iter().map(EventRow::into_event).collect())
    }

    /// The number of the last event in the chain, 0 while it is empty: the local head the shipping status
    /// compares with what the centre acknowledged (issue 7).
    pub async fn head_seq(&self) -> Result<i64, AuditError> {
        Ok(sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM events").fetch_one(&self.pool).await?)
    }

    /// Up to `limit` events after number `seq`, in order: what the shipper sends the centre next (issue 7 §2).
    pub async fn events_after(&self, seq: i64, limit: u32) -> Result<Vec<StoredEvent>, AuditError> {
        let rows: Vec<EventRow> = sqlx::query_as("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
            .bind(seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(EventRow::into_event).collect())
    }

    /// Up to `limit` (number, chain hash) pairs of the events after `after` up to `upto`, in order: the leaves
    /// of the witnessed log (issue 7 §4), without reading the events themselves. The hash is as stored (not
    /// checked to be 32 bytes): the caller decides what a malformed one means.
    pub async fn chain_hashes(&self, after: i64, upto: i64, limit: u32) -> Result<Vec<(i64, Vec<u8>)>, AuditError> {
        Ok(sqlx::query_as("SELECT seq, hash FROM events WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?")
            .bind(after)
            .bind(upto)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?)
    }

    /// Deletes events older than `cutoff`. Refused for anything younger than 7 years (000 §9(3), 003 §17).
    /// Purging older events is not implemented yet: it would need a signed anchor for the first kept event.
    pub async fn purge_before(&self, cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, AuditError> {
        let limit = now.checked_sub_months(chrono::Months::new(12 * crate::RETENTION_YEARS as u32)).unwrap_or(now);
        if cutoff > limit {
            return Err(AuditError::RetentionViolation);
        }
        Err(AuditError::Write("purging events older than 7 years is not implemented yet; nothing was deleted".into()))
    }
}
