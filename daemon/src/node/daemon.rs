//! The running daemon's shared state and the steps every flow shares: audit first, then act.

use crate::node::clock::Clock;
use crate::node::live::Live;
use crate::node::options::Options;
use crate::node::recorder::Recorder;
use crate::store::RegistryStore;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use tobira_audit::{AuditWriter, NewEvent, Outcome, Receipt};
use tobira_biometrics::palm::{PalmGallery, PalmTemplate, PalmThreshold, cohort};
use tobira_biometrics::{FingerTemplate, Gallery, PreparedFinger, Threshold};
use tobira_core::ids::{DoorId, PersonId, ReaderId};
use tobira_core::model::Registry;
use tobira_core::policy::{Decision, NodeFacts, Reason};
use tobira_core::site::{Fpir, Site};
use tobira_drivers::{DoorController, Reader};
use tobira_proto::DecisionReport;
use zeroize::Zeroizing;

/// Gallery key: one per loaded template.
pub type MatchKey = u64;

/// Who owns a template in the matcher's memory.
#[derive(Clone)]
pub struct TemplateOwner {
    pub person: PersonId,
    pub template_id: String,
}

/// The matcher's in-memory state: the only place plain templates live (DESIGN "Templates").
#[derive(Default)]
pub struct Matching {
    pub gallery: Gallery<MatchKey>,
    pub owners: HashMap<MatchKey, TemplateOwner>,
    /// Each enrolled finger with all its impressions (issue 17: compared by the best).
    pub by_person: BTreeMap<PersonId, Vec<(MatchKey, PreparedFinger)>>,
    pub next_key: MatchKey,
    /// Palm-vein templates (the modality 000 §8 registers): their own gallery and matcher, never mixed with
    /// fingerprints, so a palm probe is only ever compared with palms. Keys share `owners` and `next_key`.
    pub palms: PalmGallery<MatchKey>,
    pub palms_by_person: BTreeMap<PersonId, Vec<(MatchKey, PalmTemplate)>>,
}

impl Matching {
    pub fn insert(&mut self, person: PersonId, template_id: String, t: FingerTemplate) -> MatchKey {
        let key = self.next_key;
        self.next_key += 1;
        self.gallery.insert_finger(key, &t);
        self.owners.insert(key, TemplateOwner { person: person.clone(), template_id });
        self.by_person.entry(person).or_default().push((key, t.prepare()));
        key
    }

    pub fn insert_palm(&mut self, person: PersonId, template_id: String, t: PalmTemplate) -> MatchKey {
        let key = self.next_key;
        self.next_key += 1;
        self.palms.insert(key, t.clone());
        self.owners.insert(key, TemplateOwner { person: person.clone(), template_id });
        self.palms_by_person.entry(person).or_default().push((key, t));
        key
    }

    pub fn insert_decoded(&mut self, person: PersonId, template_id: String, t: Decoded) -> MatchKey {
        match t {
            Decoded::Finger(t) => self.insert(person, template_id, t),
            Decoded::Palm(t) => self.insert_palm(person, template_id, t),
        }
    }

    /// Does the palm match of `probe` with the template under `key` stand out from the probe's similarity to
    /// other people's palms enrolled here, at `fmr` per comparison (`palm::cohort`, issue 17 §3)? The
    /// cohort leaves out the template owner's palms; with fewer than `cohort::MIN_COHORT` others enrolled
    /// there is no check (`None`) and the score table alone decides.
    pub fn palm_cohort_check(&self, probe: &PalmTemplate, key: MatchKey, fmr: f64) -> Option<cohort::CohortCheck> {
        let owner = &self.owners.get(&key)?.person;
        let reference = self.palms_by_person.get(owner)?.iter().find(|(k, _)| *k == key).map(|(_, t)| t)?;
        let others: Vec<&[(MatchKey, PalmTemplate)]> =
            self.palms_by_person.iter().filter(|(p, _)| *p != owner).map(|(_, v)| v.as_slice()).collect();
        let stats = cohort::CohortStats::measure(probe, cohort::round_robin(&others).into_iter().map(|(_, t)| t))?;
        Some(cohort::check(probe, reference, &stats, fmr))
    }

    /// Does this person have an approved template of any modality (to prove who they are, to be warned about)?
    pub fn has_template(&self, person: &PersonId) -> bool {
        self.by_person.contains_key(person) || self.palms_by_person.contains_key(person)
    }

    /// Forgets templates (erased, superseded): they stop matching at once, in memory as on disk.
    pub fn remove_where(&mut self, gone: impl Fn(&TemplateOwner) -> bool) -> usize {
        let keys: Vec<MatchKey> = self.owners.iter().filter(|(_, o)| gone(o)).map(|(k, _)| *k).collect();
        for k in &keys {
            self.gallery.remove(k);
            self.palms.remove(k);
            if let Some(o) = self.owners.remove(k) {
                for_person(&mut self.by_person, &o.person, k);
                for_person(&mut self.palms_by_person, &o.person, k);
            }
        }
        keys.len()
    }
}

