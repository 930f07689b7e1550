//! Anchors of the audit record off the store (issue 16 §1): the pinned node key, paper anchors (the signed
//! tree head printed on every ledger) and the high-water record of the largest heads this node has signed,
//! printed or had countersigned, kept beside the pinned key so that whoever rewrites the store does not
//! silently reset it together with the store.
//!
//! The checks are pure functions over the chain hashes: a paper anchor `SIZE:ROOT` holds when today's
//! Merkle log (RFC 6962, leaf *i* = `leaf_hash(hash of event i)`) extends the tree of that size and root,
//! shown with a consistency proof (RFC 9162 §2.1.4); a checkpoint holds when the chain still has that hash
//! at that sequence number.

use crate::merkle::{Hash, consistency_proof, leaf_hash, root, verify_consistency};
use crate::signing::{checkpoint_message, verify_signature};
use crate::witness::TreeHead;
use ring::digest::{SHA256, digest};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The file, beside the pinned key, that remembers the largest heads (see the module comment).
pub const HIGH_WATER_FILE: &str = "audit-heads.json";
/// The pinned key's file name in its directory (default `/etc/tobira/audit-signing.pub`).
pub const PINNED_KEY_FILE: &str = "audit-signing.pub";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnchorError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path} is garbled ({detail}): restore it from the paper record or a backup")]
    Garbled { path: PathBuf, detail: String },
    #[error("anchor {0:?} is not SIZE:ROOT (a number of events and a 64-digit hex root, as printed on a ledger)")]
    BadAnchor(String),
    #[error("{0:?} is neither a file holding the node's public key nor 64 hex digits (an Ed25519 public key)")]
    BadKey(String),
}

/// The fingerprint written on paper at `--init`: SHA-256 of the public key, in groups of four hex digits.
pub fn fingerprint(public_key: &[u8]) -> String {
    let h = hex::encode(digest(&SHA256, public_key));
    let groups: Vec<&str> = (0..h.len()).step_by(4).map(|i| &h[i..i + 4]).collect();
    format!("SHA256:{}", groups.join("-"))
}

/// Reads a public key file (`audit-signing.pub`: 64 hex digits; `#` lines are comments).
pub fn read_key_file(path: &Path) -> Result<Vec<u8>, AnchorError> {
    let text = std::fs::read_to_string(path).map_err(|source| AnchorError::Io { path: path.into(), source })?;
    parse_key(text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or(""))
        .ok_or_else(|| AnchorError::Garbled { path: path.into(), detail: "not an Ed25519 public key in hex".into() })
}

/// 64 hex digits → the 32-byte key.
pub fn parse_key(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.trim()).ok().filter(|k| k.len() == 32)
}

/// A paper anchor: the size and root of the node's Merkle log as printed on a ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub size: u64,
    pub root: Hash,
}

impl std::str::FromStr for Anchor {
    type Err = AnchorError;
    fn from_str(s: &str) -> Result<Anchor, AnchorError> {
        let bad = || AnchorError::BadAnchor(s.into());
        let (size, r) = s.trim().split_once(':').ok_or_else(bad)?;
        let size: u64 = size.trim().parse().map_err(|_| bad())?;
        let root: Hash = hex::decode(r.trim()).ok().and_then(|v| v.try_into().ok()).ok_or_else(bad)?;
        if size == 0 {
            return Err(bad());
        }
        Ok(Anchor { size, root })
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.size, hex::encode(self.root))
    }
}

/// Why the store does not hold up against an anchor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorFailure {
    #[error(
        "{what} covered {size} events but the store holds {have}: the newest events were deleted or the store was rolled back"
    )]
    RolledBack { what: String, size: u64, have: u64 },
    #[error("the store does not extend {what}: the history up to its {size} events was rewritten")]
    NotExtended { what: String, size: u64 },
    #[error("{what} does not carry the pinned key's signature")]
    BadSignature { what: String },
}

/// Today's log, ready for anchor checks: the leaves once, the root once.
pub struct Log {
    leaves: Vec<Hash>,
    chain: Vec<Hash>,
    root: Hash,
}

