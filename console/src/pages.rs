//! The pages. Each GET shows the daemon's answers; each POST is one daemon request carrying the signed-in
//! person as actor (proved again at the reader), then a redirect to the page with the outcome. A page that
//! cannot reach the daemon says so and offers no form.

use crate::app::*;
use crate::daemon::unreachable;
use crate::html::{cell, esc, wareki};
use crate::i18n::{Lang, field, role};
use crate::session::{Flash, Found, User};
use axum::extract::{Path, Query, State as S};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use chrono::FixedOffset;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Instant;
use tobira_proto::{AuditFilter, GrantAdd, OffHoursAdd, PageQuery, PersonAdd, Request, VisitAdd};

type St = S<AppState>;
type Fm = axum::Form<Vec<(String, String)>>;

/// The signed-in person, or the way to the sign-in page (saying why when the session expired).
fn signed(state: &State, headers: &HeaderMap, touch: bool) -> Result<(Ctx, User), Box<Response>> {
    let ctx = state.ctx(headers, touch);
    match ctx.user().cloned() {
        Some(u) => Ok((ctx, u)),
        None => {
            if ctx.found == Found::Expired {
                let l = ctx.lang();
                state.sessions.set_flash(
                    &ctx.token,
                    Flash::Refused {
                        code: l.t("セッションの有効期限切れ", "session expired").into(),
                        message: l
                            .t(
                                "一定時間操作がなかったため、サインアウトしました。もう一度本人確認してください。",
                                "You were signed out after a period without activity: prove it is you again.",
                            )
                            .into(),
                    },
                );
            }
            Err(Box::new(see_other(state, &ctx, "/signin")))
        }
    }
}

/// A POST's session and CSRF check: without both, nothing is sent to the daemon.
fn posted(state: &State, headers: &HeaderMap, form: &Form) -> Result<(Ctx, User), Box<Response>> {
    let (ctx, u) = signed(state, headers, true)?;
    if !state.check_csrf(&ctx, form) {
        return Err(Box::new(forbidden(ctx.lang())));
    }
    Ok((ctx, u))
}

fn forbidden(l: Lang) -> Response {
    let mut r = secured(
        StatusCode::FORBIDDEN,
        l.t(
            "フォームの確認用トークンが一致しません（CSRF）。何も実行していません。ページを開き直してください。",
            "The form's token does not match (CSRF): nothing was done. Reload the page.",
        ),
    );
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// A form filled in wrongly: the message (in the page's language) shown as the refusal; nothing is sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadInput(String);

/// The daemon could not answer a read: the body shown instead of the page (HTML, already escaped), so a
/// page's body builder stops at the first read that fails.
#[derive(Debug)]
struct DaemonLost(String);

/// Sends an act, keeps its outcome for the next page, and goes back to `back`.
async fn act(
    state: &State,
    ctx: &Ctx,
    u: &User,
    back: &str,
    req: Result<Request, BadInput>,
    done: impl FnOnce(Lang, &Value) -> String,
) -> Response {
    let l = ctx.lang();
    let flash = match req {
        Err(BadInput(what)) => {
            Flash::Refused { code: l.t("入力に誤りがあります", "bad input").into(), message: what }
        }
        Ok(req) => match state.call(state.actor(u), req).await {
            Ok(v) => Flash::Done(done(l, &v)),
            Err(e) => refusal_flash(l, &e),
        },
    };
    state.sessions.set_flash(&ctx.token, flash);
    see_other(state, ctx, back)
}

/// The daemon's answer to a read, or the page's "lost the daemon" body.
async fn read(state: &State, l: Lang, req: Request) -> Result<Value, DaemonLost> {
    state.call(None, req).await.map_err(|e| {
        DaemonLost(if unreachable(&e) {
            format!(
                "<div class=\"flash refused\" role=\"alert\" id=\"daemon-lost\">{}</div>",
                l.t(
                    "tobirad に接続できません。このコンソールは何も表示・実行できません（デーモンの状態: systemctl status tobirad）。",
                    "tobirad cannot be reached: this console shows and does nothing until it is back (systemctl status tobirad).",
                )
            )
        } else {
            crate::app::flash_html(l, &refusal_flash(l, &e))
        })
    })
}

/// A table of the named fields of `rows`; `actions` adds a last cell per row.
fn table(
    l: Lang,
    zone: FixedOffset,
    id: &str,
    rows: &[Value],
    cols: &[&str],
    actions: Option<&dyn Fn(&Value) -> String>,
) -> String {
    if rows.is_empty() {
        return format!("<p class=\"none\" id=\"{id}\">{}</p>", l.t("該当なし", "none"));
    }
    let mut h = format!("<table id=\"{id}\"><thead><tr>");
    for c in cols {
        h.push_str(&format!("<th>{}</th>", esc(&field(l, c))));
    }
    if actions.is_some() {
        h.push_str("<th></th>");
    }
    h.push_str("</tr></thead><tbody>");
    for r in rows {
        h.push_str(&format!("<tr data-id=\"{}\">", esc(&tobira_ledger::table::cell(&r["id"]))));
        for c in cols {
            let text = if *c == "roles" {
                r[c].as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).map(|x| role(l, x)).collect::<Vec<_>>().join("・"))
                    .unwrap_or_default()
            } else if *c == "until" {
                crate::html::end_cell(&r[*c], zone)
            } else if let Value::Bool(b) = r[*c] {
                if b { l.t("はい", "yes") } else { l.t("いいえ", "no") }.to_string()
            } else {
                cell(&r[*c], zone)
            };
            h.push_str(&format!("<td>{}</td>", esc(&text)));
        }
        if let Some(a) = actions {
            h.push_str(&format!("<td class=\"actions\">{}</td>", a(r)));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

fn arr(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

// ---------------------------------------------------------------- sign-in, sign-out, language

pub async fn sign_in_page(S(state): St, headers: HeaderMap) -> Response {
    let ctx = state.ctx(&headers, true);
    if ctx.user().is_some() {
        return see_other(&state, &ctx, "/");
    }
    let l = ctx.lang();
    let body = format!(
        "<form method=\"post\" action=\"/signin\" class=\"signin\" data-proof>{}\
<label>{} <input name=\"user\" id=\"user\" autocomplete=\"username\" required maxlength=\"64\"></label>\
<p>{} <strong>{}</strong> {}</p><button type=\"submit\" id=\"signin\">{}</button></form>",
        csrf_field(&ctx),
        l.t("ユーザID", "User ID"),
        l.t("ユーザIDを入力し、読取装置", "Enter your user ID, then place your finger on"),
        esc(&state.cfg.reader),
        l.t("に指を置いてください（ユーザID＋生体認証、004 §2(9)）。", "(user ID + biometric, 004 §2(9))."),
        l.t("サインイン", "Sign in")
    );
    page(&state, &ctx, "/signin", l.t("サインイン", "Sign in"), &body).await
}

pub async fn sign_in(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let ctx = state.ctx(&headers, true);
    if !state.check_csrf(&ctx, &form) {
        return forbidden(ctx.lang());
    }
    let l = ctx.lang();
    let Some(user) = form.opt("user") else {
        state.sessions.set_flash(
            &ctx.token,
            Flash::Refused {
                code: l.t("入力に誤りがあります", "bad input").into(),
                message: l.t("ユーザIDを入力してください。", "Enter your user ID.").into(),
            },
        );
        return see_other(&state, &ctx, "/signin");
    };
    let claim = Some(tobira_proto::ActorClaim { id: user, reader: Some(state.cfg.reader.clone()) });
    match state.call(claim, Request::SignIn { client: "console".into() }).await {
        Ok(v) => {
            let u = User {
                id: v["id"].as_str().unwrap_or_default().into(),
                name: v["name"].as_str().unwrap_or_default().into(),
                affiliation: v["affiliation"].as_str().unwrap_or_default().into(),
                roles: v["roles"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|r| r.as_str().map(String::from)).collect())
                    .unwrap_or_default(),
            };
            tracing::info!(user = %u.id, "signed in");
            let token = state.sessions.sign_in(&ctx.token, u, Instant::now());
            let mut r = secured(StatusCode::SEE_OTHER, ());
            r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/"));
            r.headers_mut().insert(header::SET_COOKIE, state.cookie(&token));
            r
        }
        Err(e) => {
            // A failed proof changes nothing: the session stays anonymous.
            state.sessions.set_flash(&ctx.token, refusal_flash(l, &e));
            see_other(&state, &ctx, "/signin")
        }
    }
}

pub async fn sign_out(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let ctx = state.ctx(&headers, false);
    if !state.check_csrf(&ctx, &form) {
        return forbidden(ctx.lang());
    }
    state.sessions.sign_out(&ctx.token);
    let mut r = secured(StatusCode::SEE_OTHER, ());
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/signin"));
    r
}

pub async fn set_lang(
    S(state): St,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ctx = state.ctx(&headers, true);
    state.sessions.set_lang(&ctx.token, if code == "en" { Lang::En } else { Lang::Ja });
    // Only a path of this console, never another site.
    let back = q
        .get("back")
        .filter(|b| b.starts_with('/') && !b.starts_with("//") && !b.contains('\\'))
        .map(String::as_str)
        .unwrap_or("/");
    see_other(&state, &ctx, back)
}

// ---------------------------------------------------------------- ホーム

pub async fn home(S(state): St, headers: HeaderMap) -> Response {
    let (ctx, _u) = match signed(&state, &headers, true) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let title = l.t("ホーム", "Home");
    let (zone, _) = state.site().await;
    let body = match home_body(&state, l, zone).await {
        Ok(b) | Err(DaemonLost(b)) => b,
    };
    page(&state, &ctx, "/", title, &body).await
}

async fn home_body(state: &State, l: Lang, zone: FixedOffset) -> Result<String, DaemonLost> {
    let check = read(state, l, Request::Check).await?;
    let status = read(state, l, Request::Status).await?;
    let dev = read(state, l, Request::Devices).await?;
    let alarms = arr(&read(state, l, Request::AlarmList { all: false }).await?);
    let mut h = String::from("<section class=\"todo\"><h2>");
    h.push_str(l.t("今必要な対応（定例点検）", "What needs doing now (routine checks)"));
    h.push_str("</h2>");
    let warnings = arr(&check["warnings"]);
    if warnings.is_empty() {
        h.push_str(&format!(
            "<p class=\"ok\" id=\"checks-ok\">{}</p>",
            l.t("定例点検で指摘事項はありません。", "The routine checks found nothing.")
        ));
    } else {
        h.push_str("<ul id=\"checks\">");
        for w in &warnings {
            h.push_str(&format!("<li>{}</li>", esc(w.as_str().unwrap_or(""))));
        }
        h.push_str("</ul>");
    }
    h.push_str(&format!(
        "<dl class=\"counts\"><dt>{}</dt><dd id=\"pending\">{}</dd><dt>{}</dt><dd id=\"open-alarms\">{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl></section>",
        l.t("承認待ちの申請", "pending requests"),
        status["pending_requests"],
        l.t("未確認の警報", "open alarms"),
        status["open_alarms"],
        l.t("職員", "people"),
        status["people"],
        l.t("照合情報", "templates"),
        status["templates"],
        l.t("現在時刻（拠点）", "site time"),
        esc(&cell(&status["now"], zone)),
    ));
    // Live: the page's script follows `/events` and rewrites each state cell as the daemon's answer changes.
    h.push_str(&format!(
        "<section id=\"live\" data-events=\"/events\"><h2>{}</h2><p class=\"live-note\">{}</p><table id=\"doors\"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>",
        l.t("扉", "Doors"),
        l.t("扉と読取装置の状態は自動で更新されます。", "Doors and readers update by themselves."),
        l.t("扉", "door"),
        l.t("区域", "zone"),
        l.t("状態", "state")
    ));
    for d in arr(&dev["doors"]) {
        let id = d["id"].as_str().unwrap_or("");
        let (text, class) = crate::live::door(l, &d, &alarms);
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td data-door=\"{}\" data-state=\"{class}\" class=\"state\">{}</td></tr>",
            esc(d["name"].as_str().unwrap_or(id)),
            esc(d["zone"].as_str().unwrap_or("")),
            esc(id),
            esc(text)
        ));
    }
    h.push_str(&format!("</tbody></table><h2>{}</h2><table id=\"readers\"><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>", l.t("読取装置", "Readers"), l.t("読取装置", "reader"), l.t("方式", "modality"), l.t("状態", "state")));
    for r in arr(&dev["readers"]) {
        let id = r["id"].as_str().unwrap_or("");
        let (text, class) = crate::live::reader(l, &r);
        h.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td data-reader=\"{}\" data-state=\"{class}\" class=\"state\">{}</td></tr>",
            esc(id),
            esc(if r["modality"] == "palm" {
                l.t("手のひら静脈", "palm vein")
            } else {
                l.t("指紋", "fingerprint")
            }),
            esc(id),
            esc(text)
        ));
    }
    h.push_str("</tbody></table></section>");
    Ok(h)
}

