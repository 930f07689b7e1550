//! Throttling and alarms at readers (issue 16 §2; NIST SP 800-63B §5.2.2 in spirit; 003 §20).
//!
//! The person-keyed [`crate::lockout`] only counts failures of someone the reader recognised. A door reader
//! is a public surface: a stranger, a glove or a print of a print identifies nobody and so counted against
//! nobody, and could be tried without limit. This book counts *unidentified* attempts per reader:
//!
//! - after `free_attempts` unidentified attempts in a row, each further attempt must wait a delay that
//!   doubles from `base_delay_s` up to `max_delay_s` (1 s, 2 s, 4 s … 30 s by default);
//! - an attempt inside the delay is refused unmatched (it is not counted: a vandal holding the reader
//!   cannot push the delay up for the staff behind them, and it is never compared with anyone);
//! - `alarm_after` unidentified attempts in a row raise one incident for the security manager (003 §20),
//!   once per run of failures, not once per attempt;
//! - an identified attempt, or `quiet_s` without an unidentified one, ends the run.
//!
//! Pure: time is passed in. A capture timeout with nobody at the reader is not an attempt; the caller
//! does not report it.

use crate::ids::ReaderId;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

/// `[reader_throttle]` in the site file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Unidentified attempts in a row allowed without a delay.
    pub free_attempts: u32,
    /// The first delay; it doubles with every further unidentified attempt.
    pub base_delay_s: u32,
    /// The delay never grows beyond this (NIST SP 800-63B: throttling, not a lock-out of the door).
    pub max_delay_s: u32,
    /// This many unidentified attempts in a row raise an incident (003 §20).
    pub alarm_after: u32,
    /// This long without an unidentified attempt ends the run.
    pub quiet_s: u32,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy { free_attempts: 3, base_delay_s: 1, max_delay_s: 30, alarm_after: 5, quiet_s: 300 }
    }
}

/// One reader's current run of unidentified attempts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// Unidentified attempts in the run.
    pub failures: u32,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    /// No attempt is matched before this.
    pub wait_until: Option<DateTime<Utc>>,
    /// The delay imposed by the last failure (what the next person has to wait at most).
    pub delay: Duration,
    /// The run has raised its incident.
    pub alarmed: bool,
}

/// An attempt refused without matching: the reader is throttled until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub until: DateTime<Utc>,
    pub failures: u32,
}

impl Throttled {
    /// How long is left, in whole seconds rounded up.
    pub fn retry_after_s(&self, now: DateTime<Utc>) -> i64 {
        let ms = (self.until - now).num_milliseconds().max(0);
        (ms + 999) / 1000
    }
}

/// What one unidentified attempt did to its reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unidentified {
    pub failures: u32,
    /// The next attempt is not matched before this.
    pub wait_until: Option<DateTime<Utc>>,
    /// Set once per run: this attempt raised the incident (first and last attempt of the run so far).
    pub incident: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A run that ended with an identified attempt: how long the reader had been made to wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    pub failures: u32,
    /// The delay the last failure imposed (zero if none).
    pub delay: Duration,
    /// When the last unidentified attempt was.
    pub last: DateTime<Utc>,
    pub alarmed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ReaderThrottle {
    runs: BTreeMap<ReaderId, Run>,
}

impl ReaderThrottle {
    /// Ends runs that have been quiet long enough.
    fn expire(&mut self, reader: &ReaderId, now: DateTime<Utc>, p: &ThrottlePolicy) {
        if let Some(r) = self.runs.get(reader) {
            let quiet_from = r.wait_until.map_or(r.last, |w| w.max(r.last));
            if now >= quiet_from + Duration::seconds(i64::from(p.quiet_s)) {
                self.runs.remove(reader);
            }
        }
    }

    /// Before matching: may this reader's attempt be matched now? `Err` means refuse it unmatched.
    pub fn check(&mut self, reader: &ReaderId, now: DateTime<Utc>, p: &ThrottlePolicy) -> Result<(), Throttled> {
        self.expire(reader, now, p);
        match self.runs.get(reader) {
            Some(Run { wait_until: Some(until), failures, .. }) if now < *until => {
                Err(Throttled { until: *until, failures: *failures })
            }
            _ => Ok(()),
        }
    }

