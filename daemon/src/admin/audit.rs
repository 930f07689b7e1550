//! `tobira audit show|verify` on the daemon side. Looking at the records is itself recorded (002 §7(11)).

use crate::admin::range::{parse_end, parse_time};
use crate::flows::actor::{Actor, Proof};
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use tobira_audit::{Filter, NewEvent, Outcome, StoredEvent};
use tobira_core::admin::{Act, Mode};
use tobira_core::ids::PersonId;
use tobira_proto::{ActorClaim, AuditFilter, ErrorCode};

/// Proves who is looking and checks they may look (002 §7(11)): supervisors read every section; a site
/// administrator reads their own section's people, and another section's only with a fresh approval.
pub async fn viewer(d: &Daemon, c: Option<&ActorClaim>, person: Option<&str>) -> Result<Actor, Refusal> {
    let reg = d.registry();
    let section = person.and_then(|p| reg.person(&PersonId::new(p))).map(|p| p.affiliation.clone());
    let mine = c.and_then(|c| reg.person(&PersonId::new(&c.id))).map(|p| p.affiliation.clone());
    let own = section.is_some() && section == mine;
    let actor = d.prove(c, Act::ViewRecords { other_section: !own }).await?;
    if actor.mode == Mode::Request {
        let sec = section.unwrap_or_else(|| "*".into());
        if !crate::admin::requests::may_view_section(d, actor.id(), &sec).await? {
            return Err(Refusal {
                code: ErrorCode::Forbidden,
                message: format!(
                    "reading the records of section {sec:?} ({}) needs the {} approval (002 §7(11)): `tobira request view --section '{sec}' --reason …`",
                    if own {
                        "your own section's operation history: this site's regulation asks approval for it too"
                    } else {
                        "another section's operation history"
                    },
                    d.site.regulation.view_approver.as_str().replace('-', " ") + "'s",
                ),
            });
        }
    }
    Ok(actor)
}

pub fn event_json(e: &StoredEvent) -> serde_json::Value {
    serde_json::json!({
        "node": e.node, "seq": e.seq, "time": e.time, "kind": e.kind, "actor": e.actor, "subject": e.subject,
        "place": e.place, "outcome": e.outcome.as_str(), "reason": e.reason, "article": e.article, "score": e.score,
        "details": e.details, "hash": hex::encode(e.hash),
    })
}

pub async fn show(d: &Daemon, c: Option<&ActorClaim>, f: AuditFilter) -> Result<serde_json::Value, Refusal> {
    let actor = viewer(d, c, f.person.as_deref()).await?;
    let from = f.from.as_deref().map(|s| parse_time(d, "from", s)).transpose()?;
    let until = f.until.as_deref().map(|s| parse_end(d, "until", s)).transpose()?;
    let filter = Filter {
        person: f.person.clone(),
        place: f.place.clone(),
        kind: f.kind.clone(),
        from,
        until,
        limit: Some(f.limit.unwrap_or(1000).min(100_000)),
        ..Default::default()
    };
    let events = d
        .audit_store
        .query(&filter)
        .await
        .map_err(|e| Refusal { code: ErrorCode::Internal, message: e.to_string() })?;
    record_viewing(
        d,
        &actor,
        "audit.view",
        f.person.clone(),
        f.place.clone(),
        serde_json::json!({"kind": f.kind, "from": from, "until": until, "returned": events.len()}),
    )
    .await?;
    Ok(serde_json::Value::Array(events.iter().map(event_json).collect()))
}

/// Looking at the records is itself recorded (002 §7(11)); if it cannot be recorded, nothing is shown.
pub async fn record_viewing(
    d: &Daemon,
    actor: &Actor,
    kind: &str,
    subject: Option<String>,
    place: Option<String>,
    mut details: serde_json::Value,
) -> Result<(), Refusal> {
    details["proof"] = actor.proof_json();
    let place = place.or_else(|| match &actor.proof {
        Proof::Biometric { reader, .. } => Some(reader.clone()),
        Proof::Bootstrap => None,
    });
    d.record(NewEvent {
        time: d.now(),
        kind: kind.into(),
        actor: Some(actor.id().into()),
        subject,
        place,
        outcome: Outcome::Info,
        reason: "RECORDS_VIEWED".into(),
        article: Some("002 §7(11)".into()),
        score: None,
        details,
    })
    .await
    .map(|_| ())
    .map_err(|e| Refusal {
        code: ErrorCode::Unavailable,
        message: format!("records are not shown while viewing them cannot be recorded: {e}"),
    })
}

