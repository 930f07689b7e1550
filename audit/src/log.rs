//! The node's audit chain read as a Merkle log (RFC 6962): leaf *i* is the chain hash of event *i*
//! (`leaf_hash(event.hash)`), so the log commits to exactly what the chain does, in order. An inclusion
//! proof shows an auditor, offline, that one event is in the log a signed tree head describes.

use crate::error::AuditError;
use crate::merkle::{Hash, inclusion_proof, leaf_hash, root, verify_inclusion};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything an auditor needs to check one event's inclusion offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InclusionProof {
    pub node: String,
    pub seq: i64,
    /// The event's chain hash (hex); the leaf is `SHA-256(0x00 ‖ hash)`.
    pub event_hash: String,
    pub tree_size: u64,
    pub root: String,
    /// Audit path, leaf to root (hex).
    pub path: Vec<String>,
    /// The node's Ed25519 signature over the tree head (`witness::TreeHead::message`), and its time.
    pub head_time: String,
    pub head_signature: String,
    pub node_public_key: String,
    /// The centre's witness countersignature over that head (hex), when the proof is anchored in a
    /// countersigned head (`tobira audit prove --central`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_signature: Option<String>,
}

/// Reads the chain hashes in order (read-only; the daemon may be running).
pub async fn leaves(db: &Path) -> Result<(String, Vec<(i64, Hash)>), AuditError> {
    use sqlx::{ConnectOptions, Row};
    let corrupt = |e: sqlx::Error| AuditError::Corrupt { path: db.into(), detail: e.to_string() };
    let mut c = crate::disk::read_only(db)?.connect().await.map_err(corrupt)?;
    let rows =
        sqlx::query("SELECT seq, node, hash FROM events ORDER BY seq").fetch_all(&mut c).await.map_err(corrupt)?;
    let node = rows.first().map(|r| r.get::<String, _>(1)).unwrap_or_default();
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let h: Vec<u8> = r.get(2);
        let h: Hash =
            h.try_into().map_err(|_| AuditError::Corrupt { path: db.into(), detail: "hash length".into() })?;
        out.push((r.get::<i64, _>(0), h));
    }
    Ok((node, out))
}

/// Builds the inclusion proof of event `seq` in the log as it is now, signed by `sign`.
pub fn prove(
    node: &str,
    chain: &[(i64, Hash)],
    seq: i64,
    time: &str,
    public_key: &[u8],
    sign: impl Fn(&[u8]) -> Vec<u8>,
) -> Option<InclusionProof> {
    let index = chain.iter().position(|(s, _)| *s == seq)?;
    let hashed: Vec<Hash> = chain.iter().map(|(_, h)| leaf_hash(h)).collect();
    let path = inclusion_proof(&hashed, index)?;
    let r = root(&hashed);
    let head = crate::witness::TreeHead { node: node.into(), size: hashed.len() as u64, root: r, time: time.into() };
    Some(InclusionProof {
        node: node.into(),
        seq,
        event_hash: hex::encode(chain[index].1),
        tree_size: hashed.len() as u64,
        root: hex::encode(r),
        path: path.iter().map(hex::encode).collect(),
        head_time: time.into(),
        head_signature: hex::encode(sign(&head.message())),
        node_public_key: hex::encode(public_key),
        witness_signature: None,
    })
}

/// The inclusion proof of event `seq` in the head the centre's witness countersigned (`c`), which must
/// describe the first `c.size` events of `chain`: an auditor holding the witness's key then knows the event
/// is in the history the centre vouched for, not merely in whatever the node signs today.
pub fn prove_countersigned(
    chain: &[(i64, Hash)],
    seq: i64,
    c: &crate::witness::Countersigned,
    public_key: &[u8],
) -> Result<InclusionProof, ProofError> {
    let size = c.sth.head.size as usize;
    if size > chain.len() {
        return Err(ProofError::StoreShorterThanHead { countersigned: size, held: chain.len() });
    }
    let index =
        chain[..size].iter().position(|(s, _)| *s == seq).ok_or(ProofError::NotYetCountersigned { seq, size })?;
    let hashed: Vec<Hash> = chain[..size].iter().map(|(_, h)| leaf_hash(h)).collect();
    if root(&hashed) != c.sth.head.root {
        return Err(ProofError::HistoryDiffers);
    }
    let path = inclusion_proof(&hashed, index).ok_or(ProofError::NoPath)?;
    Ok(InclusionProof {
        node: c.sth.head.node.clone(),
        seq,
        event_hash: hex::encode(chain[index].1),
        tree_size: size as u64,
        root: hex::encode(c.sth.head.root),
        path: path.iter().map(hex::encode).collect(),
        head_time: c.sth.head.time.clone(),
        head_signature: hex::encode(&c.sth.node_sig),
        node_public_key: hex::encode(public_key),
        witness_signature: Some(hex::encode(&c.witness_sig)),
    })
}

