//! Page timings of the web console (issue 18): the real `tobirad` on a site of N people (each enrolled and
//! granted the server room) and a year of door events in its audit store, and `tobira-console`'s router
//! served in this process on 127.0.0.1. Each page is fetched over HTTP as a signed-in system administrator
//! (the session is signed in directly: the pages timed are the ones that need no finger, so no capture is
//! in the figures), N times; median and p95 per page.

use crate::stats::fmt;
use anyhow::Context;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tobira_audit::{NewEvent, Outcome};

/// The console's pages that show the daemon's answers without a proof.
const PAGES: [(&str, &str); 10] = [
    ("/", "ホーム"),
    ("/people", "職員 / 権限"),
    ("/people?p=9800&g=9800", "職員 (last page)"),
    ("/requests", "申請と承認"),
    ("/alarms", "警報"),
    ("/enroll", "照合情報の登録"),
    ("/visits", "業者の来訪"),
    ("/audit", "操作履歴"),
    ("/audit?verify=1", "監査記録の検証"),
    ("/people?q=op00042", "職員 (search)"),
];

/// A year of door decisions: `per_day` on each of 365 days, spread over the N people.
async fn year_of_events(data: &std::path::Path, people: usize, per_day: usize) -> anyhow::Result<usize> {
    let s = tobira_audit::AuditStore::open(&data.join("audit.db"), &data.join("audit-signing.key")).await?;
    let w = s.writer();
    let start = chrono::Utc::now() - chrono::Duration::days(365);
    let n = 365 * per_day;
    let mut tasks = tokio::task::JoinSet::new();
    let workers = 64;
    for k in 0..workers {
        let w = w.clone();
        tasks.spawn(async move {
            for i in (k..n).step_by(workers) {
                let who = format!("op{:05}", (i * 7919) % people.max(1));
                let at = start + chrono::Duration::seconds((i as i64) * 86_400 / per_day as i64);
                w.append(
                    NewEvent::new(at, "door.decision", Outcome::Granted, "GRANT_VALID")
                        .subject(who)
                        .place("server-door")
                        .article("003 §13")
                        .score(0.9)
                        .details(serde_json::json!({"reader": "server-in"})),
                )
                .await?;
            }
            Ok::<_, tobira_audit::AuditError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    s.close().await;
    Ok(n)
}

fn get(port: u16, path: &str, cookie: &str) -> anyhow::Result<usize> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    anyhow::ensure!(
        raw.starts_with(b"HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(&raw[..raw.len().min(200)])
    );
    Ok(raw.len())
}

pub fn run(people: usize, per_day: usize, rounds: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Nobody is presented: every template from the fast generator.
    rt.block_on(crate::door::populate(dir.path(), people, &Default::default()))?;
    let data = dir.path().join("data");
    let events = rt.block_on(year_of_events(&data, people, per_day))?;
    let site = dir.path().join("site.toml");
    std::fs::write(&site, tobira_cli::demo::DEMO_SITE)?;
    let (mut child, _client, _) = crate::door::start_daemon(&site, &data)?;
    let result = (|| -> anyhow::Result<()> {
        let state = Arc::new(tobira_console::State::new(tobira_console::Config {
            socket: data.join("control.sock"),
            reader: "t01-reader".into(),
            idle: Duration::from_secs(3600),
            secure_cookies: false,
        }));
        let (anon, _, _) = state.sessions.open(None, Instant::now(), true);
        let user = tobira_console::session::User {
            id: "takahashi".into(),
            name: "高橋".into(),
            affiliation: String::new(),
            roles: vec!["system-administrator".into()],
        };
        let token = state.sessions.sign_in(&anon, user, Instant::now());
        let cookie = format!("tobira_console={token}");
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let port = listener.local_addr()?.port();
        let app = tobira_console::router_for(state);
        rt.spawn(async move { axum::serve(listener, app).await });
        println!(
            "console pages: {people} people (each enrolled and granted), {events} audit events (a year, {per_day}/day), {rounds} fetches each"
        );
        println!("  {:<22} {:>10} {:>10} {:>10}", "page", "median", "p95", "bytes");
        for (path, name) in PAGES {
            get(port, path, &cookie).with_context(|| format!("warming {path}"))?;
            let mut times = Vec::with_capacity(rounds);
            let mut bytes = 0;
            for _ in 0..rounds {
                let t = Instant::now();
                bytes = get(port, path, &cookie)?;
                times.push(t.elapsed());
            }
            times.sort_unstable();
            let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
            println!("  {:<22} {:>10} {:>10} {:>10}", format!("{path} {name}"), fmt(at(0.5)), fmt(at(0.95)), bytes);
        }
        Ok(())
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