pub async fn verify(d: &Daemon) -> Result<serde_json::Value, Refusal> {
    // Against the pinned key and the heads remembered beside it (issue 16 §1), not the store's own word.
    match crate::node::trust::verify_daemon(d).await {
        Ok(v) => Ok(v),
        Err(f) => {
            // A broken chain is an incident for the security manager (003 §20), raised once per verification.
            let _ = d
                .record(NewEvent {
                    time: d.now(),
                    kind: "audit.verify.failed".into(),
                    actor: None,
                    subject: None,
                    place: Some(d.site.id.to_string()),
                    outcome: Outcome::Alarm,
                    reason: "AUDIT_VERIFICATION_FAILED".into(),
                    article: Some("003 §17, §20".into()),
                    score: None,
                    details: serde_json::json!({"failure": f}),
                })
                .await;
            Ok(serde_json::json!({"ok": false, "failure": f}))
        }
    }
}

/// The small runtime the offline commands use; says why when it cannot start.
fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| eprintln!("error: cannot start the runtime: {e}"))
        .ok()
}

/// `tobira audit verify --data-dir D` with the defaults: see `trust_cli::verify_cli`.
pub fn verify_offline(data_dir: &std::path::Path, json: bool) -> i32 {
    // The pinned key beside the default site file; never the key beside the data (issue 16 §1).
    crate::trust_cli::verify_cli(data_dir, std::path::Path::new("/etc/tobira/site.toml"), None, &[], json)
}

/// `tobira audit prove SEQ --data-dir D`: the event's inclusion proof in the node's Merkle log, with the
/// tree head signed by the node's audit key. Offline, like `verify`.
pub fn prove_offline(data_dir: &std::path::Path, seq: i64) -> i32 {
    let db = data_dir.join("audit.db");
    let Some(rt) = runtime() else { return 1 };
    let signer = match tobira_audit::Signer::load(&data_dir.join("audit-signing.key")) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    let chain = match rt.block_on(tobira_audit::log::leaves(&db)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot read audit store {}: {e}", db.display());
            return 1;
        }
    };
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    match tobira_audit::log::prove(&chain.0, &chain.1, seq, &now, &signer.public_key(), |m| signer.sign(m)) {
        Some(p) => {
            println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
            0
        }
        None => {
            eprintln!("error: no event {seq} in {} ({} events)", db.display(), chain.1.len());
            1
        }
    }
}

/// The site file and its `[central]` section, or the exit code after saying what is wrong.
fn site_with_centre(config: &std::path::Path) -> Result<(tobira_core::site::Site, tobira_core::site::RawCentral), i32> {
    let site = crate::node::options::load_site(config).map_err(|e| {
        eprintln!("error: {e}");
        2
    })?;
    let Some(central) = site.central.clone() else {
        eprintln!("error: {} has no [central] section: this node ships to no centre", config.display());
        return Err(2);
    };
    Ok((site, central))
}

/// One connection to the centre with this node's certificate.
async fn centre_pool(central: &tobira_core::site::RawCentral) -> Result<sqlx::PgPool, String> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(crate::central::shipper::connect_options(central))
        .await
        .map_err(|e| format!("centre: {e}"))
}

