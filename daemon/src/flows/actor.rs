//! Who is acting: every administrative request names its actor, who proves themselves with their own
//! biometric at a terminal's reader (1:1 against *their* approved templates) before anything is changed, and
//! who must hold the role the act needs (`tobira_core::admin`). The act is audited with both actor and
//! subject, and with how the actor was proved.
//!
//! Bootstrap: a new site has nobody enrolled, so nobody could prove anything. Until the first system
//! administrator has an approved template, a system administrator's acts are accepted without a biometric and
//! audited as `bootstrap`. The first time a system administrator's template is found approved, bootstrap
//! closes for good (kept in the registry's meta table): deleting every system administrator later does not
//! reopen it.

use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};
use tobira_core::admin::{Act, Mode, authorize_in};
use tobira_core::ids::{PersonId, ReaderId};
use tobira_core::model::{Person, Role};
use tobira_drivers::Feedback;
use tobira_proto::{ActorClaim, ErrorCode};

#[derive(Debug, Clone)]
pub enum Proof {
    /// `modality` is `finger` or `palm`: an actor proves themselves with whatever the terminal's reader reads.
    Biometric {
        reader: String,
        score: f32,
        modality: &'static str,
    },
    Bootstrap,
}

/// A proven actor and how their act takes effect.
#[derive(Debug, Clone)]
pub struct Actor {
    pub person: Person,
    pub mode: Mode,
    pub proof: Proof,
}

impl Actor {
    pub fn id(&self) -> &str {
        self.person.id.as_str()
    }

    pub fn proof_json(&self) -> serde_json::Value {
        match &self.proof {
            Proof::Biometric { reader, score, modality } => {
                serde_json::json!({"method": modality, "reader": reader, "score": (f64::from(*score) * 1000.0).round() / 1000.0})
            }
            Proof::Bootstrap => serde_json::json!({"method": "bootstrap"}),
        }
    }
}

const META_BOOTSTRAP_CLOSED: &str = "bootstrap_closed";

impl Daemon {
    /// Whether the site is still in bootstrap (no system administrator enrolled yet, ever).
    pub async fn bootstrap_open(&self) -> bool {
        if self.bootstrap_closed.load(Ordering::Acquire) {
            return false;
        }
        let closed = {
            let reg = self.registry();
            let m = self.matcher.matching.read().unwrap_or_else(|p| p.into_inner());
            reg.people.values().any(|p| p.active && p.has_role(Role::SystemAdministrator) && m.has_template(&p.id))
        };
        if closed {
            if let Err(e) = self.stores.registry.set_meta(META_BOOTSTRAP_CLOSED, &self.now().to_rfc3339()).await {
                tracing::warn!(error = %e, "could not record the end of bootstrap");
            }
            self.bootstrap_closed.store(true, Ordering::Release);
        }
        !closed
    }

