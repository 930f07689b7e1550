//! The centre's witness and clock checks on a private PostgreSQL (issue 7 §4 and "Bad input"): a node's
//! head is countersigned only if it extends the last countersigned one *and* describes the events the node
//! shipped; a rewritten, truncated or forked history, a head signed by another key, or a head of a log the
//! node never shipped is refused with an alarm at the centre, and the witness's state survives a restart.
//! The receipt time is the centre's own; a future-dated event or a node clock far off raises `clock.skew`.

use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use sqlx::postgres::{PgPool, PgPoolOptions};
use tobira_audit::merkle::{Hash, consistency_proof, leaf_hash, root};
use tobira_audit::witness::{SignedTreeHead, TreeHead, verify_countersigned};
use tobira_central::witness_service::WitnessService;
use tobira_central::{ShippedEvent, heads, ingest, ingest_at, migrate, register_node};

mod common;
use common::{chain, chain_of, reseal};

fn keypair() -> Ed25519KeyPair {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
}

fn leaves(events: &[ShippedEvent]) -> Vec<Hash> {
    events.iter().map(|e| leaf_hash(&e.hash)).collect()
}

fn signed(key: &Ed25519KeyPair, node: &str, tree: &[Hash]) -> SignedTreeHead {
    let head =
        TreeHead { node: node.into(), size: tree.len() as u64, root: root(tree), time: "2026-11-24T10:05:00Z".into() };
    SignedTreeHead { node_sig: key.sign(&head.message()).as_ref().to_vec(), head }
}

async fn submit(pool: &PgPool, sth: &SignedTreeHead, from: u64, tree: &[Hash]) -> i64 {
    let proof = if from == 0 { vec![] } else { consistency_proof(tree, from as usize).unwrap_or_default() };
    heads::submit(pool, sth, from, &proof).await.unwrap()
}

async fn state(pool: &PgPool, id: i64) -> String {
    heads::head_state(pool, id).await.unwrap().unwrap().0
}

async fn alarms(owner: &PgPool, kind: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM central_alarms WHERE kind = $1").bind(kind).fetch_one(owner).await.unwrap()
}

