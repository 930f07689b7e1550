//! One task per door: readers, the controller's inputs and a tick drive the door's pure state machine, and
//! the door flow keeps its order — identify, decide, record durably, only then unlock (DESIGN "Door").

mod cards;
pub mod throttle_file;
mod two;

use crate::flows::identify::Identified;
use crate::node::clock::Clock;
use crate::node::daemon::{Daemon, Matcher, audit_unavailable, decision_event, report};
use crate::node::door_states::DoorStates;
use crate::node::heartbeat::Heartbeats;
use crate::node::live::Live;
use crate::node::recorder::Recorder;
use crate::store::RegistryStore;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};
use tobira_biometrics::Sample;
use tobira_biometrics::palm::cohort::CohortCheck;
use tobira_core::door::{Alarm, DoorInput, DoorMachine, DoorOutput};
use tobira_core::ids::{DoorId, PersonId, ReaderId};
use tobira_core::policy::{Decision, NodeFacts, Reason, Request};
use tobira_core::site::{DoorConfig, Site};
use tobira_drivers::{DeviceError, DoorController, DoorInput as HwInput, Feedback, Modality, Reader};
use tokio::sync::{mpsc, watch};

const TICK: Duration = Duration::from_millis(250);
/// How long the door waits for its controller to acknowledge a strike command. The OSDP driver's own
/// budget (osdp_OUT answered, then the strike output reported on) is shorter; this bounds any driver.
const STRIKE_ACK_BUDGET: Duration = Duration::from_secs(2);
/// A relock or feedback command never holds the door task longer than this.
const COMMAND_BUDGET: Duration = Duration::from_secs(1);
/// How long the relock that follows an unacknowledged strike may wait behind it on the controller.
const LATE_RELOCK_BUDGET: Duration = Duration::from_secs(30);
/// A failing device is retried after a delay that doubles from the first to the cap (never a busy loop).
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_CAP: Duration = Duration::from_secs(2);
/// While a device is in a fault episode, how often its driver is asked whether it answers again.
const HEALTH_POLL: Duration = Duration::from_millis(250);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Entry,
    Exit,
}

/// The delay before the next retry of a failing device: doubles from `first` up to `cap`, and starts again
/// from `first` once the device works. A device that fails at once on every call therefore costs a few
/// wake-ups a second at most, never a core (issue 15).
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(first: Duration, cap: Duration) -> Backoff {
        Backoff { first, cap, next: first }
    }

    /// The delay to wait now; the one after is twice as long, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.cap);
        d
    }

    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// Why a device is in a fault episode; it decides what ends the episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Gone or silent: ends as soon as the driver hears from it again.
    Unreachable,
    /// It answers, but wrongly (garbage, a strike it did not carry out): ends only when it does its job
    /// again (an acknowledged strike, a sample), since "it answers" proves nothing here.
    Misbehaving,
    /// It stopped answering a command although its driver still counts it present (a controller that died
    /// in the middle of a pulse): treated as gone — no grant is tried — until its driver has seen it go
    /// and come back, or it acknowledges a strike again.
    Silent,
}

/// Fault episodes per device: each fault is audited once when its episode begins and once when it ends
/// (the recovery), however many failed retries lie between — never a storm, never nothing (003 §20).
#[derive(Debug, Default, Clone)]
pub struct Episodes {
    open: std::collections::BTreeMap<String, Cause>,
}

impl Episodes {
    /// Returns true when this fault begins a new episode (audit it); false while one is already open.
    pub fn begin(&mut self, device: &str, cause: Cause) -> bool {
        if self.open.contains_key(device) {
            return false;
        }
        self.open.insert(device.to_string(), cause);
        true
    }

    /// Ends the device's episode; returns its cause when one was open (audit the recovery).
    pub fn end(&mut self, device: &str) -> Option<Cause> {
        self.open.remove(device)
    }

    /// Replaces the cause of an open episode (it got worse or clearer); no new episode, nothing to audit.
    pub fn escalate(&mut self, device: &str, cause: Cause) {
        if let Some(c) = self.open.get_mut(device) {
            *c = cause;
        }
    }

    pub fn cause(&self, device: &str) -> Option<Cause> {
        self.open.get(device).copied()
    }
}

/// What a device's own task hands its door task.
enum Event {
    Sample { side: Side, reader: String, sample: Sample },
    Input(Result<HwInput, DeviceError>),
}

/// An event about a door (no person): device states, faults, alarms, transitions.
fn door_event(
    now: chrono::DateTime<chrono::Utc>,
    door: &DoorId,
    kind: &str,
    outcome: Outcome,
    reason: &str,
    article: Option<&str>,
    details: serde_json::Value,
) -> NewEvent {
    NewEvent::new(now, kind, outcome, reason).place(door.as_str()).article(article).details(details)
}

/// Audits the start of a device fault episode (an alarm for the security manager, 003 §20).
async fn audit_fault(recorder: &Recorder, clock: &Clock, door: &DoorId, device: &str, e: &DeviceError) {
    tracing::warn!(door = %door, device, error = %e, "device fault; door stays locked, retrying with backoff");
    let (kind, reason) = match e {
        DeviceError::NoAnswer { .. } => ("device.fault", "DEVICE_NO_ANSWER"),
        DeviceError::DeviceMisbehaved { .. } => ("device.fault", "DEVICE_GARBLED"),
        DeviceError::Offline { .. } | DeviceError::Closed => ("device.fault", "DEVICE_GONE"),
        _ => ("device.fault", "DEVICE_FAULT"),
    };
    let ev = door_event(
        clock.now(),
        door,
        kind,
        Outcome::Alarm,
        reason,
        Some("003 §20"),
        serde_json::json!({"device": device, "error": e.to_string()}),
    );
    let _ = recorder.record(ev).await;
}

