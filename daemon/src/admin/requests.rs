//! Requests and approvals (003 §5(4), §7): what a site administrator does to matching data and operating
//! authority waits here until the system administrator approves or rejects it.
//!
//! A request moves pending → approved → applied, or pending → rejected / withdrawn, each step a conditional
//! update (a second approval, or an approval of a withdrawn request, finds nothing to move and is refused).
//! Approval is audited before it is recorded, and applying is idempotent: if the daemon dies between
//! "approved" and "applied", the next start applies it and audits that it did (`resumed: true`).

use crate::admin::audited::audited_admin;
use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::refusal::{Answer, Refusal};
use crate::store::{RequestRow, StoreError};
use chrono::{DateTime, Utc};
use tobira_audit::{NewEvent, Outcome};
use tobira_core::admin::{Act, Mode, approvers, may_decide_in};
use tobira_core::ids::*;
use tobira_core::model::{Grant, Level, Place, Schedule};
use tobira_proto::{ActorClaim, ErrorCode};

fn conflict(message: String) -> Refusal {
    Refusal { code: ErrorCode::Conflict, message }
}

/// Files a request on behalf of a site administrator; the act itself waits for approval.
pub async fn file(
    d: &Daemon,
    actor: &Actor,
    kind: &str,
    subject: &str,
    article: &str,
    params: serde_json::Value,
) -> Answer {
    let now = d.now();
    let _numbering = crate::store::REQUEST_NUMBERING.lock().await;
    let id = d.stores.registry.next_request_id().await?;
    let seq = audited_admin(
        d,
        actor,
        "admin.request.file",
        subject,
        article,
        serde_json::json!({"request": id, "kind": kind, "params": params}),
    )
    .await?;
    d.stores.registry.add_request(&id, kind, subject, &params, actor.id(), now).await?;
    let who: Vec<String> = approvers(act_of(kind), &d.site.regulation)
        .iter()
        .map(|r| format!("the {} ({})", r.as_str().replace('-', " "), r.japanese()))
        .collect();
    Ok(serde_json::json!({
        "request": id, "status": "pending", "audit_seq": seq,
        "next": format!("{} approves with `tobira request approve {id}`", who.join(" or ")),
    }))
}

pub async fn list(d: &Daemon, status: Option<&str>) -> Answer {
    if let Some(s) = status
        && !["pending", "approved", "applied", "rejected", "withdrawn"].contains(&s)
    {
        return Err(Refusal::bad(format!(
            "--status: {s:?} is not one of pending, approved, applied, rejected, withdrawn"
        )));
    }
    Ok(serde_json::to_value(d.stores.registry.requests(status).await?).unwrap_or_default())
}

async fn need_request(d: &Daemon, id: &str) -> Result<RequestRow, Refusal> {
    d.stores
        .registry
        .request(id)
        .await?
        .ok_or_else(|| Refusal::not_found(format!("no request {id:?}; see `tobira request list`")))
}

/// Why a request that is not pending cannot be decided, in words an administrator acts on.
fn not_pending(d: &Daemon, r: &RequestRow) -> Refusal {
    let who = r.decided_by.clone().unwrap_or_default();
    // When, as the site reads its clock (issue 22 "Times"), not the stored UTC text.
    let at = tobira_ledger::local_stamp_text(r.decided_at.as_deref().unwrap_or_default(), d.site.utc_offset);
    conflict(match r.status.as_str() {
        "approved" | "applied" => format!("request {} was already approved by {who} at {at}; nothing to do", r.id),
        "rejected" => format!("request {} was rejected by {who} at {at}; the requester files a new one", r.id),
        "withdrawn" => format!("request {} was withdrawn by its requester at {at}; nothing to approve", r.id),
        s => format!("request {} is {s}", r.id),
    })
}

