//! Issue 16 end to end, through the real binaries: an insider with root on a node without a centre tries to
//! rewrite the audit record (003 §17, 002 §7(11)) — with a fresh key, by cutting off its newest events, and
//! after a paper ledger was printed — and is caught by the pinned key, the remembered heads and the paper
//! anchor (§1); a day given as an end means through that day (§3); leaving a zone leaves the zones nested
//! in it (§4).

use crate::common::*;
use sqlx::Row;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "expected success: {}", text(o));
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(o)))
}

/// The demo site with fast simulated finger readers, and the server and media rooms at Level 1 so the
/// system administrator issues their grants directly (the levels are not what these tests are about).
fn site() -> String {
    let s = demo_site()
        .replace("kind = \"sim-r30x\"", "kind = \"sim-finger\"")
        .replace("level = 2                         # Level 2", "level = 1                         # (test) Level 2")
        .replace("level = 3                         # Level 3", "level = 1                         # (test) Level 3");
    assert!(!s.contains("level = 2") && !s.contains("level = 3"), "the demo site's zones changed: update site()");
    s
}

fn start(dir: &Path) -> Running {
    Running::start_with(dir, &site(), &[])
}

/// A door decision at a reader: the CLI exits 1 on a denial but prints it.
fn at_door(d: &Running, reader: &str, body: &str) -> serde_json::Value {
    let o = d.tobira(&["--json", "sim", "present", reader, body]);
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(&o)))
}

fn add_people(d: &Running, ids: &[&str]) {
    for id in ids {
        let o = d.tobira(&[
            "--actor",
            "takahashi",
            "person",
            "add",
            id,
            "--name",
            id,
            "--roles",
            "operator",
            "--appointment-end",
            "2027-03-31",
        ]);
        assert!(o.status.success(), "{}", text(&o));
    }
}

/// What `audit-signing.pub`-style checkpoints sign (audit/src/signing.rs): an insider reads it from the source.
fn checkpoint_message(node: &str, seq: i64, head: &[u8], time: &str) -> Vec<u8> {
    let mut m = b"tobira-audit-checkpoint-v1\0".to_vec();
    m.extend_from_slice(&(node.len() as u32).to_be_bytes());
    m.extend_from_slice(node.as_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(head);
    m.extend_from_slice(time.as_bytes());
    m
}

/// The insider of issue 16 §1: turns the first denial into a grant, recomputes the chain, replaces the
/// node's signing key with a fresh one, re-signs every checkpoint and the head file with it, and replaces
/// the store's key and the `audit-signing.pub` beside the data. Returns the seq that was changed and the new
/// public key. Afterwards the store is self-consistent: only a key or a head kept elsewhere can tell.
fn rewrite_with_fresh_key(data: &Path) -> (i64, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = data.join("audit.db");
        let mut c = attacker(&db).await;
        let seq: i64 = sqlx::query_scalar("SELECT seq FROM events WHERE outcome = 'denied' ORDER BY seq LIMIT 1")
            .fetch_one(&mut c)
            .await
            .expect("a denial to turn into a grant");
        sqlx::query("UPDATE events SET outcome = 'granted', reason = 'GRANT_VALID' WHERE seq = ?")
            .bind(seq)
            .execute(&mut c)
            .await
            .unwrap();
        rechain(&mut c, seq).await;
        let key = data.join("audit-signing.key");
        std::fs::remove_file(&key).unwrap();
        tobira_audit::Signer::create(&key).unwrap();
        let s = tobira_audit::Signer::load(&key).unwrap();
        let pk = s.public_key();
        let node: String =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'node'").fetch_one(&mut c).await.unwrap();
        sqlx::query("UPDATE meta SET value = ? WHERE key = 'public_key'")
            .bind(hex::encode(&pk))
            .execute(&mut c)
            .await
            .unwrap();
        let cps = sqlx::query("SELECT c.seq, c.time, e.hash FROM checkpoints c JOIN events e ON e.seq = c.seq ORDER BY c.seq")
            .fetch_all(&mut c)
            .await
            .unwrap();
        let mut last = None;
        for r in &cps {
            let (cs, time, head): (i64, String, Vec<u8>) = (r.get(0), r.get(1), r.get(2));
            let sig = s.sign(&checkpoint_message(&node, cs, &head, &time));
            sqlx::query("UPDATE checkpoints SET head = ?, signature = ? WHERE seq = ?")
                .bind(&head)
                .bind(&sig)
                .bind(cs)
                .execute(&mut c)
                .await
                .unwrap();
            last = Some((cs, time, head, sig));
        }
        let (cs, time, head, sig) = last.expect("at least the shutdown checkpoint");
        let file = serde_json::json!({"node": node, "seq": cs, "head": hex::encode(head), "time": time, "signature": hex::encode(sig)});
        std::fs::write(data.join("audit.db.head"), file.to_string()).unwrap();
        std::fs::write(data.join("audit-signing.pub"), format!("{}\n", hex::encode(&pk))).unwrap();
        (seq, pk)
    })
}

