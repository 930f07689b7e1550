//! Many terminals, one city (issue 7 "Tests"): a central PostgreSQL of its own (TLS, a client certificate
//! per node), the centre's witness as its real binary (`tobira-central witness`), and three `tobirad` nodes
//! on simulated devices. A grant revoked at the centre is refused on every node within the bound; with the
//! centre stopped the nodes keep deciding and auditing locally; when it returns every event arrives exactly
//! once and every node's log is countersigned; a node's store rewritten after shipping is caught by the
//! centre's copy and the witness's heads; an auditor's question at the centre spans all nodes and is itself
//! recorded (002 §7(11)).

use crate::common::*;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CENTRAL: Bin = TOBIRA_CENTRAL;
const NODES: [(&str, &str); 3] = [("kita-shisho", "node_a"), ("minami-shisho", "node_b"), ("honcho", "node_c")];

pub(crate) struct Witness(Child);

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn owner_url(pg: &tobira_central::testing::Pg) -> String {
    format!("postgres://postgres@localhost/tobira?host={}&port={}", pg.dir.path().display(), pg.port)
}

pub(crate) fn central(pg: &tobira_central::testing::Pg, args: &[&str]) -> std::process::Output {
    Command::new(CENTRAL).arg("--db").arg(owner_url(pg)).args(args).output().unwrap()
}