/// [`check`], and the witness's countersignature over the same head with the key the auditor holds.
pub fn check_witnessed(p: &InclusionProof, node_key: &[u8], witness_key: &[u8]) -> Result<(), ProofError> {
    check(p, node_key)?;
    let ws = p.witness_signature.as_deref().ok_or(ProofError::NotCountersigned)?;
    let c = crate::witness::Countersigned {
        sth: crate::witness::SignedTreeHead {
            head: crate::witness::TreeHead {
                node: p.node.clone(),
                size: p.tree_size,
                root: h32(&p.root)?,
                time: p.head_time.clone(),
            },
            node_sig: hex::decode(&p.head_signature)?,
        },
        witness_sig: hex::decode(ws)?,
    };
    if crate::witness::verify_countersigned(&c, node_key, witness_key) { Ok(()) } else { Err(ProofError::WrongWitness) }
}

/// The auditor's check: the signature over the head is the node's, and the event is in that tree.
/// `trusted_key`: the node's public key as the auditor knows it (not the one inside the proof).
pub fn check(p: &InclusionProof, trusted_key: &[u8]) -> Result<(), ProofError> {
    let root_h = h32(&p.root)?;
    let head =
        crate::witness::TreeHead { node: p.node.clone(), size: p.tree_size, root: root_h, time: p.head_time.clone() };
    let sig = hex::decode(&p.head_signature)?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, trusted_key)
        .verify(&head.message(), &sig)
        .map_err(|_| ProofError::WrongNode)?;
    let path = p.path.iter().map(|s| h32(s)).collect::<Result<Vec<_>, _>>()?;
    let leaf = leaf_hash(&h32(&p.event_hash)?);
    // The index is the event's position: sequences start at 1 without gaps (a gap fails `audit verify`).
    let index = u64::try_from(p.seq - 1).map_err(|_| ProofError::BadSequence)?;
    if verify_inclusion(&leaf, index, p.tree_size, &path, &root_h) {
        Ok(())
    } else {
        Err(ProofError::NotInTree { seq: p.seq, size: p.tree_size, root: p.root.clone() })
    }
}

/// A 32-byte hash written in hex, as a proof carries it.
fn h32(s: &str) -> Result<Hash, ProofError> {
    hex::decode(s)?.try_into().map_err(|_| ProofError::NotAHash)
}

/// Why an inclusion proof could not be made or does not check; the messages are the CLI's (`tobira audit
/// prove`, `tobira audit check-proof`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProofError {
    /// The centre's witness vouched for more events than this store holds.
    #[error("the witness countersigned {countersigned} events, the local store holds {held}")]
    StoreShorterThanHead { countersigned: usize, held: usize },
    /// The event came after the last countersigned head.
    #[error("event {seq} is not in the last countersigned head ({size} events): try again after the next one")]
    NotYetCountersigned { seq: i64, size: usize },
    /// The store's first events hash to another root than the one the witness countersigned.
    #[error("the local store's first events are not the ones the witness countersigned")]
    HistoryDiffers,
    #[error("no inclusion proof")]
    NoPath,
    #[error("the proof carries no countersignature: make it with --central")]
    NotCountersigned,
    /// A hash or signature in the proof is not hex.
    #[error("{0}")]
    Hex(#[from] hex::FromHexError),
    #[error("not 32 bytes")]
    NotAHash,
    #[error("the head is not countersigned by this witness")]
    WrongWitness,
    #[error("the tree head is not signed by this node's key")]
    WrongNode,
    #[error("bad sequence number")]
    BadSequence,
    #[error("event {seq} is not in the tree of {size} entries with root {root}")]
    NotInTree { seq: i64, size: u64, root: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    #[test]
    fn a_proof_checks_and_any_alteration_fails() {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let k = Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
        let chain: Vec<(i64, Hash)> = (1..=37).map(|i| (i, crate::merkle::leaf_hash(&[i as u8]))).collect();
        let p =
            prove("t01", &chain, 17, "2026-11-24T10:00:00Z", k.public_key().as_ref(), |m| k.sign(m).as_ref().to_vec())
                .unwrap();
        assert_eq!(check(&p, k.public_key().as_ref()), Ok(()));
        let mut bad = p.clone();
        bad.event_hash = hex::encode([9u8; 32]);
        assert!(check(&bad, k.public_key().as_ref()).is_err(), "another event");
        let mut bad = p.clone();
        bad.seq = 18;
        assert!(check(&bad, k.public_key().as_ref()).is_err(), "another position");
        let mut bad = p.clone();
        bad.tree_size = 36;
        assert!(check(&bad, k.public_key().as_ref()).is_err(), "the signature covers the size");
        let other =
            Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap().as_ref()).unwrap();
        let e = check(&p, other.public_key().as_ref()).unwrap_err();
        assert_eq!(e, ProofError::WrongNode, "another node's key");
        assert_eq!(e.to_string(), "the tree head is not signed by this node's key");
    }
}
