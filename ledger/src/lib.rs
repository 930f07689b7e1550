//! The ledgers the regulations ask for, each a view over the audit log, never a table of its own, so nobody
//! can edit one apart from the chain (THREATS: "ledgers are derived from the log"):
//! 入退室管理簿 (000 Form 1, 003 §13), 操作者管理簿 (000 Form 2, §8), 照合情報管理簿 (003 §15),
//! ユーザID管理簿 (003 §14).

pub mod table;

use tobira_audit::{Outcome, StoredEvent};

/// Column names of 000 Form 1, in order.
pub const ENTRY_EXIT_COLUMNS: [&str; 9] =
    ["日付", "氏名", "所属", "用務", "入室場所", "入室時刻", "退室時刻", "立会者", "承認者"];

fn s(v: &serde_json::Value, k: &str) -> String {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
}

/// Who a user ID is (name, affiliation): the node's registry, or at the centre the city's registry as the
/// feed leaves it. The forms name people, not user IDs.
pub trait Directory {
    fn lookup(&self, id: &str) -> Option<(String, String)>;
}

impl Directory for tobira_core::model::Registry {
    fn lookup(&self, id: &str) -> Option<(String, String)> {
        self.person(&tobira_core::ids::PersonId::new(id)).map(|p| (p.name.clone(), p.affiliation.clone()))
    }
}

impl Directory for std::collections::HashMap<String, (String, String)> {
    fn lookup(&self, id: &str) -> Option<(String, String)> {
        self.get(id).cloned()
    }
}

/// Pairs each granted entry with the same person's next exit from the same zone, with the people and the
/// offset given (a node's registry, or the centre's ledgers across nodes). Each row also names its node (拠点),
/// where an entry is paired with an exit of the same node only.
pub fn entry_exit_rows_in(
    events: &[StoredEvent],
    dir: &dyn Directory,
    off: chrono::FixedOffset,
) -> Vec<serde_json::Value> {
    let display_name = |id: &str| dir.lookup(id).map(|p| p.0).unwrap_or_else(|| id.to_string());
    let happened = strikes_acknowledged(events);
    let mut rows = Vec::new();
    for (i, e) in events.iter().enumerate() {
        // An entry is one the door let happen: granted, and the strike acknowledged by the controller.
        if e.kind != "door.enter" || e.outcome != Outcome::Granted || !happened.contains(&(e.node.as_str(), e.seq)) {
            continue;
        }
        let Some(who) = e.subject.clone() else {
            continue;
        };
        let zone = s(&e.details, "zone");
        let exit = events[i + 1..]
            .iter()
            .find(|x| {
                x.kind == "door.exit"
                    && (x.outcome != Outcome::Granted || happened.contains(&(x.node.as_str(), x.seq)))
                    && x.node == e.node
                    && x.subject.as_deref() == Some(&who)
                    && s(&x.details, "zone") == zone
            })
            .map(|x| x.time.with_timezone(&off).format("%H:%M:%S").to_string())
            .unwrap_or_default();
        let person = dir.lookup(&who);
        let local = e.time.with_timezone(&off);
        rows.push(serde_json::json!({
            "日付": local.format("%Y-%m-%d").to_string(),
            "氏名": person.as_ref().map(|p| p.0.clone()).unwrap_or_else(|| who.clone()),
            // A vendor's affiliation is the company of their visit (003 §13(4)).
            "所属": Some(s(&e.details, "company")).filter(|c| !c.is_empty())
                .unwrap_or_else(|| person.as_ref().map(|p| p.1.clone()).unwrap_or_default()),
            "用務": match e.details["media_allowed"].as_array().filter(|m| !m.is_empty()) {
                Some(m) => format!(
                    "{} (持込承認: {})",
                    s(&e.details, "purpose"),
                    m.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join("、")
                ),
                None => s(&e.details, "purpose"),
            },
            "入室場所": zone,
            "入室時刻": local.format("%H:%M:%S").to_string(),
            "退室時刻": exit,
            "立会者": display_name(&s(&e.details, "escort")),
            "承認者": display_name(&s(&e.details, "approver")),
            "拠点": e.node,
        }));
    }
    rows
}

/// The door decisions (node, seq) whose unlock the controller acknowledged (`door.strike` naming the
/// decision): a grant whose strike failed (`STRIKE_FAILED`) or was never confirmed is not an entry.
pub fn strikes_acknowledged(events: &[StoredEvent]) -> std::collections::HashSet<(&str, i64)> {
    events
        .iter()
        .filter(|x| x.kind == "door.strike" && matches!(x.reason.as_str(), "STRIKE_ACKNOWLEDGED" | "DOOR_ALREADY_OPEN"))
        .filter_map(|x| x.details.get("decision").and_then(|v| v.as_i64()).map(|seq| (x.node.as_str(), seq)))
        .collect()
}

