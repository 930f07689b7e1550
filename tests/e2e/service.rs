//! Running tobirad like a service (issue 19): what systemd hears over `NOTIFY_SOCKET` (sd_notify(3)),
//! heard here on a unix datagram socket the test binds in systemd's place.

use crate::common::{Running, demo_site};
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
            assert!(o.status.success(), "promtool check metrics: {}\n{body}", crate::common::text(&o));
        }
        Err(e) => eprintln!(
            "\n*** PROMTOOL MISSING ({e}): `promtool check metrics` NOT RUN. Install Debian's `prometheus` \
             package (scripts/setup does). ***\n"
        ),
    }
}