// ---------------------------------------------------------------- 申請と承認

pub async fn requests(S(state): St, headers: HeaderMap) -> Response {
    let (ctx, u) = match signed(&state, &headers, true) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let (zone, _) = state.site().await;
    let body = match read(&state, l, Request::RequestList { status: Some("pending".into()) }).await {
        Err(DaemonLost(b)) => b,
        Ok(v) => {
            let csrf = csrf_field(&ctx);
            let note = proof_note(&state, l);
            let decide = |r: &Value| -> String {
                let id = esc(r["id"].as_str().unwrap_or(""));
                let mine = r["requested_by"].as_str() == Some(u.id.as_str());
                let mut h = String::new();
                // Shown to whoever may decide something under some profile; the daemon decides who may (003 §7).
                if !mine {
                    h.push_str(&format!(
                        "<form method=\"post\" action=\"/requests/{id}/approve\" data-proof>{csrf}<input name=\"note\" placeholder=\"{}\" maxlength=\"200\"><button type=\"submit\" class=\"approve\">{}</button></form>\
<form method=\"post\" action=\"/requests/{id}/reject\" data-proof>{csrf}<input name=\"note\" placeholder=\"{}\" maxlength=\"200\"><button type=\"submit\" class=\"reject\">{}</button></form>",
                        l.t("備考", "note"), l.t("承認", "Approve"), l.t("却下の理由（必須）", "reason (required)"), l.t("却下", "Reject")
                    ));
                } else {
                    h.push_str(&format!(
                        "<form method=\"post\" action=\"/requests/{id}/withdraw\" data-proof>{csrf}<button type=\"submit\">{}</button></form>",
                        l.t("取下げ", "Withdraw")
                    ));
                }
                h
            };
            // The kind and status as the forms name them, not the daemon's words (`delete-person`).
            let mut rows = arr(&v);
            for r in &mut rows {
                r["kind"] = crate::i18n::request_kind(l, r["kind"].as_str().unwrap_or("")).into();
                r["status"] = crate::i18n::request_status(l, r["status"].as_str().unwrap_or("")).into();
            }
            format!(
                "<p>{}</p>{}{}",
                l.t("承認待ちの申請（照合情報の登録・削除、権限の委任、他課の記録の閲覧）。自分の申請は決裁できません（003 §7）。", "Pending requests (enrolment, deletion, delegation, viewing another section's records). Nobody decides their own (003 §7)."),
                table(l, zone, "requests", &rows, &["id", "kind", "subject", "requested_by", "requested_at", "status"], Some(&decide)),
                if rows.is_empty() { String::new() } else { note }
            )
        }
    };
    page(&state, &ctx, "/requests", l.t("申請と承認", "Requests and approvals"), &body).await
}

