//! Office hours and Japanese public holidays (002 §5-2: terminal use outside office hours or on holidays
//! needs prior agreement). National holidays come from `jpholiday`; a city adds its own closures.

use crate::site::Site;
use chrono::{DateTime, Datelike, Utc};

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

pub fn is_office_hours(site: &Site, now: DateTime<Utc>) -> OfficeHoursVerdict {
    let local = now.with_timezone(&site.utc_offset);
    let date = local.date_naive();
    let oh = &site.office_hours;
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