/// A decrypted template, decoded by the modality the store records for it.
pub enum Decoded {
    /// An ISO/IEC 19794-2 minutiae record: one view (stored before issue 17's fusion) or up to three
    /// impressions of the finger.
    Finger(FingerTemplate),
    /// A TPVT palm-vein template (`tobira_biometrics::palm::template`).
    Palm(PalmTemplate),
}

/// Why a decrypted template did not decode: the store is damaged or was written by another version.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{0}")]
    Palm(#[from] tobira_biometrics::palm::TemplateError),
    #[error("{0}")]
    Finger(#[from] tobira_biometrics::iso19794_2::IsoError),
    #[error("unknown modality {0:?}")]
    Modality(String),
}

impl Decoded {
    pub fn decode(modality: &str, plain: &[u8]) -> Result<Decoded, DecodeError> {
        match modality {
            "palm" => Ok(Decoded::Palm(PalmTemplate::decode(plain)?)),
            "finger" => Ok(Decoded::Finger(FingerTemplate::decode(plain)?)),
            other => Err(DecodeError::Modality(other.to_string())),
        }
    }
}

/// Drops template `k` from a person's list, and the person once the list is empty.
fn for_person<T>(by: &mut BTreeMap<PersonId, Vec<(MatchKey, T)>>, person: &PersonId, k: &MatchKey) {
    if let Some(v) = by.get_mut(person) {
        v.retain(|(x, _)| x != k);
        if v.is_empty() {
            by.remove(person);
        }
    }
}

pub use crate::node::live::Shared;

pub struct DoorRuntime {
    pub id: DoorId,
    pub controller: Arc<dyn DoorController>,
}

/// The node's durable stores: the registry (people, grants, templates, requests, alarms …) and the audit
/// store with its writer, the one way an event is appended (`Recorder::record`, through its clone of the writer).
pub struct Stores {
    pub registry: Arc<RegistryStore>,
    pub audit: tobira_audit::AuditStore,
    pub writer: AuditWriter,
}

/// The devices the node drives, as the site file configures them: each reader and door controller, what each
/// door task last left its door in, and the simulated devices when running with `--simulation`.
pub struct Devices {
    pub readers: HashMap<ReaderId, Arc<dyn Reader>>,
    pub doors: HashMap<DoorId, DoorRuntime>,
    /// Each door's state as its task last left it (locked, open, forced …), for `devices` (issue 18).
    pub door_states: Arc<crate::node::door_states::DoorStates>,
    pub sim: Option<crate::sim::devices::SimDevices>,
}

/// The matcher: the templates in memory and the thresholds a comparison must reach (`flows::identify`).
pub struct Matcher {
    pub matching: RwLock<Matching>,
    pub threshold: Threshold,
    /// The palm matcher's threshold, at the same false-match rate as `threshold` (palm scores have their own
    /// calibration table, `PalmThreshold`).
    pub palm_threshold: PalmThreshold,
    /// The site's false-positive identification rate, per decision (`identification.fpir`, issue 16 §2).
    pub fpir: Fpir,
}

/// The node's link to the centre of a multi-node site: how shipping stands and the registry sync task's
/// wake-up (when it last heard from the centre is live state, `Live::contact`).
pub struct CentralLink {
    /// Shipping to the central store, when the site names one (`[central]`).
    pub shipping: Mutex<Option<crate::node::shipping::ShipState>>,
    /// Wakes the registry sync task when a change is queued for the centre.
    pub outbox_wake: tokio::sync::Notify,
}

pub struct Daemon {
    pub opts: Options,
    pub site: Arc<Site>,
    pub clock: Arc<Clock>,
    pub stores: Stores,
    /// The node key wrapping template data keys; written only by a rotation, which holds it for writing so
    /// no template is sealed under a key being replaced.
    pub template_key: tokio::sync::RwLock<Zeroizing<Vec<u8>>>,
    /// Set once a system administrator has an approved template (see `actor`).
    pub bootstrap_closed: std::sync::atomic::AtomicBool,
    pub central: CentralLink,
    /// The audit writer with the alarms, metrics and decisions it feeds: `record` and `publish`.
    pub recorder: Arc<Recorder>,
    /// The live state decisions are made with, and when the centre was last heard from.
    pub live: Arc<Live>,
    pub matcher: Arc<Matcher>,
    pub devices: Arc<Devices>,
    /// The door tasks' and the login socket's heartbeats, read by systemd's watchdog pinger (issue 19).
    pub heartbeats: Arc<crate::node::heartbeat::Heartbeats>,
}

impl Daemon {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.live.shared()
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.live.registry()
    }

    /// `Recorder::record`: audit first, then act.
    pub async fn record(&self, ev: NewEvent) -> Result<Receipt, tobira_audit::AuditError> {
        self.recorder.record(ev).await
    }

    /// `Live::decide`.
    pub fn decide(&self, req: &tobira_core::policy::Request, now: DateTime<Utc>) -> Decision {
        self.live.decide(req, now)
    }

    /// `Live::decide_with`.
    pub fn decide_with(&self, req: &tobira_core::policy::Request, now: DateTime<Utc>, facts: NodeFacts) -> Decision {
        self.live.decide_with(req, now, facts)
    }

    /// `Recorder::publish`.
    pub fn publish(&self, report: DecisionReport) {
        self.recorder.publish(report)
    }

    /// Reloads the registry snapshot after an audited change.
    pub async fn reload_registry(&self) -> Result<(), crate::store::StoreError> {
        let reg = self.stores.registry.load_registry((*self.site).clone()).await?;
        let index = tobira_core::model::GrantIndex::new(&reg);
        let mut sh = self.shared();
        sh.registry = Arc::new(reg);
        sh.grants = index;
        Ok(())
    }
}