pub(crate) fn witness(pg: &tobira_central::testing::Pg, key: &std::path::Path) -> Witness {
    Witness(
        Command::new(CENTRAL)
            .arg("--db")
            .arg(owner_url(pg))
            .args(["witness", "--key", key.to_str().unwrap()])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Waits until the centre holds and its witness has countersigned everything the node wrote so far.
pub(crate) fn wait_witnessed(d: &Running, within: Duration) -> i64 {
    let t = Instant::now();
    loop {
        let s = status(d);
        let head = s["central"]["local_head"].as_i64().unwrap_or(0);
        if head > 0 && s["central"]["lag_events"] == 0 && s["central"]["cosigned"].as_i64() == Some(head) {
            return head;
        }
        assert!(t.elapsed() < within, "the node's log was never shipped and countersigned: {s}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn site(pg: &tobira_central::testing::Pg, id: &str, role: &str, witness_key: &str) -> String {
    let base = demo_site().replacen("id = \"sendai-honcho\"", &format!("id = \"{id}\""), 1);
    format!(
        "{base}\n[central]\nhost = \"127.0.0.1\"\nport = {}\nrole = \"{role}\"\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nship_every_ms = 100\nhead_every_ms = 300\nwitness_key = \"{witness_key}\"\n",
        pg.port,
        pg.file("ca.crt").display(),
        pg.file(&format!("{role}.crt")).display(),
        pg.file(&format!("{role}.key")).display()
    )
}

#[test]
fn three_nodes_one_centre_revocation_outage_recovery_and_tampering() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let roles: Vec<&str> = NODES.iter().map(|n| n.1).collect();
    let Some(pg) = rt.block_on(tobira_central::testing::start(&roles)) else { return };
    let owner = rt.block_on(pg.admin("tobira"));
    let o = central(&pg, &["migrate"]);
    assert!(o.status.success(), "{}", text(&o));
    let keys = tempfile::tempdir().unwrap();
    let wkey = keys.path().join("witness.key");
    let o = Command::new(CENTRAL)
        .args(["--db", "unused", "witness-key", "--key", wkey.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let wpub = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let mut w = witness(&pg, &wkey);

    // Three nodes come up, each registered at the centre with its own audit key. The city's administration
    // happens at kita-shisho: the system administrator bootstraps there, registers and enrolls tanaka and
    // grants the terminal. People, templates (their data keys wrapped to each node) and grants reach the
    // other two through the centre — also the nodes that joined after the enrolment.
    let dirs: Vec<tempfile::TempDir> = NODES.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<Running> = Vec::new();
    for ((id, role), dir) in NODES.iter().zip(&dirs) {
        let d = Running::start_with(dir.path(), &site(&pg, id, role, &wpub), &[]);
        let pubfile = d.data.join("audit-signing.pub");
        let o = central(&pg, &["register-node", id, "--role", role, "--public-key-file", pubfile.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
        if nodes.is_empty() {
            d.bootstrap();
            for _ in 0..3 {
                d.present("t01-reader", "takahashi");
            }
            assert!(
                d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]).status.success()
            );
            let o = d.act(
                "takahashi",
                &[
                    "person",
                    "add",
                    "tanaka",
                    "--name",
                    "田中 太郎",
                    "--roles",
                    "operator",
                    "--appointment-end",
                    "2027-03-31",
                ],
            );
            assert!(o.status.success(), "{}", text(&o));
            for _ in 0..3 {
                d.present("t01-reader", "tanaka");
            }
            assert!(d.act("takahashi", &["enroll", "tanaka", "--reader", "t01-reader"]).status.success());
            assert!(d.act("takahashi", &["grant", "add", "tanaka", "--place", "terminal:t-01"]).status.success());
        }
        nodes.push(d);
    }
    // The simulated clocks were set one node after another while the first worked: set them together, as
    // NTP keeps real ones (a grant issued at 10:0x by the first node's clock is valid at the others).
    for d in &nodes {
        let _ = d.tobira(&["sim", "clock", "2026-11-24T10:20:00+09:00"]);
    }
    let login_as = |d: &Running, who: &str| -> serde_json::Value {
        d.present("t01-reader", who);
        let o = d.tobira(&["--json", "login", "t-01", who]);
        let _ = d.tobira(&["sim", "clear", "t01-reader"]);
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(&o)))
    };
    let login = |d: &Running| login_as(d, "tanaka");
    // Whether `who` is registered at `d` with an approved template and a grant (read without a finger, so
    // waiting costs no failed attempt).
    let arrived = |d: &Running, who: &str| -> bool {
        let o = d.tobira(&["--json", "person", "show", who]);
        let p: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_default();
        let enrolled = p["templates"].as_array().is_some_and(|t| t.iter().any(|t| t["status"] == "approved"));
        let o = d.tobira(&["--json", "grant", "list", "--holder", who]);
        enrolled && !String::from_utf8_lossy(&o.stdout).trim().is_empty() && p["active"] != false
    };
    let t = Instant::now();
    for d in &nodes {
        while !arrived(d, "tanaka") {
            assert!(t.elapsed() < Duration::from_secs(30), "tanaka's enrolment never reached this node");
            std::thread::sleep(Duration::from_millis(100));
        }
        let v = login(d);
        assert_eq!(v["reason"], "GRANT_VALID", "{v}");
    }
    eprintln!(
        "the person enrolled at kita-shisho logs in at all three nodes {:?} after the others started",
        t.elapsed()
    );
    // An administrative act at another node, proved there by the system administrator's finger whose
    // template came from kita-shisho.
    let o = nodes[2].act("takahashi", &["person", "add", "kato", "--name", "加藤", "--roles", "operator"]);
    assert!(o.status.success(), "{}", text(&o));
    for d in &nodes {
        wait_witnessed(d, Duration::from_secs(60));
    }

    // Grant ids are numbered by each node and carry its id (issue 22 "Readable output"): kita-shisho's first
    // grant and honcho's first grant are both number 1, yet distinct, and each reaches every node under the
    // id it was issued with; a node revokes another's grant by that id, typed as people type it.
    let o = nodes[2]
        .act("takahashi", &["--json", "grant", "add", "kato", "--place", "terminal:t-02", "--until", "2027-03-31"]);
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(&o)));
    assert_eq!(v["grant"], "G-honcho-0001", "{v}");
    let grant_ids = |d: &Running| -> Vec<String> {
        let o = d.tobira(&["--json", "grant", "list"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|g| g["id"].as_str().map(String::from))
            .collect()
    };
    let t = Instant::now();
    for d in &nodes {
        loop {
            let ids = grant_ids(d);
            if ids.iter().any(|i| i == "G-kita-shisho-0001") && ids.iter().any(|i| i == "G-honcho-0001") {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "both nodes' grants never reached this node: {ids:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let o = nodes[0].act("takahashi", &["grant", "revoke", "g-HONCHO-1"]);
    assert!(text(&o).contains("revoked: G-honcho-0001"), "{}", text(&o));
    let t = Instant::now();
    for d in &nodes {
        while grant_ids(d).iter().any(|i| i == "G-honcho-0001") {
            assert!(t.elapsed() < Duration::from_secs(30), "the revocation never reached this node");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(grant_ids(d).iter().any(|i| i == "G-kita-shisho-0001"), "only the grant named was revoked");
    }
    // On its own node an administrator may leave the node out: `g-2` at honcho is honcho's second grant.
    let o = nodes[2].act("takahashi", &["grant", "add", "kato", "--place", "terminal:t-01", "--until", "2027-03-31"]);
    assert!(text(&o).contains("grant: G-honcho-0002"), "{}", text(&o));
    let o = nodes[2].act("takahashi", &["grant", "revoke", "g-2"]);
    assert!(text(&o).contains("revoked: G-honcho-0002"), "{}", text(&o));

    for d in &nodes {
        let _ = d.tobira(&["sim", "clock", "2026-11-24T10:30:00+09:00"]);
    }
    // Managed once: sato is registered, enrolled and granted the terminal at kita-shisho only; the person,
    // the template (its data key wrapped to each node) and the grant reach the other two, where sato logs in
    // without any act there.
    let a = &nodes[0];
    let o = a.act(
        "takahashi",
        &["person", "add", "sato", "--name", "佐藤 花子", "--roles", "operator", "--appointment-end", "2027-03-31"],
    );
    assert!(o.status.success(), "{}", text(&o));
    for _ in 0..3 {
        a.present("t01-reader", "sato");
    }
    let o = a.act("takahashi", &["enroll", "sato", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = a.act("takahashi", &["grant", "add", "sato", "--place", "terminal:t-01"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = Instant::now();
    for d in &nodes[1..] {
        while !arrived(d, "sato") {
            assert!(t.elapsed() < Duration::from_secs(20), "sato's enrolment never reached this node");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let took = t.elapsed();
    for d in &nodes[1..] {
        let v = login_as(d, "sato");
        assert_eq!(v["reason"], "GRANT_VALID", "{v}");
    }
    eprintln!("a person enrolled at one node is enrolled and granted at the others {took:?} later");
    // Someone else's finger under sato's user ID is refused there.
    nodes[1].present("t01-reader", "suzuki");
    let o = nodes[1].tobira(&["--json", "login", "t-01", "sato"]);
    let _ = nodes[1].tobira(&["sim", "clear", "t01-reader"]);
    assert!(text(&o).contains("\"granted\": false") || text(&o).contains("\"granted\":false"), "{}", text(&o));
    // An off-hours approval (002 §5-2) given at kita-shisho holds at minami-shisho's terminal too.
    for d in &nodes {
        let _ = d.tobira(&["sim", "clock", "2026-11-24T19:30:00+09:00"]);
    }
    assert_eq!(login_as(&nodes[1], "sato")["granted"], false, "after hours without an approval");
    let o = a.act(
        "takahashi",
        &[
            "off-hours",
            "sato",
            "--terminal",
            "t-01",
            "--from",
            "2026-11-24T19:00:00+09:00",
            "--until",
            "2026-11-24T21:00:00+09:00",
            "--reason",
            "繁忙期 (busy season)",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut admitted = false;
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(700));
        if login_as(&nodes[1], "sato")["granted"] == true {
            admitted = true;
            break;
        }
    }
    assert!(admitted, "the approval never reached minami-shisho");
    for d in &nodes {
        let _ = d.tobira(&["sim", "clock", "2026-11-24T10:45:00+09:00"]);
    }
    // Sato leaves (000 §8(2)) at kita-shisho: deactivated, templates erased, on every node.
    let o = a.act("takahashi", &["person", "delete", "sato", "--reason", "退職 (leaving)"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = Instant::now();
    for d in &nodes[1..] {
        while arrived(d, "sato") {
            assert!(t.elapsed() < Duration::from_secs(10), "sato's leaving never reached this node");
            std::thread::sleep(Duration::from_millis(50));
        }
        let v = login_as(d, "sato");
        assert_eq!(v["granted"], false, "{v}");
    }
    let (kinds,): (i64,) = rt
        .block_on(
            sqlx::query_as("SELECT count(DISTINCT kind) FROM registry_changes WHERE origin = 'kita-shisho' AND target IN ('sato') OR payload LIKE '%\"sato\"%'")
                .fetch_one(&owner),
        )
        .unwrap();
    assert!(kinds >= 3, "the centre holds sato's person, template and grant changes ({kinds} kinds)");

    // The centre revokes tanaka's terminal grant everywhere: every node refuses within 2 s (issue 7 §3).
    let t = Instant::now();
    let o =
        central(&pg, &["revoke-grant", "tanaka@terminal:t-01", "--reason", "異動 (transfer)", "--by", "centre-admin"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut pending: Vec<usize> = (0..nodes.len()).collect();
    while !pending.is_empty() {
        pending.retain(|&i| {
            let o = nodes[i].tobira(&["--json", "grant", "list", "--holder", "tanaka"]);
            !String::from_utf8_lossy(&o.stdout).trim().is_empty()
        });
        assert!(t.elapsed() < Duration::from_secs(2), "nodes {pending:?} still hold the grant after {:?}", t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("revocation reached all three nodes {:?} after publication", t.elapsed());
    for d in &nodes {
        let v = login(d);
        assert_eq!(v["granted"], false, "{v}");
    }

    // The centre goes away (and its witness with it): the nodes keep working and audit locally.
    rt.block_on(owner.close());
    pg.stop_server();
    let _ = w.0.wait();
    for (k, d) in nodes.iter().enumerate() {
        for i in 0..3 {
            let o = d.act("takahashi", &["person", "add", &format!("p{k}-{i}"), "--name", "N", "--roles", "operator"]);
            assert!(o.status.success(), "{}", text(&o));
        }
        assert_eq!(login(d)["granted"], false);
    }
    let t = Instant::now();
    while !nodes.iter().all(|d| status(d)["central"]["last_error"].is_string()) {
        assert!(t.elapsed() < Duration::from_secs(20), "the outage never became visible");
        std::thread::sleep(Duration::from_millis(200));
    }

    // It returns: every event arrives exactly once, and every node's whole log is countersigned.
    pg.start_server();
    w = witness(&pg, &wkey);
    let owner = rt.block_on(pg.admin("tobira"));
    // (Nodes keep auditing what reaches them from the others: wait until every log is still and witnessed.)
    let t = Instant::now();
    let heads = loop {
        let heads: Vec<i64> = nodes.iter().map(|d| wait_witnessed(d, Duration::from_secs(60))).collect();
        std::thread::sleep(Duration::from_millis(1500));
        let again: Vec<i64> = nodes.iter().map(|d| status(d)["central"]["local_head"].as_i64().unwrap_or(0)).collect();
        if heads == again {
            break heads;
        }
        assert!(t.elapsed() < Duration::from_secs(90), "the nodes never settled");
    };
    for ((id, _), head) in NODES.iter().zip(&heads) {
        let (n, distinct, max): (i64, i64, i64) = rt
            .block_on(
                sqlx::query_as("SELECT count(*), count(DISTINCT seq), max(seq) FROM audit_events WHERE node = $1")
                    .bind(id)
                    .fetch_one(&owner),
            )
            .unwrap();
        assert_eq!((n, distinct, max), (*head, *head, *head), "node {id}: each event exactly once");
    }
    let refused: i64 = rt
        .block_on(
            sqlx::query_scalar("SELECT count(*) FROM central_alarms WHERE kind LIKE 'witness.%'").fetch_one(&owner),
        )
        .unwrap();
    assert_eq!(refused, 0, "honest nodes' heads are never refused");

    // An auditor asks the centre about tanaka across all nodes; the question is recorded there.
    let o = central(&pg, &["audit", "show", "--person", "tanaka", "--viewer", "kansa-ichiro", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let rows: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    let seen: std::collections::BTreeSet<&str> =
        rows.as_array().unwrap().iter().filter_map(|e| e["node"].as_str()).collect();
    assert_eq!(seen.len(), 3, "tanaka's history from every node: {seen:?}");
    let o = central(&pg, &["audit", "show", "--person", "tanaka", "--viewer", "kansa-ichiro"]);
    assert!(text(&o).contains("受信日時") && text(&o).contains("kita-shisho"), "{}", text(&o));
    // Both times in the city's zone, named once; no UTC text for the auditor (issue 22 "Times").
    assert!(text(&o).contains("(times in JST (UTC+09:00))"), "{}", text(&o));
    let utc = tobira_cli::local_time::machine_times(&text(&o));
    assert!(utc.is_empty(), "the centre's history shows UTC text {utc:?}: {}", text(&o));
    // The matching-data ledger (照合情報管理簿, 003 §15) across nodes, names from the city's registry.
    let o = central(&pg, &["ledger", "matching", "--viewer", "kansa-ichiro", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let l: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    let rows = l["rows"].as_array().unwrap();
    let at: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["氏名"] == "田中 太郎" && r["区分"] == "利用")
        .filter_map(|r| r["拠点"].as_str())
        .collect();
    assert_eq!(at.len(), 3, "tanaka's matches at every node, by name: {at:?}");
    // Places by the names each node's site gives them (the node says them at start), as the node's own
    // ledgers show them: 住基端末 1, not t-01 (issue 21 §4).
    let places: std::collections::BTreeSet<&str> = rows
        .iter()
        .filter(|r| r["氏名"] == "田中 太郎" && r["区分"] == "利用")
        .filter_map(|r| r["場所"].as_str())
        .collect();
    assert_eq!(places, std::collections::BTreeSet::from(["住基端末 1"]), "{rows:?}");
    let o = central(&pg, &["ledger", "operators", "--viewer", "kansa-ichiro"]);
    assert!(
        text(&o).contains("操作者管理簿") && text(&o).contains("田中 太郎") && text(&o).contains("拠点"),
        "{}",
        text(&o)
    );
    let views: i64 = rt
        .block_on(
            sqlx::query_scalar("SELECT count(*) FROM record_views WHERE viewer LIKE '%kansa-ichiro'").fetch_one(&owner),
        )
        .unwrap();
    assert_eq!(views, 4, "every question recorded");

    // Every node's store agrees with the centre and its witness…
    let mut data = Vec::new();
    for d in nodes {
        data.push(d.data.clone());
        assert!(d.stop().success());
    }
    drop(w);
    let verify = |i: usize| {
        Command::new(TOBIRA)
            .args(["audit", "verify", "--central", "--data-dir", data[i].to_str().unwrap(), "--config"])
            .arg(dirs[i].path().join("site.toml"))
            .output()
            .unwrap()
    };
    for i in 0..3 {
        let o = verify(i);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("the centre's witness countersigned"), "{}", text(&o));
    }
    // An auditor's offline proof that event 3 of minami-shisho is in the history the witness countersigned.
    let o = Command::new(TOBIRA)
        .args(["audit", "prove", "3", "--central", "--data-dir", data[1].to_str().unwrap(), "--config"])
        .arg(dirs[1].path().join("site.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let proof = keys.path().join("proof.json");
    std::fs::write(&proof, &o.stdout).unwrap();
    let node_key = std::fs::read_to_string(data[1].join("audit-signing.pub")).unwrap();
    let check = |witness: &str| {
        Command::new(TOBIRA)
            .args([
                "audit",
                "check-proof",
                proof.to_str().unwrap(),
                "--node-key",
                node_key.trim(),
                "--witness-key",
                witness,
            ])
            .output()
            .unwrap()
    };
    let o = check(&wpub);
    assert!(o.status.success() && text(&o).contains("countersigned by the centre's witness"), "{}", text(&o));
    let other_witness = "00".repeat(31) + "01";
    assert_eq!(check(&other_witness).status.code(), Some(4), "another witness's key does not vouch for it");
    // …until root rewrites one event of minami-shisho's store and recomputes the chain after it.
    rt.block_on(rewrite_event(&data[1].join("audit.db"), 4));
    let o = verify(1);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("history was rewritten"), "{}", text(&o));
    assert!(verify(0).status.success() && verify(2).status.success(), "the other nodes are untouched");
}
