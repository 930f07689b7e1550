//! The HTTP edge: routes, the session cookie, CSRF, security headers and the page layout.

use crate::daemon::{Daemon, unreachable};
use crate::html::esc;
use crate::i18n::{Lang, role};
use crate::session::{Flash, Found, Session, Sessions, User, same_secret};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::FixedOffset;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tobira_cli::client::ClientError;
use tobira_proto::{ActorClaim, ErrorCode, Request};

/// What the console needs to run; the binary fills it from its flags.
#[derive(Debug, Clone)]
pub struct Config {
    /// tobirad's control socket.
    pub socket: PathBuf,
    /// The reader of the terminal the console runs at: where people prove themselves (sign-in and acts).
    pub reader: String,
    /// Idle time after which a session ends (default 5 minutes).
    pub idle: Duration,
    /// Whether the console is served over TLS: cookies get `Secure`, answers `Strict-Transport-Security`.
    pub secure_cookies: bool,
}

pub struct State {
    pub cfg: Config,
    pub(crate) daemon: Daemon,
    pub sessions: Sessions,
    /// ホーム's live view: the poller's latest answer, for every open home page (`live`).
    pub(crate) live: crate::feed::Live,
    /// 照合情報の登録's enrolments under way, each relayed live to its page (`captures`).
    pub(crate) captures: crate::captures::Captures,
    /// The site's zone and name, from the daemon (`devices`), once reachable.
    site: RwLock<Option<(FixedOffset, String)>>,
    /// How long the daemon waits for a finger (the site's `capture_timeout_s`), read with the site's zone: the
    /// prompt while an act waits says how long is left (issue 22 "Prompts"). 0 until known.
    capture_s: std::sync::atomic::AtomicU64,
}

pub type AppState = Arc<State>;

const COOKIE: &str = "tobira_console";

/// No inline script or style anywhere; everything comes from this origin (issue 18).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

impl State {
    pub fn new(cfg: Config) -> Self {
        let daemon = Daemon::new(cfg.socket.clone());
        Self {
            sessions: Sessions::new(cfg.idle),
            cfg,
            daemon,
            live: Default::default(),
            captures: Default::default(),
            site: RwLock::new(None),
            capture_s: Default::default(),
        }
    }
}

pub(crate) fn asset(ctype: &'static str, body: &'static str) -> Response {
    let mut r = secured(StatusCode::OK, body);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r
}

/// Security headers on every answer.
pub(crate) fn secured(status: StatusCode, body: impl IntoResponse) -> Response {
    let mut r = (status, body).into_response();
    set_headers(&mut r);
    r
}

pub(crate) async fn harden(mut r: Response) -> Response {
    set_headers(&mut r);
    r
}

/// `Strict-Transport-Security` on every answer over TLS: a year, so a browser that once reached the console
/// over HTTPS never sends its cookie or a form over plain HTTP to it again.
pub(crate) async fn hsts(mut r: Response) -> Response {
    r.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000"));
    r
}

fn set_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// One request's view of its session.
pub struct Ctx {
    pub token: String,
    pub session: Session,
    pub found: Found,
    set_cookie: bool,
    pub flash: Option<Flash>,
}

impl Ctx {
    pub fn lang(&self) -> Lang {
        self.session.lang
    }
    pub fn user(&self) -> Option<&User> {
        self.session.user.as_ref()
    }
}

pub(crate) fn cookie_of(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == COOKIE).then(|| v.to_string())
    })
}

impl State {
    pub fn ctx(&self, headers: &HeaderMap, touch: bool) -> Ctx {
        let cookie = cookie_of(headers);
        let (token, session, found) = self.sessions.open(cookie.as_deref(), Instant::now(), touch);
        let set_cookie = cookie.as_deref() != Some(token.as_str());
        let flash = self.sessions.take_flash(&token);
        Ctx { token, session, found, set_cookie, flash }
    }

