//! The people of the registry (000 §8, 003 §5): adding and removing them, listing and showing them, enrolling
//! their matching data, and lifting a lockout at a reader. Each act proved, audited, then applied.

use crate::admin::audited::audited_admin;
use crate::flows::actor::{Actor, Proof};
use crate::node::daemon::Daemon;
use crate::refusal::{Answer, Refusal};
use chrono::NaiveDate;
use tobira_core::admin::{Act, Mode};
use tobira_core::ids::*;
use tobira_core::model::{Person, Role};
use tobira_proto::{ActorClaim, ErrorCode};

pub fn valid_id(field: &str, id: &str) -> Result<(), Refusal> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Refusal::bad(format!("{field}: {id:?} must be 1–64 ASCII letters, digits, '-', '_' or '.'")));
    }
    Ok(())
}

pub fn parse_role(field: &str, s: &str) -> Result<Role, Refusal> {
    s.parse::<Role>().map_err(|_| {
        Refusal::bad(format!(
            "{field}: unknown role {s:?}; one of security-director, data-manager, system-administrator, security-manager, site-administrator, operator, vendor, viewer"
        ))
    })
}

pub fn need_person(d: &Daemon, field: &str, id: &str) -> Result<Person, Refusal> {
    d.registry()
        .person(&PersonId::new(id))
        .cloned()
        .ok_or_else(|| Refusal::not_found(format!("{field}: no person {id:?}; see `tobira person list`")))
}

pub fn list(d: &Daemon) -> Answer {
    let reg = d.registry();
    Ok(serde_json::Value::Array(reg.people.values().map(crate::admin::listing::person_json).collect()))
}

pub async fn show(d: &Daemon, id: &str) -> Answer {
    let p = need_person(d, "id", id)?;
    let mut j = crate::admin::listing::person_json(&p);
    j["templates"] = serde_json::to_value(d.stores.registry.templates_of(id).await?).unwrap_or_default();
    Ok(j)
}

pub async fn add(d: &Daemon, c: Option<&ActorClaim>, p: tobira_proto::PersonAdd) -> Answer {
    valid_id("id", &p.id)?;
    let roles = p.roles.iter().map(|r| parse_role("roles", r)).collect::<Result<Vec<_>, _>>()?;
    let appointment_end = match &p.appointment_end {
        Some(s) => Some(
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| Refusal::bad(format!("appointment_end: {s:?} is not YYYY-MM-DD")))?,
        ),
        None => None,
    };
    let first = d.registry().people.is_empty();
    // Bootstrap: the very first person of a new site is its system administrator, registering themselves.
    let actor = if first {
        if !roles.contains(&Role::SystemAdministrator) || c.map(|x| x.id.as_str()) != Some(p.id.as_str()) {
            return Err(Refusal {
                code: ErrorCode::Denied,
                message: "a new site starts with its system administrator registering themselves: \
                          `tobira --actor ID person add ID --roles system-administrator …`"
                    .into(),
            });
        }
        None
    } else {
        Some(d.prove(c, Act::AddPerson).await?)
    };
    // 003 §5(4): the system administrator appoints two site administrators (拠点管理者) per site, not more.
    if roles.contains(&Role::SiteAdministrator) {
        let reg = d.registry();
        let current: Vec<&str> = reg
            .people
            .values()
            .filter(|x| x.active && x.has_role(Role::SiteAdministrator))
            .map(|x| x.id.as_str())
            .collect();
        if current.len() >= 2 {
            return Err(Refusal {
                code: ErrorCode::Conflict,
                message: format!(
                    "this site already has two site administrators (拠点管理者: {}); 003 §5(4) allows two — remove one first",
                    current.join(", ")
                ),
            });
        }
    }
    if d.registry().person(&PersonId::new(&p.id)).is_some() {
        return Err(Refusal { code: ErrorCode::Conflict, message: format!("person {} already exists", p.id) });
    }
    // The matching identity is random, not derived from the user ID, so authority and biometrics stay apart.
    let mut rnd = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rnd)
        .map_err(|_| Refusal::bad("random generator failed"))?;
    let person = Person {
        id: PersonId::new(&p.id),
        match_id: MatchId::new(format!("m-{}", hex::encode(rnd))),
        name: p.name.clone(),
        affiliation: p.affiliation.clone(),
        roles: roles.clone(),
        appointment_end,
        active: true,
    };
    let actor = actor.unwrap_or_else(|| Actor { person: person.clone(), mode: Mode::Direct, proof: Proof::Bootstrap });
    let roles_s: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let seq = audited_admin(d, &actor, "admin.person.add", &p.id, "000 §8, 003 §5(4), §14", serde_json::json!({"name": p.name, "affiliation": p.affiliation, "roles": roles_s, "appointment_end": p.appointment_end})).await?;
    d.stores.registry.add_person(&person, d.now()).await?;
    d.reload_registry().await?;
    crate::central::registry_publish::queue(
        d,
        "person.upsert",
        &p.id,
        "admin.person.add",
        actor.id(),
        serde_json::to_value(&person).unwrap_or_default(),
    )
    .await;
    Ok(serde_json::json!({"person": p.id, "audit_seq": seq}))
}