/// Waits for the alarm `kind` (003 §20), then returns its audited failure, which must say `want`.
fn wait_alarm(d: &Running, kind: &str, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let a = text(&d.tobira(&["--json", "alarms"]));
        if a.contains(kind) {
            let ev = text(&d.tobira(&["--json", "--actor", "takahashi", "audit", "show", "--kind", kind]));
            assert!(ev.contains(want), "the {kind} alarm does not say {want:?}: {ev}");
            return ev;
        }
        assert!(Instant::now() < deadline, "no {kind} alarm: {a}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A node with some history: a denial at a door (the insider's target) and a few registrations.
fn node_with_history(dir: &Path) -> Running {
    let d = start(dir);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.bootstrap();
    let v = at_door(&d, "server-in", "stranger");
    assert_eq!(v["granted"], false, "{v}");
    add_people(&d, &["p1", "p2", "p3"]);
    d
}

#[test]
fn init_pins_the_key_outside_the_data_and_verify_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let site_file = dir.path().join("site.toml");
    std::fs::write(&site_file, site()).unwrap();
    let data = dir.path().join("data");
    // --init prints the fingerprint for the paper record, creates the site and exits (issue 22 §2).
    let printed = crate::common::init_site(&site_file, &data, &[]);
    let pin = dir.path().join("audit-signing.pub");
    let key = tobira_audit::anchors::read_key_file(&pin).unwrap();
    let fp = tobira_audit::anchors::fingerprint(&key);
    assert!(printed.contains(&fp), "the fingerprint is printed at --init: {printed}");
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(&pin).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o444, "read-only");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert_eq!(meta.uid(), 0, "root-owned when --init runs as root");
    }
    assert!(!pin.starts_with(&data), "outside the data directory");
    assert!(dir.path().join("audit-heads.json").exists(), "the high-water record beside it");

    let v = verify(&data, &[]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(text(&v).contains("intact") && text(&v).contains(&fp), "says which key it used: {}", text(&v));
    assert!(text(&v).contains(pin.to_str().unwrap()), "{}", text(&v));
    // No pinned key and no --node-key: trust cannot be established, and it says so (not "intact").
    let o = Command::new(TOBIRA)
        .args(["audit", "verify", "--data-dir", data.to_str().unwrap(), "--config"])
        .arg(dir.path().join("elsewhere").join("site.toml"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("cannot establish trust") && !text(&o).contains("intact"), "{}", text(&o));
    // --node-key as hex works without a pinned file.
    let o = Command::new(TOBIRA)
        .args(["audit", "verify", "--data-dir", data.to_str().unwrap(), "--config"])
        .arg(dir.path().join("elsewhere").join("site.toml"))
        .args(["--node-key", &hex::encode(&key)])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    // A second --init of another store against the same pin is refused, naming the pinned key.
    let o = Command::new(TOBIRAD)
        .args(["--config", site_file.to_str().unwrap(), "--data-dir"])
        .arg(dir.path().join("data2"))
        .args(["--init", "--simulation"])
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("already pins another key"), "{}", text(&o));
    assert!(!dir.path().join("data2").join("audit.db").exists(), "refused before any store was created");
}

