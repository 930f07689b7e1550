//! The node's Ed25519 key that signs checkpoints of the chain head.

use crate::error::AuditError;
use ring::rand::SystemRandom;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use zeroize::Zeroizing;

pub struct Signer {
    pair: Ed25519KeyPair,
}

fn key_err(path: &Path, detail: impl Into<String>) -> AuditError {
    AuditError::Key { path: path.into(), detail: detail.into() }
}

impl Signer {
    /// Creates a PKCS#8 key file with mode 0600; never overwrites one.
    pub fn create(path: &Path) -> Result<(), AuditError> {
        let doc =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| key_err(path, "key generation failed"))?;
        let io = |source| AuditError::Io { path: path.into(), source };
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
        f.write_all(doc.as_ref()).map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(())
    }

    /// Loads the key, refusing a file readable by group or others.
    pub fn load(path: &Path) -> Result<Signer, AuditError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| key_err(path, format!("{e}: restore the key file from your key backup")))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_err(
                path,
                format!("readable by group or others (mode {mode:o}): run `chmod 600 {}`", path.display()),
            ));
        }
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| AuditError::Io { path: path.into(), source })?);
        let pair = Ed25519KeyPair::from_pkcs8(&bytes)
            .map_err(|_| key_err(path, format!("not an Ed25519 PKCS#8 key ({} bytes)", bytes.len())))?;
        Ok(Signer { pair })
    }

    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    /// The key pair itself, for the centre's witness (which signs with `ring` directly).
    pub fn into_key_pair(self) -> Ed25519KeyPair {
        self.pair
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair.sign(msg).as_ref().to_vec()
    }
}

/// The signed statement of a checkpoint.
pub fn checkpoint_message(node: &str, seq: i64, head: &[u8; 32], time: &str) -> Vec<u8> {
    let mut m = b"tobira-audit-checkpoint-v1\0".to_vec();
    m.extend_from_slice(&(node.len() as u32).to_be_bytes());
    m.extend_from_slice(node.as_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(head);
    m.extend_from_slice(time.as_bytes());
    m
}

pub fn verify_signature(public_key: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    UnparsedPublicKey::new(&ED25519, public_key).verify(msg, sig).is_ok()
}
