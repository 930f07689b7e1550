//! `tobira audit show|verify` on the daemon side. Looking at the records is itself recorded (002 §7(11)).

use crate::admin::range::{parse_end, parse_time};
use crate::flows::actor::{Actor, Proof};
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use tobira_audit::{Filter, NewEvent, Outcome, StoredEvent};
use tobira_core::admin::{Act, Mode};
use tobira_core::ids::PersonId;
use tobira_proto::{ActorClaim, AuditFilter, ErrorCode};

/// Proves who is looking and checks they may look (002 §7(11)): supervisors read every section; a site
/// administrator reads their own section's people, and another section's only with a fresh approval.
pub async fn viewer(d: &Daemon, c: Option<&ActorClaim>, person: Option<&str>) -> Result<Actor, Refusal> {
    let reg = d.registry();
    let section = person.and_then(|p| reg.person(&PersonId::new(p))).map(|p| p.affiliation.clone());
    let mine = c.and_then(|c| reg.person(&PersonId::new(&c.id))).map(|p| p.affiliation.clone());
    let own = section.is_some() && section == mine;
    let actor = d.prove(c, Act::ViewRecords { other_section: !own }).await?;
    if actor.mode == Mode::Request {
        let sec = section.unwrap_or_else(|| "*".into());
        if !crate::admin::requests::may_view_section(d, actor.id(), &sec).await? {
            return Err(Refusal {
                code: ErrorCode::Forbidden,
                message: format!(
                    "reading the records of section {sec:?} ({}) needs the {} approval (002 §7(11)): `tobira request view --section '{sec}' --reason …`",
                    if own {
                        "your own section's operation history: this site's regulation asks approval for it too"
                    } else {
                        "another section's operation history"
                    },
                    d.site.regulation.view_approver.as_str().replace('-', " ") + "'s",
                ),
            });
        }
    }
    Ok(actor)
}

pub fn event_json(e: &StoredEvent) -> serde_json::Value {
    serde_json::json!({
        "node": e.node, "seq": e.seq, "time": e.time, "kind": e.kind, "actor": e.actor, "subject": e.subject,
        "place": e.place, "outcome": e.outcome.as_str(), "reason": e.reason, "article": e.article, "score": e.score,
        "details": e.details, "hash": hex::encode(e.hash),
    })
}

pub async fn show(d: &Daemon, c: Option<&ActorClaim>, f: AuditFilter) -> Result<serde_json::Value, Refusal> {
    let actor = viewer(d, c, f.person.as_deref()).await?;
    let from = f.from.as_deref().map(|s| parse_time(d, "from", s)).transpose()?;
    let until = f.until.as_deref().map(|s| parse_end(d, "until", s)).transpose()?;
    let filter = Filter {
        person: f.person.clone(),
        place: f.place.clone(),
        kind: f.kind.clone(),
        from,
        until,
        limit: Some(f.limit.unwrap_or(1000).min(100_000)),
        ..Default::default()
    };
    let events = d
        .stores
        .audit
        .query(&filter)
        .await
        .map_err(|e| Refusal { code: ErrorCode::Internal, message: e.to_string() })?;
    record_viewing(
        d,
        &actor,
        "audit.view",
        f.person.clone(),
        f.place.clone(),
        serde_json::json!({"kind": f.kind, "from": from, "until": until, "returned": events.len()}),
    )
    .await?;
    Ok(serde_json::Value::Array(events.iter().map(event_json).collect()))
}

/// A ledger's reading (002 §7(11)): `reason` `RECORDS_VIEWED` on the screen, `LEDGER_EXPORTED` when it is
/// written to a file or printed; if it cannot be recorded, nothing is shown.
pub async fn record_viewing_as(
    d: &Daemon,
    actor: &Actor,
    kind: &str,
    reason: &str,
    details: serde_json::Value,
) -> Result<(), Refusal> {
    record(d, actor, kind, reason, None, None, details).await
}

/// Looking at the records is itself recorded (002 §7(11)); if it cannot be recorded, nothing is shown.
pub async fn record_viewing(
    d: &Daemon,
    actor: &Actor,
    kind: &str,
    subject: Option<String>,
    place: Option<String>,
    details: serde_json::Value,
) -> Result<(), Refusal> {
    record(d, actor, kind, "RECORDS_VIEWED", subject, place, details).await
}

async fn record(
    d: &Daemon,
    actor: &Actor,
    kind: &str,
    reason: &str,
    subject: Option<String>,
    place: Option<String>,
    mut details: serde_json::Value,
) -> Result<(), Refusal> {
    details["proof"] = actor.proof_json();
    let place = place.or_else(|| match &actor.proof {
        Proof::Biometric { reader, .. } => Some(reader.clone()),
        Proof::Bootstrap => None,
    });
    d.record(
        NewEvent::new(d.now(), kind, Outcome::Info, reason)
            .actor(actor.id())
            .subject(subject)
            .place(place)
            .article("002 §7(11)")
            .details(details),
    )
    .await
    .map(|_| ())
    .map_err(|e| Refusal {
        code: ErrorCode::Unavailable,
        message: format!("records are not shown while viewing them cannot be recorded: {e}"),
    })
}

pub async fn verify(d: &Daemon) -> Result<serde_json::Value, Refusal> {
    // Against the pinned key and the heads remembered beside it (issue 16 §1), not the store's own word.
    match crate::node::trust::verify_daemon(d).await {
        Ok(v) => Ok(v),
        Err(f) => {
            let f = f.to_string();
            // A broken chain is an incident for the security manager (003 §20), raised once per verification.
            let _ = d
                .record(
                    NewEvent::new(d.now(), "audit.verify.failed", Outcome::Alarm, "AUDIT_VERIFICATION_FAILED")
                        .place(d.site.id.as_str())
                        .article("003 §17, §20")
                        .details(serde_json::json!({"failure": f})),
                )
                .await;
            Ok(serde_json::json!({"ok": false, "failure": f}))
        }
    }
}