    pub fn cookie(&self, token: &str) -> HeaderValue {
        let secure = if self.cfg.secure_cookies { "; Secure" } else { "" };
        HeaderValue::from_str(&format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"))
            .unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The signed-in person as the actor of an act: they prove themselves again at the console's reader.
    pub fn actor(&self, u: &User) -> Option<ActorClaim> {
        Some(ActorClaim { id: u.id.clone(), reader: Some(self.cfg.reader.clone()) })
    }

    pub(crate) async fn call(&self, actor: Option<ActorClaim>, req: Request) -> Result<serde_json::Value, ClientError> {
        self.daemon.call(actor, req).await
    }

    /// [`State::call`], with each of the daemon's progress frames handed to `on_step` as it arrives.
    pub(crate) async fn call_progress(
        &self,
        actor: Option<ActorClaim>,
        req: Request,
        on_step: impl FnMut(serde_json::Value) + Send + 'static,
    ) -> Result<serde_json::Value, ClientError> {
        self.daemon.call_progress(actor, req, on_step).await
    }

    /// The site's zone (for every time shown) and name, asked of the daemon once.
    pub async fn site(&self) -> (FixedOffset, String) {
        if let Some(s) = self.site.read().ok().and_then(|s| s.clone()) {
            return s;
        }
        let utc = FixedOffset::east_opt(0).unwrap_or_else(|| unreachable!());
        match self.call(None, Request::Devices).await {
            Ok(v) => {
                let zone = v["utc_offset"]
                    .as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(&format!("2000-01-01T00:00:00{s}")).ok())
                    .map(|t| *t.offset())
                    .unwrap_or(utc);
                let site = (zone, v["name"].as_str().unwrap_or("").to_string());
                if let Some(t) = v["capture_timeout_s"].as_u64() {
                    self.capture_s.store(t, std::sync::atomic::Ordering::Relaxed);
                }
                if let Ok(mut s) = self.site.write() {
                    *s = Some(site.clone());
                }
                site
            }
            Err(_) => (utc, String::new()),
        }
    }

    pub fn check_csrf(&self, ctx: &Ctx, form: &Form) -> bool {
        form.get("csrf").is_some_and(|t| same_secret(t, &ctx.session.csrf))
    }
}

/// A submitted form as its pairs (repeated keys kept).
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
    }
    /// The value, trimmed; empty as `None`.
    pub fn opt(&self, k: &str) -> Option<String> {
        self.get(k).map(str::trim).filter(|s| !s.is_empty()).map(String::from)
    }
    pub fn text(&self, k: &str) -> String {
        self.opt(k).unwrap_or_default()
    }
    pub fn all(&self, k: &str) -> Vec<String> {
        self.0.iter().filter(|(a, v)| a == k && !v.trim().is_empty()).map(|(_, v)| v.trim().to_string()).collect()
    }
    /// A comma- or 、-separated list.
    pub fn list(&self, k: &str) -> Vec<String> {
        self.text(k).split([',', '、']).map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
    }
}

/// A redirect (after an act, sign-in or sign-out) that also sets the session cookie when it changed.
pub fn see_other(state: &State, ctx: &Ctx, to: &str) -> Response {
    let mut r = secured(StatusCode::SEE_OTHER, ());
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if ctx.set_cookie {
        r.headers_mut().insert(header::SET_COOKIE, state.cookie(&ctx.token));
    }
    r
}

pub fn refusal_flash(l: Lang, e: &ClientError) -> Flash {
    if unreachable(e) {
        return Flash::Refused {
            code: l.t("デーモンに接続できません", "daemon unreachable").into(),
            message: l
                .t("tobirad に接続できません。何も実行されていません。", "tobirad cannot be reached: nothing was done.")
                .into(),
        };
    }
    match e {
        ClientError::Refused { code, message } => {
            Flash::Refused { code: code_word(l, *code).into(), message: message.clone() }
        }
        other => Flash::Refused { code: l.t("エラー", "error").into(), message: other.to_string() },
    }
}

fn code_word(l: Lang, c: ErrorCode) -> &'static str {
    match c {
        ErrorCode::Denied => l.t("拒否（権限なし・本人確認不成立）", "refused (no authority or proof failed)"),
        ErrorCode::Forbidden => {
            l.t("拒否（権限外：警報として記録）", "refused (beyond authority: recorded as an incident)")
        }
        ErrorCode::BadRequest => l.t("入力に誤りがあります", "bad input"),
        ErrorCode::NotFound => l.t("見つかりません", "not found"),
        ErrorCode::Conflict => l.t("競合（既に処理済み）", "conflict (already decided)"),
        ErrorCode::Unavailable => l.t("記録できないため実行していません", "cannot be recorded: nothing was done"),
        ErrorCode::Busy => l.t("混雑", "busy"),
        _ => l.t("拒否", "refused"),
    }
}

/// The flash box: done, or the refusal with its reason and the articles it cites.
pub fn flash_html(l: Lang, f: &Flash) -> String {
    match f {
        Flash::Done(m) => format!("<div class=\"flash done\" role=\"status\">{}</div>", esc(m)),
        Flash::Refused { code, message } => {
            let arts = crate::html::articles(message);
            let arts = if arts.is_empty() {
                String::new()
            } else {
                format!(
                    "<p class=\"article\">{}: <strong>{}</strong></p>",
                    l.t("根拠条項", "article"),
                    esc(&arts.join(" / "))
                )
            };
            format!(
                "<div class=\"flash refused\" role=\"alert\"><p><strong>{}</strong></p><p class=\"reason\">{}</p>{arts}</div>",
                esc(code),
                esc(message)
            )
        }
    }
}

/// Pages in the navigation: path, Japanese, English, and the roles it is shown to (empty: everyone signed in).
/// Display only: the daemon decides every request again.
pub const NAV: &[(&str, &str, &str, &[&str])] = &[
    ("/", "ホーム", "Home", &[]),
    ("/requests", "申請と承認", "Requests", &[]),
    ("/alarms", "警報", "Alarms", &["system-administrator", "security-manager"]),
    (
        "/ledgers",
        "帳票",
        "Ledgers",
        &["system-administrator", "site-administrator", "security-manager", "security-director", "data-manager"],
    ),
    ("/people", "職員 / 権限", "People & grants", &[]),
    ("/enroll", "照合情報の登録", "Enrolment", &["system-administrator", "site-administrator", "security-manager"]),
    ("/visits", "業者の来訪 / 時間外利用", "Visits & off-hours", &["system-administrator"]),
    (
        "/audit",
        "操作履歴",
        "Audit",
        &["system-administrator", "site-administrator", "security-manager", "security-director", "data-manager"],
    ),
];

