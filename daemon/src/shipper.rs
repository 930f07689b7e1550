//! Audit shipping to the central store (issue 7 §2): the node keeps writing locally first — the door never
//! waits for the network — and this task sends what the centre does not have yet, in order, at least once;
//! the centre's ingest is idempotent on (node, seq) and refuses gaps and forks itself. While the centre is
//! unreachable events accumulate locally; when it returns they arrive, each exactly once. A fork (the centre
//! holds another event under one of our numbers) is an alarm and stops shipping until someone looks.

use crate::daemon::Daemon;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use std::sync::Arc;
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};
use tobira_central::{CentralError, ShippedEvent};
use tobira_core::site::RawCentral;

/// What `tobira status` shows of the shipping.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ShipState {
    /// The highest sequence the centre acknowledged.
    pub acknowledged: i64,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub stopped_by_fork: bool,
}

const BATCH: i64 = 1000;

pub fn connect_options(c: &RawCentral) -> PgConnectOptions {
    PgConnectOptions::new()
        .host(&c.host)
        .port(c.port)
        .username(&c.role)
        .database(&c.database)
        .ssl_mode(PgSslMode::VerifyFull)
        .ssl_root_cert(&c.ca_file)
        .ssl_client_cert(&c.cert_file)
        .ssl_client_key(&c.key_file)
}

async fn local_batch(d: &Daemon, after: i64) -> Result<Vec<ShippedEvent>, sqlx::Error> {
    let rows = sqlx::query("SELECT seq, time, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, hash FROM events WHERE seq > ? ORDER BY seq LIMIT ?")
        .bind(after)
        .bind(BATCH)
        .fetch_all(d.audit_store.pool())
        .await?;
    let h = |v: Vec<u8>| -> [u8; 32] { v.try_into().unwrap_or([0; 32]) };
    Ok(rows
        .into_iter()
        .map(|r| ShippedEvent {
            seq: r.get(0),
            time: r.get(1),
            kind: r.get(2),
            actor: r.get(3),
            subject: r.get(4),
            place: r.get(5),
            outcome: r.get(6),
            reason: r.get(7),
            article: r.get(8),
            score: r.get(9),
            details: r.get(10),
            prev_hash: h(r.get(11)),
            hash: h(r.get(12)),
        })
        .collect())
}

fn set(d: &Daemon, f: impl FnOnce(&mut ShipState)) {
    if let Ok(mut s) = d.shipping.lock()
        && let Some(st) = s.as_mut()
    {
        f(st);
    }
}

pub async fn shipper_task(d: Arc<Daemon>, cfg: RawCentral, mut stop: tokio::sync::watch::Receiver<bool>) {
    let node = d.site.id.to_string();
    let every = Duration::from_millis(u64::from(cfg.ship_every_ms.max(50)));
    let mut pool: Option<PgPool> = None;
    let mut acked: Option<i64> = None;
    let mut backoff = every;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        if d.shipping.lock().map(|s| s.as_ref().is_some_and(|s| s.stopped_by_fork)).unwrap_or(false) {
            continue;
        }
        let p = match &pool {
            Some(p) => p.clone(),
            None => match PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(3))
                .connect_with(connect_options(&cfg))
                .await
            {
                Ok(p) => {
                    pool = Some(p.clone());
                    acked = None;
                    p
                }
                Err(e) => {
                    set(&d, |s| s.last_error = Some(format!("centre unreachable: {e}")));
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            },
        };
        let after = match acked {
            Some(a) => a,
            None => match tobira_central::shipped_up_to(&p, &node).await {
                Ok(a) => a,
                Err(e) => {
                    set(&d, |s| s.last_error = Some(e.to_string()));
                    pool = None;
                    continue;
                }
            },
        };
        let batch = match local_batch(&d, after).await {
            Ok(b) => b,
            Err(e) => {
                set(&d, |s| s.last_error = Some(format!("local audit store: {e}")));
                continue;
            }
        };
        let Some(last) = batch.last().map(|e| e.seq) else {
            acked = Some(after);
            set(&d, |s| {
                s.acknowledged = after;
                s.last_ok = Some(Utc::now());
                s.last_error = None;
            });
            backoff = every;
            continue;
        };
        match tobira_central::ingest(&p, &node, &batch).await {
            Ok(_) => {
                acked = Some(last);
                backoff = if batch.len() as i64 == BATCH { Duration::from_millis(1) } else { every };
                set(&d, |s| {
                    s.acknowledged = last;
                    s.last_ok = Some(Utc::now());
                    s.last_error = None;
                });
            }
            Err(CentralError::Gap { .. }) => acked = None, // ask the centre where it stands, and resend
            Err(e @ CentralError::Fork { .. }) => {
                tracing::error!(error = %e, "the centre holds another history for this node: shipping stopped");
                set(&d, |s| {
                    s.stopped_by_fork = true;
                    s.last_error = Some(e.to_string());
                });
                let _ = d
                    .record(NewEvent {
                        time: d.now(),
                        kind: "central.fork".into(),
                        actor: None,
                        subject: None,
                        place: Some(node.clone()),
                        outcome: Outcome::Alarm,
                        reason: "CENTRAL_FORK".into(),
                        article: Some("003 §17, §20".into()),
                        score: None,
                        details: serde_json::json!({"error": e.to_string()}),
                    })
                    .await;
            }
            Err(e) => {
                set(&d, |s| s.last_error = Some(e.to_string()));
                pool = None;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
