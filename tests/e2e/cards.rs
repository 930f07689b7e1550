//! Card (or ID) + finger doors (issue 16 §2; 004 §2(9): user ID + biometric), driving the real `tobirad`
//! with the server room's door controller on OSDP: libosdp's peripheral device on a pseudo-terminal under
//! Secure Channel, whose card reader and keypad send osdp_RAW and osdp_KEYPAD to the daemon's control panel.
//! The card names who claims to be at the door; the finger that follows is compared 1:1 with that person's
//! templates only — someone else allowed at the door is refused with another's card, which 1:N would have
//! admitted. Cards are issued by the system administrator (003 §14(2)); the number is never on record in
//! clear.

use crate::common::{Running, demo_site, text};
use std::time::{Duration, Instant};

const KEY_HEX: &str = "944b8eddcbaa2b5fe2b0148d1b2f95c9";
const TANAKA_CARD: u32 = 12_345_678;
const SATO_ID: &str = "87654321";
const UNKNOWN_CARD: u32 = 99_999_999;

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// `body`'s finger at the server room's entry reader; the door's decision.
fn present(d: &Running, body: &str) -> serde_json::Value {
    json(&d.tobira(&["--json", "sim", "present", "server-in", body]))
}

fn events(d: &Running, kind: &str) -> Vec<serde_json::Value> {
    let o = d.act("takahashi", &["--json", "audit", "show", "--kind", kind]);
    assert!(o.status.success(), "audit show: {}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// Waits until `kind` events satisfying `ok` number `n`; returns the newest.
fn await_event(d: &Running, kind: &str, n: usize, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let got: Vec<_> = events(d, kind).into_iter().filter(|e| ok(e)).collect();
        if got.len() >= n {
            return got[got.len() - 1].clone();
        }
        assert!(Instant::now() < deadline, "no {n}th {kind} event: {got:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn accepted(e: &serde_json::Value) -> bool {
    e["reason"] == "CARD_ACCEPTED"
}

/// The demo site with the server door on card + finger and its controller on OSDP (the PD returned).
fn start(dir: &std::path::Path) -> (Running, tobira_drivers::osdp::sim::SimOsdpHandle, std::os::fd::OwnedFd) {
    use std::os::unix::fs::PermissionsExt;
    let link = dir.join("ttyRS485-server");
    let key_file = dir.join("server-ctl.key");
    std::fs::write(&key_file, format!("{KEY_HEX}\n")).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = tobira_drivers::osdp::load_key(&key_file).unwrap();
    let (master, slave, path) = tobira_drivers::pty::open_pty().unwrap();
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let pd = tobira_drivers::osdp::sim::spawn(std::fs::File::from(master), 1, key).unwrap();
    let ctl =
        "id = \"server-ctl\"\nkind = \"sim\"                      # sim | osdp (port = \"/dev/ttyUSB0\", address = 1)";
    let door = "rex = true                        # a request-to-exit button inside";
    assert!(demo_site().contains(ctl) && demo_site().contains(door), "the demo's server stanzas changed");
    let site = demo_site()
        .replace(
            ctl,
            &format!(
                "id = \"server-ctl\"\nkind = \"osdp\"\nport = \"{}\"\naddress = 1\nkey_file = \"{}\"",
                link.display(),
                key_file.display()
            ),
        )
        .replacen(door, "rex = true\nauth = \"card+biometric\"", 1);
    (Running::start_with(dir, &site, &[]), pd, slave)
}

#[test]
fn a_card_door_admits_the_card_holders_finger_only_and_refuses_unknown_cards_and_lapsed_cards() {
    let dir = tempfile::tempdir().unwrap();
    let (d, pd, _slave) = start(dir.path());
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.staff(&[("suzuki", "data-manager"), ("tanaka", "operator"), ("sato", "operator")]);
    // Both operators may enter the server room (003 §13(2): the data manager grants Level 2).
    for who in ["tanaka", "sato"] {
        let o = d.act("suzuki", &["grant", "add", who, "--place", "zone:server-room"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    // 003 §14(2): the system administrator issues IDs; the data manager may not.
    let o = d.act("suzuki", &["card", "add", "tanaka", &TANAKA_CARD.to_string()]);
    assert!(!o.status.success(), "a data manager issued a card: {}", text(&o));
    let o = d.act("takahashi", &["--json", "card", "add", "tanaka", &TANAKA_CARD.to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(json(&o)["card"], "…5678");
    let o = d.act("takahashi", &["card", "add", "sato", SATO_ID]);
    assert!(o.status.success(), "{}", text(&o));
    let o = d.act("takahashi", &["card", "add", "sato", &TANAKA_CARD.to_string()]);
    assert!(!o.status.success(), "one card, two holders: {}", text(&o));
    let issued = events(&d, "admin.card.add");
    assert_eq!(issued.len(), 2, "{issued:?}");
    assert_eq!(issued[0]["subject"], "tanaka");
    assert_eq!(issued[0]["details"]["card"], "…5678");

    // The controller online under Secure Channel, seen by the daemon.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(pd.state().online && pd.state().secure) {
        assert!(Instant::now() < deadline, "the controller never came online under Secure Channel");
        std::thread::sleep(Duration::from_millis(50));
    }
    await_event(&d, "device.online", 1, |_| true);

    // A finger without a card: refused unmatched, however allowed the finger's owner is.
    let v = present(&d, "tanaka");
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(false), Some("CARD_REQUIRED")), "{v}");
    // A refusal sends no strike: its report has the decision's latency and no acknowledgement.
    assert!(v["latency_us"].is_u64() && v.get("acknowledged_us").is_none(), "{v}");

    // Right card + right finger: admitted, the strike pulsed on the device.
    pd.card(TANAKA_CARD.to_be_bytes().to_vec());
    await_event(&d, "door.card", 1, accepted);
    let v = present(&d, "tanaka");
    assert_eq!(v["granted"], true, "{v}");
    // The report keeps the decision (unlock command issued, audit commit included) apart from the
    // controller's acknowledgement of the strike, which comes after it (`tobira-bench door` reports both).
    let (issued, acked) = (v["latency_us"].as_u64(), v["acknowledged_us"].as_u64());
    assert!(matches!((issued, acked), (Some(i), Some(a)) if a >= i), "{v}");
    let deadline = Instant::now() + Duration::from_secs(2);
    while pd.state().last_pulse.is_none() {
        assert!(Instant::now() < deadline, "the strike pulse never reached the device");
        std::thread::sleep(Duration::from_millis(5));
    }

    // Right card + another allowed person's finger: refused — 1:1 against the card holder only (1:N among
    // those allowed would have admitted sato).
    pd.card(TANAKA_CARD.to_be_bytes().to_vec());
    await_event(&d, "door.card", 2, accepted);
    let v = present(&d, "sato");
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(false), Some("NOT_IDENTIFIED")), "{v}");
    let refused = await_event(&d, "door.enter", 1, |e| e["details"]["card_claims"] == "tanaka");
    assert!(refused["subject"].is_null(), "a card's claim is not an identification: {refused}");
    assert_eq!(refused["details"]["reader_run"]["unidentified_in_a_row"], 1, "{refused}");

    // An unknown card: its own reason, and one more unidentified attempt at the reader.
    pd.card(UNKNOWN_CARD.to_be_bytes().to_vec());
    let e = await_event(&d, "door.enter", 1, |e| e["reason"] == "UNKNOWN_CARD");
    assert_eq!(e["details"]["card"], "…9999", "{e}");
    assert_eq!(e["details"]["reader_run"]["unidentified_in_a_row"], 2, "{e}");

    // An ID on the keypad instead of the card, then the finger: admitted.
    pd.keypad(&format!("{SATO_ID}#"));
    let e = await_event(&d, "door.card", 1, |e| accepted(e) && e["details"]["via"] == "keypad");
    assert_eq!(e["subject"], "sato");
    let v = present(&d, "sato");
    assert_eq!(v["granted"], true, "{v}");

    // A card and no finger: the claim lapses after capture_timeout_s (15 s) with its own reason, once, and
    // the next finger needs a card again.
    pd.card(TANAKA_CARD.to_be_bytes().to_vec());
    await_event(&d, "door.card", 4, accepted);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T11:00:00+09:00"]);
    let e = await_event(&d, "door.enter", 1, |e| e["reason"] == "FINGER_TIMEOUT");
    assert_eq!(e["details"]["card_claims"], "tanaka", "{e}");
    let v = present(&d, "tanaka");
    assert_eq!(v["reason"], "CARD_REQUIRED", "the lapsed card claims nobody any more: {v}");

    // Withdrawn: the card names nobody.
    let o = d.act("takahashi", &["card", "remove", &TANAKA_CARD.to_string(), "--reason", "lost"]);
    assert!(o.status.success(), "{}", text(&o));
    pd.card(TANAKA_CARD.to_be_bytes().to_vec());
    await_event(&d, "door.enter", 2, |e| e["reason"] == "UNKNOWN_CARD");

    // The numbers are nowhere in clear: not in the audit store, not in the registry.
    drop(d);
    for f in ["audit.db", "audit.db-wal", "registry.db", "registry.db-wal"] {
        let bytes = std::fs::read(dir.path().join("data").join(f)).unwrap_or_default();
        let hay = String::from_utf8_lossy(&bytes);
        for n in [TANAKA_CARD.to_string(), SATO_ID.to_string(), UNKNOWN_CARD.to_string()] {
            assert!(!hay.contains(&n), "card number {n} in clear in {f}");
        }
    }
}

/// `tobira sim card` on the simulated controller (no OSDP): what an administrator tries on a test site before
/// wiring a reader. The card is answered at once (`CARD_ACCEPTED`, or `UNKNOWN_CARD`), the holder's finger then
/// opens the door, and a door that takes no cards refuses the command instead of ignoring the card.
#[test]
fn sim_card_on_a_simulated_controller_claims_for_the_holders_finger() {
    let dir = tempfile::tempdir().unwrap();
    let door = "rex = true                        # a request-to-exit button inside";
    assert!(demo_site().contains(door), "the demo's server-door stanza changed");
    let site = demo_site().replacen(door, "rex = true\nauth = \"card+biometric\"", 1);
    let d = Running::start_with(dir.path(), &site, &[]);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.staff(&[("suzuki", "data-manager"), ("tanaka", "operator")]);
    assert!(d.act("suzuki", &["grant", "add", "tanaka", "--place", "zone:server-room"]).status.success());
    assert!(d.act("takahashi", &["card", "add", "tanaka", &TANAKA_CARD.to_string()]).status.success());
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:10:00+09:00"]);

    let o = d.tobira(&["--json", "sim", "card", "server-door", &TANAKA_CARD.to_string()]);
    assert!(o.status.success(), "a card read is a step, not a refusal: {}", text(&o));
    let v = json(&o);
    assert_eq!((v["reason"].as_str(), v["person"].as_str()), (Some("CARD_ACCEPTED"), Some("tanaka")), "{v}");
    let v = present(&d, "tanaka");
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(true), Some("GRANT_VALID")), "{v}");

    let o = d.tobira(&["--json", "sim", "card", "server-door", &UNKNOWN_CARD.to_string()]);
    let v = json(&o);
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(false), Some("UNKNOWN_CARD")), "{v}");
    assert!(!text(&o).contains(&UNKNOWN_CARD.to_string()), "the number is never shown: {}", text(&o));

    let o = d.tobira(&["sim", "card", "media-door", &TANAKA_CARD.to_string()]);
    assert!(!o.status.success() && text(&o).contains("card+biometric"), "{}", text(&o));
    let o = d.tobira(&["sim", "card", "server-door", "12-34"]);
    assert!(!o.status.success() && text(&o).contains("カード番号"), "{}", text(&o));
}
