//! The crash loop (issue 15, "a fault harness"), a few rounds of it: `tobira-bench crash` starts the real
//! `tobirad --simulation`, drives door decisions and PAM-style logins at once, kills the daemon with SIGKILL
//! during start-up, under load or in the middle of a key rotation (001 §15(4)), restarts it, and after every
//! kill checks that each decision a client was told about is in the audit store (a reported grant with its
//! acknowledged strike, 003 §13) and that `tobira audit verify` against the pinned key is intact (003 §17).
//! The bench prints its figures; this test reads its `crash-figures:` line. `tobira-bench crash --runs 1000`
//! is the long run (README "Performance").

use crate::common::{Bin, text};
use std::collections::HashMap;
use std::process::Command;

const TOBIRA_BENCH: Bin = Bin("tobira-bench");

fn figures(out: &str) -> HashMap<String, u64> {
    let line =
        out.lines().find_map(|l| l.strip_prefix("crash-figures:")).unwrap_or_else(|| panic!("no figures: {out}"));
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

#[test]
fn killed_at_random_moments_the_daemon_restarts_and_loses_no_acknowledged_decision() {
    // A fixed seed, so a failure here replays with `tobira-bench crash --runs 8 --seed 1515`; enough runs that
    // every kind of moment comes up (the seed's draw: start-up, load and key rotation).
    let o =
        Command::new(TOBIRA_BENCH).args(["crash", "--runs", "8", "--seed", "1515", "--people", "20"]).output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    eprintln!("{out}");
    let f = figures(&out);
    assert_eq!(f["runs"], 8, "{out}");
    // Each run killed under load or in a rotation (6 of this seed's 8) was killed only after an answer of its
    // own was acknowledged, so the kills land on a daemon with decisions in flight, whatever the machine's speed.
    assert_eq!(f["idle_runs"], 0, "every loaded run had answers acknowledged before its kill: {out}");
    assert!(f["acknowledged"] >= 6, "the loop drove decisions: {out}");
    assert_eq!(f["lost"], 0, "every acknowledged decision is on record: {out}");
    assert_eq!(f["failed_starts"], 0, "{out}");
    assert_eq!(f["verify_failures"], 0, "the chain verifies after every kill: {out}");
    for moment in ["during start-up", "during load", "during key rotation"] {
        assert!(!out.contains(&format!(" 0 {moment}")), "the seed exercises a kill {moment}: {out}");
    }
}
