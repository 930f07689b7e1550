//! Registry changes from the centre (issue 7 §3): the node LISTENs for the centre's notification and
//! applies the feed from its last applied version, so a revocation reaches a connected node within
//! moments; after an outage it catches up from where it stopped. Each change is audited on the node before
//! it is applied, with the centre's version and issuer.

use crate::central::sync_error::SyncError;
use crate::node::daemon::Daemon;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::sync::Arc;
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};
use tobira_central::RegistryChange;
use tobira_core::ids::PersonId;
use tobira_core::site::RawCentral;

const META_VERSION: &str = "central_registry_version";

/// The place as `tobira grant add --place` names it.
fn place_text(p: &tobira_core::model::Place) -> String {
    match p {
        tobira_core::model::Place::Zone(z) => format!("zone:{}", z.as_str()),
        tobira_core::model::Place::Terminal(t) => format!("terminal:{}", t.as_str()),
    }
}

/// The grants a `grant.revoke` names on this node: one grant id, or `PERSON@PLACE` — that person's grants to
/// that place on every node (grant ids are each node's own; a city revokes "tanaka's server room").
fn revoked_here(d: &Daemon, target: &str) -> Vec<(String, String)> {
    let reg = d.registry();
    match target.split_once('@') {
        Some((holder, place)) => reg
            .grants
            .iter()
            .filter(|g| g.holder.as_str() == holder && place_text(&g.place) == place)
            .map(|g| (g.id.as_str().to_string(), holder.to_string()))
            .collect(),
        None => reg
            .grants
            .iter()
            .filter(|g| g.id.as_str() == target)
            .map(|g| (g.id.as_str().to_string(), g.holder.as_str().to_string()))
            .collect(),
    }
}

/// Whether a place named by another node exists here (each node's site file names its own doors and
/// terminals; a grant for a place this node does not have is not applied here).
fn place_known(d: &Daemon, p: &tobira_core::model::Place) -> bool {
    match p {
        tobira_core::model::Place::Zone(z) => d.site.zones.iter().any(|x| &x.id == z),
        tobira_core::model::Place::Terminal(t) => d.site.terminals.iter().any(|x| &x.id == t),
    }
}

/// What a change means here: the person it concerns and whether it applies (with why not).
fn assess(d: &Daemon, c: &RegistryChange, grants: &[(String, String)]) -> (Option<String>, Result<(), &'static str>) {
    let reg = d.registry();
    let payload: serde_json::Value = serde_json::from_str(&c.payload).unwrap_or_default();
    match c.kind.as_str() {
        "grant.revoke" => match grants.first() {
            Some((_, holder)) => (Some(holder.clone()), Ok(())),
            None => (None, Err("not held here")),
        },
        "person.deactivate" => (Some(c.target.clone()), Ok(())),
        "person.upsert" => {
            let exists = reg.person(&PersonId::new(&c.target)).is_some();
            (Some(c.target.clone()), if exists { Err("already registered here") } else { Ok(()) })
        }
        "grant.upsert" => match serde_json::from_value::<tobira_core::model::Grant>(payload) {
            Ok(g) => {
                let who = Some(g.holder.as_str().to_string());
                if reg.grants.iter().any(|x| x.id == g.id) {
                    (who, Err("already held here"))
                } else if reg.person(&g.holder).is_none() {
                    (who, Err("holder not registered here"))
                } else if !place_known(d, &g.place) {
                    (who, Err("no such place at this node"))
                } else {
                    (who, Ok(()))
                }
            }
            Err(_) => (None, Err("malformed grant")),
        },
        "offhours.upsert" => match serde_json::from_value::<tobira_core::model::OffHoursApproval>(payload) {
            Ok(a) => {
                let who = Some(a.person.as_str().to_string());
                if reg.off_hours.iter().any(|x| x.id == a.id) {
                    (who, Err("already held here"))
                } else if reg.person(&a.person).is_none() {
                    (who, Err("person not registered here"))
                } else if !d.site.terminals.iter().any(|t| t.id == a.terminal) {
                    (who, Err("no such terminal at this node"))
                } else {
                    (who, Ok(()))
                }
            }
            Err(_) => (None, Err("malformed approval")),
        },
        "visit.upsert" => match serde_json::from_value::<tobira_core::model::VendorVisit>(payload) {
            Ok(v) => {
                let who = Some(v.vendor.as_str().to_string());
                if reg.visits.iter().any(|x| x.id == v.id) {
                    (who, Err("already held here"))
                } else if reg.person(&v.vendor).is_none() {
                    (who, Err("vendor not registered here"))
                } else if !v.doors.iter().any(|door| d.site.doors.iter().any(|x| &x.id == door)) {
                    (who, Err("none of its doors is at this node"))
                } else {
                    (who, Ok(()))
                }
            }
            Err(_) => (None, Err("malformed visit")),
        },
        "template.upsert" => {
            let who = payload["person"].as_str().map(str::to_string);
            let known = who.as_deref().is_some_and(|p| reg.person(&PersonId::new(p)).is_some_and(|p| p.active));
            (who, if known { Ok(()) } else { Err("owner not registered here") })
        }
        "template.erase" => (None, Ok(())),
        _ => (None, Err("unknown kind")),
    }
}

