//! Storage media (記録媒体): the register of media taken out, returned, disposed of and checked for faults
//! (003 §11(3)-(6), 001 §8(2), §9, 002 §6④(3), (6)), and the devices and media a vendor declares at the
//! server room's door (000 §7(2)). Each is an administrative act by a person holding the role the site's
//! regulation names (`tobira_core::admin::Act::Media*`, `Act::VisitMedia`), audited before it is stored; the
//! router records every refusal like any other (ADMIN_REFUSED).

use crate::admin::audited::audited_admin;
use crate::admin::range::parse_end;
use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use crate::store::MediaRow;
use tobira_audit::{Filter, NewEvent, Outcome};
use tobira_core::admin::Act;
use tobira_core::ids::{PersonId, VisitId};
use tobira_core::media::{check_visit_media, consents_missing};
use tobira_core::model::Role;
use tobira_proto::{ErrorCode, MediaDispose, MediaTakeOut};

type Answer = Result<serde_json::Value, Refusal>;

fn required(field: &str, v: &str, why: &str) -> Result<(), Refusal> {
    if v.trim().is_empty() {
        return Err(Refusal::bad(format!("{field}: required ({why})")));
    }
    Ok(())
}

fn conflict(message: String) -> Refusal {
    Refusal { code: ErrorCode::Conflict, message }
}

/// The roles `actor` consents in: those of the profile's list they hold.
fn consenting_roles(d: &Daemon, actor: &Actor) -> Vec<Role> {
    d.site.regulation.media_takeout_consent.iter().copied().filter(|r| actor.person.has_role(*r)).collect()
}

fn roles_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| format!("the {} ({})", r.as_str().replace('-', " "), r.japanese()))
        .collect::<Vec<_>>()
        .join(" and ")
}

