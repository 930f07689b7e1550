//! The ledger command: who may read a ledger, its events from the node's audit log, its heading, the reading
//! recorded; the rows themselves are `tobira_ledger`'s views, shared with the centre. Also the 閲覧用ID貸出簿:
//! the ledger of lent viewer IDs (004 §11), paired lend/return events from the audit log.

use crate::admin::range::{parse_end, parse_time};
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use tobira_audit::{Filter, StoredEvent};
use tobira_ledger::{
    ENTRY_EXIT_COLUMNS, MATCHING_COLUMNS, MEDIA_COLUMNS, OPERATOR_COLUMNS, Style, USER_ID_COLUMNS, entry_exit_rows_in,
    event_rows_in,
};
use tobira_proto::ErrorCode;

pub const VIEWER_ID_COLUMNS: [&str; 8] =
    ["貸出日時", "閲覧用ID", "氏名", "所属", "用務", "貸出者", "返却日時", "返却確認者"];

fn s(v: &serde_json::Value, k: &str) -> String {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
}

/// What a ledger request asks for besides its kind: the period, dates in the Japanese era, and what it is
/// written to (`csv`, `html`) — the record of the reading says so.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub from: Option<&'a str>,
    pub until: Option<&'a str>,
    pub era: bool,
    pub output: &'a [String],
}

/// Any ledger by name; each reading is itself recorded with who read it, the period and what it was written
/// to (002 §7(11)), and every ledger carries a heading naming the site, the period, when it was made and by
/// whom (issue 21 §4).
pub async fn ledger(
    d: &Daemon,
    c: Option<&tobira_proto::ActorClaim>,
    kind: &str,
    asked: Asked<'_>,
) -> Result<serde_json::Value, Refusal> {
    let (title, columns): (&str, &[&str]) = match kind {
        "entry-exit" => ("入退室管理簿 (entry/exit ledger, 000 Form 1)", &ENTRY_EXIT_COLUMNS),
        "viewer-ids" => ("閲覧用ID貸出簿 (lent viewer IDs, 004 §11)", &VIEWER_ID_COLUMNS),
        "operators" => ("操作者管理簿 (operator ledger, 000 Form 2)", &OPERATOR_COLUMNS),
        "matching" => ("照合情報管理簿 (matching-data ledger, 003 §15)", &MATCHING_COLUMNS),
        "user-ids" => ("ユーザID管理簿 (user-ID ledger, 003 §14)", &USER_ID_COLUMNS),
        "media" => ("記録媒体管理簿 (media register, 003 §11)", &MEDIA_COLUMNS),
        other => {
            return Err(Refusal::bad(format!(
                "no ledger {other:?}: entry-exit, operators, matching, user-ids, viewer-ids or media"
            )));
        }
    };
    // The entry/exit ledger reads the doors' events and the vendors' declarations of media (000 §7(2)).
    let prefix = match kind {
        "viewer-ids" => Some("admin.viewer."),
        "media" => Some("admin.media."),
        _ => None,
    };
    let (events, heading) = ledger_events(d, c, prefix, title, asked).await?;
    let style = Style { offset: d.site.utc_offset, era: asked.era };
    let reg = d.registry();
    let rows = match kind {
        "entry-exit" => entry_exit_rows_in(&events, &*reg, style),
        "viewer-ids" => viewer_rows(&events, &*reg, style),
        other => event_rows_in(other, &events, &*reg, style),
    };
    Ok(serde_json::json!({"title": title, "columns": columns, "rows": rows, "heading": heading, "era": asked.era}))
}

/// The 閲覧用ID貸出簿's rows: each lending paired with its return.
fn viewer_rows(events: &[StoredEvent], dir: &dyn tobira_ledger::Directory, style: Style) -> Vec<serde_json::Value> {
    let name = |id: &Option<String>| {
        id.as_deref().map(|i| dir.lookup(i).map(|p| p.0).unwrap_or_else(|| i.to_string())).unwrap_or_default()
    };
    let stamp =
        |t: chrono::DateTime<chrono::Utc>| format!("{} {}", style.date(t), style.time(t).get(..5).unwrap_or(""));
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
            "貸出者": name(&e.actor),
            "返却日時": back.map(|b| stamp(b.time)).unwrap_or_default(),
            "返却確認者": back.map(|b| name(&b.actor)).unwrap_or_default(),
            "貸出番号": loan,
        }));
    }
    rows
}

/// The events behind a ledger, after checking who may read them, with the reading recorded (002 §7(11)):
/// a ledger covers every section, so supervisors read it, or a site administrator with an approval. Returns
/// the ledger's heading too: the site, the period, when it was made and who made it.
pub async fn ledger_events(
    d: &Daemon,
    c: Option<&tobira_proto::ActorClaim>,
    kind_prefix: Option<&str>,
    title: &str,
    asked: Asked<'_>,
) -> Result<(Vec<StoredEvent>, serde_json::Value), Refusal> {
    let actor = crate::admin::audit::viewer(d, c, None).await?;
    let from = asked.from.map(|x| parse_time(d, "from", x)).transpose()?;
    let until = asked.until.map(|x| parse_end(d, "until", x)).transpose()?;
    let filter = Filter { kind: kind_prefix.map(String::from), from, until, ..Default::default() };
    let events = d
        .stores
        .audit
        .query(&filter)
        .await
        .map_err(|e| Refusal { code: ErrorCode::Internal, message: e.to_string() })?;
    let output: Vec<&str> = asked.output.iter().map(String::as_str).filter(|o| ["csv", "html"].contains(o)).collect();
    let now = d.now();
    let style = Style { offset: d.site.utc_offset, era: asked.era };
    let local_start = |t: chrono::DateTime<chrono::Utc>| {
        let l = t.with_timezone(&style.offset);
        if l.format("%H:%M:%S").to_string() == "00:00:00" { style.date(t) } else { style.stamp(t) }
    };
    let period = format!(
        "{} 〜 {}",
        from.map(local_start).unwrap_or_else(|| "記録の始め".into()),
        until.map(|u| style.through(u)).unwrap_or_else(|| format!("{} (出力時点)", style.date(now)))
    );
    let printed_by = format!("{} ({})", actor.person.name, actor.id());
    // The zone is named once, here; every time on the sheet is the site's, bare (issue 22 "Times").
    let zone = tobira_ledger::zone_name(style.offset);
    let heading = serde_json::json!({
        "site": d.site.id.as_str(), "site_name": d.site.name, "period": period, "output_at": style.stamp(now),
        "printed_by": printed_by, "zone": zone,
        "text": format!("{} ({})　期間: {period}　出力日時: {}　出力者: {printed_by}　時刻: {zone}", d.site.name, d.site.id, style.stamp(now)),
    });
    // 002 §7(11): who read which ledger over which period, and whether it left the screen (exported, printed).
    crate::admin::audit::record_viewing_as(
        d,
        &actor,
        "audit.ledger",
        if output.is_empty() { "RECORDS_VIEWED" } else { "LEDGER_EXPORTED" },
        serde_json::json!({"ledger": title, "from": from, "until": until, "output": output, "era": asked.era,
            "rows_from_events": events.len()}),
    )
    .await?;
    Ok((events, heading))
}
