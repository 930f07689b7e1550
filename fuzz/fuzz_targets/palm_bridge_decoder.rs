//! Bytes from a palm-reader bridge socket: noise, partial frames, lying lengths, malformed headers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tobira_drivers::palm_bridge::codec::{Decoder, encode};

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::new();
    for chunk in data.chunks(7) {
        d.handle_input(chunk);
        while let Some(r) = d.poll_frame() {
            // Re-encoding what decoded must not panic either (it may refuse: escapes can grow a header).
            if let Ok(f) = r {
                let _ = encode(&f);
            }
        }
    }
});
