//! Backups of a node's stores (issue 19 §3; 002 §6(4): important records are kept safe by making copies).
//!
//! A backup is a directory: `registry.db` and `audit.db` (consistent online snapshots, SQLite's
//! `VACUUM INTO`), `audit.db.head` (the newest signed head, copied before the audit snapshot so it never names
//! an event the snapshot lacks), `manifest.json` (the chain's head, every file's SHA-256) and `SHA256SUMS`
//! (the same hashes for `sha256sum -c`). It is built in a hidden directory beside the destination and renamed
//! into place only when complete and synced: a full or unwritable disk leaves nothing half-written.
//!
//! Keys are never in a backup: `template.key` (without it no template opens), `audit-signing.key` and
//! `transport.key` belong to the separate key backup, so a stolen backup reveals no template (THREATS: "old
//! backups cannot match") and a deleted person's templates, whose data keys were destroyed (000 §8(2)),
//! stay unreadable in every older backup.

use crate::disk::{head_path, read_only};
use crate::error::AuditError;
use crate::store::AuditStore;
use serde::{Deserialize, Serialize};
use sqlx::ConnectOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// `manifest.json`'s `format`.
pub const FORMAT: &str = "tobira-backup-1";
pub const MANIFEST: &str = "manifest.json";
pub const SUMS: &str = "SHA256SUMS";
/// The stores a backup holds (the head file only once a checkpoint was signed).
pub const REGISTRY: &str = "registry.db";
pub const AUDIT: &str = "audit.db";
pub const AUDIT_HEAD: &str = "audit.db.head";

/// The key files a node needs besides a backup, and what each is for (said by `tobira restore`).
pub const KEYS_NOT_INCLUDED: [(&str, &str); 3] = [
    ("template.key", "opens the templates' data keys: without it no enrolled finger or palm matches"),
    ("audit-signing.key", "signs the audit chain's checkpoints: it must be the key the chain was signed with"),
    ("transport.key", "multi-node sites only: opens data keys other nodes wrap to this node"),
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    /// The newest event in the backup's audit store (0 when empty).
    pub seq: i64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub node: String,
    pub site: String,
    /// RFC 3339, the daemon's clock.
    pub created: String,
    pub version: String,
    pub head: Head,
    /// The node's signature over `head` at `created`, hex: the statement a checkpoint signs
    /// (`tobira-audit-checkpoint-v1`), so every event up to the head is covered by the node's key even when
    /// no checkpoint was due yet. Restore checks it with the pinned key.
    pub head_signature: String,
    /// The signing key the store names, hex. Not a basis of trust (restore uses the pinned key or
    /// `--node-key`): shown so an operator can compare it with the paper record.
    pub store_key: String,
    pub files: Vec<FileEntry>,
    pub keys_not_included: Vec<String>,
}

fn head_bytes(head: &Head) -> Option<[u8; 32]> {
    hex::decode(&head.hash).ok()?.try_into().ok()
}

/// Signs the manifest's head (see [`Manifest::head_signature`]).
pub fn sign_head(m: &mut Manifest, signer: &crate::Signer) {
    let h = head_bytes(&m.head).unwrap_or([0u8; 32]);
    m.head_signature =
        hex::encode(signer.sign(&crate::signing::checkpoint_message(&m.node, m.head.seq, &h, &m.created)));
}

/// Whether the manifest's head is signed by `public_key`.
pub fn head_signed_by(m: &Manifest, public_key: &[u8]) -> bool {
    let (Some(h), Ok(sig)) = (head_bytes(&m.head), hex::decode(&m.head_signature)) else { return false };
    crate::signing::verify_signature(
        public_key,
        &crate::signing::checkpoint_message(&m.node, m.head.seq, &h, &m.created),
        &sig,
    )
}

/// The SHA-256 of a file, hex, and its size.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        ctx.update(&buf[..n]);
    }
    Ok((hex::encode(ctx.finish()), size))
}

fn sync_file(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> AuditError + '_ {
    move |source| AuditError::Io { path: path.into(), source }
}

impl AuditStore {
    /// Writes the audit part of a backup into `dir`: the head file first, then a snapshot of the store
    /// (`VACUUM INTO`, one read transaction: writers go on meanwhile). Returns the snapshot's head.
    pub async fn snapshot_into(&self, dir: &Path) -> Result<Head, AuditError> {
        let head_src = head_path(self.path());
        match std::fs::copy(&head_src, dir.join(AUDIT_HEAD)) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(AuditError::Io { path: dir.join(AUDIT_HEAD), source: e }),
        }
        let out = dir.join(AUDIT);
        let target = out.to_str().ok_or_else(|| AuditError::Write(format!("{}: not UTF-8", out.display())))?;
        sqlx::query("VACUUM INTO ?").bind(target).execute(self.pool()).await?;
        let mut c = read_only(&out)?.connect().await.map_err(|e| AuditError::opening(&out, &e))?;
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetch_optional(&mut c).await?;
        drop(c);
        Ok(head
            .map(|(seq, h)| Head { seq, hash: hex::encode(h) })
            .unwrap_or(Head { seq: 0, hash: hex::encode([0u8; 32]) }))
    }
}

