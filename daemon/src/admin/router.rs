//! Control requests → their handlers: the router proves nothing and changes nothing itself; it routes each
//! request, and records a refused administrative act. Every change to the registry is validated first,
//! audited (durably), then applied by its handler (`people`, `grants`, `visits`, …); a refusal changes nothing
//! and says what is wrong.

use crate::admin::{cards, grants, people, status, visits};
use crate::node::daemon::Daemon;
use crate::refusal::{Answer, Refusal};
use chrono::{DateTime, Utc};
use tobira_audit::{NewEvent, Outcome};
use tobira_core::admin::Act;
use tobira_proto::{ActorClaim, ErrorCode, MediaCommand, Request, Response};

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
        Request::Status => status::status(d).await,
        Request::SignIn { client } => d.sign_in(c, &client).await,
        Request::Devices => Ok(status::devices(d)),
        Request::Check => status::check(d).await,
        Request::ThresholdCheck => crate::admin::threshold_check::threshold_check(d).await,
        Request::PersonAdd(p) => people::add(d, c, p).await,
        Request::PersonList => people::list(d),
        Request::PersonPage(q) => crate::admin::listing::person_page(d, &q),
        Request::PersonShow { id } => people::show(d, &id).await,
        Request::PersonDelete { id, reason } => people::delete(d, c, &id, &reason).await,
        Request::Enroll { person, reader, finger, palm, samples } => {
            // Parsed before the actor proves themselves: a typo costs nobody a capture.
            let hand = match palm.as_deref().map(|h| (h, crate::flows::enroll_palm::Hand::parse(h))) {
                None => None,
                Some((_, Some(hand))) => Some(hand),
                Some((h, None)) => return Err(Refusal::bad(format!("--palm {h}: say left or right"))),
            };
            let actor = d.prove(c, Act::Enroll).await?;
            people::enroll_as(d, &actor, &person, &reader, finger, hand, samples).await
        }
        Request::GrantAdd(g) => grants::add(d, c, g).await,
        Request::GrantList { holder } => grants::list(d, holder.as_deref()),
        Request::GrantPage(q) => crate::admin::listing::grant_page(d, &q),
        Request::GrantRevoke { id } => grants::revoke(d, c, &id).await,
        Request::OffHoursAdd(a) => grants::off_hours_add(d, &d.prove(c, Act::OffHours).await?, a).await,
        Request::Unlock { person, reader } => {
            people::unlock(d, &d.prove(c, Act::Unlock).await?, &person, &reader).await
        }
        Request::VisitAdd(v) => visits::add(d, &d.prove(c, Act::Visit).await?, v).await,
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
        Request::RequestView { section, reason } => crate::admin::requests::request_view(d, c, &section, &reason).await,
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
