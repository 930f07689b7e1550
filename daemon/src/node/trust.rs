//! Trust in the audit record that does not rest on the node (issue 16 §1), the daemon's side:
//!
//! - at `--init` the node's audit public key is **pinned** outside the data directory (root-owned, 0444 when
//!   the process can arrange it) and its fingerprint printed for the paper record;
//! - every ledger carries the node's **signed tree head** at the moment it was made (a paper anchor);
//! - the largest heads signed, printed and countersigned are **remembered** beside the pinned key
//!   (`audit-heads.json`), so a store rolled back or cut short together with its own head file is caught;
//! - verification (at start, online, and `tobira audit verify`) uses the pinned key, never a key found
//!   beside the data, and checks the remembered heads and any paper anchors given.

use crate::node::daemon::Daemon;
use crate::node::options::Options;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use tobira_audit::anchors::{self, Anchor, Log};
use tobira_audit::trust::{TrustError, Trusted, VerifyError, high_water_path, resolve, verify_store};

/// Why `--init` could not pin the key.
#[derive(Debug, thiserror::Error)]
#[error("pinned audit key {path}: {detail}")]
pub struct PinError {
    pub path: PathBuf,
    pub detail: String,
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

fn chown(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
}

/// `--init`: creates the node's audit signing key (if the data directory has none yet), pins its public half
/// at `opts.pinned_key_path()`, creates the high-water record beside it, and prints the fingerprint for the
/// paper record. Runs before any store is created, so a refusal leaves no half site behind.
pub fn pin_at_init(opts: &Options, node: &str) -> Result<(), PinError> {
    let pin = opts.pinned_key_path();
    let err = |detail: String| PinError { path: pin.clone(), detail };
    let key_path = opts.signing_key_path();
    if !key_path.exists() {
        tobira_audit::Signer::create(&key_path).map_err(|e| err(e.to_string()))?;
    }
    let pk = tobira_audit::Signer::load(&key_path).map_err(|e| err(e.to_string()))?.public_key();
    let fp = anchors::fingerprint(&pk);
    if pin.exists() {
        let pinned = anchors::read_key_file(&pin).map_err(|e| err(e.to_string()))?;
        if pinned != pk {
            return Err(err(format!(
                "already pins another key ({}): a node whose store was created before. Remove it deliberately, as root, only when this node is really being replaced — the paper record of the old fingerprint still stands",
                anchors::fingerprint(&pinned)
            )));
        }
    } else {
        if let Some(dir) = pin.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let text = format!(
            "# tobira audit signing key of node {node}, pinned by tobirad --init\n# fingerprint {fp}\n{}\n",
            hex::encode(&pk)
        );
        let tmp = pin.with_extension("pub.tmp");
        std::fs::write(&tmp, text).map_err(|e| {
            err(format!("cannot write: {e} (run `tobirad --init` as root, or give --pinned-key a path outside the data directory)"))
        })?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o444)).map_err(|e| err(e.to_string()))?;
        std::fs::rename(&tmp, &pin).map_err(|e| err(e.to_string()))?;
    }
    let root = euid() == 0;
    if root {
        chown(&pin, 0, 0).map_err(|e| err(format!("cannot make it root-owned: {e}")))?;
    }
    let hw = high_water_path(&pin);
    anchors::create(&hw, node).map_err(|e| err(e.to_string()))?;
    if root {
        // The daemon raises the record as it signs and prints heads: it belongs to the data directory's owner.
        if let Ok(m) = std::fs::metadata(&opts.data_dir) {
            chown(&hw, m.uid(), m.gid()).map_err(|e| err(format!("{}: {e}", hw.display())))?;
        }
    }
    println!("audit signing key of node {node} (監査署名鍵):");
    println!("  fingerprint {fp}");
    println!("  pinned at   {}{}", pin.display(), if root { " (root-owned, read-only)" } else { "" });
    println!("  Write the fingerprint in the paper record (the site's security ledger) and have it countersigned:");
    println!("  `tobira audit verify` trusts only this key, and the paper catches a key file replaced later.");
    if !root {
        println!(
            "  note: not running as root, so the pinned key is owned by this user; as root run `chown root:root {}`",
            pin.display()
        );
    }
    Ok(())
}

/// At every start: checkpoints are remembered beside the pinned key from now on.
pub async fn at_start(d: &Daemon) {
    let pin = d.opts.pinned_key_path();
    if !pin.exists() {
        tracing::warn!(
            path = %pin.display(),
            "no pinned audit key: `tobira audit verify` cannot establish trust in this node's record (run --init on a new node, or pin the key by hand)"
        );
        return;
    }
    let hw = high_water_path(&pin);
    match anchors::load(&hw) {
        Ok(Some(_)) => d.stores.writer.remember_checkpoints_in(hw).await,
        Ok(None) => match anchors::create(&hw, d.site.id.as_str()) {
            Ok(()) => {
                tracing::warn!(path = %hw.display(), "the high-water record beside the pinned key was missing: started a new one");
                d.stores.writer.remember_checkpoints_in(hw).await;
            }
            Err(e) => tracing::error!(error = %e, "no high-water record beside the pinned key"),
        },
        // Garbled: left as it is (evidence); verification at start reports it.
        Err(e) => tracing::error!(error = %e, "the high-water record beside the pinned key is unreadable"),
    }
}

