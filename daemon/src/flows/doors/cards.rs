//! The `card+biometric` door (issue 16 §2; 004 §2(9): user ID + biometric): a card read, or an ID typed on
//! the keypad, at the door's OSDP reader names who claims to be there; the door then waits
//! `capture_timeout_s` for a finger and compares it 1:1 with that person's templates only, so the false
//! match rate is the 1:1 rate (FMR) whatever the number of people allowed. Then the policy decides, as at
//! every door. The pure rules are `tobira_core::authmode` and `tobira_core::card`; this is their edge.
//!
//! The card number is never recorded: audit events carry its last digits (`…5678`). An unknown card, and a
//! finger without a card, count as unidentified attempts at the door's entry reader (the reader throttle
//! and its `REPEATED_UNIDENTIFIED` incident); a wrong finger after a right card counts too.

use super::{DoorTask, Side};
use crate::node::daemon::{decision_event, report};
use tobira_audit::{NewEvent, Outcome};
use tobira_biometrics::Sample;
use tobira_core::authmode::{AuthMode, Step};
use tobira_core::card::{CardError, CardNumber};
use tobira_core::ids::{PersonId, ReaderId};
use tobira_core::policy::{Decision, Reason};
use tobira_drivers::{CardData, DoorInput as HwInput, Feedback};

/// What a card door made of an entry sample, for `on_sample`.
pub(super) enum CardStep {
    /// 1:1 passed against the card holder's templates: the policy decides for them.
    Verified { person: PersonId, score: f32 },
    /// Refused before the policy: no card first, or the finger is not the card holder's (or unusable).
    Refused { reason: Reason, claimed: Option<PersonId>, score: Option<f32>, sample_error: Option<String> },
}

impl DoorTask {
    fn card_door(&self) -> bool {
        self.cfg.auth == AuthMode::CardAndBiometric
    }

    /// The door's entry reader: where the card is presented and the finger placed, and whose run of
    /// unidentified attempts an unknown card lengthens.
    fn entry_reader(&self) -> ReaderId {
        self.cfg.entry_reader.clone()
    }

    /// A card read or keypad entry from the controller. Returns false when this door does not take cards
    /// (the caller records the bare event, without the number).
    pub(super) async fn on_card_input(&mut self, i: &HwInput) -> bool {
        if !self.card_door() {
            return false;
        }
        match i {
            HwInput::CardRead { bits, data: CardData(data) } => {
                self.on_card(CardNumber::from_read(*bits, data), "card").await
            }
            HwInput::KeyPress { keys: CardData(keys) } => {
                for n in self.keypad.handle_keys(keys) {
                    self.on_card(n, "keypad").await;
                }
            }
            _ => return false,
        }
        true
    }