/// Finishes a backup built in `tmp`: hashes every file, writes the manifest and `SHA256SUMS`, syncs them
/// all, then renames `tmp` to `dest` and syncs the parent. `manifest.files` is filled here.
pub fn seal(tmp: &Path, dest: &Path, mut manifest: Manifest) -> Result<Manifest, AuditError> {
    let mut names: Vec<String> = std::fs::read_dir(tmp)
        .map_err(io(tmp))?
        .filter_map(|e| e.ok().and_then(|e| e.file_name().into_string().ok()))
        .filter(|n| n != MANIFEST && n != SUMS)
        .collect();
    names.sort();
    manifest.files.clear();
    let mut sums = String::new();
    for name in names {
        let p = tmp.join(&name);
        sync_file(&p).map_err(io(&p))?;
        let (sha256, size) = sha256_file(&p).map_err(io(&p))?;
        sums.push_str(&format!("{sha256}  {name}\n"));
        manifest.files.push(FileEntry { name, size, sha256 });
    }
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| AuditError::Write(e.to_string()))?;
    for (name, bytes) in [(MANIFEST, format!("{text}\n")), (SUMS, sums)] {
        let p = tmp.join(name);
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&p).map_err(io(&p))?;
        f.write_all(bytes.as_bytes()).map_err(io(&p))?;
        f.sync_all().map_err(io(&p))?;
    }
    sync_dir(tmp).map_err(io(tmp))?;
    if dest.exists() {
        return Err(AuditError::Write(format!(
            "{} appeared while the backup was written; left as it was",
            dest.display()
        )));
    }
    std::fs::rename(tmp, dest).map_err(io(dest))?;
    if let Some(parent) = dest.parent() {
        sync_dir(parent).map_err(io(parent))?;
    }
    Ok(manifest)
}

/// The hidden directory a backup to `dest` is built in.
pub fn partial_dir(dest: &Path) -> Option<PathBuf> {
    let name = dest.file_name()?.to_str()?;
    Some(dest.with_file_name(format!(".{name}.partial")))
}

/// Why a backup is not restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupCheck {
    #[error("{0} is not a tobira backup (no readable manifest.json): {1}")]
    NoManifest(PathBuf, String),
    #[error("manifest.json says format {0:?}; this tobira reads {FORMAT:?}")]
    Format(String),
    #[error("{name}: {detail}")]
    File { name: String, detail: String },
}

/// Reads `dir`'s manifest and checks every file against it: each listed file present with its size and
/// SHA-256, the stores present, nothing else but the manifest and `SHA256SUMS`.
pub fn check_files(dir: &Path) -> Result<Manifest, BackupCheck> {
    let text =
        std::fs::read_to_string(dir.join(MANIFEST)).map_err(|e| BackupCheck::NoManifest(dir.into(), e.to_string()))?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| BackupCheck::NoManifest(dir.into(), e.to_string()))?;
    if m.format != FORMAT {
        return Err(BackupCheck::Format(m.format));
    }
    let file = |name: &str, detail: String| BackupCheck::File { name: name.into(), detail };
    for f in &m.files {
        if f.name.contains('/') || f.name.starts_with('.') {
            return Err(file(&f.name, "is not a plain file name: the manifest was altered".into()));
        }
        let (sha, size) =
            sha256_file(&dir.join(&f.name)).map_err(|e| file(&f.name, format!("listed but unreadable: {e}")))?;
        if size != f.size || sha != f.sha256 {
            return Err(file(
                &f.name,
                format!(
                    "does not match the manifest (SHA-256 {sha}, {size} bytes; listed {}, {} bytes): altered or damaged",
                    f.sha256, f.size
                ),
            ));
        }
    }
    for need in [REGISTRY, AUDIT] {
        if !m.files.iter().any(|f| f.name == need) {
            return Err(file(need, "is missing from the manifest".into()));
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|e| BackupCheck::NoManifest(dir.into(), e.to_string()))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name != MANIFEST && name != SUMS && !m.files.iter().any(|f| f.name == name) {
            return Err(file(&name, "is in the backup but not in its manifest".into()));
        }
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            node: "t01".into(),
            site: "s".into(),
            created: "2026-11-24T01:00:00Z".into(),
            version: "0".into(),
            head: Head { seq: 0, hash: String::new() },
            head_signature: String::new(),
            store_key: String::new(),
            files: vec![],
            keys_not_included: vec![],
        }
    }

    #[test]
    fn a_sealed_backup_checks_and_any_altered_byte_or_extra_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(".b.partial");
        std::fs::create_dir(&tmp).unwrap();
        std::fs::write(tmp.join(REGISTRY), b"registry").unwrap();
        std::fs::write(tmp.join(AUDIT), b"audit").unwrap();
        let dest = dir.path().join("b");
        let m = seal(&tmp, &dest, manifest()).unwrap();
        assert!(!tmp.exists(), "renamed into place");
        assert_eq!(m.files.len(), 2);
        assert_eq!(check_files(&dest).unwrap(), m);
        let sums = std::fs::read_to_string(dest.join(SUMS)).unwrap();
        assert!(sums.contains(&format!("{}  audit.db", sha256_file(&dest.join(AUDIT)).unwrap().0)), "{sums}");

        std::fs::write(dest.join(AUDIT), b"Audit").unwrap();
        let e = check_files(&dest).unwrap_err().to_string();
        assert!(e.starts_with("audit.db: does not match the manifest"), "{e}");
        std::fs::write(dest.join(AUDIT), b"audit").unwrap();
        std::fs::write(dest.join("template.key"), b"k").unwrap();
        let e = check_files(&dest).unwrap_err().to_string();
        assert!(e.contains("template.key: is in the backup but not in its manifest"), "{e}");
    }

    #[test]
    fn sealing_never_replaces_an_existing_destination() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join(".b.partial");
        std::fs::create_dir(&tmp).unwrap();
        let dest = dir.path().join("b");
        std::fs::create_dir(&dest).unwrap();
        assert!(seal(&tmp, &dest, manifest()).is_err());
        assert!(std::fs::read_dir(&dest).unwrap().next().is_none(), "the existing destination is untouched");
    }
}
