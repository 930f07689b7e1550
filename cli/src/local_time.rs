//! Times as people at the site read them (issue 22 §3): the daemon's answers carry RFC 3339 instants in UTC
//! (the JSON wire, `--json`, is unchanged); human output shows them in the site's zone, to the second,
//! without fractions or `Z`, and names the zone once in a heading.

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

/// The zone's name for the heading: JST for Japan's +09:00, otherwise the offset.
pub fn zone_name(off: FixedOffset) -> String {
    if off.local_minus_utc() == 9 * 3600 { "JST (UTC+09:00)".into() } else { format!("UTC{off}") }
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

/// `v` with every instant in it shown in the site's zone.
pub fn localise(v: &Value, off: FixedOffset) -> Value {
    match v {
        Value::String(s) => local(s, off).map(Value::String).unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(|x| localise(x, off)).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), localise(x, off))).collect()),
        other => other.clone(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(zone_name(jst), "JST (UTC+09:00)");
        assert_eq!(zone_name(parse_offset("-05:30").unwrap()), "UTC-05:30");
    }
}
