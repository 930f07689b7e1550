//! Operating authority: grants of a place (003 §13, 004 §7), their list and revocation, and the off-hours
//! approvals of a terminal (002 §5-2). A site administrator's grant or revocation is filed as a request (003 §7(3)).

use crate::admin::audited::audited_admin;
use crate::admin::people::need_person;
use crate::admin::range::{parse_end, parse_time};
use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::refusal::{Answer, Refusal};
use tobira_core::admin::{Act, Mode};
use tobira_core::ids::*;
use tobira_core::model::{Grant, Level, OffHoursApproval, Place, Schedule};
use tobira_proto::{ActorClaim, ErrorCode};

pub fn parse_place(d: &Daemon, s: &str) -> Result<(Place, Level), Refusal> {
    let (kind, id) =
        s.split_once(':').ok_or_else(|| Refusal::bad(format!("place: {s:?} must be zone:ID or terminal:ID")))?;
    match kind {
        "zone" => match d.site.zone(&ZoneId::new(id)) {
            Some(z) => Ok((Place::Zone(ZoneId::new(id)), z.level)),
            None => Err(Refusal::not_found(format!("place: no zone {id:?} in the site configuration"))),
        },
        // Terminals are Level 1 (003 §13(3)).
        "terminal" if d.site.terminal(&TerminalId::new(id)).is_some() => {
            Ok((Place::Terminal(TerminalId::new(id)), Level::L1))
        }
        "terminal" => Err(Refusal::not_found(format!("place: no terminal {id:?} in the site configuration"))),
        _ => Err(Refusal::bad(format!("place: {s:?} must be zone:ID or terminal:ID"))),
    }
}

pub async fn add(d: &Daemon, c: Option<&ActorClaim>, g: tobira_proto::GrantAdd) -> Answer {
    let holder = need_person(d, "holder", &g.holder)?;
    let (place, level) = parse_place(d, &g.place)?;
    let now = d.now();
    let from = match &g.from {
        Some(s) => parse_time(d, "from", s)?,
        None => now,
    };
    // 004 §7: a grant ends with the holder's appointment unless an earlier end is given.
    let until = match (&g.until, holder.appointment_end) {
        (Some(s), _) => parse_end(d, "until", s)?,
        (None, Some(end)) => parse_end(d, "until", &end.to_string())?,
        (None, None) => {
            return Err(Refusal::bad(
                "until: the holder has no appointment end on record; give --until (004 §7: every grant has an end date)",
            ));
        }
    };
    if until <= from {
        return Err(Refusal::bad("until: must be after from"));
    }
    let schedule = match g.schedule.as_deref() {
        None | Some("always") => Schedule::Always,
        Some("office-hours") => Schedule::OfficeHours,
        Some(s) => {
            return Err(Refusal::bad(format!("schedule: {s:?} must be always or office-hours")));
        }
    };
    if d.registry().grants.iter().any(|x| x.holder == holder.id && x.place == place) {
        return Err(Refusal {
            code: ErrorCode::Conflict,
            message: format!("{} already holds a live grant for {}; revoke it first", g.holder, g.place),
        });
    }
    let actor = d.prove(c, Act::Grant(level)).await?;
    let id = crate::admin::grant_ids::next(d).await?;
    let schedule_s = if schedule == Schedule::OfficeHours { "office-hours" } else { "always" };
    if actor.mode == Mode::Request {
        // 003 §7(3): a site administrator's delegation of operating authority waits for approval.
        let params = serde_json::json!({"grant": id.as_str(), "place": g.place, "from": from, "until": until, "schedule": schedule_s});
        return crate::admin::requests::file(d, &actor, "grant", &g.holder, "003 §7(3), 004 §7", params).await;
    }
    // The role the site's regulation names for the level (003 §13(2); 000 §7(1) in Kitaibaraki's profile).
    let issuer_role = d.site.regulation.issuer(level);
    let grant = Grant {
        id: id.clone(),
        holder: holder.id.clone(),
        place,
        issued_by: actor.person.id.clone(),
        issuer_role,
        valid_from: from,
        valid_until: until,
        schedule,
    };
    let seq = audited_admin(
        d,
        &actor,
        "admin.grant.add",
        &g.holder,
        "003 §13, 004 §7",
        serde_json::json!({"grant": id.as_str(), "place": g.place, "issuer_role": issuer_role.as_str(), "from": from, "until": until, "schedule": schedule_s}),
    )
    .await?;
    d.stores.registry.add_grant(&grant, now).await?;
    d.reload_registry().await?;
    crate::central::registry_publish::queue(
        d,
        "grant.upsert",
        id.as_str(),
        "admin.grant.add",
        actor.id(),
        serde_json::to_value(&grant).unwrap_or_default(),
    )
    .await;
    Ok(serde_json::json!({"grant": id.as_str(), "until": until, "audit_seq": seq}))
}

