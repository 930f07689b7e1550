//! The ledgers the regulations ask for, each a view over the audit log, never a table of its own, so nobody
//! can edit one apart from the chain (THREATS: "ledgers are derived from the log"):
//! 入退室管理簿 (000 Form 1, 003 §13), 操作者管理簿 (000 Form 2, §8), 照合情報管理簿 (003 §15),
//! ユーザID管理簿 (003 §14), 記録媒体管理簿 (003 §11, 001 §8(2), 002 §6④(6)).
//!
//! The forms name people and places, not their IDs; times are the site's, dates ISO or 和暦 ([`Style`]).

pub mod era;
pub mod table;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use tobira_audit::{Outcome, StoredEvent};

/// How a ledger writes times: in the site's zone, dates in ISO (2026-11-24) or in the Japanese era
/// (令和8年11月24日, `--era` or the site's `[administration] ledger_dates = "era"`). A plain offset is ISO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub offset: FixedOffset,
    pub era: bool,
}

impl From<FixedOffset> for Style {
    fn from(offset: FixedOffset) -> Style {
        Style { offset, era: false }
    }
}

/// The zone's name for a heading (issue 22 "Times": the zone is named once, the times under it are bare):
/// `JST (UTC+09:00)` for Japan's +09:00, otherwise `UTC-05:30`.
pub fn zone_name(offset: FixedOffset) -> String {
    if offset.local_minus_utc() == 9 * 3600 { "JST (UTC+09:00)".into() } else { format!("UTC{offset}") }
}

/// The zone's short name where a time stands alone (a sentence, one cell of a record): `JST`, `UTC-05:30`.
pub fn zone_abbrev(offset: FixedOffset) -> String {
    if offset.local_minus_utc() == 9 * 3600 { "JST".into() } else { format!("UTC{offset}") }
}

/// An instant in a sentence people read (a refusal, a prompt): local, to the second, the zone named —
/// `2026-11-24 10:05:00 JST`, never the stored `2026-11-24T01:05:00.123456789Z`.
pub fn local_stamp(t: DateTime<Utc>, offset: FixedOffset) -> String {
    format!("{} {}", Style::from(offset).stamp(t), zone_abbrev(offset))
}

/// A stored RFC 3339 text as [`local_stamp`]; any other text as it is.
pub fn local_stamp_text(s: &str, offset: FixedOffset) -> String {
    DateTime::parse_from_rfc3339(s)
        .map(|t| local_stamp(t.with_timezone(&Utc), offset))
        .unwrap_or_else(|_| s.to_string())
}

impl Style {
    pub fn day(&self, d: NaiveDate) -> String {
        if self.era { era::japanese_date(d) } else { d.format("%Y-%m-%d").to_string() }
    }

    /// The local date of an instant.
    pub fn date(&self, t: DateTime<Utc>) -> String {
        self.day(t.with_timezone(&self.offset).date_naive())
    }

    /// The local time of day, to the second.
    pub fn time(&self, t: DateTime<Utc>) -> String {
        t.with_timezone(&self.offset).format("%H:%M:%S").to_string()
    }

    /// The local date and time, to the second.
    pub fn stamp(&self, t: DateTime<Utc>) -> String {
        format!("{} {}", self.date(t), self.time(t))
    }

    /// The end of a range as people read it. Every end in tobira is exclusive (`now < until`, see
    /// `tobira_core::dates`): an end at local midnight means *through the day before* and is that day; any
    /// other end is its local date and minute.
    pub fn through(&self, until: DateTime<Utc>) -> String {
        let local = until.with_timezone(&self.offset);
        if local.format("%H:%M:%S").to_string() == "00:00:00" {
            self.day(local.date_naive().pred_opt().unwrap_or(local.date_naive()))
        } else {
            format!("{} {}", self.day(local.date_naive()), local.format("%H:%M"))
        }
    }

    /// An RFC 3339 text as [`Style::through`], or the text itself when it is not one.
    fn through_text(&self, s: &str) -> String {
        DateTime::parse_from_rfc3339(s).map(|t| self.through(t.with_timezone(&Utc))).unwrap_or_else(|_| s.to_string())
    }
}

/// Column names of 000 Form 1, in order: who entered where and when, the visitor's name tag (003 §13(4)), the
/// devices and media declared at entry and at exit (000 §7(2)), who escorted and who approved, and what the
/// record itself flags (備考).
pub const ENTRY_EXIT_COLUMNS: [&str; 13] = [
    "日付",
    "氏名",
    "所属",
    "名札",
    "用務",
    "入室場所",
    "入室時刻",
    "退室時刻",
    "持込機器・媒体",
    "持出機器・媒体",
    "立会者",
    "承認者",
    "備考",
];

