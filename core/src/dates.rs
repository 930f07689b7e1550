//! What a time given on the command line means (issue 16 §3). One rule, owned here:
//!
//! - a full RFC 3339 time is that instant, and so is one written to the minute (`2026-11-24T09:30+09:00`);
//! - a time without an offset (`2026-11-24T09:30`, `2026-11-24T09:30:15`) is in the site's zone (issue 22);
//! - a **start** given as a day (`--from 2026-11-24`) is the first second of that day in the site's zone;
//! - an **end** given as a day (`--until 2026-11-25`, an appointment end, a visit's or an off-hours
//!   approval's last day) means *through* that day: the bound is the first instant of the next day in the
//!   site's zone, and every end in tobira is exclusive (`now < until`). So the day's last second is inside,
//!   the next day's first second is not, and a grant "until today" can be issued today.
//!
//! A grant that ends with the holder's appointment (004 §7) and one given `--until` that same date end at
//! the same instant. Pure: the caller passes the site's offset.

use chrono::{DateTime, Days, FixedOffset, NaiveDate, NaiveDateTime, Utc};

/// Which side of a range a bound is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The range begins here (inclusive): a day means its first second.
    Start,
    /// The range ends here (exclusive): a day means through its last second.
    End,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error(
        "{field}: {value:?} is not a time: write a date (2026-11-24) or a time in the site's zone \
         (2026-11-24T09:30, seconds and an offset such as +09:00 optional)"
    )]
    Unparsable { field: String, value: String },
    #[error("{field}: {value} is not a valid date")]
    OutOfRange { field: String, value: String },
}

/// The first instant of `day` in the zone `offset`.
pub fn start_of_day(day: NaiveDate, offset: FixedOffset) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0)?.and_local_timezone(offset).single().map(|t| t.with_timezone(&Utc))
}

/// The exclusive end of `day` in the zone `offset`: the first instant of the day after.
pub fn end_of_day(day: NaiveDate, offset: FixedOffset) -> Option<DateTime<Utc>> {
    start_of_day(day.checked_add_days(Days::new(1))?, offset)
}

