//! A new site's first steps (issue 22): `tobirad --init` creates the stores, says what to do next and exits;
//! it refuses an existing store, and a site it cannot run is refused before anything is created.

use crate::common::{TOBIRAD, cli, demo_site, text};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn init(site: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(TOBIRAD)
        .args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--init"])
        .args(extra)
        .output()
        .unwrap()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn init_creates_private_stores_prints_the_fingerprint_and_next_steps_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(&site, demo_site()).unwrap();
    let data = dir.path().join("data");
    // `.output()` returns only when tobirad exits: --init never runs the site.
    let o = init(&site, &data, &["--simulation"]);
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    assert!(!data.join("control.sock").exists(), "--init opened no socket: {said}");
    let key = tobira_audit::anchors::read_key_file(&dir.path().join("audit-signing.pub")).unwrap();
    assert!(said.contains(&tobira_audit::anchors::fingerprint(&key)), "prints the fingerprint: {said}");
    assert!(said.contains("next:") && said.contains("person add") && said.contains("systemctl"), "{said}");
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    for f in ["registry.db", "audit.db", "template.key", "audit-signing.key"] {
        let m = std::fs::metadata(data.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{f} is private");
    }
    for e in std::fs::read_dir(&data).unwrap() {
        let p = e.unwrap().path();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o077, 0, "{} closed to others", p.display());
    }

    // A second --init is refused and changes nothing.
    let before = std::fs::read(data.join("registry.db")).unwrap();
    let o = init(&site, &data, &["--simulation"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("already holds a site"), "{}", text(&o));
    assert_eq!(std::fs::read(data.join("registry.db")).unwrap(), before, "the existing store is untouched");

    // The site created starts without --init.
    let mut child = Command::new(TOBIRAD)
        .args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--simulation"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sock = data.join("control.sock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(sock.exists() && cli(&sock, &["status"]).status.success()) {
        assert!(child.try_wait().unwrap().is_none(), "the initialised site did not start");
        assert!(Instant::now() < deadline, "daemon did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn init_of_a_simulated_site_without_simulation_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(&site, demo_site()).unwrap();
    let data = dir.path().join("data");
    let o = init(&site, &data, &[]);
    let said = text(&o);
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("--simulation") && said.contains("simulated"), "names the cause and the fix: {said}");
    assert!(!data.exists(), "no data directory left behind: {said}");
    assert!(!dir.path().join("audit-signing.pub").exists(), "no pinned key left behind");
    assert!(!dir.path().join("audit-heads.json").exists(), "no high-water record left behind");
}

#[test]
fn init_as_root_gives_the_stores_to_the_service_user() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("site.toml");
    std::fs::write(&site, demo_site()).unwrap();
    let data = dir.path().join("data");
    if !is_root() {
        // Not root: another owner is refused, before anything is created.
        let o = init(&site, &data, &["--simulation", "--user", "nobody"]);
        assert!(!o.status.success() && text(&o).contains("only root"), "{}", text(&o));
        assert!(!data.exists());
        return;
    }
    let o = init(&site, &data, &["--simulation", "--user", "no-such-user-22"]);
    assert!(!o.status.success() && text(&o).contains("no such user"), "{}", text(&o));
    assert!(!data.exists(), "refused before anything was created");

    let o = init(&site, &data, &["--simulation", "--user", "nobody"]);
    assert!(o.status.success(), "{}", text(&o));
    let nobody = 65534; // Debian's nobody
    for p in std::iter::once(data.clone()).chain(std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().path())) {
        assert_eq!(std::fs::metadata(&p).unwrap().uid(), nobody, "{} belongs to the service user", p.display());
    }
    let pin = std::fs::metadata(dir.path().join("audit-signing.pub")).unwrap();
    assert_eq!(pin.uid(), 0, "the pinned key stays root's");
    assert_eq!(std::fs::metadata(dir.path().join("audit-heads.json")).unwrap().uid(), nobody, "raised by the daemon");
}

