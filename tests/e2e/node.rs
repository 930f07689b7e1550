//! End-to-end: the real `tobirad` and `tobira` binaries, simulated devices, real stores on disk.

use crate::common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn demo_plays_every_scenario_and_the_audit_verifies() {
    let out = Command::new(TOBIRA).args(["demo", "--tobirad", TOBIRAD.as_str()]).output().unwrap();
    let t = text(&out);
    println!("{t}");
    assert!(out.status.success(), "demo reported unexpected outcomes");
    for want in [
        "入退室管理簿",
        "VENDOR_ESCORTED",
        "NOT_INSIDE_PARENT",
        "LOCKED_OUT",
        "AUDIT_UNAVAILABLE",
        "door.alarm".split('.').next().unwrap(),
        "is intact",
        "right palm enrolled",
        "office-door",
    ] {
        assert!(t.contains(want), "demo output lacks {want}");
    }
}

#[test]
fn malformed_config_is_refused_with_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = demo_site().replacen("level = 2", "level = 7", 1);
    let line = bad.lines().position(|l| l.contains("level = 7")).unwrap() + 1;
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, bad).unwrap();
    let out = Command::new(TOBIRAD)
        .args([
            "--config",
            path.to_str().unwrap(),
            "--data-dir",
            dir.path().join("d").to_str().unwrap(),
            "--init",
            "--simulation",
        ])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(78), "{t}");
    assert!(t.contains(&format!("bad.toml:{line}")), "no file:line in {t}");
    assert!(t.contains("level"), "no field in {t}");
    assert!(!dir.path().join("d").exists(), "a refused start must create nothing");
}

#[test]
fn foreign_or_missing_store_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(&site, demo_site()).unwrap();
    let data = dir.path().join("data");
    // Missing stores without --init: refused, nothing created.
    let out = Command::new(TOBIRAD)
        .args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--simulation"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("--init"), "{}", text(&out));
    assert!(!data.join("registry.db").exists());
    // A foreign file where the registry should be: refused, never recreated. (The data directory is 0700, as
    // tobirad requires: the refusal must be about the stores, not the directory.)
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700).create(&data).unwrap();
    let junk = b"this is not a database, it is someone's spreadsheet".repeat(100);
    std::fs::write(data.join("registry.db"), &junk).unwrap();
    std::fs::write(data.join("audit.db"), &junk).unwrap();
    let out = Command::new(TOBIRAD)
        .args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--simulation", "--init"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("registry.db") || text(&out).contains("audit.db"), "{}", text(&out));
    assert_eq!(std::fs::read(data.join("registry.db")).unwrap(), junk);
    assert_eq!(std::fs::read(data.join("audit.db")).unwrap(), junk);
}

#[test]
fn bad_cli_input_is_refused_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    let ok = d.tobira(&[
        "person",
        "add",
        "takahashi",
        "--name",
        "高橋",
        "--roles",
        "system-administrator",
        "--appointment-end",
        "2027-03-31",
        "--actor",
        "takahashi",
    ]);
    assert!(ok.status.success(), "{}", text(&ok));
    let ok = d.tobira(&[
        "person",
        "add",
        "tanaka",
        "--name",
        "田中",
        "--roles",
        "operator",
        "--appointment-end",
        "2027-03-31",
        "--actor",
        "takahashi",
    ]);
    assert!(ok.status.success(), "{}", text(&ok));

    let ghost = d.tobira(&["grant", "add", "ghost", "--place", "terminal:t-01", "--actor", "takahashi"]);
    assert!(!ghost.status.success());
    assert!(text(&ghost).contains("ghost"), "{}", text(&ghost));

    let first = d.tobira(&["grant", "add", "tanaka", "--place", "terminal:t-01", "--actor", "takahashi"]);
    assert!(first.status.success(), "{}", text(&first));
    let dup = d.tobira(&["grant", "add", "tanaka", "--place", "terminal:t-01", "--actor", "takahashi"]);
    assert!(!dup.status.success());
    assert!(text(&dup).contains("already"), "{}", text(&dup));

    let bad_place = d.tobira(&["grant", "add", "tanaka", "--place", "zone:moon", "--actor", "takahashi"]);
    assert!(!bad_place.status.success());
    assert!(text(&bad_place).contains("moon"));
    let bad_role = d.tobira(&["person", "add", "x1", "--name", "X", "--roles", "king", "--actor", "takahashi"]);
    assert!(!bad_role.status.success());
    assert!(text(&bad_role).contains("king"));
    let bad_door = d.tobira(&["sim", "force", "no-such-door"]);
    assert!(!bad_door.status.success());
    assert!(text(&bad_door).contains("no-such-door"));

    let list = d.tobira(&["--json", "grant", "list"]);
    assert_eq!(String::from_utf8_lossy(&list.stdout).lines().count(), 1, "exactly one grant after the refusals");
    let people = d.tobira(&["--json", "person", "list"]);
    assert_eq!(String::from_utf8_lossy(&people.stdout).lines().count(), 2);

    let data = d.data.clone();
    let st = d.stop();
    assert!(st.success(), "daemon exit status {st}");
    let v = verify(&data, &[]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(text(&v).contains("intact"));
}

