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

/// One optional text field of an event (actor, subject, place, article): a value, or an `Option` of one, so
/// the builder takes `.actor(id)` and `.actor(maybe_id)` alike without a second setter per field.
pub trait EventField {
    fn into_field(self) -> Option<String>;
}

impl EventField for &str {
    fn into_field(self) -> Option<String> {
        Some(self.to_string())
    }
}

impl EventField for String {
    fn into_field(self) -> Option<String> {
        Some(self)
    }
}

impl EventField for &String {
    fn into_field(self) -> Option<String> {
        Some(self.clone())
    }
}

impl EventField for Option<&str> {
    fn into_field(self) -> Option<String> {
        self.map(str::to_string)
    }
}

impl EventField for Option<String> {
    fn into_field(self) -> Option<String> {
        self
    }
}

impl EventField for Option<&String> {
    fn into_field(self) -> Option<String> {
        self.cloned()
    }
}

impl NewEvent {
    /// An event with what every event has: when (the caller's clock, so a simulated or injected clock is
    /// never bypassed by a default), what kind, its outcome and its reason code. Actor, subject, place,
    /// article and score start absent and the details `{}`; the setters below fill them in.
    pub fn new(time: DateTime<Utc>, kind: impl Into<String>, outcome: Outcome, reason: impl Into<String>) -> NewEvent {
        NewEvent {
            time,
            kind: kind.into(),
            actor: None,
            subject: None,
            place: None,
            outcome,
            reason: reason.into(),
            article: None,
            score: None,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// Who acted (a person ID, an operator, a node).
    pub fn actor(mut self, v: impl EventField) -> NewEvent {
        self.actor = v.into_field();
        self
    }

    /// Whom or what the act concerns.
    pub fn subject(mut self, v: impl EventField) -> NewEvent {
        self.subject = v.into_field();
        self
    }

    /// Where: a door, a reader, a terminal, the site.
    pub fn place(mut self, v: impl EventField) -> NewEvent {
        self.place = v.into_field();
        self
    }

    /// The regulation article the outcome rests on, e.g. `003 §13(2)`.
    pub fn article(mut self, v: impl EventField) -> NewEvent {
        self.article = v.into_field();
        self
    }

    /// The matcher's score, where a biometric comparison decided.
    pub fn score(mut self, v: impl Into<Option<f64>>) -> NewEvent {
        self.score = v.into();
        self
    }

    /// Free-form facts beside the typed fields (hashed as canonical JSON).
    pub fn details(mut self, v: serde_json::Value) -> NewEvent {
        self.details = v;
        self
    }
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

/// An event's columns as a database hands them back — the node's SQLite, the centre's PostgreSQL (as
/// shipped, as queried, as fetched back for a restore): the texts exactly as hashed. [`EventRow::into_event`]
/// is the one place they are read into the typed [`StoredEvent`], so the node, the shipper and the centre
/// share one event and parse strings only at their SQL edge. Read by column name through `sqlx::FromRow`,
/// from either backend (SQLite's INTEGER, REAL, BLOB and PostgreSQL's BIGINT, DOUBLE PRECISION, BYTEA decode
/// to the same fields), so there is no hand-written reader to keep in step with the columns.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EventRow {
    pub node: String,
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
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

impl EventRow {
    /// Reads the row, never refusing it: the texts are kept as hashed (`time_text`, `details_text`), and
    /// what cannot be read (a time that is not RFC 3339, an outcome of no known kind, details that are not
    /// JSON, a hash that is not 32 bytes) becomes a placeholder, so the row fails the hash check
    /// (`recompute`) and is reported as altered rather than lost — `verify` and a restore see every row.
    pub fn into_event(self) -> StoredEvent {
        let hash32 = |v: Vec<u8>| <[u8; 32]>::try_from(v.as_slice()).unwrap_or([0; 32]);
        StoredEvent {
            node: self.node,
            seq: self.seq,
            time: DateTime::parse_from_rfc3339(&self.time).map(|t| t.with_timezone(&Utc)).unwrap_or_default(),
            time_text: self.time,
            kind: self.kind,
            actor: self.actor,
            subject: self.subject,
            place: self.place,
            outcome: Outcome::parse(&self.outcome).unwrap_or(Outcome::Info),
            reason: self.reason,
            article: self.article,
            score: self.score,
            details: serde_json::from_str(&self.details).unwrap_or(serde_json::Value::Null),
            details_text: self.details,
            prev_hash: hash32(self.prev_hash),
            hash: hash32(self.hash),
        }
    }
}

impl StoredEvent {
    /// `e` as a view over the log reads it back, `node`'s event number `seq`: for the tests of views (the
    /// ledgers, the centre's directory) that read the typed fields only. The texts are `e`'s own renderings;
    /// the hashes are zero, so this event never verifies — it is not a way to forge a chain.
    #[doc(hidden)]
    #[cfg(any(test, feature = "test-support"))]
    pub fn for_test(node: &str, seq: i64, e: NewEvent) -> StoredEvent {
        StoredEvent {
            node: node.to_string(),
            seq,
            time: e.time,
            time_text: time_text(e.time),
            kind: e.kind,
            actor: e.actor,
            subject: e.subject,
            place: e.place,
            outcome: e.outcome,
            reason: e.reason,
            article: e.article,
            score: e.score,
            details_text: details_text(&e.details),
            details: e.details,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }
}

impl StoredEvent {
    /// The hash of this event's stored texts after its `prev_hash`, on its own node.
    pub fn recompute(&self) -> [u8; 32] {
        self.hash_on(&self.node)
    }

    /// The hash these texts would have on `node`: what the centre recomputes for the node whose connection
    /// shipped them, and a restore for the node it restores (so another node's event never passes).
    pub fn hash_on(&self, node: &str) -> [u8; 32] {
        canonical_hash(
            node,
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

    fn sample_time() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T10:00:01.5+09:00").unwrap().with_timezone(&Utc)
    }

    /// The chain's encoding, pinned: a store written before the builder (or by any later version) must
    /// verify, so this digest may never change (it was computed with the hand-built events the daemon wrote).
    #[test]
    fn the_encoding_of_an_event_is_pinned() {
        let e = NewEvent::new(sample_time(), "door.enter", Outcome::Granted, "GRANT_VALID")
            .actor("tanaka")
            .subject("tanaka")
            .place("server-door")
            .article("003 §13(2)")
            .score(0.61)
            .details(serde_json::json!({"reader": "server-in", "a": [1, 2]}));
        let h = canonical_hash(
            "node-1",
            &time_text(e.time),
            &e.kind,
            e.actor.as_deref(),
            e.subject.as_deref(),
            e.place.as_deref(),
            e.outcome.as_str(),
            &e.reason,
            e.article.as_deref(),
            e.score,
            &details_text(&e.details),
            &[7; 32],
        );
        assert_eq!(time_text(e.time), "2026-11-24T01:00:01.500000000Z");
        assert_eq!(hex::encode(h), "076e4b7af1535cb637eae019675651d300473039971f102b5f7b2462fad0bc5b");
    }

    #[test]
    fn the_builder_gives_the_event_a_literal_gives() {
        let literal = NewEvent {
            time: sample_time(),
            kind: "admin.person.add".into(),
            actor: Some("sato".into()),
            subject: None,
            place: Some("office".into()),
            outcome: Outcome::Info,
            reason: "ADMIN_ACT".into(),
            article: None,
            score: None,
            details: serde_json::json!({}),
        };
        let built = NewEvent::new(sample_time(), "admin.person.add", Outcome::Info, "ADMIN_ACT")
            .actor(Some("sato"))
            .subject(None::<&str>)
            .place(String::from("office"));
        assert_eq!(built, literal);
        // A setter given `None` clears what an earlier call set.
        assert_eq!(built.clone().actor(None::<String>).actor, None);
        assert_eq!(built.score(Some(0.5)).score, Some(0.5));
    }

    /// A row read back keeps the texts it was hashed over (a time without nanoseconds stays so) and one that
    /// cannot be read is kept too, but fails its hash: reported as altered, never dropped.
    #[test]
    fn a_row_keeps_its_hashed_texts_and_an_unreadable_one_fails_its_hash() {
        let row = EventRow {
            node: "t01".into(),
            seq: 1,
            time: "2026-11-24T10:00:01Z".into(),
            kind: "door.enter".into(),
            actor: None,
            subject: Some("tanaka".into()),
            place: None,
            outcome: "denied".into(),
            reason: "NO_GRANT".into(),
            article: None,
            score: None,
            details: r#"{"b":1,"a":2}"#.into(),
            prev_hash: vec![0; 32],
            hash: Vec::new(),
        };
        let mut e = row.clone().into_event();
        e.hash = e.recompute();
        assert_eq!((e.time_text.as_str(), e.outcome), ("2026-11-24T10:00:01Z", Outcome::Denied));
        assert_eq!(e.details_text, r#"{"b":1,"a":2}"#, "the stored text, not a canonical re-rendering");
        assert_eq!(e.time, DateTime::parse_from_rfc3339("2026-11-24T10:00:01Z").unwrap().with_timezone(&Utc));
        assert_ne!(e.hash_on("t02"), e.hash, "hashed for its own node only");
        let sealed = EventRow { hash: e.hash.to_vec(), ..row };
        assert_eq!(sealed.clone().into_event().recompute(), e.hash);
        let tampered = EventRow { outcome: "granted?".into(), ..sealed }.into_event();
        assert_ne!(tampered.recompute(), tampered.hash);
    }

    #[test]
    fn details_are_canonical() {
        let a: serde_json::Value = serde_json::from_str(r#"{"b":1,"a":{"d":2,"c":3}}"#).unwrap();
        assert_eq!(details_text(&a), r#"{"a":{"c":3,"d":2},"b":1}"#);
    }
}
