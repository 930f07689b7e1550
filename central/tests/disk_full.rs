//! The centre's disk fills up (issue 7 "Bad input"): `audit_events` lives on a small tmpfs tablespace of a
//! private PostgreSQL; nodes ship until PostgreSQL cannot extend the table. The batch that does not fit is
//! refused whole (`CentralError::CentreFull`), nothing of it is kept, nothing before it is lost; when the
//! volume grows, the node resumes from the centre's acknowledgement and every event arrives exactly once.
//! Needs root (mount); says so and skips otherwise.

use sqlx::postgres::PgPoolOptions;
use std::process::Command;
use tobira_central::{CentralError, ingest, migrate, register_node, shipped_up_to};

mod common;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_centre_refuses_whole_batches_and_loses_nothing() {
    let Some(pg) = tobira_central::testing::start(&["node_t01"]).await else { return };
    let dir = pg.file("small-volume");
    std::fs::create_dir_all(&dir).unwrap();
    let mounted =
        Command::new("mount").args(["-t", "tmpfs", "-o", "size=2m,mode=0700"]).arg("tmpfs").arg(&dir).status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: cannot mount a small tmpfs here (needs root): the centre's disk-full case is not tested");
        return;
    }
    let _guard = Mount(dir.clone());
    assert!(Command::new("chown").args(["postgres:postgres"]).arg(&dir).status().unwrap().success());

    let owner = pg.admin("tobira").await;
    migrate(&owner).await.unwrap();
    register_node(&owner, "t01", "node_t01", &[1; 32]).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE TABLESPACE small LOCATION '{}'", dir.display())))
        .execute(&owner)
        .await
        .unwrap();
    sqlx::query("ALTER TABLE audit_events SET TABLESPACE small").execute(&owner).await.unwrap();

    let t01 = PgPoolOptions::new().max_connections(1).connect_with(pg.node_opts("node_t01", "node_t01")).await.unwrap();
    let events = common::chain(40_000, "t01");
    let mut acked = 0usize;
    let mut full_at = None;
    for b in events.chunks(500) {
        match ingest(&t01, "t01", b).await {
            Ok(r) => acked += r.inserted as usize,
            Err(CentralError::CentreFull(msg)) => {
                full_at = Some(acked);
                eprintln!("centre full after {acked} events: {msg}");
                break;
            }
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    let full_at = full_at.expect("a 2 MB volume cannot hold 40,000 events");
    assert!(full_at > 0 && full_at % 500 == 0, "whole batches only: {full_at}");
    assert_eq!(shipped_up_to(&t01, "t01").await.unwrap() as usize, full_at, "nothing of the refused batch kept");
    // Still full: refused again, still nothing half-applied.
    assert!(matches!(ingest(&t01, "t01", &events[full_at..full_at + 500]).await, Err(CentralError::CentreFull(_))));

    // The administrator grows the volume: the node resumes from the acknowledgement.
    assert!(Command::new("mount").args(["-o", "remount,size=64m"]).arg(&dir).status().unwrap().success());
    let from = shipped_up_to(&t01, "t01").await.unwrap() as usize;
    for b in events[from..].chunks(1000) {
        ingest(&t01, "t01", b).await.unwrap();
    }
    let (n, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT seq) FROM audit_events").fetch_one(&owner).await.unwrap();
    assert_eq!((n, distinct), (40_000, 40_000), "every event exactly once");
    sqlx::query("ALTER TABLE audit_events SET TABLESPACE pg_default").execute(&owner).await.unwrap();
    sqlx::query("DROP TABLESPACE small").execute(&owner).await.unwrap();
}
