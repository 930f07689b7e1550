//! Control requests → daemon actions. Every change to the registry is validated first, audited (durably),
//! then applied; a refusal changes nothing and says what is wrong.

use crate::admin::audited::audited_admin;
use crate::admin::cards;
use crate::admin::range::{parse_end, parse_time};
use crate::flows::actor::{Actor, Proof};
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use chrono::{DateTime, NaiveDate, Utc};
use tobira_audit::{NewEvent, Outcome};
use tobira_core::admin::{Act, Mode};
use tobira_core::ids::*;
use tobira_core::model::{Grant, Level, OffHoursApproval, Person, Place, Role, Schedule, VendorVisit};
use tobira_proto::{ActorClaim, ErrorCode, MediaCommand, Request, Response};

type Answer = Result<serde_json::Value, Refusal>;

pub async fn dispatch(d: &Daemon, claim: Option<ActorClaim>, req: Request) -> Response {
    let administrative = administrative(&req);
    // The simulated readers this command reads from: the actor's, and an enrolment's.
    let mut touched: Vec<String> = claim.as_ref().and_then(|c| c.reader.clone()).into_iter().collect();
    if let Request::Enroll { reader, .. } = &req {
        touched.push(reader.clone());
    }
    match route(d, claim.as_ref(), req).await {
        Ok(data) => Response::Ok { data },
        Err(refusal) => {
            if let Some(request) = administrative {
                record_refusal(d, claim.as_ref(), request, &refusal).await;
                // A refused or timed-out act leaves no touch queued for the next person (issue 22 §5).
                crate::admin::sim::forget_touches(d, &touched).await;
            }
            Response::Error { code: refusal.code, message: refusal.message }
        }
    }
}

/// The requests that are administrative acts or views of the records, by the name their refusal is recorded
/// under; `None` for the registry's open lists, status, login (audited by its own flow) and the simulator.
fn administrative(req: &Request) -> Option<&'static str> {
    Some(match req {
        Request::SignIn { .. } => "sign-in",
        Request::PersonAdd(_) => "person.add",
        Request::PersonDelete { .. } => "person.delete",
        Request::Enroll { .. } => "enroll",
        Request::GrantAdd(_) => "grant.add",
        Request::GrantRevoke { .. } => "grant.revoke",
        Request::OffHoursAdd(_) => "off-hours",
        Request::VisitAdd(_) => "visit",
        Request::VisitMedia { .. } => "visit.media",
        Request::Media(MediaCommand::TakeOut(_)) => "media.take-out",
        Request::Media(MediaCommand::Consent { .. }) => "media.consent",
        Request::Media(MediaCommand::Return { .. }) => "media.return",
        Request::Media(MediaCommand::Dispose(_)) => "media.dispose",
        Request::Media(MediaCommand::Fault { .. }) => "media.fault",
        Request::Unlock { .. } => "unlock",
        Request::RequestApprove { .. } => "request.approve",
        Request::RequestReject { .. } => "request.reject",
        Request::RequestWithdraw { .. } => "request.withdraw",
        Request::RequestView { .. } => "request.view",
        Request::ViewerLend { .. } => "viewer.lend",
        Request::ViewerReturn { .. } => "viewer.return",
        Request::CardAdd { .. } => "card.add",
        Request::CardRemove { .. } => "card.remove",
        Request::Review { .. } => "review",
        Request::AlarmAck { .. } => "alarms.ack",
        Request::KeyRotate => "key.rotate",
        Request::Backup { .. } => "backup",
        Request::AuditAcknowledgeLoss { .. } => "audit.acknowledge_loss",
        Request::AuditShow(_) => "audit.show",
        Request::Ledger { .. } => "ledger",
        _ => return None,
    })
}