/// `tobira audit prove SEQ --central`: the proof in the last head the centre's witness countersigned.
pub fn prove_countersigned(data_dir: &std::path::Path, config: &std::path::Path, seq: i64) -> i32 {
    let (site, central) = match site_with_centre(config) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let Some(rt) = runtime() else { return 1 };
    let db = data_dir.join("audit.db");
    let res = rt.block_on(async {
        let (_, chain) = tobira_audit::log::leaves(&db).await.map_err(|e| e.to_string())?;
        let key = tobira_audit::read_public_key(&db).await.map_err(|e| e.to_string())?;
        let pool = centre_pool(&central).await?;
        let last = tobira_central::heads::last_cosigned(&pool, site.id.as_str())
            .await
            .map_err(|e| format!("centre: {e}"))?
            .ok_or_else(|| "the centre's witness has not countersigned a head of this node yet".to_string())?;
        tobira_audit::log::prove_countersigned(&chain, seq, &last, &key)
    });
    match res {
        Ok(p) => {
            println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// `tobira audit check-proof FILE --node-key HEX [--witness-key HEX]`: the auditor's offline check.
pub fn check_proof(file: &std::path::Path, node_key: &str, witness_key: Option<&str>) -> i32 {
    let proof: tobira_audit::log::InclusionProof = match std::fs::read(file)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {}: {e}", file.display());
            return 2;
        }
    };
    let Ok(key) = hex::decode(node_key.trim()) else {
        eprintln!("error: --node-key must be the node's Ed25519 public key in hex");
        return 2;
    };
    let checked = match witness_key {
        Some(w) => match hex::decode(w.trim()) {
            Ok(w) => tobira_audit::log::check_witnessed(&proof, &key, &w),
            Err(_) => {
                eprintln!("error: --witness-key must be the witness's Ed25519 public key in hex");
                return 2;
            }
        },
        None => tobira_audit::log::check(&proof, &key),
    };
    match checked {
        Ok(()) => {
            println!(
                "event {} of node {} is in its signed log of {} entries (root {}){}",
                proof.seq,
                proof.node,
                proof.tree_size,
                proof.root,
                if witness_key.is_some() { ", countersigned by the centre's witness" } else { "" }
            );
            0
        }
        Err(e) => {
            eprintln!("PROOF FAILED: {e}");
            4
        }
    }
}

/// `tobira audit verify --central`: every event the centre holds for this node must be in the local store
/// with the same chain hash. A local history rewritten after shipping — even with every hash recomputed and
/// the checkpoints re-signed by someone holding the node's keys — differs from the centre's copy.
/// Exit 0 when they agree, 4 naming the first event that differs or is missing, 1 when the centre cannot
/// be reached.
pub fn verify_against_central(data_dir: &std::path::Path, config: &std::path::Path) -> i32 {
    let (site, central) = match site_with_centre(config) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let Some(rt) = runtime() else { return 1 };
    let db = data_dir.join("audit.db");
    let res = rt.block_on(async {
        let (_, local) = tobira_audit::log::leaves(&db).await.map_err(|e| e.to_string())?;
        // The countersigned heads are checked with the pinned key when there is one (issue 16 §1).
        let node_key = match crate::node::trust::resolve(None, &crate::node::options::default_pin(config)) {
            Ok(t) => t.key,
            Err(_) => tobira_audit::read_store_key(&db).await.map_err(|e| e.to_string())?,
        };
        let pool = centre_pool(&central).await?;
        let remote: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events WHERE node = $1 ORDER BY seq")
                .bind(site.id.as_str())
                .fetch_all(&pool)
                .await
                .map_err(|e| format!("centre: {e}"))?;
        let heads =
            tobira_central::heads::cosigned(&pool, site.id.as_str()).await.map_err(|e| format!("centre: {e}"))?;
        Ok::<_, String>((local, remote, heads, node_key))
    });
    let (local, remote, heads, node_key) = match res {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return 1;
        }
    };
    if let Err(msg) = check_heads(&local, &heads, &node_key, central.witness_key.as_deref()) {
        eprintln!("AUDIT VERIFICATION FAILED: {msg}");
        return 4;
    }
    let mine: std::collections::HashMap<i64, [u8; 32]> = local.into_iter().collect();
    for (seq, hash) in &remote {
        match mine.get(seq) {
            Some(h) if h[..] == hash[..] => {}
            Some(_) => {
                eprintln!(
                    "AUDIT VERIFICATION FAILED: event {seq} differs from the copy the centre received: the local history was rewritten after shipping"
                );
                return 4;
            }
            None => {
                eprintln!(
                    "AUDIT VERIFICATION FAILED: event {seq}, held by the centre, is missing here: the local store was truncated"
                );
                return 4;
            }
        }
    }
    println!("the local store agrees with the centre's copy of its {} shipped events", remote.len());
    match heads.last() {
        Some(h) => println!(
            "and with the {} tree heads the centre's witness countersigned (the largest: {} events){}",
            heads.len(),
            h.sth.head.size,
            if central.witness_key.is_some() {
                ""
            } else {
                " — countersignatures not checked: set [central] witness_key"
            }
        ),
        None => println!("no tree head of this node has been countersigned yet"),
    }
    0
}

/// Every countersigned head must be signed by this node and the witness (when its key is configured), and
/// describe exactly the first `size` events of the local log.
fn check_heads(
    local: &[(i64, [u8; 32])],
    heads: &[tobira_audit::witness::Countersigned],
    node_key: &[u8],
    witness_key: Option<&str>,
) -> Result<(), String> {
    use tobira_audit::merkle::{CompactTree, leaf_hash};
    let witness = match witness_key {
        Some(k) => Some(hex::decode(k.trim()).map_err(|_| "[central] witness_key is not hex".to_string())?),
        None => None,
    };
    let mut tree = CompactTree::new();
    let mut next = local.iter();
    for c in heads {
        let size = c.sth.head.size;
        if let Some(w) = &witness
            && !tobira_audit::witness::verify_countersigned(c, node_key, w)
        {
            return Err(format!(
                "the countersigned head of {size} events does not carry this node's and the witness's signatures"
            ));
        }
        while tree.size() < size {
            match next.next() {
                Some((_, h)) => tree.push(leaf_hash(h)),
                None => {
                    return Err(format!(
                        "the witness countersigned {size} events of this node but the local store holds {}: it was truncated",
                        tree.size()
                    ));
                }
            }
        }
        if tree.root() != c.sth.head.root {
            return Err(format!(
                "the local log's first {size} events are not the ones the witness countersigned: the history was rewritten"
            ));
        }
    }
    Ok(())
}
