//! Upgrades (issue 19 §5): the stores of the previous release open and migrate under the current `tobirad`,
//! which takes new decisions on them, and `tobira audit verify` holds across the old events and the new.
//!
//! There is no release tag yet, so the "previous release" is made here, the honest way available, by the
//! tests rather than kept as a binary blob: the registry with every registry migration but the newest
//! (`daemon/migrations`, copied to a directory of their own and run with sqlx's migrator, as that release's
//! `tobirad --init` would have), holding a person; the audit store with every audit migration — the audit
//! crate has one, `0001_audit.sql`, last changed on the project's first day (8dc996f, 2026-11-22) before any
//! release, so the previous release's audit schema is today's — written through the real chain code
//! (`tobira_audit::AuditStore`): events appended, checkpoints signed with the node's key, the head file
//! written, and each checkpoint remembered beside the pinned key. The keys and the pinned key come from
//! `tobirad --init`, whose key files have not changed format either. What this cannot catch is a change of
//! the chain's own format (the canonical hash, the checkpoint message) made together with its reader: only
//! stores made by a tagged release's own binary would.

use crate::common::*;
use std::path::Path;
use tobira_audit::{AuditStore, NewEvent, Outcome};

/// The registry of the previous release: every migration but the newest, and its system administrator
/// registered (not yet enrolled: the site is still in bootstrap).
async fn previous_registry(path: &Path, scratch: &Path) -> usize {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../daemon/migrations");
    let mut files: Vec<_> = std::fs::read_dir(&src).unwrap().flatten().map(|e| e.file_name()).collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    let previous = scratch.join("previous-migrations");
    std::fs::create_dir(&previous).unwrap();
    for f in &files[..files.len() - 1] {
        std::fs::copy(src.join(f), previous.join(f)).unwrap();
    }
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let pool = sqlx::sqlite::SqlitePoolOptions::new().connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(previous.as_path()).await.unwrap().run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO people (id, match_id, name, affiliation, appointment_end, active, created_at) \
         VALUES ('tanaka', 'm-1', '田中 花子', '情報政策課', '2027-03-31', 1, '2026-04-01T00:00:00Z')",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("INSERT INTO person_roles (person_id, role) VALUES ('tanaka', 'system-administrator')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    files.len()
}

/// The audit store of the previous release, through the real chain code: `n` events, a checkpoint signed
/// every 4 and at the close, the head file, each checkpoint remembered in `high_water`.
async fn previous_audit(db: &Path, node: &str, key: &Path, high_water: &Path, n: usize) {
    let store = AuditStore::create_with(db, node, key, 4).await.unwrap();
    let w = store.writer();
    w.remember_checkpoints_in(high_water.to_path_buf()).await;
    w.append(
        NewEvent::new(chrono::Utc::now(), "daemon.init", Outcome::Info, "INITIALISED")
            .place(node)
            .details(serde_json::json!({"version": "previous"})),
    )
    .await
    .unwrap();
    for i in 1..n {
        w.append(
            NewEvent::new(chrono::Utc::now(), "daemon.start", Outcome::Info, "STARTED")
                .place(node)
                .details(serde_json::json!({"version": "previous", "run": i})),
        )
        .await
        .unwrap();
    }
    w.shutdown().await;
    store.close().await;
}

async fn hashes(db: &Path) -> Vec<(i64, Vec<u8>)> {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await.unwrap();
    sqlx::query_as("SELECT seq, hash FROM events ORDER BY seq").fetch_all(&mut c).await.unwrap()
}

#[test]
fn the_stores_of_the_previous_release_migrate_take_new_decisions_and_verify_across_old_and_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(&site, demo_site()).unwrap();
    let data = dir.path().join("data");
    init_site(&site, &data, &[]);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (db, reg) = (data.join("audit.db"), data.join("registry.db"));
    let node: String = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await.unwrap();
        sqlx::query_scalar("SELECT value FROM meta WHERE key = 'node'").fetch_one(&mut c).await.unwrap()
    });
    // Today's stores go; the keys, the pinned key and the record of remembered heads (started afresh, as the
    // previous release's --init left it) stay.
    for f in [
        "registry.db",
        "registry.db-wal",
        "registry.db-shm",
        "audit.db",
        "audit.db-wal",
        "audit.db-shm",
        "audit.db.head",
    ] {
        let _ = std::fs::remove_file(data.join(f));
    }
    let hw = dir.path().join("audit-heads.json");
    std::fs::remove_file(&hw).unwrap();
    tobira_audit::anchors::create(&hw, &node).unwrap();
    let migrations = rt.block_on(previous_registry(&reg, dir.path()));
    rt.block_on(previous_audit(&db, &node, &data.join("audit-signing.key"), &hw, 10));
    let old = rt.block_on(hashes(&db));
    assert_eq!(old.len(), 10);
    let remembered = tobira_audit::anchors::load(&hw).unwrap().unwrap().checkpoint.expect("a checkpoint remembered");
    assert_eq!(remembered.seq, 10, "the previous release's last checkpoint, at its close");
    let o = verify(&data, &[]);
    assert!(o.status.success(), "the previous release's store verifies before the upgrade: {}", text(&o));

    // The current daemon on that data directory: it migrates, the site works, decisions are recorded.
    let d = Running::start_with(dir.path(), demo_site(), &[]);
    let o = d.tobira(&["--json", "audit", "verify", "--online"]);
    assert!(o.status.success(), "the daemon's own verification at the upgrade: {}", text(&o));
    // The previous release's system administrator enrols (the bootstrap act) and is identified at a door.
    for _ in 0..3 {
        d.present("t01-reader", "tanaka");
    }
    let o = d.tobira(&["--actor", "tanaka", "enroll", "tanaka", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = d.tobira(&["--json", "sim", "present", "server-in", "tanaka"]);
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_default();
    assert!(v["audit_seq"].as_i64().is_some_and(|s| s > 10) && v["person"] == "tanaka", "{}", text(&o));
    let o = d.tobira(&["--json", "sim", "present", "server-in", "stranger"]);
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_default();
    assert_eq!(v["reason"], "NOT_IDENTIFIED", "{}", text(&o));
    assert!(d.stop().success());

    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", reg.display())).await.unwrap();
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&mut c).await.unwrap();
        assert_eq!(applied as usize, migrations, "the newest registry migration was applied at start");
        let name: String =
            sqlx::query_scalar("SELECT name FROM people WHERE id = 'tanaka'").fetch_one(&mut c).await.unwrap();
        assert_eq!(name, "田中 花子", "the previous release's person survives the upgrade");
    });
    let now = rt.block_on(hashes(&db));
    assert!(now.len() > old.len() + 3, "new events after the old: {} → {}", old.len(), now.len());
    assert_eq!(&now[..old.len()], &old[..], "the previous release's events are untouched");
    let o = verify(&data, &[]);
    let said = text(&o);
    eprintln!("{said}");
    assert!(o.status.success(), "{said}");
    assert!(said.contains(&format!("intact: {} events", now.len())), "{said}");
    // The record beside the pinned key moved on from the previous release's checkpoint, through the chain.
    let hw_now = tobira_audit::anchors::load(&hw).unwrap().unwrap().checkpoint.unwrap();
    assert_eq!(hw_now.seq as usize, now.len(), "{hw_now:?}");
}
