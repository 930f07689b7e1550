//! The fault matrix as figures (issue 15): each reader kind and each controller kind the simulator plays,
//! behind the terminal room's door (`office-door`, Level 1, 003 §13(1)), × the faults it can be given —
//! unplugged, silent, garbled, answering after its deadline, dead in the middle of a pulse, lying about its
//! strike, failing Secure Channel, replaced by a device without Secure Channel (a downgrade attempt), a man
//! in the middle rewriting its replies mid-session. Each cell is one `tobirad --simulation` life on the same stores (the site set up once per
//! device kind through the CLI, as in `tests/e2e/faults.rs`, with the same door from `tobira_cli::harness`):
//! a decision before the fault, the fault, its recovery and a decision after it, then the fault again and
//! SIGTERM in the middle of it. 200 idle control connections are held open meanwhile and `tobira status`
//! is asked every 100 ms. Printed per cell and in total:
//! - grants reported without an acknowledged strike on record (must be 0: no entry that did not happen,
//!   000 Form 1, 003 §13);
//! - fault episodes audited (`device.fault` / `device.offline`) and recoveries, per episode (exactly 1);
//! - the worst `status` answer (goal ≤ 1 s) and failed `status` calls;
//! - the time from SIGTERM to the daemon's exit during the fault (goal ≤ 5 s).
//!
//! Not covered here (the simulator cannot yet play them): an OSDP controller that answers late (the
//! simulated controller does), a U.are.U reader gone (the uru4000 driver runs only under umockdev replay), a palm bridge that lies.

use crate::stats::fmt;
use anyhow::{Context, bail};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tobira_cli::client::Client;
use tobira_cli::harness::{self, IdleConnections};

/// Who holds the idle connections: another local user (`nobody`) whose primary group is the control
/// socket's (root's here), so the daemon admits the connections and counts them against that user's share.
const FLOOD_UID: u32 = 65534;

/// This program again (`tobira-bench hold-idle`), as [`FLOOD_UID`], holding the idle connections until
/// dropped.
pub(crate) struct IdleHolder(Child);

impl IdleHolder {
    fn spawn(sock: &Path) -> anyhow::Result<IdleHolder> {
        Self::spawn_as(sock, IDLE_CONNECTIONS, &[], Some(FLOOD_UID))
    }

    /// `n` connections to `sock`, each having sent `payload`, held by `uid` (None: this user) with the
    /// socket's group (root's) as its primary group.
    pub(crate) fn spawn_as(sock: &Path, n: usize, payload: &[u8], uid: Option<u32>) -> anyhow::Result<IdleHolder> {
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("hold-idle").arg(sock).arg(n.to_string()).arg(hex(payload)).stdin(Stdio::piped());
        if let Some(uid) = uid {
            cmd.uid(uid).gid(0);
        }
        let holder = IdleHolder(cmd.spawn().context("the idle-connection holder")?);
        // Give it the time to open them all.
        std::thread::sleep(Duration::from_millis(300));
        Ok(holder)
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> anyhow::Result<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16).context("payload is not hex"))
        .collect()
}

