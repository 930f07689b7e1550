//! Site file: the demo parses; every kind of mistake is refused with file, line and field.

use super::*;
use crate::ids::*;
use crate::roles::{Level, Role};

const DEMO: &str = include_str!("../../../config/demo.toml");

fn err_of(text: &str) -> SiteError {
    parse_site("site.toml", text).unwrap_err()
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn demo_site_parses() {
    let s = parse_site("demo.toml", DEMO).unwrap();
    assert_eq!(s.zones.len(), 3);
    assert_eq!(s.zone(&ZoneId::new("media-room")).unwrap().level, Level::L3);
    assert_eq!(s.zone_chain(&ZoneId::new("media-room")), vec![ZoneId::new("server-room")]);
    assert_eq!(s.office_hours.closures.len(), 6);
    assert_eq!(s.utc_offset.local_minus_utc(), 9 * 3600);
    assert_eq!(s.lockout.max_failures, 5);
    assert_eq!(s.fpir, Fpir(1e-4));
    assert_eq!(s.fmr, Fpir(1e-4), "the 1:1 rate THREATS asks for unless the site is stricter");
    assert_eq!(s.reader_throttle, crate::throttle::ThrottlePolicy::default());
    assert!(s.doors.iter().all(|d| d.auth == crate::authmode::AuthMode::Biometric), "the default mode");
}

#[test]
fn a_door_names_its_authentication_mode() {
    let with = DEMO.replacen(
        "rex = true                        # a request-to-exit button inside",
        "rex = true\nauth = \"card+biometric\"",
        1,
    );
    assert_ne!(with, DEMO, "the demo's server-door stanza changed; update this test");
    let s = parse_site("site.toml", &with).unwrap();
    assert_eq!(s.door(&DoorId::new("server-door")).unwrap().auth, crate::authmode::AuthMode::CardAndBiometric);
    let bad = with.replacen("\"card+biometric\"", "\"card\"", 1);
    let e = err_of(&bad);
    assert_eq!(e.field.as_deref(), Some("door \"server-door\".auth"), "{e}");
    assert_eq!(e.line, line_of(&bad, "auth = \"card\""));
}

#[test]
fn level_out_of_range_names_line_and_field() {
    let bad = DEMO.replacen("level = 2", "level = 7", 1);
    let e = err_of(&bad);
    assert_eq!(e.line, line_of(&bad, "level = 7"));
    assert_eq!(e.field.as_deref(), Some("zone \"server-room\".level"));
    assert!(e.to_string().starts_with(&format!("site.toml:{}:", e.line)), "{e}");
    assert!(e.message.contains("003 §13"));
}

#[test]
fn unknown_reference_lists_the_known_ones() {
    let bad = DEMO.replacen("zone = \"server-room\"              # the zone this door leads into", "zone = \"srv\"", 1);
    let e = err_of(&bad);
    assert_eq!(e.line, line_of(&bad, "zone = \"srv\""));
    assert_eq!(e.field.as_deref(), Some("door \"server-door\".zone"));
    assert!(e.message.contains("known: media-room, office, server-room"), "{e}");
}

#[test]
fn unknown_key_is_refused_with_its_line() {
    let bad = DEMO.replacen("rex = true", "rex = true\nrex_delay = 3", 1);
    let e = err_of(&bad);
    assert_eq!(e.line, line_of(&bad, "rex_delay"));
    assert!(e.message.contains("rex_delay"), "{e}");
}

#[test]
fn wrong_type_names_the_key() {
    let bad = DEMO.replacen("held_open_s = 30", "held_open_s = \"thirty\"", 1);
    let e = err_of(&bad);
    assert_eq!(e.line, line_of(&bad, "held_open_s"));
    assert_eq!(e.field.as_deref(), Some("held_open_s"));
}

#[test]
fn semantic_mistakes_are_refused() {
    for (from, to, field) in [
        ("id = \"media-room\"", "id = \"server-room\"", "zone \"server-room\".id"),
        ("parent = \"server-room\"", "parent = \"media-room\"", "zone \"media-room\".parent"),
        ("close = \"17:15\"", "close = \"07:15\"", "office_hours.close"),
        ("open = \"08:30\"", "open = \"8h30\"", "office_hours.open"),
        ("max_failures = 5", "max_failures = 9", "lockout.max_failures"),
        ("fpir = 0.0001", "fpir = 0.5", "identification.fpir"),
        ("fpir = 0.0001", "fpir = -1.0", "identification.fpir"),
        ("fmr = 0.0001", "fmr = 0.001", "identification.fmr"),
        ("fmr = 0.0001", "fmr = 0.0", "identification.fmr"),
        ("max_delay_s = 30\n", "max_delay_s = 0\n", "reader_throttle.max_delay_s"),
        ("alarm_after = 5 ", "alarm_after = 0 ", "reader_throttle.alarm_after"),
        ("utc_offset = \"+09:00\"", "utc_offset = \"JST\"", "site.utc_offset"),
        ("\"12-29\"", "\"13-29\"", "office_hours.closures"),
        (
            "kind = \"sim\"                      # sim | osdp (port = \"/dev/ttyUSB0\", address = 1)",
            "kind = \"modbus\"",
            "controller \"server-ctl\".kind",
        ),
        ("reader = \"t02-reader\"", "reader = \"t01-reader\"", "terminal \"t-02\".reader"),
    ] {
        assert!(DEMO.contains(from), "{from}");
        let bad = DEMO.replacen(from, to, 1);
        let e = err_of(&bad);
        assert_eq!(e.field.as_deref(), Some(field), "{from} → {to}: {e}");
        assert!(e.line > 0);
    }
}

#[test]
fn garbage_never_panics() {
    for text in ["", "[[[", "site = 3", "\u{0}\u{1}", "[site]\nid = 1"] {
        let _ = parse_site("x.toml", text);
    }
}

#[test]
fn a_real_reader_needs_a_port() {
    let bad =
        DEMO.replacen("kind = \"sim-r30x\"                 # sim-r30x", "kind = \"r30x\"               # sim-r30x", 1);
    assert!(bad.contains("\"r30x\""));
    let e = err_of(&bad);
    assert_eq!(e.field.as_deref(), Some("reader \"t01-reader\".port"), "{e}");
    let good = bad.replacen("kind = \"r30x\"", "kind = \"r30x\"\nport = \"/dev/ttyUSB0\"", 1);
    let s = parse_site("site.toml", &good).unwrap();
    assert_eq!(s.reader(&ReaderId::new("t01-reader")).unwrap().port.as_deref(), Some("/dev/ttyUSB0"));
}

#[test]
fn osdp_controller_needs_port_address_and_a_key() {
    let stanza = "kind = \"sim\"                      # sim | osdp (port = \"/dev/ttyUSB0\", address = 1)";
    assert!(DEMO.contains(stanza));
    let no_key = DEMO.replacen(stanza, "kind = \"osdp\"\nport = \"/dev/ttyUSB0\"\naddress = 1", 1);
    let e = err_of(&no_key);
    assert_eq!(e.field.as_deref(), Some("controller \"server-ctl\".key_file"));
    assert!(e.message.contains("install_mode"), "{e}");
    let no_port = DEMO.replacen(stanza, "kind = \"osdp\"\naddress = 1\nkey_file = \"/etc/tobira/k\"", 1);
    assert_eq!(err_of(&no_port).field.as_deref(), Some("controller \"server-ctl\".port"));
    let good =
        DEMO.replacen(stanza, "kind = \"osdp\"\nport = \"/dev/ttyUSB0\"\naddress = 1\nkey_file = \"/etc/tobira/k\"", 1);
    let s = parse_site("site.toml", &good).unwrap();
    assert_eq!(s.controllers[0].key_file.as_deref(), Some("/etc/tobira/k"));
    assert!(!s.controllers[0].install_mode, "install mode only when written");
}

#[test]
fn administration_settings_are_checked() {
    // The demo's file ends with its [administration] section: keys appended land in it.
    let bad = DEMO.replacen("enrollment_samples = 3", "enrollment_samples = 0", 1);
    assert_eq!(err_of(&bad).field.as_deref(), Some("administration.enrollment_samples"));
    let bad = format!("{DEMO}notify_command = [\"notify-send\"]\n");
    assert_eq!(err_of(&bad).field.as_deref(), Some("administration.notify_command"));
    let s = parse_site("site.toml", &format!("{DEMO}review_period_days = 90\n")).unwrap();
    assert_eq!(s.administration.review_period_days, 90);
    assert_eq!(s.administration.enrollment_samples, 3, "the demo's own setting");
    // Issue 17 (session 16): five captures unless the site says otherwise.
    let without = DEMO.replacen("enrollment_samples = 3", "", 1);
    assert_eq!(parse_site("site.toml", &without).unwrap().administration.enrollment_samples, 5);
}

// ---- [regulation] (issue 21 §6) ----

fn with_regulation(lines: &str) -> String {
    format!("{DEMO}\n[regulation]\n{lines}\n")
}

#[test]
fn regulation_defaults_to_sendai_and_takes_a_preset_and_overrides() {
    use crate::regulation::Preset;
    assert_eq!(parse_site("demo.toml", DEMO).unwrap().regulation, Preset::Sendai.regulation());
    let s = parse_site("site.toml", &with_regulation("preset = \"kitaibaraki\"")).unwrap();
    assert_eq!(s.regulation, Preset::Kitaibaraki.regulation());
    // 000 §7(1).
    assert_eq!(s.regulation.issuer(Level::L2), Role::SystemAdministrator);
    let s = parse_site(
        "site.toml",
        &with_regulation(
            "preset = \"obama\"\nlevel3_issuer = \"data-manager\"\noperator_requesters = [\"site-administrator\"]\nown_section_needs_approval = false",
        ),
    )
    .unwrap();
    assert_eq!(s.regulation.preset, Preset::Obama);
    assert_eq!(s.regulation.issuer(Level::L3), Role::DataManager);
    assert_eq!(s.regulation.operator_requesters, vec![Role::SiteAdministrator]);
    assert!(!s.regulation.own_section_needs_approval);
    // Rules not overridden stay the preset's (002 §10(1)).
    assert_eq!(s.regulation.issuer(Level::L2), Role::SecurityManager);
}

#[test]
fn a_bad_preset_name_is_refused_with_its_line_and_the_known_ones() {
    let bad = with_regulation("preset = \"sendia\"");
    let e = err_of(&bad);
    assert_eq!(e.line, line_of(&bad, "preset = \"sendia\""));
    assert_eq!(e.field.as_deref(), Some("regulation.preset"));
    assert!(e.message.contains("known: sendai, kitaibaraki, obama, kurume, kitami"), "{e}");
    assert!(e.to_string().starts_with(&format!("site.toml:{}:", e.line)), "{e}");
}

#[test]
fn a_bad_override_is_refused_with_its_line_and_field() {
    // Not a role at all.
    let bad = with_regulation("preset = \"kitaibaraki\"\nlevel2_issuer = \"system-admin\"");
    let e = err_of(&bad);
    assert_eq!(e.line, line_of(&bad, "level2_issuer"));
    assert_eq!(e.field.as_deref(), Some("regulation.level2_issuer"));
    assert!(e.message.contains("not a role") && e.message.contains("system-administrator"), "{e}");
    // A plain user cannot be made an authority.
    let bad = with_regulation("\noperator_requesters = [\"site-administrator\", \"operator\"]");
    let e = err_of(&bad);
    assert_eq!(e.line, line_of(&bad, "operator_requesters"));
    assert_eq!(e.field.as_deref(), Some("regulation.operator_requesters"));
    assert!(e.message.contains("操作者"), "{e}");
    // An unknown key, and a wrong type.
    let bad = with_regulation("level4_issuer = \"data-manager\"");
    assert_eq!(err_of(&bad).line, line_of(&bad, "level4_issuer"));
    let bad = with_regulation("own_section_needs_approval = \"yes\"");
    let e = err_of(&bad);
    assert_eq!(e.line, line_of(&bad, "own_section_needs_approval"));
    assert_eq!(e.field.as_deref(), Some("own_section_needs_approval"));
}

/// 003 §11: the media custodian and the take-out consents follow the preset and may be overridden; a consent
/// list may not be empty (a medium never leaves on nobody's consent) nor name a plain user.
#[test]
fn art_003_11_media_rules_follow_the_preset_and_its_overrides() {
    use crate::model::Role;
    let s = parse_site("site.toml", DEMO).unwrap();
    assert_eq!(s.regulation.media_custodian, Role::DataManager);
    assert_eq!(s.regulation.media_takeout_consent, vec![Role::DataManager, Role::SystemAdministrator]);
    let k = parse_site("site.toml", &with_regulation("preset = \"kurume\"")).unwrap();
    assert_eq!(k.regulation.media_takeout_consent, vec![Role::SecurityManager], "001 §8(2)");
    let o = parse_site(
        "site.toml",
        &with_regulation("media_custodian = \"security-manager\"\nmedia_takeout_consent = [\"security-director\"]"),
    )
    .unwrap();
    assert_eq!(o.regulation.media_custodian, Role::SecurityManager);
    assert_eq!(o.regulation.media_takeout_consent, vec![Role::SecurityDirector]);
    let bad = with_regulation("media_takeout_consent = []");
    let e = err_of(&bad);
    assert_eq!(
        (e.line, e.field.as_deref()),
        (line_of(&bad, "media_takeout_consent"), Some("regulation.media_takeout_consent"))
    );
    let bad = with_regulation("media_custodian = \"vendor\"");
    assert!(err_of(&bad).message.contains("保守業者"), "{}", err_of(&bad));
}

/// How the ledgers write dates: ISO unless the site asks for the era; anything else is refused with its line.
#[test]
fn ledger_dates_are_iso_or_era() {
    assert!(!parse_site("site.toml", DEMO).unwrap().administration.ledger_era);
    let era = format!("{DEMO}ledger_dates = \"era\"\n");
    assert!(parse_site("site.toml", &era).unwrap().administration.ledger_era);
    let bad = format!("{DEMO}ledger_dates = \"reiwa\"\n");
    let e = err_of(&bad);
    assert_eq!((e.line, e.field.as_deref()), (line_of(&bad, "ledger_dates"), Some("administration.ledger_dates")));
    assert!(e.message.contains("令和8年11月24日"), "{e}");
}

/// Issue 15: an R30x reader names the line rate its module is raised to; a wrong rate, or a rate on a
/// reader without a serial line, is refused with the file, the line and the field.
#[test]
fn a_serial_reader_takes_a_line_rate_and_a_bad_one_names_its_line() {
    let stanza = "id = \"server-in\"\nkind = \"sim-r30x\"";
    assert!(DEMO.contains(stanza));
    let s = parse_site("site.toml", &DEMO.replacen(stanza, &format!("{stanza}\nbaud = 57600"), 1)).unwrap();
    assert_eq!(s.reader(&ReaderId::new("server-in")).unwrap().baud, Some(57_600));
    assert_eq!(s.reader(&ReaderId::new("server-out")).unwrap().baud, None, "the driver's default");
    let bad = DEMO.replacen(stanza, &format!("{stanza}\nbaud = 28800"), 1);
    let e = err_of(&bad);
    assert_eq!((e.file.as_str(), e.line), ("site.toml", line_of(&bad, "baud = 28800")), "{e}");
    assert_eq!(e.field.as_deref(), Some("reader \"server-in\".baud"), "{e}");
    assert!(e.message.contains("115200"), "{e}");
    let palm = "id = \"office-palm\"\nkind = \"sim-palm\"";
    assert!(DEMO.contains(palm));
    let bad = DEMO.replacen(palm, &format!("{palm}\nbaud = 9600"), 1);
    let e = err_of(&bad);
    assert_eq!((e.line, e.field.as_deref()), (line_of(&bad, "baud = 9600"), Some("reader \"office-palm\".baud")));
    assert!(e.message.contains("no serial line"), "{e}");
    let e = err_of(&DEMO.replacen(stanza, &format!("{stanza}\nbaud = \"fast\""), 1));
    assert_eq!(e.field.as_deref(), Some("baud"), "a wrong type names the key: {e}");
}

#[test]
fn simulation_line_rate_is_kept_or_instant() {
    assert!(!parse_site("site.toml", DEMO).unwrap().simulation.keep_line_rate, "instant by default");
    let kept = format!("{DEMO}\n[simulation]\nline_rate = \"kept\"\n");
    assert!(parse_site("site.toml", &kept).unwrap().simulation.keep_line_rate);
    let bad = format!("{DEMO}\n[simulation]\nline_rate = \"slow\"\n");
    let e = err_of(&bad);
    assert_eq!((e.line, e.field.as_deref()), (line_of(&bad, "line_rate = \"slow\""), Some("simulation.line_rate")));
}

// ---- grant ids of a multi-node site (issue 22 "Readable output") ----

const CENTRAL: &str = "\n[central]\nhost = \"127.0.0.1\"\nrole = \"node_a\"\nca_file = \"/etc/tobira/ca.crt\"\ncert_file = \"/etc/tobira/node.crt\"\nkey_file = \"/etc/tobira/node.key\"\n";

#[test]
fn a_node_of_a_multi_node_site_tags_its_grants_with_its_id() {
    assert_eq!(parse_site("demo.toml", DEMO).unwrap().grant_tag(), None, "a site of one node: G-0001");
    let s = parse_site("site.toml", &format!("{DEMO}{CENTRAL}")).unwrap();
    assert_eq!(s.grant_tag(), Some("sendai-honcho"));
    // A node id that could not be read back from a grant id is refused where it is written.
    let bad = format!("{}{CENTRAL}", DEMO.replacen("id = \"sendai-honcho\"", "id = \"Sendai_Honcho\"", 1));
    let e = err_of(&bad);
    assert_eq!(e.field.as_deref(), Some("site.id"), "{e}");
    assert_eq!(e.line, line_of(&bad, "Sendai_Honcho"));
    // Without [central] the site id is only a name, as before.
    let single = DEMO.replacen("id = \"sendai-honcho\"", "id = \"Sendai_Honcho\"", 1);
    assert_eq!(parse_site("site.toml", &single).unwrap().grant_tag(), None);
}

#[test]
fn the_console_section_is_read_and_its_mistakes_named() {
    assert_eq!(parse_site("demo.toml", DEMO).unwrap().console, ConsoleSettings::default(), "absent: nothing set");
    let with = format!(
        "{DEMO}\n[console]\nlisten = \"192.0.2.10:8470\"\ntls_cert = \"/etc/tobira/console.crt\"\n\
         tls_key = \"/etc/tobira/console.key\"\nclient_ca = \"/etc/tobira/staff-ca.crt\"\n"
    );
    let c = parse_site("site.toml", &with).unwrap().console;
    assert_eq!(c.listen, Some("192.0.2.10:8470".parse().unwrap()));
    assert_eq!(
        c.tls.as_ref().map(|(c, k)| (c.to_str().unwrap(), k.to_str().unwrap())),
        Some(("/etc/tobira/console.crt", "/etc/tobira/console.key"))
    );
    assert_eq!(c.client_ca.as_deref().and_then(|p| p.to_str()), Some("/etc/tobira/staff-ca.crt"));

    let bad = with.replacen("\"192.0.2.10:8470\"", "\"192.0.2.10\"", 1);
    let e = err_of(&bad);
    assert_eq!((e.field.as_deref(), e.line), (Some("console.listen"), line_of(&bad, "listen = \"192.0.2.10\"")), "{e}");
    let bad = with.replacen("\"/etc/tobira/console.key\"", "\"console.key\"", 1);
    let e = err_of(&bad);
    assert_eq!(
        (e.field.as_deref(), e.line),
        (Some("console.tls_key"), line_of(&bad, "tls_key = \"console.key\"")),
        "{e}"
    );
    let bad = with.replacen("tls_key = \"/etc/tobira/console.key\"\n", "", 1);
    assert_eq!(err_of(&bad).field.as_deref(), Some("console.tls_key"), "a certificate without its key");
    let bad = with.replacen("tls_cert = \"/etc/tobira/console.crt\"\ntls_key = \"/etc/tobira/console.key\"\n", "", 1);
    let e = err_of(&bad);
    assert_eq!(e.field.as_deref(), Some("console.client_ca"), "client certificates without TLS: {e}");
    assert!(err_of(&format!("{DEMO}\n[console]\nlisen = \"x\"\n")).message.contains("unknown field"));
}
