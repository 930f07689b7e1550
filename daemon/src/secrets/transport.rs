//! Templates travelling between nodes (issue 7 §1): a template stays sealed under its own data key; what
//! travels through the centre is that data key wrapped *to each receiving node* — X25519 with the node's
//! transport key (published at the centre), HKDF-SHA256, AES-256-GCM bound to the template's owner and id.
//! The centre, which sees every wrapped key, holds no key that opens one. On arrival the node unwraps the
//! data key and rewraps it under its own node key (`template.key`) like any template enrolled there.

use crate::secrets::crypto::SealError;
use ring::hkdf::{HKDF_SHA256, KeyType, Salt};
use ring::rand::{SecureRandom, SystemRandom};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

const INFO: &[u8] = b"tobira-dek-transport-v1";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportKeyError {
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
}

/// This node's X25519 transport key.
pub struct TransportKey {
    secret: StaticSecret,
}

impl TransportKey {
    /// Loads the key file, creating it (0600, never overwriting) if absent.
    pub fn load_or_create(path: &Path) -> Result<TransportKey, TransportKeyError> {
        let err = |detail: String| TransportKeyError::File { path: path.display().to_string(), detail };
        if !path.exists() {
            let mut b = Zeroizing::new([0u8; 32]);
            SystemRandom::new().fill(b.as_mut()).map_err(|_| err("the system random generator failed".into()))?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| err(e.to_string()))?;
            f.write_all(b.as_ref()).and_then(|_| f.sync_all()).map_err(|e| err(e.to_string()))?;
        }
        let mode = std::fs::metadata(path).map_err(|e| err(e.to_string()))?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(err(format!(
                "readable by group or others (mode {mode:o}): run `chmod 600 {}`",
                path.display()
            )));
        }
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| err(e.to_string()))?);
        let arr: [u8; 32] = bytes.as_slice().try_into().map_err(|_| err(format!("{} bytes, not 32", bytes.len())))?;
        Ok(TransportKey { secret: StaticSecret::from(arr) })
    }

    pub fn public(&self) -> [u8; 32] {
        PublicKey::from(&self.secret).to_bytes()
    }

    /// Opens a data key wrapped to this node by [`wrap_for`].
    pub fn unwrap(&self, person: &str, template_id: &str, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if blob.len() < 32 {
            return Err(SealError::Open);
        }
        let (eph, sealed) = blob.split_at(32);
        let eph: [u8; 32] = eph.try_into().map_err(|_| SealError::Open)?;
        let eph = PublicKey::from(eph);
        let shared = self.secret.diffie_hellman(&eph);
        if !shared.was_contributory() {
            return Err(SealError::Open);
        }
        let kek = derive(shared.as_bytes(), eph.as_bytes(), &self.public())?;
        crate::secrets::crypto::open_dek(kek.as_ref(), person, template_id, sealed)
    }
}

struct Len32;
impl KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

fn derive(shared: &[u8; 32], eph: &[u8; 32], to: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, SealError> {
    let mut salt = eph.to_vec();
    salt.extend_from_slice(to);
    let prk = Salt::new(HKDF_SHA256, &salt).extract(shared);
    let okm = prk.expand(&[INFO], Len32).map_err(|_| SealError::KeyLength)?;
    let mut out = Zeroizing::new([0u8; 32]);
    okm.fill(out.as_mut()).map_err(|_| SealError::KeyLength)?;
    Ok(out)
}

/// Wraps `dek` to the node whose transport public key is `to`: ephemeral public key ‖ AES-GCM(dek).
pub fn wrap_for(to: &[u8; 32], person: &str, template_id: &str, dek: &[u8]) -> Result<Vec<u8>, SealError> {
    let mut e = Zeroizing::new([0u8; 32]);
    SystemRandom::new().fill(e.as_mut()).map_err(|_| SealError::Random)?;
    let eph = StaticSecret::from(*e);
    let eph_pub = PublicKey::from(&eph).to_bytes();
    let shared = eph.diffie_hellman(&PublicKey::from(*to));
    if !shared.was_contributory() {
        return Err(SealError::KeyLength);
    }
    let kek = derive(shared.as_bytes(), &eph_pub, to)?;
    let mut out = eph_pub.to_vec();
    out.extend_from_slice(&crate::secrets::crypto::seal_dek(kek.as_ref(), person, template_id, dek)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_opens_only_at_its_node_for_its_template() {
        let dir = tempfile::tempdir().unwrap();
        let a = TransportKey::load_or_create(&dir.path().join("a")).unwrap();
        let b = TransportKey::load_or_create(&dir.path().join("b")).unwrap();
        let dek = [42u8; 32];
        let w = wrap_for(&a.public(), "tanaka", "t1", &dek).unwrap();
        assert_eq!(&a.unwrap("tanaka", "t1", &w).unwrap()[..], &dek[..]);
        assert_eq!(b.unwrap("tanaka", "t1", &w), Err(SealError::Open), "another node cannot open it");
        assert_eq!(a.unwrap("sato", "t1", &w), Err(SealError::Open), "bound to the owner");
        assert_eq!(a.unwrap("tanaka", "t2", &w), Err(SealError::Open), "bound to the template");
        let mut bad = w.clone();
        bad[40] ^= 1;
        assert_eq!(a.unwrap("tanaka", "t1", &bad), Err(SealError::Open));
        assert_eq!(a.unwrap("tanaka", "t1", &w[..20]), Err(SealError::Open));
        // A low-order point instead of an ephemeral key is refused, not a key of zeros.
        let mut zero = vec![0u8; 32];
        zero.extend_from_slice(&w[32..]);
        assert_eq!(a.unwrap("tanaka", "t1", &zero), Err(SealError::Open));
        // The key file is reused, never replaced.
        let again = TransportKey::load_or_create(&dir.path().join("a")).unwrap();
        assert_eq!(again.public(), a.public());
    }
}