    /// An attempt that identified nobody (a stranger, a glove, an unusable sample).
    pub fn record_unidentified(&mut self, reader: ReaderId, now: DateTime<Utc>, p: &ThrottlePolicy) -> Unidentified {
        self.expire(&reader, now, p);
        let r = self.runs.entry(reader).or_insert_with(|| Run {
            failures: 0,
            first: now,
            last: now,
            wait_until: None,
            delay: Duration::zero(),
            alarmed: false,
        });
        r.failures += 1;
        r.last = now;
        if r.failures >= p.free_attempts.max(1) {
            let doublings = (r.failures - p.free_attempts.max(1)).min(20);
            let secs = (i64::from(p.base_delay_s.max(1)) << doublings).min(i64::from(p.max_delay_s.max(1)));
            r.delay = Duration::seconds(secs);
            r.wait_until = Some(now + r.delay);
        }
        let incident = (!r.alarmed && r.failures >= p.alarm_after.max(1)).then(|| {
            r.alarmed = true;
            (r.first, r.last)
        });
        Unidentified { failures: r.failures, wait_until: r.wait_until, incident }
    }

    /// An identified attempt ends the reader's run; returns what the run had imposed, if there was one.
    pub fn record_identified(&mut self, reader: &ReaderId, now: DateTime<Utc>, p: &ThrottlePolicy) -> Option<Ended> {
        self.expire(reader, now, p);
        self.runs.remove(reader).map(|r| Ended {
            failures: r.failures,
            delay: r.delay,
            last: r.last,
            alarmed: r.alarmed,
        })
    }

    pub fn run(&self, reader: &ReaderId) -> Option<&Run> {
        self.runs.get(reader)
    }

    /// Every open run, as the daemon keeps them on disk so a restart does not reset a stranger's delay.
    pub fn snapshot(&self) -> Vec<RunRecord> {
        self.runs
            .iter()
            .map(|(reader, r)| RunRecord {
                reader: reader.to_string(),
                failures: r.failures,
                first: r.first,
                last: r.last,
                wait_until: r.wait_until,
                delay_s: r.delay.num_seconds(),
                alarmed: r.alarmed,
            })
            .collect()
    }

    /// The runs of a snapshot (a restart).
    pub fn restore(records: Vec<RunRecord>) -> ReaderThrottle {
        let runs = records
            .into_iter()
            .map(|r| {
                let run = Run {
                    failures: r.failures,
                    first: r.first,
                    last: r.last,
                    wait_until: r.wait_until,
                    delay: Duration::seconds(r.delay_s.clamp(0, 86_400)),
                    alarmed: r.alarmed,
                };
                (ReaderId::new(&r.reader), run)
            })
            .collect();
        ReaderThrottle { runs }
    }
}