/// Why the daemon's own verification did not pass; the text is the `failure` the CLI shows and the alarm
/// records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelfCheckError {
    /// The pinned key's file cannot be used.
    #[error("{0}")]
    Trust(String),
    /// The store was read and something in it failed; the message names what.
    #[error("{0}")]
    Failed(String),
    #[error("the store cannot be read: {0}")]
    Unreadable(String),
}

/// Why no signed tree head could be made for a ledger (logged; the ledger is still shown).
#[derive(Debug, thiserror::Error)]
enum AnchorError {
    #[error(transparent)]
    Audit(#[from] tobira_audit::AuditError),
}

/// The daemon's own verification (at start and `audit verify --online`): the pinned key if there is one,
/// else the key the store names, said so.
pub async fn verify_daemon(d: &Daemon) -> Result<serde_json::Value, SelfCheckError> {
    let pin = d.opts.pinned_key_path();
    let (t, pinned) = match resolve(None, &pin) {
        Ok(t) => (t, true),
        Err(TrustError::NoPin(_)) => (
            Trusted {
                key: d.stores.audit.public_key(),
                source: "the key the store names (NOT pinned: a rewrite with a fresh key would pass)".into(),
                high_water: None,
            },
            false,
        ),
        Err(TrustError::Bad(e)) => return Err(SelfCheckError::Trust(e)),
    };
    match verify_store(&d.opts.audit_path(), &t, &[]).await {
        Ok(v) => Ok(serde_json::json!({"ok": true, "events": v.events, "checkpoints": v.checkpoints,
            "key": t.describe(), "pinned": pinned, "held": v.held, "acknowledged_losses": v.acknowledged, "notes": v.notes})),
        Err(VerifyError::Failed(failure)) => Err(SelfCheckError::Failed(failure)),
        Err(VerifyError::Unreadable(e)) => Err(SelfCheckError::Unreadable(e)),
    }
}

/// The node's signed tree head now, for a ledger (a paper anchor), remembered as printed beside the pinned
/// key. `Null` (and an error in the log) if it cannot be made: the ledger is still shown.
pub async fn ledger_anchor(d: &Daemon) -> serde_json::Value {
    match make_anchor(d).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "no signed tree head for the ledger");
            serde_json::Value::Null
        }
    }
}

async fn make_anchor(d: &Daemon) -> Result<serde_json::Value, AnchorError> {
    let signer = tobira_audit::Signer::load(&d.opts.signing_key_path())?;
    let (node, chain) = tobira_audit::log::leaves(&d.opts.audit_path()).await?;
    let node = if node.is_empty() { d.site.id.to_string() } else { node };
    let hashes: Vec<_> = chain.iter().map(|(_, h)| *h).collect();
    let time = tobira_audit::time_text(d.now());
    let (head, sig) = anchors::sign_head(&node, &hashes, &time, |m| signer.sign(m));
    let hw = high_water_path(&d.opts.pinned_key_path());
    // Raised only over a head this log still extends: a rewritten log must not erase the evidence.
    let extends_printed = match anchors::load(&hw) {
        Ok(Some(rec)) => rec.printed.as_ref().is_none_or(|p| {
            let root: Option<tobira_audit::merkle::Hash> = hex::decode(&p.root).ok().and_then(|v| v.try_into().ok());
            root.is_some_and(|r| p.size > head.size || Log::new(&hashes).extends("", p.size, &r).is_ok())
        }),
        _ => true,
    };
    if !extends_printed {
        tracing::error!("this log does not extend the head printed before: the record beside the pinned key is kept");
    } else if hw.exists() {
        let rec = anchors::HeadRecord {
            size: head.size,
            root: hex::encode(head.root),
            time: head.time.clone(),
            signature: hex::encode(&sig),
        };
        if let Err(e) = anchors::raise(&hw, &node, anchors::Raise::Printed(rec)) {
            tracing::error!(error = %e, "the printed head was not remembered beside the pinned key");
        }
    }
    let anchor = Anchor { size: head.size, root: head.root };
    Ok(serde_json::json!({
        "node": node, "size": head.size, "root": hex::encode(head.root), "time": head.time,
        "signature": hex::encode(&sig), "fingerprint": anchors::fingerprint(&signer.public_key()),
        "verify": format!("tobira audit verify --anchor {anchor}"),
    }))
}

/// The largest head the centre's witness countersigned, remembered beside the pinned key (the witness has
/// checked that each extends the one before, so the record only has to rise).
pub fn remember_countersigned(d: &Daemon, c: &tobira_audit::witness::Countersigned) {
    let hw = high_water_path(&d.opts.pinned_key_path());
    if !hw.exists() {
        return;
    }
    let rec = anchors::HeadRecord {
        size: c.sth.head.size,
        root: hex::encode(c.sth.head.root),
        time: c.sth.head.time.clone(),
        signature: hex::encode(&c.sth.node_sig),
    };
    if let Err(e) = anchors::raise(&hw, &c.sth.head.node, anchors::Raise::Countersigned(rec)) {
        tracing::error!(error = %e, "the countersigned head was not remembered beside the pinned key");
    }
}
