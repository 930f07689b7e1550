//! From a captured sample to a person: extraction, then 1:N among the people allowed here.
//!
//! The sample's kind picks the pipeline: a near-infrared palm image ([`Sample::PalmNir`], a palm reader)
//! goes to the palm-vein extractor and the palm gallery, everything else to the fingerprint pipeline. The
//! two never meet: a palm probe is compared only with palm templates, at the palm matcher's own calibrated
//! threshold for the same false-match rate.

use crate::node::daemon::{MatchKey, Matcher, Matching};
use std::collections::BTreeSet;
use tobira_biometrics::palm::cohort::CohortCheck;
use tobira_biometrics::palm::{PalmError, PalmTemplate, PalmThreshold, extract_palm};
use tobira_biometrics::{ExtractError, MinutiaeTemplate, Prepared, Sample, Score, Threshold, extract};
use tobira_core::ids::PersonId;
use tobira_drivers::Modality;

/// What a keyed 1:1 comparison found ([`Matcher::verify_other`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Verified {
    /// One of the person's other enrolled fingers or hands matched.
    Other { key: MatchKey, score: f32 },
    /// Only the excluded one matched: the same finger or hand again.
    Same { score: f32 },
    /// None matched; the best score against the others.
    No { score: f32 },
}

/// A 1:1 verification's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verification {
    pub matched: bool,
    /// The best score against the person's templates.
    pub score: f32,
    /// The palm cohort check, when the score table accepted a palm and enough others are enrolled to make it.
    pub cohort: Option<CohortCheck>,
}

pub enum Identified {
    /// Matched among the people allowed here; `key` is the enrolled finger or hand it matched (a
    /// `two-biometrics` door asks for a different one next).
    Allowed {
        person: PersonId,
        score: f32,
        key: MatchKey,
    },
    /// Not among those allowed, but a strict second look attributes it to someone (for the audit trail only:
    /// this never grants, it only lets the ledger say who tried).
    Attributed {
        person: PersonId,
        score: f32,
    },
    /// Nobody here. `cohort_refused`: a palm the score table accepted for someone allowed here but the cohort
    /// check refused (it matched the other people enrolled here about as well, issue 17 §3), so the record
    /// says why a score over the threshold opened nothing; `None` for every other unmatched sample.
    NotIdentified {
        cohort_refused: Option<CohortCheck>,
    },
    Unusable(SampleError),
}

/// Why a sample gave no probe: the fingerprint or the palm pipeline refused it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    #[error(transparent)]
    Finger(#[from] ExtractError),
    #[error("palm-vein image refused (手のひら静脈): {0}")]
    Palm(#[from] PalmError),
    /// A palm reader that delivered a finger's sample, or a fingerprint reader a palm image: the device is
    /// not what the site file says, so nothing it delivered is matched.
    #[error("a {reader} reader delivered a {sample} sample: refused, never matched")]
    WrongModality { reader: &'static str, sample: &'static str },
}

impl SampleError {
    /// The sample is another modality's (a fingerprint image from a palm reader, a palm image from a
    /// fingerprint reader): the device is not delivering what it is, whoever stands at it (issue 15).
    pub fn is_wrong_modality(&self) -> bool {
        matches!(self, SampleError::WrongModality { .. } | SampleError::Palm(PalmError::Fingerprint { .. }))
    }
}

impl Identified {
    /// Whether the reader delivered a sample of its own modality: `Some(false)` another modality's,
    /// `Some(true)` one the pipeline took, `None` refused for another reason (quality, a blank frame).
    pub fn own_modality(&self) -> Option<bool> {
        match self {
            Identified::Unusable(e) if e.is_wrong_modality() => Some(false),
            Identified::Unusable(_) => None,
            _ => Some(true),
        }
    }
}

fn modality_name(m: Modality) -> &'static str {
    match m {
        Modality::Finger => "finger",
        Modality::Palm => "palm",
    }
}

/// The sample must be of the reader's own modality.
fn check_modality(reader: Modality, sample: &Sample) -> Result<(), SampleError> {
    let (r, s) = (modality_name(reader), modality(sample));
    if r == s { Ok(()) } else { Err(SampleError::WrongModality { reader: r, sample: s }) }
}

/// Which modality a sample is, as audit events and ledgers name it.
pub fn modality(sample: &Sample) -> &'static str {
    match sample {
        Sample::PalmNir { .. } => "palm",
        _ => "finger",
    }
}

