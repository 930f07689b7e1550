//! Issue 22 "Times": every record a person reads from the CLI — grants, a vendor visit, alarms, a refusal that
//! names when something happened, the operation history, requests, the review, the ledgers on the terminal,
//! on paper and in CSV, the offline verification — shows the site's local time with the zone named once,
//! and no UTC/RFC 3339 text (`tobira_cli::local_time::machine_times`); `--json` keeps the wire's RFC 3339.

use crate::common::*;
use std::time::{Duration, Instant};
use tobira_cli::local_time::machine_times;

/// What a person reads from `o` (stdout and stderr), checked for UTC text.
fn read_by_a_person(what: &str, o: &std::process::Output) -> String {
    let t = text(o);
    let utc = machine_times(&t);
    assert!(utc.is_empty(), "`{what}` shows a person UTC text {utc:?}:\n{t}");
    t
}

#[test]
fn every_record_a_person_reads_is_in_the_sites_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.staff(&[("tanaka", "operator"), ("abe", "vendor"), ("ito", "site-administrator")]);

    let o = d.act("takahashi", &["grant", "add", "tanaka", "--place", "terminal:t-01", "--until", "2026-12-31"]);
    let t = read_by_a_person("grant add", &o);
    assert!(t.contains("until: 2026-12-31"), "an end reads as it was typed: {t}");
    let t = read_by_a_person("grant list", &d.tobira(&["grant", "list"]));
    assert!(t.contains("(times in JST (UTC+09:00))") && t.contains("2026-11-24 10:0"), "{t}");

    let o = d.visit(As::Proved("takahashi"), "2026-11-24T09:00", "2026-11-24T17:00", "tanaka", &[]);
    assert!(o.status.success(), "{}", text(&o));
    read_by_a_person("visit", &o);

    // A request filed by the site administrator, decided, then decided again: the refusal says when.
    let r = d.act("ito", &["--json", "grant", "add", "tanaka", "--place", "terminal:t-02", "--until", "2026-12-31"]);
    let r: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&r.stdout).trim()).unwrap();
    let req = r["request"].as_str().unwrap().to_string();
    let t = read_by_a_person("request list", &d.tobira(&["request", "list"]));
    assert!(t.contains(&req), "{t}");
    assert!(d.act("takahashi", &["request", "approve", &req]).status.success());
    let o = d.act("takahashi", &["request", "approve", &req]);
    let t = read_by_a_person("request approve (again)", &o);
    assert!(t.contains("already approved by takahashi at 2026-11-24 10:0") && t.contains(" JST"), "{t}");

    // An alarm: the server-room door forced (003 §20); listed, acknowledged, and acknowledged again.
    assert!(d.tobira(&["sim", "force", "server-door"]).status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let id = loop {
        let o = d.tobira(&["--json", "alarms"]);
        let first = String::from_utf8_lossy(&o.stdout).lines().next().map(String::from);
        if let Some(a) = first.and_then(|l| serde_json::from_str::<serde_json::Value>(&l).ok()) {
            assert!(a["raised_at"].as_str().unwrap().ends_with('Z'), "--json keeps the wire: {a}");
            break a["id"].to_string();
        }
        assert!(Instant::now() < deadline, "the forced door raised no alarm");
        std::thread::sleep(Duration::from_millis(100));
    };
    let t = read_by_a_person("alarms", &d.tobira(&["alarms"]));
    assert!(t.contains("(times in JST (UTC+09:00))"), "{t}");
    assert!(d.act("takahashi", &["alarms", "ack", &id, "--note", "現地確認済"]).status.success());
    read_by_a_person("alarms --all", &d.tobira(&["alarms", "--all"]));
    let t = read_by_a_person("alarms ack (again)", &d.act("takahashi", &["alarms", "ack", &id, "--note", "再"]));
    assert!(t.contains("was acknowledged at 2026-11-24 10:0") && t.contains(" JST by takahashi"), "{t}");

    // The records themselves.
    let t = read_by_a_person("audit show", &d.act("takahashi", &["audit", "show", "--from", "2026-11-24"]));
    assert!(t.contains("admin.visit.add") && t.contains("(times in JST (UTC+09:00))"), "{t}");
    read_by_a_person("review", &d.act("takahashi", &["review"]));
    read_by_a_person("status", &d.tobira(&["status"]));
    let html = dir.path().join("entry.html");
    let csv = dir.path().join("ops.csv");
    let o = d.act("takahashi", &["ledger", "--from", "2026-11-01", "--html", html.to_str().unwrap()]);
    let t = read_by_a_person("ledger --html", &o);
    assert!(t.contains("時刻: JST (UTC+09:00)") && t.contains("signed tree head, 2026-11-24 10:0"), "{t}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(machine_times(&page).is_empty(), "the printed ledger: {:?}", machine_times(&page));
    let o = d.act("takahashi", &["ledger", "operators", "--csv", csv.to_str().unwrap()]);
    read_by_a_person("ledger operators --csv", &o);
    let sheet = String::from_utf8_lossy(&std::fs::read(&csv).unwrap()).to_string();
    // The anchor line is for machines (the signed text); everything else on the sheet is read by people.
    let anchor = sheet.lines().find(|l| l.starts_with("#署名付きツリーヘッド")).unwrap();
    assert!(anchor.contains("Z,signature="), "the signed text kept for a signature check: {anchor}");
    let people: Vec<&str> = sheet.lines().filter(|l| !l.starts_with("#署名付きツリーヘッド")).collect();
    assert!(machine_times(&people.join("\n")).is_empty(), "{sheet}");
    drop(d);
    let o = verify(&dir.path().join("data"), &[]);
    assert!(o.status.success(), "{}", text(&o));
    let t = read_by_a_person("audit verify", &o);
    assert!(t.contains("printed on a ledger at 2026-11-24 10:0") && t.contains(" JST"), "{t}");
}
