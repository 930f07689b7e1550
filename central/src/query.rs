//! An auditor's questions to the centre across every node (issue 7 §5, 003 §17): one person (as actor or
//! subject), a place, a kind, a node, over a period. Each question is itself recorded in `record_views`
//! in the same transaction as it is answered (002 §7(11)): nobody reads the central records unseen.

use crate::CentralError;
use serde::Serialize;
use sqlx::postgres::PgPool;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Question {
    /// Actor or subject.
    pub person: Option<String>,
    pub place: Option<String>,
    /// Kind or kind prefix ("door." matches "door.enter").
    pub kind: Option<String>,
    pub node: Option<String>,
    /// RFC 3339 UTC bounds in the nodes' own format (`…T…​.nnnnnnnnnZ`), from inclusive, until exclusive.
    pub from: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u32>,
}

/// One event as the centre holds it: the node's fields, and the centre's receipt time beside the node's.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct CentralEvent {
    pub node: String,
    pub seq: i64,
    pub time: String,
    pub received_at: String,
    pub kind: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub place: Option<String>,
    pub outcome: String,
    pub reason: String,
    pub article: Option<String>,
    pub score: Option<f64>,
    pub details: String,
}

/// Answers `q` in time order (then node, sequence) and records who asked. `viewer` names the person asking
/// (the database role is recorded beside it).
pub async fn ask(pool: &PgPool, viewer: &str, q: &Question) -> Result<Vec<CentralEvent>, CentralError> {
    let mut sql = String::from(
        "SELECT node, seq, time, to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS received_at, \
         kind, actor, subject, place, outcome, reason, article, score, details FROM audit_events WHERE true",
    );
    let mut binds: Vec<String> = Vec::new();
    let next = |v: &str, binds: &mut Vec<String>| {
        binds.push(v.to_string());
        format!("${}", binds.len())
    };
    if let Some(p) = &q.person {
        let n = next(p, &mut binds);
        sql.push_str(&format!(" AND (subject = {n} OR actor = {n})"));
    }
    if let Some(p) = &q.place {
        let n = next(p, &mut binds);
        sql.push_str(&format!(" AND place = {n}"));
    }
    if let Some(k) = &q.kind {
        let lo = next(k, &mut binds);
        let hi = next(&format!("{k}\u{ffff}"), &mut binds);
        sql.push_str(&format!(" AND kind >= {lo} AND kind < {hi}"));
    }
    if let Some(v) = &q.node {
        let n = next(v, &mut binds);
        sql.push_str(&format!(" AND node = {n}"));
    }
    if let Some(t) = &q.from {
        let n = next(t, &mut binds);
        sql.push_str(&format!(" AND time >= {n}"));
    }
    if let Some(t) = &q.until {
        let n = next(t, &mut binds);
        sql.push_str(&format!(" AND time < {n}"));
    }
    sql.push_str(&format!(" ORDER BY time, node, seq LIMIT {}", q.limit.unwrap_or(10_000).min(1_000_000)));
    let mut tx = pool.begin().await?;
    // Built only from fixed fragments above; every value is a bind parameter (LIMIT is a u32).
    let mut query = sqlx::query_as::<_, CentralEvent>(sqlx::AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b);
    }
    let rows = query.fetch_all(&mut *tx).await?;
    sqlx::query("INSERT INTO record_views(viewer, query, rows) VALUES (session_user || ':' || $1, $2, $3)")
        .bind(viewer)
        .bind(serde_json::to_string(q).unwrap_or_default())
        .bind(rows.len() as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}
