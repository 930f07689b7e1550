//! A node shipping to the central store (issue 7 §2): its own PostgreSQL instance with TLS and client
//! certificates; the node keeps working while the centre is down and everything arrives exactly once
//! when it returns; `tobira status` shows the lag.

mod common;

use common::*;
use std::time::{Duration, Instant};

fn status(d: &Running) -> serde_json::Value {
    let o = d.tobira(&["--json", "status"]);
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(&o)))
}

fn wait_lag_zero(d: &Running, within: Duration) -> serde_json::Value {
    let t = Instant::now();
    loop {
        let s = status(d);
        if s["central"]["lag_events"] == 0 && s["central"]["local_head"].as_i64().unwrap_or(0) > 0 {
            return s;
        }
        assert!(t.elapsed() < within, "the node never caught up: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_node_ships_its_audit_and_survives_the_centre_going_away() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let Some(pg) = rt.block_on(tobira_central::testing::start(&["node_t01"])) else { return };
    let owner = rt.block_on(pg.admin("tobira"));
    rt.block_on(tobira_central::migrate(&owner)).unwrap();
    rt.block_on(tobira_central::register_node(&owner, "sendai-honcho", "node_t01", &[1; 32])).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let site = format!(
        "{}\n[central]\nhost = \"127.0.0.1\"\nport = {}\nrole = \"node_t01\"\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nship_every_ms = 100\n",
        demo_site(),
        pg.port,
        pg.file("ca.crt").display(),
        pg.file("node_t01.crt").display(),
        pg.file("node_t01.key").display()
    );
    let d = Running::start_with(dir.path(), &site, &[]);
    d.bootstrap();
    let s = wait_lag_zero(&d, Duration::from_secs(20));
    let head = s["central"]["local_head"].as_i64().unwrap();
    let count = |pool: &sqlx::PgPool| -> i64 {
        rt.block_on(
            sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE node = 'sendai-honcho'").fetch_one(pool),
        )
        .unwrap()
    };
    assert_eq!(count(&owner), head);

    // The centre goes away: the node keeps deciding and auditing locally; the lag grows and is visible.
    rt.block_on(owner.close());
    pg.stop_server();
    for i in 0..5 {
        let id = format!("p{i}");
        let o = d.tobira(&["--actor", "takahashi", "person", "add", &id, "--name", "N", "--roles", "operator"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    // (The shipper notices when its next batch cannot be sent: the pool gives up after 3 s.)
    let t = Instant::now();
    let s = loop {
        let s = status(&d);
        if s["central"]["last_error"].is_string() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(15), "the outage never became visible: {s}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(s["central"]["lag_events"].as_i64().unwrap() >= 5, "{s}");

    // It returns: everything arrives, each event exactly once, and the chain continues unbroken (the
    // centre's trigger refuses gaps and forks).
    pg.start_server();
    let s = wait_lag_zero(&d, Duration::from_secs(30));
    let owner = rt.block_on(pg.admin("tobira"));
    assert_eq!(count(&owner), s["central"]["local_head"].as_i64().unwrap());
    let distinct: i64 =
        rt.block_on(sqlx::query_scalar("SELECT count(DISTINCT seq) FROM audit_events").fetch_one(&owner)).unwrap();
    assert_eq!(distinct, count(&owner));
    assert!(d.stop().success());
}
