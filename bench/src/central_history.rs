//! An auditor's questions over seven years of a city's audit (issue 7 §5): a generated history of N nodes ×
//! Y years (office-hours events, real chain hashes, operators who mostly work at their home node), loaded
//! into a private PostgreSQL with the central schema and its indexes, then the questions an auditor asks —
//! one person over one year across all nodes, one place over one month — through the same code as
//! `tobira-central audit show` (each question recorded in `record_views`). Prints p50/p99.
//!
//! The load uses COPY with the per-row ingest checks switched off (`session_replication_role = replica`):
//! the checks are what `tobira-bench central` measures; here the point is the size of the history.

use crate::interrupt;
use crate::stats::{fmt, summarize};
use anyhow::Context;
use chrono::{Duration as Days, NaiveDate, TimeZone, Utc};
use std::time::Instant;
use tobira_central::query::{Question, ask};

const KINDS: [(&str, &str, &str, &str); 4] = [
    ("login", "granted", "GRANT_VALID", "004 §2(9)"),
    ("door.enter", "granted", "GRANT_VALID", "003 §13"),
    ("door.exit", "info", "EXIT", "003 §13"),
    ("login", "denied", "NO_MATCH", "004 §2(9)"),
];

/// A tiny deterministic generator (the history must be the same on every run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn hexb(b: &[u8]) -> String {
    let mut s = String::with_capacity(4 + b.len() * 2);
    s.push_str("\\\\x");
    s.push_str(&hex_lower(b));
    s
}

fn hex_lower(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(H[(x >> 4) as usize] as char);
        s.push(H[(x & 15) as usize] as char);
    }
    s
}

