//! `tobira`: the administration CLI, the simulator's remote control, the offline audit verifier and the demo.

mod demo;

use clap::Parser;
use tobira_cli::cli::{AuditCmd, Cli, Cmd, client, exit_code, ledger_rows, print_value, request_for};

fn main() {
    let cli = Cli::parse();
    std::process::exit(run(cli));
}

fn run(cli: Cli) -> i32 {
    let json = cli.json;
    match cli.cmd {
        Cmd::Demo(args) => match demo::run(args) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("demo failed: {e:#}");
                1
            }
        },
        Cmd::Restore { src, data_dir, config, node_key, without_centre } => {
            tobira_cli::restore::restore_cli(&src, &data_dir, &config, node_key.as_deref(), without_centre, json)
        }
        Cmd::Audit(AuditCmd::Verify {
            data_dir,
            online: false,
            central: false,
            config,
            node_key,
            mut anchor,
            witness,
        }) => {
            if witness {
                match tobira_cli::witness::witness_anchors(&config, node_key.as_deref()) {
                    Ok(heads) => {
                        eprintln!("the peer witness countersigned {} heads of this node", heads.len());
                        anchor.extend(heads);
                    }
                    Err((code, e)) => {
                        eprintln!("AUDIT VERIFICATION FAILED against the peer witness (証人): {e}");
                        return code;
                    }
                }
            }
            tobira_cli::trust::verify_cli(&data_dir, &config, node_key.as_deref(), &anchor, json)
        }
        Cmd::Audit(AuditCmd::Verify { data_dir, central: true, config, node_key, anchor, .. }) => {
            // Both checks, whatever the first says: a consistent local rewrite passes the first, not the second.
            let local = tobira_cli::trust::verify_cli(&data_dir, &config, node_key.as_deref(), &anchor, json);
            let central = tobira_cli::audit::verify_against_central(&data_dir, &config);
            local.max(central)
        }
        Cmd::Audit(AuditCmd::Prove { seq, data_dir, central: false, .. }) => {
            tobira_cli::audit::prove_offline(&data_dir, seq)
        }
        Cmd::Audit(AuditCmd::Prove { seq, data_dir, central: true, config }) => {
            tobira_cli::audit::prove_countersigned(&data_dir, &config, seq)
        }
        Cmd::Audit(AuditCmd::CheckProof { file, node_key, witness_key }) => {
            tobira_cli::audit::check_proof(&file, &node_key, witness_key.as_deref())
        }
        Cmd::Audit(AuditCmd::Show { ref csv, .. }) if csv.is_some() => {
            let csv = csv.clone().unwrap_or_default();
            let c = client(&cli);
            let Some(req) = request_for(cli.cmd) else { return 2 };
            match c.call(req) {
                Ok(v) => {
                    if json {
                        print_value(&v, json);
                    } else {
                        print_value(&tobira_cli::local_time::for_people(&c, &v), json);
                    }
                    let n = v.as_array().map(|a| a.len()).unwrap_or(0);
                    // The operation history (操作履歴) is read by people: its 日時 in the site's zone, the
                    // chain's hash columns unchanged (issue 22 §3).
                    let local = match tobira_cli::local_time::site_offset(&c) {
                        Some(off) => tobira_cli::local_time::localise(&v, off),
                        None => v.clone(),
                    };
                    if let Err(e) = std::fs::write(&csv, tobira_cli::cli::history_csv(&local)) {
                        eprintln!("cannot write {}: {e}", csv.display());
                        return 1;
                    }
                    eprintln!("wrote {n} events to {}", csv.display());
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    exit_code(&e)
                }
            }
        }
        Cmd::Ledger { ref csv, ref html, .. } => {
            let csv = csv.clone();
            let html = html.clone();
            let c = client(&cli);
            let Some(req) = request_for(cli.cmd) else {
                return 2;
            };
            match c.call(req) {
                Ok(v) => {
                    let (cols, rows) = ledger_rows(&v);
                    let hs: Vec<&str> = cols.iter().map(String::as_str).collect();
                    // The heading (site, period, output time, who made it: issue 21 §4), as the daemon made it.
                    let heading = v["heading"]["text"].as_str().unwrap_or("").to_string();
                    if json {
                        println!("{v}");
                    } else {
                        println!("{}", v["title"].as_str().unwrap_or(""));
                        println!("{heading}");
                        print!("{}", tobira_ledger::table::render(&hs, &rows));
                        println!(
                            "署名付きツリーヘッド (signed tree head, {}): {}",
                            tobira_cli::trust::anchor_local_time(&v["anchor"]),
                            v["anchor"]["verify"].as_str().unwrap_or("none")
                        );
                    }
                    if let Some(path) = csv {
                        let mut bytes = tobira_ledger::table::csv_with_bom(&hs, &rows);
                        bytes.extend_from_slice(tobira_cli::cli::csv_heading(&v).as_bytes());
                        bytes.extend_from_slice(tobira_cli::trust::csv_anchor(&v["anchor"]).as_bytes());
                        if let Err(e) = std::fs::write(&path, bytes) {
                            eprintln!("cannot write {}: {e}", path.display());
                            return 1;
                        }
                        eprintln!("wrote {} rows to {}", rows.len(), path.display());
                    }
                    if let Some(path) = html {
                        let page = tobira_cli::trust::html_with_anchor(
                            &tobira_ledger::table::html_a4_for(
                                v["title"].as_str().unwrap_or(""),
                                Some(&heading),
                                &hs,
                                &rows,
                            ),
                            &v["anchor"],
                        );
                        if let Err(e) = std::fs::write(&path, page) {
                            eprintln!("cannot write {}: {e}", path.display());
                            return 1;
                        }
                        eprintln!("wrote {} rows to {} (A4 landscape)", rows.len(), path.display());
                    }
                    0
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    exit_code(&e)
                }
            }
        }
        _ => {
            let c = client(&cli);
            let (actor, at) = (cli.actor.clone(), cli.at.clone());
            let Some(req) = request_for(cli.cmd) else {
                return 2;
            };
            tobira_cli::prompt::announce(&c, actor.as_deref(), at.as_deref(), &req);
            // An enrolment says each capture as it happens (issue 18).
            let answer = if matches!(req, tobira_proto::Request::Enroll { .. }) {
                let mut say = |v: serde_json::Value| {
                    if let Some(l) = tobira_cli::prompt::progress_line(&v) {
                        eprintln!("{l}");
                    }
                };
                c.call_progress(
                    actor.as_ref().map(|id| tobira_proto::ActorClaim { id: id.clone(), reader: at.clone() }),
                    req,
                    Some(&mut say),
                )
            } else {
                c.call(req)
            };
            match answer {
                Ok(v) => {
                    // A step on the way in (a card read, a first finger at a two-biometrics door) is not a
                    // refusal: exit 0, and the message says what comes next.
                    let step = matches!(
                        v.get("reason").and_then(|r| r.as_str()),
                        Some("CARD_ACCEPTED" | "SECOND_SAMPLE_REQUIRED" | "SAME_SAMPLE_TWICE")
                    );
                    // `threshold-check`: a rate over twice its target is something to act on.
                    let exceeds = v.as_array().is_some_and(|rows| rows.iter().any(|r| r["exceeds"] == true));
                    let denied = exceeds
                        || !step
                            && (v.get("granted").and_then(|g| g.as_bool()) == Some(false)
                                || v.get("ok").and_then(|g| g.as_bool()) == Some(false));
                    if json {
                        print_value(&v, json);
                    } else {
                        print_value(&tobira_cli::local_time::for_people(&c, &v), json);
                    }
                    if denied { 1 } else { 0 }
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    exit_code(&e)
                }
            }
        }
    }
}
