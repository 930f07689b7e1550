//! Issue 8 end to end, through the real binaries and the simulator: who is acting (their own finger),
//! requests and approvals (003 §5(4), §7), deletion with crypto-erase (000 §8(2)), delegation and its expiry
//! (003 §7(3), 004 §7), alarms (003 §20), periodic review (004 §5(10)), lent viewer IDs (004 §11), viewing
//! recorded and other sections' records approved (002 §7(11)), key rotation (001 §15(4)) — with the
//! refusals and the bad input the issue names.

use crate::common::*;
use std::process::Output;

/// A door's or login's decision: the CLI exits 1 on a denial but still prints it.
fn decision(o: &Output) -> serde_json::Value {
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(o)))
}

/// Bootstrap: takahashi registers and enrolls himself; from then on every act needs a finger.
fn site_with_admin(d: &Running) {
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.bootstrap();
    for _ in 0..3 {
        d.present("t01-reader", "takahashi");
    }
    let v = json(&d.tobira(&["--json", "--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]));
    assert_eq!(v["status"], "approved");
    assert_eq!(
        json(&d.tobira(&["--json", "status"]))["bootstrap"],
        false,
        "bootstrap closes with the first enrolled system administrator"
    );
}

fn add(d: &Running, id: &str, aff: &str, roles: &str) {
    add_person(d, id, aff, roles, "2027-03-31");
}

/// `by` enrolls `who` (three captures at t01-reader); returns the answer.
fn enroll(d: &Running, by: &str, who: &str, body: &str) -> Output {
    for _ in 0..3 {
        d.present("t01-reader", body);
    }
    d.act(by, &["--json", "enroll", who, "--reader", "t01-reader"])
}

fn login(d: &Running, user: &str, body: Option<&str>) -> serde_json::Value {
    if let Some(b) = body {
        d.present("t01-reader", b);
    }
    let o = d.tobira(&["--json", "login", "t-01", user]);
    let _ = d.tobira(&["sim", "clear", "t01-reader"]);
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(&o)))
}

fn csv_rows(path: &std::path::Path) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with("\u{feff}".as_bytes()), "UTF-8 with BOM for Excel");
    // `#` lines at the end carry the node's signed tree head (issue 16 §1(b)), not ledger rows.
    let mut r = csv::ReaderBuilder::new().comment(Some(b'#')).from_reader(&bytes[3..]);
    let headers = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r.records().map(|x| x.unwrap().iter().map(String::from).collect()).collect();
    (headers, rows)
}

