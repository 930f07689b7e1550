//! A node restored from a backup rejoins its centre (issue 19 §3): the backup is older than the lost disk,
//! the events in between were shipped, and `tobira restore` fetches them back, checks them against the
//! backup's chain and the tree heads signed with the pinned key, and appends them, so the restored node's
//! chain ends where the centre's copy does and what it ships next is accepted (no fork). A centre that serves
//! an altered history, or cannot be asked, is refused with nothing written.

use crate::common::*;
use crate::multinode::{Witness, central, wait_witnessed, witness};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const NODE: &str = "sendai-honcho";
const ROLE: &str = "node_t01";

struct Centre {
    pg: tobira_central::testing::Pg,
    wpub: String,
    _witness: Witness,
    _keys: tempfile::TempDir,
}

/// A private centre with its schema and its witness running.
fn centre() -> Option<Centre> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let pg = rt.block_on(tobira_central::testing::start(&[ROLE]))?;
    let o = central(&pg, &["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    let keys = tempfile::tempdir().unwrap();
    let wkey = keys.path().join("witness.key");
    let o = Command::new(TOBIRA_CENTRAL)
        .args(["--db", "unused", "witness-key", "--key", wkey.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let wpub = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let w = witness(&pg, &wkey);
    Some(Centre { pg, wpub, _witness: w, _keys: keys })
}

fn site(c: &Centre) -> String {
    let pg = &c.pg;
    format!(
        "{}\n[central]\nhost = \"127.0.0.1\"\nport = {}\nrole = \"{ROLE}\"\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nship_every_ms = 100\nhead_every_ms = 300\nwitness_key = \"{}\"\n",
        demo_site(),
        pg.port,
        pg.file("ca.crt").display(),
        pg.file(&format!("{ROLE}.crt")).display(),
        pg.file(&format!("{ROLE}.key")).display(),
        c.wpub
    )
}

/// A decision at the server room's door (identified, refused for want of a grant: an event each).
fn door(d: &Running) {
    let o = d.tobira(&["--json", "sim", "present", "server-in", "takahashi"]);
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_default();
    assert!(v["audit_seq"].as_i64().is_some() && v["person"] == "takahashi", "{}", text(&o));
}

/// The node whose disk dies: registered at the centre, its administrator enrolled, decisions; a backup at
/// event `b`; then more decisions, all shipped and countersigned up to event `h`; then the disk is gone
/// (SIGKILL, nothing more written). Returns its directory, the backup, `b` and `h`.
fn a_node_whose_disk_dies(c: &Centre) -> (tempfile::TempDir, PathBuf, i64, i64) {
    a_node_whose_disk_dies_after(c, 0)
}

/// As [`a_node_whose_disk_dies`], but with the centre down for the last `unshipped` decisions, and the node
/// stopped cleanly (a checkpoint signed at its head and remembered beside the pinned key) before the disk
/// dies: those events never reach the centre.
fn a_node_whose_disk_dies_after(c: &Centre, unshipped: usize) -> (tempfile::TempDir, PathBuf, i64, i64) {
    let one = tempfile::tempdir().unwrap();
    let d = Running::start_with(one.path(), &site(c), &[]);
    let pubfile = d.data.join("audit-signing.pub");
    let o = central(&c.pg, &["register-node", NODE, "--role", ROLE, "--public-key-file", pubfile.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    d.bootstrap();
    for _ in 0..3 {
        d.present("t01-reader", "takahashi");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    door(&d);
    let dest = one.path().join("backup-1");
    let o = d.act("takahashi", &["--json", "backup", dest.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    let b = v["head_seq"].as_i64().unwrap();
    for _ in 0..6 {
        door(&d);
    }
    let h = wait_witnessed(&d, Duration::from_secs(60));
    assert!(h >= b + 7, "the backup record and six decisions came after the backup: {b} → {h}");
    if unshipped > 0 {
        c.pg.stop_server();
        for _ in 0..unshipped {
            door(&d);
        }
        assert!(d.stop().success());
        c.pg.start_server();
    } else {
        drop(d); // SIGKILL: the disk is gone, nothing more is written
    }
    (one, dest, b, h)
}

/// A new node's directory: the site file, the pinned key and the record of remembered heads (from /etc's
/// backup or the paper), and the keys from the key backup already in the data directory.
fn new_node(one: &Path) -> (tempfile::TempDir, PathBuf) {
    let two = tempfile::tempdir().unwrap();
    for f in ["site.toml", "audit-signing.pub", "audit-heads.json"] {
        std::fs::copy(one.join(f), two.path().join(f)).unwrap();
    }
    let data = two.path().join("data");
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&data).unwrap();
    for key in ["template.key", "audit-signing.key", "transport.key"] {
        if one.join("data").join(key).exists() {
            std::fs::copy(one.join("data").join(key), data.join(key)).unwrap();
        }
    }
    (two, data)
}

fn restore(src: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(TOBIRA)
        .args(["restore", src.to_str().unwrap(), "--data-dir", data.to_str().unwrap()])
        .args(["--config", site_of(data).to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap()
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_restored_node_fetches_what_it_had_shipped_and_its_centre_accepts_what_follows() {
    let Some(c) = centre() else { return };
    let (one, dest, b, h) = a_node_whose_disk_dies(&c);
    let (two, data) = new_node(one.path());

    let o = restore(&dest, &data, &["--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    eprintln!("restore: {v}");
    assert_eq!((v["backup_head_seq"].as_i64(), v["head_seq"].as_i64()), (Some(b), Some(h)), "{v}");
    assert_eq!(v["centre"]["appended"].as_i64(), Some(h - b), "{v}");
    // Everything fetched is covered by a head the node signed (the witness countersigned them all).
    assert_eq!((v["centre"]["signed_upto"].as_i64(), v["centre"]["unsigned_tail"].as_i64()), (Some(h), Some(0)));
    assert_eq!(v["centre"]["checkpoint"].as_i64(), Some(h), "signed with the key from the key backup: {v}");
    assert_eq!(v["lost_at_least"].as_i64(), Some(0), "nothing signed here was left unshipped: {v}");
    assert!(!data.join(".restoring").exists());

    // Intact against the pinned key and its remembered heads, and in agreement with the centre's copy.
    let o = verify(&data, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("is intact: {h} events")), "{}", text(&o));
    let o = verify(&data, &["--central"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains(&format!("agrees with the centre's copy of its {h} shipped events")), "{}", text(&o));

    // The daemon on the restored store: new decisions ship and are countersigned, no fork.
    let d = Running::start_with(two.path(), &site(&c), &[]);
    for _ in 0..3 {
        door(&d);
    }
    let h2 = wait_witnessed(&d, Duration::from_secs(60));
    assert!(h2 >= h + 3, "{h} → {h2}");
    let s = status(&d);
    assert_eq!(s["central"]["stopped_by_fork"], false, "{s}");
    assert!(s["central"]["last_error"].is_null(), "{s}");
    let o = d.tobira(&["--json", "audit", "show", "--kind", "central."]);
    assert!(!text(&o).contains("CENTRAL_FORK") && !text(&o).contains("WITNESS_REFUSED"), "{}", text(&o));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let owner = rt.block_on(c.pg.admin("tobira"));
    let (count, max): (i64, Option<i64>) = rt
        .block_on(
            sqlx::query_as("SELECT count(*), max(seq) FROM audit_events WHERE node = $1").bind(NODE).fetch_one(&owner),
        )
        .unwrap();
    // At least up to the witnessed head; the `audit show` above is itself recorded (002 §7(11)) and may
    // have shipped since (failed once under load with the count one past h2).
    assert!(max.is_some_and(|m| m >= h2) && Some(count) == max, "each event once, none missing: {count} {max:?} {h2}");
    let alarms: i64 = rt.block_on(sqlx::query_scalar("SELECT count(*) FROM central_alarms").fetch_one(&owner)).unwrap();
    assert_eq!(alarms, 0, "the centre raised no alarm");
    assert!(d.stop().success());
    let o = verify(&data, &["--central"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = verify(&data, &[]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_centre_serving_an_altered_history_or_none_at_all_is_refused_and_nothing_is_written() {
    let Some(c) = centre() else { return };
    let (one, dest, b, h) = a_node_whose_disk_dies(&c);
    let (_two, data) = new_node(one.path());
    let before = listing(&data);

    // The centre is down: refused, saying why and how to accept the fork instead.
    c.pg.stop_server();
    let o = restore(&dest, &data, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    refused(&o, "the centre (中央サーバ)");
    assert!(text(&o).contains("--without-centre"), "{}", text(&o));
    assert_eq!(listing(&data), before, "nothing written");
    // Accepting the fork explicitly: restored to the backup's head, said so.
    let elsewhere = one.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let o = Command::new(TOBIRA)
        .args(["restore", dest.to_str().unwrap(), "--data-dir", elsewhere.join("data").to_str().unwrap()])
        .args(["--config", one.path().join("site.toml").to_str().unwrap(), "--without-centre"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("will see a fork"), "{}", text(&o));
    assert!(text(&o).contains(&format!("audit chain verified to event {b}")), "{}", text(&o));
    c.pg.start_server();
    // What accepting it means: once that node's chain passes the centre's head, the centre refuses it (TB002)
    // and shipping stops with an alarm — what the default restore avoids.
    for key in ["template.key", "audit-signing.key", "transport.key"] {
        if one.path().join("data").join(key).exists() {
            std::fs::copy(one.path().join("data").join(key), elsewhere.join("data").join(key)).unwrap();
        }
    }
    let forked = Running::start_with(&elsewhere, &site(&c), &[]);
    for _ in 0..(h - b + 2) {
        door(&forked);
    }
    let t = std::time::Instant::now();
    while status(&forked)["central"]["stopped_by_fork"] != true {
        assert!(t.elapsed() < Duration::from_secs(30), "the fork was never seen: {}", status(&forked));
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(forked);

    // Someone at the centre edits an event the node shipped after the backup.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let owner = rt.block_on(c.pg.admin("tobira"));
    let edit = |sql: &str| {
        rt.block_on(async {
            let mut tx = owner.begin().await.unwrap();
            sqlx::query("SET LOCAL session_replication_role = replica").execute(&mut *tx).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&mut *tx).await.unwrap();
            tx.commit().await.unwrap();
        })
    };
    edit(&format!("UPDATE audit_events SET subject = 'someone-else' WHERE node = '{NODE}' AND seq = {}", b + 2));
    let o = restore(&dest, &data, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    refused(&o, &format!("the centre's event {} was altered", b + 2));
    assert_eq!(listing(&data), before, "nothing written");

    // …and recomputes every hash after it (the centre's own chain trigger would now pass it): the tree heads
    // the node signed with its pinned key still tell.
    edit(&format!(
        "DO $$ DECLARE s BIGINT; BEGIN
           FOR s IN SELECT seq FROM audit_events WHERE node = '{NODE}' AND seq > {b} ORDER BY seq LOOP
             UPDATE audit_events SET prev_hash = (SELECT hash FROM audit_events WHERE node = '{NODE}' AND seq = s - 1)
               WHERE node = '{NODE}' AND seq = s;
             UPDATE audit_events SET hash = tobira_event_hash(node, time, kind, actor, subject, place, outcome, reason,
               article, score, details, prev_hash) WHERE node = '{NODE}' AND seq = s;
           END LOOP; END $$"
    ));
    let o = restore(&dest, &data, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    refused(&o, "events this node signed at");
    refused(&o, "does not match the centre's events");
    assert_eq!(listing(&data), before, "nothing written");
    eprintln!("refused: {}", text(&o).trim());
}

/// The restore test's second half: the loss put on record by the system administrator (issue 19 §3). The
/// node passes the lost head within a few events of restarting (its start, the proof of the administrator's
/// finger), so the disk died after twenty unshipped decisions: the acknowledgement comes before that.
#[test]
fn events_signed_but_never_shipped_are_counted_as_lost_from_the_heads_remembered_beside_the_pinned_key() {
    let Some(c) = centre() else { return };
    let (one, dest, _, h) = a_node_whose_disk_dies_after(&c, 20);
    let (_two, data) = new_node(one.path());
    let o = restore(&dest, &data, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    eprintln!("{said}");
    assert!(said.contains(&format!("the chain now ends at event {h}")), "{said}");
    // Four decisions at least (the stop adds its own record) were signed at the checkpoint on stopping.
    let lost: i64 = said
        .split("LOST (失われた記録)")
        .nth(1)
        .and_then(|r| r.split("at least ").nth(1))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("restore says what was lost: {said}"));
    assert!(lost >= 4, "{said}");
    // …and verification keeps saying so: the remembered checkpoint is past the restored chain.
    let o = verify(&data, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("rolled back"), "{}", text(&o));

    // A forged acknowledgement: the event written by hand into the store, chained properly but past the last
    // signed checkpoint. Verification does not take it.
    let db = data.join("audit.db");
    let hw: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(site_of(&data).with_file_name("audit-heads.json")).unwrap())
            .unwrap();
    let cp = &hw["checkpoint"];
    let lost_head =
        serde_json::json!({"what": "checkpoint", "size": cp["seq"], "hash": cp["head"], "time": cp["time"]});
    let forged =
        serde_json::json!({"lost": [lost_head], "kept": h, "kept_head": "", "lost_at_least": lost, "note": "forged"});
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut a = attacker(&db).await;
        let prev: Vec<u8> =
            sqlx::query_scalar("SELECT hash FROM events WHERE seq = ?").bind(h).fetch_one(&mut a).await.unwrap();
        sqlx::query(
            "INSERT INTO events (seq, node, time, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, hash) \
             VALUES (?, ?, '2026-12-01T00:00:00.000000000Z', 'audit.loss_acknowledged', 'takahashi', NULL, NULL, 'info', 'AUDIT_LOSS_ACKNOWLEDGED', NULL, NULL, ?, ?, ?)",
        )
        .bind(h + 1)
        .bind(NODE)
        .bind(forged.to_string())
        .bind(&prev)
        .bind(&prev)
        .execute(&mut a)
        .await
        .unwrap();
        rechain(&mut a, h + 1).await;
    });
    let o = verify(&data, &[]);
    assert_eq!(o.status.code(), Some(4), "a forged acknowledgement passed: {}", text(&o));
    assert!(text(&o).contains("rolled back"), "{}", text(&o));
    rt.block_on(async {
        let mut a = attacker(&db).await;
        sqlx::query("DELETE FROM events WHERE seq = ?").bind(h + 1).execute(&mut a).await.unwrap();
    });

    // The system administrator, proved by finger, acknowledges the loss on the running node.
    let d = Running::start_with(data.parent().unwrap(), &site(&c), &[]);
    let o = d.act("takahashi", &["--json", "audit", "acknowledge-loss"]);
    assert!(!o.status.success(), "a note is required: {}", text(&o));
    let o = d.act(
        "takahashi",
        &["--json", "audit", "acknowledge-loss", "--note", "ディスク故障 2026-12-05: バックアップから復元"],
    );
    let v = json(&o);
    let ack_seq = v["audit_seq"].as_i64().unwrap();
    assert!(v["lost_at_least"].as_i64().unwrap() >= 4 && ack_seq > h, "{v}");
    // Twice is refused: nothing is left to acknowledge.
    refused(&d.act("takahashi", &["audit", "acknowledge-loss", "--note", "again"]), "no loss to acknowledge");
    door(&d);
    assert!(d.stop().success());
    let o = verify(&data, &[]);
    let said = text(&o);
    eprintln!("{said}");
    assert_eq!(o.status.code(), Some(0), "{said}");
    assert!(said.contains("ACKNOWLEDGED LOSS (確認済みの記録喪失)"), "{said}");
    assert!(said.contains("acknowledged by takahashi") && said.contains(&format!("(event {ack_seq})")), "{said}");
    assert!(said.contains("signed events are gone") && said.contains("ディスク故障"), "{said}");

    // The acknowledgement edited afterwards (a larger loss, say) breaks the chain.
    rt.block_on(async {
        let mut a = attacker(&db).await;
        sqlx::query("UPDATE events SET details = replace(details, 'ディスク故障', '停電') WHERE seq = ?")
            .bind(ack_seq)
            .execute(&mut a)
            .await
            .unwrap();
    });
    let o = verify(&data, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains(&format!("event {ack_seq} was altered")), "{}", text(&o));
}
