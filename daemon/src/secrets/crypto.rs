//! Template protection at rest (DESIGN "Templates", 001 §15(4)).
//!
//! Each template is sealed with its own random data key (AES-256-GCM); the data key is stored wrapped by the
//! node's key-encryption key. The associated data binds the ciphertext to its person and template id, so a
//! sealed template moved to another row does not open. Destroying a wrapped data key erases the template even
//! in old backups that still hold the ciphertext (000 §8(2)).

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SealError {
    #[error("the system random generator failed")]
    Random,
    #[error("sealed template does not open: wrong key, wrong owner, or altered data")]
    Open,
    #[error("key has the wrong length")]
    KeyLength,
}

/// A sealed template as stored: nonce ‖ ciphertext+tag for the data, and the same for the wrapped key.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub wrapped_key: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

fn aead_key(bytes: &[u8]) -> Result<LessSafeKey, SealError> {
    UnboundKey::new(&AES_256_GCM, bytes).map(LessSafeKey::new).map_err(|_| SealError::KeyLength)
}

fn seal_with(key: &LessSafeKey, aad: &[u8], plain: &[u8], rng: &SystemRandom) -> Result<Vec<u8>, SealError> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| SealError::Random)?;
    let mut buf = plain.to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), &mut buf)
        .map_err(|_| SealError::Random)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

fn open_with(key: &LessSafeKey, aad: &[u8], sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    if sealed.len() < NONCE_LEN {
        return Err(SealError::Open);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError::Open)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let plain_len = key.open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| SealError::Open)?.len();
    buf.truncate(plain_len);
    Ok(buf)
}

fn aad(person: &str, template_id: &str) -> Vec<u8> {
    let mut a = b"tobira-template-v1\0".to_vec();
    a.extend_from_slice(person.as_bytes());
    a.push(0);
    a.extend_from_slice(template_id.as_bytes());
    a
}

/// Seals `plain` for (person, template id) under a fresh data key wrapped by `kek`.
pub fn seal_template(kek: &[u8], person: &str, template_id: &str, plain: &[u8]) -> Result<Sealed, SealError> {
    let rng = SystemRandom::new();
    let mut dek = Zeroizing::new([0u8; 32]);
    rng.fill(dek.as_mut()).map_err(|_| SealError::Random)?;
    let ad = aad(person, template_id);
    let ciphertext = seal_with(&aead_key(dek.as_ref())?, &ad, plain, &rng)?;
    let wrapped_key = seal_with(&aead_key(kek)?, &ad, dek.as_ref(), &rng)?;
    Ok(Sealed { wrapped_key, ciphertext })
}

/// Opens a sealed template; fails for the wrong key, owner, id, or any altered byte.
pub fn open_template(
    kek: &[u8],
    person: &str,
    template_id: &str,
    sealed: &Sealed,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let ad = aad(person, template_id);
    let dek = open_with(&aead_key(kek)?, &ad, &sealed.wrapped_key)?;
    open_with(&aead_key(&dek)?, &ad, &sealed.ciphertext)
}

/// Moves a wrapped data key from one node key to another without touching the template's ciphertext.
/// The data key of a sealed template, opened with the node key (to wrap it for another node).
pub fn open_dek(kek: &[u8], person: &str, template_id: &str, wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, SealError> {
    open_with(&aead_key(kek)?, &aad(person, template_id), wrapped)
}

/// Wraps a data key under `kek`, bound to the template's owner and id.
pub fn seal_dek(kek: &[u8], person: &str, template_id: &str, dek: &[u8]) -> Result<Vec<u8>, SealError> {
    seal_with(&aead_key(kek)?, &aad(person, template_id), dek, &SystemRandom::new())
}

pub fn rewrap(old: &[u8], new: &[u8], person: &str, template_id: &str, wrapped: &[u8]) -> Result<Vec<u8>, SealError> {
    let ad = aad(person, template_id);
    let dek = open_with(&aead_key(old)?, &ad, wrapped)?;
    seal_with(&aead_key(new)?, &ad, &dek, &SystemRandom::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEK: [u8; 32] = [7; 32];

    #[test]
    fn seals_and_opens() {
        let s = seal_template(&KEK, "tanaka", "t1", b"minutiae").unwrap();
        assert_ne!(s.ciphertext[NONCE_LEN..NONCE_LEN + 8], b"minutiae"[..]);
        assert_eq!(&open_template(&KEK, "tanaka", "t1", &s).unwrap()[..], b"minutiae");
    }

    #[test]
    fn bound_to_owner_id_and_key() {
        let s = seal_template(&KEK, "tanaka", "t1", b"minutiae").unwrap();
        assert_eq!(open_template(&KEK, "sato", "t1", &s), Err(SealError::Open));
        assert_eq!(open_template(&KEK, "tanaka", "t2", &s), Err(SealError::Open));
        assert_eq!(open_template(&[8; 32], "tanaka", "t1", &s), Err(SealError::Open));
        let mut bad = s.clone();
        let last = bad.ciphertext.len() - 1;
        bad.ciphertext[last] ^= 1;
        assert_eq!(open_template(&KEK, "tanaka", "t1", &bad), Err(SealError::Open));
    }

    #[test]
    fn rewrapped_key_opens_only_with_the_new_node_key() {
        let s = seal_template(&KEK, "tanaka", "t1", b"minutiae").unwrap();
        let new = [9u8; 32];
        let moved = Sealed { wrapped_key: rewrap(&KEK, &new, "tanaka", "t1", &s.wrapped_key).unwrap(), ..s.clone() };
        assert_eq!(&open_template(&new, "tanaka", "t1", &moved).unwrap()[..], b"minutiae");
        assert_eq!(open_template(&KEK, "tanaka", "t1", &moved), Err(SealError::Open));
        // The old wrapped key (an old backup) does not open under the new node key.
        assert_eq!(open_template(&new, "tanaka", "t1", &s), Err(SealError::Open));
    }

    #[test]
    fn destroyed_data_key_cannot_be_recovered_from_the_ciphertext() {
        let s = seal_template(&KEK, "tanaka", "t1", b"minutiae").unwrap();
        // Crypto-erase: the row keeps its ciphertext (as an old backup would) but the wrapped key is gone.
        let erased = Sealed { wrapped_key: vec![0; s.wrapped_key.len()], ciphertext: s.ciphertext.clone() };
        assert_eq!(open_template(&KEK, "tanaka", "t1", &erased), Err(SealError::Open));
    }
}
