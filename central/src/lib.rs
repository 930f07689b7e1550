//! The central PostgreSQL store of a multi-node tobira (issue 7): the schema, node registration (a database
//! role per node, granted only what it needs, with row-level security), and idempotent audit ingest that
//! the database itself checks for gaps and forks. The single-node embedded SQLite default is untouched.

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction, migrate::Migrator};

#[cfg(feature = "testing")]
pub mod testing;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CentralError {
    #[error("node {node}: event {seq} arrives before its predecessor (a gap); ship from the last acknowledged event")]
    Gap { node: String, seq: i64 },
    #[error("node {node}: event {seq} does not continue the stored chain (a fork or a rewritten history)")]
    Fork { node: String, seq: i64 },
    #[error("refused by the centre's row-level security: a node writes only its own events ({0})")]
    NotYours(String),
    #[error("{0:?} is not a valid role name")]
    RoleName(String),
    #[error("central database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("central schema migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// An audit event as a node ships it (the node's own chain fields, hashes as stored).
#[derive(Debug, Clone, PartialEq)]
pub struct ShippedEvent {
    pub seq: i64,
    pub time: String,
    pub kind: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub place: Option<String>,
    pub outcome: String,
    pub reason: String,
    pub article: Option<String>,
    pub score: Option<f64>,
    pub details: String,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IngestReport {
    pub inserted: u64,
    /// Already there with the same hash: a replayed batch is harmless.
    pub duplicates: u64,
}

/// Creates the schema (as the database owner).
pub async fn migrate(admin: &PgPool) -> Result<(), CentralError> {
    MIGRATOR.run(admin).await?;
    Ok(())
}

/// Registers a node: its row, and a login role that may read the node table and append (only) its own
/// audit events. The role authenticates with its client certificate (`hostssl … cert` in pg_hba.conf).
pub async fn register_node(admin: &PgPool, node: &str, role: &str, public_key: &[u8]) -> Result<(), CentralError> {
    if role.is_empty() || !role.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(CentralError::RoleName(role.into()));
    }
    let mut tx = admin.begin().await?;
    // Role names cannot be bound parameters; the name was checked above to be [a-z0-9_]+.
    for stmt in [
        format!("CREATE ROLE {role} LOGIN"),
        format!("GRANT SELECT ON nodes TO {role}"),
        format!("GRANT SELECT, INSERT ON audit_events TO {role}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(stmt)).execute(&mut *tx).await?;
    }
    sqlx::query("INSERT INTO nodes(id, db_role, public_key) VALUES ($1, $2, $3)")
        .bind(node)
        .bind(role)
        .bind(public_key)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn classify(node: &str, seq: i64, e: sqlx::Error) -> CentralError {
    if let sqlx::Error::Database(d) = &e {
        match d.code().as_deref() {
            Some("TB001") => return CentralError::Gap { node: node.into(), seq },
            Some("TB002") => return CentralError::Fork { node: node.into(), seq },
            // 42501: insufficient privilege / new row violates row-level security policy.
            Some("42501") => return CentralError::NotYours(d.message().to_string()),
            _ => {}
        }
    }
    CentralError::Db(e)
}

async fn insert_one(tx: &mut Transaction<'_, Postgres>, node: &str, e: &ShippedEvent) -> Result<bool, CentralError> {
    let r = sqlx::query(
        "INSERT INTO audit_events(node, seq, time, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, hash) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14) ON CONFLICT (node, seq) DO NOTHING",
    )
    .bind(node)
    .bind(e.seq)
    .bind(&e.time)
    .bind(&e.kind)
    .bind(&e.actor)
    .bind(&e.subject)
    .bind(&e.place)
    .bind(&e.outcome)
    .bind(&e.reason)
    .bind(&e.article)
    .bind(e.score)
    .bind(&e.details)
    .bind(&e.prev_hash[..])
    .bind(&e.hash[..])
    .execute(&mut **tx)
    .await
    .map_err(|x| classify(node, e.seq, x))?;
    if r.rows_affected() == 1 {
        return Ok(true);
    }
    // Already there: the same event (a replay) is fine; another event under that number is a fork.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT hash FROM audit_events WHERE node = $1 AND seq = $2")
        .bind(node)
        .bind(e.seq)
        .fetch_one(&mut **tx)
        .await?;
    if stored == e.hash { Ok(false) } else { Err(CentralError::Fork { node: node.into(), seq: e.seq }) }
}

/// Ships a batch, all or nothing, idempotent on (node, seq). Run on the node's own connection: the
/// database refuses rows of other nodes (row-level security), gaps and forks (the chain trigger).
pub async fn ingest(pool: &PgPool, node: &str, batch: &[ShippedEvent]) -> Result<IngestReport, CentralError> {
    let mut tx = pool.begin().await?;
    let mut rep = IngestReport::default();
    for e in batch {
        if insert_one(&mut tx, node, e).await? {
            rep.inserted += 1;
        } else {
            rep.duplicates += 1;
        }
    }
    tx.commit().await?;
    Ok(rep)
}

/// The highest sequence the centre holds for `node` (where the shipper resumes).
pub async fn shipped_up_to(pool: &PgPool, node: &str) -> Result<i64, CentralError> {
    Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT max(seq) FROM audit_events WHERE node = $1")
        .bind(node)
        .fetch_one(pool)
        .await?
        .unwrap_or(0))
}
