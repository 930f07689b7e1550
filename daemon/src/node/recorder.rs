//! The recorder: the one way an event is appended to the audit record (audit first, then act) and a
//! decision is published. A flow holds this handle instead of the whole `Daemon` (issue 20).

use std::collections::HashSet;
use tobira_audit::{AuditWriter, NewEvent, Outcome, Receipt};
use tobira_core::ids::DoorId;
use tobira_proto::DecisionReport;
use tokio::sync::broadcast;

/// The audit writer and everything an appended event or a decision feeds: the alarm task, the metrics,
/// the decisions' watchers.
pub struct Recorder {
    pub writer: AuditWriter,
    /// Alarm events go to the alarm task (table + notifier), off the door's path.
    pub alarms: tokio::sync::mpsc::UnboundedSender<crate::node::raised::Raised>,
    /// What the metrics endpoint serves (issue 19 §2): fed by `record` and `publish`.
    pub metrics: crate::node::metrics::Metrics,
    /// Every access decision, for the demo and `sim` commands that wait for a door's answer.
    pub decisions: broadcast::Sender<DecisionReport>,
    /// The site's doors: a decision at one of them is a door's, any other place's a login's (the metrics'
    /// and the journal's `flow`).
    pub doors: HashSet<DoorId>,
}

impl Recorder {
    /// Appends an audit event and waits until it is durable. Every flow calls this *before* it opens a door
    /// or answers a login: an error here means deny and keep the door locked (DESIGN "Fail secure").
    pub async fn record(&self, ev: NewEvent) -> Result<Receipt, tobira_audit::AuditError> {
        let kind = ev.kind.clone();
        let alarm = (ev.outcome == Outcome::Alarm).then(|| crate::node::raised::Raised::from_event(&ev));
        let fault = crate::node::metrics::Metrics::fault_of(&ev);
        let started = std::time::Instant::now();
        let r = self.writer.append(ev).await;
        let seq = r.as_ref().ok().map(|receipt| receipt.seq);
        self.metrics.appended(started.elapsed(), seq, fault.map(|device| (device, kind.as_str())));
        match (&r, alarm) {
            (Err(e), _) => {
                tracing::error!(kind = %kind, error = %e, "audit append failed: denying and keeping doors locked")
            }
            (Ok(receipt), Some(mut a)) => {
                a.seq = receipt.seq;
                let _ = self.alarms.send(a);
            }
            (Ok(_), None) => {}
        }
        r
    }

    /// Publishes a decision to watchers (demo, simulator); nobody listening is fine.
    pub fn publish(&self, report: DecisionReport) {
        let path = if self.doors.contains(&DoorId::new(&report.place)) { "door" } else { "login" };
        let latency = report.latency_us.map(std::time::Duration::from_micros);
        self.metrics.decided(path, report.granted, &report.reason, latency);
        // One line per decision, with the fields the journal indexes; the person is left to the audit record.
        tracing::info!(
            flow = path,
            place = %report.place,
            granted = report.granted,
            reason = %report.reason,
            latency_ms = latency.map(|l| l.as_millis() as u64),
            "access decision"
        );
        let _ = self.decisions.send(report);
    }
}
