//! Enrollment of a palm vein (手のひら静脈), the matching data 000 §8 registers for every operator.
//!
//! The same path as a finger (DESIGN "Enrollment", `enroll`): several captures on a palm reader, each
//! through the palm pipeline (`palm::extract_palm`: hand region, orientation code, quality) and refused with
//! the reason when it is not a usable palm; the samples must agree with each other; the chosen one is
//! searched against every enrolled palm of someone else (a duplicate identity is an audited incident);
//! then sealed and stored exactly like a fingerprint template, as pending or approved by who enrolled.

use crate::flows::actor::Actor;
use crate::flows::enroll::{EnrollError, NewTemplate, captures};
use crate::node::daemon::Daemon;
use std::time::Duration;
use tobira_biometrics::Sample;
use tobira_biometrics::palm::{PalmTemplate, compare, extract_palm};
use tobira_core::ids::{PersonId, ReaderId};
use tobira_drivers::{Feedback, Modality};

/// Which palm. Stored as the template's `position` (the registry schema: 1 = right palm, 2 = left palm).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hand {
    Right = 1,
    Left = 2,
}

impl Hand {
    /// `left` or `right`, as `tobira enroll --palm` takes it.
    pub fn parse(s: &str) -> Option<Hand> {
        match s {
            "right" => Some(Hand::Right),
            "left" => Some(Hand::Left),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Hand::Right => "right",
            Hand::Left => "left",
        }
    }
}

impl Daemon {
    pub async fn enroll_palm(
        &self,
        actor: &Actor,
        person: &str,
        reader: &str,
        hand: Hand,
        samples: u8,
    ) -> Result<serde_json::Value, EnrollError> {
        let pid = PersonId::new(person);
        let Some(p) = self.registry().person(&pid).cloned().filter(|p| p.active) else {
            return Err(EnrollError::UnknownPerson(person.into()));
        };
        if samples == 0 || samples > 10 {
            return Err(EnrollError::SampleCount(samples));
        }
        let Some(dev) = self.devices.readers.get(&ReaderId::new(reader)).cloned() else {
            return Err(EnrollError::UnknownReader(reader.into()));
        };
        // A fingerprint reader cannot capture a palm: say so before asking anyone to hold out a hand.
        if dev.modality() != Modality::Palm {
            return Err(EnrollError::WrongReader {
                reader: reader.into(),
                message: "is a fingerprint reader; palm-vein enrollment needs a palm reader (kind palm-bridge or \
                          sim-palm)"
                    .into(),
            });
        }
        let timeout = Duration::from_secs(u64::from(self.site.timeouts.capture_timeout_s));
        let min = self.site.administration.enrollment_min_quality;
        let mut got: Vec<PalmTemplate> = Vec::new();
        for n in 1..=usize::from(samples) {
            captures::awaited(person, reader, "palm", n, samples, timeout);
            let prompt = format!("Sample {n} of {samples}: hold your {} palm over the reader", hand.as_str());
            let _ = dev.feedback(Feedback::Prompt(prompt)).await;
            let taken = match tokio::time::timeout(timeout, dev.next_sample()).await {
                Ok(Ok(sample)) if matches!(sample, Sample::PalmNir { .. }) => match extract_palm(&sample) {
                    Ok(t) if t.quality() < min => Err(format!(
                        "palm quality {} is below the enrollment minimum {min} (hold the hand flat and still, \
                         fingers apart)",
                        t.quality()
                    )),
                    Ok(t) => Ok(t),
                    Err(e) => Err(e.to_string()),
                },
                Ok(Ok(_)) => Err("the reader delivered no palm image".into()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no hand within {} s", timeout.as_secs())),
            };
            match taken {
                Ok(t) => {
                    captures::taken(person, n, samples, serde_json::json!({"quality": t.quality()}));
                    got.push(t);
                }
                Err(reason) => {
                    captures::refused(person, n, samples, &reason);
                    return Err(EnrollError::PalmSample { n, reason });
                }
            }
        }
        // Mutual consistency: the sample that agrees best with the others is kept; all must match it.
        let mut best = (0usize, f32::MIN);
        for i in 0..got.len() {
            let total: f32 = (0..got.len()).filter(|&j| j != i).map(|j| compare(&got[i], &got[j]).0).sum();
            if total > best.1 {
                best = (i, total);
            }
        }
        let chosen = best.0;
        for (j, t) in got.iter().enumerate() {
            let s = compare(&got[chosen], t);
            if j != chosen && !self.matcher.palm_threshold.accepts(s) {
                return Err(EnrollError::Inconsistent { score: s.0 });
            }
        }
        let now = self.now();
        // Duplicate identity: 1:N over every palm enrolled for someone else, at 1e-4 whatever the site's 1:1
        // rate (as for fingers, `enroll`).
        let dup = {
            let m = self.matcher.matching.read().unwrap_or_else(|p| p.into_inner());
            captures::duplicate_check(person, m.palms.len());
            let owners = &m.owners;
            let others = |k: &u64| owners.get(k).is_some_and(|o| o.person != pid);
            m.palms
                .identify_among(&got[chosen], Some(&others), tobira_biometrics::palm::PalmThreshold::for_fmr(1e-4))
                .and_then(|(k, s)| owners.get(&k).map(|o| (o.person.clone(), s)))
        };
        if let Some((other, score)) = dup {
            return Err(self.duplicate(actor, &pid, reader, "palm", other, score.0, now).await);
        }
        let quality = i64::from(got[chosen].quality());
        let r = self
            .register(
                actor,
                &p,
                NewTemplate {
                    id: format!("tpl-{}-palm-{}-{}", pid.as_str(), hand.as_str(), now.timestamp_micros()),
                    modality: "palm",
                    position: hand as i64,
                    quality,
                    plain: zeroize::Zeroizing::new(got[chosen].encode()),
                    details: serde_json::json!({"palm": hand.as_str(), "samples": samples, "quality": quality}),
                },
                reader,
                now,
            )
            .await?;
        let _ = dev.feedback(Feedback::Granted).await;
        Ok(serde_json::json!({
            "person": pid.as_str(), "template": r.template, "modality": "palm", "palm": hand.as_str(),
            "quality": quality, "status": r.status,
        }))
    }
}
