//! `tobira backup DEST` (issue 19 §3, 002 §6(4)): a consistent copy of the running node's stores, taken
//! while doors and logins go on. The registry first, then the audit store (its head file, then a snapshot):
//! the copy's audit record is never older than its registry, as after a crash between "recorded" and
//! "applied", which start-up already finishes (`requests::resume`). Built beside DEST and renamed into place
//! when complete (`tobira_audit::backup::seal`): a failure removes what was written and changes nothing
//! else. Keys are never copied (`KEYS_NOT_INCLUDED`).

use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use tobira_audit::backup::{self, Manifest};
use tobira_audit::{NewEvent, Outcome};
use tobira_proto::ErrorCode;

fn failed(dest: &Path, cause: impl std::fmt::Display) -> Refusal {
    Refusal {
        code: ErrorCode::Internal,
        message: format!("backup to {} failed: {cause}; nothing was left there and the node runs on", dest.display()),
    }
}

type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Why a step of the backup failed; a full disk is named as such (ディスク容量不足), whatever step met it.
#[derive(Debug, thiserror::Error)]
enum WriteError {
    #[error("the destination's disk is full (ディスク容量不足, {free} bytes free): {cause}")]
    DiskFull { free: u64, cause: Cause },
    #[error("{0}")]
    Failed(Cause),
}

impl WriteError {
    /// `e`, met writing to `dest`, with the destination's disk checked for space.
    fn at(dest: &Path, e: impl Into<Cause>) -> WriteError {
        let dir = dest.parent().unwrap_or(Path::new("/"));
        match tobira_audit::fault::disk_full(dir) {
            Some(free) => WriteError::DiskFull { free, cause: e.into() },
            None => WriteError::Failed(e.into()),
        }
    }
}

pub async fn backup(d: &Daemon, actor: &Actor, dest: &str) -> Result<serde_json::Value, Refusal> {
    let dest = PathBuf::from(dest);
    if !dest.is_absolute() {
        return Err(Refusal::bad(format!("{}: give the backup's directory as an absolute path", dest.display())));
    }
    if dest.symlink_metadata().is_ok() {
        return Err(Refusal::bad(format!(
            "{} already exists: a backup goes into a new directory, never over another",
            dest.display()
        )));
    }
    let Some(tmp) = backup::partial_dir(&dest) else {
        return Err(Refusal::bad(format!("{}: not a directory name", dest.display())));
    };
    match dest.parent().map(std::fs::metadata) {
        Some(Ok(m)) if m.is_dir() => {}
        _ => return Err(Refusal::bad(format!("{}: its parent directory does not exist", dest.display()))),
    }
    // Left by a backup that was killed: nobody else writes there.
    let _ = std::fs::remove_dir_all(&tmp);
    if let Err(e) = std::fs::DirBuilder::new().mode(0o700).create(&tmp) {
        return Err(failed(&dest, format!("cannot create {}: {}", tmp.display(), WriteError::at(&dest, e))));
    }
    let r = write(d, &tmp, &dest).await;
    let m = match r {
        Ok(m) => m,
        Err(cause) => {
            let _ = std::fs::remove_dir_all(&tmp);
            tracing::warn!(dest = %dest.display(), cause = %cause, "backup failed; nothing left behind");
            return Err(failed(&dest, cause));
        }
    };
    let files: Vec<_> = m.files.iter().map(|f| serde_json::json!({"name": f.name, "sha256": f.sha256})).collect();
    let seq = d
        .record(
            NewEvent::new(d.now(), "backup.create", Outcome::Info, "BACKUP_CREATED")
                .actor(actor.id())
                .place(d.site.id.as_str())
                .article("002 §6(4)")
                .details(
                    serde_json::json!({"dest": dest, "head_seq": m.head.seq, "head": m.head.hash, "files": files}),
                ),
        )
        .await
        .ok()
        .map(|r| r.seq);
    tracing::info!(dest = %dest.display(), head = m.head.seq, "backup written");
    Ok(serde_json::json!({
        "backup": dest,
        "head_seq": m.head.seq,
        "head": m.head.hash,
        "files": m.files,
        "keys_not_included": m.keys_not_included,
        "audit_seq": seq,
    }))
}

async fn write(d: &Daemon, tmp: &Path, dest: &Path) -> Result<Manifest, WriteError> {
    d.stores.registry.vacuum_into(&tmp.join(backup::REGISTRY)).await.map_err(|e| WriteError::at(dest, e))?;
    let head = d.stores.audit.snapshot_into(tmp).await.map_err(|e| WriteError::at(dest, e))?;
    let mut manifest = Manifest {
        format: backup::FORMAT.into(),
        node: d.stores.audit.node().to_string(),
        site: d.site.id.to_string(),
        created: tobira_audit::time_text(d.now()),
        version: env!("CARGO_PKG_VERSION").into(),
        head,
        head_signature: String::new(),
        store_key: hex::encode(d.stores.audit.public_key()),
        files: vec![],
        keys_not_included: backup::KEYS_NOT_INCLUDED.iter().map(|(k, _)| k.to_string()).collect(),
    };
    let signer = tobira_audit::Signer::load(&d.opts.signing_key_path()).map_err(|e| WriteError::Failed(e.into()))?;
    backup::sign_head(&mut manifest, &signer);
    backup::seal(tmp, dest, manifest).map_err(|e| WriteError::at(dest, e))
}
