//! The witness (issue 7 §4, in the manner of Certificate Transparency witnesses): each node signs the head
//! of its Merkle log (size, root); the centre countersigns a head only after checking it *extends* the last
//! head it countersigned for that node — a consistency proof from the old size to the new one. It never
//! countersigns a smaller tree, a different tree of the same size, or a tree that does not contain the old
//! one. A node that rewrites or truncates its history after a countersignature therefore cannot get it
//! countersigned again, and an auditor holding an earlier countersigned head catches it.
//!
//! Pure logic over plain data: the caller keeps [`WitnessState`] durably (the centre stores it in
//! PostgreSQL in the same transaction as the countersignature it releases).

use crate::merkle::{Hash, verify_consistency};
use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A node's statement: "my log has `size` entries and this root".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    pub node: String,
    pub size: u64,
    #[serde(with = "hex_hash")]
    pub root: Hash,
    /// RFC 3339, the node's clock (the centre records its own receipt time beside it).
    pub time: String,
}

impl TreeHead {
    /// The exact bytes a node signs (length-prefixed, so no field can run into another).
    pub fn message(&self) -> Vec<u8> {
        let mut m = b"tobira-tree-head-v1\0".to_vec();
        for f in [self.node.as_bytes(), self.time.as_bytes()] {
            m.extend_from_slice(&(f.len() as u32).to_be_bytes());
            m.extend_from_slice(f);
        }
        m.extend_from_slice(&self.size.to_be_bytes());
        m.extend_from_slice(&self.root);
        m
    }

