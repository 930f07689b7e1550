//! Strangers at a door (issue 16 §2), driving the real `tobirad` on the simulated demo site: unidentified
//! attempts at a reader are throttled with a growing delay and, after the fifth in a row, raise one
//! incident for the security manager (003 §20); an attempt inside the delay is refused unmatched
//! (`READER_THROTTLED`); the enrolled person behind the strangers is still admitted once the delay passed,
//! and the decision says how long the reader had made them wait. Every attempt is on record.
//!
//! Time is the simulator's clock (`tobira sim clock`), set explicitly around each attempt, so the test
//! waits for no delay and asserts no timing.

use crate::common::{Running, text};

const DOOR: &str = "server-door";
const READER: &str = "server-in";

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

fn at(d: &Running, time: &str) {
    let o = d.tobira(&["sim", "clock", time]);
    assert!(o.status.success(), "sim clock: {}", text(&o));
}

/// `body`'s finger at the server room's entry reader; the door's decision.
fn present(d: &Running, body: &str) -> serde_json::Value {
    json(&d.tobira(&["--json", "sim", "present", READER, body]))
}

/// Audit events of a kind, read by the system administrator (who proves it with a finger at t02-reader).
fn events(d: &Running, kind: &str) -> Vec<serde_json::Value> {
    let o = d.act("takahashi", &["--json", "audit", "show", "--kind", kind]);
    assert!(o.status.success(), "audit show: {}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["kind"] == kind)
        .collect()
}

fn setup(dir: &std::path::Path) -> Running {
    let d = Running::start(dir);
    at(&d, "2026-11-24T10:00:00+09:00");
    d.staff(&[("suzuki", "data-manager"), ("tanaka", "operator")]);
    let o = d.act("suzuki", &["grant", "add", "tanaka", "--place", "zone:server-room"]);
    assert!(o.status.success(), "{}", text(&o));
    d
}

#[test]
fn six_strangers_are_throttled_alarmed_once_and_the_enrolled_person_is_admitted_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let d = setup(dir.path());

    // Six strangers in a row, each a minute after the last (past any delay, well inside the quiet period).
    // Between them, someone presents too early: refused unmatched, not counted.
    let mut throttled = 0;
    for i in 1..=6 {
        let t = format!("2026-11-24T10:{:02}:00+09:00", 10 + i);
        at(&d, &t);
        let v = present(&d, &format!("stranger-{i}"));
        assert_eq!(v["granted"], false, "stranger {i}: {v}");
        assert_eq!(v["reason"], "NOT_IDENTIFIED", "stranger {i} is matched (the delay had passed): {v}");
        if i >= 3 {
            // From the third unidentified attempt the reader imposes a delay (1 s, 2 s, 4 s, 8 s): an attempt
            // half a second before the last one's time is inside it. Even the enrolled person is refused,
            // and unmatched.
            at(&d, &format!("2026-11-24T10:{:02}:59.500+09:00", 9 + i));
            let body = if i == 6 { "tanaka" } else { "stranger-x" };
            let v = present(&d, body);
            assert_eq!(v["reason"], "READER_THROTTLED", "attempt right after stranger {i}: {v}");
            assert_eq!(v["granted"], false, "{v}");
            assert!(v["person"].is_null(), "a throttled attempt is never matched: {v}");
            assert_eq!(v["article"], "NIST SP 800-63B §5.2.2", "{v}");
            assert!(v["message"].as_str().unwrap_or("").contains("Next attempt in"), "told how long: {v}");
            throttled += 1;
        }
    }

    // The enrolled person, once the delay has passed: admitted, and the decision says what the reader had
    // imposed and how long it has been since the last stranger.
    at(&d, "2026-11-24T10:17:00+09:00");
    let v = present(&d, "tanaka");
    assert_eq!(v["granted"], true, "{v}");
    assert_eq!(v["person"], "tanaka", "{v}");

    // On record: every attempt (six strangers, the throttled ones, the admission), in order.
    let enters = events(&d, "door.enter");
    let reasons: Vec<&str> = enters
        .iter()
        .filter(|e| e["place"] == DOOR && e["details"]["reader"] == READER)
        .map(|e| e["reason"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        reasons,
        [
            "NOT_IDENTIFIED",
            "NOT_IDENTIFIED",
            "NOT_IDENTIFIED",
            "READER_THROTTLED",
            "NOT_IDENTIFIED",
            "READER_THROTTLED",
            "NOT_IDENTIFIED",
            "READER_THROTTLED",
            "NOT_IDENTIFIED",
            "READER_THROTTLED",
            "GRANT_VALID",
        ],
        "{enters:?}"
    );
    assert_eq!(throttled, 4);
    let strangers: Vec<&serde_json::Value> = enters.iter().filter(|e| e["reason"] == "NOT_IDENTIFIED").collect();
    let counts: Vec<i64> =
        strangers.iter().map(|e| e["details"]["reader_run"]["unidentified_in_a_row"].as_i64().unwrap_or(-1)).collect();
    assert_eq!(counts, [1, 2, 3, 4, 5, 6], "throttled attempts are not counted");
    let delays: Vec<i64> =
        strangers.iter().map(|e| e["details"]["reader_run"]["delay_s"].as_i64().unwrap_or(-1)).collect();
    assert_eq!(delays, [0, 0, 1, 2, 4, 8], "three free, then 1 s, 2 s, 4 s, 8 s (SP 800-63B §5.2.2 in spirit)");
    let throttles: Vec<&serde_json::Value> = enters.iter().filter(|e| e["reason"] == "READER_THROTTLED").collect();
    for e in &throttles {
        assert!(e["details"]["reader_run"]["retry_after_s"].as_i64().unwrap_or(0) >= 1, "told how long: {e}");
    }
    assert!(throttles.iter().all(|e| e["subject"].is_null() && e["score"].is_null()), "never matched");
    let granted = enters.last().unwrap();
    let run = &granted["details"]["reader_run"];
    assert_eq!(run["ended_after_unidentified"], 6, "{granted}");
    assert_eq!(run["throttle_delay_s"], 8, "the delay the sixth stranger imposed: {granted}");
    // Set about a minute after the sixth stranger's time (the clock runs on between commands).
    let waited = run["waited_ms"].as_i64().unwrap_or(0);
    assert!((8_000..=61_000).contains(&waited), "since the sixth stranger, past the delay: {granted}");
    assert_eq!(run["alarmed"], true, "{granted}");

    // One incident, raised by the fifth stranger, with the reader and the run's times (003 §20).
    let incidents = events(&d, "reader.alarm");
    assert_eq!(incidents.len(), 1, "once per run, not a storm: {incidents:?}");
    let a = &incidents[0];
    assert_eq!(a["reason"], "REPEATED_UNIDENTIFIED");
    assert_eq!(a["outcome"], "alarm", "{a}");
    assert_eq!(a["details"]["reader"], READER);
    assert_eq!(a["details"]["attempts"], 5);
    assert_eq!(a["place"], DOOR);
    let first = a["details"]["first"].as_str().unwrap_or("");
    let last = a["details"]["last"].as_str().unwrap_or("");
    // The simulated clock runs on between `at` and the presentation (seconds on a loaded machine; a CI run
    // beside a fuzzer once took 1.3 s), but never into the next stranger's minute.
    let within_its_minute = |t: &str, minute: &str| {
        let (t, m) = (chrono::DateTime::parse_from_rfc3339(t), chrono::DateTime::parse_from_rfc3339(minute));
        matches!((t, m), (Ok(t), Ok(m)) if (0..50_000).contains(&(t - m).num_milliseconds()))
    };
    assert!(within_its_minute(first, "2026-11-24T01:11:00Z"), "the first stranger's time: {a}");
    assert!(within_its_minute(last, "2026-11-24T01:15:00Z"), "the fifth stranger's time: {a}");
    assert_eq!(a["details"]["decision"], strangers[4]["seq"], "raised by the fifth stranger's decision: {a}");
    let alarms = text(&d.act("takahashi", &["--json", "alarms"]));
    assert_eq!(alarms.matches("REPEATED_UNIDENTIFIED").count(), 1, "`tobira alarms` shows it once: {alarms}");
    assert!(alarms.contains(DOOR), "{alarms}");
}

#[test]
fn an_identification_ends_the_run_and_the_next_strangers_start_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = setup(dir.path());
    for i in 1..=4 {
        at(&d, &format!("2026-11-24T10:{:02}:00+09:00", 10 + i));
        assert_eq!(present(&d, &format!("stranger-{i}"))["reason"], "NOT_IDENTIFIED");
    }
    at(&d, "2026-11-24T10:15:00+09:00");
    let v = present(&d, "tanaka");
    assert_eq!(v["granted"], true, "{v}");
    // The run ended: three more strangers are free again and none of this raised an incident.
    for i in 5..=7 {
        at(&d, &format!("2026-11-24T10:{:02}:00+09:00", 11 + i));
        assert_eq!(present(&d, &format!("stranger-{i}"))["reason"], "NOT_IDENTIFIED");
    }
    let enters = events(&d, "door.enter");
    let counts: Vec<i64> = enters
        .iter()
        .filter(|e| e["reason"] == "NOT_IDENTIFIED")
        .map(|e| e["details"]["reader_run"]["unidentified_in_a_row"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(counts, [1, 2, 3, 4, 1, 2, 3]);
    assert!(events(&d, "reader.alarm").is_empty(), "four in a row is not five");
}

/// `body`'s finger number `finger` at the server room's entry reader; the door's answer.
fn present_finger(d: &Running, body: &str, finger: &str) -> serde_json::Value {
    json(&d.tobira(&["--json", "sim", "present", READER, body, "--finger", finger]))
}

/// Issue 16 §2 (for Level 3 rooms; 003 §13): a `two-biometrics` door opens only for two different enrolled
/// fingers of one person within the window. The first is audited (`SECOND_SAMPLE_REQUIRED`) and opens nothing;
/// the same finger again is `SAME_SAMPLE_TWICE` and leaves the first standing; a stranger's finger after a
/// genuine first is refused and counted like a stranger's; a second finger after the window starts again.
#[test]
fn a_two_biometrics_door_opens_for_two_different_fingers_of_one_person_only() {
    let dir = tempfile::tempdir().unwrap();
    let stanza = "rex = true                        # a request-to-exit button inside";
    assert!(crate::common::demo_site().contains(stanza), "the demo's server-door stanza changed; update this test");
    let site = crate::common::demo_site().replacen(stanza, "rex = true\nauth = \"two-biometrics\"", 1);
    let d = Running::start_with(dir.path(), &site, &[]);
    at(&d, "2026-11-24T10:00:00+09:00");
    d.staff(&[("suzuki", "data-manager"), ("tanaka", "operator")]);
    // tanaka's second finger (3), enrolled as its own template.
    for _ in 0..3 {
        let o = d.tobira(&["sim", "present", "t01-reader", "tanaka", "--finger", "3"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = d.act("takahashi", &["enroll", "tanaka", "--reader", "t01-reader", "--finger", "3"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = d.act("suzuki", &["grant", "add", "tanaka", "--place", "zone:server-room"]);
    assert!(o.status.success(), "{}", text(&o));

    // One finger opens nothing: the person is asked for another. (The simulator's clock runs on from where it
    // was set: the set-up above took a few seconds of it, so the attempts start later.)
    at(&d, "2026-11-24T10:10:00+09:00");
    let r = present_finger(&d, "tanaka", "2");
    assert_eq!((r["granted"].as_bool(), r["reason"].as_str()), (Some(false), Some("SECOND_SAMPLE_REQUIRED")), "{r}");
    assert_eq!(r["person"], "tanaka");
    // The same finger again: said so, not a stranger's attempt, and the first still stands.
    at(&d, "2026-11-24T10:10:03+09:00");
    let r = present_finger(&d, "tanaka", "2");
    assert_eq!(r["reason"], "SAME_SAMPLE_TWICE", "{r}");
    at(&d, "2026-11-24T10:10:05+09:00");
    let r = present_finger(&d, "tanaka", "3");
    assert_eq!((r["granted"].as_bool(), r["reason"].as_str()), (Some(true), Some("GRANT_VALID")), "{r}");
    assert_eq!(r["person"], "tanaka");

    // A genuine first finger, then a stranger's: refused as a stranger's attempt, naming whom the first claimed.
    at(&d, "2026-11-24T10:11:00+09:00");
    assert_eq!(present_finger(&d, "tanaka", "3")["reason"], "SECOND_SAMPLE_REQUIRED");
    let r = present_finger(&d, "stranger-1", "2");
    assert_eq!((r["granted"].as_bool(), r["reason"].as_str()), (Some(false), Some("NOT_IDENTIFIED")), "{r}");
    // The claim ended with the refusal: the next genuine finger is a first sample again.
    assert_eq!(present_finger(&d, "tanaka", "2")["reason"], "SECOND_SAMPLE_REQUIRED");
    // Too late for the second (the window is capture_timeout_s): it starts again as a first sample.
    at(&d, "2026-11-24T10:15:00+09:00");
    assert_eq!(present_finger(&d, "tanaka", "3")["reason"], "SECOND_SAMPLE_REQUIRED");

    let enters = events(&d, "door.enter");
    let refused: Vec<_> = enters.iter().filter(|e| e["reason"] == "NOT_IDENTIFIED").collect();
    assert_eq!(refused.len(), 1, "{enters:?}");
    assert_eq!(refused[0]["details"]["first_sample_claims"], "tanaka");
    assert_eq!(refused[0]["details"]["reader_run"]["unidentified_in_a_row"], 1, "counted as a stranger's attempt");
    assert_eq!(enters.iter().filter(|e| e["reason"] == "GRANT_VALID").count(), 1, "one entry: {enters:?}");
    assert_eq!(events(&d, "door.first_sample").len(), 4);
    let same = events(&d, "door.second_sample");
    assert_eq!(same.len(), 1);
    assert_eq!(same[0]["reason"], "SAME_SAMPLE_TWICE");
    assert_eq!(same[0]["outcome"], "info", "a step on the way in, not a refusal");
}

/// Issue 16 §2: restarting the daemon does not reset a stranger's run — the delay still holds after the
/// restart, the count goes on, and the fifth attempt raises the incident as it would have without it.
#[test]
fn a_restart_does_not_reset_a_strangers_delay_or_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = setup(dir.path());
    for i in 1..=4 {
        at(&d, &format!("2026-11-24T10:{:02}:00+09:00", 10 + i));
        let v = present(&d, &format!("stranger-{i}"));
        assert_eq!(v["reason"], "NOT_IDENTIFIED", "stranger {i}: {v}");
    }
    // The fourth imposed 2 s (until 10:14:02). Restart the daemon inside that delay.
    assert!(d.stop().success());
    assert!(dir.path().join("data").join("reader-throttle.json").exists(), "the runs are kept on disk");
    let d = Running::start(dir.path());
    at(&d, "2026-11-24T10:14:01+09:00");
    let v = present(&d, "tanaka");
    assert_eq!(v["reason"], "READER_THROTTLED", "the restart reset the delay: {v}");
    at(&d, "2026-11-24T10:15:00+09:00");
    let v = present(&d, "stranger-5");
    assert_eq!(v["reason"], "NOT_IDENTIFIED", "{v}");
    let last = events(&d, "door.enter").into_iter().last().unwrap();
    assert_eq!(last["details"]["reader_run"]["unidentified_in_a_row"], 5, "the count went on: {last}");
    let alarms = events(&d, "reader.alarm");
    assert_eq!(alarms.len(), 1, "the fifth in a row raised the incident across the restart: {alarms:?}");
    assert_eq!(alarms[0]["details"]["attempts"], 5);
}
