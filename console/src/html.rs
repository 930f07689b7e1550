//! Hand-written HTML: every value from the daemon or the user goes through [`esc`]; markup is only ever
//! written here and in `pages`. No template, no image of a biometric, no raw template bytes are ever
//! rendered: tables show only the columns a page names.

use chrono::{DateTime, FixedOffset};

/// Escapes text for an element's content or a quoted attribute.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// The articles a refusal cites (`003 §13(2)`, `003 §7(3), §13`), so the page can show them apart from
/// the reason.
pub fn articles(message: &str) -> Vec<String> {
    let chars: Vec<char> = message.chars().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        // NNN §…
        let starts = i + 4 < chars.len()
            && chars[i..i + 3].iter().all(char::is_ascii_digit)
            && (i == 0 || !chars[i - 1].is_ascii_digit())
            && chars[i + 3] == ' '
            && chars[i + 4] == '§';
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 5;
        loop {
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || "()-".contains(chars[j])) {
                j += 1;
            }
            // ", §14" continues the same regulation's list.
            if j + 2 < chars.len() && chars[j] == ',' && chars[j + 1] == ' ' && chars[j + 2] == '§' {
                j += 3;
                continue;
            }
            break;
        }
        let mut a: String = chars[i..j].iter().collect::<String>().trim_end_matches(['(', '-']).to_string();
        // A closing parenthesis of the sentence around the article is not part of it.
        while a.ends_with(')') && a.matches(')').count() > a.matches('(').count() {
            a.pop();
        }
        if !found.contains(&a) {
            found.push(a);
        }
        i = j;
    }
    found
}

/// A time from the daemon (RFC 3339) in the site's zone; anything else as it came.
pub fn local_time(s: &str, zone: FixedOffset) -> String {
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => s.to_string(),
    }
}

/// 和暦 for a Gregorian date at the start of a ledger cell, for printed ledgers: 2026-11-24 → 令和8年11月24日,
/// 2019-04-30 → 平成31年4月30日 (the one rule, `tobira_ledger::era`). The daemon writes the ledger's own dates in
/// the era when asked; this catches the times the console shows in the site's zone.
pub fn wareki(s: &str) -> String {
    let Some(day) = s.get(..10).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) else {
        return s.to_string();
    };
    format!("{}{}", tobira_ledger::era::japanese_date(day), &s[10..])
}

/// A JSON value as one cell's text: times in the site's zone, lists joined.
pub fn cell(v: &serde_json::Value, zone: FixedOffset) -> String {
    match v {
        serde_json::Value::String(s) => local_time(s, zone),
        serde_json::Value::Null => String::new(),
        serde_json::Value::Array(a) => a.iter().map(|x| cell(x, zone)).collect::<Vec<_>>().join(", "),
        other => tobira_ledger::table::cell(other),
    }
}

/// The end of a range (a grant's `until`) as people wrote it: `2027-03-31` for one ending at the next local
/// midnight, otherwise to the minute (`tobira_ledger::Style::through`, the CLI's rule too).
pub fn end_cell(v: &serde_json::Value, zone: FixedOffset) -> String {
    match v.as_str().map(DateTime::parse_from_rfc3339) {
        Some(Ok(t)) => tobira_ledger::Style::from(zone).through(t.with_timezone(&chrono::Utc)),
        _ => cell(v, zone),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_that_could_open_markup_is_escaped() {
        assert_eq!(esc("<script>\"a\"&'b'</script>"), "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;");
    }

    #[test]
    fn refusals_name_their_articles() {
        let m =
            "takahashi may not do this (003 §7(3), §13): a level 2 grant is issued by the data manager (003 §13(2))";
        assert_eq!(articles(m), vec!["003 §7(3), §13", "003 §13(2)"]);
        assert!(articles("no article here 12 §").is_empty());
        assert_eq!(articles("ended (任期満了, 004 §7): gone"), vec!["004 §7"]);
    }

    #[test]
    fn times_are_shown_in_the_sites_zone() {
        let jst = FixedOffset::east_opt(9 * 3600).unwrap();
        assert_eq!(local_time("2026-11-24T01:00:00Z", jst), "2026-11-24 10:00:00");
        assert_eq!(local_time("not a time", jst), "not a time");
        assert_eq!(end_cell(&"2027-03-31T15:00:00Z".into(), jst), "2027-03-31", "through the day it was given as");
        assert_eq!(end_cell(&"2026-11-24T08:00:00Z".into(), jst), "2026-11-24 17:00");
        assert_eq!(end_cell(&serde_json::Value::Null, jst), "");
    }

    #[test]
    fn reiwa_dates_for_printed_ledgers() {
        assert_eq!(wareki("2026-11-24 10:00"), "令和8年11月24日 10:00");
        assert_eq!(wareki("2019-05-01"), "令和元年5月1日");
        assert_eq!(wareki("2019-04-30"), "平成31年4月30日");
        assert_eq!(wareki("田中"), "田中");
    }
}