fn consent_roles_of(consents: &serde_json::Value) -> Vec<Vec<Role>> {
    consents
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| {
                    c["roles"]
                        .as_array()
                        .map(|r| r.iter().filter_map(|x| x.as_str()?.parse().ok()).collect())
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn consent_people(consents: &serde_json::Value) -> Vec<String> {
    consents
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["person"].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// 003 §11(3): a medium taken out of the office, with to whom, what, how many, how many records and how it is
/// carried. The officer recording it consents by doing so; it is out once every role the site's regulation
/// names has consented (Sendai: the data manager and the system administrator).
pub async fn take_out(d: &Daemon, actor: &Actor, t: MediaTakeOut) -> Answer {
    required("medium", &t.medium, "the medium's own number, 管理番号")?;
    required("kind", &t.media_kind, "what kind of medium, 媒体の種類")?;
    required("recipient", &t.recipient, "003 §11(3): to whom it goes, 相手方")?;
    required("container", &t.container, "003 §11(3): a locked container or strict packaging")?;
    if t.quantity == 0 {
        return Err(Refusal::bad("quantity: at least 1 (003 §11(3): the quantity is recorded)"));
    }
    let due = t.due.as_deref().map(|s| parse_end(d, "due", s)).transpose()?;
    let now = d.now();
    if due.is_some_and(|u| u <= now) {
        return Err(Refusal::bad("due: must be after now"));
    }
    let need = d.site.regulation.media_takeout_consent.clone();
    let mine = consenting_roles(d, actor);
    let missing = consents_missing(&need, std::slice::from_ref(&mine));
    let status = if missing.is_empty() { "out" } else { "awaiting-consent" };
    let consents = serde_json::json!([{"person": actor.id(), "roles": mine.iter().map(|r| r.as_str()).collect::<Vec<_>>(), "at": now}]);
    let _numbering = crate::store::MEDIA_NUMBERING.lock().await;
    if d.stores.registry.media_entries(false).await?.iter().any(|m| m.medium == t.medium) {
        return Err(conflict(format!(
            "medium {} is already out (or awaiting consent): record its return first (`tobira media list`)",
            t.medium
        )));
    }
    let id = d.stores.registry.next_media_id().await?;
    let seq = audited_admin(
        d,
        actor,
        "admin.media.take-out",
        "",
        Act::MediaTakeOut.article(),
        serde_json::json!({"record": id, "medium": t.medium, "media_kind": t.media_kind, "quantity": t.quantity,
            "records": t.records, "recipient": t.recipient, "purpose": t.purpose, "container": t.container, "due": due,
            "status": status, "consented_by": [actor.id()], "missing": missing.iter().map(|r| r.as_str()).collect::<Vec<_>>()}),
    )
    .await?;
    d.stores
        .registry
        .add_media(&MediaRow {
            id: id.clone(),
            kind: "take-out".into(),
            medium: t.medium.clone(),
            media_kind: t.media_kind,
            quantity: i64::from(t.quantity),
            records: Some(i64::from(t.records)),
            recipient: Some(t.recipient),
            purpose: Some(t.purpose),
            container: Some(t.container),
            due: due.map(crate::store::ts),
            status: status.into(),
            consents,
            recorded_by: actor.id().into(),
            recorded_at: crate::store::ts(now),
            ..Default::default()
        })
        .await?;
    let next = if missing.is_empty() {
        format!("out; record its return with `tobira media return {id} --condition …`")
    } else {
        format!(
            "not out yet: it needs the consent of {} too (003 §11(3)): `tobira media consent {id}`",
            roles_text(&missing)
        )
    };
    Ok(serde_json::json!({"record": id, "status": status, "audit_seq": seq, "next": next}))
}

/// Another officer's consent to a take-out still awaiting one (003 §11(3)).
pub async fn consent(d: &Daemon, actor: &Actor, id: &str) -> Answer {
    let Some(m) = d.stores.registry.media_entry(id).await? else {
        return Err(Refusal::not_found(format!("no media record {id:?}; see `tobira media list`")));
    };
    if m.kind != "take-out" || m.status != "awaiting-consent" {
        return Err(conflict(format!("{id} awaits no consent (it is {} {})", m.kind, m.status)));
    }
    let need = d.site.regulation.media_takeout_consent.clone();
    let mut given = consent_roles_of(&m.consents);
    let missing = consents_missing(&need, &given);
    let mine: Vec<Role> = consenting_roles(d, actor).into_iter().filter(|r| missing.contains(r)).collect();
    if mine.is_empty() || consent_people(&m.consents).iter().any(|p| p == actor.id()) {
        return Err(Refusal {
            code: ErrorCode::Denied,
            message: format!(
                "{} may not consent to {id}: it waits for {} (003 §11(3)), and each consent is another person's",
                actor.id(),
                roles_text(&missing)
            ),
        });
    }
    given.push(mine.clone());
    let still = consents_missing(&need, &given);
    let status = if still.is_empty() { "out" } else { "awaiting-consent" };
    let now = d.now();
    let mut consents = m.consents.clone();
    if let Some(a) = consents.as_array_mut() {
        a.push(serde_json::json!({"person": actor.id(), "roles": mine.iter().map(|r| r.as_str()).collect::<Vec<_>>(), "at": now}));
    }
    let seq = audited_admin(
        d,
        actor,
        "admin.media.consent",
        "",
        Act::MediaTakeOut.article(),
        serde_json::json!({"record": id, "medium": m.medium, "media_kind": m.media_kind, "quantity": m.quantity,
            "records": m.records, "recipient": m.recipient, "purpose": m.purpose, "status": status,
            "consented_by": consent_people(&consents)}),
    )
    .await?;
    if !d.stores.registry.consent_media(id, &consents, status).await? {
        return Err(conflict(format!("{id} was consented to meanwhile; see `tobira media list`")));
    }
    Ok(serde_json::json!({"record": id, "status": status, "audit_seq": seq}))
}

/// A medium taken out came back (003 §11(2): kept in its set place again), with what was checked.
pub async fn give_back(d: &Daemon, actor: &Actor, id: &str, condition: &str) -> Answer {
    required("condition", condition, "what was checked on its return: seal, count, contents")?;
    let Some(m) = d.stores.registry.media_entry(id).await? else {
        return Err(Refusal::not_found(format!("no media record {id:?}; see `tobira media list`")));
    };
    if m.kind != "take-out" || m.status != "out" {
        return Err(conflict(format!("{id} is not out (it is {} {}): nothing to return", m.kind, m.status)));
    }
    let seq = audited_admin(
        d,
        actor,
        "admin.media.return",
        "",
        Act::MediaReturn.article(),
        serde_json::json!({"record": id, "medium": m.medium, "media_kind": m.media_kind, "quantity": m.quantity,
            "recipient": m.recipient, "condition": condition}),
    )
    .await?;
    if !d.stores.registry.return_media(id, actor.id(), condition, d.now()).await? {
        return Err(conflict(format!("{id} was returned meanwhile")));
    }
    Ok(serde_json::json!({"record": id, "status": "returned", "audit_seq": seq}))
}

/// A medium disposed of (003 §11(4)-(5): crushed or by another sure measure, and recorded; 002 §6④(3): its
/// contents erased first; 001 §9: a contractor's disposal confirmed by certificate), witnessed by another
/// registered person.
pub async fn dispose(d: &Daemon, actor: &Actor, x: MediaDispose) -> Answer {
    required("medium", &x.medium, "the medium's own number, 管理番号")?;
    required("kind", &x.media_kind, "what kind of medium, 媒体の種類")?;
    required("method", &x.method, "003 §11(5): how — 破砕 or another sure measure")?;
    required("witness", &x.witness, "who witnessed it, 立会者")?;
    if x.quantity == 0 {
        return Err(Refusal::bad("quantity: at least 1"));
    }
    let reg = d.registry();
    if !reg.person(&PersonId::new(&x.witness)).is_some_and(|p| p.active) {
        return Err(Refusal::not_found(format!(
            "witness: {:?} is not a registered, active person; see `tobira person list`",
            x.witness
        )));
    }
    if x.witness == actor.id() {
        return Err(Refusal::bad("witness: someone other than the person recording the disposal (立会者)"));
    }
    let _numbering = crate::store::MEDIA_NUMBERING.lock().await;
    if d.stores.registry.media_entries(false).await?.iter().any(|m| m.medium == x.medium) {
        return Err(conflict(format!("medium {} is recorded as out: record its return before its disposal", x.medium)));
    }
    let id = d.stores.registry.next_media_id().await?;
    let now = d.now();
    let seq = audited_admin(
        d,
        actor,
        "admin.media.dispose",
        "",
        Act::MediaDispose.article(),
        serde_json::json!({"record": id, "medium": x.medium, "media_kind": x.media_kind, "quantity": x.quantity,
            "method": x.method, "witness": x.witness, "note": x.note}),
    )
    .await?;
    d.stores
        .registry
        .add_media(&MediaRow {
            id: id.clone(),
            kind: "disposal".into(),
            medium: x.medium,
            media_kind: x.media_kind,
            quantity: i64::from(x.quantity),
            method: Some(x.method),
            witness: Some(x.witness),
            note: Some(x.note).filter(|n| !n.is_empty()),
            status: "disposed".into(),
            recorded_by: actor.id().into(),
            recorded_at: crate::store::ts(now),
            ..Default::default()
        })
        .await?;
    Ok(serde_json::json!({"record": id, "status": "disposed", "audit_seq": seq}))
}

/// The result of checking a medium for faults (003 §11(6): the system administrator records whether media are
/// faulty) — a fault and a sound check alike.
pub async fn fault(d: &Daemon, actor: &Actor, medium: &str, media_kind: &str, faulty: bool, finding: &str) -> Answer {
    required("medium", medium, "the medium's own number, 管理番号")?;
    required("kind", media_kind, "what kind of medium, 媒体の種類")?;
    required("finding", finding, "003 §11(6): what the check found")?;
    let _numbering = crate::store::MEDIA_NUMBERING.lock().await;
    let id = d.stores.registry.next_media_id().await?;
    let seq = audited_admin(
        d,
        actor,
        "admin.media.fault",
        "",
        Act::MediaFault.article(),
        serde_json::json!({"record": id, "medium": medium, "media_kind": media_kind, "quantity": 1, "faulty": faulty, "finding": finding}),
    )
    .await?;
    d.stores
        .registry
        .add_media(&MediaRow {
            id: id.clone(),
            kind: "fault".into(),
            medium: medium.into(),
            media_kind: media_kind.into(),
            quantity: 1,
            faulty: Some(faulty),
            finding: Some(finding.into()),
            status: "recorded".into(),
            recorded_by: actor.id().into(),
            recorded_at: crate::store::ts(d.now()),
            ..Default::default()
        })
        .await?;
    Ok(serde_json::json!({"record": id, "faulty": faulty, "audit_seq": seq}))
}

pub async fn list(d: &Daemon, all: bool) -> Answer {
    Ok(serde_json::to_value(d.stores.registry.media_entries(all).await?).unwrap_or_default())
}

/// What `tobira check` says about the register: take-outs awaiting a consent, and those overdue.
pub async fn check_warnings(d: &Daemon) -> Result<Vec<String>, Refusal> {
    let now = d.now();
    let mut out = Vec::new();
    for m in d.stores.registry.media_entries(false).await? {
        if m.status == "awaiting-consent" {
            let need = d.site.regulation.media_takeout_consent.clone();
            let missing = consents_missing(&need, &consent_roles_of(&m.consents));
            out.push(format!(
                "media record {} ({} {}, to {}) awaits the consent of {} (003 §11(3)): `tobira media consent {}`",
                m.id,
                m.media_kind,
                m.medium,
                m.recipient.clone().unwrap_or_default(),
                roles_text(&missing),
                m.id
            ));
        }
        let due = m.due.as_deref().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
        if m.status == "out" && due.is_some_and(|u| u <= now) {
            out.push(format!(
                "medium {} ({}, {} record {}) taken out to {} was due back by {} (003 §11(3)): record its return \
                 (`tobira media return {} --condition …`) or find it",
                m.medium,
                m.media_kind,
                m.records.unwrap_or(0),
                m.id,
                m.recipient.clone().unwrap_or_default(),
                due.map(|u| tobira_ledger::Style::from(d.site.utc_offset).through(u.with_timezone(&chrono::Utc)))
                    .unwrap_or_default(),
                m.id
            ));
        }
    }
    Ok(out)
}

/// 000 §7(2): the devices and media a vendor actually brings in (`in`) or takes out again (`out`), declared at
/// the terminal by the system administrator. `visit` is a visit id or the vendor's user ID (at entry their
/// visit now or their next; at exit the one they are inside on). A declaration that differs from the approval
/// or from the entry's (something unapproved in, something left behind, something out that never came in) is
/// an incident for the security manager (003 §20) besides being flagged in the entry/exit ledger.
pub async fn declare_visit_media(d: &Daemon, actor: &Actor, visit: &str, direction: &str, media: &[String]) -> Answer {
    if !["in", "out"].contains(&direction) {
        return Err(Refusal::bad(format!("direction: {direction:?} must be in or out")));
    }
    let now = d.now();
    let reg = d.registry();
    // By vendor: at entry their visit now or the next one (declared at the terminal before it begins); at
    // exit the one they are inside on (still, if its window has closed).
    let vendor = PersonId::new(visit);
    let by_vendor = || match direction {
        "in" => reg.visits.iter().filter(|v| v.vendor == vendor && now < v.until).min_by_key(|v| v.from),
        _ => tobira_core::escort::visit_in_effect(&reg.visits, &vendor, now),
    };
    let v = reg
        .visits
        .iter()
        .find(|v| v.id == VisitId::new(visit))
        .or_else(by_vendor)
        .cloned()
        .ok_or_else(|| {
            Refusal::not_found(format!("no visit {visit:?}, and no visit of a vendor {visit:?} in effect now: see `tobira audit show --kind admin.visit.add`"))
        })?;
    let media: Vec<String> = media.iter().map(|m| m.trim().to_string()).filter(|m| !m.is_empty()).collect();
    // The entry's declaration, for the exit's comparison.
    let declared_in = if direction == "out" {
        let events = d
            .stores
            .audit
            .query(&Filter {
                kind: Some("admin.visit.media".into()),
                person: Some(v.vendor.to_string()),
                ..Default::default()
            })
            .await
            .map_err(|e| Refusal { code: ErrorCode::Internal, message: e.to_string() })?;
        events.iter().rfind(|e| e.details["visit"] == v.id.as_str() && e.details["direction"] == "in").map(|e| {
            e.details["media"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect::<Vec<_>>())
                .unwrap_or_default()
        })
    } else {
        None
    };
    let check = match (direction, &declared_in) {
        ("in", _) => check_visit_media(&v.media_allowed, &media, None),
        (_, Some(i)) => check_visit_media(&v.media_allowed, i, Some(&media)),
        // Out without an entry declaration: whatever leaves never came in on record.
        (_, None) => check_visit_media(&v.media_allowed, &[], Some(&media)),
    };
    let notes = check.notes_ja();
    let seq = audited_admin(
        d,
        actor,
        "admin.visit.media",
        v.vendor.as_str(),
        "000 §7(2)",
        serde_json::json!({"visit": v.id.as_str(), "direction": direction, "media": media, "media_allowed": v.media_allowed,
            "name_tag": v.name_tag, "findings": notes}),
    )
    .await?;
    if !check.is_clean() {
        let _ = d
            .record(NewEvent::new(now, "visit.media.mismatch", Outcome::Alarm, "MEDIA_MISMATCH")
.actor(actor.id())
.subject(v.vendor.as_str())
.article("000 §7(2), 003 §20")
.details(serde_json::json!({"visit": v.id.as_str(), "direction": direction, "declaration": seq, "findings": notes})))
            .await;
    }
    Ok(serde_json::json!({"visit": v.id.as_str(), "vendor": v.vendor.as_str(), "direction": direction, "media": media,
        "findings": notes, "audit_seq": seq}))
}
