//! What the city's monitoring scrapes (issue 19 §2): counters and histograms the flows feed as they go, and
//! gauges read when scraped. Prometheus text format 0.0.4 (`sockets::metrics` serves it on localhost).
//!
//! No label ever carries a person (name or ID): labels are the decision path (`door`, `login`), the outcome,
//! the reason code (a closed set, `tobira_core::policy::Reason::code`), and device IDs from the site file.
//! The counters start at zero with every start of the daemon (Prometheus handles the reset).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tobira_audit::{NewEvent, Outcome};

/// Every metric the daemon keeps, in its own registry (never the process-global one).
pub struct Metrics {
    registry: Registry,
    decisions: IntCounterVec,
    decision_seconds: HistogramVec,
    audit_commit_seconds: Histogram,
    audit_failures: prometheus::IntCounter,
    device_faults: IntCounterVec,
    alarms_open: IntGauge,
    audit_queue: IntGauge,
    audit_head: IntGauge,
    shipper_lag: IntGauge,
    shipper_acknowledged: IntGauge,
    watched_paths: IntGaugeVec,
    /// The highest sequence an append returned (the chain's head as this process wrote it).
    head_seq: AtomicI64,
}

/// What is read at scrape time rather than counted as it happens.
#[derive(Debug, Default, Clone)]
pub struct Sampled {
    /// Alarms not acknowledged by the security manager (003 §20).
    pub alarms_open: i64,
    /// Events waiting for the audit writer.
    pub audit_queue: i64,
    /// `(acknowledged seq)` when the site ships to a centre.
    pub shipper_acknowledged: Option<i64>,
    /// Watched paths (door tasks, the login socket) and how many are stale now.
    pub watched: i64,
    pub stale: i64,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Every name, label and bucket below is a constant checked by the unit test: registration cannot fail
    // at run time unless the code above is changed wrongly.
    match r {
        Ok(v) => v,
        Err(e) => panic!("metric definition: {e}"),
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let decisions = must(IntCounterVec::new(
            Opts::new("tobira_decisions_total", "Access decisions by path (door or login), outcome and reason code."),
            &["path", "outcome", "reason"],
        ));
        let decision_seconds = must(HistogramVec::new(
            HistogramOpts::new(
                "tobira_decision_seconds",
                "Time from a sample reaching the daemon to the strike command or the refusal (audit commit included).",
            )
            .buckets(vec![0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["path"],
        ));
        let audit_commit_seconds = must(Histogram::with_opts(
            HistogramOpts::new(
                "tobira_audit_commit_seconds",
                "Time for an audit event to become durable (queue, batch and fsync), as a flow waits for it.",
            )
            .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
        ));
        let audit_failures = must(prometheus::IntCounter::new(
            "tobira_audit_append_failures_total",
            "Audit appends that failed (the flow denied and kept the door locked).",
        ));
        let device_faults = must(IntCounterVec::new(
            Opts::new("tobira_device_faults_total", "Device fault episodes by device (site file ID) and event kind."),
            &["device", "kind"],
        ));
        let alarms_open =
            must(IntGauge::new("tobira_alarms_open", "Alarms the security manager has not acknowledged (003 §20)."));
        let audit_queue = must(IntGauge::new("tobira_audit_queue_depth", "Events waiting for the audit writer."));
        let audit_head =
            must(IntGauge::new("tobira_audit_head_seq", "Sequence number of the newest audit event written."));
        let shipper_lag = must(IntGauge::new(
            "tobira_shipper_lag_events",
            "Audit events written but not yet acknowledged by the centre (0 without a centre).",
        ));
        let shipper_acknowledged = must(IntGauge::new(
            "tobira_shipper_acknowledged_seq",
            "Highest audit sequence the centre acknowledged (0 without a centre).",
        ));
        let watched_paths = must(IntGaugeVec::new(
            Opts::new("tobira_watchdog_paths", "Paths the systemd watchdog watches, by state (fresh or stale)."),
            &["state"],
        ));
        for c in [
            Box::new(decisions.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(decision_seconds.clone()),
            Box::new(audit_commit_seconds.clone()),
            Box::new(audit_failures.clone()),
            Box::new(device_faults.clone()),
            Box::new(alarms_open.clone()),
            Box::new(audit_queue.clone()),
            Box::new(audit_head.clone()),
            Box::new(shipper_lag.clone()),
            Box::new(shipper_acknowledged.clone()),
            Box::new(watched_paths.clone()),
        ] {
            must(registry.register(c));
        }
        Metrics {
            registry,
            decisions,
            decision_seconds,
            audit_commit_seconds,
            audit_failures,
            device_faults,
            alarms_open,
            audit_queue,
            audit_head,
            shipper_lag,
            shipper_acknowledged,
            watched_paths,
            head_seq: AtomicI64::new(0),
        }
    }
}

/// The device an audited device event is about: the IDs the flows put in its details, else its place.
fn device_of(ev: &NewEvent) -> String {
    ["device", "reader", "controller"]
        .iter()
        .find_map(|k| ev.details.get(*k).and_then(|v| v.as_str()))
        .map(str::to_string)
        .or_else(|| ev.place.clone())
        .unwrap_or_else(|| "unknown".into())
}

/// An audit event that opens a device fault episode (the flows audit each episode once, 003 §20).
pub fn is_device_fault(ev: &NewEvent) -> bool {
    ev.outcome == Outcome::Alarm && ev.kind.starts_with("device.") && ev.kind != "device.osdp.install_mode"
}

impl Metrics {
    /// A decision was published. `path` is `door` or `login`; `latency` the door's sample-to-command time.
    pub fn decided(&self, path: &'static str, granted: bool, reason: &str, latency: Option<Duration>) {
        let outcome = if granted { "granted" } else { "denied" };
        self.decisions.with_label_values(&[path, outcome, reason]).inc();
        if let Some(l) = latency {
            self.decision_seconds.with_label_values(&[path]).observe(l.as_secs_f64());
        }
    }

    /// An audit append finished after `took`: `seq` when it is durable, `None` when it failed. `fault` is
    /// the device whose fault episode the event opened, if any.
    pub fn appended(&self, took: Duration, seq: Option<i64>, fault: Option<(String, &str)>) {
        match seq {
            Some(s) => {
                self.audit_commit_seconds.observe(took.as_secs_f64());
                self.head_seq.fetch_max(s, Ordering::Relaxed);
                if let Some((device, kind)) = fault {
                    self.device_faults.with_label_values(&[device.as_str(), kind]).inc();
                }
            }
            None => self.audit_failures.inc(),
        }
    }

    /// The device label of `ev` if it opens a fault episode (computed before the event is moved).
    pub fn fault_of(ev: &NewEvent) -> Option<String> {
        is_device_fault(ev).then(|| device_of(ev))
    }

    /// The text exposition with the scrape-time gauges set from `s`.
    pub fn render(&self, s: &Sampled) -> String {
        let head = self.head_seq.load(Ordering::Relaxed);
        self.alarms_open.set(s.alarms_open);
        self.audit_queue.set(s.audit_queue);
        self.audit_head.set(head);
        self.shipper_acknowledged.set(s.shipper_acknowledged.unwrap_or(0));
        self.shipper_lag.set(s.shipper_acknowledged.map(|a| (head - a).max(0)).unwrap_or(0));
        self.watched_paths.with_label_values(&["fresh"]).set(s.watched - s.stale);
        self.watched_paths.with_label_values(&["stale"]).set(s.stale);
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "metrics could not be encoded");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, outcome: Outcome, details: serde_json::Value) -> NewEvent {
        NewEvent::new(chrono::Utc::now(), kind, outcome, "X")
            .actor("tanaka")
            .subject("tanaka")
            .place("server-door")
            .details(details)
    }

    #[test]
    fn counters_histograms_and_gauges_render_without_people() {
        let m = Metrics::default();
        m.decided("door", true, "GRANTED", Some(Duration::from_millis(80)));
        m.decided("door", false, "NO_MATCH", Some(Duration::from_millis(40)));
        m.decided("login", false, "NO_GRANT", None);
        let fault = ev("device.fault", Outcome::Alarm, serde_json::json!({"device": "server-in"}));
        m.appended(
            Duration::from_millis(3),
            Some(41),
            Metrics::fault_of(&fault).as_ref().map(|d| (d.clone(), "device.fault")),
        );
        m.appended(Duration::from_millis(2), Some(42), None);
        m.appended(Duration::from_millis(2), None, None);
        let s =
            m.render(&Sampled { alarms_open: 2, audit_queue: 1, shipper_acknowledged: Some(30), watched: 4, stale: 1 });
        for want in [
            r#"tobira_decisions_total{outcome="granted",path="door",reason="GRANTED"} 1"#,
            r#"tobira_decisions_total{outcome="denied",path="login",reason="NO_GRANT"} 1"#,
            r#"tobira_decision_seconds_count{path="door"} 2"#,
            "tobira_audit_commit_seconds_count 2",
            "tobira_audit_append_failures_total 1",
            r#"tobira_device_faults_total{device="server-in",kind="device.fault"} 1"#,
            "tobira_alarms_open 2",
            "tobira_audit_queue_depth 1",
            "tobira_audit_head_seq 42",
            "tobira_shipper_lag_events 12",
            r#"tobira_watchdog_paths{state="stale"} 1"#,
        ] {
            assert!(s.lines().any(|l| l == want), "missing {want}:\n{s}");
        }
        assert!(!s.contains("tanaka"), "a person in the metrics:\n{s}");
    }

    #[test]
    fn only_device_alarms_are_faults_and_the_device_is_named() {
        let f = ev("device.offline", Outcome::Alarm, serde_json::json!({"controller": "server-ctl", "why": "x"}));
        assert_eq!(Metrics::fault_of(&f).as_deref(), Some("server-ctl"));
        assert_eq!(Metrics::fault_of(&ev("device.recovered", Outcome::Info, serde_json::json!({}))), None);
        assert_eq!(Metrics::fault_of(&ev("door.forced", Outcome::Alarm, serde_json::json!({}))), None);
        let i = ev("device.osdp.install_mode", Outcome::Alarm, serde_json::json!({"controller": "c"}));
        assert_eq!(Metrics::fault_of(&i), None, "a configuration alarm, not a fault");
    }
}
