//! Authentication modes per door (issue 16 §2, as commercial systems offer them): what a door asks of a
//! person before the policy decides. Pure: events and time are passed in; the door task carries it out.
//!
//! - [`AuthMode::Biometric`]: one sample, 1:N among the people allowed at the door (today's doors).
//! - [`AuthMode::CardAndBiometric`]: a card read (or an ID on the keypad) at the door's OSDP reader names
//!   who claims to be there; the next sample is compared 1:1 with that person's templates only. The false
//!   match rate is then the 1:1 rate whatever the number allowed, and a stranger without a card is not
//!   matched at all: the mode for doors with many people allowed.
//! - [`AuthMode::TwoBiometrics`]: two samples of different fingers (or a finger and a palm): the first
//!   identifies 1:N, the second verifies 1:1 against the same person; for Level 3 rooms.
//!
//! A claim (card, or first sample) lasts `window_s`; a sample without a claim where one is required is
//! refused unmatched, and that refusal counts as an unidentified attempt at the reader
//! ([`crate::throttle`]).

use crate::ids::PersonId;
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    #[default]
    Biometric,
    CardAndBiometric,
    TwoBiometrics,
}

impl AuthMode {
    /// The site file's spelling (`auth = "biometric" | "card+biometric" | "two-biometrics"`).
    pub fn parse(s: &str) -> Option<AuthMode> {
        match s {
            "biometric" => Some(AuthMode::Biometric),
            "card+biometric" => Some(AuthMode::CardAndBiometric),
            "two-biometrics" => Some(AuthMode::TwoBiometrics),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Biometric => "biometric",
            AuthMode::CardAndBiometric => "card+biometric",
            AuthMode::TwoBiometrics => "two-biometrics",
        }
    }
}

/// What the door does with the sample it just received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// 1:N among the people allowed here.
    Identify,
    /// 1:1 against this person's templates only (`other_than`: not the enrolled finger or hand — the template,
    /// by the matcher's key — that the first sample matched).
    Verify { person: PersonId, other_than: Option<u64> },
    /// Refused unmatched: this door needs a card or ID first.
    CardFirst,
}

