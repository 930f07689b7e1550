//! The simulated devices a `--simulation` daemon runs its flows against: which simulated reader, controller
//! and R30x module is which. The `tobira sim …` commands that drive them are `admin::sim`.

use crate::refusal::Refusal;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tobira_core::ids::{ControllerId, DoorId, ReaderId};
use tobira_core::site::{ControllerConfig, ReaderConfig};
use tobira_drivers::sim::{SimDoor, SimDoorHandle, SimReader, SimReaderHandle, population::SimPopulation};
use tobira_drivers::{DoorController, Modality, Reader};

pub struct SimDevices {
    pub readers: HashMap<ReaderId, SimReaderHandle>,
    /// Fingerprint readers on the protocol level (kind `sim-r30x`): R30x modules on pseudo-terminals.
    pub r30x: HashMap<ReaderId, crate::sim::r30x::R30xSim>,
    pub controllers: HashMap<ControllerId, SimDoorHandle>,
    pub door_controller: HashMap<DoorId, ControllerId>,
    pub population: SimPopulation,
    /// Each presentation is a fresh impression: the attempt number seeds its noise.
    pub attempts: AtomicU64,
}

impl Default for SimDevices {
    fn default() -> Self {
        SimDevices {
            readers: HashMap::new(),
            r30x: HashMap::new(),
            controllers: HashMap::new(),
            door_controller: HashMap::new(),
            population: population(),
            attempts: AtomicU64::new(0),
        }
    }
}

/// The simulator's people (issue 22 §5): one set of fingers on every reader kind. A `sim-r30x` module uploads
/// images of each finger's master print; a `sim-finger` reader presents impressions of the minutiae this
/// daemon's own extractor finds on a clean impression of that print (once per person and finger: the first
/// presentation grows the print and extracts it). So a person enrolled at either kind is identified at the
/// other. Public for the benchmarks, which enrol the people they present the same way.
pub fn population() -> SimPopulation {
    SimPopulation::default().with_master_minutiae(Arc::new(|img| tobira_biometrics::image::extract_minutiae(img).0))
}

impl SimDevices {
    pub fn add_reader(&mut self, r: &ReaderConfig) -> Arc<dyn Reader> {
        let modality = if r.kind == "sim-palm" { Modality::Palm } else { Modality::Finger };
        let (dev, handle) = SimReader::new(r.id.as_str(), modality);
        self.readers.insert(r.id.clone(), handle);
        dev
    }

    /// An R30x module simulated on a PTY and the real driver on it (kind `sim-r30x`), the module keeping its
    /// line rate in real time when the site says `[simulation] line_rate = "kept"`.
    pub fn add_r30x(&mut self, r: &ReaderConfig, keep_line_rate: bool) -> std::io::Result<Arc<dyn Reader>> {
        let sim = crate::sim::r30x::R30xSim::start(r.id.as_str(), r.baud, keep_line_rate)?;
        let dev = sim.reader();
        self.r30x.insert(r.id.clone(), sim);
        Ok(dev)
    }

    pub fn add_controller(&mut self, c: &ControllerConfig) -> Arc<dyn DoorController> {
        let (dev, handle) = SimDoor::new(c.id.as_str());
        self.controllers.insert(c.id.clone(), handle);
        dev
    }

    pub fn map_door(&mut self, door: &DoorId, controller: &ControllerId) {
        self.door_controller.insert(door.clone(), controller.clone());
    }

    pub(crate) fn door(&self, door: &str) -> Result<&SimDoorHandle, Refusal> {
        self.door_controller
            .get(&DoorId::new(door))
            .and_then(|c| self.controllers.get(c))
            .ok_or_else(|| Refusal::not_found(format!("no simulated door {door:?}")))
    }

    /// What was presented at `readers` and not read is taken away (a capture under way at an R30x module
    /// is let through to its driver and then discarded): after a refused or timed-out command nobody is
    /// standing at those readers any more (issue 22 §5).
    pub async fn forget_touches(&self, readers: &[String]) {
        for r in readers {
            if let Some(m) = self.r30x.get(&ReaderId::new(r)) {
                let _ = m.clear().await;
            } else if let Some(h) = self.readers.get(&ReaderId::new(r)) {
                let _ = h.clear();
            }
        }
    }

