//! The `two-biometrics` door (issue 16 §2; for Level 3 rooms, 003 §13): the first sample identifies 1:N among
//! the people allowed, as at every door, and opens nothing; a second sample of a *different* enrolled finger
//! (or the other hand) must follow within `capture_timeout_s` and is compared 1:1 with that person's other
//! templates only. Then the policy decides, as at every door. A stranger must therefore pass two comparisons
//! of two different fingers of one person; a lent finger (or a print of it) is not enough.
//!
//! The pure rule is `tobira_core::authmode` (the claim, its window, "not the same template"); this is its
//! edge. The first sample is audited (`door.first_sample`, `SECOND_SAMPLE_REQUIRED`) and the person told to
//! place another finger; the same finger again is audited (`SAME_SAMPLE_TWICE`), does not count as a
//! stranger's attempt and leaves the first standing; a second sample that is not the person's is a refusal
//! like a stranger's (`NOT_IDENTIFIED`, counted at the reader).

use super::{DoorTask, Side};
use crate::flows::identify::{Identified, Verified};
use crate::node::daemon::{decision_event, report};
use tobira_biometrics::Sample;
use tobira_core::authmode::{AuthMode, Outcome as AuthOutcome, Step};
use tobira_core::ids::{PersonId, ReaderId};
use tobira_core::policy::{Decision, Reason};
use tobira_drivers::{Feedback, Modality};

/// What a two-biometrics door made of an entry sample, for `on_sample`.
pub(super) enum TwoStep {
    /// Both samples are the person's: the policy decides for them now.
    Complete { person: PersonId, score: f32 },
    /// Handled here (a first sample, or the same finger again): nothing more to decide.
    Answered,
    /// Not identified as someone allowed (first sample), or not the claimed person (second): decided by the
    /// caller as at a biometric door; `claimed` names whom the first sample identified.
    Unmatched { identified: Identified, claimed: Option<PersonId> },
}

impl DoorTask {
    fn two_door(&self) -> bool {
        self.cfg.auth == AuthMode::TwoBiometrics
    }

    /// An entry sample at a two-biometrics door; `None` at any other door or side.
    pub(super) async fn two_sample(
        &mut self,
        side: Side,
        reader: &str,
        modality: Modality,
        sample: &Sample,
    ) -> Option<TwoStep> {
        if side != Side::Entry || !self.two_door() {
            return None;
        }
        let now = self.clock.now();
        let window = self.site.timeouts.capture_timeout_s;
        Some(match self.auth.on_sample(AuthMode::TwoBiometrics, now) {
            Step::Identify | Step::CardFirst => {
                let allowed = self.live.registry().people_allowed_at_door(&self.cfg.id, now);
                match self.matcher.identify(modality, sample, &allowed) {
                    Identified::Allowed { person, score, key } => {
                        match self.auth.on_match(AuthMode::TwoBiometrics, person.clone(), Some(key), now, window) {
                            AuthOutcome::AwaitSecond(p) => {
                                self.answer(reader, &p, score, "door.first_sample", Reason::SecondSampleRequired).await;
                                TwoStep::Answered
                            }
                            AuthOutcome::Complete(p) => TwoStep::Complete { person: p, score },
                        }
                    }
                    other => TwoStep::Unmatched { identified: other, claimed: None },
                }
            }
            Step::Verify { person, other_than } => {
                match self.matcher.verify_other(modality, sample, &person, other_than) {
                    Ok(Verified::Other { key, score }) => {
                        match self.auth.on_match(AuthMode::TwoBiometrics, person.clone(), Some(key), now, window) {
                            AuthOutcome::Complete(p) | AuthOutcome::AwaitSecond(p) => {
                                TwoStep::Complete { person: p, score }
                            }
                        }
                    }
                    Ok(Verified::Same { score }) => {
                        // The claim stays: the person may still place another finger within the window.
                        self.answer(reader, &person, score, "door.second_sample", Reason::SameSampleTwice).await;
                        TwoStep::Answered
                    }
                    Ok(Verified::No { .. }) => {
                        self.auth.on_no_match();
                        TwoStep::Unmatched {
                            identified: Identified::NotIdentified { cohort_refused: None },
                            claimed: Some(person),
                        }
                    }
                    Err(e) => {
                        self.auth.on_no_match();
                        TwoStep::Unmatched { identified: Identified::Unusable(e), claimed: Some(person) }
                    }
                }
            }
        })
    }

    /// Audits a step that opens nothing, tells the person, and answers whoever waits for this door.
    async fn answer(&self, reader: &str, person: &PersonId, score: f32, kind: &str, reason: Reason) {
        let now = self.clock.now();
        let decision = Decision::deny(reason);
        let details = serde_json::json!({
            "door": self.cfg.id.as_str(),
            "zone": self.cfg.zone.as_str(),
            "reader": reader,
            "second_within_s": self.site.timeouts.capture_timeout_s,
        });
        let mut ev = decision_event(kind, now, Some(person), self.cfg.id.as_str(), &decision, Some(score), details);
        // Not a refusal: a step on the way in.
        ev.outcome = tobira_audit::Outcome::Info;
        let seq = self.recorder.record(ev).await.ok().map(|r| r.seq);
        if let Some(r) = self.readers.get(&ReaderId::new(reader)) {
            let _ = tokio::time::timeout(super::COMMAND_BUDGET, r.feedback(Feedback::Prompt(reason.to_string()))).await;
        }
        self.recorder.publish(report(Some(person), self.cfg.id.as_str(), &decision, Some(score), seq));
    }
}
