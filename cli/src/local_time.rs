//! Times as people at the site read them (issue 22 §3): the daemon's answers carry RFC 3339 instants in UTC
//! (the JSON wire, `--json`, is unchanged); human output shows them in the site's zone, to the second,
//! without fractions or `Z`, and names the zone once in a heading.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// The zone's name for the heading: JST for Japan's +09:00, otherwise the offset.
pub fn zone_name(off: FixedOffset) -> String {
    tobira_ledger::zone_name(off)
}

/// A string that is an RFC 3339 instant (with a date and a time), shown in `off` as `YYYY-MM-DD HH:MM:SS`.
pub fn local(s: &str, off: FixedOffset) -> Option<String> {
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    Some(t.with_timezone(&off).format("%Y-%m-%d %H:%M:%S").to_string())
}

/// Whether `v` holds any instant [`local`] would rewrite.
pub fn has_times(v: &Value) -> bool {
    match v {
        Value::String(s) => DateTime::parse_from_rfc3339(s).is_ok() && s.as_bytes().get(10) == Some(&b'T'),
        Value::Array(a) => a.iter().any(has_times),
        Value::Object(o) => o.values().any(has_times),
        _ => false,
    }
}

/// `v` with every instant in it shown in the site's zone. An `until` is the end of a range and reads as
/// people wrote it (`tobira_ledger::Style::through`, the one rule): `--until 2027-03-31` ends at the next
/// local midnight and is shown as `2027-03-31`, not `2027-04-01 00:00:00`; any other end to the minute.
pub fn localise(v: &Value, off: FixedOffset) -> Value {
    match v {
        Value::String(s) => local(s, off).map(Value::String).unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(|x| localise(x, off)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let end = (k == "until").then(|| end_of_range(x, off)).flatten();
                    (k.clone(), end.unwrap_or_else(|| localise(x, off)))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// An instant that ends a range, as [`localise`] shows it; `None` for anything else.
fn end_of_range(v: &Value, off: FixedOffset) -> Option<Value> {
    let s = v.as_str().filter(|s| s.as_bytes().get(10) == Some(&b'T'))?;
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    Some(Value::String(tobira_ledger::Style::from(off).through(t.with_timezone(&chrono::Utc))))
}

/// Parses the offset `tobira status` reports (`"+09:00"`).
pub fn parse_offset(s: &str) -> Option<FixedOffset> {
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = s.get(1..)?.split_once(':')?;
    let secs = h.parse::<i32>().ok()? * 3600 + m.parse::<i32>().ok()? * 60;
    FixedOffset::east_opt(sign * secs)
}

/// The site's zone, as the daemon reports it (`tobira status`).
pub fn site_offset(c: &crate::client::Client) -> Option<FixedOffset> {
    c.call(tobira_proto::Request::Status).ok().and_then(|s| s["utc_offset"].as_str().and_then(parse_offset))
}

/// For human output: `v` with its instants in the site's zone (asked of the daemon once), after a heading
/// naming the zone. Unchanged when it holds no instant or the daemon does not say its offset.
pub fn for_people(c: &crate::client::Client, v: &Value) -> Value {
    if !has_times(v) {
        return v.clone();
    }
    let off = c.call(tobira_proto::Request::Status).ok().and_then(|s| s["utc_offset"].as_str().and_then(parse_offset));
    match off {
        Some(off) => {
            println!("(times in {})", zone_name(off));
            localise(v, off)
        }
        None => v.clone(),
    }
}

/// The machine forms of an instant in `text`, which a person must never be shown (issue 22 "Times"): an
/// RFC 3339 `2026-11-24T01:05:00Z` (any `DATE'T'TIME`, with or without fraction or offset) and chrono's
/// `2026-11-24 01:05:00.123 UTC`. Every human output is checked with this in the tests, so a regression
/// (a stored UTC text reaching a table, a message or a printed page) fails.
pub fn machine_times(text: &str) -> Vec<String> {
    machine_time_spans(text).into_iter().filter_map(|(i, j)| text.get(i..j).map(String::from)).collect()
}

/// A sentence from a library that writes instants as stored (`… printed on a ledger at
/// 2026-11-24T01:00:00.978Z …`) with each of them local and its zone named (`2026-11-24 10:00:00 JST`).
pub fn localise_text(text: &str, off: FixedOffset) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, j) in machine_time_spans(text) {
        let Some(t) = text.get(i..j).and_then(|t| DateTime::parse_from_rfc3339(t).ok()) else { continue };
        out.push_str(text.get(last..i).unwrap_or_default());
        out.push_str(&tobira_ledger::local_stamp(t.with_timezone(&chrono::Utc), off));
        last = j;
    }
    out.push_str(text.get(last..).unwrap_or_default());
    out
}

/// The site's zone from its site file (for commands that read the stores, not the daemon); `None` when the
/// file cannot be read, and the caller shows what it has.
pub fn offset_of_site_file(config: &std::path::Path) -> Option<FixedOffset> {
    let text = std::fs::read_to_string(config).ok()?;
    tobira_core::site::parse_site(&config.display().to_string(), &text).ok().map(|s| s.utc_offset)
}

/// Where [`machine_times`] are in `text`, as byte ranges.
fn machine_time_spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let digits = |at: usize, n: usize| b.get(at..at + n).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    // `YYYY-MM-DD?HH:MM` starting at `i`, with `sep` between date and time.
    let stamp = |i: usize, sep: u8| {
        digits(i, 4)
            && b.get(i + 4) == Some(&b'-')
            && digits(i + 5, 2)
            && b.get(i + 7) == Some(&b'-')
            && digits(i + 8, 2)
            && b.get(i + 10) == Some(&sep)
            && digits(i + 11, 2)
            && b.get(i + 13) == Some(&b':')
            && digits(i + 14, 2)
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i + 16 <= b.len() {
        if i > 0 && b[i - 1].is_ascii_digit() {
            i += 1;
            continue;
        }
        let rfc = stamp(i, b'T');
        let chrono_utc = stamp(i, b' ') && {
            let mut j = i + 16;
            while j < b.len() && (b[j].is_ascii_digit() || b[j] == b':' || b[j] == b'.') {
                j += 1;
            }
            text.get(j..).is_some_and(|t| t.starts_with(" UTC") && !t.starts_with(" UTC+") && !t.starts_with(" UTC-"))
        };
        if rfc || chrono_utc {
            let mut j = i + 16;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b":.+-".contains(&b[j])) {
                j += 1;
            }
            // A sentence's full stop is not part of the time.
            while j > i + 16 && b":.+-".contains(&b[j - 1]) {
                j -= 1;
            }
            if chrono_utc {
                j += 4;
            }
            found.push((i, j.min(b.len())));
            i = j;
        } else {
            i += 1;
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_librarys_sentence_is_shown_with_local_times() {
        let jst = parse_offset("+09:00").unwrap();
        assert_eq!(
            localise_text("extends the head printed on a ledger at 2026-11-24T01:00:00.978447648Z (15 events)", jst),
            "extends the head printed on a ledger at 2026-11-24 10:00:00 JST (15 events)"
        );
        assert_eq!(localise_text("no time here", jst), "no time here");
    }

    #[test]
    fn machine_times_are_found_wherever_they_hide() {
        assert_eq!(machine_times("until: 2027-03-30T15:00:00Z."), vec!["2027-03-30T15:00:00Z"]);
        assert_eq!(machine_times("at 2026-11-24T01:02:03.123456789Z by x"), vec!["2026-11-24T01:02:03.123456789Z"]);
        assert_eq!(machine_times("from=2026-11-24T10:00+09:00"), vec!["2026-11-24T10:00+09:00"]);
        assert_eq!(
            machine_times("locked until 2026-11-24 01:05:00.123 UTC after"),
            vec!["2026-11-24 01:05:00.123 UTC"]
        );
        assert!(machine_times("2026-11-24 10:05:00 JST, 令和8年11月24日 10:05, (times in JST (UTC+09:00))").is_empty());
        assert!(machine_times("2026-11-24 10:05 UTC+05:30 and 2026-11-24").is_empty());
    }

    #[test]
    fn utc_instants_are_shown_in_the_sites_zone_without_fractions_or_z() {
        let jst = parse_offset("+09:00").unwrap();
        assert_eq!(local("2027-03-30T15:00:00Z", jst).as_deref(), Some("2027-03-31 00:00:00"));
        assert_eq!(local("2026-11-24T01:02:03.123456789Z", jst).as_deref(), Some("2026-11-24 10:02:03"));
        assert_eq!(local("2026-11-24", jst), None, "a date stays a date");
        assert_eq!(local("takahashi", jst), None);
        let v = serde_json::json!([{"time": "2027-03-30T15:00:00Z", "who": "ito"}]);
        assert!(has_times(&v));
        assert_eq!(localise(&v, jst)[0]["time"], "2027-03-31 00:00:00");
        assert_eq!(localise(&v, jst)[0]["who"], "ito");
        // An end reads as it was typed: through the day before a local midnight, else to the minute.
        let g = serde_json::json!({"until": "2027-03-31T15:00:00Z", "from": "2026-11-24T01:00:00Z"});
        assert_eq!(localise(&g, jst)["until"], "2027-03-31");
        assert_eq!(localise(&g, jst)["from"], "2026-11-24 10:00:00");
        let g = serde_json::json!({"params": {"until": "2026-11-24T08:00:00Z"}});
        assert_eq!(localise(&g, jst)["params"]["until"], "2026-11-24 17:00");
        assert_eq!(zone_name(jst), "JST (UTC+09:00)");
        assert_eq!(zone_name(parse_offset("-05:30").unwrap()), "UTC-05:30");
    }
}
