//! The metrics endpoint (issue 19 §2): `GET /metrics` in Prometheus text format, on the address given with
//! `--metrics` (opt-in; meant for 127.0.0.1, where the city's node exporter or Prometheus agent scrapes it).
//! It carries no person and changes nothing, so it asks for no credentials; a non-loopback address is
//! accepted with a warning (firewall it).
//!
//! A scrape reads counters in memory and two gauges from the stores; the alarm count is cached for a
//! second, so a scrape storm costs the registry database at most one small query a second.

use crate::node::daemon::Daemon;
use crate::node::metrics::{CONTENT_TYPE, Sampled};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// How long an alarm count is reused.
const ALARMS_FRESH: Duration = Duration::from_secs(1);

struct Endpoint {
    d: Arc<Daemon>,
    /// A watched path older than this counts as stale (the watchdog's own limit when systemd set one).
    stale_after: Duration,
    alarms: tokio::sync::Mutex<Option<(Instant, i64)>>,
}

/// Binds the endpoint (before READY=1, so a wrong address stops the start and says so).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "metrics endpoint on a non-loopback address: firewall it to the monitoring host");
    }
    TcpListener::bind(addr).await
}

pub async fn serve(
    d: Arc<Daemon>,
    listener: TcpListener,
    stale_after: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let ep = Arc::new(Endpoint { d, stale_after, alarms: tokio::sync::Mutex::new(None) });
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape)).with_state(ep);
    let r = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
        })
        .await;
    if let Err(e) = r {
        tracing::error!(error = %e, "metrics endpoint stopped");
    }
}

async fn scrape(State(ep): State<Arc<Endpoint>>) -> impl IntoResponse {
    let d = &ep.d;
    let alarms_open = {
        let mut cached = ep.alarms.lock().await;
        match *cached {
            Some((at, n)) if at.elapsed() < ALARMS_FRESH => n,
            _ => {
                // -1: the count could not be read (the gauge says so rather than a reassuring 0).
                let n = d.stores.registry.open_alarm_count().await.unwrap_or(-1);
                *cached = Some((Instant::now(), n));
                n
            }
        }
    };
    let shipper_acknowledged =
        d.central.shipping.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|s| s.acknowledged);
    let s = Sampled {
        alarms_open,
        audit_queue: i64::try_from(d.stores.writer.queued()).unwrap_or(i64::MAX),
        shipper_acknowledged,
        watched: i64::try_from(d.heartbeats.len()).unwrap_or(i64::MAX),
        stale: i64::try_from(d.heartbeats.stale(ep.stale_after).len()).unwrap_or(i64::MAX),
    };
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], d.recorder.metrics.render(&s))
}
