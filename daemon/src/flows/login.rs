//! Terminal login (DESIGN "Terminal login"): policy before any capture, then a 1:1 verification on the
//! terminal's own reader, the audit event durable, and only then the answer.
//!
//! The PAM module (a later issue) reaches this same function through the login socket; until then the
//! control socket's `login` request and the demo use it.

use crate::node::clock::Clock;
use crate::node::daemon::{Daemon, Devices, Matcher, decision_event, report};
use crate::node::live::Live;
use crate::node::recorder::Recorder;
use crate::store::RegistryStore;
use std::sync::Arc;
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};
use tobira_core::ids::{PersonId, TerminalId};
use tobira_core::policy::{Decision, Reason, Request};
use tobira_core::site::Site;
use tobira_drivers::Feedback;
use tobira_proto::{DecisionReport, LoginMessage};

/// Where the login flow's messages for the person go: the PAM conversation, or nowhere (demo, control socket).
pub struct Notes {
    tx: Option<tokio::sync::mpsc::UnboundedSender<LoginMessage>>,
}

impl Notes {
    pub fn none() -> Notes {
        Notes { tx: None }
    }

    pub fn to(tx: tokio::sync::mpsc::UnboundedSender<LoginMessage>) -> Notes {
        Notes { tx: Some(tx) }
    }

    pub fn info(&self, text: String) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(LoginMessage::Info { text });
        }
    }

    pub fn error(&self, text: String) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(LoginMessage::Error { text });
        }
    }
}

/// A login's answer: the decision as typed (for PAM's outcome, `sockets::login::outcome_for`) and as reported.
pub struct LoginResult {
    pub granted: bool,
    pub reason: Reason,
    pub report: DecisionReport,
}

/// What the login flow holds (issue 20): the recorder, the live state, the matcher, the clock, the site, the
/// registry store (lockouts are kept there) and the devices (the terminals' readers, the simulated ones) —
/// never the whole `Daemon`. Cheap to clone: a login socket's connection takes its own.
#[derive(Clone)]
pub struct Login {
    pub recorder: Arc<Recorder>,
    pub live: Arc<Live>,
    pub matcher: Arc<Matcher>,
    pub clock: Arc<Clock>,
    pub site: Arc<Site>,
    pub store: Arc<RegistryStore>,
    pub devices: Arc<Devices>,
}

impl Daemon {
    /// The login flow's handles.
    pub fn login_flow(&self) -> Login {
        Login {
            recorder: self.recorder.clone(),
            live: self.live.clone(),
            matcher: self.matcher.clone(),
            clock: self.clock.clone(),
            site: self.site.clone(),
            store: self.stores.registry.clone(),
            devices: self.devices.clone(),
        }
    }

    pub async fn login(&self, terminal: &str, user: &str, remote: bool) -> DecisionReport {
        self.login_flow().login_with(terminal, user, remote, &Notes::none()).await.report
    }

    /// Keeps a lockout entry for the actor's proof and the administrators' unlock, as the login flow does.
    pub async fn persist_lockout(&self, key: &(PersonId, tobira_core::ids::ReaderId)) {
        persist_lockout(&self.live, &self.stores.registry, key).await
    }
}

/// Keeps a lockout entry in the registry store: a restart does not forget a person's failures.
async fn persist_lockout(live: &Live, store: &RegistryStore, key: &(PersonId, tobira_core::ids::ReaderId)) {
    let json = {
        let sh = live.shared();
        serde_json::to_string(&sh.lockout.entry(key)).unwrap_or_default()
    };
    if let Err(e) = store.save_lockout(key.0.as_str(), key.1.as_str(), &json).await {
        tracing::warn!(error = %e, "could not persist lockout state");
    }
}

