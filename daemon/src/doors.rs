//! One task per door: readers, the controller's inputs and a tick drive the door's pure state machine, and
//! the door flow keeps its order — identify, decide, record durably, only then unlock (DESIGN "Door").

use crate::daemon::{Daemon, audit_unavailable, decision_event, report};
use crate::identify::Identified;
use std::sync::Arc;
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};
use tobira_biometrics::Sample;
use tobira_core::door::{Alarm, DoorInput, DoorMachine, DoorOutput};
use tobira_core::ids::{DoorId, PersonId, ReaderId};
use tobira_core::policy::{Decision, Reason, Request};
use tobira_core::site::DoorConfig;
use tobira_drivers::{DeviceError, DoorInput as HwInput, Feedback, Modality, Reader};
use tokio::sync::watch;

const TICK: Duration = Duration::from_millis(250);

enum Side {
    Entry,
    Exit,
}

/// Waits for a sample from an optional reader; pends forever when the door has none on that side.
async fn next_sample(r: &Option<Arc<dyn Reader>>) -> Result<Sample, DeviceError> {
    match r {
        Some(r) => r.next_sample().await,
        None => std::future::pending().await,
    }
}

struct DoorTask {
    d: Arc<Daemon>,
    cfg: DoorConfig,
    sm: DoorMachine,
    /// Device faults are audited once per outage, not once per retry (no audit storm).
    faulted: std::collections::BTreeSet<String>,
    /// The controller reported itself offline (OSDP): grants are refused until it is back (fail secure).
    controller_offline: bool,
}

pub async fn door_task(d: Arc<Daemon>, id: DoorId, mut stop: watch::Receiver<bool>) {
    let Some(cfg) = d.site.door(&id).cloned() else {
        return;
    };
    let Some(rt) = d.doors.get(&id) else { return };
    let controller = rt.controller.clone();
    let entry = d.readers.get(&cfg.entry_reader).cloned();
    let exit = cfg.exit_reader.as_ref().and_then(|r| d.readers.get(r).cloned());
    let sm = DoorMachine::new(d.site.door_params());
    let mut t = DoorTask { d: d.clone(), cfg, sm, faulted: Default::default(), controller_offline: false };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Each branch runs to completion before the next event is taken: a stop request is honoured
        // between events, so the event in flight is always finished and recorded.
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            s = next_sample(&entry) => t.on_sample(Side::Entry, entry.as_ref().map(|r| r.id().to_string()), s).await,
            s = next_sample(&exit) => t.on_sample(Side::Exit, exit.as_ref().map(|r| r.id().to_string()), s).await,
            i = controller.next_input() => t.on_input(i).await,
            _ = tick.tick() => { let now = t.d.now(); let outs = t.sm.handle(DoorInput::Tick, now); t.apply(outs).await; }
        }
    }
    let _ = controller.relock().await;
}

impl DoorTask {
    /// Records an event about this door itself (no person): device states, alarms, transitions.
    async fn note(
        &self,
        kind: &str,
        outcome: Outcome,
        reason: &str,
        article: Option<&str>,
        details: serde_json::Value,
    ) {
        let ev = NewEvent {
            time: self.d.now(),
            kind: kind.into(),
            actor: None,
            subject: None,
            place: Some(self.cfg.id.to_string()),
            outcome,
            reason: reason.into(),
            article: article.map(Into::into),
            score: None,
            details,
        };
        let _ = self.d.record(ev).await;
    }

