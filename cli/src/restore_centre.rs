//! The centre's part of `tobira restore` (issue 19 §3): a restored node continues its chain from where the
//! centre last accepted it, not from the backup's older head. Its own events after the backup's head are
//! fetched over the node's own TLS connection (its client certificate, as the shipper uses it; row-level
//! security shows only its own rows) and checked with `tobira_central::recovery::check` against the backup's
//! chain and the tree heads signed with the pinned key, before anything is written.

use std::path::Path;
use tobira_central::recovery::{self, Recovered};
use tobira_core::site::RawCentral;

/// Why the centre's part did not happen.
pub enum CentreProblem {
    /// The centre could not be asked: the caller refuses unless `--without-centre`.
    Unreachable(String),
    /// The centre answered with a history that does not verify: always refused.
    Refused(String),
}

/// Where this node's centre is, for messages.
pub fn describe(c: &RawCentral) -> String {
    format!("{}:{} (database {}, role {})", c.host, c.port, c.database, c.role)
}

/// Fetches and checks this node's events after the backup's audit store `backup_db` ends.
pub async fn fetch_and_check(
    central: &RawCentral,
    node: &str,
    key: &[u8],
    backup_db: &Path,
) -> Result<Recovered, CentreProblem> {
    let (_, chain) = tobira_audit::log::leaves(backup_db)
        .await
        .map_err(|e| CentreProblem::Refused(format!("the backup's audit store cannot be read: {e}")))?;
    let hashes: Vec<[u8; 32]> = chain.iter().map(|(_, h)| *h).collect();
    let after = hashes.len() as i64;
    let pool = crate::audit::centre_pool(central).await.map_err(|e| CentreProblem::Unreachable(e.to_string()))?;
    let unreachable = |e: tobira_central::CentralError| CentreProblem::Unreachable(format!("centre: {e}"));
    let at_head = recovery::last_up_to(&pool, node, after).await.map_err(unreachable)?;
    let events = recovery::events_after(&pool, node, after).await.map_err(unreachable)?;
    let heads = recovery::signed_heads(&pool, node).await.map_err(unreachable)?;
    pool.close().await;
    recovery::check(node, key, &hashes, at_head, events, &heads)
        .map_err(|r| CentreProblem::Refused(format!("the centre's copy of this node's events does not verify: {r}")))
}

/// The store's form of a checked event of `node`.
pub fn stored(node: &str, e: &tobira_central::ShippedEvent) -> tobira_audit::StoredEvent {
    tobira_audit::StoredEvent {
        node: node.into(),
        seq: e.seq,
        time: chrono::DateTime::parse_from_rfc3339(&e.time).map(|t| t.with_timezone(&chrono::Utc)).unwrap_or_default(),
        time_text: e.time.clone(),
        kind: e.kind.clone(),
        actor: e.actor.clone(),
        subject: e.subject.clone(),
        place: e.place.clone(),
        // An outcome the store does not know fails the store's own hash check (`rejoin`): nothing is written.
        outcome: tobira_audit::Outcome::parse(&e.outcome).unwrap_or(tobira_audit::Outcome::Info),
        reason: e.reason.clone(),
        article: e.article.clone(),
        score: e.score,
        details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
        details_text: e.details.clone(),
        prev_hash: e.prev_hash,
        hash: e.hash,
    }
}