pub async fn decide(
    S(state): St,
    headers: HeaderMap,
    Path((id, decision)): Path<(String, String)>,
    axum::Form(f): Fm,
) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let note = form.opt("note");
    let req = match decision.as_str() {
        "approve" => Ok(Request::RequestApprove { id: id.clone(), note }),
        "reject" => note
            .map(|note| Request::RequestReject { id: id.clone(), note })
            .ok_or_else(|| l.t("却下には理由（備考）が必要です。", "A rejection needs a note saying why.").to_string()),
        "withdraw" => Ok(Request::RequestWithdraw { id: id.clone() }),
        _ => Err(l.t("不明な操作です。", "Unknown decision.").to_string()),
    };
    act(&state, &ctx, &u, "/requests", req.map_err(BadInput), |l, v| {
        format!(
            "{} {}: {}",
            l.t("申請", "Request"),
            v["request"].as_str().unwrap_or(""),
            crate::i18n::request_status(l, v["status"].as_str().unwrap_or(""))
        )
    })
    .await
}

// ---------------------------------------------------------------- 警報

pub async fn alarms(S(state): St, headers: HeaderMap) -> Response {
    let (ctx, _u) = match signed(&state, &headers, true) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let (zone, _) = state.site().await;
    let body = match read(&state, l, Request::AlarmList { all: true }).await {
        Err(DaemonLost(b)) => b,
        Ok(v) => {
            let csrf = csrf_field(&ctx);
            let ack = |a: &Value| -> String {
                if !a["acked_at"].is_null() {
                    return String::new();
                }
                format!(
                    "<form method=\"post\" action=\"/alarms/{}/ack\" data-proof>{csrf}<input name=\"note\" required maxlength=\"200\" placeholder=\"{}\"><button type=\"submit\" class=\"ack\">{}</button></form>",
                    a["id"],
                    l.t("確認した内容と対処（必須）", "what was found and done (required)"),
                    l.t("確認", "Acknowledge")
                )
            };
            format!(
                "<p>{}</p>{}{}",
                l.t(
                    "セキュリティ管理者への警報（003 §20）。確認には内容の記入と本人確認が必要です。",
                    "Alarms for the security manager (003 §20). Acknowledging needs a note and your finger."
                ),
                table(
                    l,
                    zone,
                    "alarms",
                    &arr(&v),
                    &["id", "kind", "place", "subject", "reason", "raised_at", "acked_at", "acked_by", "note"],
                    Some(&ack)
                ),
                proof_note(&state, l)
            )
        }
    };
    page(&state, &ctx, "/alarms", l.t("警報", "Alarms"), &body).await
}

pub async fn ack(S(state): St, headers: HeaderMap, Path(id): Path<i64>, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let req = form
        .opt("note")
        .map(|note| Request::AlarmAck { id, note })
        .ok_or_else(|| l.t("確認した内容を記入してください。", "Say what was found and done.").to_string());
    act(&state, &ctx, &u, "/alarms", req.map_err(BadInput), |l, v| {
        format!("{} {}", l.t("警報を確認しました:", "Alarm acknowledged:"), v["acknowledged"])
    })
    .await
}

// ---------------------------------------------------------------- 帳票

const LEDGERS: &[(&str, &str, &str)] = &[
    ("entry-exit", "入退室管理簿", "entry/exit ledger"),
    ("operators", "操作者管理簿", "operators ledger"),
    ("matching", "照合情報管理簿", "matching data ledger"),
    ("user-ids", "ユーザID管理簿", "user ID ledger"),
    ("viewer-ids", "閲覧用ID貸出簿", "viewer ID loans"),
    ("media", "記録媒体管理簿", "media register"),
];

fn ledger_form(state: &State, ctx: &Ctx, f: Option<&Form>) -> String {
    let l = ctx.lang();
    let v = |k: &str| esc(&f.map(|f| f.text(k)).unwrap_or_default());
    let kind = f.and_then(|f| f.opt("kind")).unwrap_or_else(|| "entry-exit".into());
    let mut h = format!(
        "<form method=\"post\" action=\"/ledgers\" class=\"filters\" data-proof>{}<label>{} <select name=\"kind\" id=\"kind\">",
        csrf_field(ctx),
        l.t("帳票", "ledger")
    );
    for (k, ja, en) in LEDGERS {
        let sel = if *k == kind { " selected" } else { "" };
        h.push_str(&format!("<option value=\"{k}\"{sel}>{}</option>", esc(l.t(ja, en))));
    }
    h.push_str(&format!(
        "</select></label><label>{} <input type=\"date\" name=\"from\" value=\"{}\"></label><label>{} <input type=\"date\" name=\"until\" value=\"{}\"></label>\
<label>{} <input name=\"person\" value=\"{}\" maxlength=\"64\"></label><label>{} <input name=\"place\" value=\"{}\" maxlength=\"64\"></label>\
<label><input type=\"checkbox\" name=\"wareki\" value=\"1\"{}> {}</label><button type=\"submit\" id=\"show-ledger\">{}</button></form>{}",
        l.t("期間（開始）", "from"), v("from"), l.t("期間（終了）", "until"), v("until"),
        l.t("人", "person"), v("person"), l.t("場所", "place"), v("place"),
        if f.and_then(|f| f.opt("wareki")).is_some() { " checked" } else { "" },
        l.t("和暦（令和）で表示", "Japanese era dates (令和)"),
        l.t("表示（閲覧は記録されます）", "Show (viewing is recorded)"),
        proof_note(state, l)
    ));
    h
}

pub async fn ledgers(S(state): St, headers: HeaderMap) -> Response {
    let (ctx, _u) = match signed(&state, &headers, true) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let body = format!(
        "<p>{}</p>{}",
        l.t(
            "帳票は監査記録から作成されます。閲覧は、誰がどの範囲を見たかとともに記録されます（002 §7(11)）。",
            "Ledgers are made from the audit record; viewing is recorded with who and which range (002 §7(11))."
        ),
        ledger_form(&state, &ctx, None)
    );
    page(&state, &ctx, "/ledgers", l.t("帳票", "Ledgers"), &body).await
}

/// The ledger's rows after the console's person/place filters (display only: the daemon recorded the
/// viewing of the whole period).
async fn ledger_rows(
    state: &State,
    u: &User,
    form: &Form,
    output: &[&str],
) -> Result<(Value, Vec<String>, Vec<Vec<String>>), tobira_cli::client::ClientError> {
    let req = Request::Ledger {
        kind: form.opt("kind"),
        from: form.opt("from"),
        until: form.opt("until"),
        era: form.opt("wareki").is_some().then_some(true),
        output: output.iter().map(|o| o.to_string()).collect(),
    };
    let v = state.call(state.actor(u), req).await?;
    let (zone, _) = state.site().await;
    let cols: Vec<String> =
        v["columns"].as_array().map(|a| a.iter().map(tobira_ledger::table::cell).collect()).unwrap_or_default();
    let era = form.opt("wareki").is_some();
    let (person, place) = (form.opt("person"), form.opt("place"));
    let rows = arr(&v["rows"])
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| {
                    let t = cell(&r[c], zone);
                    if era { wareki(&t) } else { t }
                })
                .collect::<Vec<String>>()
        })
        .filter(|r| person.as_ref().is_none_or(|p| r.iter().any(|c| c.contains(p.as_str()))))
        .filter(|r| place.as_ref().is_none_or(|p| r.iter().any(|c| c.contains(p.as_str()))))
        .collect();
    Ok((v, cols, rows))
}

