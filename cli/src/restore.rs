//! `tobira restore SRC --data-dir D` (issue 19 §3): a backup made by `tobira backup` onto a new node's data
//! directory, offline. Refused — with nothing written — when a file does not match the manifest, when the
//! audit chain does not verify against the pinned key (or `--node-key`; never the key the backup names), when
//! the verified head is not the one the manifest states, when a daemon answers on D, or when D already holds
//! stores. Then says which keys must come from the separate key backup, and whether they are there.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use tobira_audit::backup::{self, KEYS_NOT_INCLUDED, Manifest};
use tobira_audit::trust::{TrustError, resolve};

/// Exit codes as `audit verify`: 4 the backup does not verify, 5 no key to trust it with, 1 refused for the
/// place or an I/O error, 2 bad arguments.
pub fn restore_cli(src: &Path, data_dir: &Path, config: &Path, node_key: Option<&str>, json: bool) -> i32 {
    let refuse = |code: i32, why: String| {
        eprintln!("RESTORE REFUSED (復元拒否): {why}; nothing was written to {}", data_dir.display());
        code
    };
    let m = match backup::check_files(src) {
        Ok(m) => m,
        Err(e) => return refuse(4, e.to_string()),
    };
    if daemon_answers(&data_dir.join("control.sock")) {
        return refuse(
            1,
            format!(
                "a tobirad answers on {}: stop it first (systemctl stop tobirad); a restore never writes under a running node",
                data_dir.join("control.sock").display()
            ),
        );
    }
    for store in [backup::REGISTRY, backup::AUDIT] {
        if data_dir.join(store).exists() {
            return refuse(
                1,
                format!(
                    "{} already holds {store}: restore onto a new node's empty data directory (move the old stores aside first if you mean to replace them)",
                    data_dir.display()
                ),
            );
        }
    }
    let trusted = match resolve(node_key, &tobira_audit::trust::default_pin(config)) {
        Ok(t) => t,
        Err(e @ TrustError::NoPin(_)) => return refuse(crate::trust::EXIT_NO_TRUST, e.to_string()),
        Err(TrustError::Bad(e)) => return refuse(2, e),
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return refuse(1, format!("cannot start the runtime: {e}")),
    };
    let report = match rt.block_on(tobira_audit::verify(&src.join(backup::AUDIT), &trusted.key)) {
        Ok(r) => r,
        Err(f) => {
            return refuse(4, format!("the backup's audit chain does not verify with {}: {f}", trusted.describe()));
        }
    };
    if !backup::head_signed_by(&m, &trusted.key) {
        return refuse(
            4,
            format!(
                "the backup's audit chain does not verify with {}: the manifest's head (event {}) is not signed by that key",
                trusted.describe(),
                m.head.seq
            ),
        );
    }
    if report.events != m.head.seq || hex::encode(report.head) != m.head.hash {
        return refuse(
            4,
            format!(
                "the backup's audit chain does not verify: the store ends at event {} ({}), the signed manifest states {} ({})",
                report.events,
                hex::encode(report.head),
                m.head.seq,
                m.head.hash
            ),
        );
    }
    if let Err(e) = copy_in(src, data_dir, &m) {
        return refuse(1, e);
    }
    say(data_dir, &m, &trusted.key, report.checkpoints, json);
    0
}

/// Whether something accepts connections on the control socket (a stale socket file is no daemon).
fn daemon_answers(sock: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(sock).is_ok()
}

/// Copies every file of the manifest into `data_dir` under temporary names, then renames them: an error
/// removes what was written.
fn copy_in(src: &Path, data_dir: &Path, m: &Manifest) -> Result<(), String> {
    if !data_dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
    }
    let tmp = |name: &str| data_dir.join(format!(".{name}.restoring"));
    let mut written = Vec::new();
    let r = (|| -> Result<(), String> {
        for f in &m.files {
            let to = tmp(&f.name);
            written.push(to.clone());
            let bytes = std::fs::read(src.join(&f.name)).map_err(|e| format!("{}: {e}", f.name))?;
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&to)
                .map_err(|e| format!("{}: {e}", to.display()))?;
            out.write_all(&bytes).and_then(|_| out.sync_all()).map_err(|e| format!("{}: {e}", to.display()))?;
        }
        for f in &m.files {
            std::fs::rename(tmp(&f.name), data_dir.join(&f.name)).map_err(|e| format!("{}: {e}", f.name))?;
        }
        std::fs::File::open(data_dir).and_then(|d| d.sync_all()).map_err(|e| e.to_string())
    })();
    if r.is_err() {
        for p in written {
            let _ = std::fs::remove_file(p);
        }
    }
    r
}

fn say(data_dir: &Path, m: &Manifest, trusted: &[u8], checkpoints: i64, json: bool) {
    let keys: Vec<serde_json::Value> = KEYS_NOT_INCLUDED
        .iter()
        .map(|(name, why)| {
            let p = data_dir.join(name);
            let state = if !p.exists() {
                "missing".to_string()
            } else if *name == "audit-signing.key" {
                match tobira_audit::Signer::load(&p) {
                    Ok(s) if s.public_key() == trusted => "present, matches the pinned key".into(),
                    Ok(_) => "present, but NOT the key the chain was signed with".into(),
                    Err(e) => format!("present, unreadable: {e}"),
                }
            } else {
                "present".into()
            };
            serde_json::json!({"key": name, "state": state, "why": why})
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": true, "restored": data_dir, "node": m.node, "site": m.site,
                "head_seq": m.head.seq, "head": m.head.hash, "checkpoints": checkpoints, "keys": keys})
        );
        return;
    }
    println!(
        "restored the backup of node {} (site {}, taken {}) into {}: audit chain verified to event {} ({} signed checkpoints)",
        m.node,
        m.site,
        m.created,
        data_dir.display(),
        m.head.seq,
        checkpoints
    );
    println!(
        "keys are never in a backup; copy them from the key backup (鍵のバックアップ) into {}:",
        data_dir.display()
    );
    for k in &keys {
        println!(
            "  {:<18} {:<50} {}",
            k["key"].as_str().unwrap_or(""),
            k["state"].as_str().unwrap_or(""),
            k["why"].as_str().unwrap_or("")
        );
    }
    println!(
        "events after event {} are not in this backup: the node continues its chain from there (a centre that \
         already holds later events of this node will see a fork; that is not reconciled yet)",
        m.head.seq
    );
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        println!(
            "as root: give the directory to the service's user before starting it: chown -R tobira: {}",
            data_dir.display()
        );
    }
}
