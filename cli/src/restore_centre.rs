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

/// The store's form of a checked event of `node`: the centre's copy is already the node's typed event; it is
/// filed under `node`, the node being restored (the one [`recovery::check`] hashed it for).
pub fn stored(node: &str, e: &tobira_central::ShippedEvent) -> tobira_audit::StoredEvent {
    tobira_audit::StoredEvent { node: node.into(), ..e.clone() }
}