pub async fn ledger_view(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let mut body = ledger_form(&state, &ctx, Some(&form));
    match ledger_rows(&state, &u, &form, &[]).await {
        Err(e) => body.push_str(&flash_html(l, &refusal_flash(l, &e))),
        Ok((v, cols, rows)) => {
            let title = v["title"].as_str().unwrap_or("");
            body.push_str(&format!(
                "<section class=\"ledger\" id=\"ledger\"><h2 class=\"ledger-title\">{}</h2><p class=\"ledger-heading\">{}</p>",
                esc(title),
                esc(v["heading"]["text"].as_str().unwrap_or(""))
            ));
            body.push_str(&format!(
                "<p class=\"noprint\"><button type=\"button\" data-print id=\"print\">{}</button></p>\
<form method=\"post\" action=\"/ledgers.csv\" class=\"noprint\" data-proof>{}",
                l.t("印刷（A4）", "Print (A4)"),
                csrf_field(&ctx)
            ));
            for k in ["kind", "from", "until", "person", "place", "wareki"] {
                body.push_str(&format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", esc(&form.text(k))));
            }
            body.push_str(&format!(
                "<button type=\"submit\" id=\"csv\">{}</button></form>",
                l.t("CSV をダウンロード（Excel 用、閲覧として記録）", "Download CSV (Excel; recorded as a viewing)")
            ));
            body.push_str("<table class=\"sheet\"><thead><tr>");
            for c in &cols {
                body.push_str(&format!("<th>{}</th>", esc(c)));
            }
            body.push_str("</tr></thead><tbody>");
            for r in &rows {
                body.push_str("<tr>");
                for c in r {
                    body.push_str(&format!("<td>{}</td>", esc(c)));
                }
                body.push_str("</tr>");
            }
            body.push_str("</tbody></table><table class=\"seal\"><tr><th>確認者</th><th>承認者</th></tr><tr><td></td><td></td></tr></table>");
            let a = &v["anchor"];
            if !a.is_null() {
                let s = |k: &str| esc(a[k].as_str().unwrap_or(""));
                body.push_str(&format!(
                    "<table class=\"sth\"><tr><th colspan=\"2\">署名付きツリーヘッド — この帳票の作成時点の監査記録</th></tr><tr><th>ノード</th><td>{}</td></tr><tr><th>件数</th><td>{}</td></tr><tr><th>根ハッシュ</th><td>{}</td></tr><tr><th>時刻</th><td>{}</td></tr><tr><th>署名</th><td class=\"hash\">{}</td></tr><tr><th>鍵指紋</th><td>{}</td></tr></table>",
                    // The site's time, as the sheet's heading names it; the signed text is for machines (CSV).
                    s("node"), a["size"], s("root"), esc(&tobira_cli::trust::anchor_local_time(a)), s("signature"), s("fingerprint")
                ));
            }
            body.push_str("</section>");
        }
    }
    page(&state, &ctx, "/ledgers", l.t("帳票", "Ledgers"), &body).await
}

pub async fn ledger_csv(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    match ledger_rows(&state, &u, &form, &["csv"]).await {
        Err(e) => {
            state.sessions.set_flash(&ctx.token, refusal_flash(ctx.lang(), &e));
            see_other(&state, &ctx, "/ledgers")
        }
        Ok((v, cols, rows)) => {
            let hs: Vec<&str> = cols.iter().map(String::as_str).collect();
            let mut bytes = tobira_ledger::table::csv_with_bom(&hs, &rows);
            bytes.extend_from_slice(tobira_cli::cli::csv_heading(&v).as_bytes());
            bytes.extend_from_slice(tobira_cli::trust::csv_anchor(&v["anchor"]).as_bytes());
            let name = LEDGERS.iter().find(|(k, ..)| Some(*k) == form.get("kind")).map(|x| x.0).unwrap_or("ledger");
            let mut r = secured(StatusCode::OK, bytes);
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            if let Ok(h) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
                r.headers_mut().insert(header::CONTENT_DISPOSITION, h);
            }
            r
        }
    }
}

// ---------------------------------------------------------------- 職員 / 権限

pub async fn people(S(state): St, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (ctx, u) = match signed(&state, &headers, true) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let (zone, _) = state.site().await;
    let search = q.get("q").map(|s| s.trim().to_string()).unwrap_or_default();
    // Where each table starts: `p` for people, `g` for grants (a bad number is the first page).
    let at = |k: &str| q.get(k).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
    let body = match people_body(&state, &ctx, &u, l, zone, &search, (at("p"), at("g"))).await {
        Ok(b) | Err(DaemonLost(b)) => b,
    };
    page(&state, &ctx, "/people", l.t("職員 / 権限", "People and grants"), &body).await
}

/// Rows shown per table on the 職員 page; the daemon sends only these (`person-page`, `grant-page`).
const PAGE_ROWS: u32 = 200;

/// One table's page as the daemon answered it: its rows and how many match in all.
struct Paged {
    rows: Vec<Value>,
    total: u64,
    offset: u32,
}

impl Paged {
    fn of(v: &Value) -> Paged {
        Paged {
            rows: arr(&v["rows"]),
            total: v["total"].as_u64().unwrap_or(0),
            offset: v["offset"].as_u64().and_then(|o| u32::try_from(o).ok()).unwrap_or(0),
        }
    }
}

/// "a–b 件 / N 件中" and the 前へ / 次へ links of a table, keeping the search and the other table's place.
/// `key` is this table's offset parameter, `other` the other table's (name, offset).
fn pager(l: Lang, id: &str, p: &Paged, q: &str, key: &str, other: (&str, u32)) -> String {
    if p.total == 0 || (p.offset == 0 && p.total <= u64::from(PAGE_ROWS)) {
        return String::new();
    }
    let first = u64::from(p.offset) + 1;
    let last = u64::from(p.offset) + p.rows.len() as u64;
    let link = |to: u32, text: &str, rel: &str| {
        let mut href = format!("/people?{key}={to}&{}={}", other.0, other.1);
        if !q.is_empty() {
            href.push_str("&q=");
            href.push_str(&url_encode(q));
        }
        format!("<a href=\"{}\" rel=\"{rel}\" class=\"{rel}\">{text}</a>", esc(&href))
    };
    let total = p.total;
    let mut h = format!(
        "<p class=\"pager\" id=\"{id}\">{}",
        match l {
            Lang::Ja => format!("{total} 件中 {first}–{last} 件を表示"),
            Lang::En => format!("{first}–{last} of {total}"),
        }
    );
    if p.offset > 0 {
        h.push(' ');
        h.push_str(&link(p.offset.saturating_sub(PAGE_ROWS), l.t("前へ", "Previous"), "prev"));
    }
    if last < p.total {
        h.push(' ');
        h.push_str(&link(p.offset.saturating_add(PAGE_ROWS), l.t("次へ", "Next"), "next"));
    }
    h.push_str("</p>");
    h
}

