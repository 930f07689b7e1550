//! Events and their canonical encoding.
//!
//! hash = SHA-256( "tobira-audit-v1" ‖ field₁ ‖ … ‖ prev_hash ), where each field is a 4-byte big-endian
//! length and its UTF-8 bytes, an absent optional field is the length 0xFFFF_FFFF alone, the score is
//! 8 bytes of IEEE-754 big-endian after a length of 8, and the fields are, in order: node, time (RFC 3339,
//! UTC, nanoseconds, as stored), kind, actor, subject, place, outcome, reason, article, score, details
//! (JSON with object keys sorted, no whitespace). The sequence number is not hashed: an event's place in
//! the chain is fixed by `prev_hash`, and checkpoints sign (seq, head) together.

use chrono::{DateTime, Utc};
use ring::digest::{Context, SHA256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Granted,
    Denied,
    Info,
    Alarm,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::Denied => "denied",
            Outcome::Info => "info",
            Outcome::Alarm => "alarm",
        }
    }

    pub fn parse(s: &str) -> Option<Outcome> {
        Some(match s {
            "granted" => Outcome::Granted,
            "denied" => Outcome::Denied,
            "info" => Outcome::Info,
            "alarm" => Outcome::Alarm,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub time: DateTime<Utc>,
    /// e.g. "door.enter", "login.success", "admin.person.add", "door.alarm.forced".
    pub kind: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub place: Option<String>,
    pub outcome: Outcome,
    /// Reason code, e.g. "GRANT_VALID".
    pub reason: String,
    pub article: Option<String>,
    pub score: Option<f64>,
    pub details: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub node: String,
    pub seq: i64,
    pub time: DateTime<Utc>,
    /// The time exactly as stored and hashed.
    pub time_text: String,
    pub kind: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub place: Option<String>,
    pub outcome: Outcome,
    pub reason: String,
    pub article: Option<String>,
    pub score: Option<f64>,
    pub details: serde_json::Value,
    pub details_text: String,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

pub fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Canonical JSON: serde_json's default map is ordered by key, and `to_string` adds no whitespace.
pub fn details_text(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn field(c: &mut Context, v: Option<&[u8]>) {
    match v {
        Some(b) => {
            c.update(&(b.len() as u32).to_be_bytes());
            c.update(b);
        }
        None => c.update(&u32::MAX.to_be_bytes()),
    }
}

/// The hash of one event given its stored text fields and its predecessor's hash.
#[allow(clippy::too_many_arguments)]
pub fn canonical_hash(
    node: &str,
    time: &str,
    kind: &str,
    actor: Option<&str>,
    subject: Option<&str>,
    place: Option<&str>,
    outcome: &str,
    reason: &str,
    article: Option<&str>,
    score: Option<f64>,
    details: &str,
    prev: &[u8; 32],
) -> [u8; 32] {
    let mut c = Context::new(&SHA256);
    c.update(b"tobira-audit-v1");
    for v in [Some(node), Some(time), Some(kind), actor, subject, place, Some(outcome), Some(reason), article] {
        field(&mut c, v.map(str::as_bytes));
    }
    let score = score.map(|s| s.to_be_bytes());
    field(&mut c, score.as_ref().map(|s| &s[..]));
    field(&mut c, Some(details.as_bytes()));
    c.update(prev);
    let d = c.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl StoredEvent {
    pub fn recompute(&self) -> [u8; 32] {
        canonical_hash(
            &self.node,
            &self.time_text,
            &self.kind,
            self.actor.as_deref(),
            self.subject.as_deref(),
            self.place.as_deref(),
            self.outcome.as_str(),
            &self.reason,
            self.article.as_deref(),
            self.score,
            &self.details_text,
            &self.prev_hash,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_changes_the_hash_and_absent_differs_from_empty() {
        let base = canonical_hash("n", "t", "k", Some("a"), None, None, "info", "R", None, None, "{}", &[0; 32]);
        let variants = [
            canonical_hash("m", "t", "k", Some("a"), None, None, "info", "R", None, None, "{}", &[0; 32]),
            canonical_hash("n", "t", "k", Some(""), None, None, "info", "R", None, None, "{}", &[0; 32]),
            canonical_hash("n", "t", "k", None, Some("a"), None, "info", "R", None, None, "{}", &[0; 32]),
            canonical_hash("n", "t", "k", Some("a"), None, None, "info", "R", None, Some(0.5), "{}", &[0; 32]),
            canonical_hash("n", "t", "k", Some("a"), None, None, "info", "R", None, None, "{\"x\":1}", &[0; 32]),
            canonical_hash("n", "t", "k", Some("a"), None, None, "info", "R", None, None, "{}", &[1; 32]),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
    }

    #[test]
    fn details_are_canonical() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":{"d":2,"c":3}}"#).unwrap();
        assert_eq!(details_text(&a), r#"{"a":{"c":3,"d":2},"b":1}"#);
    }
}
