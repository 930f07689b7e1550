//! Throttling of biometric failures (NIST SP 800-63B §5.2.2; DESIGN "Fail secure": at most 5 consecutive
//! failures, then a delay that grows). Keyed by person and reader: one reader locking does not lock the
//! person out of the building, and nobody can lock a colleague out of a reader they are not at.

use crate::ids::{PersonId, ReaderId};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// NIST SP 800-63B §5.2.2 throttling: at most `max_failures` consecutive failures, then a growing delay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub base_delay_s: u32,
    pub max_delay_s: u32,
}

pub type LockKey = (PersonId, ReaderId);

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockEntry {
    /// Consecutive failures since the last success or administrative unlock.
    pub failures: u32,
    /// How many times this key has been locked in the current run of failures (drives the growing delay).
    pub locks: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locked {
    pub until: DateTime<Utc>,
    pub failures: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureOutcome {
    /// Tries left before a lock (0 when this failure locked the key).
    pub remaining_tries: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockoutBook {
    entries: BTreeMap<LockKey, LockEntry>,
}

impl LockoutBook {
    pub fn check(&self, key: &LockKey, now: DateTime<Utc>) -> Result<(), Locked> {
        match self.entries.get(key) {
            Some(LockEntry { locked_until: Some(until), failures, .. }) if now < *until => {
                Err(Locked { until: *until, failures: *failures })
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&mut self, key: LockKey, now: DateTime<Utc>, policy: &LockoutPolicy) -> FailureOutcome {
        let e = self.entries.entry(key).or_default();
        e.failures += 1;
        let max = policy.max_failures.max(1);
        // The first lock comes after `max` failures; once locked, every further failure locks again, longer.
        if e.failures >= max {
            let factor = 1i64 << e.locks.min(20);
            let delay = (i64::from(policy.base_delay_s) * factor).min(i64::from(policy.max_delay_s));
            e.locks += 1;
            let until = now + Duration::seconds(delay);
            e.locked_until = Some(until);
            FailureOutcome { remaining_tries: 0, locked_until: Some(until) }
        } else {
            FailureOutcome { remaining_tries: max - e.failures, locked_until: None }
        }
    }

    pub fn record_success(&mut self, key: &LockKey) {
        self.entries.remove(key);
    }

    /// Administrative unlock (audited by the caller).
    pub fn unlock(&mut self, key: &LockKey) {
        self.entries.remove(key);
    }

    pub fn entry(&self, key: &LockKey) -> LockEntry {
        self.entries.get(key).cloned().unwrap_or_default()
    }

    pub fn restore(&mut self, key: LockKey, e: LockEntry) {
        self.entries.insert(key, e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LockKey {
        (PersonId::new("sato"), ReaderId::new("t01-reader"))
    }
    const P: LockoutPolicy = LockoutPolicy { max_failures: 5, base_delay_s: 60, max_delay_s: 3600 };

    #[test]
    fn five_failures_lock_and_the_delay_grows() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z").unwrap().with_timezone(&Utc);
        let mut b = LockoutBook::default();
        for i in 1..5 {
            let o = b.record_failure(key(), t0, &P);
            assert_eq!(o.remaining_tries, 5 - i);
            assert!(b.check(&key(), t0).is_ok());
        }
        let o = b.record_failure(key(), t0, &P);
        assert_eq!(o.locked_until, Some(t0 + Duration::seconds(60)));
        assert!(b.check(&key(), t0 + Duration::seconds(59)).is_err());
        assert!(b.check(&key(), t0 + Duration::seconds(60)).is_ok());
        let t1 = t0 + Duration::seconds(61);
        let o = b.record_failure(key(), t1, &P);
        assert_eq!(o.locked_until, Some(t1 + Duration::seconds(120)), "second lock doubles");
        let o = b.record_failure(key(), t1, &P);
        assert_eq!(o.locked_until, Some(t1 + Duration::seconds(240)));
        for _ in 0..20 {
            b.record_failure(key(), t1, &P);
        }
        assert_eq!(b.entry(&key()).locked_until, Some(t1 + Duration::seconds(3600)), "capped");
        b.record_success(&key());
        assert!(b.check(&key(), t1).is_ok());
        assert_eq!(b.entry(&key()).failures, 0);
    }

    #[test]
    fn other_readers_and_people_are_unaffected() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-24T10:00:00Z").unwrap().with_timezone(&Utc);
        let mut b = LockoutBook::default();
        for _ in 0..5 {
            b.record_failure(key(), t0, &P);
        }
        assert!(b.check(&key(), t0).is_err());
        assert!(b.check(&(PersonId::new("sato"), ReaderId::new("t02-reader")), t0).is_ok());
        assert!(b.check(&(PersonId::new("tanaka"), ReaderId::new("t01-reader")), t0).is_ok());
    }
}
