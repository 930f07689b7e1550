//! `tobira demo`: the demo site on simulated devices, no setup. It starts the real `tobirad` on the embedded
//! demo configuration in a temporary data directory, enrolls a small staff, plays the regulation scenarios
//! through the simulator, prints every decision with its reason and article, then the entry/exit ledger and
//! the result of `audit verify`.

use crate::client::Client;
use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tobira_proto::{ActorClaim, DecisionReport, GrantAdd, OffHoursAdd, PersonAdd, Request, SimCommand, VisitAdd};

/// The demo site, embedded so the demo needs no files (DESIGN: "the demo site is the embedded default").
pub const DEMO_SITE: &str = include_str!("../../config/demo.toml");

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the temporary data directory (print its path) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
    /// tobirad binary to start (default: next to this tobira binary).
    #[arg(long)]
    pub tobirad: Option<PathBuf>,
}

struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// SIGTERM and wait: the daemon finishes in-flight events and writes its final checkpoint.
    fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: kill(2) on our own child's pid with a valid signal number.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(st) = self.child.try_wait()? {
                if !st.success() {
                    bail!("tobirad exited with {st}");
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("tobirad did not stop within 15 s")
    }
}

pub(crate) struct Demo {
    pub(crate) c: Client,
    /// The door controllers, on the protocol level (OSDP with Secure Channel over pseudo-terminals).
    doors: crate::demo_doors::OsdpDoors,
    pub(crate) step: usize,
    pub(crate) failures: Vec<String>,
}

const JST: &str = "+09:00";
/// The administrators' terminal reader (t-02): actors prove themselves here, subjects enroll at t01-reader.
const ADMIN_READER: &str = "t02-reader";

impl Demo {
    pub(crate) fn call(&self, r: Request) -> anyhow::Result<serde_json::Value> {
        Ok(self.c.call(r)?)
    }

    pub(crate) fn sim(&self, s: SimCommand) -> anyhow::Result<serde_json::Value> {
        self.call(Request::Sim(s))
    }

    /// An administrative act: the actor places their finger on the admin terminal's reader, then acts.
    pub(crate) fn act(&self, actor: &str, r: Request) -> anyhow::Result<serde_json::Value> {
        self.sim(SimCommand::Present { reader: ADMIN_READER.into(), body: actor.into(), finger: 2 })?;
        Ok(self.c.call_as(Some(ActorClaim { id: actor.into(), reader: Some(ADMIN_READER.into()) }), r)?)
    }

    /// An act the rules refuse: the refusal must come, and say `want`.
    pub(crate) fn refused(&mut self, actor: &str, r: Request, want: &str) -> anyhow::Result<()> {
        match self.act(actor, r) {
            Ok(v) => {
                let msg = format!("step {}: expected a refusal ({want}), got {v}", self.step);
                println!("    !! {msg}");
                self.failures.push(msg);
            }
            Err(e) => {
                let text = e.to_string();
                println!("    REFUSED {text}");
                if !text.contains(want) {
                    let msg = format!("step {}: refusal did not say {want:?}: {text}", self.step);
                    println!("    !! {msg}");
                    self.failures.push(msg);
                }
            }
        }
        // A refused act may or may not have read the fingers placed for it; start clean either way.
        for reader in [ADMIN_READER, "t01-reader"] {
            self.sim(SimCommand::Clear { reader: reader.into() })?;
        }
        Ok(())
    }

    pub(crate) fn clock(&self, local: &str) -> anyhow::Result<()> {
        self.sim(SimCommand::Clock { at: Some(format!("{local}{JST}")) })?;
        println!("\n    clock → {local} JST");
        Ok(())
    }

    pub(crate) fn heading(&mut self, title: &str) {
        self.step += 1;
        println!("\n{:>2}. {title}", self.step);
    }

