//! An auditor's questions to the centre across every node (issue 7 §5, 003 §17): one person (as actor or
//! subject), a place, a kind, a node, over a period. Each question is itself recorded in `record_views`
//! in the same transaction as it is answered (002 §7(11)): nobody reads the central records unseen.

use crate::CentralError;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::postgres::PgPool;
use tobira_audit::{EventRow, StoredEvent};

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

/// One event as the centre holds it: the node's event (typed, as the node stored and hashed it) and the
/// centre's receipt time beside the node's own.
#[derive(Debug, Clone, PartialEq)]
pub struct CentralEvent {
    pub received_at: DateTime<Utc>,
    pub event: StoredEvent,
}

/// The `--json` form, unchanged from when these were strings: the node's time and details as hashed, the
/// outcome's code, the receipt time in RFC 3339 UTC to the microsecond; no hashes.
#[derive(Serialize)]
struct CentralEventJson<'a> {
    node: &'a str,
    seq: i64,
    time: &'a str,
    received_at: String,
    kind: &'a str,
    actor: Option<&'a str>,
    subject: Option<&'a str>,
    place: Option<&'a str>,
    outcome: &'a str,
    reason: &'a str,
    article: Option<&'a str>,
    score: Option<f64>,
    details: &'a str,
}

impl Serialize for CentralEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = &self.event;
        CentralEventJson {
            node: &e.node,
            seq: e.seq,
            time: &e.time_text,
            received_at: self.received_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            kind: &e.kind,
            actor: e.actor.as_deref(),
            subject: e.subject.as_deref(),
            place: e.place.as_deref(),
            outcome: e.outcome.as_str(),
            reason: &e.reason,
            article: e.article.as_deref(),
            score: e.score,
            details: &e.details_text,
        }
        .serialize(s)
    }
}

/// The SQL edge: a row of the query below, the event's columns (read by name, as the node reads its own)
/// and the receipt time beside them.
#[derive(sqlx::FromRow)]
struct CentralRow {
    received_at: String,
    #[sqlx(flatten)]
    event: EventRow,
}

impl CentralRow {
    fn into_central(self) -> Result<CentralEvent, sqlx::Error> {
        let received_at = DateTime::parse_from_rfc3339(&self.received_at)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| sqlx::Error::ColumnDecode { index: "received_at".into(), source: Box::new(e) })?;
        Ok(CentralEvent { received_at, event: self.event.into_event() })
    }
}

/// Answers `q` in time order (then node, sequence) and records who asked. `viewer` names the person asking
/// (the database role is recorded beside it).
pub async fn ask(pool: &PgPool, viewer: &str, q: &Question) -> Result<Vec<CentralEvent>, CentralError> {
    let mut sql = String::from(
        "SELECT node, seq, time, to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS received_at, \
         kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, hash FROM audit_events WHERE true",
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
    let mut query = sqlx::query_as::<_, CentralRow>(sqlx::AssertSqlSafe(sql));
    for b in &binds {
        query = query.bind(b);
    }
    let rows =
        query.fetch_all(&mut *tx).await?.into_iter().map(CentralRow::into_central).collect::<Result<Vec<_>, _>>()?;
    sqlx::query("INSERT INTO record_views(viewer, query, rows) VALUES (session_user || ':' || $1, $2, $3)")
        .bind(viewer)
        .bind(serde_json::to_string(q).unwrap_or_default())
        .bind(rows.len() as i64)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// `tobira-central audit show --json` prints the same document as when the centre's events were strings:
    /// the node's time and details as hashed, the outcome's code, the receipt time to the microsecond.
    #[test]
    fn the_json_form_is_the_strings_it_was() {
        let event = EventRow {
            node: "t01".into(),
            seq: 7,
            time: "2026-11-24T10:00:01Z".into(),
            kind: "door.enter".into(),
            actor: Some("tanaka".into()),
            subject: Some("tanaka".into()),
            place: None,
            outcome: "granted".into(),
            reason: "GRANT_VALID".into(),
            article: Some("003 §13(2)".into()),
            score: Some(0.61),
            details: r#"{"reader":"server-in"}"#.into(),
            prev_hash: vec![1; 32],
            hash: vec![2; 32],
        }
        .into_event();
        let received_at = DateTime::parse_from_rfc3339("2026-11-24T10:00:02.5Z").unwrap().with_timezone(&Utc);
        let json = serde_json::to_string(&CentralEvent { received_at, event }).unwrap();
        assert_eq!(
            json,
            r#"{"node":"t01","seq":7,"time":"2026-11-24T10:00:01Z","received_at":"2026-11-24T10:00:02.500000Z","kind":"door.enter","actor":"tanaka","subject":"tanaka","place":null,"outcome":"granted","reason":"GRANT_VALID","article":"003 §13(2)","score":0.61,"details":"{\"reader\":\"server-in\"}"}"#
        );
    }
}