/// Column names of 000 Form 2 (operator ledger).
pub const OPERATOR_COLUMNS: [&str; 7] = ["年月日", "区分", "氏名", "所属", "操作者ID", "内容", "実施者"];
/// Columns of the matching-data ledger (003 §15): registrations, deletions and every use.
pub const MATCHING_COLUMNS: [&str; 8] = ["年月日時", "区分", "氏名", "利用者ID", "場所", "結果", "照合スコア", "内容"];
/// Columns of the user-ID ledger (003 §14).
pub const USER_ID_COLUMNS: [&str; 7] = ["年月日", "区分", "ユーザID", "氏名", "所属", "権限・内容", "実施者"];

fn outcome_ja(o: Outcome) -> &'static str {
    match o {
        Outcome::Granted => "許可",
        Outcome::Denied => "拒否",
        Outcome::Info => "記録",
        Outcome::Alarm => "警報",
    }
}

/// One row per event the ledger cares about, in the ledger's columns, with the people and the offset given (a
/// node's registry, or the centre's ledgers across nodes).
pub fn event_rows_in(
    kind: &str,
    events: &[StoredEvent],
    dir: &dyn Directory,
    off: chrono::FixedOffset,
) -> Vec<serde_json::Value> {
    let name = |id: &Option<String>| id.as_deref().and_then(|i| dir.lookup(i)).unwrap_or_default();
    let mut rows = Vec::new();
    for e in events {
        let date = e.time.with_timezone(&off).format("%Y-%m-%d").to_string();
        let stamp = e.time.with_timezone(&off).format("%Y-%m-%d %H:%M:%S").to_string();
        let subject = e.subject.clone().unwrap_or_default();
        let (who, aff) = name(&e.subject);
        let actor = e.actor.clone().unwrap_or_default();
        let dj = &e.details;
        let row = match (kind, e.kind.as_str()) {
            ("operators", "admin.person.add")
                if dj["roles"].as_array().is_some_and(|r| r.iter().any(|x| x == "operator")) =>
            {
                Some(
                    serde_json::json!({"年月日": date, "区分": "指定", "氏名": who, "所属": aff, "操作者ID": subject, "内容": "操作者に指定 (000 §8)", "実施者": actor}),
                )
            }
            ("operators", "admin.enroll") => {
                let pending = s(dj, "status") == "pending";
                Some(
                    serde_json::json!({"年月日": date, "区分": if pending { "登録申請" } else { "登録" }, "氏名": who, "所属": aff, "操作者ID": subject,
                "内容": format!("生体情報を登録 ({}, {}){}", body_part(dj), s(dj, "template"), if pending { " — システム管理者の承認待ち" } else { "" }), "実施者": actor}),
                )
            }
            ("operators", "admin.request.applied") if ["enroll", "delete-person"].contains(&s(dj, "kind").as_str()) => {
                let enroll = s(dj, "kind") == "enroll";
                Some(
                    serde_json::json!({"年月日": date, "区分": if enroll { "登録承認" } else { "削除" }, "氏名": who, "所属": aff, "操作者ID": subject,
                "内容": format!("{} (申請 {}){}", if enroll { "生体情報の登録を承認" } else { "異動・退職により権限取消・生体情報消去 (000 §8(2))" }, s(dj, "request"), if dj["resumed"] == true { " 再起動後に適用" } else { "" }), "実施者": actor}),
                )
            }
            ("operators", "admin.person.delete") => {
                Some(serde_json::json!({"年月日": date, "区分": "削除", "氏名": who, "所属": aff, "操作者ID": subject,
                "内容": format!("異動・退職により権限取消・生体情報消去 (000 §8(2)): {}", s(dj, "reason")), "実施者": actor}))
            }
            ("operators", "admin.grant.revoke") => {
                Some(serde_json::json!({"年月日": date, "区分": "取消", "氏名": who, "所属": aff, "操作者ID": subject,
                "内容": format!("権限取消 {}", s(dj, "grant")), "実施者": actor}))
            }
            ("matching", "admin.enroll") => Some(
                serde_json::json!({"年月日時": stamp, "区分": if s(dj, "status") == "pending" { "登録申請" } else { "登録" }, "氏名": who, "利用者ID": subject, "場所": e.place,
                "結果": outcome_ja(e.outcome), "照合スコア": "", "内容": format!("{} {} (実施者 {actor})", body_part(dj), s(dj, "template"))}),
            ),
            ("matching", "admin.request.applied") if s(dj, "kind") == "enroll" => Some(
                serde_json::json!({"年月日時": stamp, "区分": "登録承認", "氏名": who, "利用者ID": subject, "場所": e.place,
                "結果": outcome_ja(e.outcome), "照合スコア": "", "内容": format!("{} (承認者 {actor})", s(&dj["effect"], "template"))}),
            ),
            ("matching", "admin.request.reject") if s(dj, "kind") == "enroll" => Some(
                serde_json::json!({"年月日時": stamp, "区分": "登録却下", "氏名": who, "利用者ID": subject, "場所": e.place,
                "結果": outcome_ja(e.outcome), "照合スコア": "", "内容": format!("{} (却下 {actor}: {})", s(dj, "request"), s(dj, "note"))}),
            ),
            ("matching", "admin.person.delete") => Some(
                serde_json::json!({"年月日時": stamp, "区分": "削除", "氏名": who, "利用者ID": subject, "場所": e.place,
                "結果": outcome_ja(e.outcome), "照合スコア": "", "内容": format!("全テンプレート消去・鍵更新 (実施者 {actor})")}),
            ),
            ("matching", "admin.request.applied") if s(dj, "kind") == "delete-person" => Some(
                serde_json::json!({"年月日時": stamp, "区分": "削除", "氏名": who, "利用者ID": subject, "場所": e.place,
                "結果": outcome_ja(e.outcome), "照合スコア": "", "内容": format!("全テンプレート消去・鍵更新 (承認者 {actor})")}),
            ),
            ("matching", "enroll.duplicate") => Some(
                serde_json::json!({"年月日時": stamp, "区分": "重複検出", "氏名": who, "利用者ID": subject, "場所": e.place,
                "結果": outcome_ja(e.outcome), "照合スコア": e.score.map(|x| format!("{x:.3}")).unwrap_or_default(), "内容": format!("一致: {}", s(dj, "matches"))}),
            ),
            ("matching", k) if (k.starts_with("login.") || k.starts_with("door.")) && e.score.is_some() => Some(
                serde_json::json!({"年月日時": stamp, "区分": "利用", "氏名": who, "利用者ID": subject, "場所": e.place,
                    "結果": outcome_ja(e.outcome), "照合スコア": e.score.map(|x| format!("{x:.3}")).unwrap_or_default(), "内容": format!("{} {}{}", e.kind, e.reason, if s(dj, "modality") == "palm" { " (手のひら静脈)" } else { "" })}),
            ),
            ("user-ids", "admin.person.add") => {
                Some(serde_json::json!({"年月日": date, "区分": "発行", "ユーザID": subject, "氏名": who, "所属": aff,
                "権限・内容": dj["roles"].as_array().map(|r| r.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default(), "実施者": actor}))
            }
            ("user-ids", "admin.grant.add") => Some(
                serde_json::json!({"年月日": date, "区分": "権限付与", "ユーザID": subject, "氏名": who, "所属": aff,
                "権限・内容": format!("{} ({}, 〜{})", s(dj, "place"), s(dj, "issuer_role"), s(dj, "until")), "実施者": actor}),
            ),
            ("user-ids", "admin.grant.revoke") => Some(
                serde_json::json!({"年月日": date, "区分": "権限取消", "ユーザID": subject, "氏名": who, "所属": aff,
                "権限・内容": s(dj, "grant"), "実施者": actor}),
            ),
            ("user-ids", "admin.request.applied")
                if ["grant", "revoke", "delete-person"].contains(&s(dj, "kind").as_str()) =>
            {
                let k = s(dj, "kind");
                let (cat, what) = match k.as_str() {
                    "grant" => ("権限付与", format!("{} 委任 (申請 {})", s(&dj["effect"], "grant"), s(dj, "request"))),
                    "revoke" => ("権限返上", format!("{} (申請 {})", s(&dj["effect"], "revoked"), s(dj, "request"))),
                    _ => ("抹消", format!("異動・退職 (申請 {})", s(dj, "request"))),
                };
                Some(
                    serde_json::json!({"年月日": date, "区分": cat, "ユーザID": subject, "氏名": who, "所属": aff, "権限・内容": what, "実施者": actor}),
                )
            }
            ("user-ids", "admin.person.delete") => {
                Some(serde_json::json!({"年月日": date, "区分": "抹消", "ユーザID": subject, "氏名": who, "所属": aff,
                "権限・内容": format!("異動・退職: {}", s(dj, "reason")), "実施者": actor}))
            }
            ("user-ids", "login.unlock") => Some(
                serde_json::json!({"年月日": date, "区分": "ロック解除", "ユーザID": subject, "氏名": who, "所属": aff,
                "権限・内容": s(dj, "reader"), "実施者": actor}),
            ),
            _ => None,
        };
        rows.extend(row.map(|mut r| {
            r["拠点"] = e.node.clone().into();
            r
        }));
    }
    rows
}

/// The enrolled body part as the operator ledger names it: a palm vein (手のひら静脈, 000 §8) or a finger.
fn body_part(dj: &serde_json::Value) -> String {
    match dj["palm"].as_str() {
        Some("left") => "左手のひら静脈".into(),
        Some(_) => "右手のひら静脈".into(),
        None => format!("指 {}", dj["finger"]),
    }
}