#[test]
fn actors_prove_themselves_and_site_administrators_request() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    site_with_admin(&d);

    // No actor, or the wrong finger: refused, nothing changes, the failed proof is audited.
    refused(&d.tobira(&["person", "add", "x", "--name", "x", "--roles", "operator"]), "--actor");
    d.present(ADMIN_READER, "impostor");
    let o = d.tobira(&[
        "--actor",
        "takahashi",
        "--at",
        ADMIN_READER,
        "person",
        "add",
        "x",
        "--name",
        "x",
        "--roles",
        "operator",
    ]);
    refused(&o, "not takahashi's");
    let _ = d.tobira(&["sim", "clear", ADMIN_READER]);
    assert_eq!(json(&d.tobira(&["--json", "person", "list"])).as_object().map(|_| 1).unwrap_or(0), 1, "only takahashi");

    add(&d, "ito", "市民課", "site-administrator,operator");
    add(&d, "tanaka", "市民課", "operator");
    add(&d, "sato", "市民課", "operator");
    assert_eq!(json(&enroll(&d, "takahashi", "ito", "ito"))["status"], "approved");
    json(&d.act("takahashi", &["--json", "grant", "add", "tanaka", "--place", "terminal:t-01"]));

    // 003 §7: the site administrator's enrollment is a request; the template matches nothing until approved.
    let v = json(&enroll(&d, "ito", "tanaka", "tanaka"));
    assert_eq!(v["status"], "pending");
    let req = v["request"].as_str().unwrap().to_string();
    assert_eq!(login(&d, "tanaka", Some("tanaka"))["reason"], "NOT_IDENTIFIED", "a pending template never matches");

    // Refusals: approving one's own request; an operator enrolling; a site administrator approving at all.
    refused(&d.act("ito", &["request", "approve", &req]), "system-administrator");
    refused(&enroll(&d, "tanaka", "sato", "sato"), "may not do this");
    let pending = json(&d.tobira(&["--json", "request", "list", "--status", "pending"]));
    assert_eq!(pending["id"], req.as_str(), "exactly the one request is pending: {pending}");

    // Issue 22 §3: the site's first request has a short id, and people may type it short and in lower case.
    assert_eq!(req, "R-0001", "a short id, numbered per site");
    json(&d.act("takahashi", &["--json", "request", "approve", "r-1", "--note", "本人確認済"]));
    assert_eq!(login(&d, "tanaka", Some("tanaka"))["reason"], "GRANT_VALID");
    refused(&d.act("takahashi", &["request", "approve", &req]), "already approved");

    // A palm cannot be enrolled at a fingerprint reader: refused before any capture, naming the reader.
    refused(
        &d.act("takahashi", &["enroll", "sato", "--reader", "t01-reader", "--palm", "right"]),
        "t01-reader is a fingerprint reader; palm-vein enrollment needs a palm reader",
    );

    // A duplicate identity blocks an enrollment and raises an alarm.
    refused(&enroll(&d, "ito", "sato", "tanaka"), "duplicate identity");
    // The alarm task records it apart from the refusal (alarms::alarm_task): wait for it, as for the notifier.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let alarms = loop {
        let a = json(&d.tobira(&["--json", "alarms"]));
        if !a.as_array().is_some_and(|a| a.is_empty()) || std::time::Instant::now() >= deadline {
            break a;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(alarms["kind"], "enroll.duplicate", "{alarms}");

    // Re-enrollment replaces: the old template is erased, one approved template remains.
    let v = json(&enroll(&d, "takahashi", "tanaka", "tanaka"));
    assert_eq!(v["status"], "approved");
    let shown = json(&d.tobira(&["--json", "person", "show", "tanaka"]));
    let statuses: Vec<&str> =
        shown["templates"].as_array().unwrap().iter().map(|t| t["status"].as_str().unwrap()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == "approved").count(), 1, "{statuses:?}");
    assert!(statuses.contains(&"erased"), "{statuses:?}");

    // The matching-data ledger, parsed back from its CSV: request, approval and re-registration are there.
    let csv = dir.path().join("matching.csv");
    let o = d.act("takahashi", &["ledger", "matching", "--csv", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let (h, rows) = csv_rows(&csv);
    assert_eq!(h, ["年月日時", "区分", "氏名", "利用者ID", "場所", "結果", "照合スコア", "内容"]);
    let kinds: Vec<&str> = rows.iter().filter(|r| r[3] == "tanaka").map(|r| r[1].as_str()).collect();
    for want in ["登録申請", "登録承認", "登録", "利用"] {
        assert!(kinds.contains(&want), "{want} missing from {kinds:?}");
    }
    assert!(rows.iter().any(|r| r[1] == "重複検出" && r[3] == "sato" && r[7].contains("tanaka")), "{rows:?}");
    // Every act names its actor and how they were proved.
    let ev = json(&d.act("takahashi", &["--json", "audit", "show", "--kind", "admin.request.approve"]));
    assert_eq!(ev["actor"], "takahashi");
    assert_eq!(ev["subject"], "tanaka");
    assert_eq!(ev["details"]["proof"]["method"], "finger");
    let fail = json(&d.act("takahashi", &["--json", "audit", "show", "--kind", "admin.actor.failure"]));
    assert_eq!(fail["actor"], "takahashi");
}

#[test]
fn deletion_erases_templates_so_an_old_backup_cannot_be_decrypted() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    site_with_admin(&d);
    add(&d, "ito", "市民課", "site-administrator,operator");
    add(&d, "tanaka", "市民課", "operator");
    json(&enroll(&d, "takahashi", "ito", "ito"));
    json(&enroll(&d, "takahashi", "tanaka", "tanaka"));
    json(&d.act("takahashi", &["--json", "grant", "add", "tanaka", "--place", "terminal:t-01"]));
    assert_eq!(login(&d, "tanaka", Some("tanaka"))["reason"], "GRANT_VALID");
    // At a door tanaka may not open, the finger is still recognised as tanaka's (for the ledger only).
    let at_door = decision(&d.tobira(&["--json", "sim", "present", "server-in", "tanaka"]));
    assert_eq!(at_door["granted"], false);
    assert_eq!(at_door["person"], "tanaka", "control: attribution works before the deletion: {at_door}");

    // A backup taken today, and the key as it is today.
    let backup = dir.path().join("backup.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let reg = d.data.join("registry.db");
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", reg.display())).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("VACUUM INTO '{}'", backup.display()))).execute(&mut c).await.unwrap();
    });
    let old_key = std::fs::read(d.data.join("template.key")).unwrap();
    let open_backup = |key: &[u8]| -> Vec<bool> {
        rt.block_on(async {
            use sqlx::{Connection, Row};
            let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", backup.display())).await.unwrap();
            let rows = sqlx::query("SELECT id, wrapped_key, ciphertext FROM templates WHERE person_id = 'tanaka'")
                .fetch_all(&mut c)
                .await
                .unwrap();
            rows.iter()
                .map(|r| {
                    let sealed = tobira::secrets::crypto::Sealed { wrapped_key: r.get(1), ciphertext: r.get(2) };
                    tobira::secrets::crypto::open_template(key, "tanaka", &r.get::<String, _>(0), &sealed).is_ok()
                })
                .collect()
        })
    };
    assert_eq!(open_backup(&old_key), vec![true], "control: the backup opens with the key of its day");

    // A withdrawn request cannot be approved.
    let r1 = json(&d.act("ito", &["--json", "person", "delete", "tanaka", "--reason", "異動"]))["request"]
        .as_str()
        .unwrap()
        .to_string();
    json(&d.act("ito", &["--json", "request", "withdraw", &r1]));
    refused(&d.act("takahashi", &["request", "approve", &r1]), "withdrawn");
    assert_eq!(login(&d, "tanaka", Some("tanaka"))["reason"], "GRANT_VALID", "nothing happened");

    // 000 §8(2): requested by the site administrator, approved by the system administrator.
    let r2 = json(&d.act("ito", &["--json", "person", "delete", "tanaka", "--reason", "異動 (福祉課)"]))["request"]
        .as_str()
        .unwrap()
        .to_string();
    let v = json(&d.act("takahashi", &["--json", "request", "approve", &r2]));
    assert_eq!(v["applied"]["erased"], 1, "{v}");
    assert_eq!(login(&d, "tanaka", Some("tanaka"))["reason"], "PERSON_INACTIVE");
    // A deleted person's template matches nothing any more, not even for attribution.
    let at_door = decision(&d.tobira(&["--json", "sim", "present", "server-in", "tanaka"]));
    assert_eq!(at_door["granted"], false);
    assert!(at_door["person"].is_null(), "the erased template still matched: {at_door}");
    assert!(json(&d.tobira(&["--json", "grant", "list", "--holder", "tanaka"])).is_array(), "no live grant left");

    // The live key changed; with it the old backup's wrapped key for tanaka no longer opens.
    let new_key = std::fs::read(d.data.join("template.key")).unwrap();
    assert_ne!(old_key, new_key, "the node key was rotated");
    assert_eq!(open_backup(&new_key), vec![false], "an old backup cannot be decrypted for an erased template");
    // Nothing left to open in the live store either.
    rt.block_on(async {
        use sqlx::{Connection, Row};
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=ro", reg.display())).await.unwrap();
        let r = sqlx::query("SELECT status, wrapped_key IS NULL, ciphertext = zeroblob(length(ciphertext)) FROM templates WHERE person_id = 'tanaka'")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(r.get::<String, _>(0), "erased");
        assert!(r.get::<bool, _>(1) && r.get::<bool, _>(2));
    });

    // After a restart everyone else still proves and matches under the rotated key.
    assert!(d.stop().success());
    let d = Running::start(dir.path());
    json(&d.act("takahashi", &["--json", "audit", "show", "--limit", "1"]));
    let ops = d.act("takahashi", &["--json", "ledger", "operators"]);
    let v = json(&ops);
    assert!(v["rows"].as_array().unwrap().iter().any(|r| r["区分"] == "削除" && r["操作者ID"] == "tanaka"), "{v}");
}

