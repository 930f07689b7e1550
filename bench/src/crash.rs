//! The crash loop (issue 15, "a fault harness"): the real `tobirad --simulation` on a small site, concurrent
//! door decisions (simulated presentations at the server room's two readers) and terminal logins (the login
//! socket, as `pam_tobira.so` asks), then `kill -9` at a random moment — during start-up, under load, or
//! while a key rotation (`tobira key rotate`, 001 §15(4)) is in progress — and a restart. After each kill,
//! with the daemon dead:
//! - every decision a client was told about is in the audit store: a door decision at the `audit_seq` it
//!   was reported with, naming the same person, and a reported grant with its `STRIKE_ACKNOWLEDGED` (no
//!   entry without the strike, 003 §13); a login answer counted against the store's login events of that
//!   user and reason (the login socket's answer carries no sequence number); an acknowledged rotation at its
//!   `audit_seq`;
//! - `tobira audit verify` against the key pinned at `--init` says the chain is intact (003 §17).
//!
//! A start that ends on its own or does not answer within a minute is a failed start. The randomness is a
//! seeded SplitMix64, so a run can be replayed with `--seed`. Ctrl-C stops at the next check and prints the
//! figures so far. The e2e test `tests/e2e/crash.rs` runs a few rounds of this same command and reads the
//! `crash-figures:` line it ends with.

use crate::interrupt;
use crate::stats::{fmt, summarize};
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tobira_cli::client::Client;
use tobira_proto::{ActorClaim, DecisionReport, Request, SimCommand};

/// How long a start may take before it counts as failed.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// Consecutive failed starts after which the loop gives up (the store is then what needs looking at).
const GIVE_UP_AFTER: usize = 3;

/// SplitMix64 (Steele, Lea, Flood 2014): enough for choosing moments and people, and reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi.saturating_sub(lo) + 1))
    }
}

/// Where in a daemon's life the kill lands.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Moment {
    StartUp,
    Load,
    Rotation,
}

/// A door decision as its client was told it.
#[derive(Clone, Debug)]
struct DoorAck {
    seq: i64,
    person: Option<String>,
    granted: bool,
}

/// Everything the daemon acknowledged to a client, over all runs.
#[derive(Default)]
struct Acked {
    doors: Vec<DoorAck>,
    /// (user, event kind, reason) → answers given.
    logins: HashMap<(String, String, String), usize>,
    rotations: Vec<i64>,
}

impl Acked {
    fn total(&self) -> usize {
        self.doors.len() + self.logins.values().sum::<usize>() + self.rotations.len()
    }
}

#[derive(Default)]
struct Figures {
    runs: usize,
    by_moment: HashMap<&'static str, usize>,
    lost: usize,
    failed_starts: usize,
    verify_failures: usize,
    startups: Vec<Duration>,
    run_times: Vec<Duration>,
    verify_times: Vec<Duration>,
    /// Door presentations by enrolled people by the reason they were answered with (a rotation that lost
    /// the templates would show here as people no longer identified).
    enrolled_reasons: HashMap<String, usize>,
    /// Runs killed under load (or in a rotation) before any answer of theirs was acknowledged: such a kill
    /// proves nothing about acknowledged decisions, so the loop waits for one first and counts a wait that
    /// ran out.
    idle_runs: usize,
}

/// How long a run under load waits for its first acknowledged answer before the drawn delay starts: a
/// person's first presentation grows their master print (issue 22 §5), a few hundred milliseconds in a
/// release build and seconds in a debug build on a loaded machine.
const FIRST_ANSWER_WAIT: Duration = Duration::from_secs(60);

fn body(i: u64) -> String {
    format!("op{i:05}")
}

/// The daemon under test (`TOBIRA_BENCH_TOBIRAD`, or the one beside this program) and the CLI beside it.
fn programs() -> anyhow::Result<(PathBuf, PathBuf)> {
    let daemon = match std::env::var_os("TOBIRA_BENCH_TOBIRAD") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()?.with_file_name("tobirad"),
    };
    let cli = daemon.with_file_name("tobira");
    for p in [&daemon, &cli] {
        if !p.exists() {
            bail!("{} not found: build it first (cargo build --release -p tobira -p tobira-cli --bins)", p.display());
        }
    }
    Ok((daemon, cli))
}