pub fn run(nodes: usize, years: u32, per_day: u32, people: u32, queries: usize) -> anyhow::Result<()> {
    interrupt::install();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let pg = tobira_central::testing::start_with(&[], true).await.context("PostgreSQL 15 server binaries needed")?;
        let owner = pg.admin("tobira").await;
        tobira_central::migrate(&owner).await?;
        for n in 0..nodes {
            tobira_central::register_node(&owner, &format!("node-{n:02}"), &format!("node_{n:02}"), &[n as u8; 32]).await?;
        }
        let days = i64::from(years) * 365;
        let start = NaiveDate::from_ymd_opt(2019, 4, 1).context("date")?;
        let total = nodes as u64 * days as u64 * u64::from(per_day);
        println!(
            "central history: {nodes} nodes × {years} years × {per_day} events a day = {total} events, {people} people; loading…"
        );
        let t_load = Instant::now();
        let mut conn = owner.acquire().await?;
        sqlx::query("SET session_replication_role = replica").execute(&mut *conn).await?;
        let mut loaded: u64 = 0;
        for n in 0..nodes {
            if interrupt::requested() {
                anyhow::bail!("interrupted after {loaded} events");
            }
            let node = format!("node-{n:02}");
            let mut rng = Lcg(n as u64 + 1);
            let mut prev = [0u8; 32];
            let mut seq: i64 = 0;
            let mut copy = conn
                .copy_in_raw("COPY audit_events(node, seq, time, received_at, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, hash) FROM STDIN")
                .await?;
            let mut buf = String::with_capacity(1 << 22);
            for day in 0..days {
                let date = start + Days::days(day);
                for i in 0..per_day {
                    seq += 1;
                    // Office hours 08:30–18:00 JST (23:30–09:00 UTC the day before / of).
                    let secs = 8 * 3600 + 1800 + (i64::from(i) * 34_200 / i64::from(per_day.max(1))) + (rng.next() % 30) as i64;
                    let jst = Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).context("time")?.checked_add_signed(Days::seconds(secs)).context("time")?)
                        - Days::hours(9);
                    let time = tobira_audit::time_text(jst);
                    // 80 % of a node's events are its own operators', 20 % visitors from elsewhere.
                    let r = rng.next();
                    let person = if r.is_multiple_of(5) {
                        (rng.next() % u64::from(people)) as u32
                    } else {
                        let home = (u64::from(people) / nodes as u64).max(1);
                        ((rng.next() % home) * nodes as u64 + n as u64) as u32 % people
                    };
                    let who = format!("op{person:05}");
                    let (kind, outcome, reason, article) = KINDS[(r % 4) as usize];
                    let place = if kind == "login" { format!("terminal:{node}-t{:02}", r % 8) } else { format!("{node}-server-door") };
                    let score = 0.3 + (r % 700) as f64 / 1000.0;
                    let details = format!("{{\"door\":\"{place}\"}}");
                    let hash = tobira_audit::canonical_hash(
                        &node,
                        &time,
                        kind,
                        Some(&who),
                        Some(&who),
                        Some(&place),
                        outcome,
                        reason,
                        Some(article),
                        Some(score),
                        &details,
                        &prev,
                    );
                    buf.push_str(&format!(
                        "{node}\t{seq}\t{time}\t{time}\t{kind}\t{who}\t{who}\t{place}\t{outcome}\t{reason}\t{article}\t{score}\t{details}\t{}\t{}\n",
                        hexb(&prev),
                        hexb(&hash)
                    ));
                    prev = hash;
                }
                if buf.len() > (1 << 22) - 4096 {
                    copy.send(buf.as_bytes()).await?;
                    buf.clear();
                }
            }
            copy.send(buf.as_bytes()).await?;
            loaded += copy.finish().await?;
            eprint!("\r  loaded {loaded}/{total} events ({:.0}/s)   ", loaded as f64 / t_load.elapsed().as_secs_f64());
        }
        eprintln!();
        sqlx::query("SET session_replication_role = origin").execute(&mut *conn).await?;
        drop(conn);
        sqlx::query("ANALYZE audit_events").execute(&owner).await?;
        let size: String = sqlx::query_scalar("SELECT pg_size_pretty(pg_total_relation_size('audit_events'))").fetch_one(&owner).await?;
        println!("  loaded in {:.0} s; audit_events with indexes: {size}", t_load.elapsed().as_secs_f64());

        // One person, one year, all nodes.
        let mut lat = Vec::with_capacity(queries);
        let mut rows_seen = 0usize;
        let mut rng = Lcg(99);
        for k in 0..queries {
            if interrupt::requested() {
                break;
            }
            let who = format!("op{:05}", rng.next() % u64::from(people));
            let year = 2019 + (k as i32 % years.max(1) as i32);
            let q = Question {
                person: Some(who),
                from: Some(format!("{year}-04-01T00:00:00.000000000Z")),
                until: Some(format!("{}-04-01T00:00:00.000000000Z", year + 1)),
                limit: Some(100_000),
                ..Default::default()
            };
            let t = Instant::now();
            let rows = ask(&owner, "bench-auditor", &q).await?;
            lat.push(t.elapsed());
            rows_seen += rows.len();
        }
        let s = summarize(lat);
        println!(
            "auditor's query, one person × one year × all {nodes} nodes ({} queries, {:.0} events each on average): p50 {}, p99 {}, max {} (goal p99 ≤ 200 ms)",
            s.n,
            rows_seen as f64 / s.n.max(1) as f64,
            fmt(s.p50),
            fmt(s.p99),
            fmt(s.max)
        );
        // One server room, one month (the entry/exit ledger's question).
        let mut lat = Vec::with_capacity(queries);
        let mut rows_seen = 0usize;
        for k in 0..queries {
            if interrupt::requested() {
                break;
            }
            let n = k % nodes;
            let month = 1 + (k % 12) as u32;
            let year = 2019 + (k as i32 % years.max(1) as i32) + i32::from(month < 4);
            let from = NaiveDate::from_ymd_opt(year, month, 1).context("date")?;
            let until = from + chrono::Months::new(1);
            let q = Question {
                place: Some(format!("node-{n:02}-server-door")),
                from: Some(format!("{from}T00:00:00.000000000Z")),
                until: Some(format!("{until}T00:00:00.000000000Z")),
                limit: Some(100_000),
                ..Default::default()
            };
            let t = Instant::now();
            rows_seen += ask(&owner, "bench-auditor", &q).await?.len();
            lat.push(t.elapsed());
        }
        let s = summarize(lat);
        println!(
            "auditor's query, one server-room door × one month ({} queries, {:.0} events each on average): p50 {}, p99 {}",
            s.n,
            rows_seen as f64 / s.n.max(1) as f64,
            fmt(s.p50),
            fmt(s.p99)
        );
        anyhow::Ok(())
    })
}