    pub(crate) fn show(&mut self, r: &DecisionReport, want_granted: bool, want_reason: &str) {
        let verdict = if r.granted { "GRANTED" } else { "DENIED " };
        let ok = r.granted == want_granted && r.reason == want_reason;
        println!(
            "    {verdict} {:<13} {:<12} {:<22} [{}]{}",
            r.place,
            r.person.as_deref().unwrap_or("(unknown)"),
            r.reason,
            r.article,
            r.score.map(|s| format!(" score {s:.2}")).unwrap_or_default()
        );
        println!("            {}", r.message);
        if !ok {
            let msg = format!(
                "step {}: expected {} {want_reason}, got {} {}",
                self.step,
                if want_granted { "GRANTED" } else { "DENIED" },
                verdict.trim(),
                r.reason
            );
            println!("    !! {msg}");
            self.failures.push(msg);
        }
    }

    pub(crate) fn present_at_door(
        &mut self,
        reader: &str,
        body: &str,
        want_granted: bool,
        want_reason: &str,
    ) -> anyhow::Result<()> {
        let v = self.sim(SimCommand::Present { reader: reader.into(), body: body.into(), finger: 2 })?;
        let r: DecisionReport = serde_json::from_value(v).context("decision report")?;
        self.show(&r, want_granted, want_reason);
        Ok(())
    }

    pub(crate) fn login(
        &mut self,
        terminal: &str,
        user: &str,
        body: Option<&str>,
        want_granted: bool,
        want_reason: &str,
    ) -> anyhow::Result<()> {
        if let Some(b) = body {
            let reader = format!("{}-reader", terminal.replace('-', ""));
            self.sim(SimCommand::Present { reader, body: b.into(), finger: 2 })?;
        }
        let v = self.call(Request::Login { terminal: terminal.into(), user: user.into(), remote: false })?;
        let r: DecisionReport = serde_json::from_value(v).context("decision report")?;
        self.show(&r, want_granted, want_reason);
        Ok(())
    }

    /// A person walks through and, for short holds, the door has closed again when this returns.
    /// A person walks through if the strike was released: the door contact opens, and for short holds
    /// closes again. The strike state is the simulated OSDP device's own.
    fn walk(&mut self, door: &str, hold_ms: u64) -> anyhow::Result<bool> {
        let walked = self.doors.energised_within(door, Duration::from_secs(2))?;
        if walked {
            self.doors.open(door)?;
            if hold_ms < 5_000 {
                std::thread::sleep(Duration::from_millis(hold_ms));
                self.doors.close(door)?;
            }
        }
        if hold_ms < 5_000 {
            std::thread::sleep(Duration::from_millis(hold_ms + 300));
            println!(
                "    {door}: {}",
                if walked {
                    "person walks through, the door closes and relocks"
                } else {
                    "door is locked: nobody can walk through"
                }
            );
        } else {
            println!(
                "    {door}: {}",
                if walked {
                    "person walks through and props the door open"
                } else {
                    "door is locked: nobody can walk through"
                }
            );
        }
        if !walked {
            self.failures.push(format!("step {}: {door} did not open after a grant", self.step));
        }
        Ok(walked)
    }