async fn apply(d: &Daemon, c: &RegistryChange) -> Result<(), SyncError> {
    let now = d.now();
    if c.origin.as_deref() == Some(d.site.id.as_str()) {
        return Ok(()); // our own change, already in force here
    }
    let grants = if c.kind == "grant.revoke" { revoked_here(d, &c.target) } else { Vec::new() };
    let (subject, applies) = assess(d, c, &grants);
    if applies == Err("not held here") {
        return Ok(()); // not held here (already revoked, or a grant of another node)
    }
    d.record(
        NewEvent::new(now, format!("central.{}", c.kind), Outcome::Info, "CENTRAL_CHANGE")
            .actor(c.issued_by.clone())
            .subject(subject.clone())
            .article("004 §6, 000 §8(2)")
            .details(
                serde_json::json!({"version": c.version, "target": c.target, "reason": c.reason, "origin": c.origin,
            "grants": grants.iter().map(|(g, _)| g.clone()).collect::<Vec<_>>(), "applied": applies.is_ok(),
            "not_applied_because": applies.err()}),
            ),
    )
    .await?;
    if applies.is_err() {
        return Ok(());
    }
    match c.kind.as_str() {
        "grant.revoke" => {
            for (g, _) in &grants {
                match d.stores.registry.revoke_grant(g, &c.issued_by, now).await {
                    Ok(()) | Err(crate::store::StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            d.reload_registry().await?;
        }
        "person.deactivate" => {
            if let Some(subject) = &subject
                && d.registry().person(&PersonId::new(subject)).is_some_and(|p| p.active)
            {
                d.delete_person(subject, &c.issued_by, now).await.map_err(|e| SyncError::Refused(e.message))?;
            }
        }
        "person.upsert" => {
            let p: tobira_core::model::Person =
                serde_json::from_str(&c.payload).map_err(|source| SyncError::Payload { what: "person", source })?;
            match d.stores.registry.add_person(&p, now).await {
                Ok(()) | Err(crate::store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            d.reload_registry().await?;
        }
        "grant.upsert" => {
            let g: tobira_core::model::Grant =
                serde_json::from_str(&c.payload).map_err(|source| SyncError::Payload { what: "grant", source })?;
            match d.stores.registry.add_grant(&g, now).await {
                Ok(()) | Err(crate::store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            d.reload_registry().await?;
        }
        "offhours.upsert" => {
            let a: tobira_core::model::OffHoursApproval =
                serde_json::from_str(&c.payload).map_err(|source| SyncError::Payload { what: "approval", source })?;
            match d.stores.registry.add_off_hours(&a, now).await {
                Ok(()) | Err(crate::store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            d.reload_registry().await?;
        }
        "visit.upsert" => {
            let v: tobira_core::model::VendorVisit =
                serde_json::from_str(&c.payload).map_err(|source| SyncError::Payload { what: "visit", source })?;
            match d.stores.registry.add_visit(&v, now).await {
                Ok(()) | Err(crate::store::StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            d.reload_registry().await?;
        }
        "template.upsert" => receive_template(d, c, now).await?,
        "template.erase" => {
            let id = c.target.clone();
            d.matcher.matching.write().unwrap_or_else(|p| p.into_inner()).remove_where(|o| o.template_id == id);
            d.stores.registry.erase_templates(std::slice::from_ref(&id)).await?;
        }
        k => tracing::warn!(kind = k, "unknown registry change from the centre ignored"),
    }
    Ok(())
}

/// A template enrolled on another node: its data key, wrapped to this node, is opened with the transport
/// key and rewrapped under this node's key; then it matches here like one enrolled here.
async fn receive_template(d: &Daemon, c: &RegistryChange, now: chrono::DateTime<chrono::Utc>) -> Result<(), SyncError> {
    let v: serde_json::Value =
        serde_json::from_str(&c.payload).map_err(|source| SyncError::Payload { what: "template", source })?;
    let s = |k: &'static str| v[k].as_str().map(str::to_string).ok_or(SyncError::TemplateField(k));
    let (id, person) = (s("id")?, s("person")?);
    if d.stores.registry.sealed_template(&id).await?.is_some() {
        return Ok(()); // already here
    }
    let Some(wrapped) = v["keys"][d.site.id.as_str()].as_str() else {
        tracing::warn!(template = %id, "a template from the centre carries no data key for this node: not matched here");
        return Ok(());
    };
    let transport = crate::secrets::transport::TransportKey::load_or_create(&d.opts.transport_key_path())?;
    let blob = hex::decode(wrapped).map_err(|_| SyncError::KeyNotHex { id: id.clone() })?;
    let dek =
        transport.unwrap(&person, &id, &blob).map_err(|source| SyncError::TemplateKey { id: id.clone(), source })?;
    let local = {
        let kek = d.template_key.read().await;
        crate::secrets::crypto::seal_dek(&kek, &person, &id, &dek).map_err(SyncError::Seal)?
    };
    let ciphertext = hex::decode(s("ciphertext")?).map_err(|_| SyncError::CiphertextNotHex { id: id.clone() })?;
    let sealed = crate::secrets::crypto::Sealed { wrapped_key: local, ciphertext };
    d.stores
        .registry
        .add_template(
            &id,
            &PersonId::new(&person),
            &tobira_core::ids::MatchId::new(s("match_id")?),
            &s("modality")?,
            v["position"].as_i64().unwrap_or(0),
            v["quality"].as_i64().unwrap_or(0),
            &sealed,
            "pending",
            now,
        )
        .await?;
    d.activate_template(&id, &person).await.map_err(|e| SyncError::Refused(e.message))?;
    Ok(())
}

async fn catch_up(d: &Daemon, pool: &PgPool) -> Result<(), SyncError> {
    let from = d.stores.registry.meta(META_VERSION).await?.and_then(|v| v.parse().ok()).unwrap_or(0);
    for c in tobira_central::changes_after(pool, from).await? {
        apply(d, &c).await?;
        d.stores.registry.set_meta(META_VERSION, &c.version.to_string()).await?;
    }
    // Then what was changed here goes out to the others.
    match crate::central::registry_publish::publish_pending(d, pool).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(changes = n, "registry changes published to the centre"),
        Err(e) => return Err(SyncError::Publish(Box::new(e))),
    }
    match crate::central::registry_publish::wrap_for_newcomers(d, pool).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(templates = n, "templates wrapped for nodes that joined"),
        Err(e) => return Err(SyncError::WrapForNewcomers(Box::new(e))),
    }
    // Heard from the centre, up to date: the per-level staleness clock restarts.
    if let Ok(mut t) = d.live.contact.lock() {
        *t = Some(d.now());
    }
    Ok(())
}

pub async fn sync_task(d: Arc<Daemon>, cfg: RawCentral, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(500);
    loop {
        let session = async {
            // Two connections: the listener keeps one to itself.
            let pool = PgPoolOptions::new()
                .max_connections(2)
                .acquire_timeout(Duration::from_secs(3))
                .connect_with(tobira_central::connect_options(&cfg))
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(tobira_central::REGISTRY_CHANNEL).await?;
            // Other nodes wrap templates' data keys to this node's transport key: announce it.
            let transport = crate::secrets::transport::TransportKey::load_or_create(&d.opts.transport_key_path())?;
            tobira_central::set_transport_key(&pool, &transport.public()).await?;
            catch_up(&d, &pool).await?;
            loop {
                // A notification, a change queued here, or every few seconds anyway (a notification lost in a
                // reconnect is not a change lost: the feed is read from the applied version).
                tokio::select! {
                    r = tokio::time::timeout(Duration::from_secs(5), listener.recv()) => {
                        if let Ok(Err(e)) = r {
                            return Err(SyncError::Db(e));
                        }
                    }
                    _ = d.central.outbox_wake.notified() => {}
                }
                catch_up(&d, &pool).await?;
            }
            #[allow(unreachable_code)]
            Ok::<(), SyncError>(())
        };
        tokio::select! {
            _ = stop.changed() => return,
            r = session => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "registry feed from the centre interrupted; retrying");
                }
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}