/// A stricter rate for naming who was refused: attribution over the whole gallery must not accuse the
/// wrong person, so it asks for a far lower false-positive rate than admission does — per decision over the
/// whole gallery (issue 16 §2), not per comparison: at 1e-6 per comparison a stranger at a site of 10,000
/// templates was named as someone about once in a hundred attempts.
const ATTRIBUTION_FPIR: f64 = 1e-6;

impl Matcher {
    /// `reader` is the modality of the reader that captured `sample`.
    pub fn identify(&self, reader: Modality, sample: &Sample, allowed: &BTreeSet<PersonId>) -> Identified {
        if let Err(e) = check_modality(reader, sample) {
            return Identified::Unusable(e);
        }
        if let Sample::PalmNir { .. } = sample {
            return self.identify_palm(sample, allowed);
        }
        let probe = match extract(sample) {
            Ok(t) => t,
            Err(e) => return Identified::Unusable(e.into()),
        };
        let m = self.matching.read().unwrap_or_else(|p| p.into_inner());
        let owners = &m.owners;
        let is_allowed = |k: &u64| owners.get(k).is_some_and(|o| allowed.contains(&o.person));
        // The site's false-positive identification rate holds per decision, not per comparison (issue 16 §2):
        // a stranger compared with N fingerprint templates has N chances, so each comparison gets FPIR/N.
        let candidates: usize = allowed.iter().map(|p| m.by_person.get(p).map_or(0, Vec::len)).sum();
        let threshold = Threshold::for_identification(self.fpir.0, candidates);
        if let Some((key, score)) = m.gallery.identify(&probe, Some(&is_allowed), &threshold)
            && let Some(o) = owners.get(&key)
        {
            return Identified::Allowed { person: o.person.clone(), score: score.0, key };
        }
        if let Some((key, score)) =
            m.gallery.identify(&probe, None, &Threshold::for_identification(ATTRIBUTION_FPIR, m.gallery.len()))
            && let Some(o) = owners.get(&key)
        {
            return Identified::Attributed { person: o.person.clone(), score: score.0 };
        }
        Identified::NotIdentified { cohort_refused: None }
    }

    /// 1:N over the palm gallery, among the people allowed here; then the same strict attribution.
    fn identify_palm(&self, sample: &Sample, allowed: &BTreeSet<PersonId>) -> Identified {
        let probe = match extract_palm(sample) {
            Ok(t) => t,
            Err(e) => return Identified::Unusable(e.into()),
        };
        let m = self.matching.read().unwrap_or_else(|p| p.into_inner());
        let owners = &m.owners;
        let is_allowed = |k: &u64| owners.get(k).is_some_and(|o| allowed.contains(&o.person));
        // The configured false-match rate holds per decision, not per comparison (THREATS: FMR ≤ 1/10,000): a
        // door comparing a stranger with N palms asks each comparison for 1/N of it.
        let candidates: usize = allowed.iter().map(|p| m.palms_by_person.get(p).map_or(0, Vec::len)).sum();
        let threshold = PalmThreshold::for_identification(self.fpir.0, candidates);
        let mut cohort_refused = None;
        if let Some((key, score)) = m.palms.identify_among(&probe, Some(&is_allowed), threshold)
            && let Some(o) = owners.get(&key)
        {
            cohort_refused = cohort_refusal(&m, &probe, key, threshold.fmr());
            if cohort_refused.is_none() {
                return Identified::Allowed { person: o.person.clone(), score: score.0, key };
            }
        }
        let attribution = PalmThreshold::for_identification(ATTRIBUTION_FPIR, m.palms.len());
        if let Some((key, score)) = m.palms.identify_among(&probe, None, attribution)
            && let Some(o) = owners.get(&key)
            && cohort_refusal(&m, &probe, key, attribution.fmr()).is_none()
        {
            return Identified::Attributed { person: o.person.clone(), score: score.0 };
        }
        Identified::NotIdentified { cohort_refused }
    }

    /// 1:1: the sample against the claimed person's own templates only (THREATS: "1:1 against *their* templates"),
    /// of the sample's own modality.
    pub fn verify(&self, reader: Modality, sample: &Sample, person: &PersonId) -> Result<(bool, f32), SampleError> {
        self.verify_detail(reader, sample, person).map(|v| (v.matched, v.score))
    }