#[test]
fn a_history_rewritten_with_a_fresh_key_is_caught_by_the_pinned_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = node_with_history(dir.path());
    let data = d.data.clone();
    assert!(d.stop().success());
    let pinned = tobira_audit::anchors::read_key_file(&dir.path().join("audit-signing.pub")).unwrap();
    let (seq, fresh) = rewrite_with_fresh_key(&data);
    assert_ne!(fresh, pinned);

    // The rewrite is self-consistent: checked against the key beside the data (what `verify` used to
    // trust), it passes. That is the attack.
    let beside = data.join("audit-signing.pub");
    let o = verify(&data, &["--node-key", beside.to_str().unwrap()]);
    assert!(o.status.success(), "the insider's rewrite is consistent with the insider's key: {}", text(&o));

    // Against the pinned key it fails, naming both keys.
    let o = verify(&data, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains(&tobira_audit::anchors::fingerprint(&pinned)), "{t}");
    assert!(t.contains(&tobira_audit::anchors::fingerprint(&fresh)), "{t}");
    assert!(t.contains("bad signature") || t.contains("another signing key"), "{t}");
    assert!(seq > 0);

    // The daemon starts on the rewritten store (its own key matches it) but raises the alarm at once.
    let d = start(dir.path());
    wait_alarm(&d, "audit.verify.failed", "another signing key");
}

#[test]
fn the_newest_events_deleted_with_their_checkpoints_and_head_are_caught() {
    let dir = tempfile::tempdir().unwrap();
    let d = node_with_history(dir.path());
    let data = d.data.clone();
    assert!(d.stop().success());
    let v = verify(&data, &[]);
    assert!(v.status.success(), "{}", text(&v));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (kept, had) = rt.block_on(async {
        let mut c = attacker(&data.join("audit.db")).await;
        let n: i64 = sqlx::query_scalar("SELECT max(seq) FROM events").fetch_one(&mut c).await.unwrap();
        sqlx::query("DELETE FROM events WHERE seq > ?").bind(n - 4).execute(&mut c).await.unwrap();
        sqlx::query("DELETE FROM checkpoints").execute(&mut c).await.unwrap();
        (n - 4, n)
    });
    std::fs::remove_file(data.join("audit.db.head")).unwrap();
    let o = verify(&data, &[]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains(&format!("covered {had} events but the store holds {kept}")), "{t}");
    assert!(t.contains("deleted or the store was rolled back"), "{t}");

    // At start: an alarm saying so.
    let d = start(dir.path());
    wait_alarm(&d, "audit.verify.failed", "rolled back");
}

