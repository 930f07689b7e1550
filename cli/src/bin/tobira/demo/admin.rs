//! The demo's second half: what the administrators do after the doors and terminals have been used —
//! deletion on transfer, alarms, lent viewer IDs, the media register, the periodic review, reading another
//! section's records, key rotation, and the ledgers.

use crate::demo::session::Demo;
use tobira_proto::{AuditFilter, MediaCommand, MediaDispose, MediaTakeOut, Request};

fn rows(v: &serde_json::Value) -> usize {
    v["rows"].as_array().map(|a| a.len()).unwrap_or(0)
}

pub(crate) fn after(d: &mut Demo) -> anyhow::Result<()> {
    d.heading("The security manager lifts sato's lockout after checking who it was (audited)");
    d.act("yamamoto", Request::Unlock { person: "sato".into(), reader: "t01-reader".into() })?;
    println!("    unlocked by yamamoto");

    d.heading("Transfer (000 §8(2)): ito requests nakamura's removal, takahashi approves");
    let v = d.act("ito", Request::PersonDelete { id: "nakamura".into(), reason: "人事異動 (福祉課へ)".into() })?;
    let req = v["request"].as_str().unwrap_or("").to_string();
    println!("    request {req} pending");
    let v = d.act("takahashi", Request::RequestApprove { id: req.clone(), note: None })?;
    println!(
        "    approved: grants revoked {}, templates erased {}, node key rotated",
        v["applied"]["revoked_grants"], v["applied"]["erased"]
    );
    d.heading("Approving the same request again is refused");
    d.refused("takahashi", Request::RequestApprove { id: req, note: None }, "already approved")?;
    d.heading("The removed person is refused at login, before any capture");
    d.login("t-01", "nakamura", None, false, "PERSON_INACTIVE")?;

    d.heading("Alarms for the security manager (003 §20): listed, one acknowledged with a note");
    let alarms = d.call(Request::AlarmList { all: false })?;
    let list = alarms.as_array().cloned().unwrap_or_default();
    for a in &list {
        println!(
            "    #{:<3} {:<22} {:<14} {}",
            a["id"],
            a["kind"].as_str().unwrap_or(""),
            a["place"].as_str().unwrap_or(""),
            a["reason"].as_str().unwrap_or("")
        );
    }
    let kinds: Vec<&str> = list.iter().filter_map(|a| a["kind"].as_str()).collect();
    for want in ["door.alarm.forced", "door.alarm.held", "door.alarm.unescorted", "login.lockout", "enroll.duplicate"] {
        if !kinds.contains(&want) {
            d.failures.push(format!("alarm {want} was not raised"));
        }
    }
    if let Some(first) = list.first().and_then(|a| a["id"].as_i64()) {
        d.act("yamamoto", Request::AlarmAck { id: first, note: "現地確認: 保守作業中の誤操作".into() })?;
        println!("    #{first} acknowledged by yamamoto");
    }

    d.heading("A viewer ID lent and returned (004 §11)");
    let v = d.act(
        "takahashi",
        Request::ViewerLend {
            viewer_id: "VIEW-03".into(),
            to: "監査 花子".into(),
            affiliation: "監査委員事務局".into(),
            purpose: "定期監査".into(),
        },
    )?;
    let loan = v["loan"].as_str().unwrap_or("").to_string();
    d.act("takahashi", Request::ViewerReturn { loan })?;
    println!("    VIEW-03 lent to 監査 花子 and returned");

    d.heading(
        "The media register (003 §11): a tape taken out with the data manager's and the system administrator's \
         consent, returned; a USB stick crushed before a witness; a fault found",
    );
    let out = |who: &str| {
        Request::Media(MediaCommand::TakeOut(MediaTakeOut {
            medium: "DAT-01".into(),
            media_kind: "磁気テープ".into(),
            quantity: 1,
            records: 1200,
            recipient: "地方公共団体情報システム機構".into(),
            purpose: format!("バックアップの外部保管 ({who})"),
            container: "施錠できる搬送ケース".into(),
            due: Some("2026-11-30".into()),
        }))
    };
    d.refused("yamamoto", out("yamamoto"), "may not do this")?;
    let v = d.act("suzuki", out("suzuki"))?;
    let id = v["record"].as_str().unwrap_or("").to_string();
    println!("    {id}: recorded by suzuki (本人確認情報管理責任者) → {}", v["status"].as_str().unwrap_or(""));
    let v = d.act("takahashi", Request::Media(MediaCommand::Consent { id: id.clone() }))?;
    println!("    {id}: takahashi (システム管理者) consents → {}", v["status"].as_str().unwrap_or(""));
    d.act("suzuki", Request::Media(MediaCommand::Return { id: id.clone(), condition: "封印・本数確認".into() }))?;
    println!("    {id}: returned, seal and count checked");
    d.act(
        "suzuki",
        Request::Media(MediaCommand::Dispose(MediaDispose {
            medium: "USB-07".into(),
            media_kind: "USBメモリ".into(),
            quantity: 1,
            method: "破砕".into(),
            witness: "ito".into(),
            note: String::new(),
        })),
    )?;
    println!("    USB-07 crushed (破砕) by suzuki, witnessed by ito");
    d.act(
        "takahashi",
        Request::Media(MediaCommand::Fault {
            medium: "DAT-02".into(),
            media_kind: "磁気テープ".into(),
            faulty: true,
            finding: "読取エラー (3箇所)".into(),
        }),
    )?;
    println!("    DAT-02: read errors recorded by takahashi (003 §11(6))");

    d.heading("A site administrator reading every section's history needs approval (002 §7(11))");
    d.refused("ito", Request::AuditShow(AuditFilter::default()), "approval")?;
    let v = d.act("ito", Request::RequestView { section: "*".into(), reason: "入退室記録の点検".into() })?;
    d.act("takahashi", Request::RequestApprove { id: v["request"].as_str().unwrap_or("").into(), note: None })?;
    let shown = d.act("ito", Request::AuditShow(AuditFilter { limit: Some(5), ..Default::default() }))?;
    println!(
        "    approved; ito reads {} events (the reading itself is recorded)",
        shown.as_array().map(|a| a.len()).unwrap_or(0)
    );

    d.heading("Periodic review (004 §5(10)): every live grant, template and role, confirmed line by line");
    let v = d.act("takahashi", Request::Review { complete: false, revoke: vec![], note: None })?;
    let lines = v["lines"].as_array().cloned().unwrap_or_default();
    let yoshida_l3 = lines
        .iter()
        .find(|l| l["line"] == "grant" && l["person"] == "yoshida")
        .and_then(|l| l["id"].as_str())
        .map(String::from);
    println!("    {} lines to confirm", lines.len());
    let revoke: Vec<String> = yoshida_l3.into_iter().collect();
    d.act("takahashi", Request::Review { complete: true, revoke: revoke.clone(), note: Some("年次点検".into()) })?;
    println!("    review completed; revoked {revoke:?} (yoshida no longer needs the media room)");

    d.heading("Node key rotation: every data key rewrapped, the audit history untouched (001 §15(4))");
    let v = d.act("takahashi", Request::KeyRotate)?;
    println!(
        "    rewrapped {} data keys: {} → {}",
        v["rewrapped"],
        v["old_key_sha256"].as_str().unwrap_or(""),
        v["new_key_sha256"].as_str().unwrap_or("")
    );

    d.heading(
        "An appointment's end ends every act (004 §7): a security manager whose term ended yesterday is refused, \
         and the refusal is on record (002 §7(11))",
    );
    d.act(
        "takahashi",
        Request::PersonAdd(tobira_proto::PersonAdd {
            id: "mori".into(),
            name: "森 一郎".into(),
            affiliation: "情報政策課".into(),
            roles: vec!["security-manager".into()],
            appointment_end: Some("2026-11-30".into()),
        }),
    )?;
    super::present3(d, "mori")?;
    d.act("takahashi", super::enroll("mori"))?;
    println!("    mori  森 一郎  security-manager until 2026-11-30, enrolled");
    d.clock("2026-12-01T09:00:00")?;
    d.refused("mori", Request::Unlock { person: "sato".into(), reader: "t01-reader".into() }, "004 §7")?;
    let shown = d.act(
        "takahashi",
        Request::AuditShow(AuditFilter {
            person: Some("mori".into()),
            kind: Some("admin.refused".into()),
            limit: Some(1),
            ..Default::default()
        }),
    )?;
    match shown.as_array().and_then(|a| a.first()) {
        Some(e) => println!(
            "    audit show: #{} {} {} by {}: {}",
            e["seq"],
            e["kind"].as_str().unwrap_or(""),
            e["reason"].as_str().unwrap_or(""),
            e["actor"].as_str().unwrap_or(""),
            e["details"]["message"].as_str().unwrap_or("")
        ),
        None => d.failures.push("the refusal of an ended appointment is not in audit show".into()),
    }

    d.heading("Ledgers (台帳), derived from the audit log, each headed with the site, period, time and maker");
    for kind in ["operators", "matching", "user-ids", "viewer-ids", "media"] {
        let v = d.act(
            "takahashi",
            Request::Ledger { kind: Some(kind.into()), from: None, until: None, era: Some(true), output: vec![] },
        )?;
        println!("    {:<44} {} rows", v["title"].as_str().unwrap_or(""), rows(&v));
        if rows(&v) == 0 {
            d.failures.push(format!("ledger {kind} is empty"));
        }
        let shown: &[&str] = match kind {
            // The review's revocation, under the holder (003 §14(2)).
            "user-ids" => &["権限取消 (定期点検)"],
            "media" => &["持出し (承諾待ち)", "持出し承諾", "返却", "廃棄", "障害"],
            _ => &[],
        };
        for r in v["rows"].as_array().cloned().unwrap_or_default() {
            if shown.iter().any(|k| r["区分"] == *k) {
                let cols: Vec<String> = v["columns"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|c| c.as_str())
                    .map(|c| tobira_ledger::table::cell(&r[c]))
                    .filter(|c| !c.is_empty())
                    .collect();
                println!("      {}", cols.join(" | "));
            }
        }
        if kind == "user-ids"
            && !v["rows"].as_array().is_some_and(|a| a.iter().any(|r| r["区分"] == "権限取消 (定期点検)"))
        {
            d.failures.push("the review's revocation is missing from ユーザID管理簿".into());
        }
        if kind == "media" {
            println!("      {}", v["heading"]["text"].as_str().unwrap_or(""));
        }
    }
    let check = d.call(Request::Check)?;
    println!("\n    tobira check:");
    for w in check["warnings"].as_array().cloned().unwrap_or_default() {
        println!("      - {}", w.as_str().unwrap_or(""));
    }
    Ok(())
}
