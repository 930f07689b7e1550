//! Issue 21 §6 end to end, through the real binaries on the simulator: a city's profile (`[regulation]` in the
//! site file) decides who issues a level's grants and who designates operators. Kitaibaraki 000 §7(1): the
//! server room (サーバ設置室) is entered with the system administrator's (管理者) permission — not the data
//! manager's designation of Sendai 003 §13(2); 000 §8(1)-(2): the security officer (セキュリティ責任者)
//! designates operators and registers their data.

use crate::common::*;
use std::process::Output;

/// A successful command's answer: one JSON value per line (a list prints one line per item).
fn lines(o: &Output) -> Vec<serde_json::Value> {
    assert!(o.status.success(), "expected success: {}", text(o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("{}", text(o))))
        .collect()
}

fn json(o: &Output) -> serde_json::Value {
    lines(o).into_iter().next().unwrap_or_else(|| panic!("no answer: {}", text(o)))
}

fn at_door(d: &Running, reader: &str, body: &str) -> serde_json::Value {
    let o = d.tobira(&["--json", "sim", "present", reader, body]);
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(&o)))
}

fn add(d: &Running, id: &str, roles: &str) {
    json(&d.act(
        "takahashi",
        &[
            "--json",
            "person",
            "add",
            id,
            "--name",
            id,
            "--affiliation",
            "市民課",
            "--roles",
            roles,
            "--appointment-end",
            "2027-03-31",
        ],
    ));
}

/// `by` enrolls `who` at the terminal reader t-01 (three captures); returns the answer.
fn enroll_by(d: &Running, by: &str, who: &str) -> serde_json::Value {
    for _ in 0..3 {
        d.present("t01-reader", who);
    }
    json(&d.act(by, &["--json", "enroll", who, "--reader", "t01-reader"]))
}

#[test]
fn kitaibaraki_system_administrator_grants_the_server_room_and_the_person_is_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let site = format!("{}\n[regulation]\npreset = \"kitaibaraki\"   # 北茨城市 訓令第14号\n", demo_site());
    let d = Running::start_with(dir.path(), &site, &[]);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.bootstrap();
    // The system administrator enrolls themselves (bootstrap closes), then registers the others.
    for _ in 0..3 {
        d.present("t01-reader", "takahashi");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    add(&d, "suzuki", "data-manager");
    add(&d, "ono", "security-manager");
    add(&d, "tanaka", "operator");
    add(&d, "ito", "site-administrator");
    for who in ["suzuki", "ono", "ito"] {
        assert_eq!(enroll_by(&d, "takahashi", who)["status"], "approved");
    }
    // 000 §8(1)-(2): the security officer designates the operator and registers the data — directly.
    assert_eq!(enroll_by(&d, "ono", "tanaka")["status"], "approved", "the security officer enrolls directly");

    // 000 §7(1): the data manager's designation is not the server room's permission here…
    refused(
        &d.act("suzuki", &["grant", "add", "tanaka", "--place", "zone:server-room", "--until", "2027-03-31"]),
        "system-administrator",
    );
    let v = at_door(&d, "server-in", "tanaka");
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(false), Some("NO_GRANT")), "{v}");
    // …the system administrator's permission is, and tanaka is admitted at the server-room door.
    let g = json(&d.act(
        "takahashi",
        &["--json", "grant", "add", "tanaka", "--place", "zone:server-room", "--until", "2027-03-31"],
    ));
    assert!(g["grant"].is_string(), "{g}");
    let list = lines(&d.tobira(&["--json", "grant", "list", "--holder", "tanaka"]));
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["issuer_role"], "system-administrator", "{list:?}");
    let v = at_door(&d, "server-in", "tanaka");
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(true), Some("GRANT_VALID")), "{v}");
    let _ = d.tobira(&["sim", "walk", "server-door"]);
    let ev = lines(&d.act("takahashi", &["--json", "audit", "show", "--kind", "door.enter", "--person", "tanaka"]));
    assert!(
        ev.iter().any(|e| e["outcome"] == "granted" && e["reason"] == "GRANT_VALID"),
        "the admission is on record: {ev:?}"
    );

    // 000 §8(1), §9: terminal authority is the security officer's; the system administrator's L1 grant is
    // refused, and a site administrator's request for it waits for the security officer.
    refused(
        &d.act("takahashi", &["grant", "add", "tanaka", "--place", "terminal:t-01", "--until", "2027-03-31"]),
        "security-manager",
    );
    let r =
        json(&d.act("ito", &["--json", "grant", "add", "tanaka", "--place", "terminal:t-01", "--until", "2027-03-31"]));
    assert_eq!(r["status"], "pending", "{r}");
    assert!(r["next"].as_str().unwrap().contains("security manager"), "{r}");
    let id = r["request"].as_str().unwrap().to_string();
    refused(&d.act("takahashi", &["request", "approve", &id]), "security-manager");
    json(&d.act("ono", &["--json", "request", "approve", &id]));
    let list = lines(&d.tobira(&["--json", "grant", "list", "--holder", "tanaka"]));
    let l1: Vec<_> = list.iter().filter(|g| g["place"] == "terminal:t-01").collect();
    assert_eq!(l1.len(), 1, "{list:?}");
    assert_eq!((l1[0]["issuer_role"].as_str(), l1[0]["issued_by"].as_str()), (Some("security-manager"), Some("ono")));
    d.present("t01-reader", "tanaka");
    let o = d.tobira(&["--json", "login", "t-01", "tanaka"]);
    let v: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(&o)));
    assert_eq!(v["reason"], "GRANT_VALID", "{v}");
}

/// 002 §7(11) (Obama): the section's officer checks terminal operation records only with the 電算管理者's
/// approval — one's own section's included, which Sendai's default lets a site administrator read directly.
#[test]
fn obama_own_sections_records_need_the_system_administrators_approval() {
    let dir = tempfile::tempdir().unwrap();
    let site = format!("{}\n[regulation]\npreset = \"obama\"   # 小浜市規則第7号\n", demo_site());
    let d = Running::start_with(dir.path(), &site, &[]);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.bootstrap();
    for _ in 0..3 {
        d.present("t01-reader", "takahashi");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    add(&d, "ito", "site-administrator");
    add(&d, "tanaka", "operator");
    assert_eq!(enroll_by(&d, "takahashi", "ito")["status"], "approved");

    // Own section (市民課), no approval: refused, and the refusal says why.
    refused(&d.act("ito", &["audit", "show", "--person", "tanaka"]), "your own section");
    // The request, approved by the 電算管理者 (system administrator), opens it.
    let r = json(&d.act("ito", &["--json", "request", "view", "--section", "市民課", "--reason", "操作内容の確認"]));
    assert_eq!(r["status"], "pending", "{r}");
    json(&d.act("takahashi", &["--json", "request", "approve", r["request"].as_str().unwrap()]));
    let ev = lines(&d.act("ito", &["--json", "audit", "show", "--person", "tanaka", "--limit", "5"]));
    assert!(!ev.is_empty(), "the approved view returns tanaka's events");
    // The 電算管理者 reads directly (002 §7(1), §7(12)).
    lines(&d.act("takahashi", &["--json", "audit", "show", "--person", "tanaka", "--limit", "1"]));
}