    /// [`verify`](Self::verify) with the palm cohort check it made, for the record: a login refused by the
    /// check has a score over the threshold, and the audit must say why it was refused.
    pub fn verify_detail(
        &self,
        reader: Modality,
        sample: &Sample,
        person: &PersonId,
    ) -> Result<Verification, SampleError> {
        check_modality(reader, sample)?;
        if let Sample::PalmNir { .. } = sample {
            let probe = extract_palm(sample)?;
            let m = self.matching.read().unwrap_or_else(|p| p.into_inner());
            let best = m.palms_by_person.get(person).and_then(|ts| {
                ts.iter()
                    .map(|(k, t)| (*k, tobira_biometrics::palm::compare(&probe, t).0))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
            });
            return Ok(match best {
                Some((key, score)) if self.palm_threshold.accepts(Score(score)) => {
                    let cohort = m.palm_cohort_check(&probe, key, self.palm_threshold.fmr());
                    log_refusal(cohort);
                    Verification { matched: cohort.is_none_or(|c| c.passes()), score, cohort }
                }
                other => Verification { matched: false, score: other.map_or(0.0, |b| b.1), cohort: None },
            });
        }
        let probe = extract(sample)?;
        let score = self.best_score(&probe, person);
        Ok(Verification { matched: self.threshold.accepts(Score(score)), score, cohort: None })
    }

    /// 1:1 against the claimed person's templates other than `other_than` (the finger or hand a
    /// `two-biometrics` door's first sample matched): which of them matched, if any, and whether the sample
    /// was that excluded one again.
    pub fn verify_other(
        &self,
        reader: Modality,
        sample: &Sample,
        person: &PersonId,
        other_than: Option<MatchKey>,
    ) -> Result<Verified, SampleError> {
        check_modality(reader, sample)?;
        let m = self.matching.read().unwrap_or_else(|p| p.into_inner());
        let palm_probe = match sample {
            Sample::PalmNir { .. } => Some(extract_palm(sample)?),
            _ => None,
        };
        let scores: Vec<(MatchKey, f32)> = if let Some(probe) = &palm_probe {
            m.palms_by_person
                .get(person)
                .map(|ts| ts.iter().map(|(k, t)| (*k, tobira_biometrics::palm::compare(probe, t).0)).collect())
                .unwrap_or_default()
        } else {
            let probe = extract(sample)?;
            let p = Prepared::new(&probe);
            m.by_person
                .get(person)
                .map(|ts| ts.iter().map(|(k, t)| (*k, t.compare(&p).0)).collect())
                .unwrap_or_default()
        };
        let accepts = |s: f32| match sample {
            Sample::PalmNir { .. } => self.palm_threshold.accepts(Score(s)),
            _ => self.threshold.accepts(Score(s)),
        };
        let best_other = scores.iter().filter(|(k, _)| Some(*k) != other_than).max_by(|a, b| a.1.total_cmp(&b.1));
        let same = scores.iter().find(|(k, _)| Some(*k) == other_than).map(|(_, s)| *s);
        // A palm must also stand out from other people's palms (the cohort check, as at login and doors).
        let stands = |key: MatchKey| {
            palm_probe.as_ref().is_none_or(|p| cohort_refusal(&m, p, key, self.palm_threshold.fmr()).is_none())
        };
        Ok(match best_other {
            Some(&(key, score)) if accepts(score) && stands(key) => Verified::Other { key, score },
            _ if same.is_some_and(accepts) => Verified::Same { score: same.unwrap_or_default() },
            other => Verified::No { score: other.map_or(0.0, |o| o.1) },
        })
    }

    pub fn best_score(&self, probe: &MinutiaeTemplate, person: &PersonId) -> f32 {
        let m = self.matching.read().unwrap_or_else(|p| p.into_inner());
        let p = Prepared::new(probe);
        m.by_person.get(person).map(|ts| ts.iter().map(|(_, t)| t.compare(&p).0).fold(0.0, f32::max)).unwrap_or(0.0)
    }
}

/// The cohort check of a palm match the score table accepted (`palm::cohort`, issue 17 §3): the check when
/// the match does not stand out from the probe's similarity to other people's palms enrolled here at `fmr`
/// per comparison; `None` when it does or when too few others are enrolled to tell.
fn cohort_refusal(m: &Matching, probe: &PalmTemplate, key: MatchKey, fmr: f64) -> Option<CohortCheck> {
    let c = m.palm_cohort_check(probe, key, fmr);
    log_refusal(c);
    c.filter(|c| !c.passes())
}

/// What a refused palm's audit event carries (`details.cohort_check`), at login and at doors alike: its
/// score was over the threshold, so the record says why it opened nothing.
pub fn cohort_check_details(c: &CohortCheck) -> serde_json::Value {
    serde_json::json!({"z": c.z, "required": c.required, "cohort": c.cohort, "passed": c.passes()})
}

