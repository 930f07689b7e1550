//! The central PostgreSQL store of a multi-node tobira (issue 7): the schema, node registration (a database
//! role per node, granted only what it needs, with row-level security), and idempotent audit ingest that
//! the database itself checks for gaps and forks. The single-node embedded SQLite default is untouched.

use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction, migrate::Migrator};

pub mod alarms;
pub mod heads;
pub mod peer_witness;
pub mod places;
pub mod query;
pub mod recovery;
#[cfg(feature = "testing")]
pub mod testing;
pub mod witness_service;

pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// How a node connects to the centre (its `[central]` section): TLS with the site's CA verified and the
/// node's own certificate, as the node's own role (row-level security lets it write only its own events).
pub fn connect_options(c: &tobira_core::site::RawCentral) -> sqlx::postgres::PgConnectOptions {
    use sqlx::postgres::{PgConnectOptions, PgSslMode};
    PgConnectOptions::new()
        .host(&c.host)
        .port(c.port)
        .username(&c.role)
        .database(&c.database)
        .ssl_mode(PgSslMode::VerifyFull)
        .ssl_root_cert(&c.ca_file)
        .ssl_client_cert(&c.cert_file)
        .ssl_client_key(&c.key_file)
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CentralError {
    #[error("node {node}: event {seq} arrives before its predecessor (a gap); ship from the last acknowledged event")]
    Gap { node: String, seq: i64 },
    #[error("node {node}: event {seq} does not continue the stored chain (a fork or a rewritten history)")]
    Fork { node: String, seq: i64 },
    #[error("node {node}: event {seq} is malformed ({detail}): refused, nothing of the batch stored")]
    Malformed { node: String, seq: i64, detail: String },
    #[error("the centre is out of storage ({0}): the events stay on the node and are shipped when it has room")]
    CentreFull(String),
    #[error("refused by the centre's row-level security: a node writes only its own events ({0})")]
    NotYours(String),
    #[error("{0:?} is not a valid role name")]
    RoleName(String),
    #[error("central database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("central schema migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// An audit event as a node ships it: the node's own stored event, typed, with the texts it hashed
/// (`time_text`, `details_text`) — those texts, not a re-rendering, are what travel and what the centre
/// recomputes the hash over. The rows are stored under the node of the connection that ships them (its
/// `node` argument to [`ingest`]), whatever an event's own `node` says: an event hashed for another node
/// fails the centre's hash check.
pub type ShippedEvent = tobira_audit::StoredEvent;

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IngestReport {
    pub inserted: u64,
    /// Already there with the same hash: a replayed batch is harmless.
    pub duplicates: u64,
    /// The sender's clock minus the centre's, in seconds, when the batch carried the sender's time.
    pub clock_skew_s: Option<f64>,
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
        format!("GRANT SELECT ON registry_changes TO {role}"),
        format!("GRANT SELECT, INSERT ON tree_heads TO {role}"),
        format!("GRANT USAGE ON SEQUENCE tree_heads_id_seq TO {role}"),
        format!("GRANT SELECT ON cosigned_heads TO {role}"),
        format!("GRANT EXECUTE ON FUNCTION tobira_clock(TIMESTAMPTZ) TO {role}"),
        format!("GRANT INSERT ON registry_changes TO {role}"),
        format!("GRANT USAGE ON SEQUENCE registry_changes_version_seq TO {role}"),
        format!("GRANT EXECUTE ON FUNCTION tobira_set_transport_key(BYTEA) TO {role}"),
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

/// The event number a chain-trigger message names ("… event 12 …"), else `fallback`.
fn event_in(message: &str, fallback: i64) -> i64 {
    message
        .split("event ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(fallback)
}

fn classify(node: &str, seq: i64, e: sqlx::Error) -> CentralError {
    if let sqlx::Error::Database(d) = &e {
        let seq = event_in(d.message(), seq);
        match d.code().as_deref() {
            Some("TB001") => return CentralError::Gap { node: node.into(), seq },
            Some("TB002") => return CentralError::Fork { node: node.into(), seq },
            // TB004: the hash does not match the fields; 22007/22008: a time PostgreSQL cannot read.
            Some("TB004" | "22007" | "22008") => {
                return CentralError::Malformed { node: node.into(), seq, detail: d.message().to_string() };
            }
            // Class 53: insufficient resources (53100 disk full, 53200 out of memory, …).
            Some(c) if c.starts_with("53") => return CentralError::CentreFull(d.message().to_string()),
            // 42501: insufficient privilege / new row violates row-level security policy.
            Some("42501") => return CentralError::NotYours(d.message().to_string()),
            _ => {}
        }
    }
    CentralError::Db(e)
}

/// Ships a batch, all or nothing, idempotent on (node, seq), in one statement (the batch's columns as
/// arrays, unnested in sequence order). Run on the node's own connection: the database refuses rows of
/// other nodes (row-level security), gaps and forks (the chain trigger, which sees the rows inserted
/// before it in the same statement).
pub async fn ingest(pool: &PgPool, node: &str, batch: &[ShippedEvent]) -> Result<IngestReport, CentralError> {
    ingest_at(pool, node, batch, None).await
}

/// [`ingest`], with the sender's clock (RFC 3339) at sending: the centre compares it with its own and
/// raises a `clock.skew` alarm beyond the allowed difference (`central_settings.max_clock_skew_s`).
pub async fn ingest_at(
    pool: &PgPool,
    node: &str,
    batch: &[ShippedEvent],
    sender_now: Option<&str>,
) -> Result<IngestReport, CentralError> {
    let Some(first) = batch.first().map(|e| e.seq) else { return Ok(IngestReport::default()) };
    let mut tx: Transaction<'_, Postgres> = pool.begin().await?;
    let clock_skew_s = match sender_now {
        Some(t) => Some(
            sqlx::query_scalar::<_, f64>("SELECT tobira_clock($1::timestamptz)")
                .bind(t)
                .fetch_one(&mut *tx)
                .await
                .map_err(|x| classify(node, first, x))?,
        ),
        None => None,
    };
    let col = |f: fn(&ShippedEvent) -> String| batch.iter().map(f).collect::<Vec<String>>();
    let opt = |f: fn(&ShippedEvent) -> Option<String>| batch.iter().map(f).collect::<Vec<Option<String>>>();
    let seqs: Vec<i64> = batch.iter().map(|e| e.seq).collect();
    let inserted: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO audit_events(node, seq, time, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, hash) \
         SELECT $1, t.seq, t.time, t.kind, t.actor, t.subject, t.place, t.outcome, t.reason, t.article, t.score, t.details, t.prev_hash, t.hash \
         FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::float8[], $12::text[], $13::bytea[], $14::bytea[]) \
           AS t(seq, time, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, hash) \
         ORDER BY t.seq ON CONFLICT (node, seq) DO NOTHING RETURNING seq",
    )
    .bind(node)
    .bind(&seqs)
    .bind(col(|e| e.time_text.clone()))
    .bind(col(|e| e.kind.clone()))
    .bind(opt(|e| e.actor.clone()))
    .bind(opt(|e| e.subject.clone()))
    .bind(opt(|e| e.place.clone()))
    .bind(col(|e| e.outcome.as_str().to_string()))
    .bind(col(|e| e.reason.clone()))
    .bind(opt(|e| e.article.clone()))
    .bind(batch.iter().map(|e| e.score).collect::<Vec<Option<f64>>>())
    .bind(col(|e| e.details_text.clone()))
    .bind(batch.iter().map(|e| e.prev_hash.to_vec()).collect::<Vec<Vec<u8>>>())
    .bind(batch.iter().map(|e| e.hash.to_vec()).collect::<Vec<Vec<u8>>>())
    .fetch_all(&mut *tx)
    .await
    .map_err(|x| classify(node, first, x))?;
    let rep = IngestReport {
        inserted: inserted.len() as u64,
        duplicates: (batch.len() - inserted.len()) as u64,
        clock_skew_s,
    };
    if rep.duplicates > 0 {
        // Already there: the same events (a replay) are fine; another event under one of these numbers is a fork.
        let stored: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events WHERE node = $1 AND seq = ANY($2)")
                .bind(node)
                .bind(&seqs)
                .fetch_all(&mut *tx)
                .await?;
        for (seq, hash) in stored {
            if let Some(e) = batch.iter().find(|e| e.seq == seq)
                && hash != e.hash
            {
                return Err(CentralError::Fork { node: node.into(), seq });
            }
        }
    }
    tx.commit().await?;
    Ok(rep)
}

/// A registry change from the centre's feed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RegistryChange {
    pub version: i64,
    pub kind: String,
    pub target: String,
    pub reason: String,
    pub issued_by: String,
    /// The node the change was made on; `None` for the centre's administrator.
    pub origin: Option<String>,
    /// JSON: the record itself for `*.upsert` (a template with its data key wrapped to each node).
    pub payload: String,
}

/// The channel nodes LISTEN on; the payload is the new version.
pub const REGISTRY_CHANNEL: &str = "tobira_registry";

/// Publishes a change to every node (as the centre's administrator); returns its version.
pub async fn publish(admin: &PgPool, kind: &str, target: &str, reason: &str, by: &str) -> Result<i64, CentralError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO registry_changes(kind, target, reason, issued_by) VALUES ($1, $2, $3, $4) RETURNING version",
    )
    .bind(kind)
    .bind(target)
    .bind(reason)
    .bind(by)
    .fetch_one(admin)
    .await?)
}