#[test]
fn a_crash_between_approval_and_activation_is_finished_at_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start_with(dir.path(), demo_site(), &[("TOBIRA_FAULT", "after-approve")]);
    site_with_admin(&d);
    add(&d, "ito", "市民課", "site-administrator,operator");
    add(&d, "tanaka", "市民課", "operator");
    json(&enroll(&d, "takahashi", "ito", "ito"));
    let req = json(&enroll(&d, "ito", "tanaka", "tanaka"))["request"].as_str().unwrap().to_string();
    let o = d.act("takahashi", &["request", "approve", &req]);
    assert_eq!(o.status.code(), Some(3), "the daemon died mid-approval: {}", text(&o));
    drop(d);

    let d = Running::start(dir.path());
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:30:00+09:00"]);
    let r = json(&d.tobira(&["--json", "request", "list"]));
    assert_eq!(r["id"], req.as_str(), "the one request: {r}");
    assert_eq!(r["status"], "applied", "{r}");
    let t = json(&d.tobira(&["--json", "person", "show", "tanaka"]));
    assert_eq!(t["templates"][0]["status"], "approved");
    let ev = json(&d.act("takahashi", &["--json", "audit", "show", "--kind", "admin.request.applied"]));
    assert_eq!(ev["details"]["resumed"], true, "{ev}");
    json(&d.act("takahashi", &["--json", "grant", "add", "tanaka", "--place", "terminal:t-01"]));
    assert_eq!(login(&d, "tanaka", Some("tanaka"))["reason"], "GRANT_VALID", "the approved template matches");
    let v = verify(&d.data, &[]);
    assert!(v.status.success(), "{}", text(&v));
}

