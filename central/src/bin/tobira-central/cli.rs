//! `tobira-central`: the centre's own commands (issue 7), run by the centre's administrator or an auditor
//! against the central PostgreSQL store — never on a node. Schema and node registration, the witness that
//! countersigns the nodes' logs, the auditor's questions across every node with the operation history's
//! Japanese columns (操作履歴, 003 §17), the centre's alarms, and registry changes for every node.

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;
use tobira_ledger::table;

#[derive(Debug, Parser)]
#[command(
    name = "tobira-central",
    version,
    about = "The central store of a multi-node tobira: schema, nodes, witness, audits across nodes"
)]
pub struct CentralCli {
    /// The central database as the centre's administrator or an auditor, e.g.
    /// `postgres://tobira_admin@db.example.lg.jp/tobira?sslmode=verify-full&sslrootcert=/etc/tobira/ca.crt`.
    /// Not needed by `witness-key` and `peer-witness`.
    #[arg(long, env = "TOBIRA_CENTRAL_DB")]
    pub db: Option<String>,
    /// UTC offset of the city's sites: for dates given without a time (`--from 2026-04-01`) and for the times
    /// shown to people (`--json` keeps UTC). +09:00 in Japan.
    #[arg(long, default_value = "+09:00")]
    pub utc_offset: String,
    #[command(subcommand)]
    pub cmd: CentralCmd,
}

#[derive(Debug, Subcommand)]
pub enum CentralCmd {
    /// Create or upgrade the schema (as the database owner).
    Migrate,
    /// Register a node: its row, its database role (the CN of its client certificate), its public key.
    RegisterNode {
        node: String,
        #[arg(long)]
        role: String,
        /// The node's `audit-signing.pub` (hex Ed25519), copied from its data directory.
        #[arg(long)]
        public_key_file: PathBuf,
    },
    /// Create the witness's signing key (0600, never overwritten) and print its public key for the nodes'
    /// `[central] witness_key`.
    WitnessKey {
        #[arg(long)]
        key: PathBuf,
    },
    /// Run the witness: countersign every node's tree heads that extend the last countersigned one and match
    /// the events the centre holds. Stops cleanly on Ctrl-C or SIGTERM.
    Witness {
        #[arg(long)]
        key: PathBuf,
        /// Decide what is pending once and exit (for scripts and tests).
        #[arg(long)]
        once: bool,
    },
    /// A witness that needs no PostgreSQL (issue 16 §1(a)): countersigns the signed tree heads of the nodes
    /// named with `--node` over TLS, refusing any head that does not extend the last it countersigned, and
    /// keeps what it countersigned in `--store` (a JSON file, replaced atomically). Run it on another host
    /// than the nodes; they name it in `[witness]`.
    PeerWitness {
        /// Address to listen on, e.g. 0.0.0.0:7443.
        #[arg(long)]
        listen: String,
        /// The witness's signing key (`tobira-central witness-key --key FILE`).
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        store: PathBuf,
        /// The server certificate chain (PEM) and its private key (PEM), from the site's CA.
        #[arg(long)]
        cert: PathBuf,
        #[arg(long)]
        cert_key: PathBuf,
        /// NODE=FILE: a node it witnesses and its `audit-signing.pub` (compare the fingerprint with the one
        /// written on paper at the node's `--init`). Repeatable.
        #[arg(long = "node", required = true)]
        nodes: Vec<String>,
    },
    /// Audit questions across every node.
    #[command(subcommand)]
    Audit(CentralAudit),
    /// A ledger across every node (the same forms as `tobira ledger`, with the node, 拠点, beside each row):
    /// entry-exit (入退室管理簿), operators (操作者管理簿), matching (照合情報管理簿), user-ids (ユーザID管理簿).
    /// The question is recorded at the centre (002 §7(11)).
    Ledger {
        kind: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long, env = "TOBIRA_ACTOR")]
        viewer: String,
        #[arg(long)]
        json: bool,
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// What the centre noticed about its nodes: clock skew, refused tree heads.
    Alarms {
        #[arg(long)]
        node: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The countersigned heads of a node's log.
    Heads { node: String },
    /// Revoke a grant on every node (the change reaches connected nodes within seconds): its id
    /// (`G-kita-shisho-0007`, in either case, zeros optional) or PERSON@PLACE.
    RevokeGrant {
        grant: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
    },
    /// Deactivate a person on every node.
    Deactivate {
        person: String,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
    },
    /// The largest clock difference between a node and the centre accepted without an alarm.
    SetMaxClockSkew { seconds: u32 },
}