pub fn list(d: &Daemon, holder: Option<&str>) -> Answer {
    let reg = d.registry();
    let list: Vec<_> = reg
        .grants
        .iter()
        .filter(|g| holder.is_none_or(|h| g.holder.as_str() == h))
        .map(crate::admin::listing::grant_json)
        .collect();
    Ok(serde_json::Value::Array(list))
}

pub async fn revoke(d: &Daemon, c: Option<&ActorClaim>, id: &str) -> Answer {
    // As typed (`g-1`, `G-KITA-SHISHO-7`, an old `g-1796…`), in its stored form.
    let id = &crate::admin::grant_ids::resolve(d, id);
    let reg = d.registry();
    let Some(g) = reg.grants.iter().find(|g| g.id.as_str() == id).cloned() else {
        return Err(Refusal::not_found(format!("no live grant {id:?}; see `tobira grant list`")));
    };
    let level = match &g.place {
        Place::Zone(z) => d.site.zone(z).map(|z| z.level).unwrap_or(Level::L3),
        Place::Terminal(_) => Level::L1,
    };
    let actor = d.prove(c, Act::Revoke(level)).await?;
    if actor.mode == Mode::Request {
        // 003 §7(3): the return of operating authority, approved by the system administrator.
        let params = serde_json::json!({"grant": id, "place": crate::admin::requests::place_str(&g.place)});
        return crate::admin::requests::file(d, &actor, "revoke", g.holder.as_str(), "003 §7(3)", params).await;
    }
    let seq = audited_admin(
        d,
        &actor,
        "admin.grant.revoke",
        g.holder.as_str(),
        "004 §6, 000 §8(2)",
        serde_json::json!({"grant": id, "place": crate::admin::requests::place_str(&g.place)}),
    )
    .await?;
    d.stores.registry.revoke_grant(id, actor.id(), d.now()).await?;
    d.reload_registry().await?;
    crate::central::registry_publish::queue(
        d,
        "grant.revoke",
        id,
        "admin.grant.revoke",
        actor.id(),
        serde_json::json!({}),
    )
    .await;
    Ok(serde_json::json!({"revoked": id, "audit_seq": seq}))
}

pub async fn off_hours_add(d: &Daemon, actor: &Actor, a: tobira_proto::OffHoursAdd) -> Answer {
    need_person(d, "person", &a.person)?;
    if d.site.terminal(&TerminalId::new(&a.terminal)).is_none() {
        return Err(Refusal::not_found(format!("terminal: no terminal {:?}", a.terminal)));
    }
    if a.reason.trim().is_empty() {
        return Err(Refusal::bad("reason: required (002 §5-2: the approval records why)"));
    }
    let from = parse_time(d, "from", &a.from)?;
    let until = parse_end(d, "until", &a.until)?;
    if until <= from {
        return Err(Refusal::bad("until: must be after from"));
    }
    let now = d.now();
    let id = ApprovalId::new(format!("oh-{}", now.timestamp_micros()));
    let appr = OffHoursApproval {
        id: id.clone(),
        person: PersonId::new(&a.person),
        terminal: TerminalId::new(&a.terminal),
        from,
        until,
        reason: a.reason.clone(),
        approved_by: actor.person.id.clone(),
    };
    let seq = audited_admin(d, actor, "admin.offhours.add", &a.person, "002 §5-2", serde_json::json!({"approval": id.as_str(), "terminal": a.terminal, "from": from, "until": until, "reason": a.reason})).await?;
    d.stores.registry.add_off_hours(&appr, now).await?;
    d.reload_registry().await?;
    crate::central::registry_publish::queue(
        d,
        "offhours.upsert",
        id.as_str(),
        "admin.offhours.add",
        actor.id(),
        serde_json::to_value(&appr).unwrap_or_default(),
    )
    .await;
    Ok(serde_json::json!({"approval": id.as_str(), "audit_seq": seq}))
}
