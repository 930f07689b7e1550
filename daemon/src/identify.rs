//! From a captured sample to a person: extraction, then 1:N among the people allowed here.

use crate::daemon::Daemon;
use std::collections::BTreeSet;
use tobira_biometrics::{ExtractError, MinutiaeTemplate, Prepared, Sample, Score, Threshold, compare, extract};
use tobira_core::ids::PersonId;

pub enum Identified {
    /// Matched among the people allowed here.
    Allowed {
        person: PersonId,
        score: f32,
    },
    /// Not among those allowed, but a strict second look attributes it to someone (for the audit trail only:
    /// this never grants, it only lets the ledger say who tried).
    Attributed {
        person: PersonId,
        score: f32,
    },
    NotIdentified,
    Unusable(ExtractError),
}

/// A stricter threshold for naming who was refused: attribution over the whole gallery must not accuse the
/// wrong person, so it asks for a far lower false-match rate than admission among a few candidates does.
fn attribution_threshold() -> Threshold {
    Threshold::for_fmr(1e-6)
}

impl Daemon {
    pub fn identify(&self, sample: &Sample, allowed: &BTreeSet<PersonId>) -> Identified {
        let probe = match extract(sample) {
            Ok(t) => t,
            Err(e) => return Identified::Unusable(e),
        };
        let m = self.matching.read().unwrap_or_else(|p| p.into_inner());
        let owners = &m.owners;
        let is_allowed = |k: &u64| owners.get(k).is_some_and(|o| allowed.contains(&o.person));
        if let Some((key, score)) = m.gallery.identify(&probe, Some(&is_allowed), &self.threshold)
            && let Some(o) = owners.get(&key)
        {
            return Identified::Allowed { person: o.person.clone(), score: score.0 };
        }
        if let Some((key, score)) = m.gallery.identify(&probe, None, &attribution_threshold())
            && let Some(o) = owners.get(&key)
        {
            return Identified::Attributed { person: o.person.clone(), score: score.0 };
        }
        Identified::NotIdentified
    }

    /// 1:1: the sample against the claimed person's own templates only (THREATS: "1:1 against *their* templates").
    pub fn verify(&self, sample: &Sample, person: &PersonId) -> Result<(bool, f32), ExtractError> {
        let probe = extract(sample)?;
        let best = self.best_score(&probe, person);
        Ok((self.threshold.accepts(Score(best)), best))
    }

    pub fn best_score(&self, probe: &MinutiaeTemplate, person: &PersonId) -> f32 {
        let m = self.matching.read().unwrap_or_else(|p| p.into_inner());
        let p = Prepared::new(probe);
        m.by_person.get(person).map(|ts| ts.iter().map(|(_, t)| compare(&p, t).0).fold(0.0, f32::max)).unwrap_or(0.0)
    }
}
