//! Revocation propagation (issue 7 §3): N real `tobirad` nodes connected to a private PostgreSQL centre over
//! TLS with client certificates; in each round a grant is added at the first node and reaches the others
//! through the centre (timed too), then the centre publishes its revocation (`PERSON@PLACE`, as `tobira-central revoke-grant` does), and the bench
//! watches every node's registry through its control socket until the grant is gone. Prints p50/p99 per
//! node and of the slowest node of each round.

use crate::interrupt;
use crate::stats::{fmt, summarize};
use anyhow::{Context, bail};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tobira_cli::client::Client;
use tobira_proto::{ActorClaim, GrantAdd, PersonAdd, Request};

struct Node {
    child: Child,
    client: Client,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn site(pg: &tobira_central::testing::Pg, id: &str, role: &str) -> String {
    let base = tobira_cli::demo::DEMO_SITE.replacen("id = \"sendai-honcho\"", &format!("id = \"{id}\""), 1);
    format!(
        "{base}\n[central]\nhost = \"127.0.0.1\"\nport = {}\nrole = \"{role}\"\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        pg.port,
        pg.file("ca.crt").display(),
        pg.file(&format!("{role}.crt")).display(),
        pg.file(&format!("{role}.key")).display()
    )
}

fn holds_grant(client: &Client) -> anyhow::Result<bool> {
    let v = client.call(Request::GrantList { holder: Some("tanaka".into()) })?;
    Ok(v.as_array().is_some_and(|a| !a.is_empty()))
}

pub fn run(nodes: usize, rounds: usize) -> anyhow::Result<()> {
    interrupt::install();
    let bin = std::env::current_exe()?.with_file_name("tobirad");
    if !bin.exists() {
        bail!("{} not found: build it first (cargo build --release -p tobira --bins)", bin.display());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let roles: Vec<String> = (0..nodes).map(|i| format!("node_r{i:02}")).collect();
    let role_refs: Vec<&str> = roles.iter().map(String::as_str).collect();
    let pg = rt
        .block_on(tobira_central::testing::start_with(&role_refs, true))
        .context("PostgreSQL 15 server binaries needed")?;
    let owner = rt.block_on(pg.admin("tobira"));
    rt.block_on(tobira_central::migrate(&owner))?;
    let dir = tempfile::tempdir()?;
    let mut running = Vec::new();
    for (i, role) in roles.iter().enumerate() {
        let id = format!("node-{i:02}");
        rt.block_on(tobira_central::register_node(&owner, &id, role, &[i as u8; 32]))?;
        let nd = dir.path().join(&id);
        std::fs::create_dir_all(&nd)?;
        let site_file = nd.join("site.toml");
        std::fs::write(&site_file, site(&pg, &id, role))?;
        let data = nd.join("data");
        let init = Command::new(&bin)
            .arg("--config")
            .arg(&site_file)
            .arg("--data-dir")
            .arg(&data)
            .args(["--init", "--simulation"])
            .stdout(Stdio::null())
            .status()
            .context("tobirad --init")?;
        if !init.success() {
            bail!("tobirad --init for {id} failed: {init}");
        }
        let child = Command::new(&bin)
            .arg("--config")
            .arg(&site_file)
            .arg("--data-dir")
            .arg(&data)
            .arg("--simulation")
            .env("TOBIRA_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting tobirad")?;
        let actor = Some(ActorClaim { id: "takahashi".into(), reader: None });
        let node = Node { child, client: Client::new(data.join("control.sock")).with_actor(actor) };
        let t = Instant::now();
        while node.client.call(Request::Status).is_err() {
            if t.elapsed() > Duration::from_secs(60) {
                bail!("{id} did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Bootstrap: before the system administrator's own template is approved, their acts need no finger.
        for (who, roles) in [("takahashi", "system-administrator"), ("tanaka", "operator")] {
            node.client.call(Request::PersonAdd(PersonAdd {
                id: who.into(),
                name: who.into(),
                affiliation: "情報政策課".into(),
                roles: vec![roles.into()],
                appointment_end: Some("2099-03-31".into()),
            }))?;
        }
        running.push(node);
    }
    // Every node's registry feed connected (it catches up at connection, then listens).
    std::thread::sleep(Duration::from_secs(3));
    let mut per_node = Vec::new();
    let mut slowest = Vec::new();
    let mut grant_spread = Vec::new();
    for round in 0..rounds {
        if interrupt::requested() {
            break;
        }
        // Granted once, at the first node; the grant reaches the others through the centre.
        running[0].client.call(Request::GrantAdd(GrantAdd {
            holder: "tanaka".into(),
            place: "terminal:t-01".into(),
            from: None,
            until: None,
            schedule: None,
        }))?;
        let t_grant = Instant::now();
        for n in &running {
            while !holds_grant(&n.client)? {
                if t_grant.elapsed() > Duration::from_secs(30) {
                    bail!("round {round}: the grant never reached every node");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        grant_spread.push(t_grant.elapsed());
        let t0 = Instant::now();
        rt.block_on(tobira_central::publish(&owner, "grant.revoke", "tanaka@terminal:t-01", "bench", "centre-admin"))?;
        let mut left: Vec<usize> = (0..running.len()).collect();
        while !left.is_empty() {
            let mut still = Vec::new();
            for &i in &left {
                if holds_grant(&running[i].client)? {
                    still.push(i);
                } else {
                    per_node.push(t0.elapsed());
                }
            }
            left = still;
            if t0.elapsed() > Duration::from_secs(30) {
                bail!("round {round}: nodes {left:?} never applied the revocation");
            }
            if !left.is_empty() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        slowest.push(t0.elapsed());
        eprint!("\r  round {}/{rounds}", round + 1);
    }
    eprintln!();
    let all = summarize(per_node);
    let worst = summarize(slowest);
    let spread = summarize(grant_spread);
    println!(
        "grant added at one node → held by all {nodes} nodes (outbox → centre feed → every node): p50 {}, p99 {}",
        fmt(spread.p50),
        fmt(spread.p99)
    );
    println!(
        "revocation propagation, centre → {nodes} tobirad nodes (LISTEN/NOTIFY over TLS, audited before applied), {} rounds: per node p50 {}, p99 {}; all nodes done p50 {}, p99 {}, max {} (goal p99 ≤ 2 s)",
        worst.n,
        fmt(all.p50),
        fmt(all.p99),
        fmt(worst.p50),
        fmt(worst.p99),
        fmt(worst.max)
    );
    Ok(())
}