/// Transfer or leaving (000 §8(2)): a site administrator's request, or the system administrator's act.
pub async fn delete(d: &Daemon, c: Option<&ActorClaim>, id: &str, reason: &str) -> Answer {
    let p = need_person(d, "id", id)?;
    if !p.active {
        return Err(Refusal { code: ErrorCode::Conflict, message: format!("{id} was already removed") });
    }
    if reason.trim().is_empty() {
        return Err(Refusal::bad("--reason: say why (transfer, retirement…): it goes in the operator ledger"));
    }
    let actor = d.prove(c, Act::DeletePerson).await?;
    if actor.id() == id {
        return Err(Refusal {
            code: ErrorCode::Denied,
            message: "nobody removes themselves: another administrator does".into(),
        });
    }
    let params = serde_json::json!({"reason": reason, "name": p.name, "affiliation": p.affiliation});
    match actor.mode {
        Mode::Request => {
            crate::admin::requests::file(d, &actor, "delete-person", id, "000 §8(2), 003 §7", params).await
        }
        Mode::Direct => {
            let seq = audited_admin(d, &actor, "admin.person.delete", id, "000 §8(2)", params).await?;
            let effect = d.delete_person(id, actor.id(), d.now()).await?;
            crate::central::registry_publish::queue(
                d,
                "person.deactivate",
                id,
                reason,
                actor.id(),
                serde_json::json!({}),
            )
            .await;
            Ok(serde_json::json!({"removed": id, "effect": effect, "audit_seq": seq}))
        }
    }
}

pub async fn enroll_as(
    d: &Daemon,
    actor: &Actor,
    person: &str,
    reader: &str,
    finger: u8,
    palm: Option<crate::flows::enroll_palm::Hand>,
    samples: Option<u8>,
) -> Answer {
    let samples = samples.unwrap_or(d.site.administration.enrollment_samples);
    let r = match palm {
        Some(hand) => d.enroll_palm(actor, person, reader, hand, samples).await,
        None => d.enroll(actor, person, reader, finger, samples).await,
    }
    .map_err(|e| Refusal { code: ErrorCode::Denied, message: e.to_string() })?;
    if actor.mode == Mode::Request {
        let what = match palm {
            Some(hand) => serde_json::json!({"template": r["template"], "palm": hand.as_str()}),
            None => serde_json::json!({"template": r["template"], "finger": finger}),
        };
        let filed = crate::admin::requests::file(d, actor, "enroll", person, "003 §7, §15", what).await?;
        let mut r = r;
        r["request"] = filed["request"].clone();
        r["next"] = filed["next"].clone();
        return Ok(r);
    }
    Ok(r)
}

/// Lifts a lockout (NIST SP 800-63B throttling) after the administrator has checked who it was; the unlock
/// is part of the operation history.
pub async fn unlock(d: &Daemon, actor: &Actor, person: &str, reader: &str) -> Answer {
    need_person(d, "person", person)?;
    if d.site.reader(&ReaderId::new(reader)).is_none() {
        return Err(Refusal::not_found(format!("reader: no reader {reader:?} in the site configuration")));
    }
    let key = (PersonId::new(person), ReaderId::new(reader));
    let was = d.shared().lockout.entry(&key);
    if was.failures == 0 && was.locked_until.is_none() {
        return Err(Refusal::not_found(format!("{person} has no failures recorded at {reader}")));
    }
    let seq = audited_admin(
        d,
        actor,
        "login.unlock",
        person,
        "NIST SP 800-63B §5.2.2",
        serde_json::json!({"reader": reader, "failures": was.failures, "locked_until": was.locked_until}),
    )
    .await?;
    d.shared().lockout.unlock(&key);
    d.persist_lockout(&key).await;
    Ok(serde_json::json!({"unlocked": person, "reader": reader, "audit_seq": seq}))
}
