//! What a node restored from a backup fetches back from the centre (issue 19 §3): its own events after the
//! backup's head, and the tree heads it signed. A backup is older than the lost disk; the events in between
//! were shipped, so the centre holds them, and a restored node that continued from the backup's head would
//! fork from that copy (TB002). Read on the node's own connection: row-level security shows it only its own
//! rows, and nothing here is trusted until [`check`] has tied every event to the backup's chain and every
//! signed head to the node's pinned key — never to a key the centre (or the backup) names.

use crate::{CentralError, ShippedEvent};
use sqlx::postgres::PgPool;
use tobira_audit::merkle::{CompactTree, Hash, leaf_hash};
use tobira_audit::witness::{SignedTreeHead, TreeHead};

/// Events are fetched in pages of this many (a node's week is well within a few pages).
const PAGE: i64 = 10_000;

fn hash32(v: Vec<u8>) -> [u8; 32] {
    // A stored hash is 32 bytes (a CHECK of the schema); anything else fails the chain check as altered.
    v.try_into().unwrap_or([0; 32])
}

/// `node`'s events after `after`, in order, as the centre holds them.
pub async fn events_after(pool: &PgPool, node: &str, after: i64) -> Result<Vec<ShippedEvent>, CentralError> {
    let mut out: Vec<ShippedEvent> = Vec::new();
    loop {
        let from = out.last().map_or(after, |e| e.seq);
        // `node` is selected although it is the one asked for: the row reads into the shared event by name.
        let rows: Vec<tobira_audit::EventRow> = sqlx::query_as(
            "SELECT node, seq, time, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, \
             hash FROM audit_events WHERE node = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(node)
        .bind(from)
        .bind(PAGE)
        .fetch_all(pool)
        .await?;
        let n = rows.len() as i64;
        out.extend(rows.into_iter().map(tobira_audit::EventRow::into_event));
        if n < PAGE {
            return Ok(out);
        }
    }
}

/// The centre's last event of `node` up to `seq` (its number and chain hash), if it holds any.
pub async fn last_up_to(pool: &PgPool, node: &str, seq: i64) -> Result<Option<(i64, [u8; 32])>, CentralError> {
    let h: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM audit_events WHERE node = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1")
            .bind(node)
            .bind(seq)
            .fetch_optional(pool)
            .await?;
    Ok(h.map(|(s, h)| (s, hash32(h))))
}

/// Every tree head submitted for `node` (pending, countersigned or refused) and every countersigned one,
/// smallest first, as the centre holds them. Their signatures are not checked here.
pub async fn signed_heads(pool: &PgPool, node: &str) -> Result<Vec<SignedTreeHead>, CentralError> {
    type Row = (i64, Vec<u8>, String, Vec<u8>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT size, root, time, node_sig FROM tree_heads WHERE node = $1 \
         UNION SELECT size, root, time, node_sig FROM cosigned_heads WHERE node = $1 ORDER BY 1",
    )
    .bind(node)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|(size, ..)| *size > 0)
        .map(|(size, root, time, node_sig)| SignedTreeHead {
            head: TreeHead { node: node.into(), size: size as u64, root: hash32(root), time },
            node_sig,
        })
        .collect())
}

/// Why the centre's copy is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryRefusal {
    #[error(
        "the centre's event {seq} differs from the backup's (the backup and the centre hold different histories of this node)"
    )]
    BackupDiffers { seq: i64 },
    #[error("the centre's events skip from {after} to {got}: event {} is missing", after + 1)]
    Gap { after: i64, got: i64 },
    #[error(
        "the centre's event {seq} was altered: its hash does not match its contents on node {node} (another node's event, or edited)"
    )]
    Altered { seq: i64, node: String },
    #[error("the centre's event {seq} does not link to event {} before it: a forked or rewritten history", seq - 1)]
    Unlinked { seq: i64 },
    #[error(
        "the tree head of {size} events this node signed at {time} does not match the centre's events: they were altered after shipping"
    )]
    HeadMismatch { size: u64, time: String },
    #[error(
        "this node signed a tree head of {size} events, but the centre serves only {have}: events it acknowledged are withheld"
    )]
    Withheld { size: u64, have: u64 },
}

