//! Running tobirad like a service (issue 19): what systemd hears over `NOTIFY_SOCKET` (sd_notify(3)),
//! heard here on a unix datagram socket the test binds in systemd's place.

use crate::common::{Running, TOBIRA, cli, demo_site, text};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// Every datagram the daemon sent, one string each without its last newline ("READY=1\nSTATUS=…"), until `until` holds or `limit`.
fn listen(sock: &UnixDatagram, got: &mut Vec<String>, limit: Duration, until: impl Fn(&[String]) -> bool) {
    let deadline = Instant::now() + limit;
    let mut buf = vec![0u8; 4096];
    while !until(got) && Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).trim_end().to_string());
        }
    }
}

fn has(got: &[String], line: &str) -> Option<usize> {
    got.iter().position(|m| m.lines().any(|l| l == line))
}

#[test]
fn systemd_hears_ready_after_the_stores_and_the_audit_check_then_watchdog_pings_then_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    // WatchdogSec=2: pings every 0.5 s while the doors and the login socket answer.
    let d = Running::start_with(
        dir.path(),
        demo_site(),
        &[("NOTIFY_SOCKET", path.to_str().unwrap()), ("WATCHDOG_USEC", "2000000")],
    );
    // Running::start_with returned once the control socket answered `status`.
    let mut got = Vec::new();
    listen(&sock, &mut got, Duration::from_secs(30), |g| {
        has(g, "READY=1").is_some_and(|r| g[r..].iter().filter(|m| *m == "WATCHDOG=1").count() >= 3)
    });
    let ready = has(&got, "READY=1").unwrap_or_else(|| panic!("no READY=1: {got:?}"));
    // What the daemon was doing, in order, before it said it was ready.
    let order: Vec<usize> =
        ["STATUS=opening the stores", "STATUS=configuring the devices", "STATUS=verifying the audit chain"]
            .iter()
            .map(|s| has(&got, s).unwrap_or_else(|| panic!("no {s}: {got:?}")))
            .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]) && order[2] < ready, "{got:?}");
    let ready_msg = &got[ready];
    assert!(
        ready_msg.contains("STATUS=serving 3 doors and the login socket; audit chain verified"),
        "READY=1 comes with what is served and the audit check's result: {ready_msg}"
    );
    let pings = got[ready..].iter().filter(|m| *m == "WATCHDOG=1").count();
    assert!(pings >= 3, "the watchdog is pinged while doors and login answer: {got:?}");

    // A decision at a door keeps the pings going (the door task beats between events).
    d.bootstrap();
    let n = got.len();
    listen(&sock, &mut got, Duration::from_secs(10), |g| g[n..].iter().filter(|m| *m == "WATCHDOG=1").count() >= 2);
    assert!(got[n..].iter().filter(|m| *m == "WATCHDOG=1").count() >= 2, "{got:?}");

    let st = d.stop();
    assert!(st.success(), "{st:?}");
    let n = got.len();
    listen(&sock, &mut got, Duration::from_secs(5), |g| has(&g[n..], "STOPPING=1").is_some());
    assert!(has(&got[n..], "STOPPING=1").is_some(), "SIGTERM is said as STOPPING=1: {:?}", &got[n..]);
}