#[derive(Debug, Subcommand)]
pub enum CentralAudit {
    /// The operation history (操作履歴) across nodes: by person, place, kind, node and period. The question
    /// itself is recorded at the centre (002 §7(11)).
    Show {
        /// Actor or subject (操作者・対象者).
        #[arg(long)]
        person: Option<String>,
        #[arg(long)]
        place: Option<String>,
        /// Kind or prefix, e.g. `door.`.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        node: Option<String>,
        /// From (inclusive): RFC 3339 or a date in the site's offset.
        #[arg(long)]
        from: Option<String>,
        /// Until (exclusive).
        #[arg(long)]
        until: Option<String>,
        #[arg(long, default_value_t = 10_000)]
        limit: u32,
        /// Who is asking (recorded with the question).
        #[arg(long, env = "TOBIRA_ACTOR")]
        viewer: String,
        #[arg(long)]
        json: bool,
        /// Write CSV (UTF-8 with BOM, the Japanese column names) here instead of a table.
        #[arg(long)]
        csv: Option<PathBuf>,
    },
}

/// The operation-history columns of the centre: the node's as `tobira audit show`, plus the node and the
/// centre's receipt time (受信日時) beside the node's own (日時).
pub const CENTRAL_HISTORY_COLUMNS: [&str; 12] = [
    "日時",
    "受信日時",
    "拠点",
    "連番",
    "種別",
    "操作者",
    "対象者",
    "場所・端末",
    "結果",
    "理由",
    "根拠条項",
    "照合スコア",
];

/// A `--from`/`--until` bound for the centre's queries, by the one rule of `tobira_core::dates` (a day given
/// as the end means through that day).
fn bound(offset: &str, field: &str, s: &str) -> anyhow::Result<String> {
    let off =
        chrono::FixedOffset::from_str(offset).map_err(|_| anyhow::anyhow!("--utc-offset {offset:?} is not ±HH:MM"))?;
    let side = if field == "until" { tobira_core::dates::Bound::End } else { tobira_core::dates::Bound::Start };
    let t = tobira_core::dates::parse_bound(&format!("--{field}"), s, off, side)?;
    Ok(tobira_audit::time_text(t))
}

async fn peer_witness(
    listen: &str,
    key: &std::path::Path,
    store: &std::path::Path,
    cert: &std::path::Path,
    cert_key: &std::path::Path,
    nodes: &[String],
) -> anyhow::Result<i32> {
    use tobira_central::peer_witness::{PeerWitness, serve, server_config};
    let mut keys = std::collections::BTreeMap::new();
    for n in nodes {
        let Some((node, file)) = n.split_once('=') else { anyhow::bail!("--node {n}: give NODE=FILE") };
        let k = tobira_audit::anchors::read_key_file(std::path::Path::new(file))?;
        eprintln!("witnessing node {node}: key fingerprint {}", tobira_audit::anchors::fingerprint(&k));
        keys.insert(node.to_string(), k);
    }
    let signer = tobira_audit::Signer::load(key)?;
    let public = hex::encode(signer.public_key());
    let w = PeerWitness::open(store, signer.into_key_pair(), keys)?;
    let tls = server_config(cert, cert_key)?;
    let l = std::net::TcpListener::bind(listen).map_err(|e| anyhow::anyhow!("--listen {listen}: {e}"))?;
    eprintln!("peer witness {public} listening on {}; Ctrl-C stops", l.local_addr()?);
    let w = std::sync::Arc::new(std::sync::Mutex::new(w));
    std::thread::spawn(move || serve(l, tls, w));
    stop_signal().await;
    Ok(0)
}

async fn connect(db: &str) -> anyhow::Result<PgPool> {
    let opts = PgConnectOptions::from_str(db).map_err(|e| anyhow::anyhow!("--db: {e}"))?;
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(opts)
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the central database: {e}"))
}

fn outcome_ja(o: tobira_audit::Outcome) -> &'static str {
    match o {
        tobira_audit::Outcome::Granted => "許可",
        tobira_audit::Outcome::Denied => "拒否",
        tobira_audit::Outcome::Alarm => "警報",
        tobira_audit::Outcome::Info => "記録",
    }
}