/// Every refused administrative act or record view is recorded with who asked (as claimed: a refusal may come
/// before any proof), what, and why (002 §7(11), 003 §17). One beyond the asker's authority in the ways of
/// `ErrorCode::Forbidden` — an ended appointment, a removed person, someone else's request, another section's
/// records — is an incident for the security manager (003 §20, 001 §10) and raises an alarm. A refusal that could not be recorded because the
/// audit store is unavailable is only logged: the act was refused either way.
async fn record_refusal(d: &Daemon, claim: Option<&ActorClaim>, request: &'static str, refusal: &Refusal) {
    let (outcome, reason, article) = match refusal.code {
        ErrorCode::Forbidden => (Outcome::Alarm, "ADMIN_FORBIDDEN", "003 §20, 001 §10, 002 §7(11)"),
        ErrorCode::Unavailable => return,
        _ => (Outcome::Denied, "ADMIN_REFUSED", "003 §17, 002 §7(11)"),
    };
    let event = NewEvent::new(d.now(), "admin.refused", outcome, reason)
        .actor(claim.map(|c| c.id.clone()))
        .place(claim.and_then(|c| c.reader.clone()))
        .article(article)
        // The actor named is a claim: the refusal may have come before (or instead of) their proof.
        .details(serde_json::json!({
            "request": request,
            "code": refusal.code,
            "message": refusal.message,
            "actor_claimed": claim.is_some(),
        }));
    if let Err(e) = d.record(event).await {
        tracing::warn!(request, error = %e, "a refused administrative act could not be recorded");
    }
}

/// Every administrative request first proves its actor (`Daemon::prove`) for the act it is; reads of the
/// registry's own lists are open to the socket's group.
async fn route(d: &Daemon, c: Option<&ActorClaim>, req: Request) -> Answer {
    match req {
        Request::Status => status(d).await,
        Request::SignIn { client } => d.sign_in(c, &client).await,
        Request::Devices => Ok(devices(d)),
        Request::Check => check(d).await,
        Request::PersonAdd(p) => person_add(d, c, p).await,
        Request::PersonList => person_list(d),
        Request::PersonShow { id } => person_show(d, &id).await,
        Request::PersonDelete { id, reason } => person_delete(d, c, &id, &reason).await,
        Request::Enroll { person, reader, finger, palm, samples } => {
            // Parsed before the actor proves themselves: a typo costs nobody a capture.
            let hand = match palm.as_deref().map(|h| (h, crate::flows::enroll_palm::Hand::parse(h))) {
                None => None,
                Some((_, Some(hand))) => Some(hand),
                Some((h, None)) => return Err(Refusal::bad(format!("--palm {h}: say left or right"))),
            };
            let actor = d.prove(c, Act::Enroll).await?;
            enroll_as(d, &actor, &person, &reader, finger, hand, samples).await
        }
        Request::GrantAdd(g) => grant_add(d, c, g).await,
        Request::GrantList { holder } => grant_list(d, holder.as_deref()),
        Request::GrantRevoke { id } => grant_revoke(d, c, &id).await,
        Request::OffHoursAdd(a) => off_hours_add(d, &d.prove(c, Act::OffHours).await?, a).await,
        Request::Unlock { person, reader } => unlock(d, &d.prove(c, Act::Unlock).await?, &person, &reader).await,
        Request::VisitAdd(v) => visit_add(d, &d.prove(c, Act::Visit).await?, v).await,
        Request::VisitMedia { visit, direction, media } => {
            let actor = d.prove(c, Act::VisitMedia).await?;
            crate::admin::media::declare_visit_media(d, &actor, &visit, &direction, &media).await
        }
        Request::Media(m) => media(d, c, m).await,
        Request::Login { terminal, user, remote } => {
            Ok(serde_json::to_value(d.login(&terminal, &user, remote).await).unwrap_or_default())
        }
        Request::RequestList { status } => crate::admin::requests::list(d, status.as_deref()).await,
        // A short id as typed (`r-12`) is the stored `R-0012`; a long one is taken as it is (issue 22 §3).
        Request::RequestApprove { id, note } => {
            let id = crate::store::short_request_id(&id).unwrap_or(id);
            crate::admin::requests::approve(d, c, &id, note.as_deref()).await
        }
        Request::RequestReject { id, note } => {
            let id = crate::store::short_request_id(&id).unwrap_or(id);
            crate::admin::requests::reject(d, c, &id, &note).await
        }
        Request::RequestWithdraw { id } => {
            let id = crate::store::short_request_id(&id).unwrap_or(id);
            crate::admin::requests::withdraw(d, c, &id).await
        }
        Request::RequestView { section, reason } => request_view(d, c, &section, &reason).await,
        Request::ViewerLend { viewer_id, to, affiliation, purpose } => {
            let actor = d.prove(c, Act::LendViewer).await?;
            crate::admin::viewer::lend(d, &actor, &viewer_id, &to, &affiliation, &purpose).await
        }
        Request::ViewerReturn { loan } => {
            crate::admin::viewer::give_back(d, &d.prove(c, Act::LendViewer).await?, &loan).await
        }
        Request::CardAdd { person, card } => cards::add(d, &d.prove(c, Act::IssueCard).await?, &person, &card).await,
        Request::CardRemove { card, reason } => {
            cards::remove(d, &d.prove(c, Act::IssueCard).await?, &card, &reason).await
        }
        Request::CardList => cards::list(d).await,
        Request::Review { complete, revoke, note } => {
            let actor = d.prove(c, Act::Review).await?;
            crate::admin::review::review(d, &actor, complete, &revoke, note.as_deref()).await
        }
        Request::AlarmList { all } => crate::admin::alarms::list(d, all).await,
        Request::AlarmAck { id, note } => {
            crate::admin::alarms::ack(d, &d.prove(c, Act::AckAlarm).await?, id, &note).await
        }
        Request::KeyRotate => crate::admin::templates::rotate_command(d, &d.prove(c, Act::RotateKey).await?).await,
        Request::Backup { dest } => crate::admin::backup::backup(d, &d.prove(c, Act::Backup).await?, &dest).await,
        Request::AuditAcknowledgeLoss { note } => {
            crate::admin::loss::acknowledge(d, &d.prove(c, Act::AcknowledgeLoss).await?, &note).await
        }
        Request::AuditShow(f) => crate::admin::audit::show(d, c, f).await,
        Request::AuditVerify => crate::admin::audit::verify(d).await,
        Request::Ledger { kind, from, until, era, output } => {
            let era = era.unwrap_or(d.site.administration.ledger_era);
            let mut v = crate::admin::ledgers::ledger(
                d,
                c,
                kind.as_deref().unwrap_or("entry-exit"),
                crate::admin::ledgers::Asked { from: from.as_deref(), until: until.as_deref(), era, output: &output },
            )
            .await?;
            // Every ledger carries the node's signed tree head at the moment it was made (issue 16 §1(b)).
            let mut anchor = crate::node::trust::ledger_anchor(d).await;
            // Its time as the sheet's other times read (the site's zone, to the second, the zone in the
            // heading); `time` stays the signed text, for machines (issue 22 "Times").
            if let Some(t) = anchor["time"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
                let style = tobira_ledger::Style { offset: d.site.utc_offset, era };
                anchor["local_time"] = style.stamp(t.with_timezone(&Utc)).into();
            }
            v["anchor"] = anchor;
            Ok(v)
        }
        Request::Sim(cmd) => crate::admin::sim::command(d, cmd).await,
        _ => Err(Refusal::bad("this request is not supported by this daemon version")),
    }
}

