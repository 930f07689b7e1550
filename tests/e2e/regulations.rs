//! Issue 21 §1–§2 end to end, through the real binaries on the simulator: an appointment's end ends every
//! authority, not only doors and logins (004 §7, 000 §8(2)); every refused administrative act or record view
//! is recorded, and the ones beyond the asker's authority are incidents for the security manager (002 §7(11),
//! 001 §10, 003 §20).

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
