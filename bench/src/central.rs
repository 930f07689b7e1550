//! Central ingest (issue 7): N nodes shipping their chains at once to a private PostgreSQL over TLS with
//! client certificates, each in batches as the shipper sends them; events per second, all nodes together.

use anyhow::Context;
use std::time::Instant;
use tobira_central::ShippedEvent;

/// A node's chain as the node hashes it: the centre recomputes every hash at ingest.
fn chain(node: usize, n: i64) -> Vec<ShippedEvent> {
    let id = format!("n{node:02}");
    let mut prev = [0u8; 32];
    (1..=n)
        .map(|seq| {
            let mut e = tobira_audit::EventRow {
                node: id.to_string(),
                seq,
                time: format!(
                    "2026-11-24T{:02}:{:02}:{:02}.000000000Z",
                    10 + seq / 3600 % 10,
                    (seq / 60) % 60,
                    seq % 60
                ),
                kind: "door.enter".into(),
                actor: Some(format!("op{:05}", seq % 10_000)),
                subject: Some(format!("op{:05}", seq % 10_000)),
                place: Some("server-door".into()),
                outcome: "granted".into(),
                reason: "GRANT_VALID".into(),
                article: Some("003 §13".into()),
                score: Some(0.61),
                details: r#"{"door":"server-door","zone":"server-room"}"#.into(),
                prev_hash: prev.to_vec(),
                hash: Vec::new(),
            }
            .into_event();
            e.hash = e.hash_on(&id);
            prev = e.hash;
            e
        })
        .collect()
}

pub fn run(nodes: usize, per_node: i64, batch: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let roles: Vec<String> = (0..nodes).map(|i| format!("node_n{i:02}")).collect();
        let role_refs: Vec<&str> = roles.iter().map(String::as_str).collect();
        let pg = tobira_central::testing::start_with(&role_refs, true).await.context("PostgreSQL 15 server binaries needed")?;
        let owner = pg.admin("tobira").await;
        tobira_central::migrate(&owner).await?;
        for (i, r) in roles.iter().enumerate() {
            tobira_central::register_node(&owner, &format!("n{i:02}"), r, &[i as u8; 32]).await?;
        }
        let chains: Vec<Vec<ShippedEvent>> = (0..nodes).map(|i| chain(i, per_node)).collect();
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, c) in chains.into_iter().enumerate() {
            let opts = pg.node_opts(&roles[i], &roles[i]);
            tasks.spawn(async move {
                let pool = sqlx::postgres::PgPoolOptions::new().max_connections(1).connect_with(opts).await?;
                let node = format!("n{i:02}");
                for b in c.chunks(batch) {
                    tobira_central::ingest(&pool, &node, b).await?;
                }
                anyhow::Ok(())
            });
        }
        while let Some(r) = tasks.join_next().await {
            r??;
        }
        let secs = t.elapsed().as_secs_f64();
        let total = nodes as f64 * per_node as f64;
        println!(
            "central ingest (PostgreSQL 15, fsync on, private instance): {nodes} nodes shipping at once over TLS, {per_node} events each in batches of {batch}: {:.0} events/s ({total} events in {secs:.2} s; goal ≥ 20,000/s)",
            total / secs
        );
        anyhow::Ok(())
    })
}