    pub(crate) fn reader(&self, reader: &str) -> Result<&SimReaderHandle, Refusal> {
        self.readers
            .get(&ReaderId::new(reader))
            .ok_or_else(|| Refusal::not_found(format!("no simulated reader {reader:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tobira_biometrics::synthetic::{PRINT_H, PRINT_W};
    use tobira_biometrics::{FingerTemplate, Prepared, PreparedFinger, Sample, Score, Threshold, extract};

    /// What the daemon makes of a sample: its template.
    fn minutiae(s: &Sample) -> tobira_biometrics::MinutiaeTemplate {
        extract(s).unwrap_or_else(|e| panic!("{e}"))
    }

    /// What a `sim-r30x` module uploads, as the daemon's image pipeline extracts it.
    fn image(p: &SimPopulation, body: &str, attempt: u64) -> tobira_biometrics::MinutiaeTemplate {
        minutiae(&Sample::Gray8 { width: PRINT_W, height: PRINT_H, dpi: 500, pixels: p.image(body, 2, attempt) })
    }

    /// A finger enrolled as the daemon enrols it: three captures, each kept, a probe scored against the best
    /// of them (issue 17's fusion).
    fn enrolled(views: Vec<tobira_biometrics::MinutiaeTemplate>) -> PreparedFinger {
        FingerTemplate::new(views).unwrap_or_else(|| panic!("three views")).prepare()
    }

    /// Issue 22 §5: one synthetic person has the same finger at a template-level reader (`sim-finger`) and an
    /// image reader (`sim-r30x`): a finger enrolled at either kind (three captures, as the daemon enrols)
    /// matches a capture at the other above the 1:1 threshold (FMR 1e-4, the proof of an administrative act
    /// and a login), and two people's do not, whichever kinds. (Scored one capture against one, as before
    /// enrolment fusion, the six people's lowest cross-kind score was tanaka's 0.122 against a threshold of
    /// 0.116, and under an extractor tried on 2026-12-06 whose table put the threshold at 0.129 one draw of
    /// his fell under it — 0.121 — while his other draws scored 0.29 or more: a single capture is rejected
    /// now and then, as on real prints; the daemon decides on a probe against three.)
    #[test]
    fn a_persons_finger_is_the_same_at_template_and_image_readers_and_two_people_differ() {
        let p = population();
        let t = Threshold::default();
        let people = ["tanaka", "suzuki", "sato", "takahashi", "ito", "abe"];
        // Per person: three template-level captures and three images enrolled, one more of each as probes.
        let mut fingers = Vec::new();
        for (i, body) in people.iter().enumerate() {
            let a = i as u64 * 10;
            let by_template = enrolled((1..=3).map(|k| minutiae(&p.impression(body, 2, a + k))).collect());
            let by_image = enrolled((4..=6).map(|k| image(&p, body, a + k)).collect());
            let (tpl, img) =
                (Prepared::new(&minutiae(&p.impression(body, 2, a + 7))), Prepared::new(&image(&p, body, a + 8)));
            let s = by_template.compare(&img).0;
            assert!(t.accepts(Score(s)), "{body}: an image probe against a template-level enrolment: {s:.3}");
            let s = by_image.compare(&tpl).0;
            assert!(t.accepts(Score(s)), "{body}: a template-level probe against an image enrolment: {s:.3}");
            fingers.push((by_template, by_image, tpl, img));
        }
        for (i, (by_tpl_a, by_img_a, _, _)) in fingers.iter().enumerate() {
            for (j, (_, _, tpl_b, img_b)) in fingers.iter().enumerate().filter(|(j, _)| *j != i) {
                for (what, s) in [
                    ("template enrolment / template probe", by_tpl_a.compare(tpl_b).0),
                    ("template enrolment / image probe", by_tpl_a.compare(img_b).0),
                    ("image enrolment / template probe", by_img_a.compare(tpl_b).0),
                    ("image enrolment / image probe", by_img_a.compare(img_b).0),
                ] {
                    assert!(!t.accepts(Score(s)), "{} and {}: {what} {s:.3}", people[i], people[j]);
                }
            }
        }
        // Without the extractor (drivers' own tests, `tobira-sim`) the template-level finger is another one.
        let unrelated = Prepared::new(&minutiae(&SimPopulation::default().impression("tanaka", 2, 1)));
        let s = fingers[0].1.compare(&unrelated).0;
        assert!(!t.accepts(Score(s)), "the old, unrelated template-level finger: {s:.3}");
    }
}
