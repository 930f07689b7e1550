//! Enrollment of a person's finger from several captures (DESIGN "Enrollment").
//!
//! Each sample is quality-checked, the samples must agree with each other, and up to three are stored as one
//! fused template, compared by the best (issue 17, `FingerTemplate`); the one that agrees best with the others
//! is searched against everyone already enrolled: a match with another person blocks the enrollment and is
//! audited as an incident (a duplicate identity). The template is stored sealed as *pending*: when the system
//! administrator enrolls, it is approved at once; when a site administrator does, it waits for the system
//! administrator's approval (003 §7, see `requests`) and matches nothing until then.

use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::secrets::crypto::seal_template;
use chrono::{DateTime, Utc};
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};
use tobira_biometrics::{FingerTemplate, MinutiaeTemplate, extract_for_enrolment};
use tobira_core::ids::{PersonId, ReaderId};
use tobira_drivers::{Feedback, Modality};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrollError {
    #[error("no person {0}: add them first with `tobira person add`")]
    UnknownPerson(String),
    #[error("no reader {0} in the site configuration")]
    UnknownReader(String),
    #[error("sample {n}: {reason} — ask the person to place the finger again, flat and centred")]
    Sample { n: usize, reason: String },
    #[error(
        "palm sample {n}: {reason} — ask the person to hold the palm (手のひら) flat over the reader again, \
         fingers apart"
    )]
    PalmSample { n: usize, reason: String },
    #[error("reader {reader} {message}")]
    WrongReader { reader: String, message: String },
    #[error("the samples do not agree with each other (best pair score {score:.3}): capture again")]
    Inconsistent { score: f32 },
    #[error(
        "this {part} already matches enrolled person {other} (duplicate identity, 照合情報の重複): refused and reported"
    )]
    /// `part`: `finger` or `palm`, what was presented.
    Duplicate { other: String, part: &'static str },
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
        let Some(dev) = self.devices.readers.get(&ReaderId::new(reader)).cloned() else {
            return Err(EnrollError::UnknownReader(reader.into()));
        };
        if dev.modality() == Modality::Palm {
            return Err(EnrollError::WrongReader {
                reader: reader.into(),
                message: "is a palm-vein reader: enroll a palm with --palm left|right".into(),
            });
        }
        let timeout = Duration::from_secs(u64::from(self.site.timeouts.capture_timeout_s));
        let mut got: Vec<MinutiaeTemplate> = Vec::new();
        for n in 1..=usize::from(samples) {
            captures::awaited(person, reader, "finger", n, samples, timeout);
            let _ = dev.feedback(Feedback::Prompt(format!("Sample {n} of {samples}: place the finger"))).await;
            let taken = match tokio::time::timeout(timeout, dev.next_sample()).await {
                Ok(Ok(sample)) => extract_for_enrolment(&sample, self.site.administration.enrollment_min_quality)
                    .map_err(|e| e.to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no finger within {} s", timeout.as_secs())),
            };
            match taken {
                Ok((t, quality)) => {
                    captures::taken(
                        person,
                        n,
                        samples,
                        serde_json::json!({"quality": quality, "minutiae": t.minutiae.len()}),
                    );
                    got.push(t);
                }
                Err(reason) => {
                    captures::refused(person, n, samples, &reason);
                    return Err(EnrollError::Sample { n, reason });
                }
            }
        }
        // Mutual consistency, then enrolment fusion (issue 17): the sample that agrees best with the others
        // anchors the template, the samples that agree with it (or with one already kept) at the 1:1
        // threshold are stored, up to five, and compared by the mean of the best two; one that agrees with
        // none is dropped, never stored, and the enrolment is refused only when fewer than two agree.
        let fused = match FingerTemplate::fuse(&got, &self.matcher.threshold) {
            Some(Ok(f)) => f,
            Some(Err(e)) => return Err(EnrollError::Inconsistent { score: e.score }),
            None => return Err(EnrollError::SampleCount(samples)),
        };
        let now = self.now();
        // Duplicate identity: search everyone else (1:N over the whole gallery), at THREATS' 1e-4 even when the
        // site holds its 1:1 decisions stricter (`[identification] fmr`): a stricter threshold here would let
        // a second identity for the same finger through more easily, never less.
        let dup = {
            let m = self.matcher.matching.read().unwrap_or_else(|p| p.into_inner());
            captures::duplicate_check(person, m.gallery.len());
            let owners = &m.owners;
            let others = |k: &u64| owners.get(k).is_some_and(|o| o.person != pid);
            m.gallery
                .identify(&fused.views()[0], Some(&others), &tobira_biometrics::Threshold::default())
                .and_then(|(k, s)| owners.get(&k).map(|o| (o.person.clone(), s)))
        };
        if let Some((other, score)) = dup {
            return Err(self.duplicate(actor, &pid, reader, "finger", other, score.0, now).await);
        }
        let quality = fused.anchor_minutiae() as i64;
        let impressions = fused.views().len();
        let r = self
            .register(
                actor,
                &p,
                NewTemplate {
                    id: format!("tpl-{}-{}-{}", pid.as_str(), finger, now.timestamp_micros()),
                    modality: "finger",
                    position: i64::from(finger),
                    quality,
                    plain: zeroize::Zeroizing::new(fused.encode()),
                    details: serde_json::json!({
                        "finger": finger, "samples": samples, "minutiae": quality, "impressions": impressions,
                    }),
                },
                reader,
                now,
            )
            .await?;
        let _ = dev.feedback(Feedback::Granted).await;
        Ok(serde_json::json!({
            "person": pid.as_str(), "template": r.template, "minutiae": quality, "impressions": impressions,
            "status": r.status,
        }))
    }

    /// A duplicate identity at enrollment is an incident (003 §15): audited as an alarm, then refused.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn duplicate(
        &self,
        actor: &Actor,
        pid: &PersonId,
        reader: &str,
        modality: &'static str,
        other: PersonId,
        score: f32,
        now: DateTime<Utc>,
    ) -> EnrollError {
        let _ = self
            .record(
                NewEvent::new(now, "enroll.duplicate", Outcome::Alarm, "DUPLICATE_IDENTITY")
                    .actor(actor.id())
                    .subject(pid.as_str())
                    .place(reader)
                    .article("003 §15")
                    .score(f64::from(score))
                    .details(serde_json::json!({"matches": other.as_str(), "modality": modality})),
            )
            .await;
        EnrollError::Duplicate { other: other.as_str().into(), part: modality }
    }

    /// The steps every modality shares once its template is chosen: sealed under a fresh data key, the
    /// enrollment audited (003 §15 matching-data ledger), stored as pending, and — when the system
    /// administrator enrolled — approved and loaded into the matcher at once.
    pub(crate) async fn register(
        &self,
        actor: &Actor,
        p: &tobira_core::model::Person,
        t: NewTemplate,
        reader: &str,
        now: DateTime<Utc>,
    ) -> Result<Registered, EnrollError> {
        let pid = &p.id;
        let direct = actor.mode == tobira_core::admin::Mode::Direct;
        let status = if direct { "approved" } else { "pending" };
        {
            // Sealed and stored under the key lock: a rotation never misses a template sealed meanwhile.
            let kek = self.template_key.read().await;
            let sealed =
                seal_template(&kek, pid.as_str(), &t.id, &t.plain).map_err(|e| EnrollError::Store(e.to_string()))?;
            // Audit first: an enrollment that is not recorded did not happen (003 §15 matching-data ledger).
            let mut details = t.details;
            details["template"] = t.id.clone().into();
            details["modality"] = t.modality.into();
            details["status"] = status.into();
            details["proof"] = actor.proof_json();
            self.record(
                NewEvent::new(
                    now,
                    "admin.enroll",
                    Outcome::Info,
                    if direct { "TEMPLATE_REGISTERED" } else { "TEMPLATE_PENDING" },
                )
                .actor(actor.id())
                .subject(pid.as_str())
                .place(reader)
                .article("000 §8, 003 §7, §15")
                .details(details),
            )
            .await
            .map_err(|_| EnrollError::AuditUnavailable)?;
            self.stores
                .registry
                .add_template(&t.id, pid, &p.match_id, t.modality, t.position, t.quality, &sealed, "pending", now)
                .await
                .map_err(|e| EnrollError::Store(e.to_string()))?;
        }
        if direct {
            self.activate_template(&t.id, pid.as_str()).await.map_err(|e| EnrollError::Store(e.message))?;
            crate::central::registry_publish::queue(
                self,
                "template.upsert",
                &t.id,
                "admin.enroll",
                actor.id(),
                serde_json::json!({}),
            )
            .await;
        }
        Ok(Registered { template: t.id, status })
    }
}

