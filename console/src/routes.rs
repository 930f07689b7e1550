//! The console's routes: each path to its page in `pages`.

use crate::app::{Config, State, asset, secured};
use crate::pages::*;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use std::sync::Arc;

pub fn router(cfg: Config) -> Router {
    router_for(Arc::new(State::new(cfg)))
}

/// The routes over a state the caller keeps (the page-timing bench signs a session in directly).
pub fn router_for(state: Arc<State>) -> Router {
    let tls = state.cfg.secure_cookies;
    let r = Router::new()
        .route("/", get(home))
        .route("/events", get(crate::live::events))
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
        .route("/enroll/progress", get(crate::enrol_events::events))
        .route("/visits", get(visits).post(visit_add))
        .route("/offhours", post(off_hours_add))
        .route("/audit", get(audit).post(audit_search))
        .route("/static/console.js", get(|| async { asset("text/javascript", include_str!("../static/console.js")) }))
        .route("/static/console.css", get(|| async { asset("text/css", include_str!("../static/console.css")) }))
        .fallback(|| async { secured(StatusCode::NOT_FOUND, "not found").into_response() })
        // Answers axum makes itself (a form it cannot decode, a path parameter of the wrong type) get the
        // same headers as the pages.
        .layer(axum::middleware::map_response(crate::app::harden))
        .with_state(state);
    // Over HTTPS the browser is told to come back only over HTTPS (HSTS); never over 127.0.0.1's plain HTTP,
    // where the header would mean nothing and could only stick to a name later served otherwise.
    if tls { r.layer(axum::middleware::map_response(crate::app::hsts)) } else { r }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn serve() -> u16 {
        let cfg = Config {
            // Nobody listens here: the console has lost (never had) its daemon.
            socket: std::env::temp_dir().join(format!("tobira-console-test-{}.sock", std::process::id())),
            reader: "t01-reader".into(),
            idle: Duration::from_secs(300),
            secure_cookies: false,
        };
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(l, router(cfg)).await });
        port
    }

    async fn http(port: u16, req: String) -> String {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    fn get(path: &str, cookie: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")
    }

    fn post(path: &str, cookie: &str, body: &str) -> String {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[tokio::test]
    async fn every_answer_is_hardened_and_a_lost_daemon_acts_on_nothing() {
        let port = serve().await;
        let page = http(port, get("/signin", "")).await;
        assert!(page.starts_with("HTTP/1.1 200"), "{page}");
        assert!(page.contains("content-security-policy: default-src 'none'; script-src 'self'"));
        let cookie_line = page.lines().find(|l| l.starts_with("set-cookie: ")).unwrap();
        assert!(cookie_line.ends_with("; Path=/; HttpOnly; SameSite=Strict"), "{cookie_line}");
        let cookie = cookie_line["set-cookie: ".len()..].split(';').next().unwrap();
        let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap();

        // Pages need a session: back to sign-in.
        let r = http(port, get("/people", cookie)).await;
        assert!(r.starts_with("HTTP/1.1 303") && r.contains("location: /signin"), "{r}");
        // A form without its session's token: refused before anything is sent.
        let r = http(port, post("/signin", cookie, "user=takahashi&csrf=00")).await;
        assert!(r.starts_with("HTTP/1.1 403"), "{r}");
        // With it, the console says it cannot reach tobirad and nobody is signed in.
        let r = http(port, post("/signin", cookie, &format!("user=takahashi&csrf={csrf}"))).await;
        assert!(r.contains("location: /signin"), "{r}");
        let r = http(port, get("/signin", cookie)).await;
        assert!(r.contains("tobirad に接続できません。何も実行されていません。"), "{r}");
        assert!(http(port, get("/", cookie)).await.contains("location: /signin"), "still signed out");
        // What axum answers itself carries the same headers.
        let r = http(port, post("/alarms/not-a-number/ack", cookie, "")).await;
        assert!(r.contains("content-security-policy:"), "{r}");
        let r = http(port, get("/nowhere", cookie)).await;
        assert!(r.starts_with("HTTP/1.1 404") && r.contains("x-frame-options: DENY"), "{r}");
    }
}
