//! Enrollment of a person's finger from several captures (DESIGN "Enrollment").
//!
//! Each sample is quality-checked, the samples must agree with each other, and the best one is searched
//! against everyone already enrolled: a match with another person blocks the enrollment and is audited as an
//! incident (a duplicate identity). The template is stored sealed as *pending*: when the system
//! administrator enrolls, it is approved at once; when a site administrator does, it waits for the system
//! administrator's approval (003 §7, see `requests`) and matches nothing until then.

use crate::actor::Actor;
use crate::crypto::seal_template;
use crate::daemon::Daemon;
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};
use tobira_biometrics::{MinutiaeTemplate, Prepared, compare, extract_for_enrolment, iso19794_2};
use tobira_core::ids::{PersonId, ReaderId};
use tobira_drivers::Feedback;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollError {
    #[error("no person {0}: add them first with `tobira person add`")]
    UnknownPerson(String),
    #[error("no reader {0} in the site configuration")]
    UnknownReader(String),
    #[error("sample {n}: {reason} — ask the person to place the finger again, flat and centred")]
    Sample { n: usize, reason: String },
    #[error("the samples do not agree with each other (best pair score {score:.3}): capture again")]
    Inconsistent { score: f32 },
    #[error(
        "this finger already matches enrolled person {other} (duplicate identity, 照合情報の重複): refused and reported"
    )]
    Duplicate { other: String },
    #[error("the audit store cannot take the event: nothing was enrolled")]
    AuditUnavailable,
    #[error("storing the template failed: {0}")]
    Store(String),
    #[error("between 1 and 10 samples, not {0}")]
    SampleCount(u8),
}

impl Daemon {
    pub async fn enroll(
        &self,
        actor: &Actor,
        person: &str,
        reader: &str,
        finger: u8,
        samples: u8,
    ) -> Result<serde_json::Value, EnrollError> {
        let pid = PersonId::new(person);
        let registry = self.registry();
        let Some(p) = registry.person(&pid).cloned() else {
            return Err(EnrollError::UnknownPerson(person.into()));
        };
        if samples == 0 || samples > 10 {
            return Err(EnrollError::SampleCount(samples));
        }
        if !p.active {
            return Err(EnrollError::UnknownPerson(person.into()));
        }
        let Some(dev) = self.readers.get(&ReaderId::new(reader)).cloned() else {
            return Err(EnrollError::UnknownReader(reader.into()));
        };
        let timeout = Duration::from_secs(u64::from(self.site.timeouts.capture_timeout_s));
        let mut got: Vec<MinutiaeTemplate> = Vec::new();
        for n in 1..=usize::from(samples) {
            let _ = dev.feedback(Feedback::Prompt(format!("Sample {n} of {samples}: place the finger"))).await;
            let sample = match tokio::time::timeout(timeout, dev.next_sample()).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    return Err(EnrollError::Sample { n, reason: e.to_string() });
                }
                Err(_) => {
                    return Err(EnrollError::Sample { n, reason: format!("no finger within {} s", timeout.as_secs()) });
                }
            };
            let (t, _quality) = extract_for_enrolment(&sample, self.site.administration.enrollment_min_quality)
                .map_err(|e| EnrollError::Sample { n, reason: e.to_string() })?;
            got.push(t);
        }
        // Mutual consistency: choose the sample that agrees best with the others; all must agree with it.
        let prepared: Vec<Prepared> = got.iter().map(Prepared::new).collect();
        let mut best = (0usize, f32::MIN);
        for i in 0..prepared.len() {
            let total: f32 =
                (0..prepared.len()).filter(|&j| j != i).map(|j| compare(&prepared[i], &prepared[j]).0).sum();
            if total > best.1 {
                best = (i, total);
            }
        }
        let chosen = best.0;
        for (j, pj) in prepared.iter().enumerate() {
            if j != chosen {
                let s = compare(&prepared[chosen], pj);
                if !self.threshold.accepts(s) {
                    return Err(EnrollError::Inconsistent { score: s.0 });
                }
            }
        }
        let now = self.now();
        // Duplicate identity: search everyone else (1:N over the whole gallery).
        let dup = {
            let m = self.matching.read().unwrap_or_else(|p| p.into_inner());
            let owners = &m.owners;
            let others = |k: &u64| owners.get(k).is_some_and(|o| o.person != pid);
            m.gallery
                .identify(&got[chosen], Some(&others), &self.threshold)
                .and_then(|(k, s)| owners.get(&k).map(|o| (o.person.clone(), s)))
        };
        if let Some((other, score)) = dup {
            let _ = self
                .record(NewEvent {
                    time: now,
                    kind: "enroll.duplicate".into(),
                    actor: Some(actor.id().into()),
                    subject: Some(pid.as_str().into()),
                    place: Some(reader.into()),
                    outcome: Outcome::Alarm,
                    reason: "DUPLICATE_IDENTITY".into(),
                    article: Some("003 §15".into()),
                    score: Some(f64::from(score.0)),
                    details: serde_json::json!({"matches": other.as_str()}),
                })
                .await;
            return Err(EnrollError::Duplicate { other: other.as_str().into() });
        }
        let template_id = format!("tpl-{}-{}-{}", pid.as_str(), finger, now.timestamp_micros());
        let iso = iso19794_2::encode(&got[chosen]);
        let quality = got[chosen].minutiae.len() as i64;
        let direct = actor.mode == tobira_core::admin::Mode::Direct;
        let status = if direct { "approved" } else { "pending" };
        {
            // Sealed and stored under the key lock: a rotation never misses a template sealed meanwhile.
            let kek = self.template_key.read().await;
            let sealed =
                seal_template(&kek, pid.as_str(), &template_id, &iso).map_err(|e| EnrollError::Store(e.to_string()))?;
            // Audit first: an enrollment that is not recorded did not happen (003 §15 matching-data ledger).
            let mut details = serde_json::json!({"template": template_id, "finger": finger, "samples": samples, "minutiae": quality, "status": status});
            details["proof"] = actor.proof_json();
            self.record(NewEvent {
                time: now,
                kind: "admin.enroll".into(),
                actor: Some(actor.id().into()),
                subject: Some(pid.as_str().into()),
                place: Some(reader.into()),
                outcome: Outcome::Info,
                reason: if direct { "TEMPLATE_REGISTERED".into() } else { "TEMPLATE_PENDING".into() },
                article: Some("000 §8, 003 §7, §15".into()),
                score: None,
                details,
            })
            .await
            .map_err(|_| EnrollError::AuditUnavailable)?;
            self.store
                .add_template(
                    &template_id,
                    &pid,
                    &p.match_id,
                    "finger",
                    i64::from(finger),
                    quality,
                    &sealed,
                    "pending",
                    now,
                )
                .await
                .map_err(|e| EnrollError::Store(e.to_string()))?;
        }
        if direct {
            self.activate_template(&template_id, pid.as_str()).await.map_err(|e| EnrollError::Store(e.message))?;
            crate::registry_publish::queue(
                self,
                "template.upsert",
                &template_id,
                "admin.enroll",
                actor.id(),
                serde_json::json!({}),
            )
            .await;
        }
        let _ = dev.feedback(Feedback::Granted).await;
        Ok(serde_json::json!({"person": pid.as_str(), "template": template_id, "minutiae": quality, "status": status}))
    }
}
