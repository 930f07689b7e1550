//! Hostile local clients as figures (issue 15; THREATS "a local process on the terminal"): the real
//! `tobirad --simulation` with both sockets in a directory other users can reach, and floods held on them —
//! 2,000 rapid connect/close, 200 idle connections, 40 half-sent frames, by another user (`nobody`, in the
//! control socket's group) and by the administrator's own user — while the administrator's `tobira status`
//! (through the CLI's client, "busy" retries included) is timed every 100 ms, and on the login socket a PAM
//! request too. The daemon's resident memory before and after. `tests/e2e/hostile.rs` asserts the bounds
//! (and the refusals' wording); this prints the figures (goal: the administrator served within 1 s).

use crate::faults::{Bed, IdleHolder, daemon_path, sigterm};
use crate::stats::{fmt, summarize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tobira_cli::client::Client;
use tobira_proto::{CONTROL_VERSION, Envelope, LoginContext, LoginMessage, LoginRequest, Request, encode};

const NOBODY: u32 = 65534;
/// How long each flood is held while the administrator asks.
const HOLD: Duration = Duration::from_secs(3);

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("VmRSS:")).map(str::to_owned))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// `status` every 100 ms for [`HOLD`]: every answer's time, and the calls that failed.
fn statuses(sock: &Path) -> (Vec<Duration>, usize) {
    let c = Client::new(sock);
    let (mut times, mut failed) = (Vec::new(), 0);
    let until = Instant::now() + HOLD;
    while Instant::now() < until {
        let t = Instant::now();
        match c.call(Request::Status) {
            Ok(_) => times.push(t.elapsed()),
            Err(_) => failed += 1,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (times, failed)
}

/// A PAM account request (as `pam_tobira.so` sends it) and the time to its result.
fn pam_request(login: &Path) -> anyhow::Result<(Duration, String)> {
    let t = Instant::now();
    let mut s = std::os::unix::net::UnixStream::connect(login)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let ctx = LoginContext {
        user: "takahashi".into(),
        service: "bench".into(),
        tty: None,
        rhost: None,
        terminal: "t-01".into(),
    };
    tobira_proto::write_frame(&mut s, &LoginRequest::Account(ctx))?;
    loop {
        match tobira_proto::read_frame::<_, LoginMessage>(&mut s)? {
            Some(LoginMessage::Result { reason, .. }) => return Ok((t.elapsed(), reason)),
            Some(_) => {}
            None => anyhow::bail!("the login socket closed without a result"),
        }
    }
}

fn row(what: &str, (times, failed): (Vec<Duration>, usize)) -> Duration {
    let s = summarize(times);
    println!(
        "  {what:<72} status p50 {:>9}, worst {:>9} ({} calls{})",
        fmt(s.p50),
        fmt(s.max),
        s.n,
        if failed > 0 { format!(", {failed} FAILED") } else { String::new() }
    );
    s.max
}

pub fn run() -> anyhow::Result<()> {
    let daemon = daemon_path()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let bed = Bed::new(tobira_cli::demo::DEMO_SITE, &daemon, rt)?;
    let life = bed.start()?;
    let (sock, login) = (bed.sock(), bed.login_sock());
    let pid = life.child.id();
    let rss_before = rss_kib(pid);
    println!(
        "hostile local clients on tobirad's sockets (the administrator's `status` every 100 ms for {HOLD:?} each):"
    );
    let mut worst = row("at rest", statuses(&sock));

    // Rapid connect/close, by the administrator's own user, throughout.
    let stop = Arc::new(AtomicBool::new(false));
    let (s2, sock2) = (stop.clone(), sock.clone());
    let churn = std::thread::spawn(move || {
        let mut n = 0u64;
        while !s2.load(Ordering::Relaxed) {
            drop(std::os::unix::net::UnixStream::connect(&sock2));
            n += 1;
        }
        n
    });
    let r = statuses(&sock);
    stop.store(true, Ordering::Relaxed);
    let n = churn.join().unwrap_or(0);
    worst = worst.max(row(&format!("rapid connect/close ({n} in {HOLD:?}, same user)"), r));

    let status_frame =
        encode(&Envelope { version: CONTROL_VERSION, actor: None, progress: false, body: Request::Status })?;
    for (who, uid) in [("another user", Some(NOBODY)), ("the administrator's own user", None)] {
        for (flood, n, payload) in
            [("200 idle connections", 200, &[][..]), ("40 half-sent frames", 40, &status_frame[..6])]
        {
            let held = IdleHolder::spawn_as(&sock, n, payload, uid)?;
            worst = worst.max(row(&format!("control socket, {flood} by {who}"), statuses(&sock)));
            drop(held);
        }
    }
    let account = encode(&LoginRequest::Account(LoginContext {
        user: "takahashi".into(),
        service: "login".into(),
        tty: None,
        rhost: None,
        terminal: "t-01".into(),
    }))?;
    let mut pam_worst = Duration::ZERO;
    for (flood, n, payload) in [("200 idle connections", 200, &[][..]), ("40 half-sent frames", 40, &account[..5])] {
        // The login socket is root's (the PAM stack's) only: the flood is root's too.
        let held = IdleHolder::spawn_as(&login, n, payload, None)?;
        let (pam, reason) = pam_request(&login)?;
        pam_worst = pam_worst.max(pam);
        worst =
            worst.max(row(&format!("login socket, {flood} (PAM answered in {}, {reason})", fmt(pam)), statuses(&sock)));
        drop(held);
    }
    let rss_after = rss_kib(pid);
    let term = sigterm(life);
    println!(
        "hostile clients: worst status {} (goal ≤ 1 s), worst PAM answer under a flood {}; tobirad VmRSS {:.1} → {:.1} MiB; SIGTERM after the floods {}",
        fmt(worst),
        fmt(pam_worst),
        rss_before as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        term.map(fmt).unwrap_or_else(|| "NOT within 10 s".into())
    );
    Ok(())
}
