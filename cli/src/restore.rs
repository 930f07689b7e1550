//! `tobira restore SRC --data-dir D` (issue 19 §3): a backup made by `tobira backup` onto a new node's data
//! directory, offline. Refused — with nothing written — when a file does not match the manifest, when the
//! audit chain does not verify against the pinned key (or `--node-key`; never the key the backup names), when
//! the verified head is not the one the manifest states, when a daemon answers on D, or when D already holds
//! stores. When the site ships to a centre, this node's events after the backup's head are fetched back from
//! it, checked (`restore_centre`) and appended, so the restored chain ends where the centre's copy does and
//! what the node ships next continues it; a centre that cannot be asked refuses the restore unless
//! `--without-centre` accepts the fork. Then says which keys must come from the separate key backup.

use crate::restore_centre::{self, CentreProblem};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use tobira_audit::backup::{self, KEYS_NOT_INCLUDED, Manifest};
use tobira_audit::trust::{TrustError, Trusted, resolve};

/// What the centre added, for the report.
#[derive(Default)]
struct FromCentre {
    /// The centre that was asked; `None` when the site has none or `--without-centre`.
    asked: Option<String>,
    appended: i64,
    head_seq: i64,
    signed_upto: u64,
    unsigned_tail: i64,
    heads_ignored: usize,
    checkpoint: Option<i64>,
}