#[test]
fn a_paper_anchor_from_a_ledger_export_catches_a_later_rewrite() {
    let dir = tempfile::tempdir().unwrap();
    let d = node_with_history(dir.path());
    let csv = dir.path().join("入退室管理簿.csv");
    let html = dir.path().join("入退室管理簿.html");
    let o =
        d.tobira(&["--actor", "takahashi", "ledger", "--csv", csv.to_str().unwrap(), "--html", html.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("--anchor"), "the signed head is shown with the ledger: {}", text(&o));
    let sheet = std::fs::read_to_string(&csv).unwrap();
    let anchor = tobira_cli::trust::anchor_from_csv(&sheet).expect("the CSV carries the signed tree head");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains(&anchor), "the printed page carries the same head");
    let pinned = tobira_audit::anchors::read_key_file(&dir.path().join("audit-signing.pub")).unwrap();
    assert!(page.contains(&tobira_audit::anchors::fingerprint(&pinned)), "and the key's fingerprint");
    // The CSV still reads as the ledger for a reader that skips `#` lines.
    let mut r = csv::ReaderBuilder::new().comment(Some(b'#')).from_reader(&sheet.as_bytes()[3..]);
    assert!(r.records().all(|x| x.is_ok()));
    // Remembered beside the pinned key as printed.
    let hw = tobira_audit::anchors::load(&dir.path().join("audit-heads.json")).unwrap().unwrap();
    assert_eq!(format!("{}:{}", hw.printed.as_ref().unwrap().size, hw.printed.as_ref().unwrap().root), anchor);

    add_people(&d, &["p4", "p5"]);
    let data = d.data.clone();
    assert!(d.stop().success());
    let o = verify(&data, &["--anchor", &anchor]);
    assert!(o.status.success(), "the store grew and still extends the paper anchor: {}", text(&o));
    assert!(text(&o).contains(&format!("extends paper anchor {anchor}")), "{}", text(&o));

    // The worst insider: root rewrites history with a fresh key AND replaces the pinned key and the
    // high-water record beside it. The node alone can no longer tell…
    let (_, fresh) = rewrite_with_fresh_key(&data);
    let pin = dir.path().join("audit-signing.pub");
    std::fs::remove_file(&pin).unwrap();
    std::fs::write(&pin, format!("{}\n", hex::encode(&fresh))).unwrap();
    std::fs::remove_file(dir.path().join("audit-heads.json")).unwrap();
    let o = verify(&data, &[]);
    assert!(o.status.success(), "with everything on the node replaced, only paper is left: {}", text(&o));
    // …but the fingerprint it reports is not the one on the paper ledger, and the paper anchor fails.
    assert!(!text(&o).contains(&tobira_audit::anchors::fingerprint(&pinned)));
    let o = verify(&data, &["--anchor", &anchor]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains(&format!("paper anchor {anchor}")), "names the anchor: {}", text(&o));
    assert!(text(&o).contains("rewritten"), "{}", text(&o));
}

