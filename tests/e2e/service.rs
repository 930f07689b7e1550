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