/// Parses `value` (named `field` in the error) as the given side of a range, in the site's zone.
pub fn parse_bound(field: &str, value: &str, offset: FixedOffset, side: Bound) -> Result<DateTime<Utc>, DateError> {
    let value = value.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(value) {
        return Ok(t.with_timezone(&Utc));
    }
    // The README's own examples write minutes without seconds (2026-11-24T17:00+09:00).
    if let Ok(t) = DateTime::parse_from_str(value, "%Y-%m-%dT%H:%M%:z") {
        return Ok(t.with_timezone(&Utc));
    }
    // Without an offset: the site's local time, as the people who type it read the clock on the wall.
    for fmt in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(value, fmt) {
            return t
                .and_local_timezone(offset)
                .single()
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| DateError::OutOfRange { field: field.into(), value: value.into() });
        }
    }
    let Ok(day) = NaiveDate::parse_from_str(value, "%Y-%m-%d") else {
        return Err(DateError::Unparsable { field: field.into(), value: value.into() });
    };
    match side {
        Bound::Start => start_of_day(day, offset),
        Bound::End => end_of_day(day, offset),
    }
    .ok_or_else(|| DateError::OutOfRange { field: field.into(), value: value.into() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn jst() -> FixedOffset {
        FixedOffset::east_opt(9 * 3600).unwrap()
    }

    /// Valid while `now < end`, as every grant, visit and approval is checked (core/src/model.rs, policy.rs).
    fn inside(now: DateTime<Utc>, end: DateTime<Utc>) -> bool {
        now < end
    }

    #[test]
    fn the_readme_until_and_the_appointment_end_are_the_same_instant() {
        let until = parse_bound("until", "2027-03-31", jst(), Bound::End).unwrap();
        let appointment = end_of_day(NaiveDate::from_ymd_opt(2027, 3, 31).unwrap(), jst()).unwrap();
        assert_eq!(until, appointment);
        assert_eq!(until.to_rfc3339(), "2027-03-31T15:00:00+00:00", "the end of 2027-03-31 in JST");
    }

    #[test]
    fn an_end_given_as_a_day_admits_its_last_second_and_not_the_next_days_first() {
        let end = parse_bound("until", "2026-11-25", jst(), Bound::End).unwrap();
        let last = jst().with_ymd_and_hms(2026, 11, 25, 23, 59, 59).unwrap().with_timezone(&Utc);
        let next = jst().with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap().with_timezone(&Utc);
        let morning = jst().with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap().with_timezone(&Utc);
        assert!(inside(morning, end), "a grant until today admits today");
        assert!(inside(last, end));
        assert!(!inside(next, end));
    }

    #[test]
    fn a_start_given_as_a_day_is_its_first_second_and_full_times_are_kept() {
        let s = parse_bound("from", "2026-11-25", jst(), Bound::Start).unwrap();
        assert_eq!(s, jst().with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap().with_timezone(&Utc));
        for side in [Bound::Start, Bound::End] {
            for text in ["2026-11-24T21:00:00+09:00", "2026-11-24T21:00+09:00", "2026-11-24T12:00:00Z"] {
                let t = parse_bound("until", text, jst(), side).unwrap();
                assert_eq!(t, jst().with_ymd_and_hms(2026, 11, 24, 21, 0, 0).unwrap().with_timezone(&Utc), "{text}");
            }
        }
    }

    #[test]
    fn a_time_without_an_offset_is_in_the_sites_zone_with_or_without_seconds() {
        let want = jst().with_ymd_and_hms(2026, 11, 23, 9, 30, 0).unwrap().with_timezone(&Utc);
        for text in ["2026-11-23T09:30", "2026-11-23T09:30:00", "2026-11-23 09:30", "2026-11-23T09:30+09:00"] {
            for side in [Bound::Start, Bound::End] {
                assert_eq!(parse_bound("from", text, jst(), side).unwrap(), want, "{text}");
            }
        }
        let with_s = parse_bound("from", "2026-11-23T09:30:15", jst(), Bound::Start).unwrap();
        assert_eq!(with_s - want, chrono::Duration::seconds(15));
        // Another site's zone gives another instant for the same wall-clock text.
        let utc = parse_bound("from", "2026-11-23T09:30", FixedOffset::east_opt(0).unwrap(), Bound::Start).unwrap();
        assert_eq!(utc - want, chrono::Duration::hours(9));
        assert!(parse_bound("from", "2026-11-23T25:30", jst(), Bound::Start).is_err());
    }

    #[test]
    fn bad_input_names_the_field() {
        let e = parse_bound("until", "next tuesday", jst(), Bound::End).unwrap_err();
        assert!(e.to_string().starts_with("until: \"next tuesday\""), "{e}");
        assert!(parse_bound("until", "2026-02-30", jst(), Bound::End).is_err());
    }

    proptest! {
        /// For every day and every offset a site may have: the day's first and last seconds are inside an end
        /// given as that day, the next day's first second is not; a start given as that day admits its first
        /// second and not the second before. Both sides agree where they meet (end of D = start of D+1).
        #[test]
        fn day_boundaries(days in 0i64..40_000, offset_min in -12i32 * 60..=14 * 60) {
            let off = FixedOffset::east_opt(offset_min * 60).unwrap();
            let day = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + Duration::days(days);
            let text = day.format("%Y-%m-%d").to_string();
            let end = parse_bound("until", &text, off, Bound::End).unwrap();
            let start = parse_bound("from", &text, off, Bound::Start).unwrap();
            let local = |h, m, s| day.and_hms_opt(h, m, s).unwrap().and_local_timezone(off).unwrap().with_timezone(&Utc);
            prop_assert!(inside(local(0, 0, 0), end));
            prop_assert!(inside(local(23, 59, 59), end));
            prop_assert!(!inside(local(23, 59, 59) + Duration::seconds(1), end));
            prop_assert!(local(0, 0, 0) >= start && local(0, 0, 0) - Duration::seconds(1) < start);
            prop_assert_eq!(end - start, Duration::days(1));
            let next = (day + Duration::days(1)).format("%Y-%m-%d").to_string();
            prop_assert_eq!(end, parse_bound("from", &next, off, Bound::Start).unwrap());
        }
    }
}