pub fn may_see(u: &User, roles: &[&str]) -> bool {
    roles.is_empty() || roles.iter().any(|r| u.has(r))
}

/// A full page: header with the site, the navigation for the person's roles, who is signed in, the
/// language switch; then the flash and the body.
pub async fn page(state: &State, ctx: &Ctx, path: &str, title: &str, body: &str) -> Response {
    let l = ctx.lang();
    let (zone, site) = state.site().await;
    let mut h = String::with_capacity(body.len() + 4096);
    // Every time on every page is the site's, to the second; the zone is named once, here (issue 22 "Times").
    let zone = tobira_ledger::zone_name(zone);
    h.push_str(&format!(
        "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>{} — tobira</title><link rel=\"stylesheet\" href=\"/static/console.css\"><script src=\"/static/console.js\" defer></script></head>\n<body>\n<header class=\"top\"><div class=\"brand\">扉 tobira <span class=\"site\">{}</span> <span class=\"tz\" id=\"site-tz\">{}</span></div>",
        l.code(),
        esc(title),
        esc(&site),
        esc(&format!("{} {zone}", l.t("時刻:", "times in")))
    ));
    if let Some(u) = ctx.user() {
        h.push_str("<nav>");
        for (p, ja, en, roles) in NAV {
            if may_see(u, roles) {
                let cur = if *p == path { " aria-current=\"page\"" } else { "" };
                h.push_str(&format!("<a href=\"{p}\"{cur}>{}</a>", esc(l.t(ja, en))));
            }
        }
        h.push_str("</nav>");
        let roles: Vec<String> = u.roles.iter().map(|r| role(l, r)).collect();
        h.push_str(&format!(
            "<div class=\"who\"><span id=\"who\" data-user=\"{}\">{} ({})</span> <span class=\"roles\">{}</span>\
<form method=\"post\" action=\"/signout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">{}</button></form></div>",
            esc(&u.id),
            esc(&u.name),
            esc(&u.affiliation),
            esc(&roles.join("・")),
            esc(&ctx.session.csrf),
            l.t("サインアウト", "Sign out")
        ));
    }
    h.push_str(&format!(
        "<div class=\"lang\"><a href=\"/lang/{}?back={}\">{}</a></div></header>\n",
        l.other().code(),
        esc(path),
        l.t("English", "日本語")
    ));
    h.push_str("<div id=\"lost\" class=\"flash refused\" hidden>");
    h.push_str(l.t(
        "tobirad との接続が切れました。接続が戻るまで何も実行できません。",
        "The console has lost tobirad: nothing can be done until it is back.",
    ));
    h.push_str("</div>\n<main>\n");
    h.push_str(&format!("<h1>{}</h1>\n", esc(title)));
    if let Some(f) = &ctx.flash {
        h.push_str(&flash_html(l, f));
    }
    h.push_str(body);
    h.push_str("\n</main>\n<div id=\"proving\" class=\"proving\" hidden><p>");
    // Who must place a finger, where, and how long is left (issue 22 "Prompts"); the script counts down.
    let secs = state.capture_s.load(std::sync::atomic::Ordering::Relaxed);
    let left = if secs > 0 {
        format!(
            "{}<span id=\"proving-left\" data-seconds=\"{secs}\">{secs}</span>{}",
            l.t("あと", ""),
            l.t("秒", " s left")
        )
    } else {
        String::new()
    };
    match ctx.user() {
        Some(u) => h.push_str(&format!(
            "{}{} {} <strong>{}</strong> {}{}{}",
            esc(&u.name),
            l.t("さん:", ":"),
            l.t("読取装置", "place your finger on the reader"),
            esc(&state.cfg.reader),
            l.t("に指を置いてください（本人確認", "to prove it is you ("),
            left,
            l.t("）。", ").")
        )),
        None => h.push_str(&format!(
            "{} <strong>{}</strong> {}{}{}",
            l.t("読取装置", "Place your finger on the reader"),
            esc(&state.cfg.reader),
            l.t("に指を置いてください（本人確認", "to prove it is you ("),
            left,
            l.t("）。", ").")
        )),
    }
    h.push_str("</p></div>\n</body></html>\n");
    let mut r = secured(StatusCode::OK, h);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if ctx.set_cookie {
        r.headers_mut().insert(header::SET_COOKIE, state.cookie(&ctx.token));
    }
    r
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(ctx: &Ctx) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(&ctx.session.csrf))
}

/// The line under an act's button: it will ask for the finger again.
pub fn proof_note(state: &State, l: Lang) -> String {
    format!(
        "<p class=\"proof\">{} {} {}</p>",
        l.t("実行時に読取装置", "On submitting, place your finger on"),
        esc(&state.cfg.reader),
        l.t("で本人確認を行います（003 §7）。", "to prove it is you (003 §7).")
    )
}
