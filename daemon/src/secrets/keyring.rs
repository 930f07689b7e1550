//! The node key that wraps template data keys, and its rotation (001 §15(4), 000 §8(2)).
//!
//! Erasing a template destroys its wrapped data key in the live store, but an old backup of the store still
//! holds the wrapped key, and the node key still opens it. So every erasure ends with a rotation: a fresh node
//! key, every *remaining* data key rewrapped under it in one transaction, the old key file replaced. A backup
//! taken before the erasure then holds only data keys wrapped by a key that no longer exists.
//!
//! Crash safety: the new key is written to `template.key.next` first; the registry's `kek_sha256` says which
//! key its wrapped data keys belong to. At start, a leftover `.next` is either promoted (the rewrap
//! committed) or removed (it did not), so the key file and the store always agree.

use crate::secrets::keys::{KEK_LEN, KeyError, create_key, load_key};
use crate::store::{RegistryStore, StoreError};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const META_KEK: &str = "kek_sha256";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{path} is not the key this registry's templates are wrapped with (registry expects {expected}…, the file is {found}…): restore the matching key file from your key backup"
    )]
    Mismatch { path: PathBuf, expected: String, found: String },
    #[error("template {id} of {person} does not open with the current node key: nothing was rotated")]
    Unwrap { id: String, person: String },
    #[error("replacing {path} failed: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Hex SHA-256 of a key: safe to store and print (it reveals nothing of the key).
pub fn fingerprint(key: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, key).as_ref())
}

fn next_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".next");
    PathBuf::from(p)
}

fn short(s: &str) -> String {
    s.chars().take(12).collect()
}

/// Loads the node key at start, finishing or discarding a rotation a crash interrupted, and checks the key
/// belongs to this registry.
pub async fn settle(path: &Path, store: &RegistryStore) -> Result<Zeroizing<Vec<u8>>, KeyringError> {
    let expected = store.meta(META_KEK).await?;
    let next = next_path(path);
    if next.exists() {
        match load_key(&next, KEK_LEN) {
            Ok(nk) if expected.as_deref() == Some(fingerprint(&nk).as_str()) => {
                std::fs::rename(&next, path).map_err(|source| KeyringError::Io { path: path.into(), source })?;
                tracing::warn!("finished a node key rotation interrupted by a crash");
            }
            Ok(_) => discard_next(&next, "discarded a node key rotation that had not committed")?,
            // Written only in part (killed between creating and writing it, or the disk full): the registry
            // cannot have committed to it, since the rewrap starts only after the key file is synced. It is
            // discarded if the registry still names the current key; otherwise the error stands (issue 15,
            // found by `tobira-bench crash`: the node used to refuse to start, advising a restore).
            Err(e) => {
                let current = load_key(path, KEK_LEN)?;
                if expected.as_deref() != Some(fingerprint(&current).as_str()) {
                    return Err(e.into());
                }
                discard_next(&next, "discarded a node key rotation interrupted before its key was written")?;
            }
        }
    }
    let key = load_key(path, KEK_LEN)?;
    let found = fingerprint(&key);
    match expected {
        None => store.set_meta(META_KEK, &found).await?,
        Some(e) if e != found => {
            return Err(KeyringError::Mismatch { path: path.into(), expected: short(&e), found: short(&found) });
        }
        Some(_) => {}
    }
    Ok(key)
}

fn discard_next(next: &Path, why: &'static str) -> Result<(), KeyringError> {
    std::fs::remove_file(next).map_err(|source| KeyringError::Io { path: next.to_path_buf(), source })?;
    tracing::warn!("{why}");
    Ok(())
}

/// Rewraps every data key under a fresh node key and replaces the key file; returns the new key and how many
/// data keys were rewrapped. The caller holds the key lock so no template is sealed meanwhile.
pub async fn rotate(
    path: &Path,
    store: &RegistryStore,
    old: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, usize), KeyringError> {
    let next = next_path(path);
    if next.exists() {
        std::fs::remove_file(&next).map_err(|source| KeyringError::Io { path: next.clone(), source })?;
    }
    if let Err(e) = create_key(&next, KEK_LEN) {
        // Nothing committed: no half-written key file is left for the next start to trip over.
        let _ = std::fs::remove_file(&next);
        return Err(e.into());
    }
    let new = load_key(&next, KEK_LEN)?;
    let mut rewrapped = Vec::new();
    for (id, person, wrapped) in store.wrapped_keys().await? {
        let w = crate::secrets::crypto::rewrap(old, &new, &person, &id, &wrapped)
            .map_err(|_| KeyringError::Unwrap { id: id.clone(), person: person.clone() })?;
        rewrapped.push((id, w));
    }
    store.rewrap(&rewrapped, &fingerprint(&new)).await?;
    std::fs::rename(&next, path).map_err(|source| KeyringError::Io { path: path.into(), source })?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok((new, rewrapped.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rotation killed (or out of disk) between creating `template.key.next` and writing it leaves a
    /// short file; the registry still names the current key, so the next start discards it and runs.
    #[tokio::test]
    async fn a_half_written_next_key_is_discarded_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("template.key");
        create_key(&key, KEK_LEN).unwrap();
        let store = RegistryStore::open(&dir.path().join("registry.db"), true).await.unwrap();
        let first = settle(&key, &store).await.unwrap();
        std::fs::write(next_path(&key), b"").unwrap();
        let again = settle(&key, &store).await.unwrap();
        assert_eq!(*first, *again, "the current key, still");
        assert!(!next_path(&key).exists(), "the half-written key is gone");
        // A short key file whose registry names another key is not guessed at: the error stands.
        std::fs::write(next_path(&key), b"short").unwrap();
        store.set_meta(META_KEK, "0000").await.unwrap();
        assert!(settle(&key, &store).await.is_err());
    }
}
