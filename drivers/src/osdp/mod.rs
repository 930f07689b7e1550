//! Door controllers and card readers on RS-485 through OSDP (IEC 60839-11-5), with tobira as the control
//! panel through the `libosdp` crate (C libosdp bundled, Apache-2.0). Facts: ../shared/protocols/OSDP.md.
//! The framing and Secure Channel are libosdp's; ours are the transport ([`channel`]), the driver behind
//! the `DoorController` trait ([`OsdpController`]) and the simulated peripheral device ([`sim`]).

pub mod channel;
mod controller;
pub mod sim;

pub use controller::{OsdpConfig, OsdpController, StrikeAck};

/// Reads a 16-byte Secure Channel base key from a 0600 file holding 32 hex digits (or 16 raw bytes).
pub fn load_key(path: &std::path::Path) -> Result<[u8; 16], String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("OSDP key file {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "OSDP key file {} is readable by group or others (mode {mode:o}): run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("OSDP key file {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&bytes);
    let hex_text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let raw = if hex_text.len() == 32 && hex_text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..16).map(|i| u8::from_str_radix(&hex_text[2 * i..2 * i + 2], 16).unwrap_or(0)).collect::<Vec<u8>>()
    } else {
        bytes
    };
    <[u8; 16]>::try_from(raw.as_slice())
        .map_err(|_| format!("OSDP key file {} must hold 32 hex digits (a 128-bit SCBK)", path.display()))
}