fn s(v: &serde_json::Value, k: &str) -> String {
    v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|x| x.as_str()).map(String::from).collect()).unwrap_or_default()
}

/// Who a user ID is (name, affiliation): the node's registry, or at the centre the city's registry as the
/// feed leaves it. The forms name people, not user IDs — and places by their names (サーバ室), not ids.
pub trait Directory {
    fn lookup(&self, id: &str) -> Option<(String, String)>;

    /// The name of a zone, door or terminal (`server-room` → サーバ室); `None` where it is not known.
    fn place_name(&self, _id: &str) -> Option<String> {
        None
    }

    /// The name of a place of node `node` (拠点): at the centre two nodes' sites may use one id for two
    /// rooms. A node's own directory knows only its own site, whatever the node.
    fn place_name_at(&self, _node: &str, id: &str) -> Option<String> {
        self.place_name(id)
    }
}

impl Directory for tobira_core::model::Registry {
    fn lookup(&self, id: &str) -> Option<(String, String)> {
        self.person(&tobira_core::ids::PersonId::new(id)).map(|p| (p.name.clone(), p.affiliation.clone()))
    }

    fn place_name(&self, id: &str) -> Option<String> {
        let site = &self.site;
        site.zone(&tobira_core::ids::ZoneId::new(id))
            .map(|z| z.name.clone())
            .or_else(|| site.door(&tobira_core::ids::DoorId::new(id)).map(|d| d.name.clone()))
            .or_else(|| site.terminal(&tobira_core::ids::TerminalId::new(id)).map(|t| t.name.clone()))
    }
}

impl Directory for std::collections::HashMap<String, (String, String)> {
    fn lookup(&self, id: &str) -> Option<(String, String)> {
        self.get(id).cloned()
    }
}

/// A person's name for a ledger cell: their registered name, or the ID when nobody holds it any more.
fn name_of(dir: &dyn Directory, id: &str) -> String {
    if id.is_empty() {
        return String::new();
    }
    dir.lookup(id).map(|p| p.0).unwrap_or_else(|| id.to_string())
}

/// A place's name for a ledger cell (as node `node`'s site names it), or its id.
fn place_of(dir: &dyn Directory, node: &str, id: &str) -> String {
    dir.place_name_at(node, id).unwrap_or_else(|| id.to_string())
}

/// What the declarations of a vendor's devices and media (`admin.visit.media`, 000 §7(2)) say for one entry:
/// the last declaration of each direction for the visit within `window` (after the visit's previous exit,
/// before its next entry).
fn declared<'a>(
    events: &'a [StoredEvent],
    visit: &str,
    direction: &str,
    window: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
) -> Option<&'a StoredEvent> {
    events
        .iter()
        .filter(|x| {
            x.kind == "admin.visit.media" && s(&x.details, "visit") == visit && s(&x.details, "direction") == direction
        })
        .rfind(|x| window.0.is_none_or(|a| x.time >= a) && window.1.is_none_or(|b| x.time < b))
}