/// The media register's acts (003 §11), each proved for its own act before anything is read or written.
async fn media(d: &Daemon, c: Option<&ActorClaim>, m: MediaCommand) -> Answer {
    use crate::admin::media;
    match m {
        MediaCommand::TakeOut(t) => media::take_out(d, &d.prove(c, Act::MediaTakeOut).await?, t).await,
        MediaCommand::Consent { id } => media::consent(d, &d.prove(c, Act::MediaTakeOut).await?, &id).await,
        MediaCommand::Return { id, condition } => {
            media::give_back(d, &d.prove(c, Act::MediaReturn).await?, &id, &condition).await
        }
        MediaCommand::Dispose(x) => media::dispose(d, &d.prove(c, Act::MediaDispose).await?, x).await,
        MediaCommand::Fault { medium, media_kind, faulty, finding } => {
            let actor = d.prove(c, Act::MediaFault).await?;
            media::fault(d, &actor, &medium, &media_kind, faulty, &finding).await
        }
        MediaCommand::List { all } => media::list(d, all).await,
        _ => Err(Refusal::bad("this media request is not supported by this daemon version")),
    }
}

fn parse_role(field: &str, s: &str) -> Result<Role, Refusal> {
    s.parse::<Role>().map_err(|_| {
        Refusal::bad(format!(
            "{field}: unknown role {s:?}; one of security-director, data-manager, system-administrator, security-manager, site-administrator, operator, vendor, viewer"
        ))
    })
}