/// Exit codes as `audit verify`: 4 the backup (or the centre's copy) does not verify, 5 no key to trust it
/// with, 1 refused for the place, the centre unreachable or an I/O error, 2 bad arguments.
pub fn restore_cli(
    src: &Path,
    data_dir: &Path,
    config: &Path,
    node_key: Option<&str>,
    without_centre: bool,
    json: bool,
) -> i32 {
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
    let site = match crate::audit::load_site(config) {
        Ok(s) => s,
        Err(e) => return refuse(2, format!("{e} (restore reads it to know whether this node ships to a centre)")),
    };
    if site.id.as_str() != m.node {
        return refuse(
            2,
            format!(
                "the backup is node {}'s, but {} is node {}'s site file",
                m.node,
                config.display(),
                site.id.as_str()
            ),
        );
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
    // The centre's part, before anything is written.
    let mut centre = FromCentre { head_seq: m.head.seq, ..Default::default() };
    let mut recovered = None;
    match (&site.central, without_centre) {
        (None, _) => {}
        (Some(c), true) => eprintln!(
            "warning: not asking the centre {} (--without-centre): this node continues its chain from the backup's head (event {}); \
             if the centre holds later events of this node it will see a fork (分岐) and refuse what this node ships",
            restore_centre::describe(c),
            m.head.seq
        ),
        (Some(c), false) => {
            match rt.block_on(restore_centre::fetch_and_check(c, &m.node, &trusted.key, &src.join(backup::AUDIT))) {
                Ok(r) => {
                    centre.asked = Some(restore_centre::describe(c));
                    centre.head_seq = r.head_seq;
                    centre.signed_upto = r.signed_upto;
                    centre.unsigned_tail = r.unsigned_tail();
                    centre.heads_ignored = r.heads_ignored;
                    recovered = Some(r);
                }
                Err(CentreProblem::Refused(why)) => return refuse(4, why),
                Err(CentreProblem::Unreachable(why)) => {
                    return refuse(
                        1,
                        format!(
                            "the centre (中央サーバ) {} cannot be asked for this node's events after the backup's head (event {}): {why}. \
                             Restoring without them continues the chain from event {} and the centre, which holds what this node shipped \
                             after the backup, would see a fork (分岐) and refuse it. Bring the centre back and run restore again, or pass \
                             --without-centre to accept that",
                            restore_centre::describe(c),
                            m.head.seq,
                            m.head.seq
                        ),
                    );
                }
            }
        }
    }
    let created = !data_dir.exists();
    let staged = match stage(src, data_dir, &m) {
        Ok(s) => s,
        Err(e) => {
            undo(data_dir, created);
            return refuse(1, e.to_string());
        }
    };
    if let Some(r) = &recovered {
        match rt.block_on(rejoin(&staged, data_dir, &m.node, &trusted, r)) {
            Ok((appended, checkpoint)) => {
                centre.appended = appended;
                centre.checkpoint = checkpoint;
            }
            Err((code, e)) => {
                undo(data_dir, created);
                return refuse(code, e);
            }
        }
    }
    if let Err(e) = commit(&staged, data_dir, &m) {
        undo(data_dir, created);
        return refuse(1, e.to_string());
    }
    let lost = lost_at_least(&trusted, centre.head_seq);
    say(data_dir, &m, &trusted.key, report.checkpoints, &centre, lost, json);
    0
}

/// Appends the centre's checked events to the staged audit store (signing a checkpoint at the new head when
/// the node's signing key is already in place and is the pinned one), then verifies the result.
async fn rejoin(
    staged: &Path,
    data_dir: &Path,
    node: &str,
    trusted: &Trusted,
    r: &tobira_central::recovery::Recovered,
) -> Result<(i64, Option<i64>), (i32, String)> {
    let db = staged.join(backup::AUDIT);
    let signer =
        tobira_audit::Signer::load(&data_dir.join("audit-signing.key")).ok().filter(|s| s.public_key() == trusted.key);
    let events: Vec<_> = r.events.iter().map(|e| restore_centre::stored(node, e)).collect();
    let done = tobira_audit::rejoin::append_shipped(&db, &events, signer.as_ref())
        .await
        .map_err(|e| (1, format!("the centre's events could not be appended: {e}")))?;
    let v = tobira_audit::verify(&db, &trusted.key)
        .await
        .map_err(|f| (4, format!("the restored chain does not verify with {}: {f}", trusted.describe())))?;
    if v.events != r.head_seq || v.head != r.head {
        return Err((
            4,
            format!("the restored chain ends at event {}, not at the centre's head (event {})", v.events, r.head_seq),
        ));
    }
    Ok((done.appended, done.checkpoint))
}

/// How many events this node is known to have signed beyond `head`: the largest checkpoint or tree head
/// remembered beside the pinned key, when there is such a record (a new machine usually has none: then it
/// cannot be told).
/// Returns that head's event number and how many events lie past `head`.
fn lost_at_least(trusted: &Trusted, head: i64) -> Option<(i64, i64)> {
    let hw = trusted.high_water.as_ref()?;
    let rec = tobira_audit::anchors::load(hw).ok()??;
    let signed = [rec.checkpoint.map(|c| c.seq), rec.printed.map(|p| p.size), rec.countersigned.map(|c| c.size)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0);
    let signed = i64::try_from(signed).unwrap_or(i64::MAX);
    Some((signed, (signed - head).max(0)))
}

/// Whether something accepts connections on the control socket (a stale socket file is no daemon).
fn daemon_answers(sock: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(sock).is_ok()
}

/// Where a restore is built, inside the data directory (the same file system, so moving into place is a
/// rename).
const STAGING: &str = ".restoring";

/// A file the restore could not copy or move into place; the restore is refused (exit 1) and what it wrote
/// taken back.
#[derive(Debug, thiserror::Error)]
enum PlaceError {
    #[error("cannot create {}: {source}", .dir.display())]
    DataDir { dir: PathBuf, source: std::io::Error },
    /// `file`: the path, or the name in the manifest, as the message shows it.
    #[error("{file}: {source}")]
    File { file: String, source: std::io::Error },
    /// The data directory's entry could not be synced after the moves.
    #[error("{0}")]
    SyncDir(std::io::Error),
}

/// The error for `file` (a path or a manifest name).
fn file_error(file: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> PlaceError {
    move |source| PlaceError::File { file: file.to_string(), source }
}

/// Copies every file of the manifest into a staging directory inside `data_dir` (created 0700 if absent).
fn stage(src: &Path, data_dir: &Path, m: &Manifest) -> Result<PathBuf, PlaceError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|source| PlaceError::DataDir { dir: data_dir.to_path_buf(), source })?;
    let staged = data_dir.join(STAGING);
    // Left by a restore that was killed: nothing else writes there.
    let _ = std::fs::remove_dir_all(&staged);
    std::fs::DirBuilder::new().mode(0o700).create(&staged).map_err(file_error(staged.display()))?;
    for f in &m.files {
        let to = staged.join(&f.name);
        let bytes = std::fs::read(src.join(&f.name)).map_err(file_error(&f.name))?;
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&to)
            .map_err(file_error(to.display()))?;
        out.write_all(&bytes).and_then(|_| out.sync_all()).map_err(file_error(to.display()))?;
    }
    Ok(staged)
}

