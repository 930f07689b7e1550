//! Verification of a store on disk: the chain, the signed checkpoints and the sidecar head.

use crate::disk::{read_head_file, read_only};
use crate::error::AuditError;
use crate::event::EventRow;
use crate::signing::{checkpoint_message, verify_signature};
use sqlx::{ConnectOptions, Row};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: i64,
    pub checkpoints: i64,
    pub head: [u8; 32],
}

/// The first problem found, naming the event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyFailure {
    #[error("event {seq} was altered: its hash does not match its contents")]
    Altered { seq: i64 },
    #[error("events missing after {after_seq}: expected {expected} next")]
    Missing { after_seq: i64, expected: i64 },
    #[error("event {seq} is out of order: it does not follow the event before it in the chain")]
    Reordered { seq: i64 },
    #[error("the store was truncated: it ends at event {have}, but a signed head covers event {checkpoint_seq}")]
    Truncated { have: i64, checkpoint_seq: i64 },
    #[error("the checkpoint at event {seq} has a bad signature")]
    BadCheckpointSignature { seq: i64 },
    #[error("the checkpoint at event {seq} does not match the chain")]
    CheckpointMismatch { seq: i64 },
    #[error("the store cannot be read: {0}")]
    Unreadable(String),
    #[error("the signed head file (audit.db.head) {0}; restore it from backup — it is never skipped once written")]
    HeadFile(String),
}

/// What a signed head is checked against.
struct Chain<'a> {
    node: &'a str,
    public_key: &'a [u8],
    /// The last event's seq.
    end: i64,
    hashes: &'a std::collections::HashMap<i64, [u8; 32]>,
}

impl Chain<'_> {
    /// A signed head (a checkpoint row or the sidecar file) must carry a valid signature, lie within the
    /// chain, and name the hash the chain has at that seq.
    fn check_head(&self, seq: i64, head: &[u8], time: &str, sig: &[u8]) -> Result<(), VerifyFailure> {
        let mut h = [0u8; 32];
        if head.len() == 32 {
            h.copy_from_slice(head);
        }
        if !verify_signature(self.public_key, &checkpoint_message(self.node, seq, &h, time), sig) {
            return Err(VerifyFailure::BadCheckpointSignature { seq });
        }
        if seq > self.end {
            return Err(VerifyFailure::Truncated { have: self.end, checkpoint_seq: seq });
        }
        if self.hashes.get(&seq) != Some(&h) {
            return Err(VerifyFailure::CheckpointMismatch { seq });
        }
        Ok(())
    }
}

fn unreadable(e: impl std::fmt::Display) -> VerifyFailure {
    VerifyFailure::Unreadable(e.to_string())
}

/// Walks the store at `db` against `public_key` (the node's Ed25519 key, from a copy kept apart from the
/// store) and reports the first problem, or what was verified.
pub async fn verify(db: &Path, public_key: &[u8]) -> Result<VerifyReport, VerifyFailure> {
    if !db.exists() {
        return Err(unreadable(AuditError::Missing { path: db.into() }));
    }
    // The head file first, then the events and checkpoints in one read snapshot: the writer makes events
    // durable, then writes the head file, then the checkpoint row, so a head read first never names an event
    // the snapshot lacks, and a store being written while it is verified (`--online`, at start) is no alarm.
    let early_head = read_head_file(db);
    let mut c = read_only(db).map_err(unreadable)?.connect().await.map_err(unreadable)?;
    sqlx::query("BEGIN").execute(&mut c).await.map_err(unreadable)?;
    let rows: Vec<EventRow> =
        sqlx::query_as("SELECT * FROM events ORDER BY seq").fetch_all(&mut c).await.map_err(unreadable)?;
    let mut prev_seq = 0i64;
    let mut prev_hash = [0u8; 32];
    let mut hashes = std::collections::HashMap::with_capacity(rows.len());
    for r in rows {
        let e = r.into_event();
        if e.seq != prev_seq + 1 {
            return Err(VerifyFailure::Missing { after_seq: prev_seq, expected: prev_seq + 1 });
        }
        let self_consistent = e.recompute() == e.hash;
        // Order is what the links say; clocks may step back (NTP, a replaced battery) without tampering.
        if e.prev_hash != prev_hash {
            // A self-consistent event in the wrong place was moved; otherwise it was edited.
            return Err(if self_consistent {
                VerifyFailure::Reordered { seq: e.seq }
            } else {
                VerifyFailure::Altered { seq: e.seq }
            });
        }
        if !self_consistent {
            return Err(VerifyFailure::Altered { seq: e.seq });
        }
        hashes.insert(e.seq, e.hash);
        prev_seq = e.seq;
        prev_hash = e.hash;
    }
    let node: String =
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'node'").fetch_one(&mut c).await.map_err(unreadable)?;
    let cps = sqlx::query("SELECT seq, head, time, signature FROM checkpoints ORDER BY seq")
        .fetch_all(&mut c)
        .await
        .map_err(unreadable)?;
    let _ = sqlx::query("COMMIT").execute(&mut c).await;
    let chain = Chain { node: &node, public_key, end: prev_seq, hashes: &hashes };
    for r in &cps {
        let head: Vec<u8> = r.get("head");
        let time: String = r.get("time");
        let sig: Vec<u8> = r.get("signature");
        chain.check_head(r.get("seq"), &head, &time, &sig)?;
    }
    // The sidecar head survives deletion of the checkpoint rows themselves. Once a head has been written
    // (any checkpoint signed), it must be present, readable and current (issue 15 item 7).
    let newest_cp: Option<i64> = cps.last().map(|r| r.get("seq"));
    // A checkpoint signed between reading the head and the snapshot: its head file is written by now.
    let head = match early_head {
        Ok(Some(h)) if newest_cp.is_some_and(|cp| h.seq < cp) => read_head_file(db),
        Ok(None) if newest_cp.is_some() => read_head_file(db),
        other => other,
    };
    match head {
        Ok(None) if newest_cp.is_none() => {}
        Ok(None) => {
            return Err(VerifyFailure::HeadFile(format!(
                "is missing although {} checkpoints were signed (the newest at event {})",
                cps.len(),
                newest_cp.unwrap_or(0)
            )));
        }
        Ok(Some(h)) => {
            chain.check_head(h.seq, &h.head, &h.time, &h.signature)?;
            if let Some(cp) = newest_cp
                && h.seq < cp
            {
                return Err(VerifyFailure::HeadFile(format!(
                    "is older than the newest signed checkpoint (event {} < {cp}): it was replaced by an old copy",
                    h.seq
                )));
            }
        }
        Err(detail) => return Err(VerifyFailure::HeadFile(detail)),
    }
    Ok(VerifyReport { events: prev_seq, checkpoints: cps.len() as i64, head: prev_hash })
}

#[cfg(test)]
mod tests;
