//! A man in the middle of an RS-485 line (issue 15's fault matrix), shared by the end-to-end fault tests and
//! `tobira-bench faults`: every byte between the control panel and the device passes through it, and when told
//! to, it rewrites the message authentication code of each Secure Channel reply and fixes the frame's CRC —
//! what an attacker on the bus who can rewrite frames but does not hold the key would send. The CRC passes,
//! the MAC does not. Told to, it also holds the device's replies back before forwarding them (every reply, or
//! only those answering one command, such as osdp_OUT): a controller that answers late, which libosdp's
//! peripheral cannot play by itself.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// OSDP's start of message.
const SOM: u8 = 0x53;
/// Control byte: a 16-bit CRC closes the frame (otherwise an 8-bit checksum).
const CTRL_CRC: u8 = 0x04;
/// Control byte: a security control block follows the header.
const CTRL_SCB: u8 = 0x08;
/// Security block types whose frames carry a 4-byte MAC before the CRC (SCS_16, SCS_18: replies).
const SCS_WITH_MAC: [u8; 2] = [0x16, 0x18];
/// The address bit that marks a reply (PD to CP).
const ADDR_REPLY: u8 = 0x80;
/// osdp_OUT, the output control command (OSDP v2.2 §6.9): the strike pulse.
pub const CMD_OUT: u8 = 0x68;
/// No command seen yet (0x00 is no OSDP command code).
const NO_CMD: u8 = 0;
/// "Every command" in [`Counters::hold_cmd`].
const ANY_CMD: u16 = 0x100;

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
    /// How long replies are held back (ms; 0: not at all), and which command's replies: a command code, or
    /// [`ANY_CMD`]. The code is in the clear under Secure Channel too (only the data block is encrypted).
    hold_ms: AtomicU64,
    hold_cmd: AtomicU16,
    /// The code of the last command the panel sent: on a half-duplex line a reply answers it.
    last_cmd: AtomicU8,
    held: AtomicUsize,
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
        let c = counters.clone();
        std::thread::Builder::new().name("mitm-down".into()).spawn(move || {
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = [0u8; 512];
            while let Ok(n) = from_panel.read(&mut buf) {
                if n == 0 {
                    break;
                }
                // Noted before the bytes go on, so the device's reply always finds its command noted.
                pending.extend_from_slice(&buf[..n]);
                for chunk in take_frames(&mut pending) {
                    if let Chunk::Frame(f) = chunk
                        && let Some(code) = code(&f)
                    {
                        c.last_cmd.store(code, Ordering::Relaxed);
                    }
                }
                if to_device.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        })?;
        let (mut from_device, mut to_panel) = (device, panel);
        // The device's frames go out from a thread of their own, each at its release time, in order.
        let (out_tx, out_rx) = mpsc::channel::<(Instant, Vec<u8>)>();
        std::thread::Builder::new().name("mitm-up-out".into()).spawn(move || {
            while let Ok((at, bytes)) = out_rx.recv() {
                let now = Instant::now();
                if at > now {
                    std::thread::sleep(at - now);
                }
                if to_panel.write_all(&bytes).is_err() {
                    break;
                }
            }
        })?;
        let c = counters.clone();
        std::thread::Builder::new().name("mitm-up".into()).spawn(move || {
            let mut pending: Vec<u8> = Vec::new();
            let mut buf = [0u8; 512];
            // Release times never go backwards: a frame behind a held one waits for it.
            let mut last = Instant::now();
            while let Ok(n) = from_device.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let arrived = Instant::now();
                pending.extend_from_slice(&buf[..n]);
                for chunk in take_frames(&mut pending) {
                    let (bytes, delay) = match chunk {
                        Chunk::Stray(b) => (b, Duration::ZERO),
                        Chunk::Frame(mut f) => {
                            c.rewrite(&mut f);
                            let delay = c.hold_for(&f);
                            (f, delay)
                        }
                    };
                    last = last.max(arrived + delay);
                    if out_tx.send((last, bytes)).is_err() {
                        return;
                    }
                }
            }
        })?;
        Ok(MitmRelay { counters })
    }

    /// From now on, rewrite (or stop rewriting) the MAC of every Secure Channel reply.
    pub fn rewrite_macs(&self, on: bool) {
        self.counters.rewrite.store(on, Ordering::Relaxed);
    }

    /// From now on, hold each reply to command `cmd` (every reply: `None`) back by `by` before forwarding it
    /// (`Duration::ZERO`: forward at once again). Replies already held keep their release time.
    pub fn hold_replies(&self, cmd: Option<u8>, by: Duration) {
        self.counters.hold_cmd.store(cmd.map_or(ANY_CMD, u16::from), Ordering::Relaxed);
        self.counters.hold_ms.store(u64::try_from(by.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// Replies held back so far.
    pub fn held(&self) -> usize {
        self.counters.held.load(Ordering::Relaxed)
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
    #[cfg(test)]
    fn frames(&self, pending: &mut Vec<u8>) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in take_frames(pending) {
            match chunk {
                Chunk::Stray(b) => out.extend(b),
                Chunk::Frame(mut f) => {
                    self.rewrite(&mut f);
                    out.extend(f);
                }
            }
        }
        out
    }

    /// How long to hold this frame from the device: a reply, while holding is on for the command it answers.
    fn hold_for(&self, frame: &[u8]) -> Duration {
        let ms = self.hold_ms.load(Ordering::Relaxed);
        if ms == 0 || frame[1] & ADDR_REPLY == 0 {
            return Duration::ZERO;
        }
        let cmd = self.hold_cmd.load(Ordering::Relaxed);
        let last = self.last_cmd.load(Ordering::Relaxed);
        if cmd != ANY_CMD && (last == NO_CMD || u16::from(last) != cmd) {
            return Duration::ZERO;
        }
        self.held.fetch_add(1, Ordering::Relaxed);
        Duration::from_millis(ms)
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

/// A piece of the line: a whole OSDP frame, or bytes between frames.
enum Chunk {
    Frame(Vec<u8>),
    Stray(Vec<u8>),
}

/// Splits the whole frames (and the bytes between them) off the front of `pending`; an incomplete frame
/// stays for the next read.
fn take_frames(pending: &mut Vec<u8>) -> Vec<Chunk> {
    let mut out = Vec::new();
    loop {
        // A frame: SOM, address, length (of the whole frame, little-endian), control, …, CRC.
        let Some(start) = pending.iter().position(|&b| b == SOM) else {
            if !pending.is_empty() {
                out.push(Chunk::Stray(std::mem::take(pending)));
            }
            return out;
        };
        if start > 0 {
            out.push(Chunk::Stray(pending.drain(..start).collect()));
        }
        if pending.len() < 4 {
            return out;
        }
        let len = usize::from(pending[2]) | (usize::from(pending[3]) << 8);
        if !(8..=1024).contains(&len) {
            out.push(Chunk::Stray(vec![pending.remove(0)]));
            continue;
        }
        if pending.len() < len {
            return out;
        }
        out.push(Chunk::Frame(pending.drain(..len).collect()));
    }
}

/// The command or reply code of a frame: after the header and the security control block (whose first
/// byte is its own length) if there is one (OSDP v2.2 §5.7, §5.9).
fn code(frame: &[u8]) -> Option<u8> {
    let ctrl = *frame.get(4)?;
    let at = if ctrl & CTRL_SCB != 0 { 5 + usize::from(*frame.get(5)?) } else { 5 };
    frame.get(at).copied()
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

    /// The command code is read past the security block, and only replies to the held command are held.
    #[test]
    fn replies_to_the_held_command_are_held_and_no_others() {
        // osdp_OUT under Secure Channel (SCB length 2, SCS_17), and its reply osdp_ACK (SCS_18).
        let out = [SOM, 0x01, 8, 0, CTRL_CRC | CTRL_SCB | 1, 2, 0x17, CMD_OUT];
        let poll = [SOM, 0x01, 8, 0, CTRL_CRC | 1, 0x60, 0, 0];
        let ack = [SOM, 0x81, 8, 0, CTRL_CRC | CTRL_SCB | 1, 2, 0x18, 0x40];
        assert_eq!((code(&out), code(&poll), code(&ack)), (Some(CMD_OUT), Some(0x60), Some(0x40)));
        let c = Counters::default();
        c.last_cmd.store(CMD_OUT, Ordering::Relaxed);
        assert_eq!(c.hold_for(&ack), Duration::ZERO, "holding is off");
        let relay = MitmRelay { counters: Arc::new(c) };
        relay.hold_replies(Some(CMD_OUT), Duration::from_millis(300));
        let c = &relay.counters;
        assert_eq!(c.hold_for(&ack), Duration::from_millis(300), "the reply to osdp_OUT is held");
        assert_eq!(c.hold_for(&out), Duration::ZERO, "a command is never held");
        c.last_cmd.store(0x60, Ordering::Relaxed);
        assert_eq!(c.hold_for(&ack), Duration::ZERO, "the reply to a poll is not");
        relay.hold_replies(None, Duration::from_millis(50));
        assert_eq!(c.hold_for(&ack), Duration::from_millis(50), "every reply");
        assert_eq!(relay.held(), 2);
        let mut pending = [&b"\xff"[..], &poll[..], &out[..5]].concat();
        let chunks = take_frames(&mut pending);
        assert!(matches!(&chunks[..], [Chunk::Stray(s), Chunk::Frame(f)] if s == b"\xff" && f[..] == poll));
        assert_eq!(pending, out[..5], "an incomplete frame waits for the next read");
    }
}