#[test]
fn tampered_store_fails_verification_naming_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    d.bootstrap();
    for i in 0..5 {
        let id = format!("p{i}");
        let o = d.tobira(&["person", "add", &id, "--name", "N", "--roles", "operator", "--actor", "takahashi"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let data = d.data.clone();
    assert!(d.stop().success());
    let db = data.join("audit.db");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        // An attacker with root drops the guard triggers, then edits history.
        let triggers: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger'")
            .fetch_all(&mut c)
            .await
            .unwrap();
        for t in triggers {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER \"{t}\""))).execute(&mut c).await.unwrap();
        }
        sqlx::query("UPDATE events SET subject = 'someone-else' WHERE seq = 3").execute(&mut c).await.unwrap();
    });
    let v = verify(&data, &[]);
    assert_eq!(v.status.code(), Some(4), "{}", text(&v));
    assert!(text(&v).contains('3'), "the failure names the altered event: {}", text(&v));

    // The daemon verifies its chain at start: the alteration becomes an alarm for the security manager.
    let d = Running::start(dir.path());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let a = text(&d.tobira(&["--json", "alarms"]));
        if a.contains("audit.verify.failed") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no alarm for the altered store: {a}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn exactly_two_site_administrators() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    d.bootstrap();
    let add = |id: &str| {
        d.tobira(&["person", "add", id, "--name", id, "--roles", "site-administrator,operator", "--actor", "takahashi"])
    };
    assert!(add("ito").status.success());
    let c = d.tobira(&["check"]);
    assert_eq!(c.status.code(), Some(1), "one site administrator is a warning: {}", text(&c));
    assert!(text(&c).contains("003 §5(4)"), "{}", text(&c));
    assert!(add("watanabe").status.success());
    let third = add("kimura");
    assert!(!third.status.success(), "003 §5(4): a third site administrator is refused");
    assert!(text(&third).contains("two site administrators"), "{}", text(&third));
    let c = d.tobira(&["--json", "check"]);
    assert!(!String::from_utf8_lossy(&c.stdout).contains("site administrator(s)"), "{}", text(&c));
    let people = d.tobira(&["--json", "person", "list"]);
    assert_eq!(String::from_utf8_lossy(&people.stdout).lines().count(), 3, "the refused one was not added");
}

