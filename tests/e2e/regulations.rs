//! Issue 21 end to end, through the real binaries on the simulator: an appointment's end ends every
//! authority, not only doors and logins (004 §7, 000 §8(2)); every refused administrative act or record view
//! is recorded, and the ones beyond the asker's authority are incidents for the security manager (002 §7(11),
//! 001 §10, 003 §20); an escort stays with the vendor (003 §13(4), 002 §5-4); the ledgers carry what the
//! articles ask (000 Forms 1–2, 003 §14(2)); the media register (003 §11).

use crate::common::*;
use std::process::Output;

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "expected success: {}", text(o));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<serde_json::Value> =
        out.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect();
    serde_json::Value::Array(lines)
}

fn enroll(d: &Running, who: &str) {
    for _ in 0..3 {
        d.present("t01-reader", who);
    }
    let v = json(&d.act("takahashi", &["--json", "enroll", who, "--reader", "t01-reader"]));
    assert_eq!(v[0]["status"], "approved", "{v}");
}

/// The refusals recorded so far, as `audit show` gives them to the system administrator.
fn refusals(d: &Running) -> Vec<serde_json::Value> {
    json(&d.act("takahashi", &["--json", "audit", "show", "--kind", "admin.refused", "--limit", "100"]))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn open_alarms(d: &Running) -> Vec<serde_json::Value> {
    json(&d.tobira(&["--json", "alarms"])).as_array().cloned().unwrap_or_default()
}

#[test]
fn r21_authority_ends_with_the_appointment_and_refusals_are_on_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.bootstrap();
    enroll(&d, "takahashi");
    // ito's appointment ends on 30 November; suzuki (the data manager) and yamamoto too; tanaka stays.
    add_person(&d, "ito", "市民課", "site-administrator,operator", "2026-11-30");
    add_person(&d, "suzuki", "情報政策課", "data-manager", "2026-11-30");
    add_person(&d, "tanaka", "市民課", "operator", "2027-03-31");
    add_person(&d, "kato", "市民課", "operator", "2027-03-31");
    for who in ["ito", "suzuki", "tanaka"] {
        enroll(&d, who);
    }
    // While in office: the data manager grants the server room (003 §13(2)); the site administrator files a
    // request (003 §7).
    json(
        &d.act("suzuki", &["--json", "grant", "add", "tanaka", "--place", "zone:server-room", "--until", "2027-03-31"]),
    );
    for _ in 0..3 {
        d.present("t01-reader", "kato");
    }
    let v = json(&d.act("ito", &["--json", "enroll", "kato", "--reader", "t01-reader"]));
    assert_eq!(v[0]["status"], "pending", "{v}");
    let alarms_before = open_alarms(&d).len();

    // A role one lacks: refused and recorded, not an incident (a mistake, not a violation).
    refused(&d.act("tanaka", &["grant", "add", "kato", "--place", "terminal:t-01"]), "may not do this");
    let r = refusals(&d);
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(r[0]["actor"], "tanaka");
    assert_eq!(r[0]["outcome"], "denied");
    assert_eq!(r[0]["reason"], "ADMIN_REFUSED");
    assert_eq!(r[0]["details"]["request"], "grant.add");
    assert!(r[0]["details"]["message"].as_str().unwrap().contains("may not do this"), "{r:?}");
    assert_eq!(open_alarms(&d).len(), alarms_before, "a missing role raises no alarm");

    // 002 §7(11): another section's operation history without approval — refused, recorded, an incident.
    refused(&d.act("ito", &["audit", "show", "--person", "suzuki"]), "approval");
    let r = refusals(&d);
    let view = r.iter().find(|e| e["details"]["request"] == "audit.show").expect("the refused view is recorded");
    assert_eq!(view["actor"], "ito");
    assert_eq!(view["reason"], "ADMIN_FORBIDDEN");
    assert_eq!(view["outcome"], "alarm");
    let alarms = open_alarms(&d);
    assert_eq!(alarms.len(), alarms_before + 1, "{alarms:?}");
    assert!(alarms.iter().any(|a| a["kind"] == "admin.refused" && a["reason"] == "ADMIN_FORBIDDEN"), "{alarms:?}");

    // 30 November, the last day of ito's and suzuki's appointments: still in office through that day.
    let _ = d.tobira(&["sim", "clock", "2026-11-30T23:50:00+09:00"]);
    let o = d.tobira(&["--json", "check"]);
    assert!(!text(&o).contains("appointment ended"), "nobody's appointment has ended yet: {}", text(&o));

    // 1 December: their authority has ended for every act (004 §7).
    let _ = d.tobira(&["sim", "clock", "2026-12-01T09:00:00+09:00"]);
    for _ in 0..3 {
        d.present("t01-reader", "kato");
    }
    refused(&d.act("ito", &["enroll", "kato", "--reader", "t01-reader"]), "004 §7");
    refused(
        &d.act("suzuki", &["grant", "add", "kato", "--place", "zone:server-room", "--until", "2027-03-31"]),
        "004 §7",
    );
    let r = refusals(&d);
    let ended: Vec<_> = r
        .iter()
        .filter(|e| e["reason"] == "ADMIN_FORBIDDEN" && e["details"]["message"].as_str().unwrap().contains("004 §7"))
        .collect();
    assert_eq!(ended.len(), 2, "both ended appointments' attempts are recorded as incidents: {r:?}");
    assert_eq!(open_alarms(&d).len(), alarms_before + 3);

    // `tobira check` names who is past their appointment and still holds something, and the grant whose
    // issuer's authority has ended; the site administrators are counted among those in office (none now).
    let o = d.tobira(&["--json", "check"]);
    assert!(!o.status.success(), "check must report: {}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    let warnings = report["warnings"].clone();
    let w: Vec<&str> = warnings.as_array().unwrap().iter().filter_map(|w| w.as_str()).collect();
    assert!(
        w.iter().any(|w| w.starts_with("ito's appointment ended on 2026-11-30") && w.contains("matching data")),
        "{w:?}"
    );
    assert!(w.iter().any(|w| w.starts_with("suzuki's appointment ended") && w.contains("data-manager")), "{w:?}");
    assert!(!w.iter().any(|w| w.starts_with("tanaka's appointment")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("issued by suzuki, whose authority has ended")), "{w:?}");
    assert!(w.iter().any(|w| w.contains("has 0 site administrator(s)")), "{w:?}");
}

/// The system administrator registers `id` with a name of its own (the forms must show names, not IDs).
fn add_named(d: &Running, id: &str, name: &str, affiliation: &str, roles: &str) {
    json(&d.act(
        "takahashi",
        &[
            "--json",
            "person",
            "add",
            id,
            "--name",
            name,
            "--affiliation",
            affiliation,
            "--roles",
            roles,
            "--appointment-end",
            "2027-03-31",
        ],
    ));
}

fn clock(d: &Running, local: &str) {
    let o = d.tobira(&["sim", "clock", &format!("{local}+09:00")]);
    assert!(o.status.success(), "{}", text(&o));
}

/// A simulated finger at a door reader: the door's decision.
fn at_door(d: &Running, reader: &str, body: &str) -> serde_json::Value {
    json(&d.tobira(&["--json", "sim", "present", reader, body]))[0].clone()
}

/// Waits (the alarm task runs beside the door) until an open alarm of `kind` about `subject` is listed.
fn wait_alarm(d: &Running, kind: &str, subject: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(a) = open_alarms(d).into_iter().find(|a| a["kind"] == kind && a["subject"] == subject) {
            return a;
        }
        assert!(std::time::Instant::now() < deadline, "no {kind} alarm about {subject}: {:?}", open_alarms(d));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn check_warnings(d: &Running) -> Vec<String> {
    let o = d.tobira(&["--json", "check"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    v["warnings"].as_array().unwrap().iter().filter_map(|w| w.as_str().map(String::from)).collect()
}

/// The staff of the escort and ledger tests: the data manager, two escorting operators with the server room,
/// a site administrator, the vendor; everyone enrolled.
fn escort_site(d: &Running) {
    clock(d, "2026-11-24T08:30:00");
    d.bootstrap();
    enroll(d, "takahashi");
    add_named(d, "suzuki", "鈴木 花子", "市民課", "data-manager");
    add_named(d, "tanaka", "田中 太郎", "市民課", "operator");
    add_named(d, "sato", "佐藤 美咲", "市民課", "operator");
    add_named(d, "abe", "阿部 浩二", "保守株式会社", "vendor");
    for who in ["suzuki", "tanaka", "sato", "abe"] {
        enroll(d, who);
    }
    for who in ["tanaka", "sato"] {
        json(
            &d.act("suzuki", &["--json", "grant", "add", who, "--place", "zone:server-room", "--until", "2027-03-31"]),
        );
    }
    json(&d.visit(
        As::Proved("takahashi"),
        "2026-11-24T09:00",
        "2026-11-24T17:00",
        "tanaka,sato",
        &["--media", "保守用ノートPC", "--json"],
    ));
}

/// 003 §13(4), 002 §5-4, 003 §20: the escort who leaves first leaves the vendor alone — an incident for the
/// security manager, in `tobira check` while it lasts, and on both rows of the entry/exit ledger; the vendor
/// leaves through the exit reader like anyone else. 000 §7(2): the devices declared at entry and exit, their
/// difference flagged and alarmed.
#[test]
fn art_003_13_4_escort_stays_with_the_vendor() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    escort_site(&d);
    // 000 §7(2): what abe actually brings in, declared at the terminal by the system administrator: an
    // unapproved USB stick among it. An operator (the escort) may not declare it — refused and recorded.
    refused(&d.act("tanaka", &["visit", "media-in", "abe", "--media", "保守用ノートPC"]), "may not do this");
    assert!(refusals(&d).iter().any(|r| r["details"]["request"] == "visit.media" && r["actor"] == "tanaka"));
    let v = json(&d.act("takahashi", &["--json", "visit", "media-in", "abe", "--media", "保守用ノートPC,USBメモリ"]));
    assert_eq!(v[0]["findings"][0], "未承認の持込: USBメモリ (000 §7(2))", "{v}");
    wait_alarm(&d, "visit.media.mismatch", "abe");

    clock(&d, "2026-11-24T10:00:00");
    assert_eq!(at_door(&d, "server-in", "tanaka")["reason"], "GRANT_VALID");
    assert_eq!(at_door(&d, "server-in", "abe")["reason"], "VENDOR_ESCORTED");
    assert!(!check_warnings(&d).iter().any(|w| w.contains("without an escort")), "escorted while tanaka is in");

    // tanaka leaves first: the exit is recorded (egress is never held back), the escort is told, and the
    // security manager gets an incident naming the vendor.
    clock(&d, "2026-11-24T10:20:00");
    let r = at_door(&d, "server-out", "tanaka");
    assert_eq!((r["granted"].as_bool(), r["reason"].as_str()), (Some(true), Some("EXIT_RECORDED")), "{r}");
    assert!(r["message"].as_str().unwrap().contains("abe (阿部 浩二) in サーバ室"), "{r}");
    let a = wait_alarm(&d, "door.alarm.unescorted", "abe");
    assert_eq!((a["reason"].as_str(), a["place"].as_str()), (Some("ESCORT_LEFT_FIRST"), Some("server-door")), "{a}");
    let w = check_warnings(&d);
    assert!(
        w.iter().any(|w| w.starts_with("vendor abe (阿部 浩二) is inside サーバ室") && w.contains("tanaka, sato")),
        "{w:?}"
    );
    let incident = json(&d.act("takahashi", &["--json", "audit", "show", "--kind", "door.alarm.unescorted"]));
    let e = &incident[0];
    assert_eq!((e["actor"].as_str(), e["subject"].as_str()), (Some("tanaka"), Some("abe")), "{incident}");
    assert_eq!(e["article"], "003 §13(4), 002 §5-4, 003 §20");

    // sato goes in: abe is escorted again, and check says nothing more about it.
    clock(&d, "2026-11-24T10:25:00");
    assert_eq!(at_door(&d, "server-in", "sato")["reason"], "GRANT_VALID");
    assert!(!check_warnings(&d).iter().any(|w| w.contains("without an escort")));
    // The vendor leaves through the exit reader like anyone else; the escort leaving after raises nothing.
    clock(&d, "2026-11-24T11:00:00");
    let r = at_door(&d, "server-out", "abe");
    assert_eq!((r["granted"].as_bool(), r["reason"].as_str()), (Some(true), Some("EXIT_RECORDED")), "{r}");
    let r = at_door(&d, "server-out", "sato");
    assert_eq!(r["reason"], "EXIT_RECORDED");
    assert!(!r["message"].as_str().unwrap().contains("without an escort"), "{r}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let unescorted: Vec<_> = open_alarms(&d).into_iter().filter(|a| a["kind"] == "door.alarm.unescorted").collect();
    assert_eq!(unescorted.len(), 1, "one incident, by the exit that caused it: {unescorted:?}");
    // 000 §7(2): at the exit the laptop goes out, the USB stick does not.
    let v = json(&d.act("takahashi", &["--json", "visit", "media-out", "abe", "--media", "保守用ノートPC"]));
    assert!(v[0]["findings"].as_array().unwrap().iter().any(|f| f == "持込のみ・持出なし: USBメモリ"), "{v}");

    // The entry/exit ledger (000 Form 1): the name tag, places by name, the declarations and the incident, on
    // the vendor's row and the escort's.
    let l = json(&d.act("takahashi", &["--json", "ledger"]));
    let rows = l[0]["rows"].as_array().unwrap().clone();
    // Simulated time runs on from each `sim clock`: a time is checked to the minute.
    let row = |name: &str, at: &str| {
        rows.iter()
            .find(|r| r["氏名"] == name && r["入室時刻"].as_str().unwrap().starts_with(at))
            .unwrap_or_else(|| panic!("{name} {at}: {rows:?}"))
    };
    let minute = |v: &serde_json::Value| v.as_str().unwrap().get(..5).unwrap_or("").to_string();
    let abe = row("阿部 浩二", "10:00:");
    assert_eq!(abe["名札"], "V-017");
    assert_eq!(abe["所属"], "保守株式会社");
    assert_eq!(abe["入室場所"], "サーバ室");
    assert_eq!(minute(&abe["退室時刻"]), "11:00");
    assert_eq!(abe["持込機器・媒体"], "保守用ノートPC、USBメモリ");
    assert_eq!(abe["持出機器・媒体"], "保守用ノートPC");
    assert_eq!(abe["立会者"], "田中 太郎");
    assert_eq!(abe["承認者"], "高橋 一郎");
    let notes = abe["備考"].as_str().unwrap();
    for want in ["未承認の持込: USBメモリ", "持込のみ・持出なし: USBメモリ", "付添者 田中 太郎 が先に退室 10:20:"]
    {
        assert!(notes.contains(want), "{want}: {notes}");
    }
    let tanaka = row("田中 太郎", "10:00:");
    assert_eq!(minute(&tanaka["退室時刻"]), "10:20");
    assert!(tanaka["備考"].as_str().unwrap().contains("保守業者 阿部 浩二 を残して退室"), "{tanaka}");
    assert_eq!(tanaka["名札"], "", "staff wear no visitor's tag");
    let sato = row("佐藤 美咲", "10:25:");
    assert_eq!(sato["備考"], "", "{sato}");
    assert_eq!(l[0]["columns"].as_array().unwrap().len(), tobira_ledger::ENTRY_EXIT_COLUMNS.len());
}

/// 003 §13(4), 003 §13, 003 §20 across restarts: who is inside is rebuilt at start from the node's audit
/// record (strike-acknowledged entries and exits), so after a crash (kill -9) and a clean restart the escort
/// who leaves first still raises the incident, and the people inside are still identified at the exit reader
/// (which looks only among those recorded inside). The restart records what it restored.
#[test]
fn art_003_13_4_the_escort_rule_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    escort_site(&d);
    clock(&d, "2026-11-24T10:00:00");
    assert_eq!(at_door(&d, "server-in", "tanaka")["reason"], "GRANT_VALID");
    assert_eq!(at_door(&d, "server-in", "abe")["reason"], "VENDOR_ESCORTED");
    // sato is let in, and out again, before the crash: not inside after it.
    assert_eq!(at_door(&d, "server-in", "sato")["reason"], "GRANT_VALID");
    assert_eq!(at_door(&d, "server-out", "sato")["reason"], "EXIT_RECORDED");

    // A crash (SIGKILL: no stop event, nothing flushed by hand), then the same node again; the simulated
    // clock goes on from where the scenario was.
    drop(d);
    let d = Running::start_with(dir.path(), demo_site(), &[("TOBIRA_SIM_CLOCK", "2026-11-24T10:10:00+09:00")]);
    let restored = |d: &Running| -> Vec<serde_json::Value> {
        json(&d.act("takahashi", &["--json", "audit", "show", "--kind", "daemon.occupancy", "--limit", "10"]))
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let r = restored(&d);
    assert_eq!(r.len(), 2, "one record per start: {r:?}");
    assert_eq!(r[0]["details"]["people"], 0, "nobody was inside at the first start: {r:?}");
    assert_eq!((r[1]["reason"].as_str(), r[1]["outcome"].as_str()), (Some("OCCUPANCY_RESTORED"), Some("info")));
    let details = &r[1]["details"];
    assert_eq!(details["people"], 2, "{details}");
    assert_eq!(details["zones"][0]["zone"], "server-room", "{details}");
    assert_eq!(details["zones"][0]["name"], "サーバ室");
    assert_eq!(details["zones"][0]["people"], serde_json::json!(["abe", "tanaka"]), "sato left: {details}");
    assert_eq!((details["entries_replayed"].as_u64(), details["exits_replayed"].as_u64()), (Some(3), Some(1)));
    assert!(details["since"].as_str().unwrap().starts_with("2026-11-22T15:00:00"), "the previous local day: {details}");
    assert!(!check_warnings(&d).iter().any(|w| w.contains("without an escort")), "tanaka is still with abe");

    // A clean restart too (SIGTERM): the same occupancy again, recorded again.
    assert!(d.stop().success());
    let d = Running::start_with(dir.path(), demo_site(), &[("TOBIRA_SIM_CLOCK", "2026-11-24T10:15:00+09:00")]);
    let r = restored(&d);
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r[2]["details"]["zones"], r[1]["details"]["zones"], "{r:?}");

    // tanaka leaves first: identified at the exit reader among those inside, and abe is left alone — the
    // incident is raised as it would have been without the restarts.
    clock(&d, "2026-11-24T10:20:00");
    let e = at_door(&d, "server-out", "tanaka");
    assert_eq!(
        (e["granted"].as_bool(), e["reason"].as_str(), e["person"].as_str()),
        (Some(true), Some("EXIT_RECORDED"), Some("tanaka")),
        "{e}"
    );
    assert!(e["message"].as_str().unwrap().contains("abe (阿部 浩二) in サーバ室"), "{e}");
    let a = wait_alarm(&d, "door.alarm.unescorted", "abe");
    assert_eq!((a["reason"].as_str(), a["place"].as_str()), (Some("ESCORT_LEFT_FIRST"), Some("server-door")), "{a}");
    assert!(check_warnings(&d).iter().any(|w| w.starts_with("vendor abe (阿部 浩二) is inside サーバ室")));

    // The vendor is identified at the exit reader too, and leaves like anyone else.
    clock(&d, "2026-11-24T10:30:00");
    let e = at_door(&d, "server-out", "abe");
    assert_eq!((e["reason"].as_str(), e["person"].as_str()), (Some("EXIT_RECORDED"), Some("abe")), "{e}");
    assert!(!check_warnings(&d).iter().any(|w| w.contains("without an escort")));
    // Someone who never went in is not identified at the exit (the exit looks only among those inside).
    let o = d.tobira(&["--json", "sim", "present", "server-out", "sato"]);
    let e: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    assert_eq!((e["granted"].as_bool(), e["reason"].as_str()), (Some(false), Some("NOT_IDENTIFIED")), "{e}");
}

/// The ledgers as an auditor signs them (issue 21 §4): a heading with the site, the period, when and by whom
/// (and the export itself recorded, 002 §7(11)); 和暦 on request; the operator ledger's deletion with its
/// reason and applicant, and names for 実施者 (000 Form 2); the user-ID ledger's review revocation and local
/// validity (003 §14(2), 004 §5(10)).
#[test]
fn r21_ledgers_carry_what_the_forms_ask() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    escort_site(&d);
    add_named(&d, "ito", "伊藤 真理", "市民課", "site-administrator,operator");
    add_named(&d, "kato", "加藤 誠", "市民課", "operator");
    enroll(&d, "ito");
    clock(&d, "2026-11-24T10:00:00");
    assert_eq!(at_door(&d, "server-in", "tanaka")["reason"], "GRANT_VALID");

    // A removal requested by the site administrator with its reason, approved by the system administrator.
    let v = json(&d.act("ito", &["--json", "person", "delete", "kato", "--reason", "人事異動 (福祉課へ)"]));
    let req = v[0]["request"].as_str().unwrap().to_string();
    json(&d.act("takahashi", &["--json", "request", "approve", &req]));
    // The periodic review revokes sato's server-room grant.
    let grants = json(&d.tobira(&["--json", "grant", "list", "--holder", "sato"]));
    let g = grants[0]["id"].as_str().unwrap().to_string();
    json(&d.act("takahashi", &["--json", "review", "--complete", "--revoke", &g, "--note", "年次点検"]));

    let ops = json(&d.act("takahashi", &["--json", "ledger", "operators"]));
    let rows = ops[0]["rows"].as_array().unwrap();
    let del = rows.iter().find(|r| r["区分"] == "削除" && r["操作者ID"] == "kato").expect("the removal");
    let what = del["内容"].as_str().unwrap();
    assert!(what.contains("人事異動 (福祉課へ)") && what.contains(&format!("申請 {req}, 申請者 伊藤 真理")), "{del}");
    assert_eq!(del["実施者"], "高橋 一郎", "a name, not a user ID");
    assert!(rows.iter().all(|r| r["実施者"] != "takahashi"), "{rows:?}");

    let uid = json(&d.act("takahashi", &["--json", "ledger", "user-ids"]));
    let rows = uid[0]["rows"].as_array().unwrap();
    let given = rows.iter().find(|r| r["区分"] == "権限付与" && r["ユーザID"] == "sato").expect("sato's grant");
    assert_eq!(given["権限・内容"], "サーバ室 (data-manager, 〜2027-03-31)", "the local last day: {given}");
    let revoked = rows.iter().find(|r| r["区分"] == "権限取消 (定期点検)").expect("the review's revocation");
    assert_eq!(
        (revoked["ユーザID"].as_str(), revoked["氏名"].as_str()),
        (Some("sato"), Some("佐藤 美咲")),
        "{revoked}"
    );
    assert!(
        revoked["権限・内容"].as_str().unwrap().contains(&format!("{g} サーバ室 (004 §5(10): 年次点検)")),
        "{revoked}"
    );

    // 和暦 on request; the heading names the site, the period, the time and the person who made it.
    clock(&d, "2026-11-24T11:00:00");
    let l = json(&d.act("takahashi", &["--json", "ledger", "--era", "--from", "2026-11-01", "--until", "2026-11-30"]));
    let row = l[0]["rows"].as_array().unwrap().iter().find(|r| r["氏名"] == "田中 太郎").cloned().unwrap();
    assert_eq!(row["日付"], "令和8年11月24日");
    let h = &l[0]["heading"];
    assert_eq!(h["period"], "令和8年11月1日 〜 令和8年11月30日");
    assert_eq!(h["printed_by"], "高橋 一郎 (takahashi)");
    assert!(h["output_at"].as_str().unwrap().starts_with("令和8年11月24日 11:00:"), "{h}");
    assert!(h["text"].as_str().unwrap().starts_with("仙台本庁舎 住基ネット端末室 (sendai-honcho)"), "{h}");
    let (csv, html) = (dir.path().join("入退室管理簿.csv"), dir.path().join("入退室管理簿.html"));
    let o = d.act("takahashi", &["ledger", "--csv", csv.to_str().unwrap(), "--html", html.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let sheet = std::fs::read_to_string(&csv).unwrap();
    assert!(sheet.trim_start_matches('\u{feff}').starts_with(&tobira_ledger::ENTRY_EXIT_COLUMNS.join(",")), "{sheet}");
    assert!(sheet.contains("\r\n#出力者 (made by),高橋 一郎 (takahashi)\r\n"), "{sheet}");
    assert!(sheet.contains("#期間 (period),記録の始め 〜 2026-11-24 (出力時点)"), "{sheet}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("出力者: 高橋 一郎 (takahashi)") && page.contains("<th>名札</th>"), "{page}");
    // The export is itself recorded: who, which ledger, written where (002 §7(11)).
    let seen = json(&d.act("takahashi", &["--json", "audit", "show", "--kind", "audit.ledger"]));
    let export = seen.as_array().unwrap().iter().find(|e| e["reason"] == "LEDGER_EXPORTED").expect("the export");
    assert_eq!(export["actor"], "takahashi");
    assert_eq!(export["details"]["output"], serde_json::json!(["csv", "html"]));
}

/// 003 §11(3)-(6): media taken out (both officers' consent), returned, disposed of (how, witnessed by whom),
/// found faulty — each by the role the regulation names, each refused and recorded for anyone else — and
/// their register (記録媒体管理簿).
#[test]
fn art_003_11_media_register() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    escort_site(&d);
    add_named(&d, "yamamoto", "山本 健", "情報政策課", "security-manager");
    enroll(&d, "yamamoto");
    clock(&d, "2026-11-24T10:00:00");
    let take_out = [
        "--json",
        "media",
        "take-out",
        "DAT-01",
        "--kind",
        "磁気テープ",
        "--records",
        "1200",
        "--to",
        "地方公共団体情報システム機構",
        "--purpose",
        "バックアップ保管",
        "--container",
        "施錠ケース",
        "--due",
        "2026-11-30",
    ];
    // The security manager is not the data manager nor the system administrator (003 §11(3)): refused, recorded.
    refused(&d.act("yamamoto", &take_out), "may not do this");
    // The data manager records it: it waits for the system administrator's consent.
    let v = json(&d.act("suzuki", &take_out));
    assert_eq!(v[0]["status"], "awaiting-consent", "{v}");
    assert!(v[0]["next"].as_str().unwrap().contains("system administrator"), "{v}");
    let id = v[0]["record"].as_str().unwrap().to_string();
    assert_eq!(id, "M-0001");
    refused(&d.act("suzuki", &["media", "consent", &id]), "another person's");
    assert!(check_warnings(&d).iter().any(|w| w.contains("M-0001") && w.contains("awaits the consent")));
    let v = json(&d.act("takahashi", &["--json", "media", "consent", &id]));
    assert_eq!(v[0]["status"], "out", "{v}");
    refused(&d.act("suzuki", &take_out), "already out");
    // Overdue: `tobira check` says so.
    clock(&d, "2026-12-01T09:00:00");
    assert!(check_warnings(&d).iter().any(|w| w.contains("DAT-01") && w.contains("was due back by 2026-11-30")));
    json(&d.act("suzuki", &["--json", "media", "return", &id, "--condition", "封印・本数確認"]));
    assert!(!check_warnings(&d).iter().any(|w| w.contains("DAT-01")));
    refused(&d.act("suzuki", &["media", "return", &id, "--condition", "x"]), "not out");

    // 003 §11(5): disposal, how and witnessed by another person.
    let dispose = |by: &str, witness: &str| {
        d.act(
            by,
            &["--json", "media", "dispose", "USB-07", "--kind", "USBメモリ", "--method", "破砕", "--witness", witness],
        )
    };
    refused(&dispose("suzuki", "suzuki"), "someone other than");
    refused(&dispose("suzuki", "nobody"), "not a registered");
    refused(&dispose("yamamoto", "sato"), "may not do this");
    json(&dispose("suzuki", "sato"));
    // 003 §11(6): the system administrator records faults.
    let fault = ["--json", "media", "fault", "DAT-02", "--kind", "磁気テープ", "--finding", "読取エラー (3箇所)"];
    refused(&d.act("yamamoto", &fault), "may not do this");
    json(&d.act("takahashi", &fault));

    let refusals = refusals(&d);
    for want in ["media.take-out", "media.consent", "media.dispose", "media.fault", "media.return"] {
        assert!(refusals.iter().any(|r| r["details"]["request"] == want), "{want} refusal recorded: {refusals:?}");
    }
    let l = json(&d.act("takahashi", &["--json", "ledger", "media"]));
    let rows = l[0]["rows"].as_array().unwrap();
    let kinds: Vec<&str> = rows.iter().filter_map(|r| r["区分"].as_str()).collect();
    assert_eq!(kinds, ["持出し (承諾待ち)", "持出し承諾", "返却", "廃棄", "障害"], "{rows:?}");
    assert_eq!(rows[0]["記録件数"], "1200");
    assert_eq!(rows[0]["相手方・用途"], "地方公共団体情報システム機構 / バックアップ保管");
    assert_eq!(rows[1]["承諾者・立会者"], "鈴木 花子、高橋 一郎");
    assert_eq!((rows[3]["方法・状況"].as_str(), rows[3]["承諾者・立会者"].as_str()), (Some("破砕"), Some("佐藤 美咲")));
    assert_eq!(rows[4]["実施者"], "高橋 一郎");
    let list = json(&d.tobira(&["--json", "media", "list", "--all"]));
    assert_eq!(list.as_array().unwrap().len(), 3, "take-out, disposal, fault: {list}");
}