/// The part approval and rejection share: the request is pending, the decider is a system administrator
/// proved by finger and not the requester, the decision is audited, then recorded as a conditional update.
async fn decide(
    d: &Daemon,
    claim: Option<&ActorClaim>,
    id: &str,
    to: &'static str,
    note: Option<&str>,
) -> Result<(RequestRow, Actor, i64), Refusal> {
    let r = need_request(d, id).await?;
    if r.status != "pending" {
        return Err(not_pending(d, &r));
    }
    let actor = d.prove(claim, Act::Decide).await?;
    // The approver is the one the site's regulation names for what the request would do (003 §7(3), 000 §8,
    // 002 §7(11)).
    may_decide_in(act_of(&r.kind), &d.site.regulation, &actor.person.roles, actor.id(), &r.requested_by)
        .map_err(|e| Refusal { code: ErrorCode::Forbidden, message: e.to_string() })?;
    if to == "approved" {
        check_still_applicable(d, &r)?;
    }
    let kind = if to == "approved" { "admin.request.approve" } else { "admin.request.reject" };
    let seq = audited_admin(
        d,
        &actor,
        kind,
        &r.subject,
        "003 §7",
        serde_json::json!({"request": r.id, "kind": r.kind, "requested_by": r.requested_by, "note": note}),
    )
    .await?;
    if !d.stores.registry.transition_request(id, "pending", to, actor.id(), note, d.now()).await? {
        return Err(conflict(format!("request {id} was decided or withdrawn meanwhile; see `tobira request list`")));
    }
    Ok((r, actor, seq))
}

pub async fn approve(d: &Daemon, claim: Option<&ActorClaim>, id: &str, note: Option<&str>) -> Answer {
    let (r, actor, seq) = decide(d, claim, id, "approved", note).await?;
    crash_point(d, "after-approve");
    let applied = apply_and_close(d, &r, actor.id(), false).await?;
    Ok(serde_json::json!({"request": id, "status": "applied", "audit_seq": seq, "applied": applied}))
}

pub async fn reject(d: &Daemon, claim: Option<&ActorClaim>, id: &str, note: &str) -> Answer {
    if note.trim().is_empty() {
        return Err(Refusal::bad("--note: say why the request is rejected (the requester reads it)"));
    }
    let (r, _, seq) = decide(d, claim, id, "rejected", Some(note)).await?;
    discard_pending_template(d, &r).await?;
    Ok(serde_json::json!({"request": id, "status": "rejected", "audit_seq": seq}))
}

pub async fn withdraw(d: &Daemon, claim: Option<&ActorClaim>, id: &str) -> Answer {
    let r = need_request(d, id).await?;
    if r.status != "pending" {
        return Err(not_pending(d, &r));
    }
    let actor = d.prove(claim, act_of(&r.kind)).await?;
    if actor.id() != r.requested_by {
        return Err(Refusal {
            code: ErrorCode::Forbidden,
            message: format!(
                "only the requester ({}) withdraws request {id}; the system administrator rejects it",
                r.requested_by
            ),
        });
    }
    let seq = audited_admin(
        d,
        &actor,
        "admin.request.withdraw",
        &r.subject,
        "003 §7",
        serde_json::json!({"request": r.id, "kind": r.kind}),
    )
    .await?;
    if !d.stores.registry.transition_request(id, "pending", "withdrawn", actor.id(), None, d.now()).await? {
        return Err(conflict(format!("request {id} was decided meanwhile")));
    }
    discard_pending_template(d, &r).await?;
    Ok(serde_json::json!({"request": id, "status": "withdrawn", "audit_seq": seq}))
}

/// The act a request of this kind performs once approved (only Level 1 delegations are ever requested).
fn act_of(kind: &str) -> Act {
    match kind {
        "enroll" => Act::Enroll,
        "delete-person" => Act::DeletePerson,
        "grant" => Act::Grant(Level::L1),
        "revoke" => Act::Revoke(Level::L1),
        _ => Act::ViewRecords { other_section: true },
    }
}

