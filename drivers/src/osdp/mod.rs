//! Door controllers and card readers on RS-485 through OSDP (IEC 60839-11-5), with tobira as the control
//! panel through the `libosdp` crate (C libosdp bundled, Apache-2.0). Facts: ../shared/protocols/OSDP.md.
//! The framing and Secure Channel are libosdp's; ours are the transport ([`channel`]), the driver behind
//! the `DoorController` trait ([`OsdpController`]) and the simulated peripheral device ([`sim`]).

pub mod channel;
mod controller;
pub mod sim;

pub use controller::{OsdpConfig, OsdpController, StrikeAck};

/// Why a Secure Channel key file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("OSDP key file {}: {source}", .path.display())]
    Unreadable { path: std::path::PathBuf, source: std::io::Error },
    /// The key opens the door's Secure Channel: nobody but tobirad's user may read it.
    #[error("OSDP key file {} is readable by group or others (mode {mode:o}): run `chmod 600 {}`", .path.display(), .path.display())]
    TooOpen { path: std::path::PathBuf, mode: u32 },
    #[error("OSDP key file {} must hold 32 hex digits (a 128-bit SCBK)", .path.display())]
    NotAKey { path: std::path::PathBuf },
}

/// Reads a 16-byte Secure Channel base key from a 0600 file holding 32 hex digits (or 16 raw bytes).
pub fn load_key(path: &std::path::Path) -> Result<[u8; 16], KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let unreadable = |source| KeyFileError::Unreadable { path: path.to_path_buf(), source };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen { path: path.to_path_buf(), mode });
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    let text = String::from_utf8_lossy(&bytes);
    let hex_text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let raw = if hex_text.len() == 32 && hex_text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..16).map(|i| u8::from_str_radix(&hex_text[2 * i..2 * i + 2], 16).unwrap_or(0)).collect::<Vec<u8>>()
    } else {
        bytes
    };
    <[u8; 16]>::try_from(raw.as_slice()).map_err(|_| KeyFileError::NotAKey { path: path.to_path_buf() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The three refusals keep the words the installer reads (README "OSDP"): the file, and what to do.
    #[test]
    fn a_key_file_is_refused_with_its_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("door.key");
        std::fs::write(&p, "00112233445566778899aabbccddeeff\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = load_key(&p).unwrap_err();
        assert!(matches!(e, KeyFileError::TooOpen { mode: 0o644, .. }), "{e:?}");
        let shown = p.display();
        assert_eq!(
            e.to_string(),
            format!("OSDP key file {shown} is readable by group or others (mode 644): run `chmod 600 {shown}`")
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(load_key(&p).unwrap()[..2], [0x00, 0x11]);
        std::fs::write(&p, "0011").unwrap();
        assert_eq!(
            load_key(&p).unwrap_err().to_string(),
            format!("OSDP key file {shown} must hold 32 hex digits (a 128-bit SCBK)")
        );
        let gone = dir.path().join("missing.key");
        let e = load_key(&gone).unwrap_err();
        assert!(e.to_string().starts_with(&format!("OSDP key file {}: ", gone.display())), "{e}");
    }
}
