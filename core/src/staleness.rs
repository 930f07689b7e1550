//! Offline operation with a central registry (issue 7 §3): a node keeps deciding from its cached registry
//! while the centre is unreachable, but a revocation it has not heard of could still admit someone. So each
//! level may set how long the node may go without hearing from the centre: past that, grants to that level
//! are refused (and the refusal says why), while the levels without a limit go on being served.

use crate::roles::Level;
use chrono::{DateTime, Duration, Utc};

/// The longest silence each level tolerates; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StalenessLimits {
    pub l1: Option<u32>,
    pub l2: Option<u32>,
    pub l3: Option<u32>,
}

impl StalenessLimits {
    fn limit(&self, level: Level) -> Option<u32> {
        match level {
            Level::L1 => self.l1,
            Level::L2 => self.l2,
            Level::L3 => self.l3,
        }
    }

    /// Whether a grant to `level` must be refused at `now`, the centre last heard at `last_contact`.
    pub fn too_stale(&self, level: Level, last_contact: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.limit(level).is_some_and(|s| now - last_contact > Duration::seconds(i64::from(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_level_has_its_own_limit() {
        let l = StalenessLimits { l1: None, l2: Some(3600), l3: Some(300) };
        let t0 = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z").unwrap().with_timezone(&Utc);
        let after = |s| t0 + Duration::seconds(s);
        assert!(!l.too_stale(Level::L3, t0, after(300)), "at the limit: still served");
        assert!(l.too_stale(Level::L3, t0, after(301)));
        assert!(!l.too_stale(Level::L2, t0, after(301)), "L2 tolerates longer");
        assert!(l.too_stale(Level::L2, t0, after(3601)));
        assert!(!l.too_stale(Level::L1, t0, after(10_000_000)), "no limit: terminals keep working");
        assert!(!StalenessLimits::default().too_stale(Level::L3, t0, after(10_000_000)));
    }
}