/// A change made on node `origin`, published on its own connection (row-level security checks the origin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeChange<'a> {
    pub kind: &'a str,
    pub target: &'a str,
    pub reason: &'a str,
    pub issued_by: &'a str,
    pub payload: &'a str,
}

pub async fn publish_from(pool: &PgPool, origin: &str, c: &NodeChange<'_>) -> Result<i64, CentralError> {
    sqlx::query_scalar(
        "INSERT INTO registry_changes(kind, target, reason, issued_by, origin, payload) VALUES ($1, $2, $3, $4, $5, $6) RETURNING version",
    )
    .bind(c.kind)
    .bind(c.target)
    .bind(c.reason)
    .bind(c.issued_by)
    .bind(origin)
    .bind(c.payload)
    .fetch_one(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("42501") => CentralError::NotYours(d.message().into()),
        _ => CentralError::Db(e),
    })
}

/// Announces this node's X25519 transport public key (the caller's own row).
pub async fn set_transport_key(pool: &PgPool, key: &[u8; 32]) -> Result<(), CentralError> {
    sqlx::query("SELECT tobira_set_transport_key($1)").bind(key.to_vec()).execute(pool).await?;
    Ok(())
}

/// Every node's transport public key, where announced: whom a template's data key is wrapped to.
pub async fn transport_keys(pool: &PgPool) -> Result<Vec<(String, [u8; 32])>, CentralError> {
    let rows: Vec<(String, Vec<u8>)> =
        sqlx::query_as("SELECT id, transport_key FROM nodes WHERE transport_key IS NOT NULL ORDER BY id")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().filter_map(|(id, k)| <[u8; 32]>::try_from(k.as_slice()).ok().map(|k| (id, k))).collect())
}

/// The changes after `version`, in order.
pub async fn changes_after(pool: &PgPool, version: i64) -> Result<Vec<RegistryChange>, CentralError> {
    Ok(sqlx::query_as(
        "SELECT version, kind, target, reason, issued_by, origin, payload FROM registry_changes WHERE version > $1 ORDER BY version",
    )
    .bind(version)
    .fetch_all(pool)
    .await?)
}

/// The highest sequence the centre holds for `node` (where the shipper resumes).
pub async fn shipped_up_to(pool: &PgPool, node: &str) -> Result<i64, CentralError> {
    Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT max(seq) FROM audit_events WHERE node = $1")
        .bind(node)
        .fetch_one(pool)
        .await?
        .unwrap_or(0))
}
