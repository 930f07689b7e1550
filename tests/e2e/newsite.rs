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