/// The steps of an enrolment as progress frames (`flows::progress`): the same words for fingers and palms.
pub(crate) mod captures {
    use crate::flows::progress::report;
    use serde_json::json;
    use std::time::Duration;

    /// Sample `n` of `of` is awaited at `reader` for at most `timeout`.
    pub fn awaited(person: &str, reader: &str, modality: &str, n: usize, of: u8, timeout: Duration) {
        report(json!({"step": "capture", "person": person, "reader": reader, "modality": modality, "n": n,
            "of": of, "timeout_s": timeout.as_secs()}));
    }

    /// Sample `n` was taken; `quality` says how good it was (`quality`, and `minutiae` for a finger).
    pub fn taken(person: &str, n: usize, of: u8, quality: serde_json::Value) {
        let mut v = json!({"step": "sample", "person": person, "n": n, "of": of});
        if let (Some(o), Some(q)) = (v.as_object_mut(), quality.as_object()) {
            o.extend(q.clone());
        }
        report(v);
    }

    /// Sample `n` was refused, and why: the enrolment ends and is asked again (a retry proves the actor anew).
    pub fn refused(person: &str, n: usize, of: u8, reason: &str) {
        report(json!({"step": "refused", "person": person, "n": n, "of": of, "reason": reason}));
    }

    /// The 1:N search against everyone enrolled (003 §15) begins over `gallery` templates.
    pub fn duplicate_check(person: &str, gallery: usize) {
        report(json!({"step": "duplicate-check", "person": person, "gallery": gallery}));
    }
}

/// A template ready to be registered: its plain bytes live only until they are sealed.
pub(crate) struct NewTemplate {
    pub id: String,
    /// `finger` or `palm`, as the store's `modality` column records it.
    pub modality: &'static str,
    /// ISO finger position, or 1 = right palm, 2 = left palm (the store's `position`).
    pub position: i64,
    pub quality: i64,
    pub plain: zeroize::Zeroizing<Vec<u8>>,
    /// What the audit event says about the capture (finger or hand, samples, quality).
    pub details: serde_json::Value,
}

pub(crate) struct Registered {
    pub template: String,
    pub status: &'static str,
}