/// A moment on a working day with at least eight office hours ahead, so terminal logins stay inside office
/// hours (002 §5-2) however long the loop runs; the simulated clock starts there and follows real time.
fn office_morning(site_text: &str) -> anyhow::Result<DateTime<Utc>> {
    let site = tobira_core::site::parse_site("crash.toml", site_text)?;
    let open = |t| tobira_core::calendar::is_office_hours(&site.office_hours, site.utc_offset, t).is_open();
    let mut t = Utc::now();
    for _ in 0..(2 * 24 * 14) {
        if open(t) && open(t + chrono::Duration::hours(8)) {
            return Ok(t);
        }
        t += chrono::Duration::minutes(30);
    }
    bail!("no working day in the next two weeks")
}

struct Daemon {
    child: Child,
    started: Instant,
}

impl Daemon {
    fn spawn(bin: &Path, site: &Path, data: &Path, log: &Path) -> anyhow::Result<Daemon> {
        let _ = std::fs::remove_file(data.join("control.sock"));
        let args = ["--config", site.to_str().unwrap_or_default(), "--data-dir", data.to_str().unwrap_or_default()];
        let mut cmd = Command::new(bin);
        cmd.args(args)
            .arg("--simulation")
            .env("TOBIRA_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log)?);
        Ok(Daemon { child: cmd.spawn().context("starting tobirad")?, started: Instant::now() })
    }

    /// Waits for the control socket to answer; `Ok(None)` if the daemon ended or never answered.
    fn wait_up(&mut self, client: &Client) -> anyhow::Result<Option<Duration>> {
        loop {
            if client.call(Request::Status).is_ok() {
                return Ok(Some(self.started.elapsed()));
            }
            if self.child.try_wait()?.is_some() || self.started.elapsed() > START_DEADLINE {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill9(mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL) };
        let _ = self.child.wait();
    }

    fn stop(mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

/// The demo site with the server room's readers and the terminals' readers template-level (`sim-finger`):
/// the crash loop is about the record, not about extraction, and this keeps a run short.
fn site_text() -> anyhow::Result<String> {
    let mut s = tobira_cli::demo::DEMO_SITE.to_string();
    for r in ["server-in", "server-out", "t01-reader", "t02-reader"] {
        let stanza = format!("id = \"{r}\"\nkind = \"sim-r30x\"");
        if !s.contains(&stanza) {
            bail!("the demo site's reader stanza {stanza:?} changed; update bench/src/crash.rs");
        }
        s = s.replace(&stanza, &format!("id = \"{r}\"\nkind = \"sim-finger\""));
    }
    Ok(s)
}

/// One door client: presentations at `reader` until `stop`, each answer recorded as acknowledged.
fn door_worker(
    sock: PathBuf,
    reader: &'static str,
    people: u64,
    seed: u64,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Acked>>,
    figs: Arc<Mutex<HashMap<String, usize>>>,
) {
    let client = Client::new(sock);
    let mut rng = Rng(seed);
    while !stop.load(Ordering::Relaxed) {
        // One in fifty is a stranger (a refusal is a decision too, and must be on record as well).
        let stranger = rng.below(50) == 0;
        let who = if stranger { format!("stranger{}", rng.below(1_000_000)) } else { body(rng.below(people)) };
        let v = client.call(Request::Sim(SimCommand::Present { reader: reader.into(), body: who.clone(), finger: 2 }));
        let Ok(v) = v else { break };
        let Ok(r) = serde_json::from_value::<DecisionReport>(v) else { break };
        if !stranger {
            *figs.lock().unwrap_or_else(|e| e.into_inner()).entry(r.reason.clone()).or_default() += 1;
        }
        if let Some(seq) = r.audit_seq {
            let mut a = out.lock().unwrap_or_else(|e| e.into_inner());
            a.doors.push(DoorAck { seq, person: r.person, granted: r.granted });
        }
    }
}

/// One terminal: the person's finger on the terminal's reader, then the PAM module's request on the login
/// socket; every result is recorded by (user, event kind, reason).
fn login_worker(
    dir: PathBuf,
    terminal: &'static str,
    reader: &'static str,
    people: u64,
    seed: u64,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Acked>>,
) {
    use tobira_proto::{LoginContext, LoginMessage, LoginOutcome, LoginRequest, read_frame, write_frame};
    let client = Client::new(dir.join("control.sock"));
    let mut rng = Rng(seed);
    while !stop.load(Ordering::Relaxed) {
        let who = body(rng.below(people));
        let present = Request::Sim(SimCommand::Present { reader: reader.into(), body: who.clone(), finger: 2 });
        if client.call(present).is_err() {
            break;
        }
        let Ok(mut s) = std::os::unix::net::UnixStream::connect(dir.join("login.sock")) else { break };
        let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
        let ctx = LoginContext {
            user: who.clone(),
            service: "crash".into(),
            tty: None,
            rhost: None,
            terminal: terminal.into(),
        };
        if write_frame(&mut s, &LoginRequest::Authenticate(ctx)).is_err() {
            break;
        }
        let result = loop {
            match read_frame::<_, LoginMessage>(&mut s) {
                Ok(Some(LoginMessage::Result { outcome, reason, .. })) => break Some((outcome, reason)),
                Ok(Some(_)) => {}
                _ => break None,
            }
        };
        let Some((outcome, reason)) = result else { break };
        // Answers that are not decisions (the daemon busy, the record unavailable) have nothing on record.
        if matches!(reason.as_str(), "BUSY" | "AUDIT_UNAVAILABLE") {
            continue;
        }
        let kind = if outcome == LoginOutcome::Success { "login.success" } else { "login.failure" };
        let mut a = out.lock().unwrap_or_else(|e| e.into_inner());
        *a.logins.entry((who, kind.into(), reason)).or_default() += 1;
    }
}

/// The store's events as the checks need them: by seq (kind, subject, reason, details), and login counts.
struct Stored {
    by_seq: HashMap<i64, (String, Option<String>, String)>,
    acked_strikes: std::collections::HashSet<i64>,
    logins: HashMap<(String, String, String), usize>,
}

async fn read_store(db: &Path) -> anyhow::Result<Stored> {
    use sqlx::{ConnectOptions, Row};
    let mut c = sqlx::sqlite::SqliteConnectOptions::new().filename(db).read_only(true).connect().await?;
    let rows = sqlx::query("SELECT seq, kind, subject, reason, details FROM events").fetch_all(&mut c).await?;
    let mut s = Stored { by_seq: HashMap::new(), acked_strikes: Default::default(), logins: HashMap::new() };
    for r in rows {
        let (seq, kind, subject, reason): (i64, String, Option<String>, String) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        if kind == "door.strike" && reason == "STRIKE_ACKNOWLEDGED" {
            let details: serde_json::Value = serde_json::from_str(&r.get::<String, _>(4)).unwrap_or_default();
            if let Some(d) = details["decision"].as_i64() {
                s.acked_strikes.insert(d);
            }
        }
        if kind.starts_with("login.")
            && let Some(u) = &subject
        {
            *s.logins.entry((u.clone(), kind.clone(), reason.clone())).or_default() += 1;
        }
        s.by_seq.insert(seq, (kind, subject, reason));
    }
    Ok(s)
}

/// Every acknowledged decision against the store; returns how many are missing, printing the first few.
fn lost(acked: &Acked, stored: &Stored, run: usize) -> usize {
    let mut missing = Vec::new();
    for a in &acked.doors {
        match stored.by_seq.get(&a.seq) {
            Some((kind, subject, _)) if kind.starts_with("door.") && *subject == a.person => {
                if a.granted && !stored.acked_strikes.contains(&a.seq) {
                    missing.push(format!("grant {} reported without its acknowledged strike on record", a.seq));
                }
            }
            other => missing.push(format!("door decision {} ({:?}) is {other:?} in the store", a.seq, a.person)),
        }
    }
    for (key, n) in &acked.logins {
        let have = stored.logins.get(key).copied().unwrap_or(0);
        if have < *n {
            missing.push(format!("login {key:?}: {n} answered, {have} on record"));
        }
    }
    for seq in &acked.rotations {
        if !matches!(stored.by_seq.get(seq), Some((k, _, _)) if k == "admin.key.rotate") {
            missing.push(format!("key rotation {seq} acknowledged but not on record"));
        }
    }
    for m in missing.iter().take(5) {
        eprintln!("  run {run}: LOST {m}");
    }
    missing.len()
}

pub fn run(runs: usize, seed: Option<u64>, people: usize) -> anyhow::Result<()> {
    interrupt::install();
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    println!("crash loop: seed {seed} (replay with --seed {seed}), {runs} runs, {people} enrolled");
    let mut rng = Rng(seed);
    let (daemon_bin, cli_bin) = programs()?;
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    // Every enrolled person is presented: all enrolled as the daemon's simulator presents them.
    rt.block_on(crate::door::populate(dir.path(), people, &(0..people).collect()))?;
    let text = site_text()?;
    let site = dir.path().join("site.toml");
    std::fs::write(&site, &text)?;
    let data = dir.path().join("data");
    // The stores were written directly, so pin their audit key beside the site file as `tobirad --init`
    // does for a new site: `audit verify` below checks against it (issue 16 §1).
    let opts = <tobira::node::options::Options as clap::Parser>::try_parse_from([
        "tobirad",
        "--config",
        site.to_str().unwrap_or_default(),
        "--data-dir",
        data.to_str().unwrap_or_default(),
    ])?;
    tobira::node::trust::pin_at_init(&opts, "bench").map_err(|e| anyhow::anyhow!("{e}"))?;
    let log = dir.path().join("tobirad.log");
    let client = Client::new(data.join("control.sock"));
    let t0 = office_morning(&text)?;
    let wall = Instant::now();

    // Set-up, not counted: a first start on the populated stores, ended cleanly. (No `--init`: the stores and
    // the pin exist already, and `--init` refuses an existing site, issue 22 §2.)
    let mut d = Daemon::spawn(&daemon_bin, &site, &data, &log)?;
    if d.wait_up(&client)?.is_none() {
        bail!("tobirad did not start on the fresh site: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }
    d.stop();

    let acked = Arc::new(Mutex::new(Acked::default()));
    let door_figs = Arc::new(Mutex::new(HashMap::new()));
    let mut f = Figures::default();
    let mut failed_in_a_row = 0;
    let mut startup_guess = Duration::from_millis(800);
    for run in 1..=runs {
        if interrupt::requested() {
            println!("interrupted after {} runs", f.runs);
            break;
        }
        let run_started = Instant::now();
        let moment = match rng.below(10) {
            0..=1 => Moment::StartUp,
            2..=3 => Moment::Rotation,
            _ => Moment::Load,
        };
        let mut d = Daemon::spawn(&daemon_bin, &site, &data, &log)?;
        let mut workers = Vec::new();
        let stop = Arc::new(AtomicBool::new(false));
        if moment == Moment::StartUp {
            // Anywhere from the exec to just after the socket answers.
            let at = Duration::from_millis(rng.below(startup_guess.as_millis() as u64 * 5 / 4 + 1));
            std::thread::sleep(at);
            if let Some(st) = d.child.try_wait()? {
                f.failed_starts += 1;
                eprintln!("  run {run}: tobirad ended at start-up ({st}): {}", tail(&log));
            }
        } else {
            match d.wait_up(&client)? {
                None => {
                    f.failed_starts += 1;
                    failed_in_a_row += 1;
                    eprintln!("  run {run}: tobirad did not come up: {}", tail(&log));
                    d.kill9();
                    if failed_in_a_row >= GIVE_UP_AFTER {
                        eprintln!("  giving up after {GIVE_UP_AFTER} failed starts in a row");
                        break;
                    }
                    continue;
                }
                Some(t) => {
                    failed_in_a_row = 0;
                    f.startups.push(t);
                    startup_guess = summarize(f.startups.clone()).p50;
                }
            }
            let now = t0 + chrono::Duration::from_std(wall.elapsed())?;
            client.call(Request::Sim(SimCommand::Clock { at: Some(now.to_rfc3339()) }))?;
            for (k, reader) in ["server-in", "server-out"].into_iter().enumerate() {
                let (sock, stop, out, figs) =
                    (data.join("control.sock"), stop.clone(), acked.clone(), door_figs.clone());
                let s = rng.next() ^ k as u64;
                workers.push(std::thread::spawn(move || door_worker(sock, reader, people as u64, s, stop, out, figs)));
            }
            for (terminal, reader) in [("t-01", "t01-reader"), ("t-02", "t02-reader")] {
                let (dir, stop, out) = (data.clone(), stop.clone(), acked.clone());
                let s = rng.next();
                workers
                    .push(std::thread::spawn(move || login_worker(dir, terminal, reader, people as u64, s, stop, out)));
            }
            // The kill comes after this run's first acknowledged answer, never before it: a kill before any
            // answer tests nothing the loop could count as lost (and on a slow machine a drawn delay alone
            // ended every run before its first decision).
            let before = acked.lock().unwrap_or_else(|e| e.into_inner()).total();
            let waiting = Instant::now();
            while acked.lock().unwrap_or_else(|e| e.into_inner()).total() == before
                && waiting.elapsed() < FIRST_ANSWER_WAIT
                && d.child.try_wait()?.is_none()
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            if acked.lock().unwrap_or_else(|e| e.into_inner()).total() == before {
                f.idle_runs += 1;
                eprintln!("  run {run}: no answer acknowledged within {FIRST_ANSWER_WAIT:?}: {}", tail(&log));
            }
            if moment == Moment::Rotation {
                // Some load first, then the rotation, and the kill somewhere inside it (or just after).
                std::thread::sleep(rng.millis(50, 400));
                let (admin_sock, out) = (data.join("control.sock"), acked.clone());
                let rotate = std::thread::spawn(move || {
                    let c =
                        Client::new(admin_sock).with_actor(Some(ActorClaim { id: "takahashi".into(), reader: None }));
                    let t = Instant::now();
                    let r = c.call(Request::KeyRotate);
                    if let Ok(v) = &r
                        && let Some(seq) = v["audit_seq"].as_i64()
                    {
                        out.lock().unwrap_or_else(|e| e.into_inner()).rotations.push(seq);
                    }
                    (r.map(|_| ()), t.elapsed())
                });
                std::thread::sleep(rng.millis(0, 60));
                workers.push(std::thread::spawn(move || {
                    if let Ok((Err(e), _)) = rotate.join()
                        && !matches!(e, tobira_cli::client::ClientError::NoAnswer)
                        && !e.to_string().contains("talking to tobirad failed")
                    {
                        eprintln!("  key rotation refused: {e}");
                    }
                }));
            } else {
                std::thread::sleep(rng.millis(20, 1500));
            }
        }
        d.kill9();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            let _ = w.join();
        }
        *f.by_moment
            .entry(match moment {
                Moment::StartUp => "start-up",
                Moment::Load => "load",
                Moment::Rotation => "key rotation",
            })
            .or_default() += 1;
        f.runs += 1;

        // The daemon is dead: the record must hold everything it acknowledged, and verify.
        let t = Instant::now();
        let v = Command::new(&cli_bin)
            .args(["audit", "verify", "--data-dir", data.to_str().unwrap_or_default()])
            .args(["--config", site.to_str().unwrap_or_default()])
            .output()?;
        f.verify_times.push(t.elapsed());
        if !v.status.success() {
            f.verify_failures += 1;
            eprintln!(
                "  run {run}: audit verify failed: {}{}",
                String::from_utf8_lossy(&v.stdout),
                String::from_utf8_lossy(&v.stderr)
            );
        }
        let stored = rt.block_on(read_store(&data.join("audit.db")))?;
        let a = acked.lock().unwrap_or_else(|e| e.into_inner());
        f.lost = lost(&a, &stored, run);
        f.run_times.push(run_started.elapsed());
        if run % 25 == 0 || run == runs {
            eprintln!(
                "  {run}/{runs} runs, {} acknowledged, {} lost, {} failed starts, {} verify failures ({:.0} s)",
                a.total(),
                f.lost,
                f.failed_starts,
                f.verify_failures,
                wall.elapsed().as_secs_f64()
            );
        }
    }
    f.enrolled_reasons = door_figs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let a = acked.lock().unwrap_or_else(|e| e.into_inner());
    report(&f, &a, seed, wall.elapsed());
    Ok(())
}

fn tail(log: &Path) -> String {
    let s = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

fn report(f: &Figures, a: &Acked, seed: u64, wall: Duration) {
    let moments: Vec<String> = ["start-up", "load", "key rotation"]
        .iter()
        .map(|m| format!("{} during {m}", f.by_moment.get(m).copied().unwrap_or(0)))
        .collect();
    println!("crash loop, seed {seed}: {} runs killed with SIGKILL ({})", f.runs, moments.join(", "));
    println!(
        "  acknowledged: {} door decisions ({} grants), {} login answers, {} key rotations — {} in all",
        a.doors.len(),
        a.doors.iter().filter(|d| d.granted).count(),
        a.logins.values().sum::<usize>(),
        a.rotations.len(),
        a.total()
    );
    println!("  lost: {}   failed starts: {}   audit verify failures: {}", f.lost, f.failed_starts, f.verify_failures);
    let mut reasons: Vec<_> = f.enrolled_reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    let reasons: Vec<String> = reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
    println!("  enrolled people at the doors, answered: {}", reasons.join(", "));
    let s = summarize(f.startups.clone());
    let r = summarize(f.run_times.clone());
    let v = summarize(f.verify_times.clone());
    println!(
        "  timing: start-up (exec → control socket answers) p50 {}, p99 {}, max {}; a run (start, load, kill, checks) p50 {}, max {}; audit verify p50 {}, max {}; {:.1} s in all",
        fmt(s.p50),
        fmt(s.p99),
        fmt(s.max),
        fmt(r.p50),
        fmt(r.max),
        fmt(v.p50),
        fmt(v.max),
        wall.as_secs_f64()
    );
    println!(
        "crash-figures: runs={} acknowledged={} lost={} failed_starts={} verify_failures={} rotations={} idle_runs={} seed={seed}",
        f.runs,
        a.total(),
        f.lost,
        f.failed_starts,
        f.verify_failures,
        a.rotations.len(),
        f.idle_runs
    );
}
