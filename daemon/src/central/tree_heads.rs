//! The node's side of the witnessed log (issue 7 §4): the shipper keeps the Merkle leaves of what the centre
//! acknowledged, and now and then signs the head of that log and submits it with a consistency proof from
//! the last head the centre countersigned. A refusal by the witness is an alarm here too: it means the
//! centre saw this node present a history that does not extend the one it vouched for.

use crate::node::daemon::Daemon;
use sqlx::postgres::PgPool;
use std::time::{Duration, Instant};
use tobira_audit::merkle::{Hash, consistency_proof, leaf_hash, root};
use tobira_audit::witness::{SignedTreeHead, TreeHead};
use tobira_audit::{NewEvent, Outcome, Signer};

pub struct HeadKeeper {
    signer: Signer,
    every: Duration,
    /// `leaf_hash(event.hash)` of local events 1..=len, in order.
    leaves: Vec<Hash>,
    last_submit: Option<Instant>,
    /// The submission the witness has not decided yet.
    pending: Option<(i64, u64)>,
    /// Sizes already reported refused, so one refusal is one alarm.
    alarmed: Option<u64>,
}

impl HeadKeeper {
    pub fn new(signer: Signer, every: Duration) -> HeadKeeper {
        HeadKeeper { signer, every, leaves: Vec::new(), last_submit: None, pending: None, alarmed: None }
    }

    /// Reads the local leaves up to `upto` (the centre's acknowledgement).
    pub async fn fill(&mut self, d: &Daemon, upto: i64) -> Result<(), tobira_audit::AuditError> {
        while (self.leaves.len() as i64) < upto {
            let from = self.leaves.len() as i64;
            let rows = d.stores.audit.chain_hashes(from, upto, 50_000).await?;
            if rows.is_empty() {
                return Ok(());
            }
            for (seq, h) in rows {
                let Ok(h) = <[u8; 32]>::try_from(h.as_slice()) else { return Ok(()) };
                if seq != self.leaves.len() as i64 + 1 {
                    return Ok(()); // a hole in the local chain: verification reports it, heads wait
                }
                self.leaves.push(leaf_hash(&h));
            }
        }
        Ok(())
    }

    /// The shipper confirmed these events at the centre.
    pub fn shipped(&mut self, batch: &[tobira_central::ShippedEvent]) {
        for e in batch {
            if e.seq == self.leaves.len() as i64 + 1 {
                self.leaves.push(leaf_hash(&e.hash));
            }
        }
    }

    /// Submits a head of everything acknowledged if one is due; follows up on the previous submission.
    /// Returns the size the centre last countersigned, when known.
    pub async fn tick(
        &mut self,
        d: &Daemon,
        pool: &PgPool,
        acked: i64,
    ) -> Result<Option<u64>, tobira_central::CentralError> {
        let node = d.site.id.to_string();
        if let Some((id, size)) = self.pending {
            match tobira_central::heads::head_state(pool, id).await? {
                Some((state, _)) if state == "pending" => return Ok(None),
                Some((state, verdict)) if state == "refused" => {
                    let verdict = verdict.unwrap_or_default();
                    if !verdict.starts_with("superseded") && self.alarmed != Some(size) {
                        self.alarmed = Some(size);
                        alarm(d, &node, size, &verdict).await;
                    }
                }
                _ => {}
            }
            self.pending = None;
        }
        let last = tobira_central::heads::last_cosigned(pool, &node).await?;
        if let Some(c) = &last {
            crate::node::trust::remember_countersigned(d, c);
        }
        let have = last.as_ref().map_or(0, |c| c.sth.head.size);
        let size = (acked.max(0) as u64).min(self.leaves.len() as u64);
        let due = self.last_submit.is_none_or(|t| t.elapsed() >= self.every);
        if size <= have || !due {
            return Ok(Some(have));
        }
        let tree = &self.leaves[..size as usize];
        let proof = if have == 0 { Vec::new() } else { consistency_proof(tree, have as usize).unwrap_or_default() };
        let head = TreeHead { node, size, root: root(tree), time: tobira_audit::time_text(d.now()) };
        let sth = SignedTreeHead { node_sig: self.signer.sign(&head.message()), head };
        let id = tobira_central::heads::submit(pool, &sth, have, &proof).await?;
        self.pending = Some((id, size));
        self.last_submit = Some(Instant::now());
        Ok(Some(have))
    }
}

async fn alarm(d: &Daemon, node: &str, size: u64, verdict: &str) {
    tracing::error!(size, verdict, "the centre's witness refused this node's tree head");
    let _ = d
        .record(
            NewEvent::new(d.now(), "central.head_refused", Outcome::Alarm, "WITNESS_REFUSED")
                .place(node)
                .article("003 §17, §20")
                .details(serde_json::json!({"size": size, "verdict": verdict})),
        )
        .await;
}
