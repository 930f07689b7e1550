//! Each door's state as its door task last left it (issue 18 "doors and readers live"): what `devices`
//! answers, so the console (and anyone asking) sees a door open or forced without reading the audit record.
//! Written by the door task after every event and tick; only ever read by others, never decided with.

use std::collections::HashMap;
use std::sync::Mutex;
use tobira_core::door::DoorState;
use tobira_core::ids::DoorId;

#[derive(Debug, Default)]
pub struct DoorStates {
    by_door: Mutex<HashMap<DoorId, DoorState>>,
}

impl DoorStates {
    /// The door task's state after its last turn.
    pub fn set(&self, door: &DoorId, s: DoorState) {
        let mut m = self.by_door.lock().unwrap_or_else(|p| p.into_inner());
        if m.get(door) != Some(&s) {
            m.insert(door.clone(), s);
        }
    }

    /// The door's state as one word, `None` before its task has run.
    pub fn word(&self, door: &DoorId) -> Option<&'static str> {
        self.by_door.lock().unwrap_or_else(|p| p.into_inner()).get(door).map(|s| word(*s))
    }
}

/// `locked`, `unlocked` (strike energised, still closed), `open` (after a grant or an exit request),
/// `forced-open` (opened without one, 003 §20) or `held-open` (past the limit).
pub fn word(s: DoorState) -> &'static str {
    match s {
        DoorState::Locked => "locked",
        DoorState::Unlocked { .. } => "unlocked",
        DoorState::Open { forced: true, .. } => "forced-open",
        DoorState::Open { held_alarm: true, .. } => "held-open",
        DoorState::Open { .. } => "open",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_has_its_word_and_a_forced_door_stays_forced_when_held() {
        let t = chrono::Utc::now();
        assert_eq!(word(DoorState::Locked), "locked");
        assert_eq!(word(DoorState::Unlocked { until: t }), "unlocked");
        let open = |authorised, held_alarm, forced| DoorState::Open { since: t, authorised, held_alarm, forced };
        assert_eq!(word(open(true, false, false)), "open");
        assert_eq!(word(open(true, true, false)), "held-open");
        assert_eq!(word(open(false, true, true)), "forced-open");
        let states = DoorStates::default();
        let door = DoorId::new("d");
        assert_eq!(states.word(&door), None, "nothing before the door's task ran");
        states.set(&door, open(false, false, true));
        assert_eq!(states.word(&door), Some("forced-open"));
        states.set(&door, DoorState::Locked);
        assert_eq!(states.word(&door), Some("locked"));
    }
}
