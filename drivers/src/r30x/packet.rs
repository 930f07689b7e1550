//! Framing: `EF 01 | ADDR u32 | PID u8 | LEN u16 | payload | SUM u16`, big-endian (R30x.md §1).

/// The factory address; a packet for another address is not for us.
pub const DEFAULT_ADDRESS: u32 = 0xFFFF_FFFF;
/// A 256-byte data payload needs LEN 258; manuals say 256 but modules accept 258 (R30x.md §1).
pub const MAX_PAYLOAD: usize = 256;
const HEADER: [u8; 2] = [0xEF, 0x01];
/// EF01 + address + PID + LEN.
const PREFIX: usize = 9;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pid {
    Command,
    /// A data packet with more to follow.
    Data,
    Ack,
    /// The last data packet.
    EndData,
}

impl Pid {
    pub fn byte(self) -> u8 {
        match self {
            Pid::Command => 0x01,
            Pid::Data => 0x02,
            Pid::Ack => 0x07,
            Pid::EndData => 0x08,
        }
    }

    pub fn from_byte(b: u8) -> Option<Pid> {
        Some(match b {
            0x01 => Pid::Command,
            0x02 => Pid::Data,
            0x07 => Pid::Ack,
            0x08 => Pid::EndData,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub address: u32,
    pub pid: Pid,
    pub payload: Vec<u8>,
}

/// What was wrong with bytes that did not make a packet. Each is counted and survived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bytes before a header that were skipped.
    Garbage {
        skipped: usize,
    },
    BadChecksum {
        expected: u16,
        got: u16,
    },
    /// LEN below 2 or above the largest payload.
    BadLength(u16),
    UnknownPid(u8),
    /// A well-formed packet for another module on the bus.
    WrongAddress(u32),
}

/// SUM = (PID + LEN_hi + LEN_lo + payload) mod 2^16 (R30x.md §1).
pub fn checksum(pid: u8, len: u16, payload: &[u8]) -> u16 {
    let mut s = u32::from(pid) + u32::from(len >> 8) + u32::from(len & 0xff);
    for b in payload {
        s += u32::from(*b);
    }
    (s & 0xffff) as u16
}

/// Encodes one packet. Panics never: payloads above [`MAX_PAYLOAD`] are the caller's bug and are truncated.
pub fn encode(address: u32, pid: Pid, payload: &[u8]) -> Vec<u8> {
    let payload = &payload[..payload.len().min(MAX_PAYLOAD)];
    let len = (payload.len() + 2) as u16;
    let mut out = Vec::with_capacity(PREFIX + payload.len() + 2);
    out.extend_from_slice(&HEADER);
    out.extend_from_slice(&address.to_be_bytes());
    out.push(pid.byte());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&checksum(pid.byte(), len, payload).to_be_bytes());
    out
}

/// Incremental decoder. Holds at most one packet's worth of bytes beyond what it has yet to parse.
#[derive(Debug)]
pub struct Decoder {
    buf: Vec<u8>,
    address: u32,
    faults: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new(DEFAULT_ADDRESS)
    }
}

impl Decoder {
    pub fn new(address: u32) -> Self {
        Self { buf: Vec::new(), address, faults: 0 }
    }

