//! Which key a verification of the audit record trusts (issue 16 §1): the key pinned outside the data
//! directory at `--init`, or one given by the auditor, never the key found beside the data; and verifying a
//! store against it, its remembered heads and paper anchors. Shared by the daemon (at start, `audit verify
//! --online`) and the `tobira` command (offline), so both trust the same way.

use crate::anchors::{self, Anchor, AnchorFailure, HIGH_WATER_FILE, Log, PINNED_KEY_FILE};
use std::path::{Path, PathBuf};

/// The pinned key's default place: beside the site file (`/etc/tobira/audit-signing.pub`).
pub fn default_pin(config: &Path) -> PathBuf {
    config.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).join(PINNED_KEY_FILE)
}

/// The high-water record beside a pinned key file.
pub fn high_water_path(pin: &Path) -> PathBuf {
    pin.with_file_name(HIGH_WATER_FILE)
}

/// The key verification trusts, and where it came from.
pub struct Trusted {
    pub key: Vec<u8>,
    /// "the key pinned at PATH" or "the key given with --node-key".
    pub source: String,
    pub high_water: Option<PathBuf>,
}

impl Trusted {
    pub fn describe(&self) -> String {
        format!("{} (fingerprint {})", self.source, anchors::fingerprint(&self.key))
    }
}

/// Why no key can be trusted.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(
        "cannot establish trust in this record: no pinned key at {0} and no --node-key. The key beside the data (audit-signing.pub) is not used: whoever can rewrite the store can replace it. Give --node-key with the key (or its file) matching the fingerprint on paper"
    )]
    NoPin(PathBuf),
    #[error("{0}")]
    Bad(String),
}

