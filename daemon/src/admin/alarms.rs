//! Incidents for the security manager (003 §20, 001 §10): every audit event recorded as an alarm (forced or
//! held door, tamper, device offline, repeated biometric failures, a duplicate identity at enrollment, an
//! audit verification failure) becomes an open alarm, is written to the system journal, and runs the site's
//! notifier once. `tobira alarms` lists them; acknowledging one (with a note) is itself audited.

use crate::admin::audited::audited_admin;
use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::node::raised::Raised;
use crate::refusal::Refusal;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tobira_proto::ErrorCode;
use tokio::io::AsyncWriteExt;

/// How long the notifier may run before it is killed (a hung mailer must not pile up processes).
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// Receives alarm events, records each once, tells the journal, runs the notifier.
/// On stop, alarms already queued are still recorded and notified before the task ends.
pub async fn alarm_task(
    d: Arc<Daemon>,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Raised>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            a = rx.recv() => match a {
                Some(a) => raise(&d, a).await,
                None => return,
            },
            _ = stop.changed() => {
                while let Ok(a) = rx.try_recv() {
                    raise(&d, a).await;
                }
                return;
            }
        }
    }
}

async fn raise(d: &Daemon, a: Raised) {
    {
        let id = match d
            .stores
            .registry
            .add_alarm(a.seq, &a.kind, a.place.as_deref(), a.subject.as_deref(), &a.reason, a.time)
            .await
        {
            Ok(Some(id)) => id,
            Ok(None) => return, // this event raised its alarm already
            Err(e) => {
                tracing::error!(seq = a.seq, error = %e, "could not record an alarm; it stays in the audit log");
                return;
            }
        };
        // The system journal: tracing goes to stderr, which systemd keeps.
        tracing::error!(alarm = id, kind = %a.kind, place = a.place.as_deref().unwrap_or(""), reason = %a.reason, "ALARM raised for the security manager (セキュリティ管理者)");
        if notify(&d.site.administration.notify_command, id, &a).await {
            let _ = d.stores.registry.mark_notified(id, d.now()).await;
        }
    }
}

async fn notify(argv: &[String], id: i64, a: &Raised) -> bool {
    let Some((cmd, args)) = argv.split_first() else {
        return true; // journal only
    };
    let mut c = tokio::process::Command::new(cmd);
    c.args(args)
        .env("TOBIRA_ALARM_ID", id.to_string())
        .env("TOBIRA_ALARM_KIND", &a.kind)
        .env("TOBIRA_ALARM_REASON", &a.reason)
        .env("TOBIRA_ALARM_PLACE", a.place.as_deref().unwrap_or(""))
        .env("TOBIRA_ALARM_TIME", a.time.to_rfc3339())
        .env("TOBIRA_ALARM_SEQ", a.seq.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = match c.spawn() {
        Ok(ch) => ch,
        Err(e) => {
            tracing::error!(alarm = id, error = %e, "alarm notifier could not start");
            return false;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        let body = serde_json::json!({"id": id, "alarm": a}).to_string();
        let _ = stdin.write_all(body.as_bytes()).await;
    }
    match tokio::time::timeout(NOTIFY_TIMEOUT, child.wait()).await {
        Ok(Ok(st)) if st.success() => true,
        Ok(Ok(st)) => {
            tracing::error!(alarm = id, status = %st, "alarm notifier failed");
            false
        }
        _ => {
            tracing::error!(alarm = id, "alarm notifier did not finish in time; killed");
            false
        }
    }
}

const META_SCANNED: &str = "alarm_scan_seq";

/// At start: alarm events recorded after the last scan but never turned into alarms (the daemon died between
/// the audit append and the alarm task) are raised now. The alarms table is keyed by audit sequence, so an
/// alarm already raised is not raised twice.
pub async fn catch_up(d: &Daemon) -> Result<usize, Refusal> {
    let mut after = d.stores.registry.meta(META_SCANNED).await?.and_then(|s| s.parse::<i64>().ok()).unwrap_or(0);
    let mut raised = 0;
    loop {
        let filter = tobira_audit::Filter { after_seq: Some(after), limit: Some(10_000), ..Default::default() };
        let batch = d
            .stores
            .audit
            .query(&filter)
            .await
            .map_err(|e| Refusal { code: ErrorCode::Internal, message: e.to_string() })?;
        let Some(last) = batch.last().map(|e| e.seq) else { break };
        for e in batch.iter().filter(|e| e.outcome == tobira_audit::Outcome::Alarm) {
            let a = Raised {
                seq: e.seq,
                kind: e.kind.clone(),
                place: e.place.clone(),
                subject: e.subject.clone(),
                reason: e.reason.clone(),
                time: e.time,
            };
            if d.stores.registry.alarms(false).await?.iter().all(|x| x.audit_seq != e.seq) {
                raised += 1;
                let _ = d.recorder.alarms.send(a);
            }
        }
        after = last;
    }
    d.stores.registry.set_meta(META_SCANNED, &after.to_string()).await?;
    Ok(raised)
}

pub async fn list(d: &Daemon, all: bool) -> Result<serde_json::Value, Refusal> {
    let rows = d.stores.registry.alarms(!all).await?;
    Ok(serde_json::to_value(rows).unwrap_or_default())
}

pub async fn ack(d: &Daemon, actor: &Actor, id: i64, note: &str) -> Result<serde_json::Value, Refusal> {
    if note.trim().is_empty() {
        return Err(Refusal::bad("--note: say what was found and done (it goes in the incident record)"));
    }
    let Some(alarm) = d.stores.registry.alarms(false).await?.into_iter().find(|a| a.id == id) else {
        return Err(Refusal::not_found(format!("no alarm {id}; see `tobira alarms`")));
    };
    if let Some(at) = &alarm.acked_at {
        return Err(Refusal {
            code: ErrorCode::Conflict,
            message: format!(
                "alarm {id} was acknowledged at {} by {}",
                tobira_ledger::local_stamp_text(at, d.site.utc_offset),
                alarm.acked_by.unwrap_or_default()
            ),
        });
    }
    let seq = audited_admin(
        d,
        actor,
        "admin.alarm.ack",
        alarm.subject.as_deref().unwrap_or(""),
        "003 §20",
        serde_json::json!({"alarm": id, "alarm_seq": alarm.audit_seq, "kind": alarm.kind, "note": note}),
    )
    .await?;
    if !d.stores.registry.ack_alarm(id, actor.id(), note, d.now()).await? {
        return Err(Refusal { code: ErrorCode::Conflict, message: format!("alarm {id} was acknowledged meanwhile") });
    }
    Ok(serde_json::json!({"acknowledged": id, "audit_seq": seq}))
}