    pub fn handle_input(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Faults seen so far (garbled frames are counted, logged by the driver, and survived).
    pub fn faults(&self) -> u64 {
        self.faults
    }

    fn fault(&mut self, f: Fault) -> Option<Result<Packet, Fault>> {
        self.faults += 1;
        Some(Err(f))
    }

    /// The next packet or fault; `None` when more bytes are needed.
    pub fn poll_packet(&mut self) -> Option<Result<Packet, Fault>> {
        // Skip to the next header.
        let start = self.buf.windows(2).position(|w| w == HEADER);
        match start {
            Some(0) => {}
            Some(n) => {
                self.buf.drain(..n);
                return self.fault(Fault::Garbage { skipped: n });
            }
            None => {
                // Keep a trailing EF: it may be the first half of a header.
                let keep = usize::from(self.buf.last() == Some(&0xEF));
                let skipped = self.buf.len() - keep;
                if skipped > 0 {
                    self.buf.drain(..skipped);
                    return self.fault(Fault::Garbage { skipped });
                }
                return None;
            }
        }
        if self.buf.len() < PREFIX {
            return None;
        }
        let address = u32::from_be_bytes([self.buf[2], self.buf[3], self.buf[4], self.buf[5]]);
        let pid_byte = self.buf[6];
        let len = u16::from_be_bytes([self.buf[7], self.buf[8]]);
        if !(2..=(MAX_PAYLOAD as u16 + 2)).contains(&len) {
            // Drop this header and resynchronise on the next one.
            self.buf.drain(..2);
            return self.fault(Fault::BadLength(len));
        }
        let total = PREFIX + usize::from(len);
        if self.buf.len() < total {
            return None;
        }
        let payload = self.buf[PREFIX..total - 2].to_vec();
        let got = u16::from_be_bytes([self.buf[total - 2], self.buf[total - 1]]);
        let expected = checksum(pid_byte, len, &payload);
        if got != expected {
            self.buf.drain(..2);
            return self.fault(Fault::BadChecksum { expected, got });
        }
        self.buf.drain(..total);
        let Some(pid) = Pid::from_byte(pid_byte) else { return self.fault(Fault::UnknownPid(pid_byte)) };
        if address != self.address {
            return self.fault(Fault::WrongAddress(address));
        }
        Some(Ok(Packet { address, pid, payload }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// Worked examples from the manuals (R30x.md §1, §3).
    #[test]
    fn worked_examples_byte_for_byte() {
        assert_eq!(
            encode(DEFAULT_ADDRESS, Pid::Command, &[0x13, 0, 0, 0, 0]),
            hex("EF01 FFFFFFFF 01 0007 13 00000000 001B")
        );
        assert_eq!(encode(DEFAULT_ADDRESS, Pid::Ack, &[0x00]), hex("EF01 FFFFFFFF 07 0003 00 000A"));
        assert_eq!(encode(DEFAULT_ADDRESS, Pid::Command, &[0x01]), hex("EF01 FFFFFFFF 01 0003 01 0005"));
        assert_eq!(encode(DEFAULT_ADDRESS, Pid::Command, &[0x0F]), hex("EF01 FFFFFFFF 01 0003 0F 0013"));
        let cap = hex("EF01 FFFFFFFF 07 0013 00 0004 0000 00C8 0003 FFFFFFFF 0002 0006 04ED");
        let mut d = Decoder::default();
        d.handle_input(&cap);
        let p = d.poll_packet().unwrap().unwrap();
        assert_eq!(p.pid, Pid::Ack);
        assert_eq!(p.payload.len(), 17);
        assert!(d.poll_packet().is_none());
    }

    #[test]
    fn garbage_bad_checksum_and_lengths_are_survived() {
        let good = encode(DEFAULT_ADDRESS, Pid::Ack, &[0x00]);
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 1] ^= 0xff;
        let mut d = Decoder::default();
        d.handle_input(b"\x00\x55junk");
        d.handle_input(&bad);
        d.handle_input(&[0xEF, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0xFF, 0xFF]);
        d.handle_input(&good);
        let mut got = Vec::new();
        while let Some(r) = d.poll_packet() {
            got.push(r);
        }
        assert!(matches!(got[0], Err(Fault::Garbage { skipped: 6 })));
        assert!(got.iter().any(|r| matches!(r, Err(Fault::BadChecksum { .. }))));
        assert!(got.iter().any(|r| matches!(r, Err(Fault::BadLength(0xFFFF)))));
        assert_eq!(
            got.last().unwrap().as_ref().unwrap().payload,
            vec![0x00],
            "the good packet after the noise arrives"
        );
        assert!(d.faults() >= 3);
    }

    #[test]
    fn another_modules_packet_is_not_ours() {
        let mut d = Decoder::default();
        d.handle_input(&encode(0x1234_5678, Pid::Ack, &[0]));
        assert_eq!(d.poll_packet(), Some(Err(Fault::WrongAddress(0x1234_5678))));
    }

    proptest! {
        #[test]
        fn round_trip_split_anywhere(payload in proptest::collection::vec(any::<u8>(), 0..=MAX_PAYLOAD), split in 0usize..300, pid in 0usize..4) {
            let pid = [Pid::Command, Pid::Data, Pid::Ack, Pid::EndData][pid];
            let bytes = encode(DEFAULT_ADDRESS, pid, &payload);
            let split = split.min(bytes.len());
            let mut d = Decoder::default();
            d.handle_input(&bytes[..split]);
            let first = d.poll_packet();
            d.handle_input(&bytes[split..]);
            let p = match first { Some(r) => r, None => d.poll_packet().unwrap() }.unwrap();
            prop_assert_eq!(p.payload, payload);
            prop_assert_eq!(p.pid, pid);
        }

        #[test]
        fn never_panics_and_always_progresses(noise in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let mut d = Decoder::default();
            d.handle_input(&noise);
            let mut n = 0;
            while d.poll_packet().is_some() {
                n += 1;
                prop_assert!(n <= noise.len() + 1, "the decoder must consume bytes on every step");
            }
        }
    }
}
