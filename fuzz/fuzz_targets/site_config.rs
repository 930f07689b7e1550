//! The site file is written by hand: any text gets an error with a position, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = tobira_core::site::parse_site("fuzz.toml", text) {
            assert!(e.line >= 1);
        }
    }
});
