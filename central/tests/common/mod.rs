//! Chains as nodes hash them, for the centre's tests.
#![allow(dead_code)]

use tobira_central::ShippedEvent;

/// A node's chain as the node hashes it (`tobira_audit::canonical_hash`); `kind` tells two histories apart.
pub fn chain_of(n: i64, node: &str, kind: &str) -> Vec<ShippedEvent> {
    let mut prev = [0u8; 32];
    (1..=n)
        .map(|seq| {
            let mut e = tobira_audit::EventRow {
                node: node.to_string(),
                seq,
                time: format!("2026-11-24T10:00:{:02}Z", seq % 60),
                kind: kind.into(),
                actor: Some("tanaka".into()),
                subject: Some("tanaka".into()),
                place: Some("server-door".into()),
                outcome: "granted".into(),
                reason: "GRANT_VALID".into(),
                article: Some("003 §13".into()),
                score: Some(0.61),
                details: "{}".into(),
                prev_hash: prev.to_vec(),
                hash: Vec::new(),
            }
            .into_event();
            e.hash = e.hash_on(node);
            prev = e.hash;
            e
        })
        .collect()
}

pub fn chain(n: i64, node: &str) -> Vec<ShippedEvent> {
    chain_of(n, node, "door.enter")
}

pub fn reseal(mut e: ShippedEvent, node: &str) -> ShippedEvent {
    e.hash = e.hash_on(node);
    e
}
