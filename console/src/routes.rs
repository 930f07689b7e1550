//! The console's routes: each path to its page in `pages`.

use crate::app::{Config, State, asset, secured};
use crate::pages::*;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::sync::Arc;

pub fn router(cfg: Config) -> Router {
    let state = Arc::new(State::new(cfg));
    Router::new()
        .route("/", get(home))
        .route("/live", get(live))
        .route("/signin", get(sign_in_page).post(sign_in))
        .route("/signout", post(sign_out))
        .route("/lang/{code}", get(set_lang))
        .route("/requests", get(requests))
        .route("/requests/{id}/{decision}", post(decide))
        .route("/alarms", get(alarms))
        .route("/alarms/{id}/ack", post(ack))
        .route("/ledgers", get(ledgers).post(ledger_view))
        .route("/ledgers.csv", post(ledger_csv))
        .route("/people", get(people).post(person_add))
        .route("/people/delete", post(person_delete))
        .route("/grants", post(grant_add))
        .route("/grants/{id}/revoke", post(grant_revoke))
        .route("/enroll", get(enroll_page).post(enroll))
        .route("/visits", get(visits).post(visit_add))
        .route("/offhours", post(off_hours_add))
        .route("/audit", get(audit).post(audit_search))
        .route("/static/console.js", get(|| async { asset("text/javascript", include_str!("../static/console.js")) }))
        .route("/static/console.css", get(|| async { asset("text/css", include_str!("../static/console.css")) }))
        .fallback(|| async { secured(StatusCode::NOT_FOUND, "not found").into_response() })
        .with_state(state)
}