/// Pairs each granted entry with the same person's next exit from the same zone, with the people and the
/// style given (a node's registry, or the centre's ledgers across nodes). Each row also names its node (拠点),
/// where an entry is paired with an exit of the same node only. A vendor's row carries the visit's name tag,
/// the devices and media declared at entry and exit and their difference (000 §7(2)); an escort who left
/// first is flagged on both rows (003 §13(4), `door.alarm.unescorted`).
pub fn entry_exit_rows_in(
    events: &[StoredEvent],
    dir: &dyn Directory,
    style: impl Into<Style>,
) -> Vec<serde_json::Value> {
    let style = style.into();
    let happened = strikes_acknowledged(events);
    let counts = |x: &StoredEvent| x.outcome != Outcome::Granted || happened.contains(&(x.node.as_str(), x.seq));
    // Entries that happened, and for each the exit that ended it.
    let mut stays: Vec<(&StoredEvent, Option<&StoredEvent>)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        // An entry is one the door let happen: granted, and the strike acknowledged by the controller.
        if e.kind != "door.enter" || e.outcome != Outcome::Granted || !happened.contains(&(e.node.as_str(), e.seq)) {
            continue;
        }
        let Some(who) = e.subject.as_deref() else {
            continue;
        };
        let zone = s(&e.details, "zone");
        let exit = events[i + 1..].iter().find(|x| {
            x.kind == "door.exit"
                && counts(x)
                && x.node == e.node
                && x.subject.as_deref() == Some(who)
                && s(&x.details, "zone") == zone
        });
        stays.push((e, exit));
    }
    let alarms: Vec<&StoredEvent> = events.iter().filter(|x| x.kind == "door.alarm.unescorted").collect();
    let mut rows = Vec::new();
    for (e, exit) in &stays {
        let who = e.subject.clone().unwrap_or_default();
        let zone = s(&e.details, "zone");
        let person = dir.lookup(&who);
        let visit = s(&e.details, "visit");
        let mut notes: Vec<String> = Vec::new();
        let (mut brought, mut taken) = (String::new(), String::new());
        if !visit.is_empty() {
            // The window of this stay among the visit's stays: after its previous exit, before its next entry.
            let same: Vec<&(&StoredEvent, Option<&StoredEvent>)> =
                stays.iter().filter(|(x, _)| s(&x.details, "visit") == visit && x.node == e.node).collect();
            let at = same.iter().position(|(x, _)| x.seq == e.seq).unwrap_or(0);
            let lo = at.checked_sub(1).and_then(|p| same[p].1).map(|x| x.time);
            let hi = same.get(at + 1).map(|(x, _)| x.time);
            let allowed = strings(&e.details["media_allowed"]);
            let din = declared(events, &visit, "in", (lo, hi));
            let dout = declared(events, &visit, "out", (lo, hi));
            let list_in = din.map(|x| strings(&x.details["media"])).unwrap_or_default();
            let list_out = dout.map(|x| strings(&x.details["media"]));
            brought = match din {
                Some(_) if list_in.is_empty() => "なし".into(),
                Some(_) => list_in.join("、"),
                None if allowed.is_empty() => String::new(),
                None => format!("未申告 (承認: {})", allowed.join("、")),
            };
            taken = match (&list_out, exit) {
                (Some(l), _) if l.is_empty() => "なし".into(),
                (Some(l), _) => l.join("、"),
                (None, Some(_)) if din.is_some() => "未申告".into(),
                _ => String::new(),
            };
            let check = tobira_core::media::check_visit_media(&allowed, &list_in, list_out.as_deref());
            notes.extend(check.notes_ja());
        }
        // 003 §13(4): an escort who left first, on the vendor's row and on the escort's own.
        let (from, until) = (e.time, exit.map(|x| x.time));
        for a in &alarms {
            if a.node != e.node || s(&a.details, "zone") != zone {
                continue;
            }
            let vendor = s(&a.details, "vendor");
            let escort = s(&a.details, "escort");
            if vendor == who && a.time >= from && until.is_none_or(|u| a.time <= u) {
                notes.push(format!(
                    "付添者 {} が先に退室 {} (003 §13(4), §20)",
                    name_of(dir, &escort),
                    style.time(a.time)
                ));
            }
            if escort == who && exit.is_some_and(|x| a.details.get("exit").and_then(|v| v.as_i64()) == Some(x.seq)) {
                notes.push(format!("保守業者 {} を残して退室 (003 §13(4), §20)", name_of(dir, &vendor)));
            }
        }
        rows.push(serde_json::json!({
            "日付": style.date(e.time),
            "氏名": person.as_ref().map(|p| p.0.clone()).unwrap_or_else(|| who.clone()),
            // A vendor's affiliation is the company of their visit (003 §13(4)).
            "所属": Some(s(&e.details, "company")).filter(|c| !c.is_empty())
                .unwrap_or_else(|| person.as_ref().map(|p| p.1.clone()).unwrap_or_default()),
            "名札": s(&e.details, "name_tag"),
            "用務": s(&e.details, "purpose"),
            "入室場所": place_of(dir, &e.node, &zone),
            "入室時刻": style.time(e.time),
            "退室時刻": exit.map(|x| style.time(x.time)).unwrap_or_default(),
            "持込機器・媒体": brought,
            "持出機器・媒体": taken,
            "立会者": name_of(dir, &s(&e.details, "escort")),
            "承認者": name_of(dir, &s(&e.details, "approver")),
            "備考": notes.join("; "),
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
/// Columns of the media register (記録媒体管理簿): taken out (003 §11(3): to whom, what kind, how many, how
/// many records, in what container), returned, disposed of (§11(5): how, witnessed by whom) and found faulty
/// (§11(6)); 001 §8(2) and 002 §6④(6) ask the same record of their officers.
pub const MEDIA_COLUMNS: [&str; 11] = [
    "年月日時",
    "区分",
    "管理番号",
    "媒体",
    "数量",
    "記録件数",
    "相手方・用途",
    "方法・状況",
    "承諾者・立会者",
    "実施者",
    "備考",
];

fn outcome_ja(o: Outcome) -> &'static str {
    match o {
        Outcome::Granted => "許可",
        Outcome::Denied => "拒否",
        Outcome::Info => "記録",
        Outcome::Alarm => "警報",
    }
}

/// The request `id` as filed (`admin.request.file`), for what an applied request's own event does not carry
/// (events recorded before the applied event named its reason and requester).
fn filed<'a>(events: &'a [StoredEvent], id: &str) -> Option<&'a StoredEvent> {
    events.iter().find(|x| x.kind == "admin.request.file" && s(&x.details, "request") == id)
}

/// One row per event the ledger cares about, in the ledger's columns, with the people and the style given (a
/// node's registry, or the centre's ledgers across nodes).
pub fn event_rows_in(
    kind: &str,
    events: &[StoredEvent],
    dir: &dyn Directory,
    style: impl Into<Style>,
) -> Vec<serde_json::Value> {
    let style = style.into();
    let name = |id: &Option<String>| id.as_deref().and_then(|i| dir.lookup(i)).unwrap_or_default();
    let mut rows = Vec::new();
    for e in events {
        let date = style.date(e.time);
        let stamp = style.stamp(e.time);
        let subject = e.subject.clone().unwrap_or_default();
        let (who, aff) = name(&e.subject);
        // 実施者: the person who acted, by name (000 Form 2).
        let actor = name_of(dir, e.actor.as_deref().unwrap_or(""));
        let dj = &e.details;
        let mut more: Vec<serde_json::Value> = Vec::new();
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
                "内容": format!("生体情報を登録 ({}, {}){}", body_part(dj), s(dj, "template"), if pending { " — 承認待ち" } else { "" }), "実施者": actor}),
                )
            }
            ("operators", "admin.request.applied") if ["enroll", "delete-person"].contains(&s(dj, "kind").as_str()) => {
                let enroll = s(dj, "kind") == "enroll";
                let req = s(dj, "request");
                // Who applied and why: on the applied event since issue 21, else from the request as filed.
                let file = filed(events, &req);
                let requester = Some(s(dj, "requested_by"))
                    .filter(|x| !x.is_empty())
                    .or_else(|| file.and_then(|f| f.actor.clone()))
                    .unwrap_or_default();
                let reason = Some(s(&dj["params"], "reason"))
                    .filter(|x| !x.is_empty())
                    .or_else(|| file.map(|f| s(&f.details["params"], "reason")))
                    .unwrap_or_default();
                let what = if enroll {
                    "生体情報の登録を承認".to_string()
                } else {
                    format!("異動・退職により権限取消・生体情報消去 (000 §8(2)): {reason}")
                };
                let applicant = if requester.is_empty() {
                    String::new()
                } else {
                    format!(", 申請者 {}", name_of(dir, &requester))
                };
                Some(
                    serde_json::json!({"年月日": date, "区分": if enroll { "登録承認" } else { "削除" }, "氏名": who, "所属": aff, "操作者ID": subject,
                "内容": format!("{what} (申請 {req}{applicant}){}", if dj["resumed"] == true { " 再起動後に適用" } else { "" }), "実施者": actor}),
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
                serde_json::json!({"年月日時": stamp, "区分": if s(dj, "status") == "pending" { "登録申請" } else { "登録" }, "氏名": who, "利用者ID": subject, "場所": e.place.as_deref().map(|p| place_of(dir, &e.node, p)),
                "結果": outcome_ja(e.outcome), "照合スコア": "", "内容": format!("{} {} (実施者 {actor})", body_part(dj), s(dj, "template"))}),
            ),
            ("matching", "admin.request.applied") if s(dj, "kind") == "enroll" => Some(
                serde_json::json!({"年月日時": stamp, "区分": "登録承認", "氏名": who, "利用者ID": subject, "場所": e.place.as_deref().map(|p| place_of(dir, &e.node, p)),
                "結果": outcome_ja(e.outcome), "照合スコア": "", "内容": format!("{} (承認者 {actor})", s(&dj["effect"], "template"))}),
            ),
            ("matching", "admin.request.reject") if s(dj, "kind") == "enroll" => Some(
                serde_json::json!({"年月日時": stamp, "区分": "登録却下", "氏名": who, "利用者ID": subject, "場所": e.place.as_deref().map(|p| place_of(dir, &e.node, p)),
                "結果": outcome_ja(e.outcome), "照合スコア": "", "内容": format!("{} (却下 {actor}: {})", s(dj, "request"), s(dj, "note"))}),
            ),
            ("matching", "admin.person.delete") => Some(
                serde_json::json!({"年月日時": stamp, "区分": "削除", "氏名": who, "利用者ID": subject, "場所": e.place.as_deref().map(|p| place_of(dir, &e.node, p)),
                "結果": outcome_ja(e.outcome), "照合スコア": "", "内容": format!("全テンプレート消去・鍵更新 (実施者 {actor})")}),
            ),
            ("matching", "admin.request.applied") if s(dj, "kind") == "delete-person" => Some(
                serde_json::json!({"年月日時": stamp, "区分": "削除", "氏名": who, "利用者ID": subject, "場所": e.place.as_deref().map(|p| place_of(dir, &e.node, p)),
                "結果": outcome_ja(e.outcome), "照合スコア": "", "内容": format!("全テンプレート消去・鍵更新 (承認者 {actor})")}),
            ),
            ("matching", "enroll.duplicate") => Some(
                serde_json::json!({"年月日時": stamp, "区分": "重複検出", "氏名": who, "利用者ID": subject, "場所": e.place.as_deref().map(|p| place_of(dir, &e.node, p)),
                "結果": outcome_ja(e.outcome), "照合スコア": e.score.map(|x| format!("{x:.3}")).unwrap_or_default(), "内容": format!("一致: {}", s(dj, "matches"))}),
            ),
            ("matching", k) if (k.starts_with("login.") || k.starts_with("door.")) && e.score.is_some() => Some(
                serde_json::json!({"年月日時": stamp, "区分": "利用", "氏名": who, "利用者ID": subject, "場所": e.place.as_deref().map(|p| place_of(dir, &e.node, p)),
                    "結果": outcome_ja(e.outcome), "照合スコア": e.score.map(|x| format!("{x:.3}")).unwrap_or_default(), "内容": format!("{} {}{}", e.kind, e.reason, if s(dj, "modality") == "palm" { " (手のひら静脈)" } else { "" })}),
            ),
            ("user-ids", "admin.person.add") => {
                Some(serde_json::json!({"年月日": date, "区分": "発行", "ユーザID": subject, "氏名": who, "所属": aff,
                "権限・内容": dj["roles"].as_array().map(|r| r.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default(), "実施者": actor}))
            }
            ("user-ids", "admin.grant.add") => Some(
                serde_json::json!({"年月日": date, "区分": "権限付与", "ユーザID": subject, "氏名": who, "所属": aff,
                "権限・内容": format!("{} ({}, 〜{})", place_text(dir, &e.node, &s(dj, "place")), s(dj, "issuer_role"), style.through_text(&s(dj, "until"))), "実施者": actor}),
            ),
            ("user-ids", "admin.grant.revoke") => Some(
                serde_json::json!({"年月日": date, "区分": "権限取消", "ユーザID": subject, "氏名": who, "所属": aff,
                "権限・内容": format!("{} {}", s(dj, "grant"), place_text(dir, &e.node, &s(dj, "place"))).trim().to_string(), "実施者": actor}),
            ),
            // 004 §5(10), 003 §14(2): what a periodic review revoked, one row per grant, under its holder.
            ("user-ids", "admin.review") => {
                let detailed = dj["revoked"].as_array().cloned().unwrap_or_default();
                if detailed.is_empty() {
                    // Reviews recorded before issue 21 named the grants only.
                    for g in strings(&dj["revoked_grants"]) {
                        more.push(serde_json::json!({"年月日": date, "区分": "権限取消 (定期点検)", "ユーザID": "", "氏名": "", "所属": "",
                            "権限・内容": format!("{g} (004 §5(10))"), "実施者": actor}));
                    }
                }
                for g in detailed {
                    let holder = s(&g, "holder");
                    let (hn, ha) = dir.lookup(&holder).unwrap_or_default();
                    more.push(serde_json::json!({"年月日": date, "区分": "権限取消 (定期点検)", "ユーザID": holder, "氏名": hn, "所属": ha,
                        "権限・内容": format!("{} {} (004 §5(10){})", s(&g, "grant"), place_text(dir, &e.node, &s(&g, "place")),
                            Some(s(dj, "note")).filter(|n| !n.is_empty()).map(|n| format!(": {n}")).unwrap_or_default()),
                        "実施者": actor}));
                }
                None
            }
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
            ("media", k) if k.starts_with("admin.media.") => media_row(k, e, dj, dir, &style, &actor),
            _ => None,
        };
        for mut r in row.into_iter().chain(more) {
            r["拠点"] = e.node.clone().into();
            rows.push(r);
        }
    }
    rows
}