/// Audits the end of a device fault episode.
async fn audit_recovery(recorder: &Recorder, clock: &Clock, door: &DoorId, device: &str) {
    tracing::info!(door = %door, device, "device answers again");
    let ev = door_event(
        clock.now(),
        door,
        "device.recovered",
        Outcome::Info,
        "DEVICE_RECOVERED",
        Some("003 §20"),
        serde_json::json!({"device": device}),
    );
    let _ = recorder.record(ev).await;
}

/// One reader's own task: it waits on the driver, hands samples to its door, and when the driver fails
/// it audits the episode once, backs off (growing delay, capped) and retries by itself, asking the driver
/// whether the device answers again so the recovery is audited when it happens. A reader that errors at
/// once, floods or hangs only ever occupies this task (issue 15).
async fn reader_task(
    recorder: Arc<Recorder>,
    clock: Arc<Clock>,
    door: DoorId,
    side: Side,
    reader: Arc<dyn Reader>,
    tx: mpsc::Sender<Event>,
) {
    let id = reader.id().to_string();
    let mut backoff = Backoff::new(RETRY_FIRST, RETRY_CAP);
    let mut faulted = false;
    loop {
        let got = if faulted {
            tokio::select! {
                r = reader.next_sample() => Some(r),
                _ = tokio::time::sleep(HEALTH_POLL) => None,
            }
        } else {
            Some(reader.next_sample().await)
        };
        match got {
            None => {
                if reader.healthy() == Some(true) {
                    faulted = false;
                    backoff.reset();
                    audit_recovery(&recorder, &clock, &door, &id).await;
                }
            }
            Some(Ok(sample)) => {
                if std::mem::take(&mut faulted) {
                    audit_recovery(&recorder, &clock, &door, &id).await;
                }
                backoff.reset();
                if tx.send(Event::Sample { side, reader: id.clone(), sample }).await.is_err() {
                    return;
                }
            }
            // A capture window that closed with nobody at the reader (a palm bridge answers `timeout`):
            // the reader simply waits again; not a fault. A breath between windows all the same.
            Some(Err(DeviceError::Timeout { .. })) => tokio::time::sleep(Duration::from_millis(10)).await,
            Some(Err(e)) => {
                if !faulted {
                    faulted = true;
                    audit_fault(&recorder, &clock, &door, &id, &e).await;
                }
                tokio::time::sleep(backoff.next_delay()).await;
            }
        }
    }
}

/// The controller's inputs on their own task: a driver that fails at once is retried with backoff.
async fn controller_task(ctl: Arc<dyn DoorController>, tx: mpsc::Sender<Event>) {
    let mut backoff = Backoff::new(RETRY_FIRST, RETRY_CAP);
    loop {
        let i = ctl.next_input().await;
        let failed = i.is_err();
        if tx.send(Event::Input(i)).await.is_err() {
            return;
        }
        if failed {
            tokio::time::sleep(backoff.next_delay()).await;
        } else {
            backoff.reset();
        }
    }
}

/// What a door task takes from the daemon (issue 20): the handles its flow needs and its own devices, never
/// the whole `Daemon`.
pub struct DoorHandles {
    pub recorder: Arc<Recorder>,
    pub live: Arc<Live>,
    pub matcher: Arc<Matcher>,
    pub clock: Arc<Clock>,
    pub site: Arc<Site>,
    /// The registry store, for a card's holder (`cards`).
    pub store: Arc<RegistryStore>,
    /// Where the readers' throttle is kept between runs (`throttle_file`).
    pub data_dir: PathBuf,
    pub heartbeats: Arc<Heartbeats>,
    /// Where the task leaves its door's state for `devices` (issue 18).
    pub door_states: Arc<DoorStates>,
    pub cfg: DoorConfig,
    pub controller: Arc<dyn DoorController>,
    pub entry: Option<Arc<dyn Reader>>,
    pub exit: Option<Arc<dyn Reader>>,
}

impl DoorHandles {
    /// The handles for door `id`, or `None` for a door the site or the devices do not know.
    pub fn of(d: &Daemon, id: &DoorId) -> Option<DoorHandles> {
        let cfg = d.site.door(id).cloned()?;
        let controller = d.devices.doors.get(id)?.controller.clone();
        let entry = d.devices.readers.get(&cfg.entry_reader).cloned();
        let exit = cfg.exit_reader.as_ref().and_then(|r| d.devices.readers.get(r).cloned());
        Some(DoorHandles {
            recorder: d.recorder.clone(),
            live: d.live.clone(),
            matcher: d.matcher.clone(),
            clock: d.clock.clone(),
            site: d.site.clone(),
            store: d.stores.registry.clone(),
            data_dir: d.opts.data_dir.clone(),
            heartbeats: d.heartbeats.clone(),
            door_states: d.devices.door_states.clone(),
            cfg,
            controller,
            entry,
            exit,
        })
    }
}

