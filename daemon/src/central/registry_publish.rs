//! Registry changes made on this node, published to the centre so that people, grants and templates are
//! managed once and reach every node (issue 7 §1, §3). The change is applied here first — under the
//! regulation's approvals, every administrative act proved by the actor's biometric — and queued in the
//! local outbox; the registry sync task publishes the outbox in order whenever the centre is reachable, so
//! an outage delays publication but loses nothing. A template travels sealed: its ciphertext as stored here,
//! and its data key wrapped to every other node's transport key (`transport`). The centre opens neither.

use crate::central::sync_error::SyncError;
use crate::node::daemon::Daemon;
use sqlx::postgres::PgPool;
use tobira_central::NodeChange;

/// Queues a change for the centre (no-op on a single node). A failure to queue is logged, never a refusal:
/// the change is already in force here.
pub async fn queue(d: &Daemon, kind: &str, target: &str, reason: &str, by: &str, payload: serde_json::Value) {
    if d.site.central.is_none() {
        return;
    }
    if let Err(e) = d.stores.registry.queue_change(kind, target, reason, by, &payload.to_string(), d.now()).await {
        tracing::error!(error = %e, kind, target, "registry change not queued for the centre");
    }
    d.central.outbox_wake.notify_one();
}

/// Publishes what is queued, in order; returns how many went out.
pub async fn publish_pending(d: &Daemon, pool: &PgPool) -> Result<usize, SyncError> {
    let me = d.site.id.to_string();
    let mut n = 0;
    for row in d.stores.registry.unpublished().await? {
        let payload = if row.kind == "template.upsert" {
            match template_payload(d, pool, &me, &row.target).await? {
                Some(p) => p,
                None => {
                    d.stores.registry.mark_published(row.id, 0).await?; // erased since
                    continue;
                }
            }
        } else {
            row.payload.clone()
        };
        let change = NodeChange {
            kind: &row.kind,
            target: &row.target,
            reason: &row.reason,
            issued_by: &row.issued_by,
            payload: &payload,
        };
        let v = tobira_central::publish_from(pool, &me, &change).await?;
        d.stores.registry.mark_published(row.id, v).await?;
        n += 1;
    }
    Ok(n)
}

const META_WRAPPED_FOR: &str = "central_templates_wrapped_for";

/// A node that joins (announces its transport key) after templates were published has no data key in
/// them: every node re-publishes the templates it holds, wrapped only to the newcomers. Nodes skip
/// templates they already hold, so a duplicate costs nothing.
pub async fn wrap_for_newcomers(d: &Daemon, pool: &PgPool) -> Result<usize, SyncError> {
    let me = d.site.id.to_string();
    let known: Vec<String> =
        d.stores.registry.meta(META_WRAPPED_FOR).await?.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default();
    let keys = tobira_central::transport_keys(pool).await?;
    let newcomers: Vec<(String, [u8; 32])> =
        keys.iter().filter(|(n, _)| *n != me && !known.contains(n)).cloned().collect();
    if newcomers.is_empty() {
        return Ok(0);
    }
    let mut n = 0;
    for t in d.stores.registry.live_template_infos().await?.into_iter().filter(|t| t.status == "approved") {
        if let Some(payload) = template_payload_for(d, &t.id, &newcomers).await? {
            let change = NodeChange {
                kind: "template.upsert",
                target: &t.id,
                reason: "wrapped for a node that joined",
                issued_by: &me,
                payload: &payload,
            };
            tobira_central::publish_from(pool, &me, &change).await?;
            n += 1;
        }
    }
    let all: Vec<String> = keys.into_iter().map(|(n, _)| n).collect();
    d.stores.registry.set_meta(META_WRAPPED_FOR, &serde_json::to_string(&all).unwrap_or_default()).await?;
    Ok(n)
}

/// The template as it travels: metadata, ciphertext, and the data key wrapped to each other node.
async fn template_payload(d: &Daemon, pool: &PgPool, me: &str, id: &str) -> Result<Option<String>, SyncError> {
    let to: Vec<(String, [u8; 32])> =
        tobira_central::transport_keys(pool).await?.into_iter().filter(|(n, _)| n != me).collect();
    template_payload_for(d, id, &to).await
}

async fn template_payload_for(d: &Daemon, id: &str, to: &[(String, [u8; 32])]) -> Result<Option<String>, SyncError> {
    let Some(row) = d.stores.registry.sealed_template(id).await? else { return Ok(None) };
    let quality = d
        .stores
        .registry
        .templates_of(row.person.as_str())
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .map_or(0, |t| t.quality);
    let person = row.person.as_str().to_string();
    let dek = {
        let kek = d.template_key.read().await;
        crate::secrets::crypto::open_dek(&kek, &person, id, &row.wrapped_key)
            .map_err(|source| SyncError::TemplateKey { id: id.to_string(), source })?
    };
    let mut keys = serde_json::Map::new();
    for (node, key) in to {
        let w = crate::secrets::transport::wrap_for(key, &person, id, &dek).map_err(SyncError::Seal)?;
        keys.insert(node.clone(), hex::encode(w).into());
    }
    Ok(Some(
        serde_json::json!({
            "id": id, "person": person, "match_id": row.match_id.as_str(), "modality": row.modality,
            "position": row.position, "quality": quality, "ciphertext": hex::encode(&row.ciphertext), "keys": keys,
        })
        .to_string(),
    ))
}