/// A place as the grants name it (`zone:server-room`), by its name (サーバ室) when the directory knows it.
fn place_text(dir: &dyn Directory, node: &str, p: &str) -> String {
    match p.split_once(':') {
        Some((_, id)) => dir.place_name_at(node, id).unwrap_or_else(|| p.to_string()),
        None => p.to_string(),
    }
}

/// One row of the media register (記録媒体管理簿) from an `admin.media.*` event.
fn media_row(
    kind: &str,
    e: &StoredEvent,
    dj: &serde_json::Value,
    dir: &dyn Directory,
    style: &Style,
    actor: &str,
) -> Option<serde_json::Value> {
    let num = |k: &str| dj.get(k).and_then(|v| v.as_i64()).map(|n| n.to_string()).unwrap_or_default();
    let names = |k: &str| strings(&dj[k]).iter().map(|p| name_of(dir, p)).collect::<Vec<_>>().join("、");
    let (cat, how, with) = match kind {
        "admin.media.take-out" => (
            if s(dj, "status") == "out" { "持出し" } else { "持出し (承諾待ち)" },
            format!(
                "{}{}",
                s(dj, "container"),
                Some(s(dj, "due"))
                    .filter(|d| !d.is_empty())
                    .map(|d| format!(", 返却予定 {}", style.through_text(&d)))
                    .unwrap_or_default()
            ),
            names("consented_by"),
        ),
        "admin.media.consent" => (
            if s(dj, "status") == "out" { "持出し承諾" } else { "持出し承諾 (他の承諾待ち)" },
            String::new(),
            names("consented_by"),
        ),
        "admin.media.return" => ("返却", s(dj, "condition"), String::new()),
        "admin.media.dispose" => ("廃棄", s(dj, "method"), name_of(dir, &s(dj, "witness"))),
        "admin.media.fault" => {
            (if dj["faulty"] == false { "点検 (障害なし)" } else { "障害" }, s(dj, "finding"), String::new())
        }
        _ => return None,
    };
    let joined =
        |parts: [String; 2], sep: &str| parts.into_iter().filter(|x| !x.is_empty()).collect::<Vec<_>>().join(sep);
    let counterpart = joined([s(dj, "recipient"), s(dj, "purpose")], " / ");
    let remark = joined([s(dj, "record"), s(dj, "note")], " ");
    Some(serde_json::json!({
        "年月日時": style.stamp(e.time),
        "区分": cat,
        "管理番号": s(dj, "medium"),
        "媒体": s(dj, "media_kind"),
        "数量": num("quantity"),
        "記録件数": num("records"),
        "相手方・用途": counterpart,
        "方法・状況": how,
        "承諾者・立会者": with,
        "実施者": actor,
        "備考": remark,
    }))
}

