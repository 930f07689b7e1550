//! 照合情報の登録, live (issue 18 "live progress for each capture"): while the daemon enrols, the page shows
//! each step as it happens — the actor's proof, capture k of n, each sample's quality, a refused sample and
//! why, the duplicate-identity check — from the daemon's progress frames, relayed as server-sent events
//! (`/enroll/progress?job=…`).
//!
//! The enrolment form carries a job number made when the page was rendered; the POST that runs the
//! enrolment and the page's event stream meet under (session, job), whichever comes first, so no step is
//! missed and a stream never shows an earlier enrolment's steps. Without the script the POST still answers
//! once at the end, with every capture in its outcome.
//!
//! The hub and the words are here; the stream itself is `enrol_events` (apart, so that the console's state
//! can hold the hub without the two modules importing each other, as `feed` and `live`).

use crate::i18n::Lang;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// One enrolment's steps so far, and whether its answer came.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Job {
    pub steps: Vec<Value>,
    pub done: bool,
}

/// The enrolment under way per session: at most one (a session's newer job replaces its older one).
#[derive(Default)]
pub struct Captures {
    jobs: Mutex<HashMap<String, (String, watch::Sender<Job>)>>,
}

/// A job number as the form carries it: 16 hex digits.
pub fn valid_job(job: &str) -> bool {
    job.len() == 16 && job.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A fresh job number for a form.
pub fn new_job() -> String {
    use rand::Rng;
    // A job number only pairs a page with its own POST inside one session; it guards nothing.
    hex::encode(rand::rng().random::<[u8; 8]>())
}

impl Captures {
    /// The channel of `job` in `session`, made if this is the first to ask (the POST or the stream).
    pub fn join(&self, session: &str, job: &str) -> watch::Sender<Job> {
        let mut g = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        match g.get(session) {
            Some((j, tx)) if j == job => tx.clone(),
            _ => {
                let tx = watch::Sender::new(Job::default());
                g.insert(session.to_string(), (job.to_string(), tx.clone()));
                tx
            }
        }
    }

    /// Forgets a session's job once its answer came and nobody watches it any more (the POST's end: a stream
    /// still to come would find nothing, so one that watches keeps it).
    pub fn forget(&self, session: &str, job: &str) {
        let mut g = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if g.get(session).is_some_and(|(j, tx)| j == job && tx.receiver_count() == 0) {
            g.remove(session);
        }
    }

    /// Forgets a session's job whose answer came and was sent (a stream's end).
    pub fn finished(&self, session: &str, job: &str) {
        let mut g = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        if g.get(session).is_some_and(|(j, tx)| j == job && tx.borrow().done) {
            g.remove(session);
        }
    }
}

/// A progress step as the page shows it, in the session's language; `class` says how it is coloured.
pub fn words(l: Lang, v: &Value) -> Option<(String, &'static str)> {
    let (n, of) = (v["n"].as_u64().unwrap_or(0), v["of"].as_u64().unwrap_or(0));
    let reader = v["reader"].as_str().unwrap_or("");
    let person = v["person"].as_str().unwrap_or("");
    let secs = v["timeout_s"].as_u64().unwrap_or(0);
    Some(match (v["step"].as_str()?, l) {
        ("proof", Lang::Ja) => {
            (format!("本人確認: {person} さん、読取装置 {reader} に指を置いてください（{secs} 秒）"), "waiting")
        }
        ("proof", Lang::En) => (format!("Proof: {person}, place your finger on {reader} ({secs} s)"), "waiting"),
        ("capture", _) => {
            let palm = v["modality"] == "palm";
            let text = match l {
                Lang::Ja => format!(
                    "採取 {n}/{of}: {person} さん、{}（{secs} 秒）",
                    if palm {
                        format!("手のひらを読取装置 {reader} にかざしてください")
                    } else {
                        format!("指を読取装置 {reader} に置いてください")
                    }
                ),
                Lang::En => format!(
                    "Capture {n}/{of}: {person}, {} {reader} ({secs} s)",
                    if palm { "hold the palm over" } else { "place the finger on" }
                ),
            };
            (text, "waiting")
        }
        ("sample", Lang::Ja) => (
            format!(
                "採取 {n}/{of}: 採用（品質 {}{}）",
                v["quality"],
                v["minutiae"].as_u64().map(|m| format!("、特徴点数 {m}")).unwrap_or_default()
            ),
            "ok",
        ),
        ("sample", Lang::En) => (
            format!(
                "Capture {n}/{of}: accepted (quality {}{})",
                v["quality"],
                v["minutiae"].as_u64().map(|m| format!(", {m} minutiae")).unwrap_or_default()
            ),
            "ok",
        ),
        ("refused", Lang::Ja) => (
            format!("採取 {n}/{of}: 不採用 — {}。もう一度登録してください。", v["reason"].as_str().unwrap_or("")),
            "refused",
        ),
        ("refused", Lang::En) => {
            (format!("Capture {n}/{of}: refused — {}. Enrol again.", v["reason"].as_str().unwrap_or("")), "refused")
        }
        ("duplicate-check", Lang::Ja) => {
            (format!("重複登録の検査: 登録済みの {} 件と照合しています（003 §15）", v["gallery"]), "waiting")
        }
        ("duplicate-check", Lang::En) => {
            (format!("Duplicate-identity check against {} enrolled templates (003 §15)", v["gallery"]), "waiting")
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_step_reads_in_both_languages() {
        let cap = json!({"step": "capture", "person": "tanaka", "reader": "t01-reader", "n": 2, "of": 3,
            "modality": "finger", "timeout_s": 15});
        assert_eq!(
            words(Lang::Ja, &cap).unwrap().0,
            "採取 2/3: tanaka さん、指を読取装置 t01-reader に置いてください（15 秒）"
        );
        let s = json!({"step": "sample", "n": 1, "of": 3, "quality": 81, "minutiae": 40});
        assert_eq!(words(Lang::Ja, &s).unwrap(), ("採取 1/3: 採用（品質 81、特徴点数 40）".into(), "ok"));
        assert_eq!(words(Lang::En, &s).unwrap().0, "Capture 1/3: accepted (quality 81, 40 minutiae)");
        let r = json!({"step": "refused", "n": 3, "of": 3, "reason": "too few minutiae"});
        let (t, c) = words(Lang::Ja, &r).unwrap();
        assert!(t.contains("不採用 — too few minutiae") && c == "refused", "{t}");
        assert!(words(Lang::Ja, &json!({"step": "something new"})).is_none(), "an unknown step is not shown");
    }

    #[test]
    fn a_page_and_its_post_meet_under_the_same_job_whoever_comes_first() {
        let c = Captures::default();
        let (a, b) = (new_job(), new_job());
        assert!(valid_job(&a) && a != b && !valid_job("../x"));
        let stream = c.join("s1", &a).subscribe();
        c.join("s1", &a).send_modify(|j| j.steps.push(json!({"step": "proof"})));
        assert_eq!(stream.borrow().steps.len(), 1, "the POST joined the stream's job");
        // A newer form's job replaces the older: its stream never shows the older steps.
        assert!(c.join("s1", &b).borrow().steps.is_empty());
        assert!(c.join("s2", &a).borrow().steps.is_empty(), "another session's job is its own");
        drop(stream);
        c.forget("s1", &b);
        assert!(c.join("s1", &b).borrow().steps.is_empty());
    }
}
