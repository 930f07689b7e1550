//! The peer witness (issue 16 §1(a)) over TLS, without PostgreSQL: a node's honest heads are countersigned
//! as its log grows; a history rewritten with a fresh key, a fork re-signed with the node's own key and a cut
//! tail are refused; the countersigned heads survive a restart of the witness; a client that does not trust
//! the witness's CA never talks to it.

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tobira_audit::merkle::{Hash, consistency_proof, leaf_hash, root};
use tobira_audit::witness::{SignedTreeHead, TreeHead, verify_countersigned};
use tobira_central::peer_witness::{PeerClient, PeerRequest, PeerResponse, PeerWitness, serve, server_config};

fn pair() -> (Ed25519KeyPair, Vec<u8>) {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    (Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap(), doc.as_ref().to_vec())
}

fn leaves(n: usize, tag: &str) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(format!("{tag}-{i}").as_bytes())).collect()
}

fn sth(key: &Ed25519KeyPair, log: &[Hash]) -> SignedTreeHead {
    let head =
        TreeHead { node: "t01".into(), size: log.len() as u64, root: root(log), time: "2026-11-24T10:00:00Z".into() };
    SignedTreeHead { node_sig: key.sign(&head.message()).as_ref().to_vec(), head }
}

fn submit(c: &PeerClient, key: &Ed25519KeyPair, log: &[Hash], from: usize) -> PeerResponse {
    let proof = if from == 0 { vec![] } else { consistency_proof(log, from).unwrap() };
    c.call(&PeerRequest::Submit { sth: sth(key, log), proof: proof.iter().map(hex::encode).collect() }).unwrap()
}

fn start(dir: &std::path::Path, witness_pkcs8: &[u8], node_pub: &[u8]) -> String {
    let key = Ed25519KeyPair::from_pkcs8(witness_pkcs8).unwrap();
    let nodes = BTreeMap::from([("t01".to_string(), node_pub.to_vec())]);
    let w = PeerWitness::open(&dir.join("witness.json"), key, nodes).unwrap();
    let tls = server_config(&dir.join("server.crt"), &dir.join("server.key")).unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || serve(l, tls, Arc::new(Mutex::new(w))));
    addr
}

#[test]
fn a_peer_witness_countersigns_growth_and_refuses_rewrites_and_cuts_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    tobira_central::testing::certificates(dir.path(), &[]);
    let (node, _) = pair();
    let node_pub = node.public_key().as_ref().to_vec();
    let (witness, witness_doc) = pair();
    let witness_pub = witness.public_key().as_ref().to_vec();
    let addr = start(dir.path(), &witness_doc, &node_pub);
    let c = PeerClient::new(&addr, "localhost", &dir.path().join("ca.crt")).unwrap();

    let log = leaves(40, "honest");
    let mut have = 0;
    for n in [5, 17, 40] {
        match submit(&c, &node, &log[..n], have) {
            PeerResponse::Countersigned { head: Some(h) } => {
                assert!(verify_countersigned(&h, &node_pub, &witness_pub), "a countersignature that does not verify");
                assert_eq!(h.sth.head.size, n as u64);
            }
            other => panic!("honest growth to {n} refused: {other:?}"),
        }
        have = n;
    }
    // Root on the node rewrites history with a fresh key (the pinned key replaced too): not the node's key.
    let (fresh, _) = pair();
    let mut rewritten = log.clone();
    rewritten[3] = leaf_hash(b"a denial turned into a grant");
    let r = submit(&c, &fresh, &rewritten[..41.min(rewritten.len())], 0);
    assert!(matches!(&r, PeerResponse::Refused { why } if why.contains("not signed")), "{r:?}");
    // …or with the node's own key: the rewritten tree does not extend the countersigned one.
    let mut longer = rewritten.clone();
    longer.extend(leaves(5, "after"));
    let r = submit(&c, &node, &longer, 40);
    assert!(matches!(&r, PeerResponse::Refused { why } if why.contains("does not extend")), "{r:?}");
    let r = submit(&c, &node, &rewritten, 0);
    assert!(matches!(&r, PeerResponse::Refused { why } if why.contains("different tree")), "{r:?}");
    // The tail cut off (events, checkpoints and head deleted): smaller than countersigned.
    let r = submit(&c, &node, &log[..30], 0);
    assert!(matches!(&r, PeerResponse::Refused { why } if why.contains("truncated")), "{r:?}");

    // What it countersigned survives a restart of the witness, and is what `verify --witness` reads.
    let addr2 = start(dir.path(), &witness_doc, &node_pub);
    let c2 = PeerClient::new(&addr2, "localhost", &dir.path().join("ca.crt")).unwrap();
    match c2.call(&PeerRequest::Heads { node: "t01".into() }).unwrap() {
        PeerResponse::Heads { heads } => {
            assert_eq!(heads.iter().map(|h| h.sth.head.size).collect::<Vec<_>>(), [5, 17, 40]);
        }
        other => panic!("{other:?}"),
    }
    let r = submit(&c2, &node, &log[..30], 0);
    assert!(matches!(r, PeerResponse::Refused { .. }), "a restart forgot what was countersigned: {r:?}");

    // A client that trusts another CA does not talk to this witness (no head to or from an impostor).
    let other = tempfile::tempdir().unwrap();
    tobira_central::testing::certificates(other.path(), &[]);
    let stranger = PeerClient::new(&addr2, "localhost", &other.path().join("ca.crt")).unwrap();
    assert!(stranger.call(&PeerRequest::Last { node: "t01".into() }).is_err());
}
