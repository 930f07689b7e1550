//! The entry/exit ledger (入退室管理簿, 000 Form 1; 003 §13): a view over the audit log, never a table of
//! its own, so nobody can edit it apart from the chain (THREATS: "ledgers are derived from the log").

use crate::commands::{Refusal, parse_time};
use crate::daemon::Daemon;
use tobira_audit::{Filter, Outcome, StoredEvent};
use tobira_proto::ErrorCode;

/// Column names of 000 Form 1, in order.
pub const ENTRY_EXIT_COLUMNS: [&str; 9] =
    ["日付", "氏名", "所属", "用務", "入室場所", "入室時刻", "退室時刻", "立会者", "承認者"];

fn s(v: &serde_json::Value, k: &str) -> String {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
}

/// Pairs each granted entry with the same person's next exit from the same zone.
pub fn entry_exit_rows(events: &[StoredEvent], d: &Daemon) -> Vec<serde_json::Value> {
    let reg = d.registry();
    let off = d.site.utc_offset;
    let mut rows = Vec::new();
    for (i, e) in events.iter().enumerate() {
        if e.kind != "door.enter" || e.outcome != Outcome::Granted {
            continue;
        }
        let Some(who) = e.subject.clone() else {
            continue;
        };
        let zone = s(&e.details, "zone");
        let exit = events[i + 1..]
            .iter()
            .find(|x| x.kind == "door.exit" && x.subject.as_deref() == Some(&who) && s(&x.details, "zone") == zone)
            .map(|x| x.time.with_timezone(&off).format("%H:%M:%S").to_string())
            .unwrap_or_default();
        let person = reg.person(&tobira_core::ids::PersonId::new(&who));
        let local = e.time.with_timezone(&off);
        rows.push(serde_json::json!({
            "日付": local.format("%Y-%m-%d").to_string(),
            "氏名": person.map(|p| p.name.clone()).unwrap_or_else(|| who.clone()),
            "所属": person.map(|p| p.affiliation.clone()).unwrap_or_default(),
            "用務": s(&e.details, "purpose"),
            "入室場所": zone,
            "入室時刻": local.format("%H:%M:%S").to_string(),
            "退室時刻": exit,
            "立会者": s(&e.details, "escort"),
            "承認者": s(&e.details, "approver"),
        }));
    }
    rows
}

pub async fn entry_exit(d: &Daemon, from: Option<&str>, until: Option<&str>) -> Result<serde_json::Value, Refusal> {
    let from = from.map(|x| parse_time(d, "from", x)).transpose()?;
    let until = until.map(|x| parse_time(d, "until", x)).transpose()?;
    let filter = Filter { kind: Some("door.".into()), from, until, ..Default::default() };
    let events = d
        .audit_store
        .query(&filter)
        .await
        .map_err(|e| Refusal { code: ErrorCode::Internal, message: e.to_string() })?;
    crate::audit_cmd::record_viewing(
        d,
        "audit.ledger",
        None,
        None,
        serde_json::json!({"ledger": "入退室管理簿", "from": from, "until": until}),
    )
    .await?;
    Ok(serde_json::json!({"columns": ENTRY_EXIT_COLUMNS, "rows": entry_exit_rows(&events, d)}))
}