/// What [`check`] established.
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    /// The events to append, after the backup's head, in order.
    pub events: Vec<ShippedEvent>,
    /// The chain head after them (the centre's last accepted head; the backup's when there are none).
    pub head_seq: i64,
    pub head: [u8; 32],
    /// The largest tree head signed with the node's key that the chain was shown to match (0: none).
    pub signed_upto: u64,
    /// Heads signed with the node's key that were checked, and heads the centre holds that are not signed
    /// with it (they vouch for nothing and are ignored).
    pub heads_checked: usize,
    pub heads_ignored: usize,
}

impl Recovered {
    /// Events after the largest signed head: tied to the chain, but vouched for by no signature of the node.
    pub fn unsigned_tail(&self) -> i64 {
        (self.head_seq - self.signed_upto as i64).max(0).min(self.events.len() as i64)
    }
}

/// Checks the centre's copy against the backup and the node's key, purely. `backup` holds the chain hashes
/// of the backup's events 1..=n in order; `centre_at` the centre's last event up to n (its number and hash),
/// which must be the backup's;
/// `events` the centre's events after n; `heads` the tree heads the centre holds. Every event must follow
/// the one before it (the backup's head first) and hash to its stored hash on `node` (so another node's
/// events never pass); every head signed with `key` must describe exactly the first `size` events of the
/// joined chain. Heads not signed with `key` are ignored; trust comes only from `key`.
pub fn check(
    node: &str,
    key: &[u8],
    backup: &[[u8; 32]],
    centre_at: Option<(i64, [u8; 32])>,
    events: Vec<ShippedEvent>,
    heads: &[SignedTreeHead],
) -> Result<Recovered, RecoveryRefusal> {
    let n = backup.len() as i64;
    let mut prev = backup.last().copied().unwrap_or([0; 32]);
    if let Some((seq, h)) = centre_at
        && seq > 0
        && usize::try_from(seq - 1).ok().and_then(|i| backup.get(i)) != Some(&h)
    {
        return Err(RecoveryRefusal::BackupDiffers { seq });
    }
    let mut seq = n;
    for e in &events {
        if e.seq != seq + 1 {
            return Err(RecoveryRefusal::Gap { after: seq, got: e.seq });
        }
        if e.hash_on(node) != e.hash {
            return Err(RecoveryRefusal::Altered { seq: e.seq, node: node.into() });
        }
        if e.prev_hash != prev {
            return Err(RecoveryRefusal::Unlinked { seq: e.seq });
        }
        prev = e.hash;
        seq = e.seq;
    }
    let mut mine: Vec<&SignedTreeHead> =
        heads.iter().filter(|h| h.head.node == node && tobira_audit::witness::verify_node_signature(h, key)).collect();
    mine.sort_by_key(|h| h.head.size);
    let total = seq as u64;
    let mut tree = CompactTree::new();
    let mut leaves = backup.iter().chain(events.iter().map(|e| &e.hash));
    let mut signed_upto = 0;
    for h in &mine {
        if h.head.size > total {
            return Err(RecoveryRefusal::Withheld { size: h.head.size, have: total });
        }
        while tree.size() < h.head.size {
            match leaves.next() {
                Some(l) => tree.push(leaf_hash(l)),
                None => return Err(RecoveryRefusal::Withheld { size: h.head.size, have: tree.size() }),
            }
        }
        let root: Hash = tree.root();
        if root != h.head.root {
            return Err(RecoveryRefusal::HeadMismatch { size: h.head.size, time: h.head.time.clone() });
        }
        signed_upto = h.head.size;
    }
    Ok(Recovered {
        head_seq: seq,
        head: prev,
        signed_upto,
        heads_checked: mine.len(),
        heads_ignored: heads.len() - mine.len(),
        events,
    })
}

#[cfg(test)]
mod tests;