struct DoorTask {
    recorder: Arc<Recorder>,
    live: Arc<Live>,
    matcher: Arc<Matcher>,
    clock: Arc<Clock>,
    site: Arc<Site>,
    store: Arc<RegistryStore>,
    data_dir: PathBuf,
    /// This door's own readers (entry, exit), by their id in the site file.
    readers: HashMap<ReaderId, Arc<dyn Reader>>,
    cfg: DoorConfig,
    sm: DoorMachine,
    controller: Arc<dyn DoorController>,
    /// The controller's fault episodes (keyed by its id).
    episodes: Episodes,
    /// The controller has been heard from at least once (a first `Online` is audited, later ones only
    /// when they end an outage).
    seen_online: bool,
    /// What the driver said about the controller's health at the last tick.
    was_healthy: Option<bool>,
    /// A `card+biometric` door's claim in progress (the card read, waiting for the finger).
    auth: tobira_core::authmode::AuthState,
    /// Keys typed so far on the door's keypad (an ID in place of the card).
    keypad: tobira_core::card::Keypad,
}

/// How a grant's unlock was carried out.
enum Strike {
    /// The controller acknowledged the strike command.
    Acknowledged,
    /// The door was already open: the person walks through, nothing to energise.
    AlreadyOpen,
}

pub async fn door_task(h: DoorHandles, mut stop: watch::Receiver<bool>) {
    let DoorHandles {
        recorder,
        live,
        matcher,
        clock,
        site,
        store,
        data_dir,
        heartbeats,
        door_states,
        cfg,
        controller,
        entry,
        exit,
    } = h;
    let id = cfg.id.clone();
    let mut readers = HashMap::new();
    if let Some(r) = &entry {
        readers.insert(cfg.entry_reader.clone(), r.clone());
    }
    if let (Some(r), Some(rid)) = (&exit, &cfg.exit_reader) {
        readers.insert(rid.clone(), r.clone());
    }
    let sm = DoorMachine::new(site.door_params());
    // Every device on its own task; dropping the set (the door stops) ends them.
    let mut devices = tokio::task::JoinSet::new();
    let (sample_tx, mut samples) = mpsc::channel(2);
    let (input_tx, mut inputs) = mpsc::channel(64);
    for (side, r) in [(Side::Entry, entry), (Side::Exit, exit)] {
        if let Some(r) = r {
            devices.spawn(reader_task(recorder.clone(), clock.clone(), id.clone(), side, r, sample_tx.clone()));
        }
    }
    drop(sample_tx);
    devices.spawn(controller_task(controller.clone(), input_tx));
    let mut t = DoorTask {
        recorder,
        live,
        matcher,
        clock,
        site,
        store,
        data_dir,
        readers,
        cfg,
        sm,
        controller: controller.clone(),
        episodes: Episodes::default(),
        seen_online: false,
        was_healthy: None,
        auth: Default::default(),
        keypad: Default::default(),
    };
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Beaten every turn (the tick wakes an idle door): a turn that never ends stops systemd's watchdog pings.
    let alive = heartbeats.register(format!("door {id}"));
    loop {
        alive.beat();
        // Each branch runs to completion before the next event is taken: a stop request is honoured
        // between events, so the event in flight is always finished and recorded. Every branch but the
        // tick only wakes when a device task delivered something, and the choice among ready branches is
        // fair, so no device can starve the others.
        tokio::select! {
            _ = stop.changed() => break,
            Some(ev) = samples.recv() => {
                if let Event::Sample { side, reader, sample } = ev {
                    t.on_sample(side, reader, sample).await;
                }
            }
            Some(ev) = inputs.recv() => {
                if let Event::Input(i) = ev {
                    t.on_input(i).await;
                }
            }
            _ = tick.tick() => t.on_tick().await,
        }
        door_states.set(&id, t.sm.state());
    }
    devices.abort_all();
    let _ = tokio::time::timeout(COMMAND_BUDGET, controller.relock()).await;
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
    ) -> Option<i64> {
        let ev = door_event(self.clock.now(), &self.cfg.id, kind, outcome, reason, article, details);
        self.recorder.record(ev).await.ok().map(|r| r.seq)
    }

    /// Keeps the readers' runs on disk (a restart must not reset a stranger's delay).
    fn save_throttle(&self) {
        let snapshot = self.live.shared().reader_throttle.clone();
        throttle_file::save(&self.data_dir, &snapshot);
    }

    fn controller_id(&self) -> String {
        self.cfg.controller.to_string()
    }

    /// The controller cannot open the door now: an outage is open, or its driver has not heard from it
    /// within its poll budget.
    fn controller_offline(&self) -> bool {
        matches!(self.episodes.cause(&self.controller_id()), Some(Cause::Unreachable | Cause::Silent))
            || self.controller.healthy() == Some(false)
    }

    /// The controller is gone: audited once (`device.offline`) until it is back.
    async fn controller_unreachable(&mut self, why: &str) {
        let ctl = self.controller_id();
        if self.episodes.cause(&ctl).is_some() {
            // The open episode is now an outage (still one episode, audited when it began).
            self.episodes.escalate(&ctl, Cause::Unreachable);
            return;
        }
        if self.episodes.begin(&ctl, Cause::Unreachable) {
            tracing::warn!(door = %self.cfg.id, controller = %ctl, why, "door controller offline; door stays locked");
            self.note(
                "device.offline",
                Outcome::Alarm,
                "DEVICE_OFFLINE",
                Some("003 §20"),
                serde_json::json!({"controller": ctl, "why": why}),
            )
            .await;
        }
    }

    /// The controller answers again: the outage (if any) ends, audited once.
    async fn controller_back(&mut self, first_contact: bool) {
        let ctl = self.controller_id();
        let ended = self.episodes.end(&ctl);
        if matches!(ended, Some(Cause::Misbehaving | Cause::Silent)) {
            return audit_recovery(&self.recorder, &self.clock, &self.cfg.id, &ctl).await;
        }
        if ended.is_some() || first_contact {
            self.note(
                "device.online",
                Outcome::Info,
                "DEVICE_ONLINE",
                Some("003 §20"),
                serde_json::json!({"controller": ctl}),
            )
            .await;
        }
    }

    /// Time passes: the state machine's timers, and the controller's health as its driver sees it.
    async fn on_tick(&mut self) {
        let now = self.clock.now();
        let outs = self.sm.handle(DoorInput::Tick, now);
        self.apply(outs).await;
        self.card_tick().await;
        let healthy = self.controller.healthy();
        let ctl = self.controller_id();
        match (self.was_healthy, healthy) {
            // Was answering, is not now: offline before the next decision, audited once.
            (Some(true), Some(false)) => self.controller_unreachable("not heard from within its poll budget").await,
            (_, Some(true)) if self.episodes.cause(&ctl) == Some(Cause::Unreachable) => {
                self.controller_back(false).await;
            }
            // Silent: its driver has seen it go and come back.
            (Some(false), Some(true)) if self.episodes.cause(&ctl) == Some(Cause::Silent) => {
                self.controller_back(false).await;
            }
            _ => {}
        }
        self.was_healthy = healthy;
    }

    async fn on_sample(&mut self, side: Side, reader: String, sample: Sample) {
        let received = std::time::Instant::now();
        let now = self.clock.now();
        let registry = self.live.registry();
        let zone = self.cfg.zone.clone();
        let modality = self.readers.get(&ReaderId::new(&reader)).map(|r| r.modality()).unwrap_or(Modality::Finger);
        // Issue 16 §2: a reader throttled by a run of unidentified attempts refuses this one unmatched.
        let rid = ReaderId::new(&reader);
        let policy = self.site.reader_throttle;
        let throttled = self.live.shared().reader_throttle.check(&rid, now, &policy);
        if let Err(t) = throttled {
            return self.refuse_throttled(side, &reader, &sample, t, received, now).await;
        }
        // Why a sample gave no probe (a fingerprint at a palm reader, a blank frame): audited, never a match.
        let mut refused: Option<String> = None;
        // Why nobody was identified: a stranger's finger, or (card doors) no card first.
        let mut no_person = Reason::NotIdentified;
        let mut card_claims = None;
        let card_step = self.card_sample(side, &reader, &sample);
        let two_step = self.two_sample(side, &reader, modality, &sample).await;
        // Whom the first sample at a two-biometrics door identified, when the second was not theirs.
        let mut first_claims = None;
        // Whether the reader delivered a sample of its own modality ([`Identified::own_modality`]).
        let mut own_modality = None;
        // A palm over the score table that the cohort check refused (issue 17 §3): the record says why.
        let mut cohort_refused = None;
        let as_allowed = |identified: Identified,
                          refused: &mut Option<String>,
                          own: &mut Option<bool>,
                          cohort: &mut Option<CohortCheck>| {
            *own = identified.own_modality();
            match identified {
                Identified::Allowed { person, score, .. } => (Some(person), Some(score), true),
                Identified::Attributed { person, score } => (Some(person), Some(score), false),
                Identified::Unusable(e) => {
                    *refused = Some(e.to_string());
                    (None, None, false)
                }
                Identified::NotIdentified { cohort_refused } => {
                    *cohort = cohort_refused;
                    (None, None, false)
                }
            }
        };
        let (person, score, identified_as_allowed) = match side {
            Side::Entry if two_step.is_some() => match two_step {
                Some(two::TwoStep::Complete { person, score }) => (Some(person), Some(score), true),
                // A first sample (or the same finger again): audited and answered; nothing opens yet.
                Some(two::TwoStep::Answered) | None => return,
                Some(two::TwoStep::Unmatched { identified, claimed }) => {
                    first_claims = claimed;
                    as_allowed(identified, &mut refused, &mut own_modality, &mut cohort_refused)
                }
            },
            Side::Entry if card_step.is_some() => match card_step {
                Some(cards::CardStep::Verified { person, score }) => (Some(person), Some(score), true),
                Some(cards::CardStep::Refused { reason, claimed, score, sample_error }) => {
                    no_person = reason;
                    card_claims = claimed;
                    refused = sample_error;
                    (None, score, false)
                }
                None => (None, None, false),
            },
            Side::Entry => {
                let allowed = registry.people_allowed_at_door(&self.cfg.id, now);
                let identified = self.matcher.identify(modality, &sample, &allowed);
                as_allowed(identified, &mut refused, &mut own_modality, &mut cohort_refused)
            }
            Side::Exit => {
                // Exit: identify only among the people recorded inside this zone. Nobody recorded inside means nobody
                // is identified and the exit reader refuses (egress itself is the door's REX and mechanical handle,
                // never this reader); occupancy is held in memory, so after a restart people already inside are
                // not recorded until they enter again (README, escort rule: what is not defended).
                let inside: std::collections::BTreeSet<PersonId> = {
                    let sh = self.live.shared();
                    registry.people.keys().filter(|p| sh.occupancy.is_inside(p, &zone)).cloned().collect()
                };
                let identified = self.matcher.identify(modality, &sample, &inside);
                own_modality = identified.own_modality();
                match identified {
                    Identified::Allowed { person, score, .. } => (Some(person), Some(score), true),
                    Identified::Unusable(e) => {
                        refused = Some(e.to_string());
                        (None, None, false)
                    }
                    Identified::NotIdentified { cohort_refused: c } => {
                        cohort_refused = c;
                        (None, None, false)
                    }
                    Identified::Attributed { .. } => (None, None, false),
                }
            }
        };
        self.reader_modality(&reader, own_modality, refused.as_deref()).await;
        let decision = match (&side, &person) {
            (_, None) => Decision::deny(no_person),
            (Side::Entry, Some(p)) => {
                let req =
                    Request::Enter { door: self.cfg.id.clone(), person: p.clone(), reader: ReaderId::new(&reader) };
                // Attribution names who tried; it never admits (identification only among those allowed here).
                // A grant the door cannot carry out is not a grant: the person is told, the door stays locked;
                // the driver's view is asked now, so a controller that fell silent since the last tick is
                // offline before this decision.
                let facts = NodeFacts {
                    attributed_only: !identified_as_allowed,
                    controller_offline: self.controller_offline(),
                    ..NodeFacts::default()
                };
                self.live.decide_with(&req, now, facts)
            }
            (Side::Exit, Some(p)) => {
                let req = Request::Exit { door: self.cfg.id.clone(), person: p.clone() };
                let facts = NodeFacts { controller_offline: self.controller_offline(), ..NodeFacts::default() };
                self.live.decide_with(&req, now, facts)
            }
        };
        let kind = match side {
            Side::Entry => "door.enter",
            Side::Exit => "door.exit",
        };
        let mut details = serde_json::json!({"door": self.cfg.id.as_str(), "zone": zone.as_str(), "reader": reader, "modality": crate::flows::identify::modality(&sample)});
        if let Some(p) = &person {
            self.ledger_details(&mut details, p, now);
        }
        if let Some(r) = refused {
            details["sample"] = r.into();
        }
        if let Some(c) = cohort_refused {
            details["cohort_check"] = crate::flows::identify::cohort_check_details(&c);
        }
        if let Some(c) = first_claims {
            // Whom the first sample identified: the second was not theirs (two-biometrics, issue 16 §2).
            details["first_sample_claims"] = c.as_str().into();
        }
        if let Some(c) = card_claims {
            // Whom the card named: the finger was not theirs (a found or lent card), not an identification.
            details["card_claims"] = c.as_str().into();
        }
        // The reader's run of unidentified attempts (issue 16 §2): a stranger, a glove or an unusable sample
        // counts and may start the delay or raise the incident; someone identified among those allowed ends
        // the run, and the decision says what the run had imposed. Someone recognised but not allowed here
        // neither counts nor ends it (a colleague at the door does not reset a stranger's run).
        let mut incident = None;
        if person.is_none() {
            let u = self.live.shared().reader_throttle.record_unidentified(rid.clone(), now, &policy);
            details["reader_run"] = serde_json::json!({
                "unidentified_in_a_row": u.failures,
                "delay_s": u.wait_until.map_or(0, |w| (w - now).num_seconds()),
                "next_attempt_not_before": u.wait_until,
            });
            incident = u.incident.map(|(first, last)| (u.failures, first, last));
        } else if identified_as_allowed
            && let Some(e) = self.live.shared().reader_throttle.record_identified(&rid, now, &policy)
        {
            details["reader_run"] = serde_json::json!({
                "ended_after_unidentified": e.failures,
                "throttle_delay_s": e.delay.num_seconds(),
                "waited_ms": (now - e.last).num_milliseconds(),
                "alarmed": e.alarmed,
            });
        }
        if details.get("reader_run").is_some() {
            // After the `if let` above: its guard on the shared state lives through its body.
            self.save_throttle();
        }
        let ev = decision_event(kind, now, person.as_ref(), self.cfg.id.as_str(), &decision, score, details);
        let (decision, seq) = match self.recorder.record(ev).await {
            Ok(r) => (decision, Some(r.seq)),
            Err(_) => (audit_unavailable(), None),
        };
        if let Some((attempts, first, last)) = incident {
            tracing::warn!(door = %self.cfg.id, reader = %reader, attempts, "repeated unidentified attempts at a reader");
            self.note(
                "reader.alarm",
                Outcome::Alarm,
                "REPEATED_UNIDENTIFIED",
                Some("003 §20, NIST SP 800-63B §5.2.2"),
                serde_json::json!({"reader": reader, "zone": zone.as_str(), "attempts": attempts, "first": first, "last": last, "decision": seq}),
            )
            .await;
        }
        // Only now, with the event durable, may the door open. The entry happened only if the controller
        // acknowledged the strike: then, and only then, occupancy changes and the ledger counts it.
        // `issued`: the decision, audit commit included, as the unlock command goes out; `acknowledged`: the
        // controller's answer to it (the report carries both, the metrics' decision latency the first).
        let issued = received.elapsed();
        let mut acknowledged = None;
        let mut told = None;
        // Vendors this exit left without an escort (003 §13(4)).
        let mut left_alone = Vec::new();
        if let Some(granted) = decision.granted() {
            let until = now + chrono::Duration::milliseconds(i64::from(self.site.timeouts.unlock_pulse_ms));
            let before = self.sm.clone();
            let outs = self.sm.unlock(granted, now, until);
            let strike = self.unlock(outs, now).await;
            let answered = received.elapsed();
            match strike {
                Ok(how) => {
                    // A door already open sends no strike, so nothing was acknowledged.
                    acknowledged = matches!(how, Strike::Acknowledged).then_some(answered);
                    self.note(
                        "door.strike",
                        Outcome::Info,
                        match how {
                            Strike::Acknowledged => "STRIKE_ACKNOWLEDGED",
                            Strike::AlreadyOpen => "DOOR_ALREADY_OPEN",
                        },
                        Some("003 §13"),
                        serde_json::json!({"decision": seq, "controller": self.controller_id(), "zone": zone.as_str(), "person": person.as_ref().map(|p| p.as_str()), "ack_us": answered.as_micros() as u64}),
                    )
                    .await;
                    if let Some(p) = &person {
                        let mut sh = self.live.shared();
                        match side {
                            Side::Entry => {
                                sh.occupancy.enter(p.clone(), zone.clone());
                                sh.escorts.record(self.cfg.id.clone(), p.clone(), now);
                            }
                            // Leaving a zone leaves the zones nested in it (003 §13): nobody stays in the
                            // media room. Egress is never held back; an escort leaving a vendor alone is an
                            // incident, raised below (003 §13(4), §20).
                            Side::Exit => {
                                let before = sh.occupancy.clone();
                                sh.occupancy.exit_nested(p, &zone, &self.site);
                                let vendors: Vec<PersonId> = registry
                                    .people
                                    .values()
                                    .filter(|x| x.has_role(tobira_core::model::Role::Vendor))
                                    .map(|x| x.id.clone())
                                    .collect();
                                left_alone = tobira_core::escort::left_alone_by(
                                    &before,
                                    &sh.occupancy,
                                    &vendors,
                                    &registry.visits,
                                    now,
                                );
                            }
                        }
                    }
                    if let Some(r) = self.readers.get(&ReaderId::new(&reader)) {
                        let _ = tokio::time::timeout(COMMAND_BUDGET, r.feedback(Feedback::Granted)).await;
                    }
                }
                Err(e) => {
                    // The decision stays on record as taken; this is what became of it. The state machine
                    // forgets the unlock, so opening the door now is forced, as it is.
                    self.sm = before;
                    tracing::error!(door = %self.cfg.id, error = %e, "strike not acknowledged: the door did not open");
                    self.note(
                        "door.strike",
                        Outcome::Alarm,
                        "STRIKE_FAILED",
                        Some("003 §13, 003 §20"),
                        serde_json::json!({"decision": seq, "controller": self.controller_id(), "zone": zone.as_str(), "person": person.as_ref().map(|p| p.as_str()), "error": e.to_string()}),
                    )
                    .await;
                    let ctl = self.controller_id();
                    match e {
                        DeviceError::Offline { .. } | DeviceError::Closed => {
                            self.controller_unreachable("strike command refused: offline").await
                        }
                        DeviceError::NoAnswer { .. } => {
                            self.relock_after_unanswered_strike();
                            if self.episodes.begin(&ctl, Cause::Silent) {
                                audit_fault(&self.recorder, &self.clock, &self.cfg.id, &ctl, &e).await;
                            } else {
                                self.episodes.escalate(&ctl, Cause::Silent);
                            }
                        }
                        _ => {
                            if self.episodes.begin(&ctl, Cause::Misbehaving) {
                                audit_fault(&self.recorder, &self.clock, &self.cfg.id, &ctl, &e).await;
                            }
                        }
                    }
                    if let Some(r) = self.readers.get(&ReaderId::new(&reader)) {
                        let _ = tokio::time::timeout(COMMAND_BUDGET, r.feedback(Feedback::Denied)).await;
                    }
                    told = Some(Decision::deny(Reason::StrikeFailed));
                }
            }
        } else if let Some(r) = self.readers.get(&ReaderId::new(&reader)) {
            let _ = tokio::time::timeout(COMMAND_BUDGET, r.feedback(Feedback::Denied)).await;
        }
        let notice = match &person {
            Some(escort) if !left_alone.is_empty() => self.escort_left_first(escort, &left_alone, seq, now).await,
            _ => None,
        };
        let told = told.as_ref().unwrap_or(&decision);
        let mut r = report(person.as_ref(), self.cfg.id.as_str(), told, score, seq);
        if let Some(n) = notice {
            r.message = format!("{} {n}", r.message);
        }
        r.latency_us = Some(issued.as_micros() as u64);
        r.acknowledged_us = acknowledged.map(|a| a.as_micros() as u64);
        self.recorder.publish(r);
    }

    /// A reader that delivers another modality's sample (a palm bridge handing over a fingerprint image) is a
    /// device that lies, whoever stands at it: one fault episode per reader however many such frames come,
    /// audited when it begins and ended (audited once) by the reader's next sample of its own modality — never
    /// a storm, never nothing (issue 15, 003 §20). Each attempt is still a decision of its own, refused.
    async fn reader_modality(&mut self, reader: &str, own_modality: Option<bool>, why: Option<&str>) {
        match own_modality {
            Some(false) if self.episodes.begin(reader, Cause::Misbehaving) => {
                tracing::warn!(door = %self.cfg.id, reader, "reader delivered another modality's sample");
                self.note(
                    "device.fault",
                    Outcome::Alarm,
                    "DEVICE_WRONG_MODALITY",
                    Some("003 §20"),
                    serde_json::json!({"device": reader, "error": why}),
                )
                .await;
            }
            Some(true) if self.episodes.end(reader).is_some() => {
                audit_recovery(&self.recorder, &self.clock, &self.cfg.id, reader).await;
            }
            _ => {}
        }
    }

    /// An escort's exit left vendors alone inside (003 §13(4), 002 §5-4): one incident for the security
    /// manager per vendor and zone (003 §20), recorded against the exit that caused it so the entry/exit ledger
    /// flags both rows. The exit itself stands (egress is never blocked); the escort is told.
    async fn escort_left_first(
        &self,
        escort: &PersonId,
        alone: &[tobira_core::escort::Unescorted],
        exit_seq: Option<i64>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<String> {
        let reg = self.live.registry();
        let mut told = Vec::new();
        for u in alone {
            let zone_name = self.site.zone(&u.zone).map(|z| z.name.clone()).unwrap_or_else(|| u.zone.to_string());
            tracing::warn!(door = %self.cfg.id, escort = %escort, vendor = %u.vendor, zone = %u.zone, "escort left a vendor alone inside");
            let ev = NewEvent::new(now, "door.alarm.unescorted", Outcome::Alarm, "ESCORT_LEFT_FIRST")
                .actor(escort.as_str())
                .subject(u.vendor.as_str())
                .place(self.cfg.id.as_str())
                .article("003 §13(4), 002 §5-4, 003 §20")
                .details(serde_json::json!({
                    "door": self.cfg.id.as_str(), "zone": u.zone.as_str(), "vendor": u.vendor.as_str(),
                    "escort": escort.as_str(), "visit": u.visit.as_ref().map(|v| v.as_str()),
                    "escorts": u.escorts.iter().map(|e| e.as_str()).collect::<Vec<_>>(), "exit": exit_seq,
                }));
            if let Err(e) = self.recorder.record(ev).await {
                tracing::error!(error = %e, "the unescorted vendor could not be recorded");
            }
            let name = reg.person(&u.vendor).map(|p| p.name.clone()).unwrap_or_default();
            told.push(format!("{} ({name}) in {zone_name}", u.vendor));
        }
        Some(format!(
            "Your vendor is still inside without an escort: {} — an escort must stay with them (付添い, \
             003 §13(4)); the security manager has been alerted.",
            told.join(", ")
        ))
    }

    /// An attempt at a throttled reader: recorded as refused, never matched, the person told how long to
    /// wait (issue 16 §2). It does not count as a failure, so holding the reader does not lengthen the delay.
    async fn refuse_throttled(
        &self,
        side: Side,
        reader: &str,
        sample: &Sample,
        t: tobira_core::throttle::Throttled,
        received: std::time::Instant,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let decision = Decision::deny(Reason::ReaderThrottled);
        let kind = match side {
            Side::Entry => "door.enter",
            Side::Exit => "door.exit",
        };
        let details = serde_json::json!({
            "door": self.cfg.id.as_str(), "zone": self.cfg.zone.as_str(), "reader": reader,
            "modality": crate::flows::identify::modality(sample),
            "reader_run": {"unidentified_in_a_row": t.failures, "next_attempt_not_before": t.until, "retry_after_s": t.retry_after_s(now)},
        });
        let ev = decision_event(kind, now, None, self.cfg.id.as_str(), &decision, None, details);
        let (decision, seq) = match self.recorder.record(ev).await {
            Ok(r) => (decision, Some(r.seq)),
            Err(_) => (audit_unavailable(), None),
        };
        if let Some(r) = self.readers.get(&ReaderId::new(reader)) {
            let _ = tokio::time::timeout(COMMAND_BUDGET, r.feedback(Feedback::Denied)).await;
        }
        let mut r = report(None, self.cfg.id.as_str(), &decision, None, seq);
        if decision.reason == Reason::ReaderThrottled {
            r.message = format!("{} Next attempt in {} s.", r.message, t.retry_after_s(now));
        }
        r.latency_us = Some(received.elapsed().as_micros() as u64);
        self.recorder.publish(r);
    }

    /// Carries out a grant's unlock: the strike command, bounded by its acknowledgement budget, then the
    /// machine's other outputs. An error means the door did not open. The pulse is the length the state
    /// machine granted at `decided` (the controller times it from when it receives the command), not what
    /// is left of it after the audit commit and the health check: a loaded node must not shorten a person's
    /// time at the door.
    async fn unlock(
        &mut self,
        outs: Vec<DoorOutput>,
        decided: chrono::DateTime<chrono::Utc>,
    ) -> Result<Strike, DeviceError> {
        let mut how = Strike::AlreadyOpen;
        let mut rest = Vec::new();
        for o in outs {
            match o {
                DoorOutput::Energise { until } => {
                    let ms = (until - decided).num_milliseconds().clamp(100, 60_000) as u64;
                    self.strike(Duration::from_millis(ms)).await?;
                    how = Strike::Acknowledged;
                    let ctl = self.controller_id();
                    // It did its job: a misbehaving episode ends here.
                    if self.episodes.end(&ctl).is_some() {
                        audit_recovery(&self.recorder, &self.clock, &self.cfg.id, &ctl).await;
                    }
                }
                other => rest.push(other),
            }
        }
        self.apply(rest).await;
        Ok(how)
    }

    /// A strike command that was never acknowledged may still be carried out: a slow controller pulls the
    /// relay in after the person was told the door did not open. A relock goes after it on the controller's own
    /// queue, from a task of its own so the door task is not held (fail secure: 003 §13); if the door opens
    /// meanwhile, the state machine (which forgot the unlock) records it as forced, as it is.
    fn relock_after_unanswered_strike(&self) {
        let ctl = self.controller.clone();
        let door = self.cfg.id.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(LATE_RELOCK_BUDGET, ctl.relock()).await {
                Ok(Ok(())) => tracing::info!(door = %door, "relocked after a strike that was not acknowledged"),
                Ok(Err(e)) => tracing::warn!(door = %door, error = %e, "relock after an unacknowledged strike failed"),
                Err(_) => tracing::warn!(door = %door, "relock after an unacknowledged strike not answered"),
            }
        });
    }

    /// One strike pulse, acknowledged within [`STRIKE_ACK_BUDGET`] or failed.
    async fn strike(&self, pulse: Duration) -> Result<(), DeviceError> {
        match tokio::time::timeout(STRIKE_ACK_BUDGET, self.controller.pulse(pulse)).await {
            Ok(r) => r,
            Err(_) => Err(DeviceError::NoAnswer { device: self.controller_id() }),
        }
    }

    /// What the entry/exit ledger needs beside the event: purpose, escort and approver (000 Form 1).
    fn ledger_details(&self, details: &mut serde_json::Value, p: &PersonId, now: chrono::DateTime<chrono::Utc>) {
        let reg = self.live.registry();
        if let Some(v) = reg
            .visits
            .iter()
            .find(|v| &v.vendor == p && v.doors.contains(&self.cfg.id) && v.from <= now && now < v.until)
        {
            let escort = {
                let sh = self.live.shared();
                v.escorts
                    .iter()
                    .find(|e| sh.escorts.recent(&self.cfg.id, e, now, self.site.timeouts.escort_window_s))
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
        let now = self.clock.now();
        let input = match i {
            Ok(HwInput::ContactOpened) => DoorInput::ContactOpen,
            Ok(HwInput::ContactClosed) => DoorInput::ContactClosed,
            Ok(HwInput::Rex) => DoorInput::Rex,
            Ok(other) => return self.device_state(other).await,
            Err(e) => {
                // The driver's input side failed (its thread stopped): one outage, however often retried.
                let ctl = self.controller_id();
                if self.episodes.begin(&ctl, Cause::Unreachable) {
                    audit_fault(&self.recorder, &self.clock, &self.cfg.id, &ctl, &e).await;
                } else {
                    self.episodes.escalate(&ctl, Cause::Unreachable);
                }
                return;
            }
        };
        let outs = self.sm.handle(input, now);
        self.apply(outs).await;
    }

    async fn device_state(&mut self, i: HwInput) {
        if self.on_card_input(&i).await {
            return;
        }
        let (kind, reason, outcome) = match i {
            HwInput::Offline => return self.controller_unreachable("its driver reports it offline").await,
            HwInput::Online => {
                let first = !std::mem::replace(&mut self.seen_online, true);
                return self.controller_back(first).await;
            }
            HwInput::Tamper => ("device.tamper", "TAMPER", Outcome::Alarm),
            HwInput::PowerLost => ("device.power", "POWER_LOST", Outcome::Alarm),
            HwInput::SecureChannelDown => ("device.secure_channel", "SECURE_CHANNEL_DOWN", Outcome::Alarm),
            // Cards are not a credential at a biometric-only door; the read is recorded, the number is not.
            HwInput::CardRead { .. } => ("door.card", "CARD_READ", Outcome::Info),
            HwInput::KeyPress { .. } => ("door.keypad", "KEY_PRESSED", Outcome::Info),
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
        let ctl = self.controller.clone();
        for o in outs {
            match o {
                // Only a grant energises the strike, through `unlock`, which waits for the acknowledgement.
                DoorOutput::Energise { until } => {
                    let ms = (until - self.clock.now()).num_milliseconds().clamp(100, 60_000) as u64;
                    if let Err(e) = self.strike(Duration::from_millis(ms)).await {
                        tracing::warn!(door = %self.cfg.id, error = %e, "strike command not acknowledged");
                    }
                }
                DoorOutput::Relock => {
                    let _ = tokio::time::timeout(COMMAND_BUDGET, ctl.relock()).await;
                }
                DoorOutput::Alarm(a) => {
                    let (kind, reason) = match a {
                        Alarm::ForcedOpen => ("door.alarm.forced", "FORCED_OPEN"),
                        Alarm::HeldOpen => ("door.alarm.held", "HELD_OPEN"),
                    };
                    let _ = tokio::time::timeout(COMMAND_BUDGET, ctl.feedback(Feedback::Alarm)).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_starts_again_after_success() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<u128> = (0..7).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 2000, 2000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn a_device_that_fails_at_once_forever_costs_a_bounded_number_of_retries() {
        // Issue 15: an unplugged reader returning its error at once used to spin a core. With the backoff a
        // minute of failures is at most a few dozen retries.
        let mut b = Backoff::new(RETRY_FIRST, RETRY_CAP);
        let (mut waited, mut retries) = (Duration::ZERO, 0);
        while waited < Duration::from_secs(60) {
            waited += b.next_delay();
            retries += 1;
        }
        assert!(retries <= 40, "{retries} retries in a minute");
    }

    #[test]
    fn an_episode_is_audited_once_and_ends_once() {
        let mut e = Episodes::default();
        assert!(e.begin("r1", Cause::Unreachable), "the first fault begins an episode");
        for _ in 0..100 {
            assert!(!e.begin("r1", Cause::Unreachable), "retries within the episode are not audited again");
        }
        assert!(e.begin("r2", Cause::Misbehaving), "another device has its own episode");
        assert_eq!(e.end("r1"), Some(Cause::Unreachable), "the recovery is audited once");
        assert_eq!(e.end("r1"), None, "…and only once");
        assert!(e.begin("r1", Cause::Unreachable), "a new outage is a new episode");
    }

    #[test]
    fn escalating_keeps_one_episode() {
        let mut e = Episodes::default();
        assert!(e.begin("ctl", Cause::Silent));
        e.escalate("ctl", Cause::Unreachable);
        assert!(!e.begin("ctl", Cause::Unreachable), "still the same episode");
        assert_eq!(e.cause("ctl"), Some(Cause::Unreachable));
        e.escalate("other", Cause::Unreachable);
        assert_eq!(e.cause("other"), None, "escalating opens nothing");
    }
}