impl Log {
    /// From the chain hashes of events 1..=n in order.
    pub fn new(chain: &[Hash]) -> Log {
        let leaves: Vec<Hash> = chain.iter().map(|h| leaf_hash(h)).collect();
        let r = root(&leaves);
        Log { leaves, chain: chain.to_vec(), root: r }
    }

    pub fn size(&self) -> u64 {
        self.leaves.len() as u64
    }

    pub fn root(&self) -> Hash {
        self.root
    }

    /// Today's store extends the tree `size`/`root`: proven with an RFC 6962 consistency proof.
    pub fn extends(&self, what: &str, size: u64, old_root: &Hash) -> Result<(), AnchorFailure> {
        let have = self.size();
        if size > have {
            return Err(AnchorFailure::RolledBack { what: what.into(), size, have });
        }
        let not = || AnchorFailure::NotExtended { what: what.into(), size };
        let proof = consistency_proof(&self.leaves, size as usize).ok_or_else(not)?;
        if verify_consistency(size, have, old_root, &self.root, &proof) { Ok(()) } else { Err(not()) }
    }

    /// The chain still has `head` at `seq` (a signed checkpoint of the hash chain).
    pub fn has_checkpoint(&self, what: &str, seq: u64, head: &Hash) -> Result<(), AnchorFailure> {
        let have = self.size();
        if seq > have {
            return Err(AnchorFailure::RolledBack { what: what.into(), size: seq, have });
        }
        match seq.checked_sub(1).and_then(|i| self.chain.get(i as usize)) {
            Some(h) if h == head => Ok(()),
            _ => Err(AnchorFailure::NotExtended { what: what.into(), size: seq }),
        }
    }
}

/// A signed checkpoint of the hash chain (as in `audit.db.head`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointRecord {
    pub seq: u64,
    pub head: String,
    pub time: String,
    pub signature: String,
}

/// A signed tree head (as printed on a ledger or countersigned by a witness).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadRecord {
    pub size: u64,
    pub root: String,
    pub time: String,
    pub signature: String,
}

/// The largest heads this node has signed (checkpoint), printed (on a ledger) and had countersigned.
/// Only ever raised: [`raise`] keeps the larger of the stored and the new one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HighWater {
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printed: Option<HeadRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countersigned: Option<HeadRecord>,
}

/// The kind of the audit event that puts a loss on record (`tobira audit acknowledge-loss`, issue 19 §3).
pub const LOSS_ACKNOWLEDGED: &str = "audit.loss_acknowledged";

/// A remembered head as a loss acknowledgement names it: `what` is `checkpoint` (then `size` is its event
/// and `hash` the chain hash there), `printed` or `countersigned` (`size` events, `hash` the tree root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedHead {
    pub what: String,
    pub size: u64,
    pub hash: String,
    pub time: String,
}

/// The details of an `audit.loss_acknowledged` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossDetails {
    /// The remembered heads the store no longer reached when the loss was acknowledged.
    pub lost: Vec<RememberedHead>,
    /// The events the store still held then (the restored chain's length) and the hash of the last one.
    pub kept: u64,
    pub kept_head: String,
    /// The largest remembered head minus `kept`: at least this many signed events are gone.
    pub lost_at_least: u64,
    pub note: String,
}

/// An acknowledgement read from the chain: its event, when and by whom, and what it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossAcknowledgement {
    pub seq: u64,
    pub time: String,
    pub actor: String,
    pub details: LossDetails,
}

impl LossAcknowledgement {
    /// Whether this acknowledgement accounts for `head` failing: it names exactly that head, and it was
    /// written while the store fell short of it (its own event at or before the head's size), so it can
    /// only ever speak of events the store had already lost, never excuse a later rewrite or rollback.
    pub fn covers(&self, head: &RememberedHead) -> bool {
        self.seq <= head.size && self.details.kept < head.size && self.details.lost.iter().any(|l| l == head)
    }

    /// The loss in words, for `tobira audit verify`.
    pub fn describe(&self, head_what: &str) -> String {
        format!(
            "{head_what}: lost, acknowledged by {} at {} (event {}): the store then held {} events, {} short of that head, so at least {} signed events are gone — note: {}",
            self.actor,
            self.time,
            self.seq,
            self.details.kept,
            self.details.lost_at_least,
            self.details.lost_at_least,
            self.details.note
        )
    }
}