/// The enrolled body part as the operator ledger names it: a palm vein (手のひら静脈, 000 §8) or a finger.
fn body_part(dj: &serde_json::Value) -> String {
    match dj["palm"].as_str() {
        Some("left") => "左手のひら静脈".into(),
        Some(_) => "右手のひら静脈".into(),
        None => format!("指 {}", dj["finger"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use tobira_audit::NewEvent;

    struct Dir;

    impl Directory for Dir {
        fn lookup(&self, id: &str) -> Option<(String, String)> {
            let name = match id {
                "tanaka" => "田中 太郎",
                "abe" => "阿部 浩二",
                "takahashi" => "高橋 一郎",
                "ito" => "伊藤 真理",
                "kato" => "加藤 誠",
                _ => return None,
            };
            Some((name.into(), "市民課".into()))
        }

        fn place_name(&self, id: &str) -> Option<String> {
            (id == "server-room").then(|| "サーバ室".into())
        }
    }

    fn jst() -> FixedOffset {
        FixedOffset::east_opt(9 * 3600).unwrap()
    }

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        jst().with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap().with_timezone(&Utc)
    }

    fn ev(
        seq: i64,
        t: DateTime<Utc>,
        kind: &str,
        actor: Option<&str>,
        subject: Option<&str>,
        details: serde_json::Value,
    ) -> StoredEvent {
        let outcome = if kind.starts_with("door.alarm") {
            Outcome::Alarm
        } else if kind.starts_with("door.") {
            Outcome::Granted
        } else {
            Outcome::Info
        };
        StoredEvent::for_test(
            "n1",
            seq,
            NewEvent::new(t, kind, outcome, "").actor(actor).subject(subject).details(details),
        )
    }

    fn strike(seq: i64, t: DateTime<Utc>, decision: i64) -> StoredEvent {
        let mut e = ev(seq, t, "door.strike", None, None, serde_json::json!({"decision": decision}));
        e.reason = "STRIKE_ACKNOWLEDGED".into();
        e
    }

    /// 000 Form 1, 000 §7(2), 003 §13(4): the vendor's row carries the name tag, the place by name, the
    /// declarations and their difference, and the escort who left first; the escort's row says so too.
    #[test]
    fn art_000_form_1_the_entry_exit_ledger_flags_media_and_an_escort_who_left_first() {
        let visit = serde_json::json!({"zone": "server-room", "visit": "v-1", "name_tag": "V-017", "company": "保守株式会社",
            "purpose": "サーバ保守", "media_allowed": ["ノートPC"], "escort": "tanaka", "approver": "takahashi"});
        let staff = serde_json::json!({"zone": "server-room", "purpose": "業務", "approver": "takahashi"});
        let events = vec![
            ev(
                1,
                at(9, 55),
                "admin.visit.media",
                Some("takahashi"),
                Some("abe"),
                serde_json::json!({"visit": "v-1", "direction": "in", "media": ["ノートPC", "USBメモリ"]}),
            ),
            ev(2, at(10, 0), "door.enter", Some("tanaka"), Some("tanaka"), staff.clone()),
            strike(3, at(10, 0), 2),
            ev(4, at(10, 1), "door.enter", Some("abe"), Some("abe"), visit),
            strike(5, at(10, 1), 4),
            ev(6, at(10, 20), "door.exit", Some("tanaka"), Some("tanaka"), staff),
            strike(7, at(10, 20), 6),
            ev(
                8,
                at(10, 20),
                "door.alarm.unescorted",
                Some("tanaka"),
                Some("abe"),
                serde_json::json!({"zone": "server-room", "vendor": "abe", "escort": "tanaka", "exit": 6}),
            ),
            ev(
                9,
                at(10, 50),
                "admin.visit.media",
                Some("takahashi"),
                Some("abe"),
                serde_json::json!({"visit": "v-1", "direction": "out", "media": ["ノートPC"]}),
            ),
            ev(10, at(11, 0), "door.exit", Some("abe"), Some("abe"), serde_json::json!({"zone": "server-room"})),
            strike(11, at(11, 0), 10),
        ];
        let rows = entry_exit_rows_in(&events, &Dir, Style { offset: jst(), era: true });
        assert_eq!(rows.len(), 2, "{rows:?}");
        let (tanaka, abe) = (&rows[0], &rows[1]);
        assert_eq!(abe["日付"], "令和8年11月24日");
        assert_eq!((abe["名札"].as_str(), abe["入室場所"].as_str()), (Some("V-017"), Some("サーバ室")));
        assert_eq!((abe["入室時刻"].as_str(), abe["退室時刻"].as_str()), (Some("10:01:00"), Some("11:00:00")));
        assert_eq!(
            (abe["持込機器・媒体"].as_str(), abe["持出機器・媒体"].as_str()),
            (Some("ノートPC、USBメモリ"), Some("ノートPC"))
        );
        assert_eq!(
            abe["備考"],
            "未承認の持込: USBメモリ (000 §7(2)); 持込のみ・持出なし: USBメモリ; 付添者 田中 太郎 が先に退室 10:20:00 (003 §13(4), §20)"
        );
        assert_eq!((abe["立会者"].as_str(), abe["承認者"].as_str()), (Some("田中 太郎"), Some("高橋 一郎")));
        assert_eq!(tanaka["備考"], "保守業者 阿部 浩二 を残して退室 (003 §13(4), §20)");
        assert_eq!(tanaka["名札"], "");
    }

    /// 000 Form 2: a removal made by request keeps its reason and applicant, from the applied event or, for
    /// events recorded before it carried them, from the request as filed; 実施者 is a name.
    #[test]
    fn art_000_form_2_a_removal_by_request_keeps_its_reason_and_applicant() {
        let filed = ev(
            1,
            at(9, 0),
            "admin.request.file",
            Some("ito"),
            Some("kato"),
            serde_json::json!({"request": "R-0002", "kind": "delete-person", "params": {"reason": "人事異動"}}),
        );
        let old = ev(
            2,
            at(9, 5),
            "admin.request.applied",
            Some("takahashi"),
            Some("kato"),
            serde_json::json!({"request": "R-0002", "kind": "delete-person", "effect": {}}),
        );
        let new = ev(
            3,
            at(9, 6),
            "admin.request.applied",
            Some("takahashi"),
            Some("kato"),
            serde_json::json!({"request": "R-0003", "kind": "delete-person", "effect": {}, "requested_by": "ito", "params": {"reason": "退職"}}),
        );
        let rows = event_rows_in("operators", &[filed, old, new], &Dir, jst());
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0]["内容"],
            "異動・退職により権限取消・生体情報消去 (000 §8(2)): 人事異動 (申請 R-0002, 申請者 伊藤 真理)"
        );
        assert_eq!(
            rows[1]["内容"],
            "異動・退職により権限取消・生体情報消去 (000 §8(2)): 退職 (申請 R-0003, 申請者 伊藤 真理)"
        );
        assert_eq!((rows[0]["実施者"].as_str(), rows[0]["氏名"].as_str()), (Some("高橋 一郎"), Some("加藤 誠")));
    }

    /// 003 §14(2), 004 §5(10): a review's revocation is a row under its holder; validity is the local last day.
    #[test]
    fn art_003_14_2_the_user_id_ledger_shows_review_revocations_and_local_validity() {
        let grant = ev(
            1,
            at(9, 0),
            "admin.grant.add",
            Some("takahashi"),
            Some("tanaka"),
            serde_json::json!({"place": "zone:server-room", "issuer_role": "data-manager", "until": "2027-03-31T15:00:00Z"}),
        );
        let review = ev(
            2,
            at(9, 5),
            "admin.review",
            Some("takahashi"),
            None,
            serde_json::json!({"revoked": [{"grant": "g-1", "holder": "tanaka", "place": "zone:server-room"}], "note": "年次点検"}),
        );
        let rows = event_rows_in("user-ids", &[grant, review], &Dir, jst());
        assert_eq!(rows[0]["権限・内容"], "サーバ室 (data-manager, 〜2027-03-31)");
        assert_eq!(rows[1]["区分"], "権限取消 (定期点検)");
        assert_eq!((rows[1]["ユーザID"].as_str(), rows[1]["氏名"].as_str()), (Some("tanaka"), Some("田中 太郎")));
        assert_eq!(rows[1]["権限・内容"], "g-1 サーバ室 (004 §5(10): 年次点検)");
    }

    #[test]
    fn an_end_reads_as_its_last_day_or_its_time() {
        let s = Style { offset: jst(), era: false };
        assert_eq!(s.through(jst().with_ymd_and_hms(2027, 4, 1, 0, 0, 0).unwrap().with_timezone(&Utc)), "2027-03-31");
        assert_eq!(s.through(at(17, 0)), "2026-11-24 17:00");
        let e = Style { era: true, ..s };
        assert_eq!(
            e.through(jst().with_ymd_and_hms(2019, 5, 1, 0, 0, 0).unwrap().with_timezone(&Utc)),
            "平成31年4月30日"
        );
    }

    #[test]
    fn a_time_in_a_sentence_is_local_to_the_second_with_its_zone() {
        let t = "2026-11-24T01:05:00.123456789Z";
        assert_eq!(local_stamp_text(t, jst()), "2026-11-24 10:05:00 JST");
        assert_eq!(local_stamp(at(10, 5), jst()), "2026-11-24 10:05:00 JST");
        let ist = FixedOffset::east_opt(5 * 3600 + 1800).unwrap();
        assert_eq!(local_stamp_text(t, ist), "2026-11-24 06:35:00 UTC+05:30");
        assert_eq!(local_stamp_text("not a time", jst()), "not a time");
        assert_eq!(zone_name(jst()), "JST (UTC+09:00)");
        assert_eq!(zone_name(ist), "UTC+05:30");
    }
}
