//! The template lifecycle after capture: activation on approval, replacement on re-enrollment, and erasure
//! on transfer or leaving (000 §8(2)) ending in a node-key rotation, so an old backup of the store cannot be
//! decrypted for an erased template (see `keyring`).

use crate::admin::audited::audited_admin;
use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use chrono::{DateTime, Utc};
use tobira_core::ids::PersonId;
use tobira_proto::ErrorCode;

impl Daemon {
    /// Makes an approved template match: opens it, loads it into the matcher, and erases the person's older
    /// templates of the same finger or hand (re-enrollment replaces). Idempotent.
    pub async fn activate_template(&self, template_id: &str, person: &str) -> Result<(), Refusal> {
        let kek = self.template_key.read().await;
        self.stores.registry.set_template_status(template_id, "pending", "approved").await?;
        let Some(row) = self.stores.registry.sealed_template(template_id).await? else {
            return Err(Refusal::not_found(format!("template {template_id} is gone (erased?)")));
        };
        let sealed = crate::secrets::crypto::Sealed { wrapped_key: row.wrapped_key, ciphertext: row.ciphertext };
        let plain = crate::secrets::crypto::open_template(&kek, person, template_id, &sealed)
            .map_err(|e| Refusal { code: ErrorCode::Internal, message: format!("template {template_id}: {e}") })?;
        // Decoded before anything is erased: a template that cannot load replaces nothing.
        let t = crate::node::daemon::Decoded::decode(&row.modality, &plain)
            .map_err(|e| Refusal { code: ErrorCode::Internal, message: format!("template {template_id}: {e}") })?;
        // The same finger, or the same hand: a palm's position (1 right, 2 left) is not a finger number.
        let superseded: Vec<String> = self
            .stores
            .registry
            .templates_of(person)
            .await?
            .into_iter()
            .filter(|x| {
                x.id != template_id
                    && x.modality == row.modality
                    && x.position == row.position
                    && x.status == "approved"
            })
            .map(|x| x.id)
            .collect();
        self.stores.registry.erase_templates(&superseded).await?;
        let mut m = self.matcher.matching.write().unwrap_or_else(|p| p.into_inner());
        m.remove_where(|o| superseded.contains(&o.template_id) || o.template_id == template_id);
        m.insert_decoded(PersonId::new(person), template_id.to_string(), t);
        Ok(())
    }

    /// Transfer or leaving (000 §8(2)): every grant revoked, every template erased, the person inactive, and
    /// the node key rotated. Idempotent.
    pub async fn delete_person(
        &self,
        person: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<serde_json::Value, Refusal> {
        let grants: Vec<String> = self
            .registry()
            .grants
            .iter()
            .filter(|g| g.holder.as_str() == person)
            .map(|g| g.id.as_str().to_string())
            .collect();
        for g in &grants {
            match self.stores.registry.revoke_grant(g, by, now).await {
                Ok(()) | Err(crate::store::StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let templates: Vec<String> = self
            .stores
            .registry
            .templates_of(person)
            .await?
            .into_iter()
            .filter(|t| t.status != "erased")
            .map(|t| t.id)
            .collect();
        // Out of the matcher first: from this moment the person's finger matches nothing.
        self.matcher.matching.write().unwrap_or_else(|p| p.into_inner()).remove_where(|o| o.person.as_str() == person);
        let erased = self.stores.registry.erase_templates(&templates).await?;
        self.stores.registry.deactivate_person(person).await?;
        self.reload_registry().await?;
        let rewrapped = self.rotate_node_key().await?;
        Ok(
            serde_json::json!({"revoked_grants": grants, "erased_templates": templates, "erased": erased, "key_rotated": true, "rewrapped": rewrapped}),
        )
    }

    /// Rewraps every data key under a fresh node key (holding the key for writing throughout).
    pub async fn rotate_node_key(&self) -> Result<usize, Refusal> {
        let mut kek = self.template_key.write().await;
        let (new, n) = crate::secrets::keyring::rotate(&self.opts.template_key_path(), &self.stores.registry, &kek)
            .await
            .map_err(|e| Refusal {
                code: ErrorCode::Internal,
                message: format!("key rotation failed, nothing changed: {e}"),
            })?;
        *kek = new;
        Ok(n)
    }
}

/// `tobira key rotate`: audited first, then done; the audit history is not touched (it holds no template).
pub async fn rotate_command(d: &Daemon, actor: &Actor) -> Result<serde_json::Value, Refusal> {
    let old = crate::secrets::keyring::fingerprint(&d.template_key.read().await);
    let seq = audited_admin(
        d,
        actor,
        "admin.key.rotate",
        "",
        "001 §15(4)",
        serde_json::json!({"old_key_sha256": &old[..12]}),
    )
    .await?;
    let n = d.rotate_node_key().await?;
    let new = crate::secrets::keyring::fingerprint(&d.template_key.read().await);
    Ok(
        serde_json::json!({"rewrapped": n, "old_key_sha256": &old[..12], "new_key_sha256": &new[..12], "audit_seq": seq}),
    )
}