    async fn on_card(&mut self, n: Result<CardNumber, CardError>, via: &'static str) {
        let now = self.clock.now();
        let holder = match &n {
            Ok(n) => self.store.card_holder(n).await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "the card registry cannot be read; the card is refused");
                None
            }),
            Err(_) => None,
        };
        let window = self.site.timeouts.capture_timeout_s;
        let shown = n.as_ref().map(CardNumber::last_digits).unwrap_or_else(|e| format!("unreadable ({e})"));
        if !self.auth.on_card(AuthMode::CardAndBiometric, holder.clone(), now, window) {
            return self.refuse_unknown_card(via, &shown, now).await;
        }
        let Some(person) = holder else { return };
        let ev = NewEvent::new(now, "door.card", Outcome::Info, Reason::CardAccepted.code())
            // Claimed, not authenticated: the finger decides.
            .subject(person.as_str())
            .place(self.cfg.id.as_str())
            .article("004 §2(9)")
            .details(serde_json::json!({
                "door": self.cfg.id.as_str(), "reader": self.entry_reader().as_str(), "via": via, "card": shown,
                "finger_within_s": window,
            }));
        let seq = self.recorder.record(ev).await.ok().map(|r| r.seq);
        let _ = tokio::time::timeout(
            super::COMMAND_BUDGET,
            self.controller.feedback(Feedback::Prompt("place your finger".into())),
        )
        .await;
        // Whoever waits on this door (the simulator, the console) hears that the finger is next.
        self.recorder.publish(report(
            Some(&person),
            self.cfg.id.as_str(),
            &Decision::deny(Reason::CardAccepted),
            None,
            seq,
        ));
    }

    /// An unknown card (or an unreadable one, or a spoiled keypad entry): refused, and an unidentified
    /// attempt at the entry reader — a card sweep is throttled and alarmed like a stranger's fingers.
    async fn refuse_unknown_card(&mut self, via: &'static str, shown: &str, now: chrono::DateTime<chrono::Utc>) {
        let mut details = serde_json::json!({"door": self.cfg.id.as_str(), "zone": self.cfg.zone.as_str(), "reader": self.entry_reader().as_str(), "via": via, "card": shown});
        let incident = self.count_unidentified(&mut details, now);
        let decision = Decision::deny(Reason::UnknownCard);
        let ev = decision_event("door.enter", now, None, self.cfg.id.as_str(), &decision, None, details);
        let seq = self.recorder.record(ev).await.ok().map(|r| r.seq);
        self.raise_incident(incident, seq).await;
        let _ = tokio::time::timeout(super::COMMAND_BUDGET, self.controller.feedback(Feedback::Denied)).await;
        self.recorder.publish(report(None, self.cfg.id.as_str(), &decision, None, seq));
    }

    /// Counts an unidentified attempt at the entry reader and puts the run in `details`; returns the incident
    /// to raise, if this attempt raised one (issue 16 §2).
    pub(super) fn count_unidentified(
        &self,
        details: &mut serde_json::Value,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<(u32, chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> {
        let policy = self.site.reader_throttle;
        let u = self.live.shared().reader_throttle.record_unidentified(self.entry_reader(), now, &policy);
        self.save_throttle();
        details["reader_run"] = serde_json::json!({
            "unidentified_in_a_row": u.failures,
            "delay_s": u.wait_until.map_or(0, |w| (w - now).num_seconds()),
            "next_attempt_not_before": u.wait_until,
        });
        u.incident.map(|(first, last)| (u.failures, first, last))
    }

    /// The `REPEATED_UNIDENTIFIED` incident for the security manager (003 §20).
    pub(super) async fn raise_incident(
        &self,
        incident: Option<(u32, chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>,
        seq: Option<i64>,
    ) {
        let Some((attempts, first, last)) = incident else { return };
        let reader = self.entry_reader();
        tracing::warn!(door = %self.cfg.id, reader = %reader, attempts, "repeated unidentified attempts at a reader");
        self.note(
            "reader.alarm",
            Outcome::Alarm,
            "REPEATED_UNIDENTIFIED",
            Some("003 §20, NIST SP 800-63B §5.2.2"),
            serde_json::json!({"reader": reader.as_str(), "zone": self.cfg.zone.as_str(), "attempts": attempts, "first": first, "last": last, "decision": seq}),
        )
        .await;
    }

    /// Time passes: a card whose finger never came is recorded once (`FINGER_TIMEOUT`). It does not count
    /// as an unidentified attempt: nothing was matched, and the card's holder is known.
    pub(super) async fn card_tick(&mut self) {
        let now = self.clock.now();
        let Some(claimed) = self.auth.on_tick(self.cfg.auth, now) else { return };
        let decision = Decision::deny(Reason::FingerTimeout);
        let details = serde_json::json!({"door": self.cfg.id.as_str(), "zone": self.cfg.zone.as_str(), "reader": self.entry_reader().as_str(), "card_claims": claimed.as_str(), "finger_within_s": self.site.timeouts.capture_timeout_s});
        let ev = decision_event("door.enter", now, None, self.cfg.id.as_str(), &decision, None, details);
        let _ = self.recorder.record(ev).await;
        let _ = tokio::time::timeout(super::COMMAND_BUDGET, self.controller.feedback(Feedback::Denied)).await;
    }

    /// An entry sample at a card door: 1:1 against the card holder's templates only — never 1:N.
    pub(super) fn card_sample(&mut self, side: Side, reader: &str, sample: &Sample) -> Option<CardStep> {
        if side != Side::Entry || !self.card_door() {
            return None;
        }
        let now = self.clock.now();
        let modality =
            self.readers.get(&ReaderId::new(reader)).map(|r| r.modality()).unwrap_or(tobira_drivers::Modality::Finger);
        Some(match self.auth.on_sample(self.cfg.auth, now) {
            Step::CardFirst | Step::Identify => {
                CardStep::Refused { reason: Reason::CardRequired, claimed: None, score: None, sample_error: None }
            }
            Step::Verify { person, .. } => match self.matcher.verify(modality, sample, &person) {
                Ok((true, score)) => {
                    let window = self.site.timeouts.capture_timeout_s;
                    self.auth.on_match(self.cfg.auth, person.clone(), None, now, window);
                    CardStep::Verified { person, score }
                }
                Ok((false, score)) => {
                    self.auth.on_no_match();
                    CardStep::Refused {
                        reason: Reason::NotIdentified,
                        claimed: Some(person),
                        score: Some(score),
                        sample_error: None,
                    }
                }
                Err(e) => {
                    self.auth.on_no_match();
                    CardStep::Refused {
                        reason: Reason::NotIdentified,
                        claimed: Some(person),
                        score: None,
                        sample_error: Some(e.to_string()),
                    }
                }
            },
        })
    }
}