/// Builds an audit event for a decision.
pub fn decision_event(
    kind: &str,
    now: DateTime<Utc>,
    actor: Option<&PersonId>,
    place: &str,
    decision: &Decision,
    score: Option<f32>,
    details: serde_json::Value,
) -> NewEvent {
    NewEvent::new(
        now,
        kind,
        if decision.is_granted() { Outcome::Granted } else { Outcome::Denied },
        decision.reason.code(),
    )
    .actor(actor.map(|p| p.as_str().to_string()))
    .subject(actor.map(|p| p.as_str().to_string()))
    .place(place)
    .article(decision.article)
    .score(score.map(f64::from))
    .details(details)
}

pub fn report(
    person: Option<&PersonId>,
    place: &str,
    decision: &Decision,
    score: Option<f32>,
    seq: Option<i64>,
) -> DecisionReport {
    DecisionReport {
        granted: decision.is_granted(),
        person: person.map(|p| p.as_str().to_string()),
        place: place.to_string(),
        reason: decision.reason.code().to_string(),
        message: decision.reason.to_string(),
        article: decision.article.to_string(),
        score: score.map(f64::from),
        audit_seq: seq,
        latency_us: None,
        acknowledged_us: None,
    }
}

/// A denial because the audit store could not take the event: the door stays locked (fail secure).
pub fn audit_unavailable() -> Decision {
    Decision::deny(Reason::AuditUnavailable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tobira_biometrics::palm::synthetic::{PalmNoise, SyntheticPalm};
    use tobira_biometrics::palm::{ROI_SIDE, extract_region};

    fn palm(seed: u64, impression: u64) -> PalmTemplate {
        let px = SyntheticPalm::new(seed).impression(impression, &PalmNoise::default());
        extract_region(&px, ROI_SIDE, ROI_SIDE).expect("a synthetic palm enrols")
    }

    fn site(people: u64) -> (Matching, Vec<MatchKey>) {
        let mut m = Matching::default();
        let keys = (0..people)
            .map(|p| m.insert_palm(PersonId::new(format!("p{p:03}")), format!("t{p}"), palm(7_000 + p, 0)))
            .collect();
        (m, keys)
    }

    /// Issue 17 §3 in the daemon: with enough other people's palms enrolled, a palm match must stand out
    /// from the probe's similarity to them; the owner's own palms never enter the cohort; a small site has
    /// no check (the score table alone decides, as the README says).
    #[test]
    fn a_palm_match_is_checked_against_the_other_people_enrolled_here() {
        let (m, keys) = site(40);
        let mate = palm(7_005, 1);
        let c = m.palm_cohort_check(&mate, keys[5], 1e-4).expect("39 others enrolled: a cohort");
        assert_eq!(c.cohort, 39, "the owner's palm is left out, one per other person");
        assert!(c.passes(), "the true mate stands out: {c:?}");
        // Someone else's palm against person 5: far below the z a match needs, at 1:1 and at a door.
        let stranger = palm(9_999, 1);
        let s = m.palm_cohort_check(&stranger, keys[5], 1e-4).expect("a cohort");
        assert!(!s.passes() && s.z < 3.0, "{s:?}");
        // At a door of 40 the per-comparison rate is stricter, so the z asked for is higher.
        let door = m.palm_cohort_check(&mate, keys[5], 1e-4 / 40.0).expect("a cohort");
        assert!(door.required > c.required, "{door:?} {c:?}");
        // Fewer than MIN_COHORT others: no check.
        let (small, small_keys) = site(20);
        assert_eq!(small.palm_cohort_check(&mate, small_keys[5], 1e-4), None);
        // An unknown key is no match to check.
        assert_eq!(m.palm_cohort_check(&mate, 9_999_999, 1e-4), None);
    }
}
