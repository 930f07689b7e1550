//! Dates as municipal forms write them (和暦): 令和8年11月24日. A pure function of the date; the first year of
//! an era is 元年, and a new era begins on its first day, not on the next 1 January (平成31年4月30日 is
//! followed by 令和元年5月1日). Dates before the Gregorian calendar's adoption in Japan (明治6年1月1日 =
//! 1873-01-01) have no era date here and are written in ISO.

use chrono::{Datelike, NaiveDate};

/// The eras since the Gregorian calendar: name and first day.
const ERAS: [(&str, (i32, u32, u32)); 5] = [
    ("令和", (2019, 5, 1)),
    ("平成", (1989, 1, 8)),
    ("昭和", (1926, 12, 25)),
    ("大正", (1912, 7, 30)),
    ("明治", (1868, 1, 25)),
];

/// The era and the year within it (1 = 元年), or `None` before 1873-01-01.
pub fn era_year(day: NaiveDate) -> Option<(&'static str, i32)> {
    if day < NaiveDate::from_ymd_opt(1873, 1, 1)? {
        return None;
    }
    ERAS.iter().find_map(|(name, (y, m, d))| {
        let first = NaiveDate::from_ymd_opt(*y, *m, *d)?;
        (day >= first).then(|| (*name, day.year() - y + 1))
    })
}

/// `day` in the era's words: 令和8年11月24日, 令和元年5月1日; ISO before the Gregorian calendar (1873).
pub fn japanese_date(day: NaiveDate) -> String {
    match era_year(day) {
        Some((era, 1)) => format!("{era}元年{}月{}日", day.month(), day.day()),
        Some((era, y)) => format!("{era}{y}年{}月{}日", day.month(), day.day()),
        None => day.format("%Y-%m-%d").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn era_boundaries() {
        assert_eq!(japanese_date(d(2019, 4, 30)), "平成31年4月30日");
        assert_eq!(japanese_date(d(2019, 5, 1)), "令和元年5月1日");
        assert_eq!(japanese_date(d(2019, 12, 31)), "令和元年12月31日");
        assert_eq!(japanese_date(d(2020, 1, 1)), "令和2年1月1日");
        assert_eq!(japanese_date(d(2026, 11, 24)), "令和8年11月24日");
        assert_eq!(japanese_date(d(1989, 1, 7)), "昭和64年1月7日");
        assert_eq!(japanese_date(d(1989, 1, 8)), "平成元年1月8日");
        assert_eq!(japanese_date(d(1926, 12, 24)), "大正15年12月24日");
        assert_eq!(japanese_date(d(1926, 12, 25)), "昭和元年12月25日");
        assert_eq!(japanese_date(d(1912, 7, 29)), "明治45年7月29日");
        assert_eq!(japanese_date(d(1912, 7, 30)), "大正元年7月30日");
        assert_eq!(japanese_date(d(1873, 1, 1)), "明治6年1月1日");
        assert_eq!(japanese_date(d(1872, 12, 31)), "1872-12-31", "before the Gregorian calendar: ISO");
    }

    proptest! {
        /// Day after day the era year never goes down except to 元年 of the next era, on that era's first day.
        #[test]
        fn the_era_year_steps_only_at_new_year_or_a_new_era(days in 0i64..60_000) {
            let a = d(1873, 1, 1) + Duration::days(days);
            let b = a + Duration::days(1);
            let (ea, ya) = era_year(a).unwrap();
            let (eb, yb) = era_year(b).unwrap();
            if ea == eb {
                prop_assert_eq!(yb - ya, i32::from(b.year() != a.year()));
            } else {
                prop_assert_eq!(yb, 1);
                prop_assert!(ERAS.iter().any(|(n, (y, m, dd))| *n == eb && d(*y, *m, *dd) == b));
            }
        }
    }
}
