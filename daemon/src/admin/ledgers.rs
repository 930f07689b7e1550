//! The ledger command: who may read a ledger, its events from the node's audit log, the reading recorded; the
//! rows themselves are `tobira_ledger`'s views, shared with the centre. Also the 閲覧用ID貸出簿: the ledger of
//! lent viewer IDs (004 §11), paired lend/return events from the audit log.

use crate::admin::range::{parse_end, parse_time};
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use tobira_audit::{Filter, StoredEvent};
use tobira_ledger::{
    ENTRY_EXIT_COLUMNS, MATCHING_COLUMNS, OPERATOR_COLUMNS, USER_ID_COLUMNS, entry_exit_rows_in, event_rows_in,
};
use tobira_proto::{ActorClaim, ErrorCode};

pub const VIEWER_ID_COLUMNS: [&str; 8] =
    ["貸出日時", "閲覧用ID", "氏名", "所属", "用務", "貸出者", "返却日時", "返却確認者"];

fn s(v: &serde_json::Value, k: &str) -> String {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
}

pub async fn viewer_ids(
    d: &Daemon,
    c: Option<&ActorClaim>,
    from: Option<&str>,
    until: Option<&str>,
) -> Result<serde_json::Value, Refusal> {
    let title = "閲覧用ID貸出簿 (lent viewer IDs, 004 §11)";
    let events = ledger_events(d, c, Some("admin.viewer."), title, from, until).await?;
    let off = d.site.utc_offset;
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&off).format("%Y-%m-%d %H:%M").to_string();
    let mut rows = Vec::new();
    for (i, e) in events.iter().enumerate().filter(|(_, e)| e.kind == "admin.viewer.lend") {
        let loan = s(&e.details, "loan");
        let back = events[i + 1..].iter().find(|x| x.kind == "admin.viewer.return" && s(&x.details, "loan") == loan);
        rows.push(serde_json::json!({
            "貸出日時": stamp(e.time),
            "閲覧用ID": s(&e.details, "viewer_id"),
            "氏名": s(&e.details, "to"),
            "所属": s(&e.details, "affiliation"),
            "用務": s(&e.details, "purpose"),
            "貸出者": e.actor.clone().unwrap_or_default(),
            "返却日時": back.map(|b| stamp(b.time)).unwrap_or_default(),
            "返却確認者": back.and_then(|b| b.actor.clone()).unwrap_or_default(),
            "貸出番号": loan,
        }));
    }
    Ok(serde_json::json!({"title": title, "columns": VIEWER_ID_COLUMNS, "rows": rows}))
}

/// Pairs each granted entry with the same person's next exit from the same zone.
pub fn entry_exit_rows(events: &[StoredEvent], d: &Daemon) -> Vec<serde_json::Value> {
    entry_exit_rows_in(events, &*d.registry(), d.site.utc_offset)
}

/// One row per event the ledger cares about, in the ledger's columns.
fn event_rows(kind: &str, events: &[StoredEvent], d: &Daemon) -> Vec<serde_json::Value> {
    event_rows_in(kind, events, &*d.registry(), d.site.utc_offset)
}

/// Any ledger by name; each export is itself recorded (002 §7(11)).
pub async fn ledger(
    d: &Daemon,
    c: Option<&tobira_proto::ActorClaim>,
    kind: &str,
    from: Option<&str>,
    until: Option<&str>,
) -> Result<serde_json::Value, Refusal> {
    let (title, columns): (&str, &[&str]) = match kind {
        "entry-exit" => return entry_exit(d, c, from, until).await,
        "viewer-ids" => return viewer_ids(d, c, from, until).await,
        "operators" => ("操作者管理簿 (operator ledger, 000 Form 2)", &OPERATOR_COLUMNS),
        "matching" => ("照合情報管理簿 (matching-data ledger, 003 §15)", &MATCHING_COLUMNS),
        "user-ids" => ("ユーザID管理簿 (user-ID ledger, 003 §14)", &USER_ID_COLUMNS),
        other => {
            return Err(Refusal::bad(format!(
                "no ledger {other:?}: entry-exit, operators, matching, user-ids or viewer-ids"
            )));
        }
    };
    let events = ledger_events(d, c, None, title, from, until).await?;
    Ok(serde_json::json!({"title": title, "columns": columns, "rows": event_rows(kind, &events, d)}))
}

/// The events behind a ledger, after checking who may read them, with the reading recorded (002 §7(11)):
/// a ledger covers every section, so supervisors read it, or a site administrator with an approval.
pub async fn ledger_events(
    d: &Daemon,
    c: Option<&tobira_proto::ActorClaim>,
    kind_prefix: Option<&str>,
    title: &str,
    from: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<StoredEvent>, Refusal> {
    let actor = crate::admin::audit::viewer(d, c, None).await?;
    let from = from.map(|x| parse_time(d, "from", x)).transpose()?;
    let until = until.map(|x| parse_end(d, "until", x)).transpose()?;
    let filter = Filter { kind: kind_prefix.map(String::from), from, until, ..Default::default() };
    let events = d
        .audit_store
        .query(&filter)
        .await
        .map_err(|e| Refusal { code: ErrorCode::Internal, message: e.to_string() })?;
    crate::admin::audit::record_viewing(
        d,
        &actor,
        "audit.ledger",
        None,
        None,
        serde_json::json!({"ledger": title, "from": from, "until": until}),
    )
    .await?;
    Ok(events)
}

pub async fn entry_exit(
    d: &Daemon,
    c: Option<&tobira_proto::ActorClaim>,
    from: Option<&str>,
    until: Option<&str>,
) -> Result<serde_json::Value, Refusal> {
    let events = ledger_events(d, c, Some("door."), "入退室管理簿", from, until).await?;
    Ok(
        serde_json::json!({"title": "入退室管理簿 (entry/exit ledger, 000 Form 1)", "columns": ENTRY_EXIT_COLUMNS, "rows": entry_exit_rows(&events, d)}),
    )
}
