//! Audit shipping to the central store (issue 7 §2): the node keeps writing locally first — the door never
//! waits for the network — and this task sends what the centre does not have yet, in order, at least once;
//! the centre's ingest is idempotent on (node, seq) and refuses gaps and forks itself. While the centre is
//! unreachable events accumulate locally; when it returns they arrive, each exactly once. A fork (the centre
//! holds another event under one of our numbers) is an alarm and stops shipping until someone looks.

use crate::node::daemon::Daemon;
use crate::node::shipping::ShipState;
use chrono::Utc;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::sync::Arc;
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};
use tobira_central::CentralError;
use tobira_core::site::RawCentral;

/// A clock difference beyond this is recorded here as well as at the centre (once per episode).
const SKEW_ALARM_S: f64 = 120.0;

const BATCH: u32 = 1000;

fn set(d: &Daemon, f: impl FnOnce(&mut ShipState)) {
    if let Ok(mut s) = d.central.shipping.lock()
        && let Some(st) = s.as_mut()
    {
        f(st);
    }
}

async fn note(d: &Daemon, kind: &str, reason: &str, outcome: Outcome, details: serde_json::Value) {
    let _ = d
        .record(
            NewEvent::new(d.now(), kind, outcome, reason)
                .place(d.site.id.as_str())
                .article("003 §17, §20")
                .details(details),
        )
        .await;
}

pub async fn shipper_task(
    d: Arc<Daemon>,
    cfg: RawCentral,
    signer: Option<tobira_audit::Signer>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let node = d.site.id.to_string();
    let every = Duration::from_millis(u64::from(cfg.ship_every_ms.max(50)));
    let mut heads = signer.map(|s| {
        crate::central::tree_heads::HeadKeeper::new(s, Duration::from_millis(u64::from(cfg.head_every_ms.max(100))))
    });
    let mut skewed = false;
    let mut pool: Option<PgPool> = None;
    let mut acked: Option<i64> = None;
    let mut backoff = every;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        if d.central.shipping.lock().map(|s| s.as_ref().is_some_and(|s| s.stopped_by_fork)).unwrap_or(false) {
            continue;
        }
        let p = match &pool {
            Some(p) => p.clone(),
            None => match PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(3))
                .connect_with(tobira_central::connect_options(&cfg))
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
        let batch = match d.stores.audit.events_after(after, BATCH).await {
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
            // Caught up: time to have the log witnessed.
            if let Some(h) = heads.as_mut() {
                let res = match h.fill(&d, after).await {
                    Ok(()) => h.tick(&d, &p, after).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                match res {
                    Ok(Some(c)) => set(&d, |s| s.cosigned = c),
                    Ok(None) => {}
                    Err(e) => set(&d, |s| s.last_error = Some(format!("tree head: {e}"))),
                }
            }
            continue;
        };
        let sent_at = tobira_audit::time_text(d.now());
        match tobira_central::ingest_at(&p, &node, &batch, Some(&sent_at)).await {
            Ok(rep) => {
                if let Some(h) = heads.as_mut() {
                    h.shipped(&batch);
                }
                if let Some(skew) = rep.clock_skew_s {
                    set(&d, |s| s.clock_skew_s = Some(skew));
                    let off = skew.abs() > SKEW_ALARM_S;
                    if off && !skewed {
                        tracing::warn!(skew_s = skew, "this node's clock differs from the centre's");
                        note(
                            &d,
                            "central.clock_skew",
                            "CLOCK_SKEW",
                            Outcome::Alarm,
                            serde_json::json!({"skew_s": skew}),
                        )
                        .await;
                    }
                    skewed = off;
                }
                acked = Some(last);
                backoff = if batch.len() == BATCH as usize { Duration::from_millis(1) } else { every };
                set(&d, |s| {
                    s.acknowledged = last;
                    s.last_ok = Some(Utc::now());
                    s.last_error = None;
                });
            }
            Err(CentralError::Gap { .. }) => acked = None, // ask the centre where it stands, and resend
            Err(e @ (CentralError::Fork { .. } | CentralError::Malformed { .. })) => {
                // Retrying cannot help: the centre holds another history for this node, or refuses one of
                // our events as not matching its own hash. Someone must look; the events stay here.
                tracing::error!(error = %e, "the centre refuses this node's history: shipping stopped");
                set(&d, |s| {
                    s.stopped_by_fork = true;
                    s.last_error = Some(e.to_string());
                });
                let (kind, reason) = match e {
                    CentralError::Fork { .. } => ("central.fork", "CENTRAL_FORK"),
                    _ => ("central.refused", "CENTRAL_REFUSED"),
                };
                note(&d, kind, reason, Outcome::Alarm, serde_json::json!({"error": e.to_string()})).await;
            }
            Err(e) => {
                set(&d, |s| s.last_error = Some(e.to_string()));
                pool = None;
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
    }
}
