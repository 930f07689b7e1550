//! The time bounds administrative commands take (`--from`, `--until`): parsed in the site's zone.

use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use chrono::{DateTime, Utc};

/// Parses the start of a range given on the command line: RFC 3339, or a date (the first second of that day
/// in the site's zone). The rule is `tobira_core::dates`.
pub fn parse_time(d: &Daemon, field: &str, s: &str) -> Result<DateTime<Utc>, Refusal> {
    tobira_core::dates::parse_bound(field, s, d.site.utc_offset, tobira_core::dates::Bound::Start)
        .map_err(|e| Refusal::bad(e.to_string()))
}

/// Parses the end of a range: RFC 3339, or a date, which means through the end of that day in the site's
/// zone (issue 16 §3; every end is exclusive, `now < until`).
pub fn parse_end(d: &Daemon, field: &str, s: &str) -> Result<DateTime<Utc>, Refusal> {
    tobira_core::dates::parse_bound(field, s, d.site.utc_offset, tobira_core::dates::Bound::End)
        .map_err(|e| Refusal::bad(e.to_string()))
}