    /// Waits for an audit event of `kind` after `after_seq` (alarms are raised by the door task).
    /// Waits for the alarm (raised for the security manager, 003 §20) of this kind.
    fn wait_alarm(&mut self, kind: &str, want: bool) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let v = self.call(Request::AlarmList { all: true })?;
            let found: Vec<&serde_json::Value> =
                v.as_array().map(|a| a.iter().filter(|x| x["kind"] == kind).collect()).unwrap_or_default();
            let n = found.len();
            if n > 0 || Instant::now() > deadline {
                if let Some(e) = found.last() {
                    println!(
                        "    ALARM   {:<13} {:<12} {:<22} alarm #{} for the security manager",
                        e["place"].as_str().unwrap_or(""),
                        "",
                        e["reason"].as_str().unwrap_or(""),
                        e["id"]
                    );
                }
                if (n > 0) != want {
                    let msg = format!("step {}: expected an audited {kind} alarm", self.step);
                    println!("    !! {msg}");
                    self.failures.push(msg);
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn person(id: &str, name: &str, aff: &str, roles: &[&str]) -> Request {
    Request::PersonAdd(PersonAdd {
        id: id.into(),
        name: name.into(),
        affiliation: aff.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        appointment_end: Some("2027-03-31".into()),
    })
}

fn grant(holder: &str, place: &str, from: Option<&str>, until: Option<&str>) -> Request {
    Request::GrantAdd(GrantAdd {
        holder: holder.into(),
        place: place.into(),
        from: from.map(Into::into),
        until: until.map(Into::into),
        schedule: None,
    })
}

fn find_tobirad(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p);
    }
    let me = std::env::current_exe().context("locating the tobira binary")?;
    let p = me.with_file_name("tobirad");
    if !p.exists() {
        bail!(
            "tobirad not found next to {} — build both binaries: cargo build --release -p tobira --bins",
            me.display()
        );
    }
    Ok(p)
}

fn start_daemon(bin: &Path, dir: &Path, site_text: &str) -> anyhow::Result<(Daemon, Client)> {
    let site = dir.join("site.toml");
    std::fs::write(&site, site_text)?;
    let data = dir.join("data");
    let log = std::fs::File::create(dir.join("tobirad.log"))?;
    if !data.join("registry.db").exists() {
        // `tobirad --init` creates the site's stores and exits; then the daemon runs on them.
        let init = Command::new(bin)
            .arg("--config")
            .arg(&site)
            .arg("--data-dir")
            .arg(&data)
            .args(["--init", "--simulation"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.try_clone()?)
            .status()
            .with_context(|| format!("running {} --init", bin.display()))?;
        if !init.success() {
            let log = std::fs::read_to_string(dir.join("tobirad.log")).unwrap_or_default();
            bail!("tobirad --init failed ({init}):\n{log}");
        }
    }
    let child = Command::new(bin)
        .arg("--config")
        .arg(&site)
        .arg("--data-dir")
        .arg(&data)
        .arg("--simulation")
        .env("TOBIRA_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut d = Daemon { child };
    let sock = data.join("control.sock");
    let client = Client::new(&sock);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if sock.exists() && client.call(Request::Status).is_ok() {
            return Ok((d, client));
        }
        if let Some(st) = d.child.try_wait()? {
            let log = std::fs::read_to_string(dir.join("tobirad.log")).unwrap_or_default();
            bail!("tobirad exited at start-up ({st}):\n{log}");
        }
        if Instant::now() > deadline {
            bail!("tobirad did not open its control socket within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn run(args: DemoArgs) -> anyhow::Result<i32> {
    let bin = find_tobirad(args.tobirad)?;
    let tmp = tempfile::Builder::new().prefix("tobira-demo-").tempdir()?;
    let dir = tmp.path().to_path_buf();
    println!("tobira demo — the demo site (config/demo.toml) on simulated devices");
    println!("data directory: {}  (daemon log: tobirad.log)", dir.display());
    let (doors, site_text) = crate::demo_doors::OsdpDoors::start(&dir, DEMO_SITE)?;
    let (daemon, c) = start_daemon(&bin, &dir, &site_text)?;
    doors.wait_secure(Duration::from_secs(30))?;
    println!("door controllers: OSDP with Secure Channel on pseudo-terminals (libosdp peripheral devices)");
    println!(
        "fingerprint readers: R30x modules on pseudo-terminals uploading synthetic images to tobirad's R30x driver"
    );
    let mut demo = Demo { c, doors, step: 0, failures: Vec::new() };
    let played = play(&mut demo);
    let data = dir.join("data");
    let ledger = demo.act("takahashi", Request::Ledger { kind: None, from: None, until: None });
    daemon.stop()?;
    if let Err(e) = played {
        println!("\nthe demo stopped early: {e:#}");
        demo.failures.push(format!("{e:#}"));
    }
    if let Ok(v) = &ledger {
        let (cols, rows) = crate::cli::ledger_rows(v);
        let hs: Vec<&str> = cols.iter().map(String::as_str).collect();
        println!("\n入退室管理簿 (entry/exit ledger, 000 Form 1)");
        print!("{}", tobira_ledger::table::render(&hs, &rows));
    }
    if let Ok(v) = &ledger {
        let a = &v["anchor"];
        println!("署名付きツリーヘッド (signed tree head on the ledger): {}", a["verify"].as_str().unwrap_or("none"));
    }
    let site = dir.join("site.toml");
    println!("\n$ tobira audit verify --data-dir {} --config {}", data.display(), site.display());
    let code = tobira::trust_cli::verify_cli(&data, &site, None, &[], false);
    if code != 0 {
        demo.failures.push("audit verify failed".into());
    }
    if args.keep {
        let kept = tmp.keep();
        println!("\nkept {}", kept.display());
    }
    if demo.failures.is_empty() {
        println!("\ndemo finished: every scenario decided as the regulations require.");
        Ok(0)
    } else {
        println!("\ndemo finished with {} unexpected outcome(s):", demo.failures.len());
        for f in &demo.failures {
            println!("  - {f}");
        }
        Ok(1)
    }
}

fn play(d: &mut Demo) -> anyhow::Result<()> {
    d.clock("2026-11-20T09:00:00")?;
    d.heading("Bootstrap: the system administrator registers and enrolls themselves (nobody else can act yet)");
    let boss = ActorClaim { id: "takahashi".into(), reader: None };
    d.c.call_as(Some(boss.clone()), person("takahashi", "高橋 一郎", "情報政策課", &["system-administrator"]))?;
    for _ in 0..3 {
        d.sim(SimCommand::Present { reader: "t01-reader".into(), body: "takahashi".into(), finger: 2 })?;
    }
    d.c.call_as(Some(boss), enroll("takahashi"))?;
    println!(
        "    takahashi  高橋 一郎  system-administrator — enrolled; from now on every act needs the actor's finger"
    );

    d.heading("Staff (役割) registered by the system administrator, who proves himself at t02-reader");
    let staff: &[(&str, &str, &str, &[&str])] = &[
        ("kato", "加藤 誠", "総務局", &["security-director"]),
        ("suzuki", "鈴木 花子", "市民課", &["data-manager"]),
        ("yamamoto", "山本 健", "情報政策課", &["security-manager"]),
        ("ito", "伊藤 真理", "市民課", &["site-administrator", "operator"]),
        ("watanabe", "渡辺 翔", "市民課", &["site-administrator", "operator"]),
        ("tanaka", "田中 太郎", "市民課", &["operator"]),
        ("sato", "佐藤 美咲", "市民課", &["operator"]),
        ("kobayashi", "小林 誠一", "市民課", &["operator"]),
        ("nakamura", "中村 陽子", "市民課", &["operator"]),
        ("yoshida", "吉田 修", "市民課", &["operator"]),
        ("abe", "阿部 浩二", "東北システム保守株式会社", &["vendor"]),
    ];
    for (id, name, aff, roles) in staff {
        d.act("takahashi", person(id, name, aff, roles))?;
        println!("    {id:<10} {name}  {}", roles.join(", "));
    }
    d.heading("A third site administrator is refused (003 §5(4): two per site)");
    d.refused("takahashi", person("ogawa", "小川 涼", "市民課", &["site-administrator"]), "two site administrators")?;

    d.heading("The system administrator enrolls the supervisors and the two site administrators directly");
    for id in ["kato", "suzuki", "yamamoto", "ito", "watanabe"] {
        present3(d, id)?;
        let v = d.act("takahashi", enroll(id))?;
        println!("    {id:<10} enrolled ({}), {} minutiae", v["status"].as_str().unwrap_or(""), v["minutiae"]);
    }

    d.heading(
        "A site administrator enrolls operators: each is a request until the system administrator approves (003 §7)",
    );
    for id in ["tanaka", "sato", "kobayashi", "nakamura", "yoshida", "abe"] {
        present3(d, id)?;
        let v = d.act("ito", enroll(id))?;
        let req = v["request"].as_str().unwrap_or("").to_string();
        println!("    {id:<10} captured by ito → pending, request {req}");
        if id == "tanaka" {
            d.refused("ito", Request::RequestApprove { id: req.clone(), note: None }, "system-administrator")?;
        }
        d.act("takahashi", Request::RequestApprove { id: req, note: Some("本人確認済".into()) })?;
        println!("               approved by takahashi → the template matches from now on");
    }
    d.heading("An operator cannot enroll anyone");
    present3(d, "yoshida")?;
    d.refused("tanaka", enroll("yoshida"), "may not do this")?;
    d.heading(
        "Someone already enrolled presented under another person's name: duplicate identity, refused and alarmed",
    );
    d.act("takahashi", person("morita", "森田 健", "市民課", &["operator"]))?;
    present3(d, "tanaka")?;
    d.refused("ito", enroll("morita"), "duplicate identity")?;

    d.heading("Grants, each issued by the person in the role its level requires (003 §13)");
    for (by, r) in [
        ("takahashi", grant("tanaka", "terminal:t-01", None, None)),
        ("takahashi", grant("kobayashi", "terminal:t-01", Some("2026-04-01"), Some("2026-10-31"))),
        ("suzuki", grant("tanaka", "zone:server-room", None, None)),
        ("kato", grant("tanaka", "zone:media-room", None, None)),
        ("kato", grant("yoshida", "zone:media-room", None, None)),
    ] {
        if let Request::GrantAdd(g) = &r {
            println!("    {:<10} {:<18} issued by {by}", g.holder, g.place);
        }
        d.act(by, r)?;
    }
    d.heading(
        "Delegation of operating authority by a site administrator, approved by the system administrator (003 §7(3))",
    );
    let v = d.act("ito", grant("sato", "terminal:t-01", None, None))?;
    let req = v["request"].as_str().unwrap_or("").to_string();
    println!("    ito requests terminal:t-01 for sato → {req}");
    d.act("takahashi", Request::RequestApprove { id: req, note: None })?;
    println!("    takahashi approves: sato's grant ends with the appointment term (004 §7)");
    d.heading("An L2 grant by the system administrator instead of the data manager is refused at issue");
    d.refused("takahashi", grant("nakamura", "zone:server-room", None, None), "data-manager")?;
    let visit = Request::VisitAdd(VisitAdd {
        vendor: "abe".into(),
        company: "東北システム保守株式会社".into(),
        purpose: "サーバ定期保守".into(),
        name_tag: "V-017".into(),
        doors: vec!["server-door".into()],
        from: "2026-11-24T09:00:00+09:00".into(),
        until: "2026-11-24T17:00:00+09:00".into(),
        escorts: vec!["tanaka".into()],
        media_allowed: vec!["保守用ノートPC (資産番号 T-22)".into()],
    });
    d.act("takahashi", visit)?;
    println!(
        "    vendor visit: abe (東北システム保守株式会社, name tag V-017), server-door, 09:00–17:00, escort tanaka"
    );

    d.clock("2026-11-24T10:00:00")?;
    d.heading("Operator login at a terminal: user ID + fingerprint (004 §2(9))");
    d.login("t-01", "tanaka", Some("tanaka"), true, "GRANT_VALID")?;
    d.heading("Operator without a grant for this terminal: refused before any capture");
    d.login("t-02", "sato", None, false, "NO_GRANT")?;
    d.heading("Someone else's finger under tanaka's ID: 1:1 against tanaka's own templates only");
    d.login("t-01", "tanaka", Some("sato"), false, "NOT_IDENTIFIED")?;

    d.clock("2026-11-23T10:00:00")?;
    d.heading("Login on a public holiday (勤労感謝の日) without prior approval (002 §5-2)");
    d.login("t-01", "sato", None, false, "HOLIDAY")?;
    d.act(
        "takahashi",
        Request::OffHoursAdd(OffHoursAdd {
            person: "sato".into(),
            terminal: "t-01".into(),
            from: "2026-11-23T09:30:00+09:00".into(),
            until: "2026-11-23T12:00:00+09:00".into(),
            reason: "転入届の繁忙対応".into(),
        }),
    )?;
    println!("    takahashi approves sato at t-01, 2026-11-23 09:30–12:00 (転入届の繁忙対応)");
    d.login("t-01", "sato", Some("sato"), true, "OFF_HOURS_APPROVED")?;
    d.clock("2026-11-24T19:30:00")?;
    d.heading("Login after office hours without approval");
    d.login("t-01", "tanaka", None, false, "OUTSIDE_OFFICE_HOURS")?;

    d.clock("2026-11-24T10:10:00")?;
    d.heading("Expired grant (004 §7)");
    d.login("t-01", "kobayashi", None, false, "GRANT_EXPIRED")?;

    d.heading("Vendor alone at the server room (003 §13(4)): no escort has authenticated");
    d.present_at_door("server-in", "abe", false, "VENDOR_NO_ESCORT")?;
    d.heading("Server room (L2) opened by a person the data manager designated");
    d.present_at_door("server-in", "tanaka", true, "GRANT_VALID")?;
    d.walk("server-door", 300)?;
    d.heading("Vendor with the escort who just authenticated, inside the visit window");
    d.present_at_door("server-in", "abe", true, "VENDOR_ESCORTED")?;
    d.walk("server-door", 300)?;
    d.heading("An L1-only operator at the L2 door");
    d.present_at_door("server-in", "sato", false, "NO_GRANT")?;
    d.heading("Media room (L3) opened by a director-permitted person who is inside the server room");
    d.present_at_door("media-in", "tanaka", true, "GRANT_VALID")?;
    d.walk("media-door", 300)?;
    d.heading("L3 refused to someone not recorded inside the server room (nesting)");
    d.present_at_door("media-in", "yoshida", false, "NOT_INSIDE_PARENT")?;
    d.heading("Exits are recorded (exit readers), so the ledger has both times");
    d.present_at_door("media-out", "tanaka", true, "EXIT_RECORDED")?;
    d.walk("media-door", 300)?;
    d.present_at_door("server-out", "abe", true, "EXIT_RECORDED")?;
    d.walk("server-door", 300)?;
    d.present_at_door("server-out", "tanaka", true, "EXIT_RECORDED")?;
    d.walk("server-door", 300)?;

    d.heading("A door forced open (no grant, no REX) raises an alarm");
    d.doors.open("server-door")?;
    d.wait_alarm("door.alarm.forced", true)?;
    d.doors.close("server-door")?;

    d.heading("A door held open past its limit raises an alarm");
    d.present_at_door("server-in", "tanaka", true, "GRANT_VALID")?;
    d.walk("server-door", 600_000)?;
    d.clock("2026-11-24T10:15:00")?;
    d.sim(SimCommand::Tick)?;
    d.wait_alarm("door.alarm.held", true)?;
    d.doors.close("server-door")?;

    d.heading("Five failed biometric attempts lock the person out of that reader (NIST SP 800-63B)");
    for _ in 0..5 {
        d.login("t-01", "sato", Some("stranger"), false, "NOT_IDENTIFIED")?;
    }
    d.login("t-01", "sato", None, false, "LOCKED_OUT")?;

    d.heading("The audit store cannot take events (disk remounted read-only): access denied, the door stays locked");
    d.sim(SimCommand::AuditUnwritable { on: true })?;
    d.present_at_door("server-in", "tanaka", false, "AUDIT_UNAVAILABLE")?;
    let energised = d.doors.energised_within("server-door", Duration::from_millis(500))?;
    println!("    server-door strike energised: {energised}");
    if energised {
        d.failures.push("door unlocked while the audit store was unwritable".into());
    }
    d.sim(SimCommand::AuditUnwritable { on: false })?;
    println!("    audit store writable again");

    d.heading("Strangers at a door reader: a growing delay after three, one alarm after five (issue 16 §2, 003 §20)");
    for i in 1..=5 {
        d.clock(&format!("2026-11-24T10:{:02}:00", 20 + i))?;
        d.present_at_door("server-in", &format!("stranger-{i}"), false, "NOT_IDENTIFIED")?;
    }
    d.wait_alarm("reader.alarm", true)?;
    d.clock("2026-11-24T10:24:59.500")?;
    d.present_at_door("server-in", "tanaka", false, "READER_THROTTLED")?;
    d.clock("2026-11-24T10:27:00")?;
    d.present_at_door("server-in", "tanaka", true, "GRANT_VALID")?;
    d.walk("server-door", 300)?;

    crate::demo_admin::after(d)?;
    crate::demo_palm::play(d)
}

fn enroll(person: &str) -> Request {
    Request::Enroll { person: person.into(), reader: "t01-reader".into(), finger: 2, palm: None, samples: None }
}

/// The subject places their finger three times at the enrollment reader.
fn present3(d: &Demo, body: &str) -> anyhow::Result<()> {
    for _ in 0..3 {
        d.sim(SimCommand::Present { reader: "t01-reader".into(), body: body.into(), finger: 2 })?;
    }
    Ok(())
}