#[test]
fn human_output_shows_the_sites_local_time_and_json_keeps_the_wire() {
    let dir = tempfile::tempdir().unwrap();
    let d = crate::common::Running::start(dir.path());
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    let o = d.tobira(&["status"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("(times in JST (UTC+09:00))"), "the zone is named once in a heading: {t}");
    assert_eq!(t.matches("times in").count(), 1, "{t}");
    let now = t.lines().find(|l| l.starts_with("now: ")).unwrap_or_else(|| panic!("{t}"));
    assert!(now.starts_with("now: 2026-11-24 10:0"), "local wall-clock time: {now}");
    assert!(!now.contains('Z') && !now.contains('T') && !now.contains('.'), "no UTC, no fractions: {now}");
    let j = crate::common::status(&d);
    let wire = j["now"].as_str().unwrap();
    assert!(wire.starts_with("2026-11-24T01:0") && wire.ends_with('Z'), "--json keeps RFC 3339 in UTC: {wire}");
    assert_eq!(j["utc_offset"], "+09:00");
}

/// Issue 22 §4: the CLI says who must place which finger where, how many times, how long, and on a simulated
/// site which `tobira sim present` must come first — on stderr, so scripts reading stdout are unchanged.
#[test]
fn an_enrolment_announces_its_waits_and_the_simulators_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = crate::common::Running::start(dir.path());
    d.bootstrap();
    for _ in 0..3 {
        d.present("t01-reader", "takahashi");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("takahashi: place your finger 2 on t01-reader (1/3 … 3/3), 15 s each"), "{err}");
    assert!(err.contains("tobira sim present t01-reader takahashi --finger 2   (3 times)"), "{err}");
    assert!(!err.contains("to prove it is you"), "the bootstrap needs no proof yet: {err}");
    // Now an act that needs the actor's own finger first.
    d.present(crate::common::ADMIN_READER, "takahashi");
    let o = d.tobira(&["--actor", "takahashi", "--at", crate::common::ADMIN_READER, "person", "list"]);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("place your finger"), "a list waits for nobody");
    let o = d.tobira(&[
        "--actor",
        "takahashi",
        "--at",
        crate::common::ADMIN_READER,
        "grant",
        "add",
        "takahashi",
        "--place",
        "terminal:t-01",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("takahashi: place your finger on t02-reader (1/1), 15 s — to prove it is you"), "{err}");
}

/// Issue 22 §5: a refused act leaves no touch queued on the simulated reader, so the next person's proof
/// is not read against someone else's finger.
#[test]
fn a_refused_act_leaves_no_touch_queued() {
    let dir = tempfile::tempdir().unwrap();
    let d = crate::common::Running::start(dir.path());
    d.bootstrap();
    for _ in 0..3 {
        d.present("t01-reader", "takahashi");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    // Two touches queued, then an act refused before it reads them (no such person).
    d.present(crate::common::ADMIN_READER, "takahashi");
    d.present(crate::common::ADMIN_READER, "takahashi");
    let o = d.tobira(&[
        "--actor",
        "takahashi",
        "--at",
        crate::common::ADMIN_READER,
        "grant",
        "add",
        "nobody-such",
        "--place",
        "terminal:t-01",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    let c = d.tobira(&["--json", "sim", "clear", crate::common::ADMIN_READER]);
    let v: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap_or_else(|_| panic!("{}", text(&c)));
    assert_eq!(v["cleared"], 0, "nothing left queued after the refusal: {v}");
}

/// `tobira --json sim present READER BODY` at a door reader: the door's decision (a refusal exits non-zero).
fn at_door(d: &crate::common::Running, reader: &str, body: &str) -> serde_json::Value {
    let o = d.tobira(&["--json", "sim", "present", reader, body]);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)))
}

