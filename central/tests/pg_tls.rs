//! The central store on its own PostgreSQL instance (initdb as `postgres` on a spare port, so the shared
//! server's settings are never touched), configured as README "Central store" says: TLS with a test CA,
//! `hostssl … cert` for nodes (the client certificate's CN is the node's role), nothing over plain TCP.
//! Checks: a node ships its chain idempotently; replays are harmless; a gap, a fork, another node's rows,
//! a plain connection and a stolen certificate under another name are all refused, and nothing half-applied.

use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use tobira_central::testing::start;
use tobira_central::{CentralError, ingest, migrate, register_node, shipped_up_to};

mod common;
use common::{chain, reseal};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_ship_over_tls_and_the_centre_refuses_what_is_not_theirs() {
    let Some(pg) = start(&["node_t01", "node_t02"]).await else { return };
    let owner = pg.admin("tobira").await;
    migrate(&owner).await.unwrap();
    register_node(&owner, "t01", "node_t01", &[1; 32]).await.unwrap();
    register_node(&owner, "t02", "node_t02", &[2; 32]).await.unwrap();
    assert!(matches!(
        register_node(&owner, "t03", "x; DROP TABLE nodes", &[3; 32]).await,
        Err(CentralError::RoleName(_))
    ));

    let t01 = PgPoolOptions::new().max_connections(2).connect_with(pg.node_opts("node_t01", "node_t01")).await.unwrap();
    let events = chain(10, "t01");
    assert_eq!(ingest(&t01, "t01", &events[..6]).await.unwrap().inserted, 6);
    // A replayed batch (the shipper did not hear the acknowledgement) is harmless.
    let again = ingest(&t01, "t01", &events[..8]).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (2, 6));
    assert_eq!(shipped_up_to(&t01, "t01").await.unwrap(), 8);

    // A gap: event 10 before 9. Nothing of the batch is applied.
    assert!(matches!(ingest(&t01, "t01", &events[9..10]).await, Err(CentralError::Gap { seq: 10, .. })));
    // A fork: another event 9 than the chain holds next, and a rewritten event 5.
    let mut bad10 = events[9].clone();
    bad10.prev_hash = [9; 32];
    let bad10 = reseal(bad10, "t01");
    assert!(matches!(ingest(&t01, "t01", &[events[8].clone(), bad10]).await, Err(CentralError::Fork { seq: 10, .. })));
    assert_eq!(shipped_up_to(&t01, "t01").await.unwrap(), 8, "all or nothing: event 9 was not kept");
    let mut bad5 = events[4].clone();
    bad5.kind = "door.exit".into();
    let bad5 = reseal(bad5, "t01");
    assert!(matches!(ingest(&t01, "t01", &[bad5]).await, Err(CentralError::Fork { seq: 5, .. })));

    // Malformed: contents that do not match their hash (an edited field, a hash computed for another node),
    // or a time that is not the node's RFC 3339 form. Refused, nothing of the batch kept.
    let mut edited = events[8].clone();
    edited.subject = Some("suzuki".into());
    assert!(matches!(ingest(&t01, "t01", &[edited]).await, Err(CentralError::Malformed { seq: 9, .. })));
    let foreign = reseal(events[8].clone(), "t02");
    assert!(matches!(ingest(&t01, "t01", &[foreign]).await, Err(CentralError::Malformed { seq: 9, .. })));
    for bad_time in ["yesterday", "2026-13-40T10:00:00Z", "2026-11-24 10:00:00"] {
        let mut e = events[8].clone();
        // The text is what travels and is hashed; the typed time is what the node would have read.
        e.time_text = bad_time.into();
        let e = reseal(e, "t01");
        assert!(
            matches!(ingest(&t01, "t01", &[e]).await, Err(CentralError::Malformed { seq: 9, .. })),
            "time {bad_time:?}"
        );
    }
    assert_eq!(shipped_up_to(&t01, "t01").await.unwrap(), 8, "nothing half-applied");
    ingest(&t01, "t01", &events[8..]).await.unwrap();

    // Another node's rows: refused by row-level security.
    assert!(matches!(ingest(&t01, "t02", &chain(1, "t02")).await, Err(CentralError::NotYours(_))));
    // Nodes see only their own rows.
    let t02 = PgPoolOptions::new().max_connections(1).connect_with(pg.node_opts("node_t02", "node_t02")).await.unwrap();
    ingest(&t02, "t02", &chain(3, "t02")).await.unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(&t02).await.unwrap();
    assert_eq!(seen, 3);
    // Nobody rewrites history, not even the owner.
    let upd = sqlx::query("UPDATE audit_events SET kind = 'x' WHERE node = 't01'").execute(&owner).await;
    assert!(upd.is_err());

    // t02's certificate presented under t01's name: the CN does not match the role.
    let stolen = pg.node_opts("node_t01", "node_t02").connect().await;
    assert!(stolen.is_err(), "a certificate works only for the role it names");
    // Plain TCP is not accepted at all.
    let plain = PgConnectOptions::new()
        .host("127.0.0.1")
        .port(pg.port)
        .username("node_t01")
        .database("tobira")
        .ssl_mode(PgSslMode::Disable)
        .connect()
        .await;
    assert!(plain.is_err());
}
