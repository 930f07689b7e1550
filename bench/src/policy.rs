//! Policy decision time over the demo site with a realistic registry.

use crate::stats::{fmt, summarize};
use chrono::{DateTime, Duration as CDuration, Utc};
use std::time::Instant;
use tobira_core::ids::*;
use tobira_core::lockout::LockoutBook;
use tobira_core::model::{Grant, Person, Place, Registry, Role, Schedule};
use tobira_core::occupancy::{EscortLog, Occupancy};
use tobira_core::policy::{Context, Request, decide};

pub fn registry(n: usize, now: DateTime<Utc>) -> anyhow::Result<Registry> {
    let site = tobira_core::site::parse_site("config/demo.toml", tobira_cli::demo::DEMO_SITE)?;
    let mut people = std::collections::BTreeMap::new();
    let mut grants = Vec::new();
    let admin = PersonId::new("takahashi");
    let dm = PersonId::new("suzuki");
    for (id, role) in [(&admin, Role::SystemAdministrator), (&dm, Role::DataManager)] {
        people.insert(
            id.clone(),
            Person {
                id: id.clone(),
                match_id: MatchId::new(format!("m-{id}")),
                name: id.to_string(),
                affiliation: String::new(),
                roles: vec![role],
                appointment_end: None,
                active: true,
            },
        );
    }
    for i in 0..n {
        let id = PersonId::new(format!("op{i:05}"));
        people.insert(
            id.clone(),
            Person {
                id: id.clone(),
                match_id: MatchId::new(format!("m{i}")),
                name: format!("op {i}"),
                affiliation: String::new(),
                roles: vec![Role::Operator],
                appointment_end: None,
                active: true,
            },
        );
        grants.push(Grant {
            id: GrantId::new(format!("gt{i}")),
            holder: id.clone(),
            place: Place::Terminal(TerminalId::new("t-01")),
            issued_by: admin.clone(),
            issuer_role: Role::SystemAdministrator,
            valid_from: now - CDuration::days(30),
            valid_until: now + CDuration::days(300),
            schedule: Schedule::Always,
        });
        if i.is_multiple_of(10) {
            grants.push(Grant {
                id: GrantId::new(format!("gz{i}")),
                holder: id.clone(),
                place: Place::Zone(ZoneId::new("server-room")),
                issued_by: dm.clone(),
                issuer_role: Role::DataManager,
                valid_from: now - CDuration::days(30),
                valid_until: now + CDuration::days(300),
                schedule: Schedule::Always,
            });
        }
    }
    Ok(Registry { site, people, grants, off_hours: vec![], visits: vec![] })
}

pub fn run(decisions: usize) -> anyhow::Result<()> {
    let now = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+09:00")?.with_timezone(&Utc);
    let reg = registry(10_000, now)?;
    let occ = Occupancy::default();
    let esc = EscortLog::default();
    let lock = LockoutBook::default();
    let index = tobira_core::model::GrantIndex::new(&reg);
    let ctx = Context {
        registry: &reg,
        grants: Some(&index),
        occupancy: &occ,
        escorts: &esc,
        lockout: &lock,
        now,
        node: Default::default(),
    };
    let mut times = Vec::with_capacity(decisions);
    let mut granted = 0usize;
    for i in 0..decisions {
        let p = PersonId::new(format!("op{:05}", i % 10_000));
        let req = if i.is_multiple_of(2) {
            Request::Login { terminal: TerminalId::new("t-01"), person: p, remote: false }
        } else {
            Request::Enter { door: DoorId::new("server-door"), person: p, reader: ReaderId::new("server-in") }
        };
        let t = Instant::now();
        let d = decide(&req, &ctx);
        times.push(t.elapsed());
        granted += usize::from(d.is_granted());
    }
    let s = summarize(times);
    println!(
        "policy: {} decisions over 10,000 people: median {}, p99 {}, max {} ({granted} granted)",
        s.n,
        fmt(s.p50),
        fmt(s.p99),
        fmt(s.max)
    );
    Ok(())
}
