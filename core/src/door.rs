//! The door state machine (DESIGN "Door"): locked → unlocked (pulse) → open → closed/relocked, with the
//! forced-open, held-open and request-to-exit cases. Pure: inputs carry the time, outputs say what the edge
//! must do (energise, relock, raise an alarm, record an event).

use crate::policy::Granted;
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DoorParams {
    /// Open longer than this raises the held-open alarm.
    pub held_open: Duration,
    /// A contact opening this soon after a REX press is an exit, not a forced door.
    pub rex_grace: Duration,
}

impl crate::site::Site {
    /// The door state machine's timings from the site's `[timeouts]`.
    pub fn door_params(&self) -> DoorParams {
        DoorParams {
            held_open: chrono::Duration::seconds(i64::from(self.timeouts.held_open_s)),
            rex_grace: chrono::Duration::seconds(i64::from(self.timeouts.rex_grace_s)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorInput {
    ContactOpen,
    ContactClosed,
    Rex,
    /// Time passes: checks pulse expiry and the held-open limit.
    Tick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alarm {
    ForcedOpen,
    HeldOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorEvent {
    Unlocked,
    Opened { authorised: bool },
    Closed,
    Relocked,
    RexExit,
    AlarmCleared(Alarm),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorOutput {
    /// Energise the strike until this time (the controller times the pulse itself).
    Energise {
        until: DateTime<Utc>,
    },
    Relock,
    Alarm(Alarm),
    Event(DoorEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoorState {
    /// Closed and locked.
    Locked,
    /// Strike energised, door still closed.
    Unlocked { until: DateTime<Utc> },
    /// Contact open.
    Open { since: DateTime<Utc>, authorised: bool, held_alarm: bool, forced: bool },
}

#[derive(Debug, Clone)]
pub struct DoorMachine {
    params: DoorParams,
    state: DoorState,
    rex_until: Option<DateTime<Utc>>,
}

impl DoorMachine {
    pub fn new(params: DoorParams) -> Self {
        Self { params, state: DoorState::Locked, rex_until: None }
    }

    pub fn state(&self) -> DoorState {
        self.state
    }

    /// Unlocking needs the policy's proof token: no code path opens a door without a grant (STYLE §3).
    pub fn unlock(&mut self, _proof: &Granted, now: DateTime<Utc>, until: DateTime<Utc>) -> Vec<DoorOutput> {
        match self.state {
            DoorState::Locked | DoorState::Unlocked { .. } => {
                self.state = DoorState::Unlocked { until };
                vec![DoorOutput::Energise { until }, DoorOutput::Event(DoorEvent::Unlocked)]
            }
            // Already open: the person walks through the open door; nothing to energise.
            DoorState::Open { since, held_alarm, forced, .. } => {
                let _ = now;
                self.state = DoorState::Open { since, authorised: true, held_alarm, forced };
                vec![]
            }
        }
    }

    pub fn handle(&mut self, input: DoorInput, now: DateTime<Utc>) -> Vec<DoorOutput> {
        let mut out = Vec::new();
        match (self.state, input) {
            (DoorState::Locked, DoorInput::ContactOpen) => {
                let rex = self.rex_until.is_some_and(|t| now <= t);
                self.rex_until = None;
                self.state = DoorState::Open { since: now, authorised: rex, held_alarm: false, forced: !rex };
                if rex {
                    out.push(DoorOutput::Event(DoorEvent::RexExit));
                    out.push(DoorOutput::Event(DoorEvent::Opened { authorised: true }));
                } else {
                    out.push(DoorOutput::Event(DoorEvent::Opened { authorised: false }));
                    out.push(DoorOutput::Alarm(Alarm::ForcedOpen));
                }
            }
            (DoorState::Unlocked { .. }, DoorInput::ContactOpen) => {
                self.state = DoorState::Open { since: now, authorised: true, held_alarm: false, forced: false };
                out.push(DoorOutput::Event(DoorEvent::Opened { authorised: true }));
            }
            (DoorState::Open { held_alarm, forced, .. }, DoorInput::ContactClosed) => {
                self.state = DoorState::Locked;
                out.push(DoorOutput::Event(DoorEvent::Closed));
                // Relock at once on close: the pulse is for one passage, not for the rest of its time.
                out.push(DoorOutput::Relock);
                out.push(DoorOutput::Event(DoorEvent::Relocked));
                if held_alarm {
                    out.push(DoorOutput::Event(DoorEvent::AlarmCleared(Alarm::HeldOpen)));
                }
                if forced {
                    out.push(DoorOutput::Event(DoorEvent::AlarmCleared(Alarm::ForcedOpen)));
                }
            }
            (DoorState::Unlocked { until }, DoorInput::Tick) if now >= until => {
                self.state = DoorState::Locked;
                out.push(DoorOutput::Relock);
                out.push(DoorOutput::Event(DoorEvent::Relocked));
            }
            (DoorState::Open { since, authorised, held_alarm: false, forced }, DoorInput::Tick)
                if now - since > self.params.held_open =>
            {
                self.state = DoorState::Open { since, authorised, held_alarm: true, forced };
                out.push(DoorOutput::Alarm(Alarm::HeldOpen));
            }
            (_, DoorInput::Rex) => {
                self.rex_until = Some(now + self.params.rex_grace);
            }
            // Contact bounce (open while open, close while closed) and idle ticks change nothing.
            _ => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::*;
    use crate::model::{Grant, Person, Place, Registry, Role, Schedule};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-24T01:00:00Z").unwrap().with_timezone(&Utc) + Duration::seconds(s)
    }

    fn params() -> DoorParams {
        DoorParams { held_open: Duration::seconds(30), rex_grace: Duration::seconds(10) }
    }

    /// A real grant from policy: the only way to get the proof token.
    fn granted() -> crate::policy::Decision {
        let site = crate::site::parse_site("demo.toml", include_str!("../../config/demo.toml")).unwrap();
        let mut people = std::collections::BTreeMap::new();
        for (id, role) in [("tanaka", Role::Operator), ("suzuki", Role::DataManager)] {
            people.insert(
                PersonId::new(id),
                Person {
                    id: PersonId::new(id),
                    match_id: MatchId::new(id),
                    name: id.into(),
                    affiliation: String::new(),
                    roles: vec![role],
                    appointment_end: None,
                    active: true,
                },
            );
        }
        let grants = vec![Grant {
            id: GrantId::new("g"),
            holder: PersonId::new("tanaka"),
            place: Place::Zone(ZoneId::new("server-room")),
            issued_by: PersonId::new("suzuki"),
            issuer_role: Role::DataManager,
            valid_from: t(-100),
            valid_until: t(100_000),
            schedule: Schedule::Always,
        }];
        let reg = Registry { site, people, grants, off_hours: vec![], visits: vec![] };
        let d = crate::policy::decide(
            &crate::policy::Request::Enter {
                door: DoorId::new("server-door"),
                person: PersonId::new("tanaka"),
                reader: ReaderId::new("server-in"),
            },
            &crate::policy::Context {
                registry: &reg,
                grants: None,
                occupancy: &Default::default(),
                escorts: &Default::default(),
                lockout: &Default::default(),
                now: t(0),
                node: Default::default(),
            },
        );
        assert!(d.is_granted());
        d
    }

    #[test]
    fn granted_passage_unlocks_opens_closes_and_relocks() {
        let mut m = DoorMachine::new(params());
        let d = granted();
        let out = m.unlock(d.granted().unwrap(), t(0), t(3));
        assert_eq!(out, vec![DoorOutput::Energise { until: t(3) }, DoorOutput::Event(DoorEvent::Unlocked)]);
        assert_eq!(
            m.handle(DoorInput::ContactOpen, t(1)),
            vec![DoorOutput::Event(DoorEvent::Opened { authorised: true })]
        );
        let out = m.handle(DoorInput::ContactClosed, t(4));
        assert!(out.contains(&DoorOutput::Relock));
        assert!(!out.iter().any(|o| matches!(o, DoorOutput::Alarm(_))));
        assert_eq!(m.state(), DoorState::Locked);
    }

    #[test]
    fn pulse_expiry_without_opening_relocks() {
        let mut m = DoorMachine::new(params());
        let d = granted();
        m.unlock(d.granted().unwrap(), t(0), t(3));
        assert!(m.handle(DoorInput::Tick, t(2)).is_empty());
        assert_eq!(m.handle(DoorInput::Tick, t(3)), vec![DoorOutput::Relock, DoorOutput::Event(DoorEvent::Relocked)]);
        assert_eq!(m.state(), DoorState::Locked);
    }

    #[test]
    fn opened_while_locked_is_forced() {
        let mut m = DoorMachine::new(params());
        let out = m.handle(DoorInput::ContactOpen, t(0));
        assert!(out.contains(&DoorOutput::Alarm(Alarm::ForcedOpen)));
        let out = m.handle(DoorInput::ContactClosed, t(5));
        assert!(out.contains(&DoorOutput::Event(DoorEvent::AlarmCleared(Alarm::ForcedOpen))));
    }

    #[test]
    fn rex_then_open_is_an_exit_but_not_after_the_grace() {
        let mut m = DoorMachine::new(params());
        m.handle(DoorInput::Rex, t(0));
        let out = m.handle(DoorInput::ContactOpen, t(2));
        assert!(out.contains(&DoorOutput::Event(DoorEvent::RexExit)));
        assert!(!out.iter().any(|o| matches!(o, DoorOutput::Alarm(_))));
        m.handle(DoorInput::ContactClosed, t(4));
        m.handle(DoorInput::Rex, t(10));
        let out = m.handle(DoorInput::ContactOpen, t(21));
        assert!(out.contains(&DoorOutput::Alarm(Alarm::ForcedOpen)), "REX grace of 10 s has passed");
    }

    #[test]
    fn held_open_alarm_raised_once_and_cleared_on_close() {
        let mut m = DoorMachine::new(params());
        let d = granted();
        m.unlock(d.granted().unwrap(), t(0), t(3));
        m.handle(DoorInput::ContactOpen, t(1));
        assert!(m.handle(DoorInput::Tick, t(30)).is_empty());
        assert_eq!(m.handle(DoorInput::Tick, t(32)), vec![DoorOutput::Alarm(Alarm::HeldOpen)]);
        assert!(m.handle(DoorInput::Tick, t(60)).is_empty(), "raised once, not a storm");
        let out = m.handle(DoorInput::ContactClosed, t(70));
        assert!(out.contains(&DoorOutput::Event(DoorEvent::AlarmCleared(Alarm::HeldOpen))));
        assert_eq!(m.state(), DoorState::Locked);
    }

    #[test]
    fn contact_bounce_changes_nothing() {
        let mut m = DoorMachine::new(params());
        assert!(m.handle(DoorInput::ContactClosed, t(0)).is_empty());
        m.handle(DoorInput::ContactOpen, t(1));
        assert!(m.handle(DoorInput::ContactOpen, t(2)).is_empty());
    }
}
