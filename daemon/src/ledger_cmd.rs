//! 閲覧用ID貸出簿: the ledger of lent viewer IDs (004 §11), paired lend/return events from the audit log.

use crate::commands::Refusal;
use crate::daemon::Daemon;
use tobira_proto::ActorClaim;

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
    let events = crate::ledger::ledger_events(d, c, Some("admin.viewer."), title, from, until).await?;
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
