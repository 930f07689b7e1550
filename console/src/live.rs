//! ホーム's live view (issue 18 "doors and readers live"): one poller asks the daemon for its devices, status
//! and open alarms every [`POLL`] while somebody watches, and every open home page receives what changed as
//! server-sent events (`/events`), rendered in its session's language. The daemon stays the only source: the
//! console keeps no door state of its own, and a daemon it cannot reach is said so, never guessed around.
//!
//! The words of each state are here, once, for the page's first render and for every event after it.

use crate::app::{State, secured};
use crate::i18n::Lang;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;
use tobira_proto::Request;
use tokio::sync::watch;

/// How often the daemon is asked while a home page is open: a door forced open shows within about this long.
pub const POLL: Duration = Duration::from_secs(1);

pub use crate::feed::{Latest, Live, Snapshot};

/// A receiver of every poll; starts the poller when nobody was watching.
fn watch(state: &Arc<State>) -> watch::Receiver<Latest> {
    let (rx, start) = state.live.subscribe();
    if start {
        tokio::spawn(poll(state.clone()));
    }
    rx
}

/// Asks the daemon every [`POLL`] while at least one page watches, then stops (no page open, no requests).
async fn poll(state: Arc<State>) {
    loop {
        let snap = snapshot(&state).await;
        state.live.publish(snap);
        tokio::time::sleep(POLL).await;
        if !state.live.keep_polling() {
            return;
        }
    }
}

/// One poll: devices (with each door's state), status (the counts) and the open alarms.
pub async fn snapshot(state: &State) -> Option<Snapshot> {
    let devices = state.call(None, Request::Devices).await.ok()?;
    let status = state.call(None, Request::Status).await.ok()?;
    let alarms = state.call(None, Request::AlarmList { all: false }).await.ok()?;
    Some(Snapshot { devices, status, open_alarms: alarms.as_array().cloned().unwrap_or_default() })
}

/// What one `/events` stream holds between updates.
struct Feed {
    state: Arc<State>,
    token: String,
    rx: watch::Receiver<Latest>,
    last: Option<Value>,
}