/// A query string's value, percent-encoded (everything but unreserved ASCII).
fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn people_body(
    state: &State,
    ctx: &Ctx,
    u: &User,
    l: Lang,
    zone: FixedOffset,
    q: &str,
    (p_at, g_at): (u32, u32),
) -> Result<String, DaemonLost> {
    let ask = |offset| PageQuery { query: (!q.is_empty()).then(|| q.to_string()), offset, limit: PAGE_ROWS };
    let people = Paged::of(&read(state, l, Request::PersonPage(ask(p_at))).await?);
    let grants = Paged::of(&read(state, l, Request::GrantPage(ask(g_at))).await?);
    let dev = read(state, l, Request::Devices).await?;
    let csrf = csrf_field(ctx);
    let mut h = format!(
        "<form method=\"get\" action=\"/people\" class=\"filters\" id=\"search\"><label>{} <input name=\"q\" value=\"{}\" maxlength=\"64\"></label><button type=\"submit\">{}</button></form><h2>{}</h2>",
        l.t("検索（ID・氏名・所属・場所）", "search (ID, name, section, place)"),
        esc(q),
        l.t("検索", "Search"),
        l.t("職員", "People")
    );
    h.push_str(&pager(l, "people-pager", &people, q, "p", ("g", grants.offset)));
    h.push_str(&table(
        l,
        zone,
        "people",
        &people.rows,
        &["id", "name", "affiliation", "roles", "appointment_end", "active"],
        None,
    ));
    let sa = u.has("system-administrator");
    if sa || u.has("site-administrator") {
        h.push_str(&format!(
            "<details><summary>{}</summary><form method=\"post\" action=\"/people/delete\" data-proof id=\"delete-person\">{csrf}<label>ID <input name=\"id\" required maxlength=\"64\"></label><label>{} <input name=\"reason\" required maxlength=\"200\"></label><button type=\"submit\">{}</button></form></details>",
            l.t("異動・退職による削除（権限の取消と照合情報の消去、000 §8(2)）", "Remove on transfer or leaving (grants revoked, matching data erased, 000 §8(2))"),
            l.t("理由", "reason"),
            l.t("削除", "Remove")
        ));
    }
    if sa {
        h.push_str(&format!(
            "<h2>{}</h2><form method=\"post\" action=\"/people\" data-proof id=\"add-person\" class=\"grid\">{csrf}",
            l.t("職員の登録（003 §5(4)）", "Register a person (003 §5(4))")
        ));
        h.push_str(&format!(
            "<label>{} <input name=\"id\" required maxlength=\"64\" pattern=\"[A-Za-z0-9._\\-]+\"></label><label>{} <input name=\"name\" required maxlength=\"100\"></label><label>{} <input name=\"affiliation\" maxlength=\"100\"></label><label>{} <input type=\"date\" name=\"appointment_end\"></label><fieldset><legend>{}</legend>",
            l.t("ユーザID", "user ID"), l.t("氏名", "name"), l.t("所属", "section"), l.t("任期満了日", "appointment end"), l.t("役割", "roles")
        ));
        for r in [
            "system-administrator",
            "site-administrator",
            "security-manager",
            "data-manager",
            "security-director",
            "operator",
            "vendor",
            "viewer",
        ] {
            h.push_str(&format!(
                "<label><input type=\"checkbox\" name=\"role\" value=\"{r}\"> {}</label>",
                esc(&role(l, r))
            ));
        }
        h.push_str(&format!("</fieldset><button type=\"submit\">{}</button></form>", l.t("登録", "Register")));
    }
    h.push_str(&format!("<h2>{}</h2>", l.t("権限（入室・端末利用）", "Grants (rooms and terminals)")));
    let revoke = |g: &Value| -> String {
        format!(
            "<form method=\"post\" action=\"/grants/{}/revoke\" data-proof>{csrf}<button type=\"submit\">{}</button></form>",
            esc(g["id"].as_str().unwrap_or("")),
            l.t("取消", "Revoke")
        )
    };
    h.push_str(&table(
        l,
        zone,
        "grants",
        &grants.rows,
        &["id", "holder", "place", "issued_by", "from", "until"],
        Some(&revoke),
    ));
    h.push_str(&pager(l, "grants-pager", &grants, q, "g", ("p", people.offset)));
    h.push_str(&format!(
        "<h2>{}</h2><p>{}</p><form method=\"post\" action=\"/grants\" data-proof id=\"add-grant\" class=\"grid\">{csrf}<label>{} <input name=\"holder\" required maxlength=\"64\"></label><label>{} <select name=\"place\" id=\"place\">",
        l.t("権限の付与", "Grant access"),
        l.t("レベル1（端末・端末室）はシステム管理者、レベル2（サーバ室）は本人確認情報管理責任者、レベル3（媒体保管室）は統括責任者が付与します（003 §13(2)、市の規程により異なります）。拠点管理者のレベル1付与は申請になります（003 §7(3)）。", "Level 1 (terminals, terminal rooms) is granted by the system administrator, Level 2 (server room) by the data manager, Level 3 (media storage) by the security director (003 §13(2); the city's profile may differ). A site administrator's Level 1 grant is a request (003 §7(3))."),
        l.t("対象者（ユーザID）", "holder (user ID)"),
        l.t("場所", "place")
    ));
    for z in arr(&dev["zones"]) {
        let id = z["id"].as_str().unwrap_or("");
        h.push_str(&format!(
            "<option value=\"zone:{}\">{} ({}, {})</option>",
            esc(id),
            esc(z["name"].as_str().unwrap_or(id)),
            esc(id),
            esc(&tobira_ledger::table::cell(&z["level"]))
        ));
    }
    for t in arr(&dev["terminals"]) {
        let id = t["id"].as_str().unwrap_or("");
        h.push_str(&format!(
            "<option value=\"terminal:{}\">{} ({}, L1)</option>",
            esc(id),
            esc(t["name"].as_str().unwrap_or(id)),
            esc(id)
        ));
    }
    h.push_str(&format!(
        "</select></label><label>{} <input type=\"date\" name=\"until\"></label><label>{} <select name=\"schedule\"><option value=\"\">—</option><option value=\"always\">{}</option><option value=\"office-hours\">{}</option></select></label><button type=\"submit\" id=\"grant\">{}</button></form>{}",
        l.t("終了日（空欄は任期満了日）", "until (empty: appointment end)"),
        l.t("時間帯", "schedule"),
        l.t("常時", "always"),
        l.t("執務時間内", "office hours"),
        l.t("付与", "Grant"),
        proof_note(state, l)
    ));
    Ok(h)
}

pub async fn person_add(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let req = match (form.opt("id"), form.opt("name")) {
        (Some(id), Some(name)) => Ok(Request::PersonAdd(PersonAdd {
            id,
            name,
            affiliation: form.text("affiliation"),
            roles: form.all("role"),
            appointment_end: form.opt("appointment_end"),
        })),
        _ => Err(l.t("ユーザIDと氏名は必須です。", "User ID and name are required.").to_string()),
    };
    act(&state, &ctx, &u, "/people", req.map_err(BadInput), |l, v| {
        format!("{} {}", l.t("登録しました:", "Registered:"), v["id"].as_str().or(v["person"].as_str()).unwrap_or(""))
    })
    .await
}

pub async fn person_delete(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let req = match (form.opt("id"), form.opt("reason")) {
        (Some(id), Some(reason)) => Ok(Request::PersonDelete { id, reason }),
        _ => Err(l.t("ユーザIDと理由は必須です。", "User ID and reason are required.").to_string()),
    };
    act(&state, &ctx, &u, "/people", req.map_err(BadInput), |l, v| {
        done_or_request(l, v, l.t("削除しました", "Removed"))
    })
    .await
}

/// What an act that may have become a request says: a request's ID and that it awaits approval.
fn done_or_request(l: Lang, v: &Value, done: &str) -> String {
    match (v["status"].as_str(), v["request"].as_str()) {
        (Some("pending"), Some(r)) => format!(
            "{} {r} {}",
            l.t("申請", "Request"),
            l.t("として登録しました（承認待ち、003 §7）。", "filed: it awaits approval (003 §7).")
        ),
        _ => format!("{done}: {}", tobira_ledger::table::cell(v)),
    }
}

pub async fn grant_add(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let req = match (form.opt("holder"), form.opt("place")) {
        (Some(holder), Some(place)) => Ok(Request::GrantAdd(GrantAdd {
            holder,
            place,
            from: None,
            until: form.opt("until"),
            schedule: form.opt("schedule"),
        })),
        _ => Err(l.t("対象者と場所は必須です。", "Holder and place are required.").to_string()),
    };
    act(&state, &ctx, &u, "/people", req.map_err(BadInput), |l, v| {
        done_or_request(l, v, l.t("付与しました", "Granted"))
    })
    .await
}

pub async fn grant_revoke(S(state): St, headers: HeaderMap, Path(id): Path<String>, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    act(&state, &ctx, &u, "/people", Ok(Request::GrantRevoke { id }), |l, v| {
        done_or_request(l, v, l.t("取り消しました", "Revoked"))
    })
    .await
}

// ---------------------------------------------------------------- 照合情報の登録