fn need_person(d: &Daemon, field: &str, id: &str) -> Result<Person, Refusal> {
    d.registry()
        .person(&PersonId::new(id))
        .cloned()
        .ok_or_else(|| Refusal::not_found(format!("{field}: no person {id:?}; see `tobira person list`")))
}

async fn status(d: &Daemon) -> Answer {
    let reg = d.registry();
    let (templates, pending) = {
        let m = d.matching.read().unwrap_or_else(|p| p.into_inner());
        (m.owners.len(), 0)
    };
    let pending = pending + d.store.requests(Some("pending")).await?.len();
    Ok(serde_json::json!({
        "site": reg.site.id.as_str(),
        "site_name": reg.site.name.as_str(),
        "now": d.now(),
        // The site's zone, so clients show times as the site reads them (issue 22 §3).
        "utc_offset": reg.site.utc_offset.to_string(),
        "people": reg.people.values().filter(|p| p.active).count(),
        "grants": reg.grants.len(),
        "templates": templates,
        "pending_requests": pending,
        "open_alarms": d.store.alarms(true).await?.len(),
        "bootstrap": d.bootstrap_open().await,
        "central": central_status(d).await,
        "readers": d.readers.len(),
        "doors": d.doors.len(),
        "simulation": d.opts.simulation,
        // What the CLI announces before an act that waits for a finger (issue 22 §4).
        "capture_timeout_s": reg.site.timeouts.capture_timeout_s,
        "enrollment_samples": reg.site.administration.enrollment_samples,
    }))
}

/// The site's zones, terminals, doors and readers as configured, with the drivers' view of their health (`null` where a driver cannot
/// tell), for the console's live view (issue 18). Nothing here reads a record.
fn devices(d: &Daemon) -> serde_json::Value {
    let doors: Vec<serde_json::Value> = d
        .site
        .doors
        .iter()
        .map(|c| {
            let healthy = d.doors.get(&c.id).and_then(|r| r.controller.healthy());
            serde_json::json!({"id": c.id.as_str(), "name": c.name, "zone": c.zone.as_str(),
                "controller": c.controller.as_str(), "entry_reader": c.entry_reader.as_str(),
                "exit_reader": c.exit_reader.as_ref().map(|r| r.as_str()), "healthy": healthy,
                "state": d.door_states.word(&c.id)})
        })
        .collect();
    let readers: Vec<serde_json::Value> = d
        .site
        .readers
        .iter()
        .map(|c| {
            let r = d.readers.get(&c.id);
            serde_json::json!({"id": c.id.as_str(), "kind": c.kind, "modality": c.modality,
                "connected": r.is_some(), "healthy": r.and_then(|r| r.healthy()),
                "line_rate": r.and_then(|r| r.line_rate()),
                "terminal": d.site.terminals.iter().find(|t| t.reader == c.id).map(|t| t.id.as_str())})
        })
        .collect();
    let zones: Vec<serde_json::Value> = d
        .site
        .zones
        .iter()
        .map(|z| serde_json::json!({"id": z.id.as_str(), "name": z.name, "level": z.level}))
        .collect();
    let terminals: Vec<serde_json::Value> = d
        .site
        .terminals
        .iter()
        .map(|t| serde_json::json!({"id": t.id.as_str(), "name": t.name, "zone": t.zone.as_str(), "reader": t.reader.as_str()}))
        .collect();
    serde_json::json!({"site": d.site.id.as_str(), "name": d.site.name, "utc_offset": d.site.utc_offset.to_string(),
        "now": d.now(), "zones": zones, "terminals": terminals, "doors": doors, "readers": readers,
        // How long a reader waits for a finger: the console's prompt says how long is left (issue 22 §4).
        "capture_timeout_s": d.site.timeouts.capture_timeout_s})
}