/// What to raise.
#[derive(Debug, Clone)]
pub enum Raise {
    Checkpoint(CheckpointRecord),
    Printed(HeadRecord),
    Countersigned(HeadRecord),
}

fn h32(s: &str) -> Option<Hash> {
    hex::decode(s).ok()?.try_into().ok()
}

impl HighWater {
    /// Checks the store (its log) against every remembered head, each signed with the pinned key.
    pub fn check(&self, log: &Log, key: &[u8]) -> Result<Vec<String>, AnchorFailure> {
        let mut held = Vec::new();
        for (_, what, r) in self.check_each(log, key) {
            r?;
            held.push(what);
        }
        Ok(held)
    }

    /// Each remembered head checked on its own: the head (as a loss acknowledgement names it), its
    /// description, and whether today's log holds it.
    pub fn check_each(&self, log: &Log, key: &[u8]) -> Vec<(RememberedHead, String, Result<(), AnchorFailure>)> {
        let mut out = Vec::new();
        if let Some(c) = &self.checkpoint {
            let what = format!("the signed checkpoint this node remembered at {} (event {})", c.time, c.seq);
            let named =
                RememberedHead { what: "checkpoint".into(), size: c.seq, hash: c.head.clone(), time: c.time.clone() };
            let r = (|| {
                let head = h32(&c.head).ok_or_else(|| AnchorFailure::BadSignature { what: what.clone() })?;
                let sig = hex::decode(&c.signature).unwrap_or_default();
                let seq = i64::try_from(c.seq).unwrap_or(i64::MAX);
                if !verify_signature(key, &checkpoint_message(&self.node, seq, &head, &c.time), &sig) {
                    return Err(AnchorFailure::BadSignature { what: what.clone() });
                }
                log.has_checkpoint(&what, c.seq, &head)
            })();
            out.push((named, what, r));
        }
        for (name, kind, rec) in [
            ("printed", "printed on a ledger", &self.printed),
            ("countersigned", "countersigned by a witness", &self.countersigned),
        ] {
            let Some(r) = rec else { continue };
            let what = format!("the tree head {kind} at {} ({} events)", r.time, r.size);
            let named = RememberedHead { what: name.into(), size: r.size, hash: r.root.clone(), time: r.time.clone() };
            let res = (|| {
                let root_h = h32(&r.root).ok_or_else(|| AnchorFailure::BadSignature { what: what.clone() })?;
                let head = TreeHead { node: self.node.clone(), size: r.size, root: root_h, time: r.time.clone() };
                if !verify_signature(key, &head.message(), &hex::decode(&r.signature).unwrap_or_default()) {
                    return Err(AnchorFailure::BadSignature { what: what.clone() });
                }
                log.extends(&what, r.size, &root_h)
            })();
            out.push((named, what, res));
        }
        out
    }

    /// Applies `r` if it is larger than what is remembered; returns whether anything changed.
    pub fn apply(&mut self, r: Raise) -> bool {
        match r {
            Raise::Checkpoint(c) if self.checkpoint.as_ref().is_none_or(|o| c.seq > o.seq) => {
                self.checkpoint = Some(c);
                true
            }
            Raise::Printed(h) if self.printed.as_ref().is_none_or(|o| h.size > o.size) => {
                self.printed = Some(h);
                true
            }
            Raise::Countersigned(h) if self.countersigned.as_ref().is_none_or(|o| h.size > o.size) => {
                self.countersigned = Some(h);
                true
            }
            _ => false,
        }
    }
}

/// Reads the high-water file: `Ok(None)` when there is none, an error when it is unreadable or garbled
/// (a garbled record is never taken for an empty one).
pub fn load(path: &Path) -> Result<Option<HighWater>, AnchorError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AnchorError::Io { path: path.into(), source }),
    };
    let text =
        String::from_utf8(bytes).map_err(|_| AnchorError::Garbled { path: path.into(), detail: "not UTF-8".into() })?;
    serde_json::from_str(&text).map(Some).map_err(|e| AnchorError::Garbled { path: path.into(), detail: e.to_string() })
}