/// `--node-key HEX|FILE` if given, else the pinned key file.
pub fn resolve(node_key: Option<&str>, pin: &Path) -> Result<Trusted, TrustError> {
    if let Some(k) = node_key {
        let p = Path::new(k);
        if p.is_file() {
            let key = anchors::read_key_file(p).map_err(|e| TrustError::Bad(e.to_string()))?;
            let hw = high_water_path(p);
            return Ok(Trusted {
                key,
                source: format!("the key in {}", p.display()),
                high_water: hw.exists().then_some(hw),
            });
        }
        let key =
            anchors::parse_key(k).ok_or_else(|| TrustError::Bad(anchors::AnchorError::BadKey(k.into()).to_string()))?;
        let hw = high_water_path(pin);
        return Ok(Trusted {
            key,
            source: "the key given with --node-key".into(),
            high_water: hw.exists().then_some(hw),
        });
    }
    match std::fs::metadata(pin) {
        Ok(_) => {
            let key = anchors::read_key_file(pin).map_err(|e| TrustError::Bad(e.to_string()))?;
            Ok(Trusted {
                key,
                source: format!("the key pinned at {}", pin.display()),
                high_water: Some(high_water_path(pin)),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(TrustError::NoPin(pin.into())),
        Err(e) => Err(TrustError::Bad(format!("{}: {e}", pin.display()))),
    }
}

/// Why a store did not verify: the two are told apart because the CLI exits differently (4: tampered or not
/// the trusted history; 1: unreadable, which says nothing about tampering).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The store was read and something in it failed; the message names what.
    #[error("{0}")]
    Failed(String),
    /// The store cannot be read at all.
    #[error("{0}")]
    Unreadable(String),
}

/// What a verification established.
#[derive(Debug, Default)]
pub struct Verified {
    pub events: i64,
    pub checkpoints: i64,
    pub size: u64,
    pub root: String,
    /// Remembered heads and paper anchors the store was shown to extend.
    pub held: Vec<String>,
    /// Remembered heads the store does not reach, each accounted for by a signed `audit.loss_acknowledged`
    /// event in the chain: the loss, when, by whom and how many events.
    pub acknowledged: Vec<String>,
    pub notes: Vec<String>,
}

/// Verifies the store at `db` against `t`: the chain and every signed head with the trusted key, the key the
/// store names, the remembered heads, and each paper anchor. [`VerifyError::Failed`] names what failed;
/// [`VerifyError::Unreadable`] when the store cannot be read at all.
pub async fn verify_store(db: &Path, t: &Trusted, anchors_given: &[Anchor]) -> Result<Verified, VerifyError> {
    let store_key = crate::read_store_key(db).await.map_err(|e| VerifyError::Unreadable(e.to_string()))?;
    let other_key = (store_key != t.key).then(|| {
        format!(
            "the store names another signing key ({}) than the trusted one ({}): it was re-created or re-keyed",
            anchors::fingerprint(&store_key),
            anchors::fingerprint(&t.key)
        )
    });
    let rep = match crate::verify(db, &t.key).await {
        Ok(r) => r,
        Err(f) => {
            return Err(VerifyError::Failed(match &other_key {
                Some(k) => format!("{f} — {k}"),
                None => f.to_string(),
            }));
        }
    };
    if let Some(k) = other_key {
        return Err(VerifyError::Failed(k));
    }
    let (_, chain) = crate::log::leaves(db).await.map_err(|e| VerifyError::Unreadable(e.to_string()))?;
    let hashes: Vec<_> = chain.iter().map(|(_, h)| *h).collect();
    let log = Log::new(&hashes);
    let mut v = Verified {
        events: rep.events,
        checkpoints: rep.checkpoints,
        size: log.size(),
        root: hex::encode(log.root()),
        ..Default::default()
    };
    match &t.high_water {
        Some(hw) => match anchors::load(hw) {
            Ok(Some(rec)) => {
                let mut acks: Option<Vec<anchors::LossAcknowledgement>> = None;
                for (head, what, r) in rec.check_each(&log, &t.key) {
                    match r {
                        Ok(()) => v.held.push(what),
                        // A head the store fell short of (or forked from after falling short): lost, unless
                        // a signed acknowledgement in the chain names it.
                        Err(f @ (AnchorFailure::RolledBack { .. } | AnchorFailure::NotExtended { .. })) => {
                            if acks.is_none() {
                                acks = Some(
                                    signed_acknowledgements(db).await.map_err(|e| VerifyError::Unreadable(e.to_string()))?,
                                );
                            }
                            match acks.iter().flatten().find(|a| a.covers(&head)) {
                                Some(a) => v.acknowledged.push(a.describe(&what)),
                                None => return Err(VerifyError::Failed(f.to_string())),
                            }
                        }
                        Err(f) => return Err(VerifyError::Failed(f.to_string())),
                    }
                }
            }
            Ok(None) => v.notes.push(format!(
                "no record of remembered heads at {}: a store rolled back to before the last paper anchor is caught only by that paper",
                hw.display()
            )),
            Err(e) => return Err(VerifyError::Failed(format!("the record of remembered heads {e}"))),
        },
        None => v.notes.push("no record of remembered heads checked (none beside the given key)".into()),
    }
    for a in anchors_given {
        log.extends(&format!("paper anchor {a}"), a.size, &a.root).map_err(|f| VerifyError::Failed(f.to_string()))?;
        v.held.push(format!("paper anchor {a}"));
    }
    Ok(v)
}

/// The `audit.loss_acknowledged` events a signed checkpoint covers (called after [`crate::verify`] passed,
/// so those events are the chain's own): one written by hand past the last checkpoint is not among them.
/// An event whose details do not parse is no acknowledgement.
pub async fn signed_acknowledgements(db: &Path) -> Result<Vec<anchors::LossAcknowledgement>, crate::AuditError> {
    use sqlx::{ConnectOptions, Row};
    let corrupt = |e: sqlx::Error| crate::AuditError::Corrupt { path: db.into(), detail: e.to_string() };
    let mut c = crate::disk::read_only(db)?.connect().await.map_err(corrupt)?;
    let rows = sqlx::query(
        "SELECT seq, time, actor, details FROM events WHERE kind = ? \
         AND seq <= (SELECT coalesce(max(seq), 0) FROM checkpoints) ORDER BY seq",
    )
    .bind(anchors::LOSS_ACKNOWLEDGED)
    .fetch_all(&mut c)
    .await
    .map_err(corrupt)?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let details: anchors::LossDetails = serde_json::from_str(&r.get::<String, _>(3)).ok()?;
            Some(anchors::LossAcknowledgement {
                seq: u64::try_from(r.get::<i64, _>(0)).ok()?,
                time: r.get(1),
                actor: r.get::<Option<String>, _>(2).unwrap_or_default(),
                details,
            })
        })
        .collect())
}
