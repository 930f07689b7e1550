//! Bytes from any local process that can reach the control socket.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tobira_proto::{Envelope, FrameDecoder, Request};

fuzz_target!(|data: &[u8]| {
    let mut d = FrameDecoder::new();
    for chunk in data.chunks(7) {
        d.handle_input(chunk);
        while let Ok(Some(_)) = d.poll_frame::<Envelope<Request>>() {}
    }
});
