//! A man in the middle of an RS-485 line (issue 15's fault matrix), shared by the end-to-end fault tests and
//! `tobira-bench faults`: every byte between the control panel and the device passes through it, and when told
//! to, it rewrites the message authentication code of each Secure Channel reply and fixes the frame's CRC —
//! what an attacker on the bus who can rewrite frames but does not hold the key would send. The CRC passes,
//! the MAC does not.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// OSDP's start of message.
const SOM: u8 = 0x53;
/// Control byte: a 16-bit CRC closes the frame (otherwise an 8-bit checksum).
const CTRL_CRC: u8 = 0x04;
/// Control byte: a security control block follows the header.
const CTRL_SCB: u8 = 0x08;
/// Security block types whose frames carry a 4-byte MAC before the CRC (SCS_16, SCS_18: replies).
const SCS_WITH_MAC: [u8; 2] = [0x16, 0x18];

/// OSDP's CRC-16 (CRC-16/AUG-CCITT: polynomial 0x1021, initial value 0x1D0F), sent least significant byte
/// first.
pub fn osdp_crc(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0x1D0F;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

#[derive(Default)]
struct Counters {
    rewrite: AtomicBool,
    rewritten: AtomicUsize,
    crc_agreed: AtomicUsize,
}

/// The relay; its threads end when either side of the line closes.
pub struct MitmRelay {
    counters: Arc<Counters>,
}

impl MitmRelay {
    /// Joins the panel's line (`panel`: a PTY master whose slave the daemon opens as its serial port) to the
    /// device's (`device`: the slave of the PTY whose master the simulated controller holds). Bytes from the
    /// panel pass unchanged; the device's are framed so that a whole reply can be rewritten.
    pub fn start(panel: std::fs::File, device: std::fs::File) -> std::io::Result<MitmRelay> {
        let counters = Arc::new(Counters::default());
        let (mut from_panel, mut to_device) = (panel.try_clone()?, device.try_clone()?);
        std::thread::Builder::new().name("mitm-down".into()).spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = from_panel.read(&mut buf) {
                if n == 0 || to_device.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        })?;
        let (mut from_device, mut to_panel) = (device, panel);
        let c = counters.clone();
        std::thread::Builder::new().name("mitm-up".into()).spawn(move || {
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = [0u8; 512];
            while let Ok(n) = from_device.read(&mut buf) {
                if n == 0 {
                    break;
                }
                pending.extend_from_slice(&buf[..n]);
                let out = c.frames(&mut pending);
                if !out.is_empty() && to_panel.write_all(&out).is_err() {
                    break;
                }
            }
        })?;
        Ok(MitmRelay { counters })
    }

    /// From now on, rewrite (or stop rewriting) the MAC of every Secure Channel reply.
    pub fn rewrite_macs(&self, on: bool) {
        self.counters.rewrite.store(on, Ordering::Relaxed);
    }

    /// Replies whose MAC was rewritten so far.
    pub fn rewritten(&self) -> usize {
        self.counters.rewritten.load(Ordering::Relaxed)
    }

    /// Secure Channel replies whose CRC this relay computed to the byte before altering any: the proof that it
    /// frames the line as OSDP does, so the panel sees valid frames with bad MACs, not noise.
    pub fn crc_agreed(&self) -> usize {
        self.counters.crc_agreed.load(Ordering::Relaxed)
    }
}

impl Counters {
    /// Takes the whole frames at the front of `pending` (and bytes between frames), rewritten if asked;
    /// leaves an incomplete frame for the next read.
    fn frames(&self, pending: &mut Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            // A frame: SOM, address, length (of the whole frame, little-endian), control, …, CRC.
            let Some(start) = pending.iter().position(|&b| b == SOM) else {
                out.append(pending);
                return out;
            };
            out.extend(pending.drain(..start));
            if pending.len() < 4 {
                return out;
            }
            let len = usize::from(pending[2]) | (usize::from(pending[3]) << 8);
            if !(8..=1024).contains(&len) {
                out.push(pending.remove(0));
                continue;
            }
            if pending.len() < len {
                return out;
            }
            let mut frame: Vec<u8> = pending.drain(..len).collect();
            self.rewrite(&mut frame);
            out.extend(frame);
        }
    }

    fn rewrite(&self, frame: &mut [u8]) {
        let len = frame.len();
        let (ctrl, scs) = (frame[4], frame.get(6).copied().unwrap_or(0));
        if ctrl & CTRL_CRC == 0 || ctrl & CTRL_SCB == 0 || !SCS_WITH_MAC.contains(&scs) || len < 14 {
            return;
        }
        let body = len - 2;
        if osdp_crc(&frame[..body]).to_le_bytes() != [frame[body], frame[body + 1]] {
            return;
        }
        self.crc_agreed.fetch_add(1, Ordering::Relaxed);
        if self.rewrite.load(Ordering::Relaxed) {
            frame[body - 1] ^= 0x5A;
            let crc = osdp_crc(&frame[..body]).to_le_bytes();
            frame[body..].copy_from_slice(&crc);
            self.rewritten.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check value of CRC-16/AUG-CCITT over "123456789" (the catalogue's), and a reply rewritten with a
    /// valid CRC but another MAC.
    #[test]
    fn the_crc_is_osdps_and_a_rewritten_reply_keeps_a_valid_crc() {
        assert_eq!(osdp_crc(b"123456789"), 0xE5CC);
        // SOM, address 0x81 (a reply), length 14, control (CRC + SCB), SCB length 2, SCS_16, osdp_ACK, MAC, CRC.
        let mut frame = vec![SOM, 0x81, 14, 0, CTRL_CRC | CTRL_SCB | 1, 2, 0x16, 0x40, 1, 2, 3, 4];
        let crc = osdp_crc(&frame).to_le_bytes();
        frame.extend_from_slice(&crc);
        let c = Counters::default();
        let mut pending = frame.clone();
        assert_eq!(c.frames(&mut pending), frame, "passed unchanged");
        assert_eq!(c.crc_agreed.load(Ordering::Relaxed), 1);
        c.rewrite.store(true, Ordering::Relaxed);
        let mut pending = frame.clone();
        let out = c.frames(&mut pending);
        assert_eq!(out[..8], frame[..8], "header and reply untouched");
        assert_ne!(out[8..12], frame[8..12], "the MAC is another");
        assert_eq!(osdp_crc(&out[..12]).to_le_bytes(), [out[12], out[13]], "and the CRC still valid");
        assert_eq!(c.rewritten.load(Ordering::Relaxed), 1);
    }
}
