//! Upgrades (issue 19 §5): the stores of the previous release open and migrate under the current `tobirad`,
//! which takes new decisions on them, and `tobira audit verify` holds across the old events and the new.
//!
//! Two kinds of previous release. A release's own node, made by that release's binaries and kept in
//! `tests/fixtures/vVERSION/` (release fixtures, below: `make_release_fixture` writes one, run by hand at a
//! release; `a_store_made_by_release_0_1_0_…` opens 0.1.0's). And one made here from today's code, the
//! "previous release" of the first test, by the tests rather than kept as a binary blob: the registry with
//! every registry migration but the newest (`daemon/migrations`, copied to a directory of their own and run with sqlx's migrator, as that release's
//! `tobirad --init` would have), holding a person; the audit store with every audit migration — the audit
//! crate has one, `0001_audit.sql`, last changed on the project's first day (8dc996f, 2026-11-22) before any
//! release, so the previous release's audit schema is today's — written through the real chain code
//! (`tobira_audit::AuditStore`): events appended, checkpoints signed with the node's key, the head file
//! written, and each checkpoint remembered beside the pinned key. The keys and the pinned key come from
//! `tobirad --init`, whose key files have not changed format either. What this cannot catch is a change of
//! the chain's own format (the canonical hash, the checkpoint message) made together with its reader: the
//! release fixtures do.

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
    for f in STORE_FILES {
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

// ---- Release fixtures (issue 19 §Upgrades): stores made by a release's own binaries, kept in the repo. ----

/// Where the release fixtures live: `tests/fixtures/vVERSION/` and `tests/fixtures/RELEASES.tsv`.
fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The commit `version` was made from, as `tests/fixtures/RELEASES.tsv` records it (`version<TAB>commit<TAB>date`;
/// no git tags, which need not survive a checkout).
fn release_commit(version: &str) -> Option<String> {
    let text = std::fs::read_to_string(fixtures().join("RELEASES.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .find(|f| f.len() == 3 && f[0] == version)
        .map(|f| f[1].to_string())
}

/// The simulated clock the fixture's node ran on: a Monday inside the demo site's office hours, so that the
/// decisions it took are the same whenever the generator runs (and the appointments, until 2027-03-31, live).
const FIXTURE_MADE_AT: &str = "2026-12-07T10:00:00+09:00";
/// The clock of the node that opens the fixture: the next working day, after every event in it.
const FIXTURE_OPENED_AT: &str = "2026-12-08T10:00:00+09:00";

/// What a node has, and all the fixture keeps: the data directory's stores, head file and keys, and beside the
/// site file the pinned audit key and the checkpoints remembered there (the sockets are not kept). The readers'
/// runs of unidentified attempts are the node's state too (the fixture's strangers left one).
const NODE_DATA_FILES: [&str; 7] = [
    "registry.db",
    "audit.db",
    "audit.db.head",
    "template.key",
    "audit-signing.key",
    "audit-signing.pub",
    "reader-throttle.json",
];
const NODE_SITE_FILES: [&str; 3] = ["site.toml", "audit-signing.pub", "audit-heads.json"];

/// An answer's JSON line, whether the command succeeded or (a refused decision) not.
fn answer(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(o)))
}

/// A login at terminal t-01 as `user` with `body`'s finger on its reader.
fn login(d: &Running, user: &str, body: &str) -> serde_json::Value {
    d.present("t01-reader", body);
    let v = answer(&d.tobira(&["--json", "login", "t-01", user]));
    let _ = d.tobira(&["sim", "clear", "t01-reader"]);
    v
}

/// `body` at the server room's entry reader.
fn at_door(d: &Running, body: &str) -> serde_json::Value {
    answer(&d.tobira(&["--json", "sim", "present", "server-in", body]))
}

/// The release fixture's generator, run by hand at a release with that release's binaries
/// (`cargo build --workspace --bins` at the release commit, then
/// `TOBIRA_RELEASE=X.Y.Z cargo test -p tobira-tests --test e2e -- --ignored upgrade::make_release_fixture`;
/// tests/README.md "Release fixtures"). It drives the real `tobirad` and `tobira` on the demo site's simulated
/// devices as a new site would be run: `tobirad --init`, the system administrator's bootstrap and enrolment, an
/// operator enrolled and granted terminal t-01, logins and door decisions (granted, and a stranger refused), a
/// clean stop (the closing checkpoint signed, the WAL checkpointed into the databases), and copies the node's
/// files to `tests/fixtures/vVERSION/`. An existing fixture is kept, never replaced: the test of each release's
/// stores needs the stores that release made.
#[test]
#[ignore = "run by hand at a release: writes tests/fixtures/vVERSION (tests/README.md \"Release fixtures\")"]
fn make_release_fixture() {
    let version = std::env::var("TOBIRA_RELEASE").unwrap_or_else(|_| env!("CARGO_PKG_VERSION").to_string());
    let commit = release_commit(&version)
        .unwrap_or_else(|| panic!("tests/fixtures/RELEASES.tsv has no line for {version}: add it first"));
    let out = fixtures().join(format!("v{version}"));
    assert!(!out.exists(), "{} exists: a release's fixture is kept, not replaced", out.display());
    // The programs must be the release's: nothing that builds them differs from its commit (the tests and the
    // documentation may: this generator came after 0.1.0 was declared). The binaries are the ones built here.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = std::process::Command::new("git")
        .current_dir(&repo)
        .args([
            "diff",
            "--stat",
            &commit,
            "--",
            ".",
            ":(exclude)tests",
            ":(exclude)*.md",
            ":(exclude)docs",
            ":(exclude).gitignore",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "git diff: {}", text(&o));
    assert!(
        o.stdout.is_empty(),
        "the programs' sources differ from release {version} ({commit}): check it out and build there\n{}",
        text(&o)
    );

    let dir = tempfile::tempdir().unwrap();
    let d = Running::start_with(dir.path(), demo_site(), &[("TOBIRA_SIM_CLOCK", FIXTURE_MADE_AT)]);
    d.staff(&[("tanaka", "operator")]);
    json(&d.act("takahashi", &["--json", "grant", "add", "tanaka", "--place", "terminal:t-01"]));
    let v = login(&d, "tanaka", "tanaka");
    assert_eq!(v["reason"], "GRANT_VALID", "{v}");
    let v = login(&d, "tanaka", "stranger");
    assert_eq!(v["reason"], "NOT_IDENTIFIED", "{v}");
    let v = at_door(&d, "takahashi");
    assert_eq!(v["person"], "takahashi", "{v}");
    let v = at_door(&d, "stranger");
    assert_eq!(v["reason"], "NOT_IDENTIFIED", "{v}");
    let data = d.data.clone();
    assert!(d.stop().success(), "a clean stop");

    // The clean stop closed the stores: no WAL left, every page in the database files.
    let left: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| !NODE_DATA_FILES.contains(&f.as_str()))
        .collect();
    assert!(left.iter().all(|f| f.ends_with(".sock")), "only sockets besides the node's files: {left:?}");
    let events = rt().block_on(hashes(&data.join("audit.db"))).len();
    let remembered = tobira_audit::anchors::load(&dir.path().join("audit-heads.json")).unwrap().unwrap();
    assert_eq!(remembered.checkpoint.map(|c| c.seq as usize), Some(events), "the closing checkpoint was signed");
    let o = verify(&data, &[]);
    assert!(o.status.success(), "{}", text(&o));

    std::fs::create_dir_all(out.join("data")).unwrap();
    for f in NODE_DATA_FILES {
        std::fs::copy(data.join(f), out.join("data").join(f)).unwrap();
    }
    for f in NODE_SITE_FILES {
        std::fs::copy(dir.path().join(f), out.join(f)).unwrap();
    }
    eprintln!("release {version} ({commit}): {events} events → {}", out.display());
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// A release fixture copied to `to` as a node has it: git keeps no modes, and the daemon wants its data
/// directory 0700, its stores and keys 0600; the pinned key read-only beside the site file, as `--init` leaves it.
fn install_fixture(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    std::fs::create_dir(to.join("data")).unwrap();
    mode(&to.join("data"), 0o700);
    for f in NODE_DATA_FILES {
        std::fs::copy(from.join("data").join(f), to.join("data").join(f)).unwrap();
        mode(&to.join("data").join(f), 0o600);
    }
    for f in NODE_SITE_FILES {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    mode(&to.join("audit-heads.json"), 0o600);
    mode(&to.join("audit-signing.pub"), 0o444);
}

/// The registry's applied migrations, by version.
async fn applied_migrations(db: &Path) -> Vec<i64> {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", db.display())).await.unwrap();
    sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&mut c)
        .await
        .unwrap()
}

/// This build's registry migrations (`daemon/migrations/NNNN_name.sql`), by version.
fn current_migrations() -> Vec<i64> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../daemon/migrations");
    let mut v: Vec<i64> = std::fs::read_dir(src)
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().split('_').next()?.parse().ok())
        .collect();
    v.sort();
    v
}

/// Release 0.1.0's node, made by that release's own `tobirad` and `tobira` (`make_release_fixture`, kept in
/// `tests/fixtures/v0.1.0/`), under this build: its chain verifies as it stands, the daemon opens and migrates
/// it to this build's migration set (sqlx refuses a store whose applied migration was since edited), its people
/// and grant are there and work — the operator logs in on the release's grant and template, the system
/// administrator is identified at a door, a stranger is refused — and `tobira audit verify` with the fixture's
/// pinned key is intact across the release's events and the new ones, the release's hashes untouched. A
/// migration that breaks old rows, or a change to the chain's format (the canonical hash, the checkpoint
/// message, the head file) that old stores do not follow, fails here.
#[test]
fn a_store_made_by_release_0_1_0_opens_migrates_and_verifies_under_this_build() {
    let fixture = fixtures().join("v0.1.0");
    assert!(release_commit("0.1.0").is_some(), "RELEASES.tsv records 0.1.0");
    let dir = tempfile::tempdir().unwrap();
    install_fixture(&fixture, dir.path());
    let data = dir.path().join("data");
    let (db, reg) = (data.join("audit.db"), data.join("registry.db"));
    let rt = rt();
    let old = rt.block_on(hashes(&db));
    let before = rt.block_on(applied_migrations(&reg));
    assert!(old.len() > 10 && !before.is_empty(), "a release's node: {} events, migrations {before:?}", old.len());
    let o = verify(&data, &[]);
    assert!(o.status.success(), "release 0.1.0's store verifies under this build's verifier: {}", text(&o));
    assert!(text(&o).contains(&format!("intact: {} events", old.len())), "{}", text(&o));

    let site = std::fs::read_to_string(fixture.join("site.toml")).unwrap();
    let d = Running::start_with(dir.path(), &site, &[("TOBIRA_SIM_CLOCK", FIXTURE_OPENED_AT)]);
    let o = d.tobira(&["--json", "audit", "verify", "--online"]);
    assert!(o.status.success(), "the daemon's own verification at the upgrade: {}", text(&o));
    let people = json(&d.tobira(&["--json", "person", "list"]));
    let people = people.as_array().cloned().unwrap_or_else(|| vec![people]);
    let ids: Vec<&str> = people.iter().filter_map(|p| p["id"].as_str()).collect();
    assert!(ids.contains(&"takahashi") && ids.contains(&"tanaka"), "the release's people: {people:?}");
    let grants = json(&d.tobira(&["--json", "grant", "list", "--holder", "tanaka"]));
    assert!(grants.to_string().contains("terminal:t-01"), "the release's grant: {grants}");
    let v = login(&d, "tanaka", "tanaka");
    assert_eq!(v["reason"], "GRANT_VALID", "the release's operator, template and grant: {v}");
    assert!(v["audit_seq"].as_i64().is_some_and(|s| s as usize > old.len()), "{v}");
    let v = at_door(&d, "takahashi");
    assert_eq!(v["person"], "takahashi", "the release's system administrator identified at a door: {v}");
    let v = at_door(&d, "stranger");
    assert_eq!(v["reason"], "NOT_IDENTIFIED", "{v}");
    assert!(d.stop().success());

    assert_eq!(rt.block_on(applied_migrations(&reg)), current_migrations(), "this build's migrations, all applied");
    let name: String = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", reg.display())).await.unwrap();
        sqlx::query_scalar("SELECT name FROM people WHERE id = 'takahashi'").fetch_one(&mut c).await.unwrap()
    });
    assert_eq!(name, "高橋 一郎", "the release's rows survive the migrations");
    let now = rt.block_on(hashes(&db));
    assert!(now.len() > old.len() + 2, "new events after the release's: {} → {}", old.len(), now.len());
    assert_eq!(&now[..old.len()], &old[..], "the release's events are untouched");
    let o = verify(&data, &[]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(said.contains(&format!("intact: {} events", now.len())), "{said}");
    let hw = tobira_audit::anchors::load(&dir.path().join("audit-heads.json")).unwrap().unwrap().checkpoint.unwrap();
    assert_eq!(hw.seq as usize, now.len(), "the checkpoint remembered beside the pinned key moved on: {hw:?}");
}