/// One writer at a time in this process (the audit writer's checkpoints, ledgers, the witness follower).
static RAISE_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Raises the remembered head in `path` (atomically, mode 0600). Never lowers it, and never replaces a
/// garbled file (that is evidence, and verification reports it).
pub fn raise(path: &Path, node: &str, r: Raise) -> Result<bool, AnchorError> {
    let _g = RAISE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let mut hw = load(path)?.unwrap_or_else(|| HighWater { node: node.into(), ..Default::default() });
    if hw.node != node {
        return Err(AnchorError::Garbled {
            path: path.into(),
            detail: format!("it remembers node {:?}, not {node:?}", hw.node),
        });
    }
    if !hw.apply(r) {
        return Ok(false);
    }
    let text = serde_json::to_string_pretty(&hw).unwrap_or_default();
    crate::fault::write_private_atomic(path, text.as_bytes())
        .map_err(|source| AnchorError::Io { path: path.into(), source })?;
    Ok(true)
}

/// Creates an empty high-water file for `node` if there is none (at `--init`).
pub fn create(path: &Path, node: &str) -> Result<(), AnchorError> {
    let _g = RAISE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
    if load(path)?.is_some() {
        return Ok(());
    }
    let text = serde_json::to_string_pretty(&HighWater { node: node.into(), ..Default::default() }).unwrap_or_default();
    crate::fault::write_private_atomic(path, text.as_bytes())
        .map_err(|source| AnchorError::Io { path: path.into(), source })
}

