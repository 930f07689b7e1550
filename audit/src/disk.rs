//! The store's files, below the store, its writer and verification (which all use them, so none of them
//! imports another for them): how the SQLite database is opened (for writing durably, or read-only), the
//! postings index step, and the signed head file beside it (`audit.db.head`).

use crate::error::AuditError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub(crate) fn options(path: &Path, create: bool) -> Result<SqliteConnectOptions, AuditError> {
    Ok(SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(create)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(std::time::Duration::from_secs(5)))
}

/// A connection that changes nothing: no journal-mode switch, no file creation.
pub(crate) fn read_only(path: &Path) -> Result<SqliteConnectOptions, AuditError> {
    Ok(SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(5)))
}

pub(crate) fn head_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".head");
    PathBuf::from(s)
}

/// Indexes up to `max` events past `indexed_upto` in one transaction: the postings and the new high-water
/// mark land together or not at all. Returns how many events it covered.
pub(crate) async fn index_step(conn: &mut sqlx::SqliteConnection, max: i64) -> Result<i64, sqlx::Error> {
    use sqlx::Connection;
    // IMMEDIATE: take the write lock before reading the high-water mark, so a commit by the writer in
    // between cannot invalidate the read (SQLITE_BUSY_SNAPSHOT); the busy timeout then simply waits.
    let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
    let lo: i64 = sqlx::query_scalar("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'indexed_upto'")
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or(0);
    let hi: Option<i64> =
        sqlx::query_scalar("SELECT max(seq) FROM (SELECT seq FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2)")
            .bind(lo)
            .bind(max)
            .fetch_one(&mut *tx)
            .await?;
    let Some(hi) = hi else { return Ok(0) };
    sqlx::query(
        "INSERT OR IGNORE INTO event_people(person, seq)
         SELECT person, seq FROM (
             SELECT actor AS person, seq FROM events WHERE seq > ?1 AND seq <= ?2 AND actor IS NOT NULL
             UNION SELECT subject, seq FROM events WHERE seq > ?1 AND seq <= ?2 AND subject IS NOT NULL)
         ORDER BY person, seq",
    )
    .bind(lo)
    .bind(hi)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT OR IGNORE INTO event_places(place, seq)
         SELECT place, seq FROM events WHERE seq > ?1 AND seq <= ?2 AND place IS NOT NULL ORDER BY place, seq",
    )
    .bind(lo)
    .bind(hi)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO meta(key, value) VALUES ('indexed_upto', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(hi.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(hi - lo)
}

/// The sidecar head as written by the writer at each checkpoint.
pub(crate) struct HeadFile {
    pub seq: i64,
    pub head: Vec<u8>,
    pub time: String,
    pub signature: Vec<u8>,
}

/// Reads `audit.db.head`: `Ok(None)` when absent; an error saying what is wrong when it is unreadable,
/// truncated, not UTF-8 or not a signed head. Nothing is ever taken for "no head".
pub(crate) fn read_head_file(db: &Path) -> Result<Option<HeadFile>, String> {
    let bytes = match std::fs::read(head_path(db)) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot be read: {e}")),
    };
    let text = String::from_utf8(bytes).map_err(|_| "is garbled: not UTF-8".to_string())?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("is garbled or truncated: {e}"))?;
    let hexfield = |k: &str| v[k].as_str().and_then(|s| hex::decode(s).ok());
    match (v["seq"].as_i64(), hexfield("head"), v["time"].as_str(), hexfield("signature")) {
        (Some(seq), Some(head), Some(time), Some(signature)) if head.len() == 32 => {
            Ok(Some(HeadFile { seq, head, time: time.into(), signature }))
        }
        _ => Err("is garbled: not a signed head (seq, head, time, signature)".into()),
    }
}
