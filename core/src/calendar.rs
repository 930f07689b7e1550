//! Office hours and Japanese public holidays (002 §5-2: terminal use outside office hours or on holidays
//! needs prior agreement). National holidays come from `jpholiday`; a city adds its own closures.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Utc, Weekday};

/// The office hours of a site (`[office_hours]`), checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfficeHours {
    pub days: Vec<Weekday>,
    pub open: NaiveTime,
    pub close: NaiveTime,
    /// (month, day) closed every year: the customary year-end closure 12/29–1/3.
    pub closures: Vec<(u32, u32)>,
    pub extra_holidays: Vec<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfficeHoursVerdict {
    Open,
    Weekend,
    PublicHoliday(String),
    /// A recurring closure such as the year-end closure 12/29–1/3.
    Closure,
    ExtraHoliday,
    BeforeOpen,
    AfterClose,
}

impl OfficeHoursVerdict {
    pub fn is_open(&self) -> bool {
        matches!(self, OfficeHoursVerdict::Open)
    }

    /// Whether the day itself is closed (as opposed to the hour).
    pub fn is_closed_day(&self) -> bool {
        matches!(
            self,
            OfficeHoursVerdict::Weekend
                | OfficeHoursVerdict::PublicHoliday(_)
                | OfficeHoursVerdict::Closure
                | OfficeHoursVerdict::ExtraHoliday
        )
    }
}

thread_local! {
    /// Building the holiday table allocates; build it once per thread, not per decision.
    static HOLIDAYS: jpholiday::jpholiday::JPHoliday<'static> = jpholiday::jpholiday::JPHoliday::new();
}

/// Whether `now` falls in office hours `oh` at the site's UTC offset, and if not, why not.
pub fn is_office_hours(oh: &OfficeHours, utc_offset: FixedOffset, now: DateTime<Utc>) -> OfficeHoursVerdict {
    let local = now.with_timezone(&utc_offset);
    let date = local.date_naive();
    if let Some(name) = HOLIDAYS.with(|h| h.is_holiday_name(&date)) {
        return OfficeHoursVerdict::PublicHoliday(name);
    }
    if oh.closures.contains(&(date.month(), date.day())) {
        return OfficeHoursVerdict::Closure;
    }
    if oh.extra_holidays.contains(&date) {
        return OfficeHoursVerdict::ExtraHoliday;
    }
    if !oh.days.contains(&date.weekday()) {
        return OfficeHoursVerdict::Weekend;
    }
    let t = local.time();
    if t < oh.open {
        OfficeHoursVerdict::BeforeOpen
    } else if t >= oh.close {
        OfficeHoursVerdict::AfterClose
    } else {
        OfficeHoursVerdict::Open
    }
}
