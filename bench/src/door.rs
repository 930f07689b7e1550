//! Door decision latency with N enrolled people, through the real `tobirad` binary and its simulated
//! devices: from the sample reaching the daemon to the unlock command, the durable audit commit included
//! (the daemon measures it and reports it with each decision). Also the daemon's resident memory.

use crate::stats::{fmt, summarize};
use anyhow::{Context, bail};
use chrono::Utc;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tobira::client::Client;
use tobira::store::RegistryStore;
use tobira_biometrics::iso19794_2;
use tobira_biometrics::synthetic::ImpressionNoise;
use tobira_core::ids::*;
use tobira_core::model::{Grant, Person, Place, Role, Schedule};
use tobira_proto::{DecisionReport, Request, SimCommand};

fn body(i: usize) -> String {
    format!("op{i:05}")
}

/// Writes a site with `n` enrolled operators, each granted the server room, straight into fresh stores.
async fn populate(dir: &Path, n: usize) -> anyhow::Result<()> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    tobira::keys::create_key(&data.join("template.key"), tobira::keys::KEK_LEN)?;
    let kek = tobira::keys::load_key(&data.join("template.key"), tobira::keys::KEK_LEN)?;
    let store = RegistryStore::open(&data.join("registry.db"), true).await?;
    let now = Utc::now();
    let dm = Person {
        id: PersonId::new("suzuki"),
        match_id: MatchId::new("m-dm"),
        name: "鈴木".into(),
        affiliation: String::new(),
        roles: vec![Role::DataManager],
        appointment_end: None,
        active: true,
    };
    store.add_person(&dm, now).await?;
    let sa = Person {
        id: PersonId::new("takahashi"),
        match_id: MatchId::new("m-sa"),
        name: "高橋".into(),
        affiliation: String::new(),
        roles: vec![Role::SystemAdministrator],
        appointment_end: None,
        active: true,
    };
    store.add_person(&sa, now).await?;
    let pop = tobira_drivers::sim::population::SimPopulation::default();
    let mut last = Instant::now();
    for i in 0..n {
        let id = PersonId::new(body(i));
        let p = Person {
            id: id.clone(),
            match_id: MatchId::new(format!("m{i}")),
            name: body(i),
            affiliation: String::new(),
            roles: vec![Role::Operator],
            appointment_end: None,
            active: true,
        };
        store.add_person(&p, now).await?;
        let admin_grant = Grant {
            id: GrantId::new(format!("t{i}")),
            holder: id.clone(),
            place: Place::Terminal(TerminalId::new("t-01")),
            issued_by: PersonId::new("takahashi"),
            issuer_role: Role::SystemAdministrator,
            valid_from: now - chrono::Duration::days(1),
            valid_until: now + chrono::Duration::days(365),
            schedule: Schedule::Always,
        };
        store.add_grant(&admin_grant, now).await?;
        store
            .add_grant(
                &Grant {
                    id: GrantId::new(format!("g{i}")),
                    holder: id.clone(),
                    place: Place::Zone(ZoneId::new("server-room")),
                    issued_by: dm.id.clone(),
                    issuer_role: Role::DataManager,
                    valid_from: now - chrono::Duration::days(1),
                    valid_until: now + chrono::Duration::days(365),
                    schedule: Schedule::Always,
                },
                now,
            )
            .await?;
        let t = pop.finger(&body(i), 2).impression(7, &ImpressionNoise::default());
        let tid = format!("tpl-{i}");
        let sealed = tobira::crypto::seal_template(&kek, id.as_str(), &tid, &iso19794_2::encode(&t))?;
        store
            .add_template(&tid, &id, &p.match_id, "finger", 2, t.minutiae.len() as i64, &sealed, "approved", now)
            .await?;
        if last.elapsed() > Duration::from_secs(2) {
            eprint!("\r  enrolling synthetic people: {}/{n}", i + 1);
            last = Instant::now();
        }
    }
    eprintln!("\r  enrolled {n} synthetic people                ");
    store.close().await;
    tobira_audit::AuditStore::create(&data.join("audit.db"), "bench", &data.join("audit-signing.key"))
        .await?
        .close()
        .await;
    Ok(())
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