/// One reader's run as stored (`reader-throttle.json` in the data directory).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunRecord {
    pub reader: String,
    pub failures: u32,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub wait_until: Option<DateTime<Utc>>,
    pub delay_s: i64,
    pub alarmed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T10:00:00+09:00").unwrap().with_timezone(&Utc)
    }
    fn r() -> ReaderId {
        ReaderId::new("server-in")
    }
    const P: ThrottlePolicy =
        ThrottlePolicy { free_attempts: 3, base_delay_s: 1, max_delay_s: 30, alarm_after: 5, quiet_s: 300 };

    #[test]
    fn a_restored_run_keeps_its_delay_count_and_alarm() {
        let mut b = ReaderThrottle::default();
        for i in 0..5 {
            b.record_unidentified(r(), t0() + Duration::seconds(i * 60), &P);
        }
        let mut back = ReaderThrottle::restore(b.snapshot());
        let last = t0() + Duration::seconds(4 * 60);
        assert!(back.check(&r(), last + Duration::seconds(1), &P).is_err(), "the delay survives");
        let u = back.record_unidentified(r(), last + Duration::seconds(60), &P);
        assert_eq!(u.failures, 6, "the count goes on");
        assert!(u.incident.is_none(), "the run's incident was raised before the restart");
    }

    #[test]
    fn three_free_then_a_doubling_delay_capped() {
        let mut b = ReaderThrottle::default();
        let mut now = t0();
        let mut delays = Vec::new();
        for i in 1..=10 {
            assert!(b.check(&r(), now, &P).is_ok(), "attempt {i} may be matched once the delay passed");
            let u = b.record_unidentified(r(), now, &P);
            assert_eq!(u.failures, i);
            let d = u.wait_until.map_or(0, |w| (w - now).num_seconds());
            delays.push(d);
            now += Duration::seconds(d);
        }
        // SP 800-63B §5.2.2 in spirit: the 3rd failure in a row starts 1 s, then 2, 4 … up to the cap.
        assert_eq!(delays, [0, 0, 1, 2, 4, 8, 16, 30, 30, 30]);
    }

    #[test]
    fn an_attempt_inside_the_delay_is_refused_and_not_counted() {
        let mut b = ReaderThrottle::default();
        for _ in 0..4 {
            b.record_unidentified(r(), t0(), &P);
        }
        let until = t0() + Duration::seconds(2);
        let e = b.check(&r(), t0() + Duration::milliseconds(500), &P).unwrap_err();
        assert_eq!(e, Throttled { until, failures: 4 });
        assert_eq!(e.retry_after_s(t0() + Duration::milliseconds(500)), 2);
        assert_eq!(b.run(&r()).map(|x| x.failures), Some(4), "a throttled attempt is not a failure");
        assert!(b.check(&r(), until, &P).is_ok(), "the delay passes");
        assert!(b.check(&ReaderId::new("other"), t0(), &P).is_ok(), "per reader");
    }

    #[test]
    fn the_incident_is_raised_once_per_run() {
        let mut b = ReaderThrottle::default();
        let mut raised = Vec::new();
        for i in 0..12 {
            let now = t0() + Duration::seconds(40 * i);
            if let Some(x) = b.record_unidentified(r(), now, &P).incident {
                raised.push((i + 1, x));
            }
        }
        assert_eq!(raised, [(5, (t0(), t0() + Duration::seconds(160)))], "after the 5th, once (003 §20)");
        // A success ends the run and says what it had imposed; the next run alarms again.
        let ended = b.record_identified(&r(), t0() + Duration::seconds(500), &P).unwrap();
        assert_eq!((ended.failures, ended.delay, ended.alarmed), (12, Duration::seconds(30), true));
        assert!(b.check(&r(), t0() + Duration::seconds(500), &P).is_ok());
        let later = t0() + Duration::seconds(600);
        let n = (0..5).filter_map(|_| b.record_unidentified(r(), later, &P).incident).count();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_quiet_period_ends_the_run() {
        let mut b = ReaderThrottle::default();
        for _ in 0..4 {
            b.record_unidentified(r(), t0(), &P);
        }
        let quiet = t0() + Duration::seconds(2 + 300);
        assert!(b.check(&r(), quiet, &P).is_ok());
        assert!(b.run(&r()).is_none(), "forgotten after the quiet period");
        assert_eq!(b.record_unidentified(r(), quiet, &P).failures, 1, "a new run starts from one");
        assert!(b.record_identified(&ReaderId::new("other"), quiet, &P).is_none(), "nothing to end");
    }

    proptest::proptest! {
        /// Whatever the sequence of attempts and gaps: the delay never exceeds the cap, never starts before
        /// `free_attempts` failures, and a run raises at most one incident.
        #[test]
        fn delay_is_capped_and_incidents_are_once_per_run(steps in proptest::collection::vec((0u8..3, 0i64..90), 1..60)) {
            let mut b = ReaderThrottle::default();
            let mut now = t0();
            let mut alarms_in_run = 0;
            for (what, gap) in steps {
                now += Duration::seconds(gap);
                if b.run(&r()).is_none() { alarms_in_run = 0; }
                match what {
                    0 => {
                        let _ = b.record_identified(&r(), now, &P);
                        alarms_in_run = 0;
                    }
                    _ => {
                        if b.check(&r(), now, &P).is_err() { continue; }
                        if b.run(&r()).is_none() { alarms_in_run = 0; }
                        let u = b.record_unidentified(r(), now, &P);
                        if let Some(w) = u.wait_until {
                            proptest::prop_assert!(u.failures >= P.free_attempts);
                            proptest::prop_assert!(w - now <= Duration::seconds(i64::from(P.max_delay_s)));
                        }
                        if u.incident.is_some() { alarms_in_run += 1; }
                        proptest::prop_assert!(alarms_in_run <= 1);
                        proptest::prop_assert_eq!(u.incident.is_some(), u.failures == P.alarm_after);
                    }
                }
            }
        }
    }
}