    async fn fault_once(&mut self, device: &str, e: &DeviceError) {
        if !self.faulted.insert(device.to_string()) {
            return;
        }
        tracing::warn!(door = %self.cfg.id, device, error = %e, "device fault; door stays locked");
        self.note(
            "device.fault",
            Outcome::Alarm,
            "DEVICE_FAULT",
            Some("003 §20"),
            serde_json::json!({"device": device, "error": e.to_string()}),
        )
        .await;
        // Don't spin on a dead device.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    async fn on_sample(&mut self, side: Side, reader: Option<String>, s: Result<Sample, DeviceError>) {
        let received = std::time::Instant::now();
        let reader = reader.unwrap_or_default();
        let sample = match s {
            Ok(s) => {
                self.faulted.remove(&reader);
                s
            }
            // A capture window that closed with nobody at the reader (a palm bridge answers `timeout`): the
            // reader simply waits again; it is not a device fault.
            Err(DeviceError::Timeout { .. }) => return,
            Err(e) => return self.fault_once(&reader, &e).await,
        };
        let now = self.d.now();
        let registry = self.d.registry();
        let zone = self.cfg.zone.clone();
        let modality = self.d.readers.get(&ReaderId::new(&reader)).map(|r| r.modality()).unwrap_or(Modality::Finger);
        // Why a sample gave no probe (a fingerprint at a palm reader, a blank frame): audited, never a match.
        let mut refused: Option<String> = None;
        let (person, score, identified_as_allowed) = match side {
            Side::Entry => {
                let allowed = registry.people_allowed_at_door(&self.cfg.id, now);
                match self.d.identify(modality, &sample, &allowed) {
                    Identified::Allowed { person, score } => (Some(person), Some(score), true),
                    Identified::Attributed { person, score } => (Some(person), Some(score), false),
                    Identified::Unusable(e) => {
                        refused = Some(e.to_string());
                        (None, None, false)
                    }
                    Identified::NotIdentified => (None, None, false),
                }
            }
            Side::Exit => {
                // Exit: identify among the people recorded inside this zone (or anyone, if nobody is).
                let inside: std::collections::BTreeSet<PersonId> = {
                    let sh = self.d.shared();
                    registry.people.keys().filter(|p| sh.occupancy.is_inside(p, &zone)).cloned().collect()
                };
                match self.d.identify(modality, &sample, &inside) {
                    Identified::Allowed { person, score } => (Some(person), Some(score), true),
                    Identified::Unusable(e) => {
                        refused = Some(e.to_string());
                        (None, None, false)
                    }
                    _ => (None, None, false),
                }
            }
        };
        let decision = match (&side, &person) {
            (_, None) => Decision::deny(Reason::NotIdentified),
            (Side::Entry, Some(p)) => {
                let req =
                    Request::Enter { door: self.cfg.id.clone(), person: p.clone(), reader: ReaderId::new(&reader) };
                let dec = self.d.decide(&req, now);
                // Attribution names who tried; it never admits (identification only among those allowed here).
                if identified_as_allowed || !dec.is_granted() { dec } else { Decision::deny(Reason::NotIdentified) }
            }
            (Side::Exit, Some(p)) => {
                let req = Request::Exit { door: self.cfg.id.clone(), person: p.clone() };
                self.d.decide(&req, now)
            }
        };
        // A grant the door cannot carry out is not a grant: the person is told, the door stays locked.
        let decision = if decision.is_granted() && self.controller_offline {
            Decision::deny(Reason::DeviceOffline)
        } else {
            decision
        };
        let kind = match side {
            Side::Entry => "door.enter",
            Side::Exit => "door.exit",
        };
        let mut details = serde_json::json!({"door": self.cfg.id.as_str(), "zone": zone.as_str(), "reader": reader, "modality": crate::identify::modality(&sample)});
        if let Some(p) = &person {
            self.ledger_details(&mut details, p, now);
        }
        if let Some(r) = refused {
            details["sample"] = r.into();
        }
        let ev = decision_event(kind, now, person.as_ref(), self.cfg.id.as_str(), &decision, score, details);
        let (decision, seq) = match self.d.record(ev).await {
            Ok(r) => (decision, Some(r.seq)),
            Err(_) => (audit_unavailable(), None),
        };
        // Only now, with the event durable, may the door open.
        let mut issued = received.elapsed();
        if let Some(granted) = decision.granted() {
            let until = now + chrono::Duration::milliseconds(i64::from(self.d.site.timeouts.unlock_pulse_ms));
            let outs = self.sm.unlock(granted, now, until);
            self.apply(outs).await;
            issued = received.elapsed();
            if let Some(p) = &person {
                let mut sh = self.d.shared();
                match side {
                    Side::Entry => {
                        sh.occupancy.enter(p.clone(), zone.clone());
                        sh.escorts.record(self.cfg.id.clone(), p.clone(), now);
                    }
                    // Leaving a zone leaves the zones nested in it (003 §13): nobody stays in the media room.
                    Side::Exit => sh.occupancy.exit_nested(p, &zone, &self.d.site),
                }
            }
            if let Some(r) = self.d.readers.get(&ReaderId::new(&reader)) {
                let _ = r.feedback(Feedback::Granted).await;
            }
        } else if let Some(r) = self.d.readers.get(&ReaderId::new(&reader)) {
            let _ = r.feedback(Feedback::Denied).await;
        }
        let mut r = report(person.as_ref(), self.cfg.id.as_str(), &decision, score, seq);
        r.latency_us = Some(issued.as_micros() as u64);
        self.d.publish(r);
    }