/// Issue 16 §3: a grant "until today" can be issued today and admits through the day's last second.
#[test]
fn a_grant_until_today_admits_today_through_its_last_second() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.bootstrap();
    add_people(&d, &["tanaka"]);
    for _ in 0..3 {
        d.present("t01-reader", "tanaka");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "tanaka", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    let g = json(&d.tobira(&[
        "--json",
        "--actor",
        "takahashi",
        "grant",
        "add",
        "tanaka",
        "--place",
        "zone:server-room",
        "--until",
        "2026-11-24",
    ]));
    assert!(g.is_object(), "{g}");
    let list = json(&d.tobira(&["--json", "grant", "list", "--holder", "tanaka"]));
    assert_eq!(list["until"], "2026-11-24T15:00:00Z", "the end of 2026-11-24 in JST");
    // A one-day off-hours approval and a one-day visit given as that day (both were refused before as
    // "until must be after from": the day's start was taken for its end).
    let o = d.tobira(&[
        "--actor",
        "takahashi",
        "off-hours",
        "tanaka",
        "--terminal",
        "t-01",
        "--from",
        "2026-11-24",
        "--until",
        "2026-11-24",
        "--reason",
        "繁忙対応",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let ev = json(&d.tobira(&["--json", "--actor", "takahashi", "audit", "show", "--kind", "admin.offhours.add"]));
    assert_eq!(ev["details"]["until"], "2026-11-24T15:00:00Z", "{ev}");
    let o = d.tobira(&[
        "--actor",
        "takahashi",
        "person",
        "add",
        "abe",
        "--name",
        "阿部",
        "--roles",
        "vendor",
        "--appointment-end",
        "2027-03-31",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = d.visit(As::Claimed("takahashi"), "2026-11-24", "2026-11-24", "tanaka", &[]);
    assert!(o.status.success(), "a one-day visit given as that day: {}", text(&o));
    let v = at_door(&d, "server-in", "tanaka");
    assert_eq!(v["granted"], true, "today: {v}");
    let _ = d.tobira(&["sim", "walk", "server-door"]);
    let _ = at_door(&d, "server-out", "tanaka");
    let _ = d.tobira(&["sim", "walk", "server-door"]);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T23:59:59+09:00"]);
    let v = at_door(&d, "server-in", "tanaka");
    assert_eq!(v["granted"], true, "the day's last second: {v}");
    let _ = d.tobira(&["sim", "walk", "server-door"]);
    let _ = at_door(&d, "server-out", "tanaka");
    let _ = d.tobira(&["sim", "walk", "server-door"]);
    let _ = d.tobira(&["sim", "clock", "2026-11-25T00:00:00+09:00"]);
    let v = at_door(&d, "server-in", "tanaka");
    assert_eq!(v["granted"], false, "the next day's first second: {v}");
    assert_eq!(v["reason"], "GRANT_EXPIRED", "{v}");
}

/// Issue 16 §4 (003 §13): leaving the server room leaves the media room inside it too.
#[test]
fn leaving_the_server_room_also_leaves_the_media_room() {
    let dir = tempfile::tempdir().unwrap();
    let d = start(dir.path());
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.bootstrap();
    add_people(&d, &["tanaka"]);
    for _ in 0..3 {
        d.present("t01-reader", "tanaka");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "tanaka", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    for zone in ["zone:server-room", "zone:media-room"] {
        let o = d.tobira(&["--actor", "takahashi", "grant", "add", "tanaka", "--place", zone]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let walk = || {
        let _ = d.tobira(&["sim", "walk", "server-door"]);
        let _ = d.tobira(&["sim", "walk", "media-door"]);
    };
    assert_eq!(at_door(&d, "server-in", "tanaka")["granted"], true);
    walk();
    assert_eq!(at_door(&d, "media-in", "tanaka")["granted"], true, "from inside the server room");
    walk();
    // Out through the server room's exit reader (the media room's door left behind him, say, by REX).
    let v = at_door(&d, "server-out", "tanaka");
    assert_eq!(v["reason"], "EXIT_RECORDED", "{v}");
    walk();
    // He is recorded nowhere now: the media room's exit reader does not find him inside it…
    let v = at_door(&d, "media-out", "tanaka");
    assert_ne!(v["reason"], "EXIT_RECORDED", "still recorded in the media room after leaving the server room: {v}");
    // …and the media room cannot be entered without entering the server room first.
    let v = at_door(&d, "media-in", "tanaka");
    assert_eq!(v["reason"], "NOT_INSIDE_PARENT", "{v}");
}

/// A peer witness: `tobira-central peer-witness` on "another host", reached over TLS.
struct PeerWitness {
    child: std::process::Child,
    addr: String,
}

impl Drop for PeerWitness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_peer_witness(dir: &Path, node_pub: &Path) -> (PeerWitness, String) {
    std::fs::create_dir_all(dir).unwrap();
    tobira_central::testing::certificates(dir, &[]);
    let key = dir.join("witness.key");
    tobira_audit::Signer::create(&key).unwrap();
    let public = hex::encode(tobira_audit::Signer::load(&key).unwrap().public_key());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let child = std::process::Command::new(crate::common::TOBIRA_CENTRAL)
        .args(["peer-witness", "--listen", &addr, "--key", key.to_str().unwrap()])
        .args(["--store", dir.join("witnessed.json").to_str().unwrap()])
        .args([
            "--cert",
            dir.join("server.crt").to_str().unwrap(),
            "--cert-key",
            dir.join("server.key").to_str().unwrap(),
        ])
        .arg("--node")
        .arg(format!("sendai-honcho={}", node_pub.display()))
        .env_remove("TOBIRA_CENTRAL_DB")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "the peer witness did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    (PeerWitness { child, addr }, public)
}

/// Issue 16 §1(a): a standalone node (no centre, no PostgreSQL) whose heads a peer witness countersigns over
/// TLS. Root on the node who rewrites history with a fresh key — replacing the pinned key and the high-water
/// record too, so the node alone cannot tell — is caught by `verify --witness`; so is a cut tail.
#[test]
fn a_peer_witness_catches_a_fresh_key_rewrite_and_a_cut_tail_on_a_standalone_node() {
    let dir = tempfile::tempdir().unwrap();
    let d = node_with_history(dir.path());
    assert!(d.stop().success());
    let pin = dir.path().join("audit-signing.pub");
    let pinned = tobira_audit::anchors::read_key_file(&pin).unwrap();
    let (w, witness_key) = start_peer_witness(&dir.path().join("witness-host"), &pin);
    let wdir = dir.path().join("witness-host");
    let with_witness = format!(
        "{}\n[witness]\naddress = \"{}\"\nserver_name = \"localhost\"\nca_file = \"{}\"\nwitness_key = \"{witness_key}\"\nevery_s = 1\n",
        site(),
        w.addr,
        wdir.join("ca.crt").display()
    );
    let d = Running::start_with(dir.path(), &with_witness, &[]);
    add_people(&d, &["p4", "p5"]);
    // Countersigned and remembered beside the pinned key.
    let deadline = Instant::now() + Duration::from_secs(20);
    let size = loop {
        let hw = tobira_audit::anchors::load(&dir.path().join("audit-heads.json")).unwrap().unwrap_or_default();
        if let Some(c) = hw.countersigned.filter(|c| c.size >= 10) {
            break c.size;
        }
        assert!(Instant::now() < deadline, "no head countersigned by the peer witness");
        std::thread::sleep(Duration::from_millis(200));
    };
    let data = d.data.clone();
    assert!(d.stop().success());
    let o = verify(&data, &["--witness"]);
    assert!(o.status.success(), "an honest store extends every countersigned head: {}", text(&o));
    assert!(text(&o).contains("peer witness countersigned"), "{}", text(&o));

    // The tail cut off (a copy of the store): events, checkpoints and the head file deleted.
    let cut = dir.path().join("data-cut");
    std::fs::create_dir_all(&cut).unwrap();
    for f in ["audit.db", "audit.db-wal", "audit.db-shm"] {
        if data.join(f).exists() {
            std::fs::copy(data.join(f), cut.join(f)).unwrap();
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut c = attacker(&cut.join("audit.db")).await;
        sqlx::query("DELETE FROM events WHERE seq > 3").execute(&mut c).await.unwrap();
        sqlx::query("DELETE FROM checkpoints").execute(&mut c).await.unwrap();
    });
    // Root also deleted the high-water record beside the pinned key: only the witness remembers.
    std::fs::remove_file(dir.path().join("audit-heads.json")).unwrap();
    let o = verify(&cut, &["--witness", "--node-key", &hex::encode(&pinned)]);
    assert_eq!(o.status.code(), Some(4), "a cut tail passed the witness: {}", text(&o));
    assert!(text(&o).contains("anchor"), "caught by a countersigned head: {}", text(&o));
    let o = verify(&cut, &["--node-key", &hex::encode(&pinned)]);
    assert!(o.status.success(), "without the witness (and no head file or pin beside it) it passes: {}", text(&o));

    // The worst insider: history rewritten with a fresh key, the pinned key and audit-heads.json replaced.
    let (_, fresh) = rewrite_with_fresh_key(&data);
    std::fs::remove_file(&pin).unwrap();
    std::fs::write(&pin, format!("{}\n", hex::encode(&fresh))).unwrap();
    let o = verify(&data, &[]);
    assert!(o.status.success(), "with everything on the node replaced, only the witness is left: {}", text(&o));
    // The witness's heads are signed by the key written on paper, not the fresh one…
    let o = verify(&data, &["--witness"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("key was replaced"), "{}", text(&o));
    // …and with the paper's key the rewritten store fails too (its re-signed checkpoints first).
    let o = verify(&data, &["--witness", "--node-key", &hex::encode(&pinned)]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("re-keyed") || text(&o).contains("rewritten"), "{}", text(&o));
    assert!(size >= 10);
    drop(w);
}