const FINGERS: [(&str, &str); 10] = [
    ("右手 親指", "right thumb"),
    ("右手 人差し指", "right index"),
    ("右手 中指", "right middle"),
    ("右手 薬指", "right ring"),
    ("右手 小指", "right little"),
    ("左手 親指", "left thumb"),
    ("左手 人差し指", "left index"),
    ("左手 中指", "left middle"),
    ("左手 薬指", "left ring"),
    ("左手 小指", "left little"),
];

/// 照合情報の登録. After a refusal the form comes back filled in as it was (`person`, `finger`, `palm`), so
/// trying again is one press.
pub async fn enroll_page(S(state): St, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (ctx, _u) = match signed(&state, &headers, true) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let again = q.get("person").map(|p| p.trim()).filter(|p| !p.is_empty());
    let finger_of = q.get("finger").and_then(|f| f.parse::<usize>().ok()).filter(|f| (1..=10).contains(f)).unwrap_or(2);
    let palm_of = q.get("palm").map(String::as_str).unwrap_or("");
    // The job this page's enrolment runs under: its steps come live on `/enroll/progress` (captures.rs).
    let job = crate::captures::new_job();
    let mut h = format!(
        "<ol class=\"steps\"><li>{}</li><li>{} <strong>{}</strong> {}</li><li>{}</li></ol><form method=\"post\" action=\"/enroll\" data-proof data-progress=\"/enroll/progress?job={job}\" id=\"enroll\" class=\"grid\">{}<input type=\"hidden\" name=\"job\" value=\"{job}\"><label>{} <input name=\"person\" required maxlength=\"64\" value=\"{}\"></label><fieldset class=\"fingers\"><legend>{}</legend>",
        l.t("登録する人と指を選びます。", "Choose the person and the finger."),
        l.t("登録を押したら、まずあなた自身が読取装置", "On submitting, first you place your own finger on"),
        esc(&state.cfg.reader),
        l.t("に指を置いて本人確認し（003 §7）、続けて登録される人が同じ指を3回置きます。", "to prove it is you (003 §7); then the person enrolled places the chosen finger three times."),
        l.t("採取のたびに、その品質と、採用しなかった場合はその理由がこの画面に表示されます。重複登録の検査結果も表示されます。拠点管理者による登録はシステム管理者の承認待ちの申請になります。", "Each capture shows here as it happens, with its quality, or why it was refused; the duplicate-identity check's result is shown. A site administrator's enrolment is a request the system administrator approves."),
        csrf_field(&ctx),
        l.t("登録される人（ユーザID）", "person enrolled (user ID)"),
        esc(again.unwrap_or("")),
        l.t("指", "finger")
    );
    for (i, (ja, en)) in FINGERS.iter().enumerate() {
        let n = i + 1;
        let checked = if n == finger_of { " checked" } else { "" };
        h.push_str(&format!(
            "<label><input type=\"radio\" name=\"finger\" value=\"{n}\"{checked}> {}</label>",
            esc(l.t(ja, en))
        ));
    }
    let sel = |v: &str| if palm_of == v { " selected" } else { "" };
    h.push_str(&format!(
        "</fieldset><label>{} <select name=\"palm\"><option value=\"\">{}</option><option value=\"left\"{}>{}</option><option value=\"right\"{}>{}</option></select></label><button type=\"submit\" id=\"enroll-submit\">{}</button></form><section id=\"captures-live\" hidden><h2>{}</h2><ol id=\"captures\" class=\"captures\" aria-live=\"polite\"></ol></section>",
        l.t("手のひら静脈の場合", "palm vein instead"),
        l.t("指紋", "fingerprint"),
        sel("left"),
        l.t("左手", "left palm"),
        sel("right"),
        l.t("右手", "right palm"),
        if again.is_some() { l.t("もう一度登録", "Enrol again") } else { l.t("登録", "Enrol") },
        l.t("採取の状況", "Captures")
    ));
    page(&state, &ctx, "/enroll", l.t("照合情報の登録", "Enrolment of matching data"), &h).await
}

pub async fn enroll(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let finger = form.get("finger").and_then(|f| f.parse::<u8>().ok()).filter(|f| (1..=10).contains(f));
    let palm = form.opt("palm");
    let (person, finger) = match (form.opt("person"), finger) {
        (Some(person), Some(finger)) => (person, finger),
        (None, _) => {
            return act(
                &state,
                &ctx,
                &u,
                "/enroll",
                Err(BadInput(
                    l.t("登録される人のユーザIDを入力してください。", "Enter the user ID of the person enrolled.")
                        .to_string(),
                )),
                |_, _| String::new(),
            )
            .await;
        }
        (_, None) => {
            return act(
                &state,
                &ctx,
                &u,
                "/enroll",
                Err(BadInput(l.t("指を選んでください（1〜10）。", "Choose a finger (1–10).").to_string())),
                |_, _| String::new(),
            )
            .await;
        }
    };
    // The form's job (a page without one, or a forged one, gets a job nobody watches).
    let job = form
        .get("job")
        .filter(|j| crate::captures::valid_job(j))
        .map(String::from)
        .unwrap_or_else(crate::captures::new_job);
    let live = state.captures.join(&ctx.token, &job);
    let steps = live.clone();
    let req = Request::Enroll {
        person: person.clone(),
        reader: state.cfg.reader.clone(),
        finger,
        palm: palm.clone(),
        samples: None,
    };
    let answer = state.call_progress(state.actor(&u), req, move |step| steps.send_modify(|j| j.steps.push(step))).await;
    live.send_modify(|j| j.done = true);
    let told: Vec<String> =
        live.borrow().steps.iter().filter_map(|s| crate::captures::words(l, s)).map(|(t, _)| t).collect();
    drop(live);
    state.captures.forget(&ctx.token, &job);
    // Without the script, the outcome still lists every capture.
    let steps_said = if told.is_empty() { String::new() } else { format!(" [{}]", told.join(" / ")) };
    let (flash, back) = match answer {
        Ok(v) => (Flash::Done(format!("{}{steps_said}", enrolled(l, &v))), "/enroll".to_string()),
        Err(e) => {
            let mut f = refusal_flash(l, &e);
            if let Flash::Refused { message, .. } = &mut f {
                message.push_str(&steps_said);
            }
            // Back to the form as it was filled in: trying again is one press.
            let mut back = format!("/enroll?person={}&finger={finger}", url_encode(&person));
            if let Some(p) = palm {
                back.push_str(&format!("&palm={}", url_encode(&p)));
            }
            (f, back)
        }
    };
    state.sessions.set_flash(&ctx.token, flash);
    see_other(&state, &ctx, &back)
}

/// What an enrolment that went through says: the template's quality, and a request's number when it
/// became one.
fn enrolled(l: Lang, v: &Value) -> String {
    let quality = match &v["minutiae"] {
        Value::Array(a) => a.iter().map(tobira_ledger::table::cell).collect::<Vec<_>>().join(" / "),
        other => tobira_ledger::table::cell(other),
    };
    let q = if quality.is_empty() {
        String::new()
    } else {
        format!(" {} {quality}", l.t("— 特徴点数:", "— minutiae:"))
    };
    match v["status"].as_str() {
        Some("pending") => format!(
            "{} {} {}{q}",
            l.t("申請", "Request"),
            v["request"].as_str().unwrap_or(""),
            l.t(
                "として登録しました（システム管理者の承認待ち、003 §7）。",
                "filed: the system administrator approves it (003 §7)."
            )
        ),
        _ => format!(
            "{} {}{q}",
            l.t("登録しました（承認済み）:", "Enrolled (approved):"),
            v["person"].as_str().unwrap_or("")
        ),
    }
}

// ---------------------------------------------------------------- 業者の来訪 / 時間外利用

/// A `datetime-local` value in the site's zone as RFC 3339 (a date alone is left for the daemon's rule).
fn local_input(s: &str, zone: FixedOffset) -> Option<String> {
    let n = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M").ok()?;
    Some(n.and_local_timezone(zone).single()?.to_rfc3339())
}