pub async fn run(cli: CentralCli) -> anyhow::Result<i32> {
    if let CentralCmd::WitnessKey { key } = &cli.cmd {
        tobira_audit::Signer::create(key)?;
        println!("{}", hex::encode(tobira_audit::Signer::load(key)?.public_key()));
        return Ok(0);
    }
    if let CentralCmd::PeerWitness { listen, key, store, cert, cert_key, nodes } = &cli.cmd {
        return peer_witness(listen, key, store, cert, cert_key, nodes).await;
    }
    let Some(db) = cli.db.as_deref() else {
        anyhow::bail!("--db (or TOBIRA_CENTRAL_DB): the central database is needed for this command");
    };
    let pool = connect(db).await?;
    match cli.cmd {
        CentralCmd::WitnessKey { .. } | CentralCmd::PeerWitness { .. } => Ok(0),
        CentralCmd::Migrate => {
            tobira_central::migrate(&pool).await?;
            println!("central schema up to date");
            Ok(0)
        }
        CentralCmd::RegisterNode { node, role, public_key_file } => {
            let text = std::fs::read_to_string(&public_key_file)
                .map_err(|e| anyhow::anyhow!("{}: {e}", public_key_file.display()))?;
            let key = hex::decode(text.trim())
                .ok()
                .filter(|k| k.len() == 32)
                .ok_or_else(|| anyhow::anyhow!("{}: not a hex Ed25519 public key", public_key_file.display()))?;
            tobira_central::register_node(&pool, &node, &role, &key).await?;
            println!("node {node} registered with role {role}: its client certificate's CN must be {role}");
            Ok(0)
        }
        CentralCmd::Witness { key, once } => {
            let signer = tobira_audit::Signer::load(&key)?;
            let mut svc = tobira_central::witness_service::WitnessService::load(&pool, signer).await?;
            if once {
                let p = svc.pass(&pool).await?;
                println!("countersigned {}, refused {}, waiting {}", p.cosigned, p.refused, p.waiting);
                return Ok(0);
            }
            eprintln!("witness {} running; Ctrl-C stops", hex::encode(svc.public_key()));
            let (tx, rx) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                stop_signal().await;
                let _ = tx.send(true);
            });
            tobira_central::witness_service::run(pool, svc, rx).await?;
            Ok(0)
        }
        CentralCmd::Audit(CentralAudit::Show { person, place, kind, node, from, until, limit, viewer, json, csv }) => {
            let q = tobira_central::query::Question {
                person,
                place,
                kind,
                node,
                from: from.map(|s| bound(&cli.utc_offset, "from", &s)).transpose()?,
                until: until.map(|s| bound(&cli.utc_offset, "until", &s)).transpose()?,
                limit: Some(limit),
            };
            let rows = tobira_central::query::ask(&pool, &viewer, &q).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(0);
            }
            // People read the node's time and the receipt time in the city's zone, to the second (as the node's
            // `audit show --csv`); the zone is named once above the table. `--json` keeps RFC 3339 in UTC.
            let off = chrono::FixedOffset::from_str(&cli.utc_offset)
                .map_err(|_| anyhow::anyhow!("--utc-offset {:?} is not ±HH:MM", cli.utc_offset))?;
            let local = |t: DateTime<Utc>| tobira_ledger::Style::from(off).stamp(t);
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|c| {
                    let e = &c.event;
                    vec![
                        local(e.time),
                        local(c.received_at),
                        e.node.clone(),
                        e.seq.to_string(),
                        e.kind.clone(),
                        e.actor.clone().unwrap_or_default(),
                        e.subject.clone().unwrap_or_default(),
                        e.place.clone().unwrap_or_default(),
                        outcome_ja(e.outcome).to_string(),
                        e.reason.clone(),
                        e.article.clone().unwrap_or_default(),
                        e.score.map(|s| format!("{s:.3}")).unwrap_or_default(),
                    ]
                })
                .collect();
            if csv.is_none() {
                println!("(times in {})", tobira_ledger::zone_name(off));
            }
            emit(&CENTRAL_HISTORY_COLUMNS, &cells, csv.as_deref(), "events")?;
            Ok(0)
        }
        CentralCmd::Ledger { kind, from, until, viewer, json, csv } => {
            let (title, columns): (&str, &[&str]) = match kind.as_str() {
                "entry-exit" => ("入退室管理簿 (entry/exit ledger, 000 Form 1)", &tobira_ledger::ENTRY_EXIT_COLUMNS),
                "operators" => ("操作者管理簿 (operator ledger, 000 Form 2)", &tobira_ledger::OPERATOR_COLUMNS),
                "matching" => ("照合情報管理簿 (matching-data ledger, 003 §15)", &tobira_ledger::MATCHING_COLUMNS),
                "user-ids" => ("ユーザID管理簿 (user-ID ledger, 003 §14)", &tobira_ledger::USER_ID_COLUMNS),
                other => anyhow::bail!("no ledger {other:?}: entry-exit, operators, matching or user-ids"),
            };
            let off = chrono::FixedOffset::from_str(&cli.utc_offset)
                .map_err(|_| anyhow::anyhow!("--utc-offset {:?} is not ±HH:MM", cli.utc_offset))?;
            let q = tobira_central::query::Question {
                kind: (kind == "entry-exit").then(|| "door.".to_string()),
                from: from.map(|s| bound(&cli.utc_offset, "from", &s)).transpose()?,
                until: until.map(|s| bound(&cli.utc_offset, "until", &s)).transpose()?,
                limit: Some(1_000_000),
                ..Default::default()
            };
            let events: Vec<tobira_audit::StoredEvent> =
                tobira_central::query::ask(&pool, &viewer, &q).await?.into_iter().map(|c| c.event).collect();
            let dir = directory(&pool).await?;
            let rows = if kind == "entry-exit" {
                tobira_ledger::entry_exit_rows_in(&events, &dir, off)
            } else {
                tobira_ledger::event_rows_in(&kind, &events, &dir, off)
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(
                        &serde_json::json!({"title": title, "columns": columns, "rows": rows})
                    )?
                );
                return Ok(0);
            }
            let mut cols: Vec<&str> = columns.to_vec();
            cols.push("拠点");
            let cells: Vec<Vec<String>> =
                rows.iter().map(|r| cols.iter().map(|c| tobira_ledger::table::cell(&r[*c])).collect()).collect();
            if csv.is_none() {
                println!("{title}");
                println!("時刻: {}", tobira_ledger::zone_name(off));
            }
            emit(&cols, &cells, csv.as_deref(), &format!("rows of {title}"))?;
            Ok(0)
        }
        CentralCmd::Alarms { node, json } => {
            let alarms = tobira_central::alarms::list(&pool, node.as_deref(), 0).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&alarms)?);
            } else {
                let rows: Vec<Vec<String>> = alarms
                    .iter()
                    .map(|a| vec![a.at.clone(), a.node.clone(), a.kind.clone(), a.detail.clone()])
                    .collect();
                print!("{}", table::render(&["日時", "拠点", "種別", "内容"], &rows));
            }
            Ok(0)
        }
        CentralCmd::Heads { node } => {
            for c in tobira_central::heads::cosigned(&pool, &node).await? {
                println!("{}  size {}  root {}", c.sth.head.time, c.sth.head.size, hex::encode(c.sth.head.root));
            }
            Ok(0)
        }
        CentralCmd::RevokeGrant { grant, reason, by } => {
            // A grant id as typed (`g-kita-shisho-7`) in the form the nodes hold it (`G-kita-shisho-0007`);
            // `PERSON@PLACE` and anything else as it is.
            let grant =
                if grant.contains('@') { grant } else { tobira_core::grant_id::canonical(&grant).unwrap_or(grant) };
            let v = tobira_central::publish(&pool, "grant.revoke", &grant, &reason, &by).await?;
            println!("grant {grant} revoked on every node (registry version {v})");
            Ok(0)
        }
        CentralCmd::Deactivate { person, reason, by } => {
            let v = tobira_central::publish(&pool, "person.deactivate", &person, &reason, &by).await?;
            println!("person {person} deactivated on every node (registry version {v})");
            Ok(0)
        }
        CentralCmd::SetMaxClockSkew { seconds } => {
            tobira_central::alarms::set_max_clock_skew(&pool, seconds).await?;
            println!("clock differences over {seconds} s between a node and the centre raise an alarm");
            Ok(0)
        }
    }
}