    pub async fn load_bootstrap_state(&self) -> Result<(), crate::store::StoreError> {
        if self.stores.registry.meta(META_BOOTSTRAP_CLOSED).await?.is_some() {
            self.bootstrap_closed.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Proves the claimed actor and checks they may perform `act`. Refusals change nothing; a failed
    /// biometric is audited and counts towards the actor's lockout at that reader.
    pub async fn prove(&self, claim: Option<&ActorClaim>, act: Act) -> Result<Actor, Refusal> {
        let (claim, person) = self.claimed_person(claim)?;
        // The act's rule under the site's regulation (`[regulation]`, issue 21 §6).
        let mode = authorize_in(act, &person.roles, &self.site.regulation).map_err(|e| Refusal {
            code: ErrorCode::Denied,
            message: format!("{} may not do this ({}): {e}", claim.id, act.article()),
        })?;
        if self.bootstrap_open().await {
            if !person.has_role(Role::SystemAdministrator) {
                return Err(Refusal {
                    code: ErrorCode::Denied,
                    message: "no system administrator is enrolled yet (bootstrap): only a system administrator \
                              (システム管理者) may act until their own finger is enrolled"
                        .into(),
                });
            }
            return Ok(Actor { person, mode, proof: Proof::Bootstrap });
        }
        let (score, modality) = self.capture_and_verify(claim, &person).await?;
        let reader = claim.reader.clone().unwrap_or_default();
        Ok(Actor { person, mode, proof: Proof::Biometric { reader, score, modality } })
    }

    /// A session of a client that keeps one (the console): the same 1:1 proof as an act, then nothing but
    /// a record of it (003 §7: what follows in the session is attributable to whoever proved themselves here;
    /// each act in it is proved again). Who holds no administrative or supervisory role has nothing to do in a
    /// console and is refused; during bootstrap nobody can prove anything, so the CLI bootstraps.
    pub async fn sign_in(&self, claim: Option<&ActorClaim>, client: &str) -> Result<serde_json::Value, Refusal> {
        let (claim, person) = self.claimed_person(claim)?;
        const SUPERVISORY: [Role; 5] = [
            Role::SystemAdministrator,
            Role::SiteAdministrator,
            Role::SecurityManager,
            Role::DataManager,
            Role::SecurityDirector,
        ];
        if !person.roles.iter().any(|r| SUPERVISORY.contains(r)) {
            return Err(Refusal {
                code: ErrorCode::Denied,
                message: format!(
                    "{} holds no administrative or supervisory role (管理者の役割なし, 003 §5): nothing to sign in to",
                    claim.id
                ),
            });
        }
        if self.bootstrap_open().await {
            return Err(Refusal {
                code: ErrorCode::Denied,
                message: "no system administrator is enrolled yet (bootstrap): enroll them with the CLI first, \
                          then sign in with a finger"
                    .into(),
            });
        }
        let (score, modality) = self.capture_and_verify(claim, &person).await?;
        let reader = claim.reader.clone().unwrap_or_default();
        let client: String = client.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').take(32).collect();
        self.record(
            NewEvent::new(
                self.now(),
                format!("{}.sign-in", if client.is_empty() { "client" } else { &client }),
                Outcome::Granted,
                "ACTOR_PROVED",
            )
            .actor(person.id.as_str())
            .subject(person.id.as_str())
            .place(reader.clone())
            .article("003 §7")
            .score(f64::from(score))
            .details(serde_json::json!({"modality": modality})),
        )
        .await
        .map_err(|e| Refusal {
            code: ErrorCode::Unavailable,
            message: format!("the audit store cannot take the sign-in ({e}); not signed in"),
        })?;
        Ok(serde_json::json!({
            "id": person.id.as_str(),
            "name": person.name,
            "affiliation": person.affiliation,
            "roles": person.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
            "reader": reader,
            "modality": modality,
        }))
    }

    /// The claimed actor as a registered, active person within their appointment term.
    fn claimed_person<'c>(&self, claim: Option<&'c ActorClaim>) -> Result<(&'c ActorClaim, Person), Refusal> {
        let Some(claim) = claim else {
            return Err(Refusal {
                code: ErrorCode::Denied,
                message: "this command is an administrative act: say who you are with --actor YOUR_ID and place \
                          your finger on the terminal's reader named by --at READER (or TOBIRA_ACTOR / TOBIRA_READER)"
                    .into(),
            });
        };
        // Someone removed on transfer or leaving who still tries to act is an incident (THREATS: the former
        // employee); an ID nobody holds is more likely a typo.
        let person = match self.registry().person(&PersonId::new(&claim.id)).cloned() {
            Some(p) if p.active => p,
            found => {
                return Err(Refusal {
                    code: if found.is_some() { ErrorCode::Forbidden } else { ErrorCode::Denied },
                    message: format!(
                        "actor: {:?} is not a registered, active person (ユーザID); see `tobira person list`",
                        claim.id
                    ),
                });
            }
        };
        // 004 §7: authority ends with the appointment term for every act, not only at doors and terminals.
        let today = self.now().with_timezone(&self.site.utc_offset).date_naive();
        if !person.within_appointment(today) {
            return Err(Refusal {
                code: ErrorCode::Forbidden,
                message: format!(
                    "{}'s appointment term ended on {} (任期満了, 004 §7): their authority ended with it, so they may \
                     no longer act, file requests or approve",
                    claim.id,
                    person.appointment_end.map(|e| e.to_string()).unwrap_or_default()
                ),
            });
        }
        Ok((claim, person))
    }

    async fn capture_and_verify(&self, claim: &ActorClaim, person: &Person) -> Result<(f32, &'static str), Refusal> {
        let denied = |message: String| Refusal { code: ErrorCode::Denied, message };
        let Some(reader_id) = claim.reader.as_deref() else {
            return Err(denied("--at READER: name the terminal reader where you place your finger".into()));
        };
        // Only a terminal's own reader: door readers belong to their doors.
        if !self.site.terminals.iter().any(|t| t.reader.as_str() == reader_id) {
            return Err(denied(format!("--at {reader_id}: not a terminal's reader in the site configuration")));
        }
        let Some(reader) = self.devices.readers.get(&ReaderId::new(reader_id)).cloned() else {
            return Err(denied(format!("--at {reader_id}: no such reader")));
        };
        let has_template = {
            let m = self.matcher.matching.read().unwrap_or_else(|p| p.into_inner());
            m.has_template(&person.id)
        };
        if !has_template {
            return Err(denied(format!(
                "{} has no approved template to prove who they are: enroll them first (a site administrator \
                 requests it, the system administrator approves)",
                person.id
            )));
        }
        let now = self.now();
        let key = (person.id.clone(), ReaderId::new(reader_id));
        if let Some(until) = self.shared().lockout.entry(&key).locked_until.filter(|u| *u > now) {
            let until = tobira_ledger::local_stamp(until, self.site.utc_offset);
            return Err(denied(format!(
                "{} is locked out at {reader_id} until {until} after repeated failures (NIST SP 800-63B); another \
                 administrator can lift it with `tobira unlock`",
                person.id
            )));
        }
        let _ = reader.feedback(Feedback::Prompt(format!("Administrator: {}", place_prompt(reader.modality())))).await;
        let timeout = Duration::from_secs(u64::from(self.site.timeouts.capture_timeout_s));
        crate::flows::progress::report(serde_json::json!({"step": "proof", "person": person.id.as_str(),
            "reader": reader_id, "timeout_s": timeout.as_secs()}));
        let sample = match tokio::time::timeout(timeout, reader.next_sample()).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(denied(format!("the reader {reader_id} failed: {e}; try again"))),
            Err(_) => {
                return Err(denied(format!(
                    "no finger on {reader_id} within {} s: place your finger, then run the command again",
                    timeout.as_secs()
                )));
            }
        };
        let modality = crate::flows::identify::modality(&sample);
        let (matched, score) = self
            .matcher
            .verify(reader.modality(), &sample, &person.id)
            .map_err(|e| denied(format!("unusable sample: {e}")))?;
        if matched {
            self.shared().lockout.record_success(&key);
            self.persist_lockout(&key).await;
            let _ = reader.feedback(Feedback::Granted).await;
            return Ok((score, modality));
        }
        let outcome = self.shared().lockout.record_failure(key.clone(), now, &self.site.lockout);
        self.persist_lockout(&key).await;
        let _ = reader.feedback(Feedback::Denied).await;
        let tally = if outcome.locked_until.is_some() { Outcome::Alarm } else { Outcome::Denied };
        let ev = NewEvent::new(now, "admin.actor.failure", tally, "NOT_IDENTIFIED")
            .actor(person.id.as_str())
            .subject(person.id.as_str())
            .place(reader_id)
            .article("003 §7")
            .score(f64::from(score))
            .details(serde_json::json!({
                "remaining_tries": outcome.remaining_tries, "locked_until": outcome.locked_until, "modality": modality,
            }));
        let _ = self.record(ev).await;
        let what = if modality == "palm" { "palm" } else { "finger" };
        Err(denied(format!(
            "the {what} on {reader_id} is not {}'s (score {score:.3}): nothing was changed; {} tries left",
            person.id, outcome.remaining_tries
        )))
    }
}

/// What a person is asked to do at a reader of this modality.
pub fn place_prompt(m: tobira_drivers::Modality) -> &'static str {
    match m {
        tobira_drivers::Modality::Finger => "Place your finger on the reader",
        tobira_drivers::Modality::Palm => "Hold your palm over the reader (手のひら静脈)",
    }
}