/// What became of an identified or verified sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Authentication complete for this person: the policy decides now.
    Complete(PersonId),
    /// The first of two factors: the person is asked for the second within the window.
    AwaitSecond(PersonId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Claim {
    person: PersonId,
    /// The enrolled finger or hand (the matcher's template key) the first sample matched (two-biometrics).
    position: Option<u64>,
    until: DateTime<Utc>,
}

/// One door's authentication in progress.
#[derive(Debug, Clone, Default)]
pub struct AuthState {
    claim: Option<Claim>,
}

impl AuthState {
    fn live(&self, now: DateTime<Utc>) -> Option<&Claim> {
        self.claim.as_ref().filter(|c| now < c.until)
    }

    /// A card read (or keypad ID) at the door's reader; `holder` is whom the card is registered to (none for
    /// an unknown card, which is refused: the caller records it as an unidentified attempt).
    pub fn on_card(&mut self, mode: AuthMode, holder: Option<PersonId>, now: DateTime<Utc>, window_s: u32) -> bool {
        if mode != AuthMode::CardAndBiometric {
            return false;
        }
        self.claim =
            holder.map(|person| Claim { person, position: None, until: now + Duration::seconds(i64::from(window_s)) });
        self.claim.is_some()
    }

    /// A sample arrived: what to do with it.
    pub fn on_sample(&mut self, mode: AuthMode, now: DateTime<Utc>) -> Step {
        match (mode, self.live(now).cloned()) {
            (AuthMode::Biometric, _) => Step::Identify,
            (AuthMode::CardAndBiometric, Some(c)) => Step::Verify { person: c.person, other_than: None },
            (AuthMode::CardAndBiometric, None) => {
                self.claim = None;
                Step::CardFirst
            }
            (AuthMode::TwoBiometrics, Some(c)) => Step::Verify { person: c.person, other_than: c.position },
            (AuthMode::TwoBiometrics, None) => {
                self.claim = None;
                Step::Identify
            }
        }
    }

    /// The sample matched `person` (`position`: the enrolled finger or hand it matched, by template key); every
    /// claim is used once.
    pub fn on_match(
        &mut self,
        mode: AuthMode,
        person: PersonId,
        position: Option<u64>,
        now: DateTime<Utc>,
        window_s: u32,
    ) -> Outcome {
        let claim = self.claim.take().filter(|c| now < c.until);
        match (mode, claim) {
            (AuthMode::TwoBiometrics, None) => {
                self.claim = Some(Claim {
                    person: person.clone(),
                    position,
                    until: now + Duration::seconds(i64::from(window_s)),
                });
                Outcome::AwaitSecond(person)
            }
            _ => Outcome::Complete(person),
        }
    }

    /// The sample matched nobody (or not the claimed person): the claim ends.
    pub fn on_no_match(&mut self) {
        self.claim = None;
    }

    /// Time passes: a card claim whose window closed without a sample ends, and its person is returned once
    /// so the door can record that the finger never came (`FINGER_TIMEOUT`). A two-biometrics claim ends
    /// silently (its first sample is on record already).
    pub fn on_tick(&mut self, mode: AuthMode, now: DateTime<Utc>) -> Option<PersonId> {
        let lapsed = self.claim.as_ref().is_some_and(|c| now >= c.until);
        if !lapsed {
            return None;
        }
        let c = self.claim.take()?;
        (mode == AuthMode::CardAndBiometric).then_some(c.person)
    }

    /// Whom the live claim names, if any.
    pub fn claimant(&self, now: DateTime<Utc>) -> Option<&PersonId> {
        self.live(now).map(|c| &c.person)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T10:00:00+09:00").unwrap().with_timezone(&Utc)
    }
    fn p(s: &str) -> PersonId {
        PersonId::new(s)
    }

    #[test]
    fn biometric_only_identifies_and_completes() {
        let mut a = AuthState::default();
        assert_eq!(a.on_sample(AuthMode::Biometric, t0()), Step::Identify);
        assert_eq!(a.on_match(AuthMode::Biometric, p("tanaka"), Some(2), t0(), 20), Outcome::Complete(p("tanaka")));
        assert!(!a.on_card(AuthMode::Biometric, Some(p("tanaka")), t0(), 20), "cards are no credential here");
    }

    #[test]
    fn card_then_one_to_one_and_no_card_no_match() {
        let m = AuthMode::CardAndBiometric;
        let mut a = AuthState::default();
        assert_eq!(a.on_sample(m, t0()), Step::CardFirst, "a stranger without a card is never matched");
        assert!(!a.on_card(m, None, t0(), 20), "an unknown card claims nobody");
        assert_eq!(a.on_sample(m, t0()), Step::CardFirst);
        assert!(a.on_card(m, Some(p("tanaka")), t0(), 20));
        assert_eq!(a.on_sample(m, t0() + Duration::seconds(5)), Step::Verify { person: p("tanaka"), other_than: None });
        assert_eq!(
            a.on_match(m, p("tanaka"), Some(2), t0() + Duration::seconds(5), 20),
            Outcome::Complete(p("tanaka"))
        );
        assert_eq!(a.on_sample(m, t0() + Duration::seconds(6)), Step::CardFirst, "a claim is used once");
        assert!(a.on_card(m, Some(p("sato")), t0(), 20));
        assert_eq!(a.on_sample(m, t0() + Duration::seconds(20)), Step::CardFirst, "the window has passed");
    }

    #[test]
    fn a_card_without_a_finger_lapses_once() {
        let m = AuthMode::CardAndBiometric;
        let mut a = AuthState::default();
        assert!(a.on_card(m, Some(p("tanaka")), t0(), 15));
        assert_eq!(a.on_tick(m, t0() + Duration::seconds(14)), None, "still within the window");
        assert_eq!(a.claimant(t0() + Duration::seconds(14)), Some(&p("tanaka")));
        assert_eq!(a.on_tick(m, t0() + Duration::seconds(15)), Some(p("tanaka")), "the window closed");
        assert_eq!(a.on_tick(m, t0() + Duration::seconds(16)), None, "recorded once");
        assert_eq!(a.on_sample(m, t0() + Duration::seconds(16)), Step::CardFirst);
        // A card used in time is no timeout.
        assert!(a.on_card(m, Some(p("tanaka")), t0(), 15));
        a.on_match(m, p("tanaka"), None, t0() + Duration::seconds(3), 15);
        assert_eq!(a.on_tick(m, t0() + Duration::seconds(30)), None);
    }

    #[test]
    fn two_biometrics_need_a_second_different_sample_of_the_same_person_in_time() {
        let m = AuthMode::TwoBiometrics;
        let mut a = AuthState::default();
        assert_eq!(a.on_sample(m, t0()), Step::Identify);
        assert_eq!(a.on_match(m, p("ito"), Some(2), t0(), 20), Outcome::AwaitSecond(p("ito")));
        let s = t0() + Duration::seconds(3);
        assert_eq!(a.on_sample(m, s), Step::Verify { person: p("ito"), other_than: Some(2) });
        assert_eq!(a.on_match(m, p("ito"), Some(3), s, 20), Outcome::Complete(p("ito")));
        // A failed second factor ends the claim: the next sample starts again with 1:N.
        assert_eq!(a.on_sample(m, s), Step::Identify);
        assert_eq!(a.on_match(m, p("ito"), Some(2), s, 20), Outcome::AwaitSecond(p("ito")));
        a.on_no_match();
        assert_eq!(a.on_sample(m, s), Step::Identify);
        // Too late for the second: identify again.
        a.on_match(m, p("ito"), Some(2), s, 20);
        assert_eq!(a.on_sample(m, s + Duration::seconds(20)), Step::Identify);
    }

    #[test]
    fn the_site_spelling_round_trips() {
        for m in [AuthMode::Biometric, AuthMode::CardAndBiometric, AuthMode::TwoBiometrics] {
            assert_eq!(AuthMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(AuthMode::parse("card"), None);
    }
}
