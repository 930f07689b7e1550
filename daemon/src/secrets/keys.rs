//! Key files kept outside the database: the template key-encryption key (DESIGN "Templates").
//!
//! A key file must be readable by its owner only (0600): someone holding the terminal's disk image must not
//! find the key beside the data it protects readable by any account (THREATS.md, 001 §15(4)).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

pub const KEK_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("key file {path} is readable by group or others (mode {mode:o}): run `chmod 600 {path}`")]
    Permissions { path: PathBuf, mode: u32 },
    #[error(
        "key file {path} has {len} bytes, expected {expected}: it is not a tobira key; restore it from your key backup"
    )]
    WrongSize { path: PathBuf, len: usize, expected: usize },
    #[error(
        "key file {path} is missing: restore it from your key backup (without it the enrolled templates cannot be opened)"
    )]
    Missing { path: PathBuf },
    #[error("cannot read or write key file {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("the system random generator failed")]
    Random,
}

/// Reads a key file of exactly `len` bytes, refusing group/world-accessible files.
pub fn load_key(path: &Path, len: usize) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let io = |source| KeyError::Io { path: path.to_path_buf(), source };
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(KeyError::Missing { path: path.into() });
        }
        Err(e) => return Err(io(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions { path: path.into(), mode });
    }
    let bytes = Zeroizing::new(fs::read(path).map_err(io)?);
    if bytes.len() != len {
        return Err(KeyError::WrongSize { path: path.into(), len: bytes.len(), expected: len });
    }
    Ok(bytes)
}

/// Creates a fresh random key file with mode 0600; never overwrites an existing one.
pub fn create_key(path: &Path, len: usize) -> Result<(), KeyError> {
    let io = |source| KeyError::Io { path: path.to_path_buf(), source };
    let mut key = Zeroizing::new(vec![0u8; len]);
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut key).map_err(|_| KeyError::Random)?;
    let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    f.write_all(&key).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_loads_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.key");
        create_key(&p, KEK_LEN).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(load_key(&p, KEK_LEN).unwrap().len(), KEK_LEN);
        assert!(create_key(&p, KEK_LEN).is_err(), "never overwrites a key");
    }

    #[test]
    fn group_readable_key_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.key");
        create_key(&p, KEK_LEN).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
        let e = load_key(&p, KEK_LEN).unwrap_err();
        assert!(matches!(e, KeyError::Permissions { mode: 0o640, .. }));
        assert!(e.to_string().contains("chmod 600"));
    }

    #[test]
    fn wrong_size_and_missing_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("node.key");
        fs::write(&p, b"short").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(load_key(&p, KEK_LEN), Err(KeyError::WrongSize { len: 5, .. })));
        assert!(matches!(load_key(&dir.path().join("nope"), KEK_LEN), Err(KeyError::Missing { .. })));
    }
}