fn log_refusal(c: Option<CohortCheck>) {
    if let Some(c) = c.filter(|c| !c.passes()) {
        tracing::info!(z = c.z, required = c.required, cohort = c.cohort, "palm match refused by the cohort check");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::daemon::Matching;
    use std::sync::RwLock;
    use tobira_biometrics::palm::ROI_SIDE;
    use tobira_biometrics::palm::synthetic::{PalmNoise, SyntheticPalm};
    use tobira_core::site::Fpir;

    fn sample(seed: u64, impression: u64) -> Sample {
        Sample::PalmNir {
            width: ROI_SIDE as u32,
            height: ROI_SIDE as u32,
            dpi: 500,
            wavelength_nm: 850,
            pixels: SyntheticPalm::new(seed).impression(impression, &PalmNoise::default()),
        }
    }

    fn template(seed: u64, impression: u64) -> PalmTemplate {
        extract_palm(&sample(seed, impression)).expect("a synthetic palm enrols")
    }

    fn matcher(people: u64) -> Matcher {
        let mut m = Matching::default();
        for p in 0..people {
            m.insert_palm(PersonId::new(format!("p{p:03}")), format!("t{p}"), template(11_000 + p, 0));
        }
        Matcher {
            matching: RwLock::new(m),
            threshold: Threshold::default(),
            palm_threshold: PalmThreshold::default(),
            fpir: Fpir(1e-4),
        }
    }

    /// Issue 17 §3, wired through login (1:1), the second hand of a two-biometrics door and a door (1:N):
    /// a palm the score table accepts is refused when it does not stand out from the other people enrolled
    /// here. The look-alikes stand for what a sensor the table was not calibrated on does to every
    /// comparison (lifts strangers' scores); the owner's genuine palm then matches everyone about as well,
    /// so the match is no evidence of who is there.
    #[test]
    fn a_palm_that_matches_everyone_here_about_as_well_is_refused_at_login_and_at_doors() {
        let m = matcher(40);
        let a = PersonId::new("p005");
        let probe = sample(11_005, 1);
        let (ok, score) = m.verify(Modality::Palm, &probe, &a).expect("a palm");
        assert!(ok, "the genuine palm among 39 others is accepted ({score})");
        let allowed: BTreeSet<PersonId> = (0..40).map(|p| PersonId::new(format!("p{p:03}"))).collect();
        assert!(
            matches!(m.identify_palm(&probe, &allowed), Identified::Allowed { ref person, .. } if *person == a),
            "and found at the door"
        );
        // Thirty-five more people whose palms look like p005's.
        {
            let mut w = m.matching.write().unwrap_or_else(|p| p.into_inner());
            for k in 0..35 {
                w.insert_palm(PersonId::new(format!("look{k:02}")), format!("l{k}"), template(11_005, 2 + k % 2));
            }
        }
        let (ok, again) = m.verify(Modality::Palm, &probe, &a).expect("a palm");
        assert!(m.palm_threshold.accepts(Score(again)), "the score table alone still accepts ({again})");
        assert!(!ok, "the cohort check refuses a match that does not stand out");
        let v = m.verify_detail(Modality::Palm, &probe, &a).expect("a palm");
        let c = v.cohort.expect("the check was made, for the record");
        assert!(!v.matched && !c.passes() && c.z < c.required, "{v:?}");
        match m.identify_palm(&probe, &allowed) {
            Identified::NotIdentified { cohort_refused: Some(c) } => {
                assert!(!c.passes() && c.z < c.required && c.cohort >= 32, "the door's record says why: {c:?}");
                // What the door's and the login's audit events carry.
                let d = cohort_check_details(&c);
                assert_eq!(d["passed"], false, "{d}");
                assert_eq!(d["cohort"], c.cohort, "{d}");
                assert!(d["z"].as_f64().zip(d["required"].as_f64()).is_some_and(|(z, r)| z < r), "{d}");
            }
            _ => panic!("nor does the door admit, and it says the cohort check refused"),
        }
        let stranger = sample(12_345, 1);
        assert!(
            matches!(m.identify_palm(&stranger, &allowed), Identified::NotIdentified { cohort_refused: None }),
            "a stranger below the score table is not a cohort refusal"
        );
        let other = m.verify_other(Modality::Palm, &probe, &a, None).expect("a palm");
        assert!(matches!(other, Verified::No { .. }), "nor a two-biometrics door's second sample: {other:?}");
    }
}