pub async fn visits(S(state): St, headers: HeaderMap) -> Response {
    let (ctx, _u) = match signed(&state, &headers, true) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let body = match read(&state, l, Request::Devices).await {
        Err(DaemonLost(b)) => b,
        Ok(dev) => {
            let csrf = csrf_field(&ctx);
            let mut h = format!(
                "<h2>{}</h2><form method=\"post\" action=\"/visits\" data-proof id=\"visit\" class=\"grid\">{csrf}<label>{} <input name=\"vendor\" required maxlength=\"64\"></label><label>{} <input name=\"company\" required maxlength=\"100\"></label><label>{} <input name=\"purpose\" required maxlength=\"200\"></label><label>{} <input name=\"name_tag\" required maxlength=\"32\"></label><fieldset><legend>{}</legend>",
                l.t(
                    "業者の来訪（003 §13(4)：付添者の認証で入室、名札、持込媒体）",
                    "Vendor visit (003 §13(4): escorted, name tag, media brought in)"
                ),
                l.t("業者（ユーザID）", "vendor (user ID)"),
                l.t("会社名", "company"),
                l.t("用務", "purpose"),
                l.t("名札番号", "name tag"),
                l.t("扉", "doors")
            );
            for d in arr(&dev["doors"]) {
                let id = d["id"].as_str().unwrap_or("");
                h.push_str(&format!(
                    "<label><input type=\"checkbox\" name=\"door\" value=\"{}\"> {}</label>",
                    esc(id),
                    esc(d["name"].as_str().unwrap_or(id))
                ));
            }
            h.push_str(&format!(
                "</fieldset><label>{} <input type=\"datetime-local\" name=\"from\" required></label><label>{} <input type=\"datetime-local\" name=\"until\" required></label><label>{} <input name=\"escorts\" required maxlength=\"200\"></label><label>{} <input name=\"media\" maxlength=\"200\"></label><button type=\"submit\" id=\"visit-submit\">{}</button></form>",
                l.t("開始", "from"), l.t("終了", "until"), l.t("付添者（ユーザID、読点区切り）", "escorts (user IDs, comma-separated)"), l.t("持込媒体・機器（読点区切り）", "media brought in (comma-separated)"), l.t("登録", "Register")
            ));
            h.push_str(&format!(
                "<h2>{}</h2><form method=\"post\" action=\"/offhours\" data-proof id=\"offhours\" class=\"grid\">{csrf}<label>{} <input name=\"person\" required maxlength=\"64\"></label><label>{} <select name=\"terminal\">",
                l.t("時間外利用の事前承認（002 §5-2）", "Prior approval of off-hours use (002 §5-2)"),
                l.t("利用者（ユーザID）", "user (user ID)"),
                l.t("端末", "terminal")
            ));
            for t in arr(&dev["terminals"]) {
                let id = t["id"].as_str().unwrap_or("");
                h.push_str(&format!(
                    "<option value=\"{}\">{}</option>",
                    esc(id),
                    esc(t["name"].as_str().unwrap_or(id))
                ));
            }
            h.push_str(&format!(
                "</select></label><label>{} <input type=\"datetime-local\" name=\"from\" required></label><label>{} <input type=\"datetime-local\" name=\"until\" required></label><label>{} <input name=\"reason\" required maxlength=\"200\"></label><button type=\"submit\">{}</button></form>{}",
                l.t("開始", "from"), l.t("終了", "until"), l.t("理由", "reason"), l.t("承認", "Approve"), proof_note(&state, l)
            ));
            h
        }
    };
    page(&state, &ctx, "/visits", l.t("業者の来訪 / 時間外利用", "Vendor visits and off-hours use"), &body).await
}

pub async fn visit_add(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let (zone, _) = state.site().await;
    let mut missing = Vec::new();
    for (k, ja, en) in [
        ("vendor", "業者", "vendor"),
        ("company", "会社名", "company"),
        ("purpose", "用務", "purpose"),
        ("name_tag", "名札番号", "name tag"),
    ] {
        if form.opt(k).is_none() {
            missing.push(l.t(ja, en));
        }
    }
    let (from, until) =
        (form.get("from").and_then(|s| local_input(s, zone)), form.get("until").and_then(|s| local_input(s, zone)));
    let req = if !missing.is_empty() {
        Err(format!("{}: {}", l.t("未入力の項目があります", "missing"), missing.join(l.t("、", ", "))))
    } else if form.all("door").is_empty() {
        Err(l.t("扉を1つ以上選んでください。", "Choose at least one door.").to_string())
    } else if form.list("escorts").is_empty() {
        Err(l.t("付添者を入力してください（003 §13(4)）。", "Name the escorts (003 §13(4)).").to_string())
    } else {
        match (from, until) {
            (Some(from), Some(until)) => Ok(Request::VisitAdd(VisitAdd {
                vendor: form.text("vendor"),
                company: form.text("company"),
                purpose: form.text("purpose"),
                name_tag: form.text("name_tag"),
                doors: form.all("door"),
                from,
                until,
                escorts: form.list("escorts"),
                media_allowed: form.list("media"),
            })),
            _ => Err(l.t("開始と終了の日時を入力してください。", "Enter the start and end times.").to_string()),
        }
    };
    act(&state, &ctx, &u, "/visits", req.map_err(BadInput), |l, v| {
        format!("{} {}", l.t("来訪を登録しました:", "Visit registered:"), tobira_ledger::table::cell(v))
    })
    .await
}

pub async fn off_hours_add(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let (zone, _) = state.site().await;
    let req = match (
        form.opt("person"),
        form.opt("terminal"),
        form.get("from").and_then(|s| local_input(s, zone)),
        form.get("until").and_then(|s| local_input(s, zone)),
        form.opt("reason"),
    ) {
        (Some(person), Some(terminal), Some(from), Some(until), Some(reason)) => {
            Ok(Request::OffHoursAdd(OffHoursAdd { person, terminal, from, until, reason }))
        }
        _ => Err(l
            .t(
                "利用者、端末、開始、終了、理由はすべて必須です。",
                "User, terminal, start, end and reason are all required.",
            )
            .to_string()),
    };
    act(&state, &ctx, &u, "/visits", req.map_err(BadInput), |l, v| {
        format!("{} {}", l.t("時間外利用を承認しました:", "Off-hours use approved:"), tobira_ledger::table::cell(v))
    })
    .await
}

// ---------------------------------------------------------------- 操作履歴

fn audit_form(state: &State, ctx: &Ctx, f: Option<&Form>) -> String {
    let l = ctx.lang();
    let v = |k: &str| esc(&f.map(|f| f.text(k)).unwrap_or_default());
    format!(
        "<form method=\"post\" action=\"/audit\" class=\"filters\" data-proof id=\"audit-search\">{}<label>{} <input name=\"person\" value=\"{}\" maxlength=\"64\"></label><label>{} <input name=\"place\" value=\"{}\" maxlength=\"64\"></label><label>{} <input name=\"kind\" value=\"{}\" maxlength=\"64\" placeholder=\"door. / login.failure\"></label><label>{} <select name=\"outcome\"><option value=\"\">—</option><option value=\"granted\">granted</option><option value=\"denied\">denied</option><option value=\"alarm\">alarm</option><option value=\"info\">info</option></select></label><label>{} <input type=\"date\" name=\"from\" value=\"{}\"></label><label>{} <input type=\"date\" name=\"until\" value=\"{}\"></label><button type=\"submit\">{}</button></form>{}",
        csrf_field(ctx),
        l.t("人", "person"),
        v("person"),
        l.t("場所", "place"),
        v("place"),
        l.t("種別", "kind"),
        v("kind"),
        l.t("結果", "outcome"),
        l.t("期間（開始）", "from"),
        v("from"),
        l.t("期間（終了）", "until"),
        v("until"),
        l.t("検索（閲覧は記録されます）", "Search (viewing is recorded)"),
        proof_note(state, l)
    )
}