fn witness_key(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("witness.key");
    if !p.exists() {
        tobira_audit::Signer::create(&p).unwrap();
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_countersigns_only_what_extends_what_it_vouched_for() {
    let Some(pg) = tobira_central::testing::start(&["node_t01", "node_t02"]).await else { return };
    let owner = pg.admin("tobira").await;
    migrate(&owner).await.unwrap();
    let (k1, k2) = (keypair(), keypair());
    register_node(&owner, "t01", "node_t01", k1.public_key().as_ref()).await.unwrap();
    register_node(&owner, "t02", "node_t02", k2.public_key().as_ref()).await.unwrap();
    let t01 = PgPoolOptions::new().max_connections(2).connect_with(pg.node_opts("node_t01", "node_t01")).await.unwrap();
    let wdir = tempfile::tempdir().unwrap();
    let wkey = witness_key(wdir.path());
    let mut w = WitnessService::load(&owner, tobira_audit::Signer::load(&wkey).unwrap()).await.unwrap();
    let wpub = w.public_key().to_vec();

    let events = chain(20, "t01");
    let tree = leaves(&events);
    ingest(&t01, "t01", &events[..10]).await.unwrap();

    // A first head of what was shipped: countersigned, and the countersignature checks offline.
    let id = submit(&t01, &signed(&k1, "t01", &tree[..10]), 0, &tree[..10]).await;
    assert_eq!(w.pass(&owner).await.unwrap().cosigned, 1);
    assert_eq!(state(&t01, id).await, "cosigned");
    let last = heads::last_cosigned(&t01, "t01").await.unwrap().unwrap();
    assert_eq!(last.sth.head.size, 10);
    assert!(verify_countersigned(&last, k1.public_key().as_ref(), &wpub));

    // A head of more than the centre holds waits for the events; once shipped, it is countersigned.
    let id = submit(&t01, &signed(&k1, "t01", &tree[..15]), 10, &tree[..15]).await;
    assert_eq!(w.pass(&owner).await.unwrap().waiting, 1);
    assert_eq!(state(&t01, id).await, "pending");
    ingest(&t01, "t01", &events[10..15]).await.unwrap();
    assert_eq!(w.pass(&owner).await.unwrap().cosigned, 1);

    // The witness restarts: its state is the table.
    let mut w = WitnessService::load(&owner, tobira_audit::Signer::load(&wkey).unwrap()).await.unwrap();

    // A rewritten history of the same size (and a consistent-looking proof over it): refused.
    let other = leaves(&chain_of(15, "t01", "door.exit"));
    let id = submit(&t01, &signed(&k1, "t01", &other), 15, &other).await;
    w.pass(&owner).await.unwrap();
    assert_eq!(state(&t01, id).await, "refused");
    // Truncated: fewer entries than countersigned.
    let id = submit(&t01, &signed(&k1, "t01", &tree[..12]), 15, &tree[..12]).await;
    w.pass(&owner).await.unwrap();
    assert_eq!(state(&t01, id).await, "refused");
    // A longer tree that does not contain the countersigned one (forked before 15).
    let mut forked = tree[..14].to_vec();
    forked.extend(leaves(&chain_of(20, "t01", "door.exit"))[14..].iter().copied());
    let id = submit(&t01, &signed(&k1, "t01", &forked), 15, &forked).await;
    w.pass(&owner).await.unwrap();
    assert_eq!(state(&t01, id).await, "refused");
    // Signed with another node's key.
    ingest(&t01, "t01", &events[15..]).await.unwrap();
    let id = submit(&t01, &signed(&k2, "t01", &tree), 15, &tree).await;
    w.pass(&owner).await.unwrap();
    assert_eq!(state(&t01, id).await, "refused");
    assert!(alarms(&owner, "witness.bad_signature").await >= 1);
    assert!(alarms(&owner, "witness.refused").await >= 1);
    assert_eq!(
        heads::last_cosigned(&t01, "t01").await.unwrap().unwrap().sth.head.size,
        15,
        "nothing refused was signed"
    );

    // A head that extends consistently but does not describe what the node shipped: refused too.
    let mut lie = tree[..15].to_vec();
    lie.extend(leaves(&chain_of(20, "t01", "door.exit"))[15..].iter().copied());
    let id = submit(&t01, &signed(&k1, "t01", &lie), 15, &lie).await;
    w.pass(&owner).await.unwrap();
    assert_eq!(state(&t01, id).await, "refused");

    // The honest head of all 20: countersigned.
    let id = submit(&t01, &signed(&k1, "t01", &tree), 15, &tree).await;
    assert_eq!(w.pass(&owner).await.unwrap().cosigned, 1);
    assert_eq!(state(&t01, id).await, "cosigned");
    let all = heads::cosigned(&t01, "t01").await.unwrap();
    assert_eq!(all.iter().map(|c| c.sth.head.size).collect::<Vec<_>>(), vec![10, 15, 20]);

    // Row-level security: a node neither submits for another node nor sees its heads; nobody rewrites them.
    let t02 = PgPoolOptions::new().max_connections(1).connect_with(pg.node_opts("node_t02", "node_t02")).await.unwrap();
    assert!(heads::submit(&t02, &signed(&k2, "t01", &tree), 0, &[]).await.is_err());
    assert!(heads::cosigned(&t02, "t01").await.unwrap().is_empty());
    assert!(sqlx::query("UPDATE cosigned_heads SET size = 1").execute(&owner).await.is_err());
    assert!(sqlx::query("UPDATE tree_heads SET state = 'cosigned'").execute(&t01).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_centre_keeps_its_own_clock_and_flags_a_skewed_node() {
    let Some(pg) = tobira_central::testing::start(&["node_t01", "node_t02"]).await else { return };
    let owner = pg.admin("tobira").await;
    migrate(&owner).await.unwrap();
    register_node(&owner, "t01", "node_t01", &[1; 32]).await.unwrap();
    register_node(&owner, "t02", "node_t02", &[2; 32]).await.unwrap();
    let t01 = PgPoolOptions::new().max_connections(1).connect_with(pg.node_opts("node_t01", "node_t01")).await.unwrap();
    let t02 = PgPoolOptions::new().max_connections(1).connect_with(pg.node_opts("node_t02", "node_t02")).await.unwrap();

    // A node claiming its own receipt time: the centre writes its clock over it.
    let e = &chain(1, "t01")[0];
    sqlx::query("INSERT INTO audit_events(node, seq, time, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, hash, received_at) VALUES ('t01', 1, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, '2000-01-01T00:00:00Z')")
        .bind(&e.time_text).bind(&e.kind).bind(&e.actor).bind(&e.subject).bind(&e.place).bind(e.outcome.as_str()).bind(&e.reason)
        .bind(&e.article).bind(e.score).bind(&e.details_text).bind(e.prev_hash.to_vec()).bind(e.hash.to_vec())
        .execute(&t01).await.unwrap();
    let age: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - received_at)::float8 FROM audit_events WHERE node = 't01'",
    )
    .fetch_one(&owner)
    .await
    .unwrap();
    assert!(age.abs() < 60.0, "received_at is the centre's clock, not 2000-01-01 ({age} s)");
    assert_eq!(alarms(&owner, "clock.skew").await, 0, "an event from the past is a backlog, not a skew");

    // Events dated far ahead of the centre: stored (nothing lost) and flagged, once.
    let mut prev = [0u8; 32];
    let ahead: Vec<ShippedEvent> = chain(3, "t02")
        .into_iter()
        .map(|mut e| {
            e.time_text = "2099-01-01T00:00:00.000000000Z".into();
            e.prev_hash = prev;
            let e = reseal(e, "t02");
            prev = e.hash;
            e
        })
        .collect();
    assert_eq!(ingest(&t02, "t02", &ahead).await.unwrap().inserted, 3);
    assert_eq!(alarms(&owner, "clock.skew").await, 1, "three future events, one alarm");

    // A batch from a node whose clock is far ahead: the skew comes back and is flagged for that node.
    let rep = ingest_at(&t01, "t01", &chain(2, "t01")[1..], Some("2099-01-01T00:00:00Z")).await.unwrap();
    assert!(rep.clock_skew_s.unwrap() > 1.0e9, "{:?}", rep.clock_skew_s);
    let skewed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM central_alarms WHERE kind = 'clock.skew' AND node = 't01'")
            .fetch_one(&owner)
            .await
            .unwrap();
    assert_eq!(skewed, 1);
    // Within the allowed difference: no alarm.
    let rep = ingest_at(&t01, "t01", &chain(3, "t01")[2..], Some(&tobira_audit::time_text(chrono::Utc::now())))
        .await
        .unwrap();
    assert!(rep.clock_skew_s.unwrap().abs() < 60.0);
}
