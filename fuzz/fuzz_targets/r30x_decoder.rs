//! Bytes from a serial line: noise, partial frames, lies about lengths.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tobira_drivers::r30x::{Ack, Command, Decoder};

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::default();
    for chunk in data.chunks(5) {
        d.handle_input(chunk);
        while let Some(r) = d.poll_packet() {
            if let Ok(p) = r {
                let _ = Ack::parse(&p.payload);
                let _ = Command::parse(&p.payload);
            }
        }
    }
});
