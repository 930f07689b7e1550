//! `tobira audit verify|prove|check-proof` offline: the store files and the centre read directly, without
//! taking a running daemon's word (issue 16 §1). The daemon's own views (`audit show`, `audit verify
//! --online`) are tobirad's `admin::audit`.

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
    crate::trust::verify_cli(data_dir, std::path::Path::new("/etc/tobira/site.toml"), None, &[], json)
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

/// Why the site file could not be used (the messages tobirad gives).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SiteFileError {
    #[error("cannot read the site configuration {}: {source}", .path.display())]
    Unreadable { path: std::path::PathBuf, source: std::io::Error },
    /// Names the file, line and field.
    #[error(transparent)]
    Invalid(#[from] tobira_core::site::SiteError),
}

/// The site file, as tobirad reads it (the same messages).
pub(crate) fn load_site(path: &std::path::Path) -> Result<tobira_core::site::Site, SiteFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| SiteFileError::Unreadable { path: path.to_path_buf(), source })?;
    Ok(tobira_core::site::parse_site(&path.display().to_string(), &text)?)
}

/// Why a check against the centre could not be made (exit 1: it says nothing about the history itself).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CentreCheckError {
    /// The local audit store could not be read.
    #[error(transparent)]
    Store(#[from] tobira_audit::AuditError),
    /// The centre's database could not be reached or queried.
    #[error("centre: {0}")]
    Centre(#[from] sqlx::Error),
    #[error("centre: {0}")]
    Central(#[from] tobira_central::CentralError),
    #[error("the centre's witness has not countersigned a head of this node yet")]
    NotCountersigned,
    #[error(transparent)]
    Proof(#[from] tobira_audit::log::ProofError),
}

/// The site file and its `[central]` section, or the exit code after saying what is wrong.
fn site_with_centre(config: &std::path::Path) -> Result<(tobira_core::site::Site, tobira_core::site::RawCentral), i32> {
    let site = load_site(config).map_err(|e| {
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
pub(crate) async fn centre_pool(central: &tobira_core::site::RawCentral) -> Result<sqlx::PgPool, CentreCheckError> {
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(tobira_central::connect_options(central))
        .await?)
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
        let (_, chain) = tobira_audit::log::leaves(&db).await?;
        let key = tobira_audit::read_public_key(&db).await?;
        let pool = centre_pool(&central).await?;
        let last = tobira_central::heads::last_cosigned(&pool, site.id.as_str())
            .await?
            .ok_or(CentreCheckError::NotCountersigned)?;
        Ok::<_, CentreCheckError>(tobira_audit::log::prove_countersigned(&chain, seq, &last, &key)?)
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
        let (_, local) = tobira_audit::log::leaves(&db).await?;
        // The countersigned heads are checked with the pinned key when there is one (issue 16 §1).
        let node_key = match tobira_audit::trust::resolve(None, &tobira_audit::trust::default_pin(config)) {
            Ok(t) => t.key,
            Err(_) => tobira_audit::read_store_key(&db).await?,
        };
        let pool = centre_pool(&central).await?;
        let remote: Vec<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events WHERE node = $1 ORDER BY seq")
                .bind(site.id.as_str())
                .fetch_all(&pool)
                .await?;
        let heads = tobira_central::heads::cosigned(&pool, site.id.as_str()).await?;
        Ok::<_, CentreCheckError>((local, remote, heads, node_key))
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

/// How the local log departs from the heads the centre's witness countersigned (exit 4).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum HeadsMismatch {
    #[error("[central] witness_key is not hex")]
    WitnessKeyNotHex,
    #[error("the countersigned head of {size} events does not carry this node's and the witness's signatures")]
    NotSigned { size: u64 },
    #[error("the witness countersigned {size} events of this node but the local store holds {held}: it was truncated")]
    Truncated { size: u64, held: u64 },
    #[error(
        "the local log's first {size} events are not the ones the witness countersigned: the history was rewritten"
    )]
    Rewritten { size: u64 },
}

/// Every countersigned head must be signed by this node and the witness (when its key is configured), and
/// describe exactly the first `size` events of the local log.
fn check_heads(
    local: &[(i64, [u8; 32])],
    heads: &[tobira_audit::witness::Countersigned],
    node_key: &[u8],
    witness_key: Option<&str>,
) -> Result<(), HeadsMismatch> {
    use tobira_audit::merkle::{CompactTree, leaf_hash};
    let witness = match witness_key {
        Some(k) => Some(hex::decode(k.trim()).map_err(|_| HeadsMismatch::WitnessKeyNotHex)?),
        None => None,
    };
    let mut tree = CompactTree::new();
    let mut next = local.iter();
    for c in heads {
        let size = c.sth.head.size;
        if let Some(w) = &witness
            && !tobira_audit::witness::verify_countersigned(c, node_key, w)
        {
            return Err(HeadsMismatch::NotSigned { size });
        }
        while tree.size() < size {
            match next.next() {
                Some((_, h)) => tree.push(leaf_hash(h)),
                None => return Err(HeadsMismatch::Truncated { size, held: tree.size() }),
            }
        }
        if tree.root() != c.sth.head.root {
            return Err(HeadsMismatch::Rewritten { size });
        }
    }
    Ok(())
}
