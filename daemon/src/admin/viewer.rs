//! Lent viewer IDs (閲覧用ID, 004 §11): who borrowed which ID, when, for what, and when it came back.

use crate::admin::audited::audited_admin;
use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use crate::store::LoanRow;
use tobira_proto::ErrorCode;

pub async fn lend(
    d: &Daemon,
    actor: &Actor,
    viewer_id: &str,
    to: &str,
    affiliation: &str,
    purpose: &str,
) -> Result<serde_json::Value, Refusal> {
    for (field, v) in [("viewer_id", viewer_id), ("to", to), ("purpose", purpose)] {
        if v.trim().is_empty() {
            return Err(Refusal::bad(format!("{field}: required (004 §11 records name, ID and purpose)")));
        }
    }
    if d.stores.registry.loans().await?.iter().any(|l| l.viewer_id == viewer_id && l.returned_at.is_none()) {
        return Err(Refusal {
            code: ErrorCode::Conflict,
            message: format!(
                "viewer ID {viewer_id} is already lent out: record its return first (`tobira viewer return`)"
            ),
        });
    }
    let now = d.now();
    let id = format!("l-{}", now.timestamp_micros());
    let seq = audited_admin(
        d,
        actor,
        "admin.viewer.lend",
        viewer_id,
        "004 §11",
        serde_json::json!({"loan": id, "viewer_id": viewer_id, "to": to, "affiliation": affiliation, "purpose": purpose}),
    )
    .await?;
    d.stores
        .registry
        .add_loan(&LoanRow {
            id: id.clone(),
            viewer_id: viewer_id.into(),
            lent_to: to.into(),
            affiliation: affiliation.into(),
            purpose: purpose.into(),
            lent_at: crate::store::ts(now),
            lent_by: actor.id().into(),
            returned_at: None,
            returned_by: None,
        })
        .await?;
    Ok(serde_json::json!({"loan": id, "audit_seq": seq}))
}

pub async fn give_back(d: &Daemon, actor: &Actor, loan: &str) -> Result<serde_json::Value, Refusal> {
    let Some(l) = d.stores.registry.loans().await?.into_iter().find(|l| l.id == loan) else {
        return Err(Refusal::not_found(format!("no loan {loan:?}; see `tobira ledger viewer-ids`")));
    };
    if let Some(at) = &l.returned_at {
        let at = tobira_ledger::local_stamp_text(at, d.site.utc_offset);
        return Err(Refusal { code: ErrorCode::Conflict, message: format!("loan {loan} was returned at {at}") });
    }
    let seq = audited_admin(
        d,
        actor,
        "admin.viewer.return",
        &l.viewer_id,
        "004 §11",
        serde_json::json!({"loan": loan, "viewer_id": l.viewer_id, "to": l.lent_to, "affiliation": l.affiliation, "purpose": l.purpose, "lent_at": l.lent_at}),
    )
    .await?;
    if !d.stores.registry.return_loan(loan, actor.id(), d.now()).await? {
        return Err(Refusal { code: ErrorCode::Conflict, message: format!("loan {loan} was returned meanwhile") });
    }
    Ok(serde_json::json!({"returned": loan, "audit_seq": seq}))
}