/// Moves the staged files into place (the head file may have been written by `rejoin` even if the backup had
/// none); on an error takes back what was moved.
fn commit(staged: &Path, data_dir: &Path, m: &Manifest) -> Result<(), PlaceError> {
    let mut names: Vec<&str> = m.files.iter().map(|f| f.name.as_str()).collect();
    if !names.contains(&backup::AUDIT_HEAD) && staged.join(backup::AUDIT_HEAD).exists() {
        names.push(backup::AUDIT_HEAD);
    }
    let mut moved = Vec::new();
    for name in names {
        let synced = std::fs::File::open(staged.join(name)).and_then(|f| f.sync_all());
        if let Err(e) = synced.and_then(|_| std::fs::rename(staged.join(name), data_dir.join(name))) {
            for n in moved {
                let _ = std::fs::remove_file(data_dir.join(n));
            }
            return Err(file_error(name)(e));
        }
        moved.push(name);
    }
    let _ = std::fs::remove_dir_all(staged);
    std::fs::File::open(data_dir).and_then(|d| d.sync_all()).map_err(PlaceError::SyncDir)
}

/// Removes what a refused restore wrote: the staging directory, and the data directory if it made it.
fn undo(data_dir: &Path, created: bool) {
    let _ = std::fs::remove_dir_all(data_dir.join(STAGING));
    if created {
        let _ = std::fs::remove_dir_all(data_dir);
    }
}

fn say(
    data_dir: &Path,
    m: &Manifest,
    trusted: &[u8],
    checkpoints: i64,
    c: &FromCentre,
    lost: Option<(i64, i64)>,
    json: bool,
) {
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
                "head_seq": c.head_seq, "backup_head_seq": m.head.seq, "head": m.head.hash, "checkpoints": checkpoints,
                "centre": c.asked.as_ref().map(|a| serde_json::json!({"asked": a, "appended": c.appended,
                    "signed_upto": c.signed_upto, "unsigned_tail": c.unsigned_tail, "heads_ignored": c.heads_ignored,
                    "checkpoint": c.checkpoint})),
                "lost_at_least": lost.map(|l| l.1), "keys": keys})
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
    match &c.asked {
        Some(centre) if c.appended == 0 => println!(
            "from the centre (中央サーバ) {centre}: it holds nothing of this node after the backup's head (event {}), and what it \
             holds agrees with the backup: the node continues from there",
            m.head.seq
        ),
        Some(centre) => {
            println!(
                "from the centre (中央サーバ) {centre}: {} events this node had shipped after the backup appended; the chain now ends at \
                 event {}, where the centre's copy ends, so what this node ships next continues it",
                c.appended, c.head_seq
            );
            println!(
                "  checked against the backup's chain and the tree heads signed with the pinned key: events up to {} are covered by \
                 a signed head{}",
                c.signed_upto,
                if c.unsigned_tail > 0 {
                    format!(
                        "; the last {} (after event {}) are tied to them by the hash chain only (the centre's word: no head signed yet)",
                        c.unsigned_tail, c.signed_upto
                    )
                } else {
                    String::new()
                }
            );
            if c.heads_ignored > 0 {
                println!("  {} heads the centre holds are not signed with the pinned key: ignored", c.heads_ignored);
            }
            match c.checkpoint {
                Some(seq) => println!("  checkpoint signed at event {seq} with audit-signing.key"),
                None if c.appended > 0 => println!(
                    "  no checkpoint signed yet (audit-signing.key not in place): tobirad signs one at its first checkpoint"
                ),
                None => {}
            }
        }
        None => println!(
            "events after event {} are not in this backup and no centre was asked: the node continues its chain from there \
             (a centre that already holds later events of this node will see a fork)",
            m.head.seq
        ),
    }
    match lost {
        Some((signed, n)) if n > 0 => println!(
            "LOST (失われた記録): this node had signed a head at event {signed} (remembered beside the pinned key), {n} past event {}: \
             at least {n} events it never shipped are gone with the disk, and `tobira audit verify` reports that record as rolled back \
             until the system administrator, with the daemon running, puts the loss on record: \
             `tobira --actor ID --at READER audit acknowledge-loss --note \"…\"`",
            c.head_seq
        ),
        Some(_) => println!(
            "events this node wrote after event {} but never shipped (if any) are lost; the heads remembered beside the \
             pinned key name none past it",
            c.head_seq
        ),
        None => println!(
            "events this node wrote after event {} but never shipped (if any) are lost; how many cannot be told (no record beside the pinned key)",
            c.head_seq
        ),
    }
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
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        println!(
            "as root: give the directory to the service's user before starting it: chown -R tobira: {}",
            data_dir.display()
        );
    }
}