/// `GET /metrics` over plain HTTP/1.1, the body.
fn scrape(addr: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no HTTP response: {out}"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

/// The value of the sample line `series` (name and labels exactly as written), if present.
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// A port nobody listens on now (the daemon binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn metrics_count_the_decisions_and_faults_name_no_person_and_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let d = Running::start_with(dir.path(), demo_site(), &[("TOBIRA_METRICS", addr.as_str())]);
    d.bootstrap();
    // Three decisions at doors: a stranger twice, the administrator (who holds no grant to the server room).
    let mut want: std::collections::HashMap<String, u32> = Default::default();
    for body in ["stranger-1", "stranger-2", "takahashi"] {
        let o = d.tobira(&["--json", "sim", "present", "server-in", body]);
        let v: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim())
            .unwrap_or_else(|_| panic!("{}", crate::common::text(&o)));
        assert_eq!(v["granted"], false, "{v}");
        *want.entry(v["reason"].as_str().unwrap().to_string()).or_default() += 1;
    }
    // A reader fault: one episode, audited once, counted for that reader.
    assert!(d.tobira(&["sim", "unplug", "office-palm"]).status.success());
    let fault = r#"tobira_device_faults_total{device="office-palm",kind="device.fault"}"#;
    let deadline = Instant::now() + Duration::from_secs(20);
    let body = loop {
        let b = scrape(&addr);
        // The alarm task files the fault's alarm a moment after it is audited (the count is cached 1 s).
        if sample(&b, fault) == Some(1.0) && sample(&b, "tobira_alarms_open").is_some_and(|n| n >= 1.0) {
            break b;
        }
        assert!(Instant::now() < deadline, "no fault counted for office-palm, or no open alarm:\n{b}");
        std::thread::sleep(Duration::from_millis(200));
    };
    for (reason, n) in &want {
        let series = format!(r#"tobira_decisions_total{{outcome="denied",path="door",reason="{reason}"}}"#);
        assert_eq!(sample(&body, &series), Some(f64::from(*n)), "{series}:\n{body}");
    }
    assert_eq!(sample(&body, r#"tobira_decision_seconds_count{path="door"}"#), Some(3.0), "{body}");
    assert!(sample(&body, "tobira_audit_commit_seconds_count").is_some_and(|n| n >= 5.0), "{body}");
    assert!(
        sample(&body, "tobira_alarms_open").is_some_and(|n| n >= 1.0),
        "the reader fault is an open alarm:\n{body}"
    );
    assert!(sample(&body, "tobira_audit_head_seq").is_some_and(|n| n >= 5.0), "{body}");
    assert_eq!(sample(&body, "tobira_audit_queue_depth"), Some(0.0), "{body}");
    assert_eq!(sample(&body, "tobira_shipper_lag_events"), Some(0.0), "no centre in the demo site:\n{body}");
    assert_eq!(sample(&body, r#"tobira_watchdog_paths{state="stale"}"#), Some(0.0), "{body}");
    assert_eq!(sample(&body, r#"tobira_watchdog_paths{state="fresh"}"#), Some(4.0), "3 doors and login:\n{body}");
    for person in ["takahashi", "stranger", "高橋"] {
        assert!(!body.contains(person), "a person in the metrics ({person}):\n{body}");
    }

    // The city's monitoring checks the exposition with Prometheus's own linter.
    promtool_check(&body);
}

/// `promtool check metrics` on a scrape, or a loud word that it could not run.
fn promtool_check(body: &str) {
    match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(mut p) => {
            use std::io::Write;
            p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
            let o = p.wait_with_output().unwrap();
            assert!(o.status.success(), "promtool check metrics: {}\n{body}", text(&o));
        }
        Err(e) => eprintln!(
            "\n*** PROMTOOL MISSING ({e}): `promtool check metrics` NOT RUN. Install Debian's `prometheus` \
             package (scripts/setup does). ***\n"
        ),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Backup and restore (issue 19 §3).

/// The demo site with the system administrator bootstrapped and enrolled, so they can prove acts.
fn start_with_admin(dir: &std::path::Path) -> Running {
    let d = Running::start(dir);
    d.bootstrap();
    for _ in 0..3 {
        d.present("t01-reader", "takahashi");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]);
    assert!(o.status.success(), "{}", text(&o));
    d
}

fn json_of(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(o)))
}

fn restore(src: &std::path::Path, data: &std::path::Path, config: &std::path::Path) -> std::process::Output {
    std::process::Command::new(TOBIRA)
        .args(["restore", src.to_str().unwrap(), "--data-dir", data.to_str().unwrap()])
        .args(["--config", config.to_str().unwrap()])
        .output()
        .unwrap()
}

/// Files directly in `dir`, sorted.
fn listing(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_backup_taken_during_decisions_restores_onto_a_second_node_that_verifies_and_continues_the_chain() {
    let one = tempfile::tempdir().unwrap();
    let d = start_with_admin(one.path());
    // Decisions at a door all through the backup.
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    // The administrator at the server room's door, all through the backup: identified, refused for want of
    // a grant (an identified attempt never trips the stranger throttle).
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let done = std::sync::Arc::new(AtomicUsize::new(0));
    let (sock, flag, count) = (d.sock.clone(), stop.clone(), done.clone());
    let doors = std::thread::spawn(move || {
        let mut answers = Vec::new();
        while !flag.load(Ordering::Relaxed) && answers.len() < 200 {
            answers.push(cli(&sock, &["--json", "sim", "present", "server-in", "takahashi"]));
            count.fetch_add(1, Ordering::Relaxed);
        }
        answers
    });
    let wait_for = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while done.load(Ordering::Relaxed) < n && !doors.is_finished() {
            assert!(Instant::now() < deadline, "the door loop stalled");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for(2);
    let dest = one.path().join("backup-1");
    let o = d.act("takahashi", &["--json", "backup", dest.to_str().unwrap()]);
    // The door loop was running all along (a decision in flight while the copy was taken); it goes on.
    wait_for(done.load(Ordering::Relaxed) + 2);
    stop.store(true, Ordering::Relaxed);
    for a in doors.join().unwrap() {
        let v = json_of(&a);
        assert_eq!((v["granted"].as_bool(), v["person"].as_str()), (Some(false), Some("takahashi")), "{v}");
    }
    assert!(o.status.success(), "{}", text(&o));
    let v = json_of(&o);
    let head = v["head_seq"].as_i64().unwrap();
    assert!(head > 5, "the decisions before it are in the backup: {v}");
    assert_eq!(
        listing(&dest),
        ["SHA256SUMS", "audit.db", "audit.db.head", "manifest.json", "registry.db"],
        "the stores, their head and hashes; never a key"
    );
    assert!(listing(one.path()).iter().all(|n| !n.contains("partial")), "{:?}", listing(one.path()));
    // The backup itself is on record, after the head it holds.
    assert!(v["audit_seq"].as_i64().is_some_and(|s| s > head), "{v}");
    let data_one = d.data.clone();
    assert!(d.stop().success());

    // A new node: the site file and the pinned key from /etc, the keys from the key backup, the stores restored.
    let two = tempfile::tempdir().unwrap();
    let data_two = two.path().join("data");
    std::fs::copy(one.path().join("site.toml"), two.path().join("site.toml")).unwrap();
    std::fs::copy(one.path().join("audit-signing.pub"), two.path().join("audit-signing.pub")).unwrap();
    let o = restore(&dest, &data_two, &two.path().join("site.toml"));
    assert!(o.status.success(), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains(&format!("audit chain verified to event {head}")), "{said}");
    for key in ["template.key", "audit-signing.key", "transport.key"] {
        assert!(said.lines().any(|l| l.trim_start().starts_with(key) && l.contains("missing")), "{key}: {said}");
    }
    let v = crate::common::verify(&data_two, &[]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(text(&v).contains(&format!("{head} events")), "{}", text(&v));

    for key in ["template.key", "audit-signing.key"] {
        std::fs::copy(data_one.join(key), data_two.join(key)).unwrap();
    }
    let d2 = Running::start_with(two.path(), demo_site(), &[]);
    // The enrolled administrator still proves acts: templates open with the restored key.
    let o = d2.act("takahashi", &["--json", "audit", "verify", "--online"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = cli(&d2.sock, &["--json", "sim", "present", "server-in", "stranger-after"]);
    assert!(json_of(&o)["audit_seq"].as_i64().is_some_and(|s| s > head), "the chain continues after the backup's head");
    assert!(d2.stop().success());
    let v = crate::common::verify(&data_two, &[]);
    assert!(v.status.success(), "the continued chain verifies: {}", text(&v));
}

#[test]
fn a_tampered_backup_or_a_running_node_is_refused_and_nothing_is_written() {
    let one = tempfile::tempdir().unwrap();
    let d = start_with_admin(one.path());
    let dest = one.path().join("b");
    let o = d.act("takahashi", &["backup", dest.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let config = one.path().join("site.toml");

    // Over the running node itself.
    let o = restore(&dest, &d.data, &config);
    crate::common::refused(&o, "a tobirad answers");
    // Over a directory that holds a site (the daemon stopped).
    let data = d.data.clone();
    assert!(d.stop().success());
    let before = listing(&data);
    crate::common::refused(&restore(&dest, &data, &config), "already holds registry.db");
    assert_eq!(listing(&data), before);

    let target = one.path().join("new-node");
    // One byte changed on the way.
    let copy = |name: &str| {
        let to = one.path().join(name);
        std::fs::create_dir(&to).unwrap();
        for f in listing(&dest) {
            std::fs::copy(dest.join(&f), to.join(&f)).unwrap();
        }
        to
    };
    let flipped = copy("flipped");
    let mut bytes = std::fs::read(flipped.join("registry.db")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(flipped.join("registry.db"), bytes).unwrap();
    let o = restore(&flipped, &target, &config);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    crate::common::refused(&o, "registry.db: does not match the manifest");
    assert!(!target.exists(), "nothing written");

    // History rewritten and every hash recomputed, the manifest too: the signed head no longer matches.
    let rewritten = copy("rewritten");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(crate::common::rewrite_event(&rewritten.join("audit.db"), 3));
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rewritten.join("manifest.json")).unwrap()).unwrap();
    for f in m["files"].as_array_mut().unwrap() {
        let (sha, size) = tobira_audit::backup::sha256_file(&rewritten.join(f["name"].as_str().unwrap())).unwrap();
        f["sha256"] = sha.into();
        f["size"] = size.into();
    }
    // …and the head it states, to the rewritten chain's (the signature over the old head then fails).
    let new_head: Vec<u8> = rt.block_on(async {
        use sqlx::Connection;
        let db = rewritten.join("audit.db");
        let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        sqlx::query_scalar("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetch_one(&mut c).await.unwrap()
    });
    m["head"]["hash"] = hex::encode(new_head).into();
    std::fs::write(rewritten.join("manifest.json"), m.to_string()).unwrap();
    let o = restore(&rewritten, &target, &config);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    crate::common::refused(&o, "the backup's audit chain does not verify");
    assert!(!target.exists(), "nothing written");

    // The untouched backup restores.
    let o = restore(&dest, &target, &config);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_full_or_read_only_destination_fails_leaving_nothing_and_the_daemon_unaffected() {
    let one = tempfile::tempdir().unwrap();
    let vol = one.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    let base = one.path().to_path_buf();
    // The daemon starts inside the private mount namespace, so it sees the small disk.
    crate::hostile::on_small_disk(vol, "64k", move |vol| {
        let d = start_with_admin(&base);
        for (case, dest) in [("full", vol.join("b")), ("read-only", vol.join("b"))] {
            if case == "read-only" {
                let target = std::ffi::CString::new(vol.as_os_str().as_encoded_bytes()).unwrap();
                // SAFETY: a remount of this thread's own tmpfs, with a valid NUL-terminated path.
                let r = unsafe {
                    libc::mount(
                        std::ptr::null(),
                        target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_REMOUNT | libc::MS_RDONLY,
                        std::ptr::null(),
                    )
                };
                assert_eq!(r, 0, "remount read-only: {}", std::io::Error::last_os_error());
            }
            let o = d.act("takahashi", &["backup", dest.to_str().unwrap()]);
            assert!(!o.status.success(), "{case}: {}", text(&o));
            let said = text(&o);
            assert!(said.contains("nothing was left there and the node runs on"), "{case}: {said}");
            if case == "full" {
                assert!(said.contains("ディスク容量不足"), "the full disk is named: {said}");
            } else {
                assert!(said.to_lowercase().contains("read-only"), "the cause is named: {said}");
            }
            assert!(listing(vol).is_empty(), "{case}: nothing half-written: {:?}", listing(vol));
            // The daemon is unaffected: it decides, and a backup elsewhere works.
            let o = d.tobira(&["--json", "sim", "present", "server-in", "stranger"]);
            assert_eq!(json_of(&o)["reason"], "NOT_IDENTIFIED", "{case}: {}", text(&o));
        }
        let ok = base.join("elsewhere");
        let o = d.act("takahashi", &["backup", ok.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let refusals = text(&d.act("takahashi", &["--json", "audit", "show", "--kind", "admin.refused"]));
        assert!(refusals.matches("\"backup\"").count() >= 2, "each failed backup is on record: {refusals}");
        assert!(d.stop().success());
    });
}

// ---------------------------------------------------------------------------------------------------------
// The Debian package (issue 19 §4).

fn run(cmd: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(cmd).args(args).output().unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

/// dpkg on a scratch root: its own database, maintainer scripts run outside a chroot with `DPKG_ROOT` set
/// (`--force-script-chrootless`), so the host's users, files and services are never touched — the other
/// tests, running at the same time as root, rely on there being no `tobira` user on the host.
fn dpkg(root: &std::path::Path, args: &[&str]) -> std::process::Output {
    let admin = root.join("var/lib/dpkg");
    std::process::Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg(format!("--admindir={}", admin.display()))
        .args(["--force-script-chrootless", "--force-not-root", "--force-depends", "--log=/dev/null"])
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn the_debian_package_installs_runs_a_simulated_site_loads_its_pam_module_and_purges() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        crate::hostile::cannot_run(
            "the Debian package test writes a PAM service to /etc/pam.d (needs root; CI runs as root)",
        );
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // The binaries this test runs beside (scripts/test builds them all, and pam_tobira).
    let target = TOBIRA.path().parent().and_then(std::path::Path::parent).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let o = std::process::Command::new(src.join("scripts/package"))
        .args(["--profile", "dev", "--no-build", "--out", work.path().to_str().unwrap()])
        .env("CARGO_TARGET_DIR", target)
        .output()
        .unwrap();
    assert!(o.status.success(), "scripts/package: {}", text(&o));
    let said = String::from_utf8_lossy(&o.stdout).into_owned();
    eprintln!("{said}");
    let deb = said.lines().last().unwrap().trim().to_string();
    assert!(deb.ends_with(".deb"), "{said}");
    assert!(!said.lines().any(|l| l.starts_with("E: ") || l.starts_with("W: ")), "lintian: {said}");

    // A scratch root with an empty dpkg database and the directories a base system has.
    let root = work.path().join("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc", "usr/sbin", "run"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let o = dpkg(&root, &["-i", &deb]);
    assert!(o.status.success(), "dpkg -i: {}", text(&o));
    assert!(text(&o).contains("no site exists and nothing was started"), "{}", text(&o));
    assert!(text(&o).contains("tobirad --init"), "{}", text(&o));
    let multiarch = String::from_utf8(run("dpkg-architecture", &["-qDEB_HOST_MULTIARCH"]).stdout).unwrap();
    let module = root.join(format!("usr/lib/{}/security/pam_tobira.so", multiarch.trim()));
    let tobirad = root.join("usr/bin/tobirad");
    for f in [&tobirad, &root.join("usr/bin/tobira"), &root.join("lib/systemd/system/tobirad.service"), &module] {
        assert!(f.exists(), "{} installed", f.display());
    }
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    assert!(passwd.lines().any(|l| l.starts_with("tobira:")), "sysusers.d made the tobira user: {passwd}");
    let var = root.join("var/lib/tobira");
    assert_eq!(std::fs::metadata(&var).map(|m| m.permissions().mode() & 0o777).ok(), Some(0o700), "tmpfiles.d");
    assert_eq!(listing(&var), Vec::<String>::new(), "installing creates no site");

    // The installed programs on a scratch site: the example site file (simulated devices).
    let site = work.path().join("site.toml");
    std::fs::copy(root.join("usr/share/doc/tobira/examples/site.toml"), &site).unwrap();
    let data = work.path().join("data");
    let (site_s, data_s) = (site.to_str().unwrap(), data.to_str().unwrap());
    let o = std::process::Command::new(&tobirad)
        .args(["--init", "--simulation", "--config", site_s, "--data-dir", data_s, "--user", "root"])
        .output()
        .unwrap();
    assert!(o.status.success(), "installed tobirad --init: {}", text(&o));
    let addr = format!("127.0.0.1:{}", free_port());
    let mut daemon = std::process::Command::new(&tobirad)
        .args(["--simulation", "--config", site_s, "--data-dir", data_s, "--metrics", &addr])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let sock = data.join("control.sock");
    let tobira = |args: &[&str]| {
        std::process::Command::new(root.join("usr/bin/tobira")).arg("--socket").arg(&sock).args(args).output().unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !tobira(&["status"]).status.success() {
        assert!(daemon.try_wait().unwrap().is_none(), "the installed tobirad exited at start");
        assert!(Instant::now() < deadline, "the installed tobirad did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let v = json_of(&tobira(&["--json", "sim", "present", "server-in", "stranger"]));
    assert_eq!(v["reason"], "NOT_IDENTIFIED", "{v}");

    // The installed PAM module under pamtester.
    let service = format!("tobira-pkgtest-{}", std::process::id());
    let pam = std::path::PathBuf::from("/etc/pam.d").join(&service);
    let args = format!("{} socket={} terminal=t-01 timeout=5", module.display(), data.join("login.sock").display());
    std::fs::write(&pam, format!("auth required {args}\naccount required {args}\n")).unwrap();
    let o = run("pamtester", &["-v", &service, "nobody-registered", "authenticate"]);
    let _ = std::fs::remove_file(&pam);
    assert!(!o.status.success(), "an unregistered user does not log in: {}", text(&o));
    assert!(!text(&o).contains("unable to dlopen"), "the module loads: {}", text(&o));
    let metrics = scrape(&addr);
    assert!(
        metrics.lines().any(|l| l.starts_with("tobira_decisions_total{") && l.contains(r#"path="login""#)),
        "the login reached the installed daemon through the installed module:\n{metrics}"
    );
    promtool_check(&metrics);

    // SAFETY: signalling our own child.
    unsafe { libc::kill(daemon.id() as libc::pid_t, libc::SIGTERM) };
    assert!(daemon.wait().unwrap().success());
    let o = dpkg(&root, &["--purge", "tobira"]);
    assert!(o.status.success(), "dpkg --purge: {}", text(&o));
    assert!(!tobirad.exists() && !module.exists(), "purged");
    assert!(!var.exists(), "the empty directory the package made is gone");
    assert!(data.join("audit.db").exists(), "a site's records are never the package's to remove");
}

/// `scripts/package` with a version, into `out`: the .deb's path.
fn package(out: &std::path::Path, version: Option<&str>) -> String {
    let target = TOBIRA.path().parent().and_then(std::path::Path::parent).unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut c = std::process::Command::new(src.join("scripts/package"));
    c.args(["--profile", "dev", "--no-build", "--out", out.to_str().unwrap()]).env("CARGO_TARGET_DIR", target);
    if let Some(v) = version {
        c.env("TOBIRA_PACKAGE_VERSION", v);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "scripts/package: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).lines().last().unwrap().trim().to_string()
}

/// Stand-ins for the commands the maintainer scripts call on a live system: each records its arguments;
/// `deb-systemd-invoke try-restart` also does systemd's first half of a restart, SIGTERM to the running
/// daemon (the test then starts the new one, as systemd would).
const STUB: &str = r#"#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
if [ "$(basename "$0")" = deb-systemd-invoke ] && [ "$1" = try-restart ] && [ -s "$STUB_PIDFILE" ]; then
  kill -TERM "$(cat "$STUB_PIDFILE")"
fi
exit 0
"#;

#[test]
fn a_package_installed_over_a_running_older_daemon_restarts_it_cleanly_on_the_same_data() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        crate::hostile::cannot_run("the upgrade's maintainer scripts run with a private /run/systemd (needs root)");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let old_deb = package(&work.path().join("old"), Some("0.0.1~old"));
    let new_deb = package(&work.path().join("new"), None);
    let new_version = new_deb.rsplit('/').next().unwrap().split('_').nth(1).unwrap().to_string();
    let root = work.path().join("root");
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc", "usr/sbin", "run"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    let o = dpkg(&root, &["-i", &old_deb]);
    assert!(o.status.success(), "dpkg -i (old): {}", text(&o));

    // The old package's daemon on a simulated site.
    let site = work.path().join("site.toml");
    std::fs::copy(root.join("usr/share/doc/tobira/examples/site.toml"), &site).unwrap();
    let data = work.path().join("data");
    let (site_s, data_s) = (site.to_str().unwrap().to_string(), data.to_str().unwrap().to_string());
    let tobirad = root.join("usr/bin/tobirad");
    let o = std::process::Command::new(&tobirad)
        .args(["--init", "--simulation", "--config", &site_s, "--data-dir", &data_s, "--user", "root"])
        .output()
        .unwrap();
    assert!(o.status.success(), "installed tobirad --init: {}", text(&o));
    let start = || {
        std::process::Command::new(&tobirad)
            .args(["--simulation", "--config", &site_s, "--data-dir", &data_s])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let sock = data.join("control.sock");
    let tobira = |args: &[&str]| {
        std::process::Command::new(root.join("usr/bin/tobira")).arg("--socket").arg(&sock).args(args).output().unwrap()
    };
    let up = |d: &mut std::process::Child| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !tobira(&["status"]).status.success() {
            assert!(d.try_wait().unwrap().is_none(), "the installed tobirad exited at start");
            assert!(Instant::now() < deadline, "the installed tobirad did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let decide = || {
        let v = json_of(&tobira(&["--json", "sim", "present", "server-in", "stranger"]));
        assert_eq!(v["reason"], "NOT_IDENTIFIED", "{v}");
        v["audit_seq"].as_i64().unwrap()
    };
    let mut old = start();
    up(&mut old);
    let first = decide();

    // dpkg unpacks the new package over the running daemon (the old prerm is told `upgrade`): the files are
    // replaced, the old daemon runs on from its unlinked binary and keeps answering.
    let o = dpkg(&root, &["--unpack", &new_deb]);
    assert!(o.status.success(), "dpkg --unpack (new): {}", text(&o));
    assert!(old.try_wait().unwrap().is_none(), "the old daemon still runs during the unpack");
    let during = decide();
    assert!(during > first, "{first} → {during}");

    // The maintainer scripts as dpkg runs them on a live systemd machine (no DPKG_ROOT; /run/systemd/system
    // present, here in a private /run): the old prerm `upgrade NEW`, then the new postinst `configure OLD`.
    let ctrl = |deb: &str, to: &std::path::Path| {
        let o = run("dpkg-deb", &["-e", deb, to.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
    };
    let (old_ctrl, new_ctrl) = (work.path().join("old-ctrl"), work.path().join("new-ctrl"));
    ctrl(&old_deb, &old_ctrl);
    ctrl(&new_deb, &new_ctrl);
    let stubs = work.path().join("stubs");
    std::fs::create_dir(&stubs).unwrap();
    for s in ["systemctl", "deb-systemd-invoke", "systemd-sysusers", "systemd-tmpfiles"] {
        std::fs::write(stubs.join(s), STUB).unwrap();
        std::fs::set_permissions(stubs.join(s), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let (log, pidfile) = (work.path().join("stub.log"), work.path().join("tobirad.pid"));
    std::fs::write(&pidfile, old.id().to_string()).unwrap();
    let path = format!("{}:{}", stubs.display(), std::env::var("PATH").unwrap_or_default());
    let nv = new_version.clone();
    let said = crate::hostile::on_small_disk(std::path::PathBuf::from("/run"), "1m", move |run| {
        std::fs::create_dir_all(run.join("systemd/system")).unwrap();
        let script = |p: std::path::PathBuf, args: &[&str]| {
            let o = std::process::Command::new(p)
                .args(args)
                .env_remove("DPKG_ROOT")
                .env("PATH", &path)
                .env("STUB_LOG", &log)
                .env("STUB_PIDFILE", &pidfile)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", text(&o));
        };
        script(old_ctrl.join("prerm"), &["upgrade", &nv]);
        let before_postinst = std::fs::read_to_string(&log).unwrap_or_default();
        script(new_ctrl.join("postinst"), &["configure", "0.0.1~old"]);
        (before_postinst, std::fs::read_to_string(&log).unwrap_or_default())
    })
    .expect("a private /run (mount namespace)");
    let (after_prerm, calls) = said;
    eprintln!("maintainer scripts called:\n{calls}");
    assert!(!after_prerm.contains("stop"), "the old prerm leaves the daemon to the new postinst: {after_prerm}");
    assert!(calls.contains("systemctl --system daemon-reload"), "{calls}");
    assert!(calls.contains("deb-systemd-invoke try-restart tobirad.service"), "{calls}");
    assert!(!calls.contains(" start ") && !calls.contains("enable"), "an upgrade starts nothing new: {calls}");

    // The restart: SIGTERM, and the old daemon stops cleanly (events in flight finished, final checkpoint);
    // systemd's second half, starting it again, is the test's: the new binary on the same data.
    let st = old.wait().unwrap();
    assert!(st.success(), "the old daemon stopped cleanly on the restart's SIGTERM: {st}");
    let o = dpkg(&root, &["--configure", "tobira"]);
    assert!(o.status.success(), "dpkg --configure: {}", text(&o));
    let q = std::process::Command::new("dpkg-query")
        .arg(format!("--admindir={}", root.join("var/lib/dpkg").display()))
        .args(["-W", "-f", "${Version} ${Status}", "tobira"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&q.stdout), format!("{new_version} install ok installed"));
    let mut new = start();
    up(&mut new);
    let after = decide();
    assert!(after > during, "the new daemon continues the chain: {during} → {after}");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(new.id() as libc::pid_t, libc::SIGTERM) };
    assert!(new.wait().unwrap().success());
    let o = std::process::Command::new(root.join("usr/bin/tobira"))
        .args(["audit", "verify", "--data-dir", &data_s, "--config", site.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(o.status.success(), "audit verify after the upgrade: {}", text(&o));
    assert!(text(&o).contains("is intact"), "{}", text(&o));
}

// ---------------------------------------------------------------------------------------------------------
// Logs (issue 19 §5).

/// The fields of one journal datagram (native protocol: `KEY=value\n`, or `KEY\n` + 64-bit LE length + value).
fn journal_fields(mut b: &[u8]) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    while !b.is_empty() {
        let line_end = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
        let line = &b[..line_end];
        if let Some(eq) = line.iter().position(|&c| c == b'=') {
            out.insert(String::from_utf8_lossy(&line[..eq]).into(), String::from_utf8_lossy(&line[eq + 1..]).into());
            b = &b[(line_end + 1).min(b.len())..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &b[line_end + 1..];
            let n = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            out.insert(key, String::from_utf8_lossy(&rest[8..8 + n]).into());
            b = &rest[(8 + n + 1).min(rest.len())..];
        }
    }
    out
}

#[test]
fn under_systemd_the_decisions_go_to_the_journal_with_their_fields_and_no_person() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().to_path_buf();
    // journald's socket is at a fixed path: a private /run (a tmpfs in this thread's mount namespace) holds ours.
    crate::hostile::on_small_disk(std::path::PathBuf::from("/run"), "1m", move |run| {
        std::fs::create_dir_all(run.join("systemd/journal")).unwrap();
        let journal = UnixDatagram::bind(run.join("systemd/journal/socket")).unwrap();
        journal.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        // systemd names the stream it connected stderr to; Running gives the daemon /dev/null as stderr.
        let null = std::fs::metadata("/dev/null").unwrap();
        let stream = {
            use std::os::unix::fs::MetadataExt;
            format!("{}:{}", null.dev(), null.ino())
        };
        let d = Running::start_with(&base, demo_site(), &[("JOURNAL_STREAM", stream.as_str())]);
        d.bootstrap();
        let v = json_of(&cli(&d.sock, &["--json", "sim", "present", "server-in", "takahashi"]));
        assert_eq!(v["granted"], false, "{v}");
        let mut buf = vec![0u8; 65536];
        let deadline = Instant::now() + Duration::from_secs(10);
        let decision = loop {
            assert!(Instant::now() < deadline, "no access decision reached the journal");
            let Ok(n) = journal.recv(&mut buf) else { continue };
            let f = journal_fields(&buf[..n]);
            if f.get("MESSAGE").is_some_and(|m| m == "access decision") {
                break f;
            }
        };
        assert_eq!(decision.get("SYSLOG_IDENTIFIER").map(String::as_str), Some("tobirad"), "{decision:?}");
        assert_eq!(decision.get("PLACE").map(String::as_str), Some("server-door"), "{decision:?}");
        assert_eq!(decision.get("FLOW").map(String::as_str), Some("door"), "{decision:?}");
        assert_eq!(decision.get("REASON"), v["reason"].as_str().map(String::from).as_ref(), "{decision:?}");
        assert_eq!(decision.get("GRANTED").map(String::as_str), Some("false"), "{decision:?}");
        assert!(decision.values().all(|x| !x.contains("takahashi") && !x.contains("高橋")), "{decision:?}");
        assert!(d.stop().success());
    });
}