    fn countersign_message(&self, node_sig: &[u8]) -> Vec<u8> {
        let mut m = b"tobira-witness-v1\0".to_vec();
        m.extend_from_slice(&self.message());
        m.extend_from_slice(&(node_sig.len() as u32).to_be_bytes());
        m.extend_from_slice(node_sig);
        m
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedTreeHead {
    pub head: TreeHead,
    #[serde(with = "hex_bytes")]
    pub node_sig: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Countersigned {
    pub sth: SignedTreeHead,
    #[serde(with = "hex_bytes")]
    pub witness_sig: Vec<u8>,
}

/// What the witness last countersigned, per node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessState {
    pub heads: BTreeMap<String, Countersigned>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessRefusal {
    #[error("node {0} is not known to the witness")]
    UnknownNode(String),
    #[error("the tree head is not signed by node {0}'s key")]
    BadNodeSignature(String),
    #[error("node {node} presents {got} entries after {have} were countersigned: a truncated history")]
    Smaller { node: String, have: u64, got: u64 },
    #[error("node {node} presents a different tree of the same size {size}: a forked or rewritten history")]
    Fork { node: String, size: u64 },
    #[error("node {node}'s tree of {got} does not extend the countersigned tree of {have}: a rewritten history")]
    Inconsistent { node: String, have: u64, got: u64 },
}

pub fn verify_node_signature(sth: &SignedTreeHead, node_key: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, node_key).verify(&sth.head.message(), &sth.node_sig).is_ok()
}

/// An auditor's offline check of a countersigned head.
pub fn verify_countersigned(c: &Countersigned, node_key: &[u8], witness_key: &[u8]) -> bool {
    verify_node_signature(&c.sth, node_key)
        && UnparsedPublicKey::new(&ED25519, witness_key)
            .verify(&c.sth.head.countersign_message(&c.sth.node_sig), &c.witness_sig)
            .is_ok()
}

pub struct Witness {
    key: Ed25519KeyPair,
    /// Node id → its Ed25519 public key.
    nodes: BTreeMap<String, Vec<u8>>,
    state: WitnessState,
}

impl Witness {
    pub fn new(key: Ed25519KeyPair, nodes: BTreeMap<String, Vec<u8>>, state: WitnessState) -> Witness {
        Witness { key, nodes, state }
    }

    /// Learns (or relearns) a node's key: nodes are registered while the witness runs.
    pub fn know(&mut self, node: &str, key: Vec<u8>) {
        self.nodes.insert(node.into(), key);
    }

    pub fn state(&self) -> &WitnessState {
        &self.state
    }

    /// Whether `sth` would be countersigned: signed by its node and extending what was countersigned before
    /// (`proof`: the consistency proof from the previous size). Changes nothing.
    pub fn check(&self, sth: &SignedTreeHead, proof: &[Hash]) -> Result<(), WitnessRefusal> {
        let node = sth.head.node.clone();
        let key = self.nodes.get(&node).ok_or_else(|| WitnessRefusal::UnknownNode(node.clone()))?;
        if !verify_node_signature(sth, key) {
            return Err(WitnessRefusal::BadNodeSignature(node));
        }
        if let Some(prev) = self.state.heads.get(&node) {
            let (have, got) = (prev.sth.head.size, sth.head.size);
            if got < have {
                return Err(WitnessRefusal::Smaller { node, have, got });
            }
            if got == have {
                if prev.sth.head.root != sth.head.root || !proof.is_empty() {
                    return Err(WitnessRefusal::Fork { node, size: got });
                }
            } else if have > 0 && !verify_consistency(have, got, &prev.sth.head.root, &sth.head.root, proof) {
                return Err(WitnessRefusal::Inconsistent { node, have, got });
            }
        }
        Ok(())
    }

    /// Countersigns `sth` if [`Witness::check`] accepts it. On refusal nothing changes.
    pub fn countersign(&mut self, sth: &SignedTreeHead, proof: &[Hash]) -> Result<Countersigned, WitnessRefusal> {
        self.check(sth, proof)?;
        let node = sth.head.node.clone();
        let witness_sig = self.key.sign(&sth.head.countersign_message(&sth.node_sig)).as_ref().to_vec();
        let c = Countersigned { sth: sth.clone(), witness_sig };
        self.state.heads.insert(node, c.clone());
        Ok(c)
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        hex::decode(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(h: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(h))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(serde::de::Error::custom)?;
        v.try_into().map_err(|_| serde::de::Error::custom("a root is 32 bytes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{consistency_proof, leaf_hash, root};
    use ring::rand::SystemRandom;
    use ring::signature::KeyPair;

    fn pair() -> Ed25519KeyPair {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
    }

    fn events(n: usize, tag: &str) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(format!("{tag}-event-{i}").as_bytes())).collect()
    }

    fn sth(node: &Ed25519KeyPair, leaves: &[Hash]) -> SignedTreeHead {
        let head = TreeHead {
            node: "t01".into(),
            size: leaves.len() as u64,
            root: root(leaves),
            time: "2026-11-24T10:00:00Z".into(),
        };
        let node_sig = node.sign(&head.message()).as_ref().to_vec();
        SignedTreeHead { head, node_sig }
    }

    fn setup() -> (Witness, Ed25519KeyPair, Vec<u8>) {
        let node = pair();
        let w = pair();
        let wpk = w.public_key().as_ref().to_vec();
        let nodes = BTreeMap::from([("t01".to_string(), node.public_key().as_ref().to_vec())]);
        (Witness::new(w, nodes, WitnessState::default()), node, wpk)
    }

    #[test]
    fn an_honest_log_is_countersigned_as_it_grows_and_verifies_offline() {
        let (mut w, node, wpk) = setup();
        let log = events(20, "honest");
        let c = w.countersign(&sth(&node, &log[..5]), &[]).unwrap();
        assert!(verify_countersigned(&c, node.public_key().as_ref(), &wpk));
        for n in [6, 13, 20] {
            let prev = w.state().heads["t01"].sth.head.size as usize;
            let proof = consistency_proof(&log[..n], prev).unwrap();
            let c = w.countersign(&sth(&node, &log[..n]), &proof).unwrap();
            assert!(verify_countersigned(&c, node.public_key().as_ref(), &wpk));
        }
        // The same head again is fine (idempotent re-submission).
        assert!(w.countersign(&sth(&node, &log), &[]).is_ok());
        // State survives serialisation (the centre stores it).
        let json = serde_json::to_string(w.state()).unwrap();
        assert_eq!(&serde_json::from_str::<WitnessState>(&json).unwrap(), w.state());
    }

    #[test]
    fn a_history_rewritten_after_countersignature_is_refused() {
        let (mut w, node, _) = setup();
        let log = events(10, "a");
        w.countersign(&sth(&node, &log), &[]).unwrap();
        // The node's root edits event 3 and keeps growing; whatever proof it sends, the old tree is not inside.
        let mut rewritten = events(12, "a");
        rewritten[3] = leaf_hash(b"the entry someone wanted gone");
        let proof = consistency_proof(&rewritten, 10).unwrap();
        let e = w.countersign(&sth(&node, &rewritten), &proof).unwrap_err();
        assert!(matches!(e, WitnessRefusal::Inconsistent { have: 10, got: 12, .. }), "{e}");
        assert_eq!(w.state().heads["t01"].sth.head.size, 10, "nothing changed");
    }

    #[test]
    fn truncation_and_forks_are_refused() {
        let (mut w, node, _) = setup();
        let log = events(10, "b");
        w.countersign(&sth(&node, &log), &[]).unwrap();
        assert!(matches!(
            w.countersign(&sth(&node, &log[..7]), &[]),
            Err(WitnessRefusal::Smaller { have: 10, got: 7, .. })
        ));
        // Two different trees of the same size: a fork.
        let other = events(10, "c");
        assert!(matches!(w.countersign(&sth(&node, &other), &[]), Err(WitnessRefusal::Fork { size: 10, .. })));
    }

    #[test]
    fn heads_not_signed_by_the_node_are_refused() {
        let (mut w, node, _) = setup();
        let mut forged = sth(&pair(), &events(3, "d"));
        assert!(matches!(w.countersign(&forged, &[]), Err(WitnessRefusal::BadNodeSignature(_))));
        // A genuine signature over another size does not carry over.
        let good = sth(&node, &events(3, "d"));
        forged = good.clone();
        forged.head.size = 4;
        assert!(matches!(w.countersign(&forged, &[]), Err(WitnessRefusal::BadNodeSignature(_))));
        let mut stranger = good;
        stranger.head.node = "t99".into();
        assert!(matches!(w.countersign(&stranger, &[]), Err(WitnessRefusal::UnknownNode(_))));
    }
}
