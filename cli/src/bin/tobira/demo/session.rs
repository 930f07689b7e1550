//! The demo's session: the `tobirad` child it started, the client of its control socket, the door
//! controllers, and the ways a step is played and checked (each unexpected outcome is counted, not fatal).

use anyhow::{Context as _, bail};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tobira_cli::client::Client;
use tobira_proto::{ActorClaim, DecisionReport, Request, SimCommand};

pub(crate) struct Daemon {
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
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
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
    pub(crate) doors: crate::demo::doors::OsdpDoors,
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
    pub(crate) fn walk(&mut self, door: &str, hold_ms: u64) -> anyhow::Result<bool> {
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
    pub(crate) fn wait_alarm(&mut self, kind: &str, want: bool) -> anyhow::Result<()> {
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

pub(crate) fn find_tobirad(explicit: Option<PathBuf>) -> anyhow::Result<PathBuf> {
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

pub(crate) fn start_daemon(bin: &Path, dir: &Path, site_text: &str) -> anyhow::Result<(Daemon, Client)> {
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
