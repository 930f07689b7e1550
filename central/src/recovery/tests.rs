#![allow(clippy::unwrap_used)]

use super::*;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

fn key() -> Ed25519KeyPair {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
}

/// A chain of `n` events of `node`, hashed as the node hashes them.
fn chain(node: &str, n: i64) -> Vec<ShippedEvent> {
    let mut prev = [0u8; 32];
    (1..=n)
        .map(|seq| {
            let mut e = tobira_audit::EventRow {
                node: node.to_string(),
                seq,
                time: format!("2026-11-24T01:00:{:02}.000000000Z", seq % 60),
                kind: "door.enter".into(),
                actor: None,
                subject: Some("tanaka".into()),
                place: Some("server-in".into()),
                outcome: "granted".into(),
                reason: "GRANT_VALID".into(),
                article: Some("003 §13(2)".into()),
                score: Some(0.9),
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

fn head(k: &Ed25519KeyPair, node: &str, hashes: &[[u8; 32]]) -> SignedTreeHead {
    let mut t = CompactTree::new();
    for h in hashes {
        t.push(leaf_hash(h));
    }
    let head = TreeHead { node: node.into(), size: t.size(), root: t.root(), time: "2026-11-24T01:01:00Z".into() };
    SignedTreeHead { node_sig: k.sign(&head.message()).as_ref().to_vec(), head }
}

/// The backup holds events 1..=5; the centre 1..=9, with heads signed at 7.
fn setup(k: &Ed25519KeyPair) -> (Vec<[u8; 32]>, Vec<ShippedEvent>, Vec<SignedTreeHead>) {
    let all = chain("t01", 9);
    let hashes: Vec<[u8; 32]> = all.iter().map(|e| e.hash).collect();
    let heads = vec![head(k, "t01", &hashes[..3]), head(k, "t01", &hashes[..7])];
    (hashes[..5].to_vec(), all[5..].to_vec(), heads)
}

#[test]
fn the_centres_events_after_the_backup_join_its_chain_and_the_signed_heads() {
    let k = key();
    let (backup, events, heads) = setup(&k);
    let r = check("t01", k.public_key().as_ref(), &backup, Some((5, backup[4])), events.clone(), &heads).unwrap();
    assert_eq!((r.head_seq, r.head, r.events.len()), (9, events[3].hash, 4));
    assert_eq!((r.signed_upto, r.heads_checked, r.heads_ignored, r.unsigned_tail()), (7, 2, 0, 2));
}

#[test]
fn an_altered_relinked_or_missing_event_is_refused() {
    let k = key();
    let pk = k.public_key().as_ref().to_vec();
    let (backup, events, heads) = setup(&k);

    let mut edited = events.clone();
    edited[1].subject = Some("sato".into());
    assert_eq!(
        check("t01", &pk, &backup, None, edited, &heads),
        Err(RecoveryRefusal::Altered { seq: 7, node: "t01".into() })
    );

    // Rewritten with every hash recomputed: the chain holds, the head the node signed at 7 does not.
    let mut rewritten = events.clone();
    rewritten[1].subject = Some("sato".into());
    for i in 1..rewritten.len() {
        if i > 1 {
            rewritten[i].prev_hash = rewritten[i - 1].hash;
        }
        rewritten[i].hash = rewritten[i].hash_on("t01");
    }
    let e = check("t01", &pk, &backup, None, rewritten, &heads).unwrap_err();
    assert!(matches!(e, RecoveryRefusal::HeadMismatch { size: 7, .. }), "{e}");

    let mut gap = events.clone();
    gap.remove(1);
    assert_eq!(check("t01", &pk, &backup, None, gap, &heads), Err(RecoveryRefusal::Gap { after: 6, got: 8 }));

    // Events withheld below a head the node signed.
    assert_eq!(
        check("t01", &pk, &backup, None, events[..1].to_vec(), &heads),
        Err(RecoveryRefusal::Withheld { size: 7, have: 6 })
    );
    // The centre's copy of the backup's own head differs, or of an earlier event when it holds no more.
    assert_eq!(
        check("t01", &pk, &backup, Some((5, [7; 32])), events.clone(), &heads),
        Err(RecoveryRefusal::BackupDiffers { seq: 5 })
    );
    assert_eq!(
        check("t01", &pk, &backup, Some((3, backup[3])), vec![], &[]),
        Err(RecoveryRefusal::BackupDiffers { seq: 3 })
    );
    // Holding less than the backup, the same events: the node continues from the backup's head.
    let r = check("t01", &pk, &backup, Some((3, backup[2])), vec![], &heads[..1]).unwrap();
    assert_eq!((r.head_seq, r.events.len(), r.signed_upto), (5, 0, 3));
}

#[test]
fn another_nodes_events_never_pass_even_linked_to_the_backup() {
    let k = key();
    let pk = k.public_key().as_ref().to_vec();
    let (backup, _, heads) = setup(&k);
    // Node t02's events, shaped to follow t01's backup head: they hash differently on t01.
    let mut theirs = chain("t02", 9)[5..].to_vec();
    theirs[0].prev_hash = backup[4];
    for i in 0..theirs.len() {
        if i > 0 {
            theirs[i].prev_hash = theirs[i - 1].hash;
        }
        theirs[i].hash = theirs[i].hash_on("t02");
    }
    assert_eq!(
        check("t01", &pk, &backup, None, theirs, &heads),
        Err(RecoveryRefusal::Altered { seq: 6, node: "t01".into() })
    );
}

#[test]
fn only_the_pinned_key_vouches_a_head_named_by_the_centre_with_another_key_is_ignored() {
    let k = key();
    let other = key();
    let (backup, events, _) = setup(&k);
    let mut hashes = backup.clone();
    hashes.extend(events.iter().map(|e| e.hash));
    // A head over a different history, signed by a key the centre might name: ignored, not trusted.
    let mut forged = hashes.clone();
    forged[6] = [9; 32];
    let heads = vec![head(&other, "t01", &forged[..8]), head(&k, "t01", &hashes[..9])];
    let r = check("t01", k.public_key().as_ref(), &backup, None, events.clone(), &heads).unwrap();
    assert_eq!((r.signed_upto, r.heads_checked, r.heads_ignored, r.unsigned_tail()), (9, 1, 1, 0));
    // The same forged head under the pinned key is refused.
    let heads = vec![head(&k, "t01", &forged[..8])];
    let e = check("t01", k.public_key().as_ref(), &backup, None, events, &heads).unwrap_err();
    assert!(matches!(e, RecoveryRefusal::HeadMismatch { size: 8, .. }), "{e}");
}

/// The figure in the README: checking a week of a busy node's events (100 000) against a head signed every
/// 1 000. `cargo test --release -p tobira-central --lib recovery -- --ignored --nocapture`
#[test]
#[ignore = "a measurement"]
fn checking_100k_events_and_their_heads_takes() {
    let k = key();
    let all = chain("t01", 100_005);
    let hashes: Vec<[u8; 32]> = all.iter().map(|e| e.hash).collect();
    let heads: Vec<SignedTreeHead> = (1..=100).map(|i| head(&k, "t01", &hashes[..i * 1000])).collect();
    let t = std::time::Instant::now();
    let r = check("t01", k.public_key().as_ref(), &hashes[..5], None, all[5..].to_vec(), &heads).unwrap();
    eprintln!("checked {} events and {} signed heads in {:?}", r.events.len(), r.heads_checked, t.elapsed());
    assert_eq!((r.head_seq, r.signed_upto), (100_005, 100_000));
}
