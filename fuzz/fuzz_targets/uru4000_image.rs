//! A U.are.U bulk transfer from a misbehaving device, and any key: decode or refuse, never panic. The same
//! bytes are also read as a usbmon pcapng (recordings come from outside).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tobira_drivers::uru4000::image::{KeyExchangeError, Orientation, decode};
use tobira_drivers::uru4000::pcap::read_usbmon;

fuzz_target!(|data: &[u8]| {
    let key = data.get(..4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).unwrap_or(0);
    let _ = decode(data, Orientation::Rotated180, |n| if n % 7 == 3 { Err(KeyExchangeError::Transfer("refused".into())) } else { Ok(key) });
    let _ = read_usbmon(data);
});
