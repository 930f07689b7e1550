//! Periodic review (004 §5(10), §6(5)): every live grant, template and role, for the system administrator to
//! confirm or revoke line by line (grants are revoked, templates erased; roles end with the person's removal
//! or appointment term). Listing is recorded as a viewing; completing records the findings, revokes
//! what was found wrong, and resets the clock `tobira check` measures overdue reviews by.

use crate::admin::audited::audited_admin;
use crate::admin::requests::place_str;
use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;

pub const META_LAST_REVIEW: &str = "last_review_at";

/// One line of the review: what it is, whose, and the id to name when revoking.
async fn lines(d: &Daemon) -> Result<Vec<serde_json::Value>, Refusal> {
    let reg = d.registry();
    let mut out = Vec::new();
    for p in reg.people.values().filter(|p| p.active) {
        for r in &p.roles {
            out.push(serde_json::json!({"line": "role", "id": format!("{}:{}", p.id, r.as_str()), "person": p.id.as_str(), "name": p.name,
                "what": format!("{} ({})", r.as_str(), r.japanese()), "until": p.appointment_end}));
        }
    }
    for g in &reg.grants {
        out.push(serde_json::json!({"line": "grant", "id": g.id.as_str(), "person": g.holder.as_str(),
            "name": reg.person(&g.holder).map(|p| p.name.clone()).unwrap_or_default(),
            "what": format!("{} issued by {} as {}", place_str(&g.place), g.issued_by, g.issuer_role.as_str()), "until": g.valid_until}));
    }
    for t in d.stores.registry.live_template_infos().await? {
        out.push(serde_json::json!({"line": "template", "id": t.id, "person": t.person,
            "name": reg.person(&tobira_core::ids::PersonId::new(&t.person)).map(|p| p.name.clone()).unwrap_or_default(),
            "what": format!("{} {} ({}), quality {}", t.modality, t.position, t.status, t.quality), "until": serde_json::Value::Null}));
    }
    Ok(out)
}

pub async fn review(
    d: &Daemon,
    actor: &Actor,
    complete: bool,
    revoke: &[String],
    note: Option<&str>,
) -> Result<serde_json::Value, Refusal> {
    let items = lines(d).await?;
    if !complete {
        let seq = audited_admin(
            d,
            actor,
            "audit.view",
            "",
            "004 §5(10), 002 §7(11)",
            serde_json::json!({"view": "review", "lines": items.len()}),
        )
        .await?;
        return Ok(serde_json::json!({"lines": items, "audit_seq": seq,
            "next": "confirm with `tobira review --complete`, naming each wrong grant or template with --revoke ID"}));
    }
    let reg = d.registry();
    let live_templates: Vec<String> =
        d.stores.registry.live_template_infos().await?.into_iter().map(|t| t.id).collect();
    let (mut grants, mut templates) = (Vec::new(), Vec::new());
    // Whose grant each revocation takes, for the user-ID ledger (003 §14(2)): one row per holder.
    let mut revoked = Vec::new();
    // Grant ids as typed (`g-1`) in their stored form; template ids as they are.
    let revoke: Vec<String> = revoke.iter().map(|id| crate::admin::grant_ids::resolve(d, id)).collect();
    for id in &revoke {
        if let Some(g) = reg.grants.iter().find(|g| g.id.as_str() == id) {
            grants.push(id.clone());
            revoked.push(serde_json::json!({"grant": id, "holder": g.holder.as_str(), "place": place_str(&g.place)}));
        } else if live_templates.contains(id) {
            templates.push(id.clone());
        } else {
            return Err(Refusal::not_found(format!(
                "--revoke {id}: no live grant or template with that id; nothing was recorded"
            )));
        }
    }
    let now = d.now();
    let seq = audited_admin(
        d,
        actor,
        "admin.review",
        "",
        "004 §5(10)",
        serde_json::json!({"lines": items.len(), "confirmed": items.len() - revoke.len(), "revoked_grants": grants, "revoked": revoked, "erased_templates": templates, "note": note}),
    )
    .await?;
    for id in &grants {
        d.stores.registry.revoke_grant(id, actor.id(), now).await?;
        crate::central::registry_publish::queue(
            d,
            "grant.revoke",
            id,
            "admin.review",
            actor.id(),
            serde_json::json!({}),
        )
        .await;
    }
    d.reload_registry().await?;
    if !templates.is_empty() {
        // A template found wrong is erased like one of a person who left (000 §8(2)), key rotation included.
        d.matcher
            .matching
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove_where(|o| templates.contains(&o.template_id));
        d.stores.registry.erase_templates(&templates).await?;
        for t in &templates {
            crate::central::registry_publish::queue(
                d,
                "template.erase",
                t,
                "admin.review",
                actor.id(),
                serde_json::json!({}),
            )
            .await;
        }
        d.rotate_node_key().await?;
    }
    d.stores.registry.set_meta(META_LAST_REVIEW, &crate::store::ts(now)).await?;
    Ok(serde_json::json!({"reviewed": items.len(), "revoked": revoke, "audit_seq": seq}))
}
