//! Registry changes from the centre (issue 7 §3): the node LISTENs for the centre's notification and
//! applies the feed from its last applied version, so a revocation reaches a connected node within
//! moments; after an outage it catches up from where it stopped. Each change is audited on the node before
//! it is applied, with the centre's version and issuer.

use crate::daemon::Daemon;
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use std::sync::Arc;
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};
use tobira_central::RegistryChange;
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

async fn apply(d: &Daemon, c: &RegistryChange) -> Result<(), String> {
    let now = d.now();
    let grants = if c.kind == "grant.revoke" { revoked_here(d, &c.target) } else { Vec::new() };
    let subject = match c.kind.as_str() {
        "grant.revoke" => grants.first().map(|(_, holder)| holder.clone()),
        _ => Some(c.target.clone()),
    };
    let Some(subject) = subject else {
        return Ok(()); // not held here (already revoked, or a grant of another node)
    };
    d.record(NewEvent {
        time: now,
        kind: format!("central.{}", c.kind),
        actor: Some(c.issued_by.clone()),
        subject: Some(subject.clone()),
        place: None,
        outcome: Outcome::Info,
        reason: "CENTRAL_CHANGE".into(),
        article: Some("004 §6, 000 §8(2)".into()),
        score: None,
        details: serde_json::json!({"version": c.version, "target": c.target, "reason": c.reason,
            "grants": grants.iter().map(|(g, _)| g.clone()).collect::<Vec<_>>()}),
    })
    .await
    .map_err(|e| e.to_string())?;
    match c.kind.as_str() {
        "grant.revoke" => {
            for (g, _) in &grants {
                match d.store.revoke_grant(g, &c.issued_by, now).await {
                    Ok(()) | Err(crate::store::StoreError::NotFound { .. }) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
            d.reload_registry().await.map_err(|e| e.to_string())?;
        }
        "person.deactivate" => {
            if d.registry().person(&tobira_core::ids::PersonId::new(&subject)).is_some_and(|p| p.active) {
                d.delete_person(&subject, &c.issued_by, now).await.map_err(|e| e.message)?;
            }
        }
        k => tracing::warn!(kind = k, "unknown registry change from the centre ignored"),
    }
    Ok(())
}

async fn catch_up(d: &Daemon, pool: &PgPool) -> Result<(), String> {
    let from = d.store.meta(META_VERSION).await.map_err(|e| e.to_string())?.and_then(|v| v.parse().ok()).unwrap_or(0);
    for c in tobira_central::changes_after(pool, from).await.map_err(|e| e.to_string())? {
        apply(d, &c).await?;
        d.store.set_meta(META_VERSION, &c.version.to_string()).await.map_err(|e| e.to_string())?;
    }
    // Heard from the centre, up to date: the per-level staleness clock restarts.
    if let Ok(mut t) = d.central_contact.lock() {
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
                .connect_with(crate::shipper::connect_options(&cfg))
                .await
                .map_err(|e| e.to_string())?;
            let mut listener = PgListener::connect_with(&pool).await.map_err(|e| e.to_string())?;
            listener.listen(tobira_central::REGISTRY_CHANNEL).await.map_err(|e| e.to_string())?;
            catch_up(&d, &pool).await?;
            loop {
                // A notification, or every few seconds anyway (a notification lost in a reconnect is not a
                // change lost: the feed is read from the applied version).
                match tokio::time::timeout(Duration::from_secs(5), listener.recv()).await {
                    Ok(Err(e)) => return Err(e.to_string()),
                    Ok(Ok(_)) | Err(_) => catch_up(&d, &pool).await?,
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), String>(())
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