/// Palm vein end to end (issue 4; 000 §8–§9 registers palm vein for every operator): the terminal's reader
/// is a palm-vein sensor behind the bridge protocol (the daemon's real driver against the reference bridge
/// on a socket named in the site file, as a vendor bridge would be), the server-room entry reader a
/// simulated palm reader. Enrolment by palm, refusals of a fingerprint reader and of a duplicate palm, an
/// administrator proving themselves by palm, login and door by palm, someone else's palm refused, a
/// fingerprint image offered to the palm sensor refused as not a palm (never a match), the bridge gone.
#[test]
fn palm_vein_enrolment_login_door_and_bad_input_through_the_bridge() {
    use tobira_drivers::palm_bridge::codec::Hand;
    use tobira_drivers::palm_bridge::sim::{Presentation, SimBridge};
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("palm-t01.sock");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let bridge = SimBridge::new();
    let listener = rt.block_on(async { tokio::net::UnixListener::bind(&sock) }).unwrap();
    rt.spawn(bridge.clone().serve(listener));
    let stanza = "id = \"t01-reader\"\nkind = \"sim-r30x\"                 # sim-r30x (an R30x module on a PTY) | sim-finger | sim-palm | r30x | uru4000 | palm-bridge\nmodality = \"finger\"";
    let site = demo_site()
        .replace(
            stanza,
            &format!("id = \"t01-reader\"\nkind = \"palm-bridge\"\nmodality = \"palm\"\nport = \"{}\"", sock.display()),
        )
        .replace("id = \"server-in\"\nkind = \"sim-r30x\"", "id = \"server-in\"\nkind = \"sim-palm\"");
    assert!(
        site.contains("palm-bridge") && site.contains("sim-palm"),
        "the demo site's readers changed; update this test"
    );
    let d = Running::start_with(dir.path(), &site, &[]);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.bootstrap();
    // The system administrator's own finger at the (fingerprint) admin reader closes the bootstrap.
    for _ in 0..3 {
        d.present(ADMIN_READER, "takahashi");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", ADMIN_READER]);
    assert!(o.status.success(), "{}", text(&o));
    for (id, role) in [("tanaka", "operator"), ("sato", "operator"), ("morita", "operator"), ("suzuki", "data-manager")]
    {
        let o = d
            .act("takahashi", &["person", "add", id, "--name", id, "--roles", role, "--appointment-end", "2027-03-31"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let hand = |body: &str| Presentation::Hand { body: body.into(), hand: Hand::Right };
    let enrol_palm = |who: &str, body: &str| {
        for _ in 0..3 {
            bridge.present(hand(body));
        }
        d.act("takahashi", &["--json", "enroll", who, "--reader", "t01-reader", "--palm", "right"])
    };
    // A finger cannot be enrolled at a palm reader: refused before any capture.
    let o = d.act("takahashi", &["enroll", "tanaka", "--reader", "t01-reader"]);
    assert!(!o.status.success() && text(&o).contains("is a palm-vein reader"), "{}", text(&o));
    assert_eq!(bridge.captures(), 0, "nothing was captured for a refused enrolment");
    for who in ["tanaka", "sato", "suzuki"] {
        let o = enrol_palm(who, who);
        assert!(o.status.success(), "{who}: {}", text(&o));
        let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
        assert_eq!(
            (v["status"].as_str(), v["modality"].as_str(), v["palm"].as_str()),
            (Some("approved"), Some("palm"), Some("right")),
            "{v}"
        );
    }
    assert_eq!(bridge.captures(), 9, "three captures per palm through the bridge");
    // Tanaka's palm under another name: a duplicate identity, refused and alarmed (003 §15).
    let o = enrol_palm("morita", "tanaka");
    assert!(!o.status.success() && text(&o).contains("duplicate identity"), "{}", text(&o));
    // tanaka's finger too, at the fingerprint reader: the admin's finger first, then the subject's three.
    d.present(ADMIN_READER, "takahashi");
    for _ in 0..3 {
        d.present(ADMIN_READER, "tanaka");
    }
    let o = d.tobira(&["--actor", "takahashi", "--at", ADMIN_READER, "enroll", "tanaka", "--reader", ADMIN_READER]);
    assert!(o.status.success(), "{}", text(&o));
    // tanaka's left palm (position 2, like finger 2): a palm replaces only a palm of the same hand, so the
    // finger stays approved; then the right palm again, which replaces the first right palm.
    for h in [Hand::Left, Hand::Right] {
        for _ in 0..3 {
            bridge.present(Presentation::Hand { body: "tanaka".into(), hand: h });
        }
        let palm = if h == Hand::Left { "left" } else { "right" };
        let o = d.act("takahashi", &["enroll", "tanaka", "--reader", "t01-reader", "--palm", palm]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let show = d.tobira(&["--json", "person", "show", "tanaka"]);
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&show.stdout).trim()).unwrap();
    let templates = v["templates"].as_array().cloned().unwrap_or_default();
    let count = |modality: &str, position: i64, status: &str| {
        templates
            .iter()
            .filter(|t| t["modality"] == modality && t["position"] == position && t["status"] == status)
            .count()
    };
    assert_eq!(count("finger", 2, "approved"), 1, "the finger survives the left palm: {v}");
    assert_eq!(count("palm", 2, "approved"), 1, "{v}");
    assert_eq!((count("palm", 1, "approved"), count("palm", 1, "erased")), (1, 1), "re-enrolment replaces: {v}");

    // An administrator proves themselves by palm at the terminal's palm reader: the data manager designates
    // tanaka for the server room (003 §13(2)).
    bridge.present(hand("suzuki"));
    let o =
        d.tobira(&["--actor", "suzuki", "--at", "t01-reader", "grant", "add", "tanaka", "--place", "zone:server-room"]);
    assert!(o.status.success(), "suzuki proved by palm: {}", text(&o));
    let o = d.act("takahashi", &["grant", "add", "tanaka", "--place", "terminal:t-01"]);
    assert!(o.status.success(), "{}", text(&o));

    let login = |body: Option<Presentation>| {
        if let Some(p) = body {
            bridge.present(p);
        }
        let o = d.tobira(&["--json", "login", "t-01", "tanaka"]);
        serde_json::from_str::<serde_json::Value>(String::from_utf8_lossy(&o.stdout).trim()).unwrap()
    };
    let v = login(Some(hand("tanaka")));
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(true), Some("GRANT_VALID")), "{v}");
    let palm_threshold = f64::from(tobira_biometrics::palm::PalmThreshold::default().value());
    assert!(v["score"].as_f64().unwrap() >= palm_threshold, "scored against the palm threshold: {v}");
    let v = login(Some(hand("sato")));
    assert_eq!(v["reason"], "NOT_IDENTIFIED", "someone else's palm under tanaka's ID: {v}");
    // Both of tanaka's palms are enrolled: the left one verifies too.
    let v = login(Some(Presentation::Hand { body: "tanaka".into(), hand: Hand::Left }));
    assert_eq!(v["reason"], "GRANT_VALID", "{v}");
    // Issue 4's bad input: a fingerprint image at the palm sensor (a synthetic print, whole and as a crop the
    // size of a palm region): refused as a fingerprint, never scored.
    let print = tobira_biometrics::synthetic::SyntheticPrint::new(7).impression(1, &Default::default());
    let side = 128usize;
    let (x0, y0) = ((print.width as usize - side) / 2, (print.height as usize - side) / 2);
    let crop: Vec<u8> =
        (y0..y0 + side).flat_map(|y| print.pixels[y * print.width as usize + x0..][..side].to_vec()).collect();
    for (w, h, pixels) in [(side as u32, side as u32, crop), (print.width, print.height, print.pixels.clone())] {
        let v = login(Some(Presentation::Image { width: w, height: h, pixels }));
        assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(false), Some("NOT_IDENTIFIED")), "{v}");
        assert!(v["score"].is_null(), "a fingerprint is never scored as a palm: {v}");
    }
    let ev = d.act("takahashi", &["--json", "audit", "show", "--kind", "login."]);
    let events = text(&ev);
    assert!(events.contains("\"modality\":\"palm\""), "login events record the modality: {events}");
    assert!(events.contains("this is a fingerprint, not a palm"), "the refusal says it saw a fingerprint: {events}");

    // The server-room door identifies by palm (1:N among the people allowed in), someone else is refused.
    let door = |body: &str, palm: &str| {
        let o = d.tobira(&["--json", "sim", "present", "server-in", body, "--palm", palm]);
        serde_json::from_str::<serde_json::Value>(String::from_utf8_lossy(&o.stdout).trim()).unwrap()
    };
    let v = door("tanaka", "right");
    assert_eq!((v["granted"].as_bool(), v["person"].as_str()), (Some(true), Some("tanaka")), "{v}");
    let v = door("sato", "right");
    assert_eq!(v["granted"], false, "sato holds no server-room grant: {v}");
    let v = door("stranger", "right");
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(false), Some("NOT_IDENTIFIED")), "{v}");
    // tanaka's enrolled finger offered at the palm door reader: the wrong kind of sample, never matched.
    let o = d.tobira(&["--json", "sim", "present", "server-in", "tanaka"]);
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(false), Some("NOT_IDENTIFIED")), "{v}");
    let ev = d.act("takahashi", &["--json", "audit", "show", "--kind", "door.enter"]);
    assert!(text(&ev).contains("a palm reader delivered a finger sample"), "{}", text(&ev));

    // The records say palm (000 §9, 003 §15): suzuki's act proved by palm, the matching-data ledger's
    // registrations name the hand and its uses the modality.
    let ev = d.act("takahashi", &["--json", "audit", "show", "--kind", "admin.grant.add", "--person", "suzuki"]);
    assert!(text(&ev).contains("\"method\":\"palm\""), "{}", text(&ev));
    let csv = dir.path().join("matching.csv");
    let o = d.act("takahashi", &["ledger", "matching", "--csv", csv.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let ledger = std::fs::read_to_string(&csv).unwrap();
    assert!(ledger.contains("右手のひら静脈") && ledger.contains("左手のひら静脈"), "{ledger}");
    assert!(ledger.contains("login.success GRANT_VALID (手のひら静脈)"), "{ledger}");

    // The bridge goes away: the login is refused with the device named, and the daemon keeps running.
    bridge.disconnect_all();
    let v = login(None);
    assert_eq!(v["granted"], false);
    assert!(d.tobira(&["status"]).status.success());

    // A restart loads the sealed palm templates from the store by their recorded modality: tanaka's palm
    // still opens the session at the bridge that is back, sato's still does not.
    assert!(d.stop().success());
    let d = Running::start_with(dir.path(), &site, &[]);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:30:00+09:00"]);
    for (body, want) in [("tanaka", "GRANT_VALID"), ("sato", "NOT_IDENTIFIED")] {
        bridge.present(hand(body));
        let o = d.tobira(&["--json", "login", "t-01", "tanaka"]);
        let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
        assert_eq!(v["reason"], want, "{body}'s palm after a restart: {v}");
    }
}

/// A door controller on OSDP with Secure Channel: the daemon's real control panel drives libosdp's
/// peripheral mode over a pseudo-terminal named in the site file as /dev/ttyUSB0 would be. A grant pulses
/// the strike on the device; tamper and a dead device become alarms.
#[test]
fn an_osdp_door_controller_is_driven_with_secure_channel() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyRS485-server");
    let key_file = dir.path().join("server-ctl.key");
    std::fs::write(&key_file, "944b8eddcbaa2b5fe2b0148d1b2f95c9\n").unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let key = tobira_drivers::osdp::load_key(&key_file).unwrap();
    let (master, _slave, path) = tobira_drivers::pty::open_pty().unwrap();
    std::os::unix::fs::symlink(&path, &link).unwrap();
    let door = tobira_drivers::osdp::sim::spawn(std::fs::File::from(master), 1, key).unwrap();

    let stanza =
        "id = \"server-ctl\"\nkind = \"sim\"                      # sim | osdp (port = \"/dev/ttyUSB0\", address = 1)";
    assert!(demo_site().contains(stanza), "the demo site's server-ctl stanza changed; update this test");
    let site = demo_site().replace(
        stanza,
        &format!(
            "id = \"server-ctl\"\nkind = \"osdp\"\nport = \"{}\"\naddress = 1\nkey_file = \"{}\"",
            link.display(),
            key_file.display()
        ),
    );
    let d = Running::start_with(dir.path(), &site, &[]);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.staff(&[("suzuki", "data-manager"), ("tanaka", "operator")]);
    let o = d.act("suzuki", &["grant", "add", "tanaka", "--place", "zone:server-room"]);
    assert!(o.status.success(), "{}", text(&o));

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !(door.state().online && door.state().secure) {
        assert!(std::time::Instant::now() < deadline, "the controller never came online under Secure Channel");
        std::thread::sleep(Duration::from_millis(50));
    }
    // …and the daemon has seen it online (its audit says so) before anyone presents a finger.
    loop {
        let o = d.act("takahashi", &["--json", "audit", "show", "--kind", "device.online"]);
        if text(&o).contains("DEVICE_ONLINE") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the daemon never saw the controller online: {}", text(&o));
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = d.tobira(&["--json", "sim", "present", "server-in", "tanaka"]);
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(v["granted"], true, "{v}");
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while door.state().last_pulse.is_none() {
        assert!(std::time::Instant::now() < deadline, "the strike pulse never reached the device");
        std::thread::sleep(Duration::from_millis(5));
    }
    let seen = door.state().seen;
    assert!(seen.iter().any(|s| s.starts_with("output 0 code 5 timer 30")), "3 s pulse on output 0: {seen:?}");

    door.tamper();
    let wait_alarm = |kind: &str, secs: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let a = text(&d.tobira(&["--json", "alarms"]));
            if a.contains(kind) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "no {kind} alarm: {a}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    wait_alarm("device.tamper", 10);
    door.stop();
    wait_alarm("device.offline", 30);
    // Fail secure: with its controller offline the door grants nobody, and says why.
    let o = d.tobira(&["--json", "sim", "present", "server-in", "tanaka"]);
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(v["granted"], false, "{v}");
    assert_eq!(v["reason"], "DEVICE_OFFLINE", "{v}");
    assert!(d.tobira(&["status"]).status.success(), "the daemon keeps running");
}

/// An auditor checks offline that an event is in the node's signed Merkle log (RFC 6962 inclusion proof).
#[test]
fn an_inclusion_proof_checks_offline_and_a_forged_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let d = Running::start(dir.path());
    d.bootstrap();
    for i in 0..6 {
        let id = format!("p{i}");
        let o = d.tobira(&["--actor", "takahashi", "person", "add", &id, "--name", "N", "--roles", "operator"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let data = d.data.clone();
    assert!(d.stop().success());
    let o = Command::new(TOBIRA).args(["audit", "prove", "4", "--data-dir", data.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let proof = dir.path().join("proof.json");
    std::fs::write(&proof, &o.stdout).unwrap();
    let key = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(tobira_audit::read_public_key(&data.join("audit.db")))
        .unwrap();
    let check = |file: &std::path::Path| {
        Command::new(TOBIRA)
            .args(["audit", "check-proof", file.to_str().unwrap(), "--node-key", &hex::encode(&key)])
            .output()
            .unwrap()
    };
    let ok = check(&proof);
    assert!(ok.status.success(), "{}", text(&ok));
    assert!(text(&ok).contains("event 4"), "{}", text(&ok));
    // Another event's hash under the same proof: refused.
    let mut v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["event_hash"] = serde_json::Value::String("00".repeat(32));
    let forged = dir.path().join("forged.json");
    std::fs::write(&forged, v.to_string()).unwrap();
    let bad = check(&forged);
    assert_eq!(bad.status.code(), Some(4), "{}", text(&bad));
}

/// A device that never answers: a bridge that says hello and then stays silent. The login is refused once
/// the capture timeout passes, the daemon stays responsive throughout, and nothing hangs.
#[test]
fn a_reader_that_never_answers_is_a_refusal_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("silent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        let hello = tobira_drivers::palm_bridge::codec::Header::Hello {
            version: 1,
            vendor: "x".into(),
            model: "silent".into(),
            serial: "0".into(),
            wavelength_nm: 850,
        };
        let bytes =
            tobira_drivers::palm_bridge::codec::encode(&tobira_drivers::palm_bridge::codec::Frame::new(hello)).unwrap();
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            let mut s = s;
            let _ = s.write_all(&bytes);
            held.push(s); // keep the connection open, answer nothing
        }
    });
    let stanza = "id = \"t01-reader\"\nkind = \"sim-r30x\"                 # sim-r30x (an R30x module on a PTY) | sim-finger | sim-palm | r30x | uru4000 | palm-bridge\nmodality = \"finger\"";
    let site = demo_site()
        .replace(
            stanza,
            &format!("id = \"t01-reader\"\nkind = \"palm-bridge\"\nmodality = \"palm\"\nport = \"{}\"", sock.display()),
        )
        .replace("capture_timeout_s = 15", "capture_timeout_s = 2");
    assert!(site.contains("capture_timeout_s = 2"), "the demo site's timeouts changed; update this test");
    let d = Running::start_with(dir.path(), &site, &[]);
    d.bootstrap();
    assert!(
        d.tobira(&[
            "--actor",
            "takahashi",
            "person",
            "add",
            "tanaka",
            "--name",
            "田中",
            "--roles",
            "operator",
            "--appointment-end",
            "2027-03-31"
        ])
        .status
        .success()
    );
    // The simulated clock first: a grant starts on the day it is issued, by the daemon's clock.
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    assert!(d.tobira(&["--actor", "takahashi", "grant", "add", "tanaka", "--place", "terminal:t-01"]).status.success());
    let sock_path = d.sock.clone();
    let login = std::thread::spawn(move || {
        let t = std::time::Instant::now();
        let o = cli(&sock_path, &["--json", "login", "t-01", "tanaka"]);
        (t.elapsed(), o)
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(d.tobira(&["status"]).status.success(), "the daemon answers while a capture waits");
    let (took, o) = login.join().unwrap();
    let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap();
    assert_eq!(v["granted"], false, "{v}");
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "refused after the capture timeout: {took:?}"
    );
    let ev = d.tobira(&["--actor", "takahashi", "--json", "audit", "show", "--kind", "login.failure"]);
    assert!(text(&ev).contains("timeout_s"), "the timeout is recorded: {}", text(&ev));
}
