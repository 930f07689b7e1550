//! Throughput figures for `tobira-bench audit`.

use crate::error::AuditError;
use crate::event::{NewEvent, Outcome};
use crate::store::AuditStore;
use std::path::Path;
use std::time::Instant;

fn event(i: usize) -> NewEvent {
    NewEvent::new(chrono::Utc::now(), "door.enter", Outcome::Granted, "GRANT_VALID")
        .actor(format!("op{:05}", i % 10_000))
        .subject(format!("op{:05}", i % 10_000))
        .place("server-door")
        .article("003 §13")
        .score(0.42)
        .details(serde_json::json!({"zone": "server-room", "reader": "server-in"}))
}

async fn store(dir: &Path) -> Result<AuditStore, AuditError> {
    AuditStore::create(&dir.join("audit.db"), "bench", &dir.join("audit-signing.key")).await
}

/// One writer awaiting each durable commit before the next append.
pub async fn appends_per_second_single(dir: &Path, n: usize) -> Result<f64, AuditError> {
    let s = store(dir).await?;
    let w = s.writer();
    let t = Instant::now();
    for i in 0..n {
        w.append(event(i)).await?;
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    s.close().await;
    Ok(rate)
}

/// `concurrency` appenders at once; the writer groups what is queued into one commit.
pub async fn appends_per_second_grouped(dir: &Path, n: usize, concurrency: usize) -> Result<f64, AuditError> {
    let s = store(dir).await?;
    let w = s.writer();
    let t = Instant::now();
    let per = n / concurrency.max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..concurrency.max(1) {
        let w = w.clone();
        tasks.spawn(async move {
            for i in 0..per {
                w.append(event(c * per + i)).await?;
            }
            Ok::<_, AuditError>(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.map_err(|e| AuditError::Write(e.to_string()))??;
    }
    let rate = (per * concurrency.max(1)) as f64 / t.elapsed().as_secs_f64();
    s.close().await;
    Ok(rate)
}