pub fn run(enrolled: usize, presentations: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(populate(dir.path(), enrolled))?;
    let site = dir.path().join("site.toml");
    std::fs::write(&site, tobira::demo::DEMO_SITE)?;
    let bin = std::env::current_exe()?.with_file_name("tobirad");
    if !bin.exists() {
        bail!("{} not found: build it first (cargo build --release -p tobira --bins)", bin.display());
    }
    let data = dir.path().join("data");
    let started = Instant::now();
    let mut child = Command::new(&bin)
        .args([
            "--config",
            site.to_str().unwrap_or_default(),
            "--data-dir",
            data.to_str().unwrap_or_default(),
            "--simulation",
        ])
        .env("TOBIRA_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting tobirad")?;
    let client = Client::new(data.join("control.sock"));
    while client.call(Request::Status).is_err() {
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            bail!("tobirad did not start");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let startup = started.elapsed();
    let idle_rss = rss_kib(child.id()).unwrap_or(0);
    let mut lat = Vec::with_capacity(presentations);
    let mut granted = 0;
    for k in 0..presentations {
        let who = body((k * 7919) % enrolled.max(1));
        let v = client.call(Request::Sim(SimCommand::Present {
            reader: "server-in".into(),
            body: who.clone(),
            finger: 2,
        }))?;
        let r: DecisionReport = serde_json::from_value(v)?;
        if r.granted && r.person.as_deref() == Some(who.as_str()) {
            granted += 1;
        }
        if let Some(us) = r.latency_us {
            lat.push(Duration::from_micros(us));
        }
    }
    let logins = measure_logins(&client, &data.join("login.sock"), enrolled, presentations)?;
    let rss = rss_kib(child.id()).unwrap_or(0);
    // SAFETY: kill(2) on our own child's pid with SIGTERM.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let _ = child.wait();
    let s = summarize(lat);
    println!(
        "door: sample → unlock issued (audit commit included), {enrolled} enrolled, {} presentations: p50 {}, p99 {}, max {} (goal p99 ≤ 50 ms); {granted}/{presentations} admitted as the right person",
        s.n,
        fmt(s.p50),
        fmt(s.p99),
        fmt(s.max)
    );
    let l = summarize(logins.0);
    println!(
        "login: PAM request, sample captured → PAM answer (1:1 + audit commit), {enrolled} enrolled: p50 {}, p99 {}, max {} (goal p99 ≤ 100 ms); {}/{} succeeded",
        fmt(l.p50),
        fmt(l.p99),
        fmt(l.max),
        logins.1,
        l.n
    );
    println!(
        "daemon: resident memory with {enrolled} enrolled: {:.1} MiB after start-up ({:.1} s), {:.1} MiB after the run",
        idle_rss as f64 / 1024.0,
        startup.as_secs_f64(),
        rss as f64 / 1024.0
    );
    Ok(())
}

/// The first office-hours moment from now on, so terminal logins are inside hours whatever day the bench runs.
fn office_moment() -> anyhow::Result<chrono::DateTime<Utc>> {
    let site = tobira_core::site::parse_site("demo.toml", tobira::demo::DEMO_SITE)?;
    let mut t = Utc::now();
    for _ in 0..(24 * 14) {
        if tobira_core::calendar::is_office_hours(&site, t).is_open() {
            return Ok(t);
        }
        t += chrono::Duration::hours(1);
    }
    bail!("no office hours in the next two weeks")
}

/// Logins as the PAM module makes them, over the login socket (the bench runs as root, like PAM).
fn measure_logins(client: &Client, sock: &Path, enrolled: usize, n: usize) -> anyhow::Result<(Vec<Duration>, usize)> {
    use tobira_proto::{LoginContext, LoginMessage, LoginOutcome, LoginRequest, read_frame, write_frame};
    let at = office_moment()?;
    client.call(Request::Sim(SimCommand::Clock { at: Some(at.to_rfc3339()) }))?;
    let mut times = Vec::with_capacity(n);
    let mut ok = 0;
    for k in 0..n {
        let who = body((k * 104_729) % enrolled.max(1));
        client.call(Request::Sim(SimCommand::Present { reader: "t01-reader".into(), body: who.clone(), finger: 2 }))?;
        let t = Instant::now();
        let mut s = std::os::unix::net::UnixStream::connect(sock)?;
        let ctx = LoginContext { user: who, service: "bench".into(), tty: None, rhost: None, terminal: "t-01".into() };
        write_frame(&mut s, &LoginRequest::Authenticate(ctx))?;
        loop {
            match read_frame::<_, LoginMessage>(&mut s)? {
                Some(LoginMessage::Result { outcome, .. }) => {
                    times.push(t.elapsed());
                    ok += usize::from(outcome == LoginOutcome::Success);
                    break;
                }
                Some(_) => {}
                None => bail!("login socket closed without an answer"),
            }
        }
    }
    Ok((times, ok))
}