async fn verify_box(state: &State, l: Lang) -> String {
    match state.call(None, Request::AuditVerify).await {
        Ok(v) => {
            let ok = v["ok"].as_bool().or(v["intact"].as_bool());
            let word = match ok {
                Some(true) => l.t(
                    "監査記録は改ざんされていません（ハッシュ連鎖と署名を検証済み）",
                    "The audit store is intact (hash chain and signatures verified)",
                ),
                Some(false) => l.t("監査記録の検証に失敗しました（警報）", "Audit verification FAILED (alarm raised)"),
                None => l.t("検証結果", "Verification result"),
            };
            let class = if ok == Some(false) { "refused" } else { "done" };
            format!(
                "<div class=\"flash {class}\" id=\"verify\"><strong>{}</strong> <code>{}</code></div>",
                esc(word),
                esc(&v.to_string())
            )
        }
        Err(e) => flash_html(l, &refusal_flash(l, &e)),
    }
}

/// `tobira threshold-check` as the auditor reads it (issue 17): one row per decision in the form's words.
async fn thresholds_box(state: &State, l: Lang) -> String {
    let v = match state.call(None, Request::ThresholdCheck).await {
        Ok(v) => v,
        Err(e) => return flash_html(l, &refusal_flash(l, &e)),
    };
    let rows = arr(&v);
    if rows.is_empty() {
        return format!(
            "<p class=\"none\" id=\"thresholds\">{}</p>",
            l.t("照合情報が登録されていません", "Nobody is enrolled yet")
        );
    }
    let heads = [
        l.t("方式", "modality"),
        l.t("照合", "decision"),
        l.t("目標の他人受入率", "target FMR"),
        l.t("閾値", "threshold"),
        l.t("人数", "people"),
        l.t("他人同士の照合", "impostor attempts"),
        l.t("閾値以上", "at or over"),
        l.t("他人受入率（95 %）", "FMR (95 %)"),
        l.t("判定", "verdict"),
    ];
    let mut h = String::from("<table id=\"thresholds\"><thead><tr>");
    for t in heads {
        h.push_str(&format!("<th>{}</th>", esc(t)));
    }
    h.push_str("</tr></thead><tbody>");
    for r in &rows {
        let modality = match r["modality"].as_str() {
            Some("palm") => l.t("手のひら静脈", "palm vein"),
            _ => l.t("指紋", "fingerprint"),
        };
        let decision = match r["candidates"].as_u64() {
            None => l.t("本人確認（1:1）", "1:1 login").to_string(),
            Some(n) => match l {
                Lang::Ja => format!("入室照合（{n} 件）"),
                _ => format!("door of {n}"),
            },
        };
        let (class, verdict) = match (r["verdict_code"].as_str(), r["remedy"].as_str()) {
            (Some("holds"), _) => ("done", l.t("基準内", "holds").to_string()),
            (Some("exceeds"), Some(fix)) => (
                "refused",
                match l {
                    Lang::Ja => format!("基準超過 — 推奨設定 {fix}（この拠点の照合が超えない最初の設定）"),
                    _ => format!("EXCEEDS — set {fix} (the first setting this site's attempts stay within)"),
                },
            ),
            (Some("exceeds"), None) => (
                "refused",
                l.t(
                    "基準超過 — 対処できる設定がありません（ベンダーへ報告）",
                    "EXCEEDS — no setting holds it (report it)",
                )
                .to_string(),
            ),
            _ => ("", l.t("判定不能（人数不足）", "too few people to tell").to_string()),
        };
        h.push_str(&format!("<tr class=\"{class}\">"));
        for c in [
            modality.to_string(),
            decision,
            tobira_ledger::table::cell(&r["target_fmr"]),
            tobira_ledger::table::cell(&r["threshold"]),
            tobira_ledger::table::cell(&r["people"]),
            tobira_ledger::table::cell(&r["attempts"]),
            tobira_ledger::table::cell(&r["reached"]),
            tobira_ledger::table::cell(&r["rate_95"]),
            verdict,
        ] {
            h.push_str(&format!("<td>{}</td>", esc(&c)));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

pub async fn audit(S(state): St, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let (ctx, _u) = match signed(&state, &headers, true) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    // Verifying reads the whole store (a year of events takes seconds): on request, not on every view.
    let verify = if q.contains_key("verify") {
        verify_box(&state, l).await
    } else {
        format!(
            "<p><a href=\"/audit?verify=1\" id=\"verify-link\">{}</a></p>",
            l.t("監査記録を検証する（ハッシュ連鎖と署名）", "Verify the audit store (hash chain and signatures)")
        )
    };
    // Whether the match thresholds hold on this site's readers (issue 17): up to half a minute, on request.
    let thresholds = if q.contains_key("thresholds") {
        thresholds_box(&state, l).await
    } else {
        format!(
            "<p><a href=\"/audit?thresholds=1\" id=\"thresholds-link\">{}</a></p>",
            l.t(
                "照合閾値を確認する（登録者同士の照合で他人受入率を測定、最長 1 分）",
                "Check the match thresholds on this site's readers (the enrolled compared with one another; up to a minute)"
            )
        )
    };
    let body = format!("{verify}{thresholds}{}", audit_form(&state, &ctx, None));
    page(&state, &ctx, "/audit", l.t("操作履歴", "Operation history"), &body).await
}

pub async fn audit_search(S(state): St, headers: HeaderMap, axum::Form(f): Fm) -> Response {
    let form = Form(f);
    let (ctx, u) = match posted(&state, &headers, &form) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let l = ctx.lang();
    let (zone, _) = state.site().await;
    let mut body = audit_form(&state, &ctx, Some(&form));
    let filter = AuditFilter {
        person: form.opt("person"),
        place: form.opt("place"),
        kind: form.opt("kind"),
        from: form.opt("from"),
        until: form.opt("until"),
        limit: Some(1000),
    };
    match state.call(state.actor(&u), Request::AuditShow(filter)).await {
        Err(e) => body.push_str(&flash_html(l, &refusal_flash(l, &e))),
        Ok(v) => {
            let outcome = form.opt("outcome");
            let rows: Vec<Value> = arr(&v)
                .into_iter()
                .filter(|e| outcome.as_deref().is_none_or(|o| e["outcome"].as_str() == Some(o)))
                .collect();
            body.push_str(&table(
                l,
                zone,
                "events",
                &rows,
                &["seq", "time", "kind", "actor", "subject", "place", "outcome", "reason", "article"],
                None,
            ));
        }
    }
    page(&state, &ctx, "/audit", l.t("操作履歴", "Operation history"), &body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paged(offset: u32, rows: usize, total: u64) -> Paged {
        Paged { rows: vec![Value::Null; rows], total, offset }
    }

    #[test]
    fn the_pager_says_where_the_page_is_and_links_both_ways_keeping_the_search() {
        assert_eq!(pager(Lang::Ja, "p", &paged(0, 12, 12), "", "p", ("g", 0)), "", "one page: no pager");
        let first = pager(Lang::Ja, "p", &paged(0, 200, 10_000), "", "p", ("g", 400));
        assert!(first.contains("10000 件中 1–200 件を表示"), "{first}");
        assert!(first.contains("href=\"/people?p=200&amp;g=400\"") && first.contains(">次へ<"), "{first}");
        assert!(!first.contains("前へ"), "no previous page on the first: {first}");
        let last = pager(Lang::En, "p", &paged(9_800, 200, 10_000), "市民 課", "p", ("g", 0));
        assert!(
            last.contains("9801–10000 of 10000") && last.contains(">Previous<") && !last.contains("Next"),
            "{last}"
        );
        assert!(last.contains("p=9600&amp;g=0&amp;q=%E5%B8%82%E6%B0%91%20%E8%AA%B2"), "the search is kept: {last}");
    }
}
