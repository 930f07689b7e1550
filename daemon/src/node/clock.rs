//! The daemon's one source of "now". Pure code never reads a clock; the edges ask this.
//!
//! In simulation the demo and the tests set the time (a holiday, after hours) so scenarios are repeatable;
//! a production daemon has no way to do that — `set` is only reachable through the simulator's commands,
//! which the daemon refuses without `--simulation`.

use chrono::{DateTime, Utc};
use std::sync::Mutex;
use std::time::Instant;

pub struct Clock {
    /// (simulated time, the instant it was set): simulated time runs on from there.
    fixed: Mutex<Option<(DateTime<Utc>, Instant)>>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub fn new() -> Self {
        Self { fixed: Mutex::new(None) }
    }

    pub fn now(&self) -> DateTime<Utc> {
        let fixed = *self.fixed.lock().unwrap_or_else(|p| p.into_inner());
        match fixed {
            Some((at, since)) => at + chrono::Duration::from_std(since.elapsed()).unwrap_or_default(),
            None => Utc::now(),
        }
    }

    pub fn set(&self, at: Option<DateTime<Utc>>) {
        *self.fixed.lock().unwrap_or_else(|p| p.into_inner()) = at.map(|t| (t, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_time_runs_on_and_can_be_cleared() {
        let c = Clock::new();
        let t = DateTime::parse_from_rfc3339("2026-11-23T10:00:00+09:00").unwrap().with_timezone(&Utc);
        c.set(Some(t));
        let n = c.now();
        assert!(n >= t && n < t + chrono::Duration::seconds(5));
        c.set(None);
        assert!(c.now() > t + chrono::Duration::days(-1) || c.now() < t);
    }
}
