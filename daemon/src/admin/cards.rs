//! Cards and keypad IDs for `card+biometric` doors (issue 16 §2, 004 §2(9)): issued and withdrawn by the
//! system administrator, who distributes user IDs and keeps their ledger (003 §14(2), 001 §15(2)). Both acts
//! are audited before they take effect. The number is stored as a hash and shown by its last digits only.

use crate::admin::audited::audited_admin;
use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use crate::store::card_hash;
use tobira_core::card::CardNumber;
use tobira_core::ids::PersonId;
use tobira_proto::ErrorCode;

fn parse(card: &str) -> Result<CardNumber, Refusal> {
    CardNumber::parse(card).map_err(|e| Refusal::bad(format!("card: {e} (the number printed on the card)")))
}

pub async fn add(d: &Daemon, actor: &Actor, person: &str, card: &str) -> Result<serde_json::Value, Refusal> {
    let n = parse(card)?;
    let p = d
        .registry()
        .person(&PersonId::new(person))
        .cloned()
        .ok_or_else(|| Refusal::not_found(format!("person: no person {person:?}; see `tobira person list`")))?;
    if !p.active {
        return Err(Refusal { code: ErrorCode::Conflict, message: format!("{person} was removed: no card is issued") });
    }
    let hash = card_hash(&n);
    if let Some(held) = d.stores.registry.card(&hash).await? {
        return Err(Refusal {
            code: ErrorCode::Conflict,
            message: format!(
                "card {} is already issued to {}: withdraw it first (`tobira card remove`)",
                n.last_digits(),
                held.person
            ),
        });
    }
    let seq = audited_admin(
        d,
        actor,
        "admin.card.add",
        person,
        "003 §14(2), 001 §15(2)",
        serde_json::json!({"card": n.last_digits()}),
    )
    .await?;
    let id = d.stores.registry.add_card(&hash, &n.last_digits(), person, actor.id(), d.now()).await?;
    Ok(serde_json::json!({"card": n.last_digits(), "person": person, "id": id, "audit_seq": seq}))
}

pub async fn remove(d: &Daemon, actor: &Actor, card: &str, reason: &str) -> Result<serde_json::Value, Refusal> {
    let n = parse(card)?;
    if reason.trim().is_empty() {
        return Err(Refusal::bad("--reason: say why (lost, returned, transfer…): it goes in the user-ID ledger"));
    }
    let hash = card_hash(&n);
    let Some(held) = d.stores.registry.card(&hash).await? else {
        return Err(Refusal::not_found(format!("card {} is not issued to anyone", n.last_digits())));
    };
    let seq = audited_admin(
        d,
        actor,
        "admin.card.remove",
        &held.person,
        "003 §14(2)",
        serde_json::json!({"card": n.last_digits(), "reason": reason}),
    )
    .await?;
    d.stores.registry.remove_card(&hash, actor.id(), d.now()).await?;
    Ok(serde_json::json!({"removed": n.last_digits(), "person": held.person, "audit_seq": seq}))
}

pub async fn list(d: &Daemon) -> Result<serde_json::Value, Refusal> {
    let rows = d.stores.registry.cards().await?;
    Ok(serde_json::Value::Array(
        rows.into_iter()
            .map(|c| {
                serde_json::json!({"card": c.last_digits, "person": c.person, "issued_by": c.issued_by, "issued_at": c.issued_at})
            })
            .collect(),
    ))
}