#[test]
fn delegation_returns_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    site_with_admin(&d);
    add(&d, "ito", "市民課", "site-administrator,operator");
    add(&d, "tanaka", "市民課", "operator");
    add(&d, "sato", "市民課", "operator");
    json(&enroll(&d, "takahashi", "ito", "ito"));
    json(&enroll(&d, "takahashi", "tanaka", "tanaka"));

    // 003 §7(3): delegation with validity dates, approved by the system administrator.
    let r =
        json(&d.act("ito", &["--json", "grant", "add", "tanaka", "--place", "terminal:t-01", "--until", "2026-11-25"]));
    assert_eq!(r["status"], "pending");
    assert_eq!(login(&d, "tanaka", None)["reason"], "NO_GRANT", "not before approval");
    json(&d.act("takahashi", &["--json", "request", "approve", r["request"].as_str().unwrap()]));
    let g = json(&d.tobira(&["--json", "grant", "list", "--holder", "tanaka"]));
    assert_eq!(g["issued_by"], "takahashi", "the delegation takes effect in the approver's authority");
    assert_eq!(login(&d, "tanaka", Some("tanaka"))["reason"], "GRANT_VALID");
    // An expired delegation denies (004 §7).
    let _ = d.tobira(&["sim", "clock", "2026-11-26T10:00:00+09:00"]);
    assert_eq!(login(&d, "tanaka", None)["reason"], "GRANT_EXPIRED");

    // 004 §7: without --until the grant ends with the appointment term.
    let r = json(&d.act("ito", &["--json", "grant", "add", "sato", "--place", "terminal:t-01"]));
    json(&d.act("takahashi", &["--json", "request", "approve", r["request"].as_str().unwrap()]));
    let g = json(&d.tobira(&["--json", "grant", "list", "--holder", "sato"]));
    assert_eq!(g["until"], "2027-03-31T15:00:00Z", "the end of 2027-03-31 in JST");

    // Return of operating authority: a request, then revoked on approval.
    let r = json(&d.act("ito", &["--json", "grant", "revoke", g["id"].as_str().unwrap()]));
    assert_eq!(r["status"], "pending");
    json(&d.act("takahashi", &["--json", "request", "approve", r["request"].as_str().unwrap()]));
    assert!(json(&d.tobira(&["--json", "grant", "list", "--holder", "sato"])).is_array(), "returned");

    // A rejection needs a reason and leaves nothing behind.
    let r = json(&d.act("ito", &["--json", "grant", "add", "sato", "--place", "terminal:t-02"]));
    let id = r["request"].as_str().unwrap();
    refused(&d.act("takahashi", &["request", "reject", id, "--note", " "]), "--note");
    json(&d.act("takahashi", &["--json", "request", "reject", id, "--note", "必要性なし"]));
    refused(&d.act("takahashi", &["request", "approve", id]), "rejected");
    assert!(json(&d.tobira(&["--json", "grant", "list", "--holder", "sato"])).is_array());
}

