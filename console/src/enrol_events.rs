//! `/enroll/progress`: an enrolment's steps as server-sent events, from the hub in [`crate::captures`].

use crate::app::{State, secured};
use crate::captures::{valid_job, words};
use axum::extract::{Query, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

/// `/enroll/progress?job=…`: the session's enrolment `job`, one `step` event per step (`{"text", "class"}`,
/// in the session's language) and a `done` event once the daemon answered. Not counted as activity.
pub async fn events(S(state): S<Arc<State>>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(token) = crate::app::cookie_of(&headers) else {
        return secured(StatusCode::UNAUTHORIZED, ());
    };
    let Some(lang) = state.sessions.peek(&token, Instant::now()) else {
        return secured(StatusCode::UNAUTHORIZED, ());
    };
    let Some(job) = q.get("job").filter(|j| valid_job(j)).cloned() else {
        return secured(StatusCode::BAD_REQUEST, ());
    };
    let mut rx = state.captures.join(&token, &job).subscribe();
    rx.mark_changed();
    // (the receiver, steps sent so far, events to send, whether the answer came)
    let start = (rx, 0usize, std::collections::VecDeque::<Event>::new(), false);
    let stream = futures_util::stream::unfold(start, move |(mut rx, mut sent, mut queue, mut done)| {
        let (state, token, job) = (state.clone(), token.clone(), job.clone());
        async move {
            loop {
                if let Some(ev) = queue.pop_front() {
                    return Some((Ok::<_, Infallible>(ev), (rx, sent, queue, done)));
                }
                // Every step and `done` sent: the stream ends, and the job with it.
                if done {
                    state.captures.finished(&token, &job);
                    return None;
                }
                if rx.changed().await.is_err() {
                    return None;
                }
                let job = rx.borrow_and_update().clone();
                for s in job.steps.iter().skip(sent) {
                    if let Some((text, class)) = words(lang, s) {
                        let data = json!({"text": text, "class": class}).to_string();
                        queue.push_back(Event::default().event("step").data(data));
                    }
                }
                sent = job.steps.len();
                if job.done {
                    queue.push_back(Event::default().event("done").data("{}"));
                    done = true;
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}