/// A rejected or withdrawn enrollment leaves no matching data behind (crypto-erased, 001 §15(4)).
async fn discard_pending_template(d: &Daemon, r: &RequestRow) -> Result<(), Refusal> {
    if r.kind == "enroll"
        && let Some(t) = r.params["template"].as_str()
    {
        d.stores.registry.set_template_status(t, "pending", "rejected").await?;
        d.stores.registry.erase_templates(&[t.to_string()]).await?;
    }
    Ok(())
}

/// Refuses approving what could no longer take effect, before anything is recorded.
fn check_still_applicable(d: &Daemon, r: &RequestRow) -> Result<(), Refusal> {
    let reg = d.registry();
    let subject = reg.person(&PersonId::new(&r.subject));
    match r.kind.as_str() {
        "enroll" | "delete-person" | "grant" if !subject.is_some_and(|p| p.active) => {
            Err(conflict(format!("{} is no longer an active person: reject request {} instead", r.subject, r.id)))
        }
        "grant" => {
            let place = r.params["place"].as_str().unwrap_or("");
            if reg.grants.iter().any(|g| g.holder.as_str() == r.subject && place_str(&g.place) == place) {
                return Err(conflict(format!(
                    "{} already holds a live grant for {place}: reject request {} instead",
                    r.subject, r.id
                )));
            }
            Ok(())
        }
        "revoke" => {
            let grant = r.params["grant"].as_str().unwrap_or("");
            if !reg.grants.iter().any(|g| g.id.as_str() == grant) {
                return Err(conflict(format!("grant {grant} is no longer live: reject request {} instead", r.id)));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

pub fn place_str(p: &Place) -> String {
    match p {
        Place::Zone(z) => format!("zone:{z}"),
        Place::Terminal(t) => format!("terminal:{t}"),
    }
}

/// Test hook for "a crash between approved and activated": with `--simulation` and
/// `TOBIRA_FAULT=after-approve`, the daemon dies right after recording the approval.
fn crash_point(d: &Daemon, point: &str) {
    if d.opts.simulation && std::env::var("TOBIRA_FAULT").is_ok_and(|v| v == point) {
        tracing::error!(point, "TOBIRA_FAULT: simulated crash");
        std::process::exit(70);
    }
}

/// Applies an approved request, marks it applied, and audits that. Idempotent.
async fn apply_and_close(
    d: &Daemon,
    r: &RequestRow,
    approver: &str,
    resumed: bool,
) -> Result<serde_json::Value, Refusal> {
    let now = d.now();
    let effect = apply(d, r, approver, now).await?;
    d.stores.registry.transition_request(&r.id, "approved", "applied", approver, None, now).await?;
    let _ = d
        .record(
            NewEvent::new(now, "admin.request.applied", Outcome::Info, "REQUEST_APPLIED")
                .actor(approver)
                .subject(r.subject.clone())
                .article("003 §7")
                // Who applied and what they asked (a removal's reason), for the operator ledger (000 Form 2).
                .details(serde_json::json!({"request": r.id, "kind": r.kind, "effect": effect, "resumed": resumed,
                "requested_by": r.requested_by, "params": r.params})),
        )
        .await;
    Ok(effect)
}

async fn apply(d: &Daemon, r: &RequestRow, approver: &str, now: DateTime<Utc>) -> Result<serde_json::Value, Refusal> {
    let p = &r.params;
    let s = |k: &str| p[k].as_str().unwrap_or("").to_string();
    match r.kind.as_str() {
        "enroll" => {
            let t = s("template");
            d.activate_template(&t, &r.subject).await?;
            crate::central::registry_publish::queue(
                d,
                "template.upsert",
                &t,
                "admin.enroll.approve",
                approver,
                serde_json::json!({}),
            )
            .await;
            Ok(serde_json::json!({"template": t}))
        }
        "delete-person" => {
            let effect = d.delete_person(&r.subject, approver, now).await?;
            crate::central::registry_publish::queue(
                d,
                "person.deactivate",
                &r.subject,
                "admin.person.delete",
                approver,
                serde_json::json!({}),
            )
            .await;
            Ok(effect)
        }
        "grant" => {
            let place = match s("place").split_once(':') {
                Some(("zone", z)) => Place::Zone(ZoneId::new(z)),
                Some(("terminal", t)) => Place::Terminal(TerminalId::new(t)),
                _ => return Err(Refusal::bad(format!("request {}: malformed place", r.id))),
            };
            let time = |k: &str| {
                DateTime::parse_from_rfc3339(&s(k))
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| Refusal::bad(format!("request {}: malformed {k}", r.id)))
            };
            let grant = Grant {
                id: GrantId::new(s("grant")),
                holder: PersonId::new(&r.subject),
                place,
                // The delegation takes effect in the approver's authority, the Level 1 issuer of the site's
                // regulation (003 §13(2): the system administrator; 000 §8(1): the security officer).
                issued_by: PersonId::new(approver),
                issuer_role: d.site.regulation.issuer(Level::L1),
                valid_from: time("from")?,
                valid_until: time("until")?,
                schedule: if s("schedule") == "office-hours" { Schedule::OfficeHours } else { Schedule::Always },
            };
            match d.stores.registry.add_grant(&grant, now).await {
                Ok(()) | Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            d.reload_registry().await?;
            crate::central::registry_publish::queue(
                d,
                "grant.upsert",
                grant.id.as_str(),
                "admin.grant.approve",
                approver,
                serde_json::to_value(&grant).unwrap_or_default(),
            )
            .await;
            Ok(serde_json::json!({"grant": grant.id.as_str()}))
        }
        "revoke" => {
            let g = s("grant");
            match d.stores.registry.revoke_grant(&g, approver, now).await {
                Ok(()) | Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            crate::central::registry_publish::queue(
                d,
                "grant.revoke",
                &g,
                "admin.grant.revoke",
                approver,
                serde_json::json!({}),
            )
            .await;
            d.reload_registry().await?;
            Ok(serde_json::json!({"revoked": g}))
        }
        // The approval itself is the effect: `audit show` finds it.
        "view-records" => Ok(serde_json::json!({"section": r.subject})),
        k => Err(Refusal::bad(format!("request {}: unknown kind {k}", r.id))),
    }
}

/// At start: finish every request approved but not applied when the daemon last stopped.
pub async fn resume(d: &Daemon) -> Result<usize, Refusal> {
    let stuck = d.stores.registry.requests(Some("approved")).await?;
    for r in &stuck {
        let approver = r.decided_by.clone().unwrap_or_default();
        tracing::warn!(request = %r.id, kind = %r.kind, "applying a request approved before a crash");
        apply_and_close(d, r, &approver, true).await?;
    }
    Ok(stuck.len())
}

/// Whether `reader` holds an approval, still fresh, to read section `section`'s records (002 §7(11)).
pub async fn may_view_section(d: &Daemon, reader: &str, section: &str) -> Result<bool, Refusal> {
    let hours = i64::from(d.site.administration.view_approval_hours);
    let now = d.now();
    Ok(d.stores.registry.requests(Some("applied")).await?.iter().any(|r| {
        r.kind == "view-records"
            && r.requested_by == reader
            && r.subject == section
            && r.decided_at
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| now - t.with_timezone(&Utc) <= chrono::Duration::hours(hours))
    }))
}

/// Asks for another section's records (002 §7(11)): filed as a request for the system administrator.
pub async fn request_view(d: &Daemon, c: Option<&ActorClaim>, section: &str, reason: &str) -> Answer {
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
            file(d, &actor, "view-records", section, "002 §7(11)", serde_json::json!({"reason": reason})).await
        }
    }
}
