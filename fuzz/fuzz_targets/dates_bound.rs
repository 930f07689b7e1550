//! Dates and times typed by administrators (`--until`, `--from`, visits, off-hours): every command that
//! takes an end goes through `parse_bound`.
#![no_main]
use chrono::FixedOffset;
use libfuzzer_sys::fuzz_target;
use tobira_core::dates::{Bound, parse_bound};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let Some(jst) = FixedOffset::east_opt(9 * 3600) else { return };
    // A day given alone covers the whole of it; a time is one instant: the start never falls after the end.
    if let (Ok(start), Ok(end)) = (parse_bound("from", s, jst, Bound::Start), parse_bound("until", s, jst, Bound::End)) {
        assert!(start <= end);
    }
});
