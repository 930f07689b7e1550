//! From a captured sample to a person: extraction, then 1:N among the people allowed here.
//!
//! The sample's kind picks the pipeline: a near-infrared palm image ([`Sample::PalmNir`], a palm reader)
//! goes to the palm-vein extractor and the palm gallery, everything else to the fingerprint pipeline. The
//! two never meet: a palm probe is compared only with palm templates, at the palm matcher's own calibrated
//! threshold for the same false-match rate.

use crate::node::daemon::{MatchKey, Matcher};
use std::collections::BTreeSet;
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
    NotIdentified,
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
        Identified::NotIdentified
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
        if let Some((key, score)) = m.palms.identify_among(&probe, Some(&is_allowed), threshold)
            && let Some(o) = owners.get(&key)
        {
            return Identified::Allowed { person: o.person.clone(), score: score.0, key };
        }
        if let Some((key, score)) =
            m.palms.identify_among(&probe, None, PalmThreshold::for_identification(ATTRIBUTION_FPIR, m.palms.len()))
            && let Some(o) = owners.get(&key)
        {
            return Identified::Attributed { person: o.person.clone(), score: score.0 };
        }
        Identified::NotIdentified
    }

    /// 1:1: the sample against the claimed person's own templates only (THREATS: "1:1 against *their* templates"),
    /// of the sample's own modality.
    pub fn verify(&self, reader: Modality, sample: &Sample, person: &PersonId) -> Result<(bool, f32), SampleError> {
        check_modality(reader, sample)?;
        if let Sample::PalmNir { .. } = sample {
            let probe = extract_palm(sample)?;
            let best = self.best_palm_score(&probe, person);
            return Ok((self.palm_threshold.accepts(Score(best)), best));
        }
        let probe = extract(sample)?;
        let best = self.best_score(&probe, person);
        Ok((self.threshold.accepts(Score(best)), best))
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
        let scores: Vec<(MatchKey, f32)> = if let Sample::PalmNir { .. } = sample {
            let probe = extract_palm(sample)?;
            m.palms_by_person
                .get(person)
                .map(|ts| ts.iter().map(|(k, t)| (*k, tobira_biometrics::palm::compare(&probe, t).0)).collect())
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
        Ok(match best_other {
            Some(&(key, score)) if accepts(score) => Verified::Other { key, score },
            _ if same.is_some_and(accepts) => Verified::Same { score: same.unwrap_or_default() },
            other => Verified::No { score: other.map_or(0.0, |o| o.1) },
        })
    }

    pub fn best_score(&self, probe: &MinutiaeTemplate, person: &PersonId) -> f32 {
        let m = self.matching.read().unwrap_or_else(|p| p.into_inner());
        let p = Prepared::new(probe);
        m.by_person.get(person).map(|ts| ts.iter().map(|(_, t)| t.compare(&p).0).fold(0.0, f32::max)).unwrap_or(0.0)
    }

    pub fn best_palm_score(&self, probe: &PalmTemplate, person: &PersonId) -> f32 {
        let m = self.matching.read().unwrap_or_else(|p| p.into_inner());
        m.palms_by_person
            .get(person)
            .map(|ts| ts.iter().map(|(_, t)| tobira_biometrics::palm::compare(probe, t).0).fold(0.0, f32::max))
            .unwrap_or(0.0)
    }
}