impl Login {
    /// The login flow, telling the person what happens through `notes` (the PAM conversation).
    pub async fn login_with(&self, terminal: &str, user: &str, remote: bool, notes: &Notes) -> LoginResult {
        let now = self.clock.now();
        let tid = TerminalId::new(terminal);
        let pid = PersonId::new(user);
        let Some(term) = self.site.terminal(&tid).cloned() else {
            let d = Decision::deny(Reason::UnknownTerminal);
            return self.finish_login(&pid, terminal, d, None, serde_json::json!({})).await;
        };
        let req = Request::Login { terminal: tid.clone(), person: pid.clone(), remote };
        // Policy first: no capture for someone who may not log in here anyway (grant, hours, lockout).
        let pre = self.live.decide(&req, now);
        if !pre.is_granted() {
            notes.error(pre.reason.to_string());
            return self.finish_login(&pid, terminal, pre, None, serde_json::json!({"stage": "before-capture"})).await;
        }
        let Some(reader) = self.devices.readers.get(&term.reader).cloned() else {
            let d = Decision::deny(Reason::UnknownTerminal);
            return self.finish_login(&pid, terminal, d, None, serde_json::json!({})).await;
        };
        // The prompt says what this terminal's reader reads: a finger, or a palm (000 §9 names palm vein).
        let prompt = crate::flows::actor::place_prompt(reader.modality());
        let _ = reader.feedback(Feedback::Prompt(prompt.into())).await;
        let timeout = Duration::from_secs(u64::from(self.site.timeouts.capture_timeout_s));
        // Who, where, finger or palm, how many, how long (issue 22 §4).
        notes.info(crate::flows::prompts::capture(
            user,
            term.reader.as_str(),
            reader.modality(),
            None,
            1,
            1,
            timeout.as_secs(),
        ));
        let sample = match tokio::time::timeout(timeout, reader.next_sample()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let d = Decision::deny(Reason::NotIdentified);
                return self
                    .finish_login(&pid, terminal, d, None, serde_json::json!({"device_error": e.to_string()}))
                    .await;
            }
            Err(_) => {
                // Nobody placed anything: its own reason, never a failed match, and no lockout (issue 22 §4).
                let d = Decision::deny(Reason::NoSample);
                notes.error(format!("{user}: {}", Reason::NoSample));
                return self
                    .finish_login(&pid, terminal, d, None, serde_json::json!({"timeout_s": timeout.as_secs()}))
                    .await;
            }
        };
        let modality = crate::flows::identify::modality(&sample);
        let (matched, score, cohort) = match self.matcher.verify_detail(reader.modality(), &sample, &pid) {
            Ok(v) => (v.matched, v.score, v.cohort),
            Err(e) => {
                let d = Decision::deny(Reason::NotIdentified);
                notes.error(format!("The sample was refused: {e}"));
                let details = serde_json::json!({"sample": e.to_string(), "modality": modality});
                return self.finish_login(&pid, terminal, d, None, details).await;
            }
        };
        let key = (pid.clone(), term.reader.clone());
        if !matched {
            let outcome = {
                let mut sh = self.live.shared();
                sh.lockout.record_failure(key.clone(), now, &self.site.lockout)
            };
            self.persist_lockout(&key).await;
            let d = Decision::deny(Reason::NotIdentified);
            let mut details = serde_json::json!({"remaining_tries": outcome.remaining_tries, "locked_until": outcome.locked_until, "modality": modality});
            // A palm over the score table refused by the cohort check (issue 17 §3): the record says so.
            if let Some(c) = cohort.filter(|c| !c.passes()) {
                details["cohort_check"] = crate::flows::identify::cohort_check_details(&c);
            }
            match outcome.locked_until {
                Some(until) => notes.error(format!(
                    "Not recognised. Locked for {} s after repeated failures (NIST SP 800-63B).",
                    (until - now).num_seconds()
                )),
                None => notes.error(format!("Not recognised, {} tries left", outcome.remaining_tries)),
            }
            if let Some(until) = outcome.locked_until {
                // Repeated biometric failures are an incident for the security manager (003 §20).
                let _ = self
                    .recorder
                    .record(
                        NewEvent::new(now, "login.lockout", Outcome::Alarm, "LOCKED_OUT")
                            .actor(pid.as_str())
                            .subject(pid.as_str())
                            .place(terminal)
                            .article("NIST SP 800-63B §5.2.2")
                            .details(serde_json::json!({"reader": term.reader.as_str(), "locked_until": until})),
                    )
                    .await;
            }
            return self.finish_login(&pid, terminal, d, Some(score), details).await;
        }
        {
            let mut sh = self.live.shared();
            sh.lockout.record_success(&key);
        }
        self.persist_lockout(&key).await;
        // Decide again at the moment of the answer: time moved while the person placed their finger.
        let final_decision = self.live.decide(&req, self.clock.now());
        self.finish_login(&pid, terminal, final_decision, Some(score), serde_json::json!({"modality": modality})).await
    }

    async fn finish_login(
        &self,
        pid: &PersonId,
        terminal: &str,
        d: Decision,
        score: Option<f32>,
        details: serde_json::Value,
    ) -> LoginResult {
        let kind = if d.is_granted() { "login.success" } else { "login.failure" };
        let ev = decision_event(kind, self.clock.now(), Some(pid), terminal, &d, score, details);
        let (d, seq) = match self.recorder.record(ev).await {
            Ok(r) => (d, Some(r.seq)),
            // The login is refused if it cannot be recorded (000 §9: the operation history is mandatory).
            Err(_) => (crate::node::daemon::audit_unavailable(), None),
        };
        let r = report(Some(pid), terminal, &d, score, seq);
        self.recorder.publish(r.clone());
        // Simulation: a refused or timed-out login leaves no touch at the terminal's reader for the next
        // person's login to read as theirs (issue 22 §5).
        if let (false, Some(sim), Some(t)) =
            (d.is_granted(), &self.devices.sim, self.site.terminal(&TerminalId::new(terminal)))
        {
            sim.forget_touches(&[t.reader.to_string()]).await;
        }
        LoginResult { granted: d.is_granted(), reason: d.reason, report: r }
    }

    async fn persist_lockout(&self, key: &(PersonId, tobira_core::ids::ReaderId)) {
        persist_lockout(&self.live, &self.store, key).await
    }
}