/// Issue 22 §5: one simulated person has the same finger on every simulated reader kind. On a site with
/// template-level readers (`sim-finger`: t01-reader, the terminal room's door) and image readers (`sim-r30x`:
/// t02-reader, the server room's door), whoever is enrolled at one kind proves themselves 1:1 (003 §7) and
/// is identified 1:N at a door (003 §13) at the other; a stranger is identified at neither.
#[test]
fn a_person_enrolled_at_one_simulated_reader_kind_is_identified_at_the_other() {
    use crate::common::ADMIN_READER;
    let dir = tempfile::tempdir().unwrap();
    let site = tobira_cli::harness::office_reader_site("sim-finger").unwrap();
    assert!(site.contains("id = \"t01-reader\"\nkind = \"sim-finger\""), "the harness's template-level reader");
    assert!(site.contains("id = \"t02-reader\"\nkind = \"sim-r30x\""), "the demo's image reader");
    assert!(site.contains("id = \"server-in\"\nkind = \"sim-r30x\""), "the demo's image reader");
    let d = crate::common::Running::start_with(dir.path(), &site, &[]);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.bootstrap();
    // Enrolled from minutiae at the template-level reader…
    for _ in 0..3 {
        d.present("t01-reader", "takahashi");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    // …proves themselves with an image at the R30x reader (d.act places the finger on t02-reader).
    let o = d.act(
        "takahashi",
        &["person", "add", "suzuki", "--name", "鈴木", "--roles", "data-manager", "--appointment-end", "2027-03-31"],
    );
    assert!(o.status.success(), "template-level enrolment, image proof: {}", text(&o));
    let o = d.act(
        "takahashi",
        &["person", "add", "tanaka", "--name", "田中", "--roles", "operator", "--appointment-end", "2027-03-31"],
    );
    assert!(o.status.success(), "{}", text(&o));

    // suzuki enrolled from images at the R30x reader (takahashi's proof first, then suzuki's three touches).
    d.present(ADMIN_READER, "takahashi");
    for _ in 0..3 {
        d.present(ADMIN_READER, "suzuki");
    }
    let o = d.tobira(&["--actor", "takahashi", "--at", ADMIN_READER, "enroll", "suzuki", "--reader", ADMIN_READER]);
    assert!(o.status.success(), "{}", text(&o));
    // tanaka enrolled from minutiae at the template-level reader.
    d.present(ADMIN_READER, "takahashi");
    for _ in 0..3 {
        d.present("t01-reader", "tanaka");
    }
    let o = d.tobira(&["--actor", "takahashi", "--at", ADMIN_READER, "enroll", "tanaka", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));

    // The reverse 1:1: suzuki, enrolled from images, proves themselves at the template-level reader.
    d.present("t01-reader", "suzuki");
    let o =
        d.tobira(&["--actor", "suzuki", "--at", "t01-reader", "grant", "add", "tanaka", "--place", "zone:server-room"]);
    assert!(o.status.success(), "image enrolment, template-level proof: {}", text(&o));
    assert!(d.act("takahashi", &["grant", "add", "suzuki", "--place", "zone:office"]).status.success());

    // 1:N at doors: tanaka (minutiae) identified from an image at server-in; suzuki (images) identified from
    // minutiae at the terminal room's door; strangers at neither.
    let v = at_door(&d, "server-in", "tanaka");
    assert_eq!((v["granted"].as_bool(), v["person"].as_str()), (Some(true), Some("tanaka")), "{v}");
    let v = at_door(&d, "office-palm", "suzuki");
    assert_eq!((v["granted"].as_bool(), v["person"].as_str()), (Some(true), Some("suzuki")), "{v}");
    for reader in ["server-in", "office-palm"] {
        let v = at_door(&d, reader, "sato");
        assert_eq!((v["person"].as_str(), v["reason"].as_str()), (None, Some("NOT_IDENTIFIED")), "{reader}: {v}");
    }
    assert!(d.stop().success());
}

/// Issue 22 §5, the timed-out case: the actor never places a finger, so their proof times out; the three
/// touches already queued at the enrolment reader are taken away with the refusal, not read by the next
/// command as its own.
#[test]
fn a_timed_out_act_leaves_no_touch_queued() {
    let dir = tempfile::tempdir().unwrap();
    const TIMEOUT: &str = "capture_timeout_s = 15";
    assert!(demo_site().contains(TIMEOUT), "the demo site's capture timeout changed; update this test");
    let site = demo_site().replace(TIMEOUT, "capture_timeout_s = 2");
    let d = crate::common::Running::start_with(dir.path(), &site, &[]);
    d.bootstrap();
    for _ in 0..3 {
        d.present("t01-reader", "takahashi");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = d.act(
        "takahashi",
        &["person", "add", "tanaka", "--name", "田中", "--roles", "operator", "--appointment-end", "2027-03-31"],
    );
    assert!(o.status.success(), "{}", text(&o));
    for _ in 0..3 {
        d.present("t01-reader", "tanaka");
    }
    // Nobody at the actor's reader: the proof times out.
    let o = d.tobira(&[
        "--actor",
        "takahashi",
        "--at",
        crate::common::ADMIN_READER,
        "enroll",
        "tanaka",
        "--reader",
        "t01-reader",
    ]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("within 2 s"), "the refusal is the timeout: {}", text(&o));
    for reader in ["t01-reader", crate::common::ADMIN_READER] {
        let c = d.tobira(&["--json", "sim", "clear", reader]);
        let v: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap_or_else(|_| panic!("{}", text(&c)));
        assert_eq!(v["cleared"], 0, "{reader}: nothing left queued after the timeout: {v}");
    }
    assert!(d.stop().success());
}

/// Issue 22 §5, logins too: one refused before any capture (no grant for the terminal) takes the touch
/// presented for it away, so the next login at that terminal does not read it as its own.
#[test]
fn a_refused_login_leaves_no_touch_queued() {
    let dir = tempfile::tempdir().unwrap();
    let d = crate::common::Running::start(dir.path());
    d.bootstrap();
    d.present("t01-reader", "takahashi");
    let o = d.tobira(&["--json", "login", "t-01", "takahashi"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"granted\":false"), "no terminal grant: {}", text(&o));
    let c = d.tobira(&["--json", "sim", "clear", "t01-reader"]);
    let v: serde_json::Value = serde_json::from_slice(&c.stdout).unwrap_or_else(|_| panic!("{}", text(&c)));
    assert_eq!(v["cleared"], 0, "nothing left queued after the refused login: {v}");
    assert!(d.stop().success());
}
