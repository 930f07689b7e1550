//! `tobira-hil`: the hardware-in-the-loop runner (hil/README.md).
//!
//! `tobira-hil --config hil.toml --out results.json` plays the scenarios against the devices the file lists,
//! prompting the person at the bench for each physical step; `tobira-hil --simulate --out results.json`
//! plays the same scenarios against the simulators. Exit 0 when every check passed, 1 otherwise, 2 on bad
//! usage or configuration.

mod config;
mod operator;
mod scenarios;
mod sim;

use operator::{Human, Operator};
use scenarios::Outcome;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: tobira-hil (--config hil.toml | --simulate) [--out results.json]");
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut cfg_path, mut simulate, mut out) = (None, false, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--config" => cfg_path = it.next().map(PathBuf::from),
            "--simulate" => simulate = true,
            "--out" => out = it.next().map(PathBuf::from),
            _ => usage(),
        }
    }
    if simulate == cfg_path.is_some() {
        usage();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tobira-hil: {e}");
            std::process::exit(1)
        }
    };
    let dir = std::env::temp_dir().join(format!("tobira-hil-{}", std::process::id()));
    let (config, operator): (config::HilConfig, Arc<dyn Operator>) = if simulate {
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!("tobira-hil: {}: {e}", dir.display());
            std::process::exit(1)
        }
        match sim::SimBench::start(&dir, &rt) {
            Ok((bench, cfg)) => (cfg, Arc::new(bench)),
            Err(e) => {
                eprintln!("tobira-hil: cannot start the simulators: {e}");
                std::process::exit(1)
            }
        }
    } else {
        match config::load(cfg_path.as_deref().unwrap_or_else(|| usage())) {
            Ok(c) => (c, Arc::new(Human)),
            Err(e) => {
                eprintln!("tobira-hil: {e}");
                std::process::exit(2)
            }
        }
    };
    let started = chrono::Utc::now();
    let results = rt.block_on(run(&config, operator.as_ref()));
    let failed = results.iter().filter(|o| !o.ok).count();
    let report = serde_json::json!({
        "started": started,
        "finished": chrono::Utc::now(),
        "mode": if simulate { "simulated" } else { "hardware" },
        "passed": results.len() - failed,
        "failed": failed,
        "results": results,
    });
    if let Some(path) = out
        && let Err(e) = std::fs::write(&path, serde_json::to_vec_pretty(&report).unwrap_or_default())
    {
        eprintln!("tobira-hil: cannot write {}: {e}", path.display());
    }
    println!("{} passed, {failed} failed", results.len() - failed);
    let _ = std::fs::remove_dir_all(&dir);
    // Device threads (libosdp, serial) are not joined: the process ends here.
    std::process::exit(if failed == 0 && !results.is_empty() { 0 } else { 1 })
}

async fn run(config: &config::HilConfig, op: &dyn Operator) -> Vec<Outcome> {
    let mut all = Vec::new();
    for r in &config.readers {
        println!("== reader {} ({})", r.id, r.kind);
        let port = r.port.clone().unwrap_or_default();
        match r.kind.as_str() {
            "r30x" => {
                let reader =
                    tobira_drivers::r30x::R30xReader::spawn(&r.id, tobira_drivers::r30x::R30xConfig::new(&port));
                all.extend(scenarios::image_reader(r, &reader, op, false).await);
            }
            "palm-bridge" => {
                let reader = tobira_drivers::palm_bridge::PalmBridgeReader::new(
                    &r.id,
                    tobira_drivers::palm_bridge::PalmBridgeConfig::new(&port),
                );
                all.extend(scenarios::image_reader(r, &reader, op, true).await);
            }
            "uru4000" => match tobira_drivers::uru4000::UruReader::spawn(&r.id, Default::default()) {
                Ok(reader) => all.extend(scenarios::image_reader(r, &reader, op, false).await),
                Err(e) => all.push(Outcome {
                    device: r.id.clone(),
                    kind: r.kind.clone(),
                    scenario: "open".into(),
                    ok: false,
                    ms: 0,
                    detail: e.to_string(),
                }),
            },
            other => all.push(Outcome {
                device: r.id.clone(),
                kind: other.into(),
                scenario: "configuration".into(),
                ok: false,
                ms: 0,
                detail: format!("unknown reader kind {other:?}: r30x, uru4000 or palm-bridge"),
            }),
        }
    }
    for c in &config.controllers {
        println!("== controller {} ({})", c.id, c.kind);
        let key = match tobira_drivers::osdp::load_key(&c.key_file) {
            Ok(k) => k,
            Err(e) => {
                all.push(Outcome {
                    device: c.id.clone(),
                    kind: c.kind.clone(),
                    scenario: "key file".into(),
                    ok: false,
                    ms: 0,
                    detail: e.to_string(),
                });
                continue;
            }
        };
        let mut cfg = tobira_drivers::osdp::OsdpConfig::new(&c.port, c.address, Some(key));
        cfg.offline_after = Duration::from_secs(10);
        match tobira_drivers::osdp::OsdpController::spawn(&c.id, cfg) {
            Ok(ctl) => all.extend(scenarios::door_controller(c, &ctl, op).await),
            Err(e) => all.push(Outcome {
                device: c.id.clone(),
                kind: c.kind.clone(),
                scenario: "open".into(),
                ok: false,
                ms: 0,
                detail: e.to_string(),
            }),
        }
    }
    all
}