impl Drop for IdleHolder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tobira-bench hold-idle SOCKET N [PAYLOAD-HEX]`: holds N idle connections (each having sent the payload)
/// until standard input closes.
pub fn hold_idle(sock: PathBuf, n: usize, payload: Option<String>) -> anyhow::Result<()> {
    let _held = IdleConnections::hold_sending(sock, n, unhex(payload.as_deref().unwrap_or(""))?);
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    Ok(())
}
use tobira_proto::{DecisionReport, Request, SimCommand};

const IDLE_CONNECTIONS: usize = 200;
const DOOR_READER: &str = "office-palm";
const CONTROLLER: &str = "office-ctl";
/// The simulated day the site is set up on (a Tuesday in office hours). Each daemon life on the same
/// stores starts its clock 10 minutes after the one before, so the grants given at set-up are in force
/// and the record's time only moves on.
const CLOCK: &str = "2026-11-24T10:00:00+09:00";
/// How long an episode is watched after its first audit, for a second one (a storm).
const WATCH: Duration = Duration::from_millis(2500);
const KEY_HEX: &str = "944b8eddcbaa2b5fe2b0148d1b2f95c9";

/// One row of the matrix.
struct Row {
    device: String,
    fault: String,
    episodes: Vec<usize>,
    recoveries: Option<usize>,
    /// Grants reported to the person, and those without an acknowledged strike on record.
    grants: usize,
    unacked_grants: usize,
    worst_status: Duration,
    status_failures: u64,
    sigterm: Option<Duration>,
}

/// A site under test: its directory, the daemon's programs, the data directory kept across cells.
pub(crate) struct Bed {
    dir: PathBuf,
    daemon: PathBuf,
    cli: PathBuf,
    site: PathBuf,
    data: PathBuf,
    rt: tokio::runtime::Runtime,
    /// Daemon lives started on these stores.
    lives: std::cell::Cell<u32>,
}

pub(crate) struct Life {
    pub(crate) child: Child,
}

impl Bed {
    /// A bed on `site_text` whose first life sets up tanaka (enrolled, granted the office) and is stopped.
    fn set_up(site_text: &str, daemon: &Path, rt: tokio::runtime::Runtime) -> anyhow::Result<Bed> {
        let bed = Bed::new(site_text, daemon, rt)?;
        let life = bed.start()?;
        bed.set_up_tanaka()?;
        sigterm(life);
        Ok(bed)
    }

    /// A cell's ready step for an OSDP controller: the peripheral online under Secure Channel and the daemon
    /// calling it online (after its settle), then a second for the online event to be on record.
    fn osdp_online(&self, pd: impl Fn() -> tobira_drivers::osdp::sim::PdState) -> anyhow::Result<()> {
        wait(30, || {
            let s = pd();
            Ok(s.online && s.secure && self.controller_online()?)
        })?;
        std::thread::sleep(Duration::from_secs(1));
        Ok(())
    }

    pub(crate) fn new(site_text: &str, daemon: &Path, rt: tokio::runtime::Runtime) -> anyhow::Result<Bed> {
        let dir = tempfile::tempdir()?.keep();
        let site = dir.join("site.toml");
        std::fs::write(&site, site_text)?;
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        std::fs::DirBuilder::new().mode(0o755).create(dir.join("run"))?;
        Ok(Bed {
            data: dir.join("data"),
            site,
            dir,
            daemon: daemon.to_path_buf(),
            cli: daemon.with_file_name("tobira"),
            rt,
            lives: std::cell::Cell::new(0),
        })
    }

    /// Outside the 0700 data directory, in a directory another user can reach: the idle connections are
    /// another local user's.
    pub(crate) fn login_sock(&self) -> PathBuf {
        self.dir.join("run").join("login.sock")
    }

    pub(crate) fn sock(&self) -> PathBuf {
        self.dir.join("run").join("control.sock")
    }

    fn client(&self) -> Client {
        Client::new(self.sock())
    }

    pub(crate) fn start(&self) -> anyhow::Result<Life> {
        let _ = std::fs::remove_file(self.sock());
        if !self.data.join("registry.db").exists() {
            // `tobirad --init` creates the site and exits (issue 22 §2); the daemon then runs on it.
            let st = Command::new(&self.daemon)
                .args(["--config", self.site.to_str().unwrap_or_default(), "--data-dir"])
                .arg(&self.data)
                .args(["--init", "--simulation"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .context("running tobirad --init")?;
            if !st.success() {
                bail!("tobirad --init failed ({st})");
            }
        }
        let child = Command::new(&self.daemon)
            .args(["--config", self.site.to_str().unwrap_or_default(), "--data-dir"])
            .arg(&self.data)
            .arg("--socket")
            .arg(self.sock())
            .arg("--login-socket")
            .arg(self.login_sock())
            .arg("--simulation")
            .env("TOBIRA_LOG", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting tobirad")?;
        let mut life = Life { child };
        let t = Instant::now();
        while self.client().call(Request::Status).is_err() {
            if life.child.try_wait()?.is_some() || t.elapsed() > Duration::from_secs(60) {
                let _ = life.child.kill();
                bail!("tobirad did not start");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let lives = self.lives.get();
        self.lives.set(lives + 1);
        let at = chrono::DateTime::parse_from_rfc3339(CLOCK)? + chrono::Duration::minutes(10 * i64::from(lives));
        self.client().call(Request::Sim(SimCommand::Clock { at: Some(at.to_rfc3339()) }))?;
        Ok(life)
    }

    fn tobira(&self, args: &[&str]) -> anyhow::Result<()> {
        let o = Command::new(&self.cli).arg("--socket").arg(self.sock()).args(args).output()?;
        if !o.status.success() {
            bail!(
                "tobira {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        Ok(())
    }

    /// Whether the daemon has the office door's controller online (its driver's view, as `devices` says):
    /// an OSDP device is online for the daemon only once its session has settled, after the device itself.
    fn controller_online(&self) -> anyhow::Result<bool> {
        let v = self.client().call(Request::Devices)?;
        let doors = v["doors"].as_array().cloned().unwrap_or_default();
        Ok(doors.iter().any(|d| d["controller"] == CONTROLLER && d["healthy"] == true))
    }

    fn sim(&self, c: SimCommand) -> anyhow::Result<serde_json::Value> {
        Ok(self.client().call(Request::Sim(c))?)
    }

    /// The site in bootstrap with tanaka enrolled at t01-reader and granted the office (as faults.rs does).
    fn set_up_tanaka(&self) -> anyhow::Result<()> {
        let sa = ["--actor", "takahashi"];
        let add = |id: &str, name: &str, roles: &str| {
            let mut a = sa.to_vec();
            a.extend(["person", "add", id, "--name", name, "--roles", roles, "--appointment-end", "2027-03-31"]);
            self.tobira(&a)
        };
        add("takahashi", "高橋 一郎", "system-administrator")?;
        add("tanaka", "田中 太郎", "operator")?;
        for _ in 0..3 {
            self.sim(SimCommand::Present { reader: "t01-reader".into(), body: "tanaka".into(), finger: 2 })?;
        }
        self.tobira(&["--actor", "takahashi", "enroll", "tanaka", "--reader", "t01-reader"])?;
        self.tobira(&["--actor", "takahashi", "grant", "add", "tanaka", "--place", "zone:office"])
    }

    fn present(&self) -> anyhow::Result<DecisionReport> {
        let v = self.sim(SimCommand::Present { reader: DOOR_READER.into(), body: "tanaka".into(), finger: 2 })?;
        Ok(serde_json::from_value(v)?)
    }

    /// Events about `device` in the store (read-only beside the running daemon): (kind, reason, decision).
    fn device_events(&self, device: &str) -> anyhow::Result<Vec<(String, String, Option<i64>)>> {
        let db = self.data.join("audit.db");
        let device = device.to_string();
        self.rt.block_on(async move {
            use sqlx::{ConnectOptions, Row};
            let mut c = sqlx::sqlite::SqliteConnectOptions::new().filename(&db).read_only(true).connect().await?;
            let rows = sqlx::query(
                "SELECT kind, reason, details FROM events WHERE kind LIKE 'device.%' OR kind = 'door.strike'",
            )
            .fetch_all(&mut c)
            .await?;
            Ok(rows
                .iter()
                .filter_map(|r| {
                    let d: serde_json::Value = serde_json::from_str(&r.get::<String, _>(2)).unwrap_or_default();
                    let about = d["device"] == device.as_str() || d["controller"] == device.as_str();
                    about.then(|| (r.get(0), r.get(1), d["decision"].as_i64()))
                })
                .collect())
        })
    }

    fn faults(&self, device: &str) -> anyhow::Result<usize> {
        Ok(self.device_events(device)?.iter().filter(|e| e.0 == "device.fault" || e.0 == "device.offline").count())
    }

    fn recoveries(&self, device: &str) -> anyhow::Result<usize> {
        Ok(self.device_events(device)?.iter().filter(|e| e.0 == "device.recovered" || e.0 == "device.online").count())
    }

    /// Reported grants whose decision has no `STRIKE_ACKNOWLEDGED` on record.
    fn unacked(&self, reported: &[DecisionReport]) -> anyhow::Result<usize> {
        let acked: HashSet<i64> = self
            .device_events(CONTROLLER)?
            .into_iter()
            .filter(|e| e.0 == "door.strike" && e.1 == "STRIKE_ACKNOWLEDGED")
            .filter_map(|e| e.2)
            .collect();
        Ok(reported.iter().filter(|r| r.granted && !r.audit_seq.is_some_and(|s| acked.contains(&s))).count())
    }
}

/// Waits until `f` holds (up to `secs`); false if it never did.
fn wait(secs: u64, mut f: impl FnMut() -> anyhow::Result<bool>) -> anyhow::Result<bool> {
    let t = Instant::now();
    while !f()? {
        if t.elapsed() > Duration::from_secs(secs) {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(true)
}

/// `tobira status` asked every 100 ms (with a fresh process-free client) while a cell runs: the worst answer
/// and the failures.
struct StatusWatch {
    stop: Arc<AtomicBool>,
    worst_us: Arc<AtomicU64>,
    failures: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StatusWatch {
    fn start(sock: PathBuf) -> StatusWatch {
        let (stop, worst_us, failures) =
            (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (s, w, f) = (stop.clone(), worst_us.clone(), failures.clone());
        let thread = std::thread::spawn(move || {
            let c = Client::new(sock);
            while !s.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = c.call(Request::Status).is_ok();
                w.fetch_max(t.elapsed().as_micros() as u64, Ordering::Relaxed);
                if !ok {
                    f.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        StatusWatch { stop, worst_us, failures, thread: Some(thread) }
    }

    fn finish(mut self) -> (Duration, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        (Duration::from_micros(self.worst_us.load(Ordering::Relaxed)), self.failures.load(Ordering::Relaxed))
    }
}

/// SIGTERM, and how long until the daemon ended (None: not within 10 s, then it is killed).
pub(crate) fn sigterm(mut life: Life) -> Option<Duration> {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(life.child.id() as libc::pid_t, libc::SIGTERM) };
    let t = Instant::now();
    loop {
        if let Ok(Some(_)) = life.child.try_wait() {
            return Some(t.elapsed());
        }
        if t.elapsed() > Duration::from_secs(10) {
            let _ = life.child.kill();
            let _ = life.child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

type Step<'a> = &'a dyn Fn(&Bed) -> anyhow::Result<()>;

/// One cell: a decision, the fault (with decisions during it if `decide_during`), the episode watched for a
/// storm, the recovery (if any) and a decision after it, the fault again, SIGTERM during it.
#[allow(clippy::too_many_arguments)]
fn cell(
    bed: &Bed,
    device: &str,
    fault: &str,
    ready: Option<Step>,
    induce: Step,
    recover: Option<Step>,
    decide_during: bool,
) -> anyhow::Result<Row> {
    let life = bed.start()?;
    if let Some(ready) = ready {
        ready(bed)?;
    }
    let (f0, r0) = (bed.faults(device)?, bed.recoveries(device)?);
    let idle = IdleHolder::spawn(&bed.sock())?;
    let watch = StatusWatch::start(bed.sock());
    let mut reported = Vec::new();
    let mut episodes = Vec::new();
    if device != DOOR_READER || !fault.starts_with("bridge") {
        reported.push(bed.present()?);
    }
    induce(bed)?;
    if decide_during {
        for _ in 0..2 {
            reported.push(bed.present()?);
        }
    }
    wait(30, || Ok(bed.faults(device)? > f0))?;
    std::thread::sleep(WATCH);
    episodes.push(bed.faults(device)? - f0);
    let mut recoveries = None;
    if let Some(recover) = recover {
        recover(bed)?;
        wait(30, || Ok(bed.recoveries(device)? > r0))?;
        if device == CONTROLLER || !fault.starts_with("bridge") {
            reported.push(bed.present()?);
        }
        std::thread::sleep(Duration::from_millis(500));
        recoveries = Some(bed.recoveries(device)? - r0);
        // The same fault again, and the daemon told to stop in the middle of it.
        let f1 = bed.faults(device)?;
        induce(bed)?;
        if decide_during {
            reported.push(bed.present()?);
        }
        wait(30, || Ok(bed.faults(device)? > f1))?;
        std::thread::sleep(Duration::from_millis(300));
        episodes.push(bed.faults(device)? - f1);
    }
    let (worst_status, status_failures) = watch.finish();
    drop(idle);
    let sigterm = sigterm(life);
    let unacked_grants = bed.unacked(&reported)?;
    if std::env::var_os("TOBIRA_BENCH_DEBUG").is_some() {
        for r in &reported {
            eprintln!("    reported {} {} {:?}", r.granted, r.reason, r.audit_seq);
        }
        for e in bed.device_events(device)? {
            eprintln!("    {e:?}");
        }
    }
    Ok(Row {
        device: device.into(),
        fault: fault.into(),
        episodes,
        recoveries,
        grants: reported.iter().filter(|r| r.granted).count(),
        unacked_grants,
        worst_status,
        status_failures,
        sigterm,
    })
}

fn print(kind: &str, r: &Row) {
    let ep: Vec<String> = r.episodes.iter().map(usize::to_string).collect();
    println!(
        "  {kind:<12} {:<11} {:<26} audited per episode [{}]{}  grants {} (w/o ack {})  worst status {}{}  SIGTERM {}",
        r.device,
        r.fault,
        ep.join(", "),
        r.recoveries.map(|n| format!(", recovered {n}")).unwrap_or_default(),
        r.grants,
        r.unacked_grants,
        fmt(r.worst_status),
        if r.status_failures > 0 { format!(" ({} FAILED)", r.status_failures) } else { String::new() },
        r.sigterm.map(fmt).unwrap_or_else(|| "NOT within 10 s".into())
    );
}

fn sim_step(c: fn() -> SimCommand) -> impl Fn(&Bed) -> anyhow::Result<()> {
    move |b: &Bed| b.sim(c()).map(|_| ())
}

/// An OSDP peripheral (libosdp PD) on a PTY linked at `dir/rs485-office` holding `pd_key`, and the key file
/// the site names.
fn osdp_pd(
    dir: &Path,
    pd_key: &str,
) -> anyhow::Result<(tobira_drivers::osdp::sim::SimOsdpHandle, std::os::fd::OwnedFd, PathBuf, PathBuf)> {
    let (line, slave, link, key_file, key) = osdp_line(dir, pd_key)?;
    let pd = tobira_drivers::osdp::sim::spawn(line, 1, key).map_err(anyhow::Error::msg)?;
    Ok((pd, slave, link, key_file))
}

/// The office door's controller (libosdp's peripheral under Secure Channel) behind a relay on its line
/// (`tobira_cli::mitm::MitmRelay`), a bed whose site names the panel's end, and that end's slave held open.
fn osdp_bed_behind_relay(
    dir: &Path,
    daemon: &Path,
    rt: tokio::runtime::Runtime,
) -> anyhow::Result<(tobira_drivers::osdp::sim::SimOsdpHandle, tobira_cli::mitm::MitmRelay, Bed, std::os::fd::OwnedFd)>
{
    let (panel, panel_slave, link, key_file, key) = osdp_line(dir, KEY_HEX)?;
    let (device_line, device_slave, _) = tobira_drivers::pty::open_pty()?;
    let pd = tobira_drivers::osdp::sim::spawn(std::fs::File::from(device_line), 1, key).map_err(anyhow::Error::msg)?;
    let relay = tobira_cli::mitm::MitmRelay::start(panel, std::fs::File::from(device_slave))?;
    let site = harness::with_osdp_office_controller(&harness::office_reader_site("sim-finger")?, &link, &key_file)?;
    let bed = Bed::set_up(&site, daemon, rt)?;
    Ok((pd, relay, bed, panel_slave))
}

/// The device's side of an RS-485 line on a PTY linked at `dir/rs485-office` (devices may be swapped on it),
/// the slave held open, the link, the key file the site names, and the device key `pd_key`.
fn osdp_line(
    dir: &Path,
    pd_key: &str,
) -> anyhow::Result<(std::fs::File, std::os::fd::OwnedFd, PathBuf, PathBuf, [u8; 16])> {
    use std::os::unix::fs::PermissionsExt;
    let (link, key_file, pd_file) = (dir.join("rs485-office"), dir.join("office-ctl.key"), dir.join("pd.key"));
    for (f, k) in [(&key_file, KEY_HEX), (&pd_file, pd_key)] {
        std::fs::write(f, format!("{k}\n"))?;
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o600))?;
    }
    let key = tobira_drivers::osdp::load_key(&pd_file).map_err(anyhow::Error::msg)?;
    let (master, slave, path) = tobira_drivers::pty::open_pty()?;
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&path, &link)?;
    Ok((std::fs::File::from(master), slave, link, key_file, key))
}

pub(crate) fn daemon_path() -> anyhow::Result<PathBuf> {
    let daemon = match std::env::var_os("TOBIRA_BENCH_TOBIRAD") {
        Some(p) => PathBuf::from(p),
        None => std::env::current_exe()?.with_file_name("tobirad"),
    };
    if !daemon.exists() {
        bail!("{} not found: build it first (cargo build --release -p tobira -p tobira-cli --bins)", daemon.display());
    }
    Ok(daemon)
}

pub fn run(only: Option<String>) -> anyhow::Result<()> {
    let daemon = daemon_path()?;
    let wanted = |kind: &str| only.as_deref().is_none_or(|o| o == kind);
    let rt = || tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build();
    let rows: Arc<Mutex<Vec<(String, Row)>>> = Arc::default();
    let keep = |kind: &str, r: Row| {
        print(kind, &r);
        rows.lock().unwrap_or_else(|e| e.into_inner()).push((kind.to_string(), r));
    };
    println!(
        "fault matrix: the office door, {IDLE_CONNECTIONS} idle control connections held open, status every 100 ms"
    );

    // Readers at the door's entry, the controller simulated.
    for kind in ["sim-finger", "sim-r30x"].into_iter().filter(|k| wanted(k)) {
        let bed = Bed::set_up(&harness::office_reader_site(kind)?, &daemon, rt()?)?;
        let replug = sim_step(|| SimCommand::Replug { device: DOOR_READER.into() });
        let nothing = |_: &Bed| Ok(());
        keep(
            kind,
            cell(
                &bed,
                DOOR_READER,
                "unplugged",
                None,
                &sim_step(|| SimCommand::Unplug { device: DOOR_READER.into() }),
                Some(&replug),
                false,
            )?,
        );
        keep(
            kind,
            cell(
                &bed,
                DOOR_READER,
                "silent",
                None,
                &sim_step(|| SimCommand::Silence { device: DOOR_READER.into() }),
                Some(&replug),
                false,
            )?,
        );
        keep(
            kind,
            cell(
                &bed,
                DOOR_READER,
                "garbled answer",
                None,
                &sim_step(|| SimCommand::Garble { reader: DOOR_READER.into() }),
                Some(&nothing),
                false,
            )?,
        );
        // Answers 3 s after each command, past the driver's deadline (R30x: 2 s), then on time again.
        keep(
            kind,
            cell(
                &bed,
                DOOR_READER,
                "late answers",
                None,
                &sim_step(|| SimCommand::Late { device: DOOR_READER.into(), ms: 3000 }),
                Some(&sim_step(|| SimCommand::Late { device: DOOR_READER.into(), ms: 0 })),
                false,
            )?,
        );
        let _ = std::fs::remove_dir_all(&bed.dir);
    }

    // The palm-vein reader behind its bridge: down, then dying under the daemon.
    if wanted("palm-bridge") {
        let dir = tempfile::tempdir()?;
        let sock = dir.path().join("palm-office.sock");
        let bed = Bed::new(&harness::palm_bridge_office_site(&sock)?, &daemon, rt()?)?;
        let bridge_rt = rt()?;
        let bridge = tobira_drivers::palm_bridge::sim::SimBridge::new();
        let serving: Arc<Mutex<Option<tokio::task::JoinHandle<()>>>> = Arc::default();
        let up = |_: &Bed| -> anyhow::Result<()> {
            let _ = std::fs::remove_file(&sock);
            let l = bridge_rt.block_on(async { tokio::net::UnixListener::bind(&sock) })?;
            *serving.lock().unwrap_or_else(|e| e.into_inner()) = Some(bridge_rt.spawn(bridge.clone().serve(l)));
            Ok(())
        };
        let down = |_: &Bed| -> anyhow::Result<()> {
            if let Some(s) = serving.lock().unwrap_or_else(|e| e.into_inner()).take() {
                s.abort();
            }
            bridge.disconnect_all();
            let _ = std::fs::remove_file(&sock);
            Ok(())
        };
        // The daemon has reached the bridge: it has asked for a capture.
        let reached = |_: &Bed| -> anyhow::Result<()> {
            let n = bridge.captures();
            wait(30, || Ok(bridge.captures() > n))?;
            Ok(())
        };
        up(&bed)?;
        keep("palm-bridge", cell(&bed, DOOR_READER, "bridge process gone", Some(&reached), &down, Some(&up), false)?);
        let die = |_: &Bed| -> anyhow::Result<()> {
            bridge.disconnect_all();
            Ok(())
        };
        up(&bed)?;
        keep(
            "palm-bridge",
            cell(&bed, DOOR_READER, "bridge drops the line", Some(&reached), &die, Some(&|_: &Bed| Ok(())), false)?,
        );
        down(&bed)?;
        let _ = std::fs::remove_dir_all(&bed.dir);
    }

    // The simulated controller.
    if wanted("sim") {
        let bed = Bed::set_up(&harness::office_reader_site("sim-finger")?, &daemon, rt()?)?;
        let replug = sim_step(|| SimCommand::Replug { device: CONTROLLER.into() });
        let nothing = |_: &Bed| Ok(());
        keep(
            "sim",
            cell(
                &bed,
                CONTROLLER,
                "dies mid-pulse",
                None,
                &sim_step(|| SimCommand::Silence { device: CONTROLLER.into() }),
                Some(&replug),
                true,
            )?,
        );
        keep(
            "sim",
            cell(
                &bed,
                CONTROLLER,
                "garbled strike answer",
                None,
                &sim_step(|| SimCommand::Garble { reader: CONTROLLER.into() }),
                Some(&nothing),
                true,
            )?,
        );
        keep(
            "sim",
            cell(
                &bed,
                CONTROLLER,
                "late answers",
                None,
                &sim_step(|| SimCommand::Late { device: CONTROLLER.into(), ms: 3000 }),
                Some(&sim_step(|| SimCommand::Late { device: CONTROLLER.into(), ms: 0 })),
                true,
            )?,
        );
        keep(
            "sim",
            cell(
                &bed,
                CONTROLLER,
                "unplugged",
                None,
                &sim_step(|| SimCommand::Unplug { device: CONTROLLER.into() }),
                Some(&replug),
                true,
            )?,
        );
        let _ = std::fs::remove_dir_all(&bed.dir);
    }

    // An OSDP peripheral under Secure Channel (libosdp PD on a PTY).
    for (fault, pd_key) in [
        ("lies (output off)", KEY_HEX),
        ("dies mid-pulse", KEY_HEX),
        ("Secure Channel fails", "00112233445566778899aabbccddeeff"),
    ]
    .into_iter()
    .filter(|_| wanted("osdp"))
    {
        let dir = tempfile::tempdir()?;
        let (pd, _slave, link, key_file) = osdp_pd(dir.path(), pd_key)?;
        let site = harness::with_osdp_office_controller(&harness::office_reader_site("sim-finger")?, &link, &key_file)?;
        let bed = Bed::set_up(&site, &daemon, rt()?)?;
        let online = |bed: &Bed| bed.osdp_online(|| pd.state());
        let row = match fault {
            "lies (output off)" => {
                let lie = |_: &Bed| {
                    pd.report_output_off(true);
                    Ok(())
                };
                let truth = |_: &Bed| {
                    pd.report_output_off(false);
                    Ok(())
                };
                cell(&bed, CONTROLLER, fault, Some(&online), &lie, Some(&truth), true)?
            }
            "dies mid-pulse" => {
                let die = |_: &Bed| {
                    pd.die_on_next_pulse();
                    Ok(())
                };
                cell(&bed, CONTROLLER, fault, Some(&online), &die, None, true)?
            }
            // The handshake never completes: the outage is this life's own; watched while the port is reopened.
            _ => {
                let reopened = |_: &Bed| {
                    std::thread::sleep(Duration::from_secs(10));
                    Ok(())
                };
                cell(&bed, CONTROLLER, fault, None, &reopened, None, true)?
            }
        };
        keep("osdp", row);
        let _ = std::fs::remove_dir_all(&bed.dir);
    }

    // A Secure Channel downgrade attempt: the controller online under Secure Channel is replaced on its line
    // by a device that offers none (plaintext), then comes back.
    if wanted("osdp") {
        let dir = tempfile::tempdir()?;
        let (line, _slave, link, key_file, key) = osdp_line(dir.path(), KEY_HEX)?;
        let device = |k: Option<[u8; 16]>| -> anyhow::Result<tobira_drivers::osdp::sim::SimOsdpHandle> {
            tobira_drivers::osdp::sim::spawn_with(line.try_clone()?, 1, k).map_err(anyhow::Error::msg)
        };
        let current = Mutex::new(device(Some(key))?);
        let swap = |k: Option<[u8; 16]>| -> anyhow::Result<()> {
            let mut c = current.lock().unwrap_or_else(|e| e.into_inner());
            c.stop();
            *c = device(k)?;
            Ok(())
        };
        let site = harness::with_osdp_office_controller(&harness::office_reader_site("sim-finger")?, &link, &key_file)?;
        let bed = Bed::set_up(&site, &daemon, rt()?)?;
        let online = |bed: &Bed| bed.osdp_online(|| current.lock().unwrap_or_else(|e| e.into_inner()).state());
        let downgrade = |_: &Bed| swap(None);
        let restore = |_: &Bed| swap(Some(key));
        keep(
            "osdp",
            cell(&bed, CONTROLLER, "Secure Channel downgrade", Some(&online), &downgrade, Some(&restore), true)?,
        );
        let _ = std::fs::remove_dir_all(&bed.dir);
    }

    // A man in the middle of the line, mid-session: the controller online under Secure Channel, then every
    // reply's MAC rewritten (valid CRC) by a relay between the panel and the device, then the line clean again.
    if wanted("osdp") {
        let dir = tempfile::tempdir()?;
        let (pd, relay, bed, _panel_slave) = osdp_bed_behind_relay(dir.path(), &daemon, rt()?)?;
        let online = |bed: &Bed| bed.osdp_online(|| pd.state());
        let attack = |_: &Bed| {
            relay.rewrite_macs(true);
            Ok(())
        };
        let clean = |_: &Bed| {
            relay.rewrite_macs(false);
            Ok(())
        };
        keep("osdp", cell(&bed, CONTROLLER, "man in the middle (MACs)", Some(&online), &attack, Some(&clean), true)?);
        if relay.rewritten() == 0 {
            bail!("the man in the middle rewrote no reply: the cell tested nothing");
        }
        let _ = std::fs::remove_dir_all(&bed.dir);
    }

    // A controller that answers late: the relay on the line holds the device's reply to osdp_OUT back 3 s
    // (past libosdp's 200 ms reply timeout, the driver's 1.5 s acknowledgement budget and the door's 2 s),
    // then forwards it at once again.
    if wanted("osdp") {
        let dir = tempfile::tempdir()?;
        let (pd, relay, bed, _panel_slave) = osdp_bed_behind_relay(dir.path(), &daemon, rt()?)?;
        let online = |bed: &Bed| bed.osdp_online(|| pd.state());
        let late = |_: &Bed| {
            relay.hold_replies(Some(tobira_cli::mitm::CMD_OUT), Duration::from_secs(3));
            Ok(())
        };
        let on_time = |_: &Bed| {
            relay.hold_replies(None, Duration::ZERO);
            Ok(())
        };
        keep("osdp", cell(&bed, CONTROLLER, "late answers (3 s)", Some(&online), &late, Some(&on_time), true)?);
        if relay.held() == 0 {
            bail!("the relay held no reply back: the cell tested nothing");
        }
        let _ = std::fs::remove_dir_all(&bed.dir);
    }

    let rows = rows.lock().unwrap_or_else(|e| e.into_inner());
    let unacked: usize = rows.iter().map(|r| r.1.unacked_grants).sum();
    let grants: usize = rows.iter().map(|r| r.1.grants).sum();
    let not_once =
        rows.iter().filter(|r| r.1.episodes.iter().any(|&n| n != 1) || r.1.recoveries.is_some_and(|n| n != 1)).count();
    let worst = rows.iter().map(|r| r.1.worst_status).max().unwrap_or_default();
    let failures: u64 = rows.iter().map(|r| r.1.status_failures).sum();
    let slowest_term = rows.iter().map(|r| r.1.sigterm.unwrap_or(Duration::MAX)).max().unwrap_or_default();
    println!(
        "fault matrix, {} cells: {grants} grants reported, {unacked} of them without an acknowledged strike (must be 0); {not_once} cells where an episode was not audited exactly once; worst status {} with {IDLE_CONNECTIONS} idle connections ({failures} failed; goal ≤ 1 s); slowest SIGTERM {} (goal ≤ 5 s)",
        rows.len(),
        fmt(worst),
        if slowest_term == Duration::MAX { "NOT within 10 s".into() } else { fmt(slowest_term) }
    );
    Ok(())
}