/// Shipping lag to the central store (issue 7): what the centre acknowledged against the local head.
async fn central_status(d: &Daemon) -> serde_json::Value {
    let Some(st) = d.shipping.lock().ok().and_then(|s| s.clone()) else { return serde_json::Value::Null };
    let head: i64 = sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM events")
        .fetch_one(d.audit_store.pool())
        .await
        .unwrap_or(0);
    serde_json::json!({"local_head": head, "acknowledged": st.acknowledged, "lag_events": head - st.acknowledged,
        "last_ok": st.last_ok, "last_error": st.last_error, "stopped_by_fork": st.stopped_by_fork,
        "cosigned": st.cosigned, "clock_skew_s": st.clock_skew_s})
}

fn valid_id(field: &str, id: &str) -> Result<(), Refusal> {
    if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Refusal::bad(format!("{field}: {id:?} must be 1–64 ASCII letters, digits, '-', '_' or '.'")));
    }
    Ok(())
}

async fn person_add(d: &Daemon, c: Option<&ActorClaim>, p: tobira_proto::PersonAdd) -> Answer {
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
    d.store.add_person(&person, d.now()).await?;
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
async fn person_delete(d: &Daemon, c: Option<&ActorClaim>, id: &str, reason: &str) -> Answer {
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

async fn request_view(d: &Daemon, c: Option<&ActorClaim>, section: &str, reason: &str) -> Answer {
    if reason.trim().is_empty() {
        return Err(Refusal::bad("--reason: say why you need another section's records (002 §7(11))"));
    }
    let actor = d.prove(c, Act::ViewRecords { other_section: true }).await?;
    match actor.mode {
        Mode::Direct => Err(Refusal {
            code: ErrorCode::Conflict,
            message: "your role reads every section's records already: no request is needed".into(),
        }),
        Mode::Request => {
            crate::admin::requests::file(
                d,
                &actor,
                "view-records",
                section,
                "002 §7(11)",
                serde_json::json!({"reason": reason}),
            )
            .await
        }
    }
}

async fn enroll_as(
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

fn person_json(p: &Person) -> serde_json::Value {
    serde_json::json!({
        "id": p.id.as_str(), "name": p.name, "affiliation": p.affiliation,
        "roles": p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "appointment_end": p.appointment_end, "active": p.active,
    })
}

fn person_list(d: &Daemon) -> Answer {
    let reg = d.registry();
    Ok(serde_json::Value::Array(reg.people.values().map(person_json).collect()))
}

async fn person_show(d: &Daemon, id: &str) -> Answer {
    let p = need_person(d, "id", id)?;
    let mut j = person_json(&p);
    j["templates"] = serde_json::to_value(d.store.templates_of(id).await?).unwrap_or_default();
    Ok(j)
}

fn parse_place(d: &Daemon, s: &str) -> Result<(Place, Level), Refusal> {
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

async fn grant_add(d: &Daemon, c: Option<&ActorClaim>, g: tobira_proto::GrantAdd) -> Answer {
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
    d.store.add_grant(&grant, now).await?;
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

fn grant_list(d: &Daemon, holder: Option<&str>) -> Answer {
    let reg = d.registry();
    let list: Vec<_> = reg
        .grants
        .iter()
        .filter(|g| holder.is_none_or(|h| g.holder.as_str() == h))
        .map(|g| {
            serde_json::json!({"id": g.id.as_str(), "holder": g.holder.as_str(), "place": crate::admin::requests::place_str(&g.place), "issued_by": g.issued_by.as_str(),
                "issuer_role": g.issuer_role.as_str(), "from": g.valid_from, "until": g.valid_until})
        })
        .collect();
    Ok(serde_json::Value::Array(list))
}

async fn grant_revoke(d: &Daemon, c: Option<&ActorClaim>, id: &str) -> Answer {
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
    d.store.revoke_grant(id, actor.id(), d.now()).await?;
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

async fn off_hours_add(d: &Daemon, actor: &Actor, a: tobira_proto::OffHoursAdd) -> Answer {
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
    d.store.add_off_hours(&appr, now).await?;
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

async fn visit_add(d: &Daemon, actor: &Actor, v: tobira_proto::VisitAdd) -> Answer {
    let vendor = need_person(d, "vendor", &v.vendor)?;
    if !vendor.has_role(Role::Vendor) {
        return Err(Refusal::bad(format!("vendor: {} is not registered as a vendor (保守業者)", v.vendor)));
    }
    for e in &v.escorts {
        need_person(d, "escorts", e)?;
    }
    for door in &v.doors {
        if d.site.door(&DoorId::new(door)).is_none() {
            return Err(Refusal::not_found(format!("doors: no door {door:?}")));
        }
    }
    if v.escorts.is_empty() {
        return Err(Refusal::bad("escorts: a vendor visit needs at least one escorting operator (003 §13(4))"));
    }
    let from = parse_time(d, "from", &v.from)?;
    let until = parse_end(d, "until", &v.until)?;
    if until <= from {
        return Err(Refusal::bad("until: must be after from"));
    }
    let now = d.now();
    let id = VisitId::new(format!("v-{}", now.timestamp_micros()));
    let visit = VendorVisit {
        id: id.clone(),
        vendor: vendor.id.clone(),
        company: v.company.clone(),
        purpose: v.purpose.clone(),
        name_tag: v.name_tag.clone(),
        doors: v.doors.iter().map(DoorId::new).collect(),
        from,
        until,
        escorts: v.escorts.iter().map(PersonId::new).collect(),
        approved_by: actor.person.id.clone(),
        media_allowed: v.media_allowed.clone(),
    };
    let mut details = serde_json::to_value(&v).unwrap_or_default();
    details["visit"] = id.as_str().into();
    let seq = audited_admin(d, actor, "admin.visit.add", &v.vendor, "003 §13(4), 000 §7(2)", details).await?;
    d.store.add_visit(&visit, now).await?;
    d.reload_registry().await?;
    crate::central::registry_publish::queue(
        d,
        "visit.upsert",
        id.as_str(),
        "admin.visit.add",
        actor.id(),
        serde_json::to_value(&visit).unwrap_or_default(),
    )
    .await;
    Ok(serde_json::json!({"visit": id.as_str(), "audit_seq": seq}))
}

/// Lifts a lockout (NIST SP 800-63B throttling) after the administrator has checked who it was; the unlock
/// is part of the operation history.
async fn unlock(d: &Daemon, actor: &Actor, person: &str, reader: &str) -> Answer {
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

/// `tobira check`: what an administrator should look at. Warnings, not refusals.
async fn check(d: &Daemon) -> Answer {
    let reg = d.registry();
    let now = d.now();
    let mut warnings = Vec::new();
    let today = now.with_timezone(&d.site.utc_offset).date_naive();
    // 004 §7: someone whose appointment has ended counts for nothing, so the two site administrators of
    // 003 §5(4) are counted among those still in office.
    let site_admins = reg.people.values().filter(|p| p.in_office(today) && p.has_role(Role::SiteAdministrator)).count();
    if site_admins != 2 {
        warnings.push(format!(
            "the site has {site_admins} site administrator(s) (拠点管理者); 003 §5(4) asks for two: appoint with `tobira person add … --roles site-administrator`"
        ));
    }
    if d.bootstrap_open().await {
        warnings.push(
            "no system administrator has an enrolled finger yet (bootstrap): their acts are not biometrically proved — enroll them first".into(),
        );
    }
    {
        let m = d.matching.read().unwrap_or_else(|p| p.into_inner());
        let mut ended: Vec<&Person> =
            reg.people.values().filter(|p| p.active && !p.within_appointment(today)).collect();
        ended.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        for p in ended {
            let mut held = Vec::new();
            if !p.roles.is_empty() {
                held.push(format!(
                    "roles {}",
                    p.roles.iter().map(|r| format!("{} ({})", r.as_str(), r.japanese())).collect::<Vec<_>>().join(", ")
                ));
            }
            let grants = reg.grants_for(&p.id).count();
            if grants > 0 {
                held.push(format!("{grants} grant(s)"));
            }
            if m.has_template(&p.id) {
                held.push("matching data (照合情報)".into());
            }
            if held.is_empty() {
                continue;
            }
            warnings.push(format!(
                "{}'s appointment ended on {} (任期満了, 004 §7) but they still hold {}: remove them with `tobira person \
                 delete {} --reason 任期満了` (000 §8(2))",
                p.id,
                p.appointment_end.map(|e| e.to_string()).unwrap_or_default(),
                held.join(", "),
                p.id
            ));
        }
    }
    // A grant counts only while its issuer holds the level's role (003 §13): one whose issuer has left or whose
    // appointment has ended must be issued again by someone in office.
    for g in reg.grants.iter().filter(|g| g.valid_until > now) {
        let issuer_in_office =
            reg.person(&g.issued_by).is_some_and(|p| p.in_office(today) && p.has_role(g.issuer_role));
        if !issuer_in_office {
            warnings.push(format!(
                "grant {} of {} was issued by {}, whose authority has ended (004 §7, 003 §13): issue it again \
                 (`tobira grant add {} …` by a {} in office) and revoke the old one",
                g.id,
                g.holder,
                g.issued_by,
                g.holder,
                g.issuer_role.as_str()
            ));
        }
    }
    let soon = now + chrono::Duration::days(30);
    for g in reg.grants.iter().filter(|g| g.valid_until > now && g.valid_until <= soon) {
        warnings.push(format!(
            "grant {} of {} ends {} (004 §7): renew it or let it lapse",
            g.id,
            g.holder,
            g.valid_until.with_timezone(&d.site.utc_offset).date_naive()
        ));
    }
    {
        let m = d.matching.read().unwrap_or_else(|p| p.into_inner());
        for p in reg
            .people
            .values()
            .filter(|p| p.active && !p.has_role(Role::Vendor) && reg.grants_for(&p.id).next().is_some())
        {
            if !m.has_template(&p.id) {
                warnings.push(format!(
                    "{} holds grants but has no approved template: enroll them (`tobira enroll {}`)",
                    p.id, p.id
                ));
            }
        }
    }
    let pending = d.store.requests(Some("pending")).await?;
    if !pending.is_empty() {
        warnings.push(format!(
            "{} request(s) await the system administrator's decision (003 §7): `tobira request list --status pending`",
            pending.len()
        ));
    }
    // 004 §5(10): periodic review.
    let period = chrono::Duration::days(i64::from(d.site.administration.review_period_days));
    let last = d.store.meta(crate::admin::review::META_LAST_REVIEW).await?;
    let last_t = last.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
    match last_t {
        Some(t) if now - t <= period => {}
        Some(t) => warnings.push(format!(
            "the periodic review is overdue (004 §5(10)): last completed {}, period {} days — run `tobira review`",
            t.with_timezone(&d.site.utc_offset).date_naive(),
            period.num_days()
        )),
        None => warnings.push("no periodic review has been completed yet (004 §5(10)): run `tobira review`".into()),
    }
    // 003 §13(4), 002 §5-4: a vendor inside with none of their escorts — an escort left first, and nobody
    // has gone back in or seen the vendor out yet.
    let unescorted = {
        let vendors: Vec<PersonId> =
            reg.people.values().filter(|p| p.has_role(Role::Vendor)).map(|p| p.id.clone()).collect();
        let sh = d.shared();
        tobira_core::escort::unescorted(&sh.occupancy, &vendors, &reg.visits, now)
    };
    for u in unescorted {
        let name = reg.person(&u.vendor).map(|p| p.name.clone()).unwrap_or_default();
        let zone = d.site.zone(&u.zone).map(|z| z.name.clone()).unwrap_or_else(|| u.zone.to_string());
        let escorts: Vec<&str> = u.escorts.iter().map(|e| e.as_str()).collect();
        warnings.push(format!(
            "vendor {} ({name}) is inside {zone} ({}) without an escort (付添者不在, 003 §13(4)): their escorts {} \
             must go back in, or see the vendor out through the exit reader",
            u.vendor,
            u.zone,
            if escorts.is_empty() { "(none on a visit in effect)".to_string() } else { escorts.join(", ") }
        ));
    }
    // 003 §11(3): media awaiting a consent, or out past their return date.
    warnings.extend(crate::admin::media::check_warnings(d).await?);
    let open = d.store.alarms(true).await?;
    if !open.is_empty() {
        warnings.push(format!(
            "{} open alarm(s) for the security manager (003 §20): `tobira alarms`, then `tobira alarms ack ID --note …`",
            open.len()
        ));
    }
    Ok(serde_json::json!({"ok": warnings.is_empty(), "warnings": warnings}))
}