#[test]
fn alarms_review_viewer_ids_viewing_and_key_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notified.jsonl");
    let site = format!(
        // The demo's file ends with its [administration] section: these keys join it.
        "{}review_period_days = 90\nnotify_command = [\"/bin/sh\", \"-c\", \"cat >> '{}'; echo >> '{}'\"]\n",
        demo_site(),
        notes.display(),
        notes.display()
    );
    let d = Running::start_with(dir.path(), &site, &[]);
    site_with_admin(&d);
    add(&d, "yamamoto", "情報政策課", "security-manager");
    add(&d, "ito", "市民課", "site-administrator,operator");
    add(&d, "tanaka", "市民課", "operator");
    for who in ["yamamoto", "ito", "tanaka"] {
        json(&enroll(&d, "takahashi", who, who));
    }
    json(&d.act("takahashi", &["--json", "grant", "add", "tanaka", "--place", "terminal:t-01"]));

    // A forced door: one alarm, one notification, acknowledged by the security manager with a note.
    assert!(d.tobira(&["sim", "force", "server-door"]).status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::read_to_string(&notes).unwrap_or_default().lines().filter(|l| !l.is_empty()).count() < 1 {
        assert!(std::time::Instant::now() < deadline, "the notifier never ran");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let a = json(&d.tobira(&["--json", "alarms"]));
    assert_eq!(a["kind"], "door.alarm.forced");
    let id = a["id"].to_string();
    refused(&d.act("tanaka", &["alarms", "ack", "--note", "x", &id]), "may not do this");
    refused(&d.act("yamamoto", &["alarms", "ack", &id, "--note", ""]), "--note");
    json(&d.act("yamamoto", &["--json", "alarms", "ack", &id, "--note", "現地確認済"]));
    refused(&d.act("yamamoto", &["alarms", "ack", &id, "--note", "again"]), "was acknowledged");
    assert!(json(&d.tobira(&["--json", "alarms"])).as_array().is_some_and(|a| a.is_empty()));
    let _ = d.tobira(&["sim", "close", "server-door"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let notified: Vec<serde_json::Value> = std::fs::read_to_string(&notes)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(notified.len(), 1, "once per alarm: {notified:?}");
    assert_eq!(notified[0]["alarm"]["kind"], "door.alarm.forced");

    // Periodic review: overdue until done; a grant found wrong is revoked; the review is audited.
    assert!(text(&d.tobira(&["check"])).contains("004 §5(10)"));
    let lines = json(&d.act("takahashi", &["--json", "review"]));
    let grant = lines["lines"].as_array().unwrap().iter().find(|l| l["line"] == "grant").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    refused(&d.act("takahashi", &["review", "--complete", "--revoke", "g-nonexistent"]), "no live grant");
    let tpl =
        lines["lines"].as_array().unwrap().iter().find(|l| l["line"] == "template" && l["person"] == "tanaka").unwrap()
            ["id"]
            .as_str()
            .unwrap()
            .to_string();
    json(&d.act(
        "takahashi",
        &["--json", "review", "--complete", "--revoke", &grant, "--revoke", &tpl, "--note", "年次点検"],
    ));
    let shown = json(&d.tobira(&["--json", "person", "show", "tanaka"]));
    assert_eq!(shown["templates"][0]["status"], "erased", "a template found wrong in the review is erased");
    assert!(!text(&d.tobira(&["check"])).contains("004 §5(10)"), "the review is no longer due");
    assert!(json(&d.tobira(&["--json", "grant", "list", "--holder", "tanaka"])).is_array());
    let _ = d.tobira(&["sim", "clock", "2027-03-01T10:00:00+09:00"]);
    assert!(text(&d.tobira(&["check"])).contains("overdue"), "90 days later the review is overdue again");
    let _ = d.tobira(&["sim", "clock", "2026-11-24T11:00:00+09:00"]);

    // Lent viewer IDs, and the ledger parsed back from CSV.
    let loan = json(&d.act(
        "takahashi",
        &[
            "--json",
            "viewer",
            "lend",
            "VIEW-03",
            "--to",
            "監査 花子",
            "--affiliation",
            "監査委員事務局",
            "--purpose",
            "定期監査",
        ],
    ));
    refused(&d.act("takahashi", &["viewer", "lend", "VIEW-03", "--to", "x", "--purpose", "y"]), "already lent");
    json(&d.act("takahashi", &["--json", "viewer", "return", loan["loan"].as_str().unwrap()]));
    let csv = dir.path().join("viewer.csv");
    let html = dir.path().join("viewer.html");
    let o =
        d.act("takahashi", &["ledger", "viewer-ids", "--csv", csv.to_str().unwrap(), "--html", html.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let (h, rows) = csv_rows(&csv);
    assert_eq!(h, ["貸出日時", "閲覧用ID", "氏名", "所属", "用務", "貸出者", "返却日時", "返却確認者"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][1], "VIEW-03");
    assert_eq!(rows[0][2], "監査 花子");
    // The forms name people: who took it back, by name (issue 21 §4).
    assert!(!rows[0][6].is_empty() && rows[0][7] == "高橋 一郎", "{rows:?}");
    assert!(std::fs::read_to_string(&html).unwrap().contains("size: A4 landscape"));

    // 002 §7(11): a site administrator reads their own section; another needs approval; all of it recorded.
    json(&d.act("ito", &["--json", "audit", "show", "--person", "tanaka", "--limit", "1"]));
    refused(&d.act("ito", &["audit", "show", "--person", "yamamoto"]), "approval");
    let r = json(&d.act("ito", &["--json", "request", "view", "--section", "情報政策課", "--reason", "警報の確認"]));
    json(&d.act("takahashi", &["--json", "request", "approve", r["request"].as_str().unwrap()]));
    json(&d.act("ito", &["--json", "audit", "show", "--person", "yamamoto", "--limit", "1"]));
    let views = json(&d.act("takahashi", &["--json", "audit", "show", "--kind", "audit.view", "--limit", "100"]));
    assert!(views.as_array().unwrap().iter().any(|v| v["actor"] == "ito" && v["subject"] == "yamamoto"), "{views}");

    // Key rotation: a new key, the same templates, the audit history untouched.
    let before = std::fs::read(d.data.join("template.key")).unwrap();
    let v = json(&d.act("takahashi", &["--json", "key", "rotate"]));
    assert_eq!(v["rewrapped"], 3, "takahashi, yamamoto, ito (tanaka's was erased in the review): {v}");
    assert_ne!(before, std::fs::read(d.data.join("template.key")).unwrap());
    let data = d.data.clone();
    assert!(d.stop().success());
    let v = verify(&data, &[]);
    assert!(v.status.success(), "{}", text(&v));

    // Bad key files are refused at start with the fix.
    use std::os::unix::fs::PermissionsExt;
    let key = data.join("template.key");
    let start_fails_saying = |want: &str| {
        let o = std::process::Command::new(TOBIRAD)
            .args(["--config", dir.path().join("site.toml").to_str().unwrap(), "--data-dir", data.to_str().unwrap()])
            .arg("--simulation")
            .output()
            .unwrap();
        assert!(!o.status.success());
        assert!(text(&o).contains(want), "{}", text(&o));
    };
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    start_fails_saying("chmod 600");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let good = std::fs::read(&key).unwrap();
    std::fs::write(&key, &good[..16]).unwrap();
    start_fails_saying("16 bytes");
    // Another site's key of the right size: named as not this registry's key.
    std::fs::write(&key, [7u8; 32]).unwrap();
    start_fails_saying("not the key this registry");
}

#[test]
fn an_alarm_recorded_but_never_raised_is_raised_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    assert!(d.tobira(&["sim", "force", "server-door"]).status.success());
    let wait_alarm = |d: &Running| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let a = json(&d.tobira(&["--json", "alarms"]));
            if a["kind"] == "door.alarm.forced" {
                return a;
            }
            assert!(std::time::Instant::now() < deadline, "no alarm: {a}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let first = wait_alarm(&d);
    assert!(d.stop().success());
    // The daemon died after the audit append and before the alarm task recorded it: the alarm row is gone.
    let reg = dir.path().join("data/registry.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", reg.display())).await.unwrap();
        sqlx::query("DELETE FROM alarms").execute(&mut c).await.unwrap();
        sqlx::query("DELETE FROM meta WHERE key = 'alarm_scan_seq'").execute(&mut c).await.unwrap();
    });
    let d = Running::start(dir.path());
    let again = wait_alarm(&d);
    assert_eq!(again["audit_seq"], first["audit_seq"], "the same audit event, raised once more");
    let all = json(&d.tobira(&["--json", "alarms", "--all"]));
    assert!(all.is_object(), "exactly one alarm, not one per start: {all}");
    drop(d);
    let d = Running::start(dir.path());
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(json(&d.tobira(&["--json", "alarms", "--all"])).is_object(), "a restart does not raise it twice");
}