/// A table on the terminal, or CSV (UTF-8 with BOM, the Japanese column names) in `csv`.
fn emit(cols: &[&str], cells: &[Vec<String>], csv: Option<&std::path::Path>, what: &str) -> anyhow::Result<()> {
    match csv {
        Some(path) => {
            std::fs::write(path, table::csv_with_bom(cols, cells))
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            println!("{} {what} written to {} (the question is recorded at the centre)", cells.len(), path.display());
        }
        None => print!("{}", table::render(cols, cells)),
    }
    Ok(())
}

/// The city's people as the feed leaves them (user ID → name, affiliation), and each node's places as its
/// starts name them (`tobira_central::places`).
async fn directory(pool: &PgPool) -> anyhow::Result<tobira_central::places::CentralDirectory> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT person, payload FROM central_people").fetch_all(pool).await?;
    let people = rows
        .into_iter()
        .filter_map(|(id, p)| {
            let v: serde_json::Value = serde_json::from_str(&p).ok()?;
            Some((id, (v["name"].as_str()?.to_string(), v["affiliation"].as_str().unwrap_or("").to_string())))
        })
        .collect();
    let places = tobira_central::places::Places::load(pool).await?;
    Ok(tobira_central::places::CentralDirectory { people, places })
}

async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut t), Ok(mut i)) => {
            tokio::select! {
                _ = t.recv() => {}
                _ = i.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}