/// `/events`: the home page's server-sent events. Each poll that changes what this page shows is one `state`
/// event (the [`view`] as JSON); when the session ends (idle, signed out elsewhere) one `signedout` event, and
/// the stream closes so the page reloads and the sign-in page says why. Not counted as activity: an open
/// home page does not keep its session alive.
pub async fn events(axum::extract::State(state): axum::extract::State<Arc<State>>, headers: HeaderMap) -> Response {
    let Some(token) = crate::app::cookie_of(&headers) else {
        return secured(StatusCode::UNAUTHORIZED, ());
    };
    if state.sessions.peek(&token, Instant::now()).is_none() {
        return secured(StatusCode::UNAUTHORIZED, ());
    }
    let rx = watch(&state);
    let feed = Feed { state, token, rx, last: None };
    let stream = futures_util::stream::unfold(Some(feed), |feed| async move {
        let mut f = feed?;
        loop {
            // Only fresh polls: a value left from before the page was rendered would show an older state.
            if f.rx.changed().await.is_err() {
                return None;
            }
            let Some(lang) = f.state.sessions.peek(&f.token, Instant::now()) else {
                return Some((Ok::<_, Infallible>(Event::default().event("signedout").data("")), None));
            };
            let Some(snap) = f.rx.borrow_and_update().clone() else { continue };
            let v = view(lang, snap.as_deref());
            if f.last.as_ref() != Some(&v) {
                let ev = Event::default().event("state").data(v.to_string());
                f.last = Some(v);
                return Some((Ok(ev), Some(f)));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// A door's state as the page shows it: the word, and the class its colour comes from.
pub fn door(l: Lang, d: &Value, open_alarms: &[Value]) -> (&'static str, &'static str) {
    let id = d["id"].as_str().unwrap_or("");
    let state = d["state"].as_str();
    let alarm = open_alarms.iter().any(|a| a["place"].as_str() == Some(id));
    if d["healthy"] == Value::Bool(false) {
        return (l.t("オフライン", "offline"), "offline");
    }
    if alarm {
        let word = match state {
            Some("forced-open") => l.t("警報（強制開放）", "alarm (forced open)"),
            Some("held-open") => l.t("警報（開放時間超過）", "alarm (held open)"),
            Some("open" | "unlocked") => l.t("警報（開）", "alarm (open)"),
            _ => l.t("警報", "alarm"),
        };
        return (word, "alarm");
    }
    match state {
        Some("locked") => (l.t("施錠（正常）", "locked"), "locked"),
        Some("unlocked") => (l.t("解錠中", "unlocked"), "unlocked"),
        Some("open") => (l.t("開", "open"), "open"),
        // Acknowledged but still open: no longer an alarm, still not shut.
        Some("forced-open") => (l.t("開（強制開放・確認済）", "open (forced, acknowledged)"), "open"),
        Some("held-open") => (l.t("開（開放時間超過・確認済）", "open (held, acknowledged)"), "open"),
        _ => (l.t("不明", "unknown"), "unknown"),
    }
}

/// A reader's state: connected and answering, or not.
pub fn reader(l: Lang, r: &Value) -> (&'static str, &'static str) {
    if r["connected"] == Value::Bool(false) || r["healthy"] == Value::Bool(false) {
        (l.t("オフライン", "offline"), "offline")
    } else {
        (l.t("正常", "online"), "online")
    }
}

/// What one event carries to a page: each door's and reader's word and class, and the counts; or that the
/// daemon is lost.
pub fn view(l: Lang, snap: Option<&Snapshot>) -> Value {
    let Some(s) = snap else { return json!({"daemon": false}) };
    let arr = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let doors: Map<String, Value> = arr(&s.devices["doors"])
        .iter()
        .map(|d| {
            let (text, class) = door(l, d, &s.open_alarms);
            (d["id"].as_str().unwrap_or("").to_string(), json!({"text": text, "state": class}))
        })
        .collect();
    let readers: Map<String, Value> = arr(&s.devices["readers"])
        .iter()
        .map(|r| {
            let (text, class) = reader(l, r);
            (r["id"].as_str().unwrap_or("").to_string(), json!({"text": text, "state": class}))
        })
        .collect();
    json!({"daemon": true, "doors": doors, "readers": readers,
        "pending": s.status["pending_requests"], "open_alarms": s.status["open_alarms"]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(state: &str, healthy: bool, alarm_at: Option<&str>, reader_ok: bool) -> Snapshot {
        Snapshot {
            devices: json!({"doors": [{"id": "server-door", "healthy": healthy, "state": state}],
                "readers": [{"id": "t01-reader", "connected": true, "healthy": reader_ok}]}),
            status: json!({"pending_requests": 2, "open_alarms": alarm_at.map_or(0, |_| 1)}),
            open_alarms: alarm_at.map(|p| vec![json!({"id": 1, "place": p})]).unwrap_or_default(),
        }
    }

    fn door_of(v: &Value) -> (&str, &str) {
        let d = &v["doors"]["server-door"];
        (d["text"].as_str().unwrap(), d["state"].as_str().unwrap())
    }

    #[test]
    fn each_door_state_reads_in_both_languages() {
        let v = view(Lang::Ja, Some(&snap("locked", true, None, true)));
        assert_eq!(door_of(&v), ("施錠（正常）", "locked"));
        assert_eq!(v["readers"]["t01-reader"]["text"], "正常");
        assert_eq!((v["pending"].as_i64(), v["daemon"].as_bool()), (Some(2), Some(true)));
        assert_eq!(door_of(&view(Lang::Ja, Some(&snap("open", true, None, true)))), ("開", "open"));
        assert_eq!(door_of(&view(Lang::En, Some(&snap("unlocked", true, None, true)))), ("unlocked", "unlocked"));
        // Forced: an alarm while it lasts; acknowledged but still open, it says open.
        let forced = view(Lang::Ja, Some(&snap("forced-open", true, Some("server-door"), true)));
        assert_eq!(door_of(&forced), ("警報（強制開放）", "alarm"));
        let acked = view(Lang::En, Some(&snap("forced-open", true, None, true)));
        assert_eq!(door_of(&acked), ("open (forced, acknowledged)", "open"));
        // An alarm elsewhere is not this door's.
        assert_eq!(door_of(&view(Lang::Ja, Some(&snap("locked", true, Some("other-door"), true)))).1, "locked");
        // A controller that does not answer is offline, whatever its last state was.
        assert_eq!(
            door_of(&view(Lang::Ja, Some(&snap("open", false, Some("server-door"), true)))),
            ("オフライン", "offline")
        );
        let unplugged = view(Lang::En, Some(&snap("locked", true, None, false)));
        assert_eq!(unplugged["readers"]["t01-reader"], json!({"text": "offline", "state": "offline"}));
    }

    #[test]
    fn a_lost_daemon_is_said_not_guessed() {
        assert_eq!(view(Lang::Ja, None), json!({"daemon": false}));
    }
}