/// The node's signed tree head over its whole log as it is now (for a ledger's paper anchor).
pub fn sign_head(node: &str, chain: &[Hash], time: &str, sign: impl Fn(&[u8]) -> Vec<u8>) -> (TreeHead, Vec<u8>) {
    let log = Log::new(chain);
    let head = TreeHead { node: node.into(), size: log.size(), root: log.root(), time: time.into() };
    let sig = sign(&head.message());
    (head, sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::Signer;
    use proptest::prelude::*;

    fn chain(n: usize, salt: u8) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[salt, (i % 256) as u8, (i / 256) as u8])).collect()
    }

    fn signer(dir: &Path) -> Signer {
        let p = dir.join("k");
        Signer::create(&p).unwrap();
        Signer::load(&p).unwrap()
    }

    #[test]
    fn anchors_parse_and_print() {
        let a: Anchor = format!("12:{}", "ab".repeat(32)).parse().unwrap();
        assert_eq!(a.size, 12);
        assert_eq!(a.to_string(), format!("12:{}", "ab".repeat(32)));
        for bad in ["12".to_string(), "x:00".into(), format!("0:{}", "ab".repeat(32)), format!("3:{}", "ab".repeat(31))]
        {
            assert!(bad.parse::<Anchor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_fingerprint_is_stable_and_grouped() {
        let f = fingerprint(&[7u8; 32]);
        assert!(f.starts_with("SHA256:") && f.len() == 7 + 64 + 15, "{f}");
        assert_eq!(f, fingerprint(&[7u8; 32]));
        assert_ne!(f, fingerprint(&[8u8; 32]));
    }

    #[test]
    fn a_rewrite_or_a_truncation_fails_every_remembered_head_and_growth_passes() {
        let dir = tempfile::tempdir().unwrap();
        let s = signer(dir.path());
        let c = chain(40, 1);
        let (head, sig) = sign_head("t01", &c[..25], "2026-11-24T10:00:00Z", |m| s.sign(m));
        let cp_sig = s.sign(&checkpoint_message("t01", 30, &c[29], "2026-11-24T10:05:00Z"));
        let hw = HighWater {
            node: "t01".into(),
            checkpoint: Some(CheckpointRecord {
                seq: 30,
                head: hex::encode(c[29]),
                time: "2026-11-24T10:05:00Z".into(),
                signature: hex::encode(cp_sig),
            }),
            printed: Some(HeadRecord {
                size: head.size,
                root: hex::encode(head.root),
                time: head.time.clone(),
                signature: hex::encode(&sig),
            }),
            countersigned: None,
        };
        let pk = s.public_key();
        assert_eq!(hw.check(&Log::new(&c), &pk).unwrap().len(), 2, "the store grew: both heads hold");
        // The newest events deleted (with their checkpoints and head): older than the remembered checkpoint.
        let e = hw.check(&Log::new(&c[..28]), &pk).unwrap_err();
        assert!(matches!(e, AnchorFailure::RolledBack { size: 30, have: 28, .. }), "{e}");
        // Event 10 rewritten and everything after recomputed: the printed head is not extended.
        let mut rw = c.clone();
        rw[9] = leaf_hash(b"a grant instead of a denial");
        let e = hw.check(&Log::new(&rw), &pk).unwrap_err();
        assert!(e.to_string().contains("rewritten"), "{e}");
        // The same heads re-signed with a fresh key do not pass the pinned key.
        let elsewhere = tempfile::tempdir().unwrap();
        let other = signer(elsewhere.path());
        assert!(matches!(hw.check(&Log::new(&c), &other.public_key()), Err(AnchorFailure::BadSignature { .. })));
    }

    #[test]
    fn a_loss_acknowledgement_covers_exactly_the_head_it_names_and_only_from_before_it() {
        let head = RememberedHead { what: "checkpoint".into(), size: 30, hash: "ab".repeat(32), time: "t".into() };
        let ack = |seq: u64, kept: u64, named: RememberedHead| LossAcknowledgement {
            seq,
            time: "t2".into(),
            actor: "takahashi".into(),
            details: LossDetails {
                lost: vec![named],
                kept,
                kept_head: String::new(),
                lost_at_least: 30 - kept.min(30),
                note: "n".into(),
            },
        };
        assert!(ack(26, 25, head.clone()).covers(&head), "written while the store fell short of it");
        assert!(!ack(31, 30, head.clone()).covers(&head), "written after the store had passed it: a rewrite");
        assert!(!ack(26, 30, head.clone()).covers(&head), "claims to have kept what the head covers");
        let other = RememberedHead { hash: "cd".repeat(32), ..head.clone() };
        assert!(!ack(26, 25, other).covers(&head), "another head at the same size");
        let printed = RememberedHead { what: "printed".into(), ..head.clone() };
        assert!(!ack(26, 25, printed).covers(&head), "another kind of head");
        let text = ack(26, 25, head.clone()).describe("the checkpoint");
        assert!(text.contains("acknowledged by takahashi") && text.contains("at least 5"), "{text}");
    }

    #[test]
    fn the_high_water_file_only_rises_and_a_garbled_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(HIGH_WATER_FILE);
        let rec = |size| HeadRecord { size, root: "00".repeat(32), time: "t".into(), signature: String::new() };
        assert!(load(&p).unwrap().is_none());
        assert!(raise(&p, "t01", Raise::Printed(rec(10))).unwrap());
        assert!(!raise(&p, "t01", Raise::Printed(rec(9))).unwrap(), "never lowered");
        assert!(raise(&p, "t01", Raise::Printed(rec(11))).unwrap());
        assert_eq!(load(&p).unwrap().unwrap().printed.unwrap().size, 11);
        assert!(raise(&p, "t02", Raise::Printed(rec(12))).is_err(), "another node's record is not merged");
        std::fs::write(&p, b"\xff\xfe{").unwrap();
        assert!(matches!(load(&p), Err(AnchorError::Garbled { .. })));
        assert!(raise(&p, "t01", Raise::Printed(rec(20))).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"\xff\xfe{", "the garbled file stays as evidence");
    }

    proptest! {
        /// Every prefix anchor of a log is extended by every longer log that starts with it, and by no log
        /// where any event up to the anchor differs.
        #[test]
        fn anchors_hold_exactly_for_extensions(n in 1usize..70, m in 1usize..70, flip in 0usize..70) {
            let (m, n) = (m.min(n), n.max(m));
            let c = chain(n, 3);
            let anchor = Anchor { size: m as u64, root: root(&c[..m].iter().map(|h| leaf_hash(h)).collect::<Vec<_>>()) };
            prop_assert!(Log::new(&c).extends("a", anchor.size, &anchor.root).is_ok());
            let mut rw = c.clone();
            let i = flip % n;
            rw[i][0] ^= 1;
            prop_assert_eq!(Log::new(&rw).extends("a", anchor.size, &anchor.root).is_ok(), i >= m);
            if m > 1 {
                let rolled = Log::new(&c[..m - 1]).extends("a", anchor.size, &anchor.root).is_err();
                prop_assert!(rolled);
            }
        }
    }
}