    /// What the entry/exit ledger needs beside the event: purpose, escort and approver (000 Form 1).
    fn ledger_details(&self, details: &mut serde_json::Value, p: &PersonId, now: chrono::DateTime<chrono::Utc>) {
        let reg = self.d.registry();
        if let Some(v) = reg
            .visits
            .iter()
            .find(|v| &v.vendor == p && v.doors.contains(&self.cfg.id) && v.from <= now && now < v.until)
        {
            let escort = {
                let sh = self.d.shared();
                v.escorts
                    .iter()
                    .find(|e| sh.escorts.recent(&self.cfg.id, e, now, self.d.site.timeouts.escort_window_s))
                    .map(|e| e.to_string())
            };
            details["purpose"] = v.purpose.clone().into();
            details["visit"] = v.id.as_str().into();
            details["name_tag"] = v.name_tag.clone().into();
            details["company"] = v.company.clone().into();
            // 000 §7(2): only the devices and media the visit was approved to bring in.
            details["media_allowed"] = v.media_allowed.clone().into();
            details["escort"] = escort.unwrap_or_default().into();
            details["approver"] = v.approved_by.as_str().into();
        } else if let Some(g) = reg
            .grants
            .iter()
            .find(|g| &g.holder == p && g.place == tobira_core::model::Place::Zone(self.cfg.zone.clone()))
        {
            details["purpose"] = "業務".into();
            details["approver"] = g.issued_by.as_str().into();
            details["grant"] = g.id.as_str().into();
        }
    }

    async fn on_input(&mut self, i: Result<HwInput, DeviceError>) {
        let now = self.d.now();
        let input = match i {
            Ok(HwInput::ContactOpened) => DoorInput::ContactOpen,
            Ok(HwInput::ContactClosed) => DoorInput::ContactClosed,
            Ok(HwInput::Rex) => DoorInput::Rex,
            Ok(other) => return self.device_state(other).await,
            Err(e) => {
                let dev = self.cfg.controller.to_string();
                return self.fault_once(&dev, &e).await;
            }
        };
        let outs = self.sm.handle(input, now);
        self.apply(outs).await;
    }

    async fn device_state(&mut self, i: HwInput) {
        match i {
            HwInput::Offline => self.controller_offline = true,
            HwInput::Online => self.controller_offline = false,
            _ => {}
        }
        let (kind, reason, outcome) = match i {
            HwInput::Tamper => ("device.tamper", "TAMPER", Outcome::Alarm),
            HwInput::PowerLost => ("device.power", "POWER_LOST", Outcome::Alarm),
            HwInput::Offline => ("device.offline", "DEVICE_OFFLINE", Outcome::Alarm),
            HwInput::Online => ("device.online", "DEVICE_ONLINE", Outcome::Info),
            HwInput::SecureChannelDown => ("device.secure_channel", "SECURE_CHANNEL_DOWN", Outcome::Alarm),
            // Cards are not a credential here; the read is recorded, the number is not.
            HwInput::CardRead { .. } => ("door.card", "CARD_READ", Outcome::Info),
            HwInput::KeyPress => ("door.keypad", "KEY_PRESSED", Outcome::Info),
            _ => return,
        };
        self.note(
            kind,
            outcome,
            reason,
            Some("003 §20"),
            serde_json::json!({"controller": self.cfg.controller.as_str()}),
        )
        .await;
    }

    /// Carries out the state machine's outputs: hardware commands and audit events.
    async fn apply(&mut self, outs: Vec<DoorOutput>) {
        let ctl = match self.d.doors.get(&self.cfg.id) {
            Some(rt) => rt.controller.clone(),
            None => return,
        };
        for o in outs {
            match o {
                DoorOutput::Energise { until } => {
                    let ms = (until - self.d.now()).num_milliseconds().clamp(100, 60_000) as u64;
                    if let Err(e) = ctl.pulse(Duration::from_millis(ms)).await {
                        let dev = self.cfg.controller.to_string();
                        self.fault_once(&dev, &e).await;
                    }
                }
                DoorOutput::Relock => {
                    let _ = ctl.relock().await;
                }
                DoorOutput::Alarm(a) => {
                    let (kind, reason) = match a {
                        Alarm::ForcedOpen => ("door.alarm.forced", "FORCED_OPEN"),
                        Alarm::HeldOpen => ("door.alarm.held", "HELD_OPEN"),
                    };
                    let _ = ctl.feedback(Feedback::Alarm).await;
                    self.note(
                        kind,
                        Outcome::Alarm,
                        reason,
                        Some("003 §20, 003 §13"),
                        serde_json::json!({"zone": self.cfg.zone.as_str()}),
                    )
                    .await;
                }
                DoorOutput::Event(ev) => {
                    self.note(
                        "door.state",
                        Outcome::Info,
                        &format!("{ev:?}"),
                        None,
                        serde_json::json!({"zone": self.cfg.zone.as_str()}),
                    )
                    .await;
                }
            }
        }
    }
}
