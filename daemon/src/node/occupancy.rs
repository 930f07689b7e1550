//! Occupancy at start: read from the node's own audit record, not begun empty (issue 21 §3). A restart — a
//! power cut, an upgrade, systemd's watchdog — would otherwise silence the escort rule (003 §13(4)) for
//! vendors already inside and leave everyone inside unidentifiable at an exit reader, which looks only among
//! those recorded inside. The replay itself is `tobira_core::occupancy::restore`; this edge reads the door
//! events since its horizon and writes what was restored into the record, so an auditor sees it.

use chrono::{DateTime, Utc};
use tobira_audit::{AuditStore, Filter, NewEvent, Outcome, StoredEvent};
use tobira_core::ids::{DoorId, PersonId, ZoneId};
use tobira_core::occupancy::restore::{self, DoorRecord, Restored, Side};
use tobira_core::site::Site;

/// The articles the restored occupancy serves: nesting (003 §13) and escorts (003 §13(4)).
const ARTICLE: &str = "003 §13, 003 §13(4)";

/// Replays the door events since the horizon (the start of the previous local day) from `audit`.
pub async fn at_start(
    audit: &AuditStore,
    site: &Site,
    now: DateTime<Utc>,
) -> Result<Restored, tobira_audit::AuditError> {
    let filter =
        Filter { kind: Some("door.".into()), from: Some(restore::horizon(now, site.utc_offset)), ..Filter::default() };
    let events = audit.query(&filter).await?;
    Ok(restore::replay(events.iter().filter_map(|e| door_record(e, site)), site, now))
}

/// What the door flow wrote, as the replay needs it: a granted `door.enter` / `door.exit` (the person is its
/// actor, the zone the door's at the time), or a `door.strike` the controller carried out naming its decision.
pub fn door_record(e: &StoredEvent, site: &Site) -> Option<DoorRecord> {
    let (seq, time) = (e.seq, e.time);
    match e.kind.as_str() {
        "door.enter" | "door.exit" if e.outcome == Outcome::Granted => {
            let side = if e.kind == "door.enter" { Side::Entry } else { Side::Exit };
            let person = PersonId::new(e.actor.as_deref()?);
            let zone = match e.details.get("zone").and_then(|z| z.as_str()) {
                Some(z) => ZoneId::new(z),
                None => site.door(&DoorId::new(e.place.as_deref()?))?.zone.clone(),
            };
            Some(DoorRecord::Granted { seq, time, side, person, zone })
        }
        "door.strike" if matches!(e.reason.as_str(), "STRIKE_ACKNOWLEDGED" | "DOOR_ALREADY_OPEN") => {
            Some(DoorRecord::Carried { seq, time, decision: e.details.get("decision")?.as_i64()? })
        }
        _ => None,
    }
}

/// The record of what was restored: how many people inside which zones (by name and id), from how far back.
pub fn restored_event(r: &Restored, site: &Site, now: DateTime<Utc>) -> NewEvent {
    let zones: Vec<serde_json::Value> = r
        .occupancy
        .by_zone()
        .into_iter()
        .map(|(zone, people)| {
            let name = site.zone(&zone).map(|z| z.name.clone()).unwrap_or_default();
            serde_json::json!({
                "zone": zone.as_str(), "name": name, "count": people.len(),
                "people": people.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    NewEvent::new(now, "daemon.occupancy", Outcome::Info, "OCCUPANCY_RESTORED")
        .place(site.id.as_str())
        .article(ARTICLE)
        .details(serde_json::json!({
            "since": r.since, "entries_replayed": r.entries, "exits_replayed": r.exits,
            "unknown_zones": r.unknown_zones, "people": r.occupancy.people(), "zones": zones,
        }))
}

/// The record when the replay could not be read: the node starts with nobody recorded inside, so the escort
/// rule is silent for anyone already in — an alarm for the security manager (003 §20).
pub fn not_restored_event(site: &Site, now: DateTime<Utc>, error: &str) -> NewEvent {
    NewEvent::new(now, "daemon.occupancy", Outcome::Alarm, "OCCUPANCY_NOT_RESTORED")
        .place(site.id.as_str())
        .article(format!("{ARTICLE}, 003 §20"))
        .details(serde_json::json!({"error": error}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        tobira_core::site::parse_site("demo.toml", include_str!("../../../config/demo.toml")).unwrap()
    }

    fn ev(
        seq: i64,
        kind: &str,
        outcome: Outcome,
        reason: &str,
        actor: Option<&str>,
        details: serde_json::Value,
    ) -> StoredEvent {
        let time = DateTime::parse_from_rfc3339("2026-11-24T10:00:00+09:00").unwrap().with_timezone(&Utc);
        StoredEvent {
            node: "sendai-honcho".into(),
            seq,
            time,
            time_text: tobira_audit::time_text(time),
            kind: kind.into(),
            actor: actor.map(Into::into),
            subject: actor.map(Into::into),
            place: Some("server-door".into()),
            outcome,
            reason: reason.into(),
            article: None,
            score: None,
            details_text: details.to_string(),
            details,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    /// What the door flow writes is read back as the replay needs it; refusals, failed strikes and other door
    /// events are not movements (003 §13, 000 Form 1).
    #[test]
    fn only_grants_and_carried_out_strikes_are_read() {
        let site = site();
        let zone = serde_json::json!({"zone": "server-room"});
        let granted = ev(5, "door.exit", Outcome::Granted, "EXIT_RECORDED", Some("tanaka"), zone.clone());
        match door_record(&granted, &site) {
            Some(DoorRecord::Granted { seq: 5, side: Side::Exit, person, zone, .. }) => {
                assert_eq!((person.as_str(), zone.as_str()), ("tanaka", "server-room"));
            }
            other => panic!("{other:?}"),
        }
        // A decision without the zone in its details: the door's zone.
        let bare = ev(6, "door.enter", Outcome::Granted, "GRANT_VALID", Some("sato"), serde_json::json!({}));
        assert!(
            matches!(door_record(&bare, &site), Some(DoorRecord::Granted { side: Side::Entry, zone, .. }) if zone.as_str() == "server-room")
        );
        for reason in ["STRIKE_ACKNOWLEDGED", "DOOR_ALREADY_OPEN"] {
            let s = ev(7, "door.strike", Outcome::Info, reason, None, serde_json::json!({"decision": 5}));
            assert!(
                matches!(door_record(&s, &site), Some(DoorRecord::Carried { seq: 7, decision: 5, .. })),
                "{reason}"
            );
        }
        let not_movements = [
            ev(8, "door.enter", Outcome::Denied, "NO_GRANT", Some("abe"), zone.clone()),
            ev(9, "door.enter", Outcome::Granted, "GRANT_VALID", None, zone.clone()),
            ev(10, "door.strike", Outcome::Alarm, "STRIKE_FAILED", None, serde_json::json!({"decision": 5})),
            ev(11, "door.alarm.forced", Outcome::Alarm, "FORCED_OPEN", None, zone),
        ];
        for e in not_movements {
            assert_eq!(door_record(&e, &site), None, "{} {}", e.kind, e.reason);
        }
    }

    /// What an auditor reads after a restart: how many people, in which zones by name, from how far back.
    #[test]
    fn the_restart_records_who_was_restored_where() {
        let site = site();
        let now = DateTime::parse_from_rfc3339("2026-11-24T10:10:00+09:00").unwrap().with_timezone(&Utc);
        let mut o = tobira_core::occupancy::Occupancy::default();
        o.enter(PersonId::new("abe"), ZoneId::new("server-room"));
        o.enter(PersonId::new("tanaka"), ZoneId::new("server-room"));
        o.enter(PersonId::new("tanaka"), ZoneId::new("media-room"));
        let r = Restored {
            occupancy: o,
            since: restore::horizon(now, site.utc_offset),
            entries: 3,
            exits: 0,
            unknown_zones: 0,
        };
        let e = restored_event(&r, &site, now);
        assert_eq!(
            (e.kind.as_str(), e.reason.as_str(), e.outcome),
            ("daemon.occupancy", "OCCUPANCY_RESTORED", Outcome::Info)
        );
        assert_eq!(e.details["people"], 2);
        let zones = e.details["zones"].as_array().unwrap();
        assert_eq!(zones.len(), 2, "{zones:?}");
        let server = zones.iter().find(|z| z["zone"] == "server-room").unwrap();
        assert_eq!((server["name"].as_str(), server["count"].as_u64()), (Some("サーバ室"), Some(2)));
        assert_eq!(e.details["since"], "2026-11-22T15:00:00Z");
        let failed = not_restored_event(&site, now, "disk I/O error");
        assert_eq!((failed.outcome, failed.reason.as_str()), (Outcome::Alarm, "OCCUPANCY_NOT_RESTORED"));
    }

    /// What the replay costs at start on a busy node: 10,000 entries with their strikes in the last two days,
    /// beside 10,000 older ones the horizon leaves unread. A figure, not a check of behaviour beyond the count:
    /// `cargo test -p tobira --lib -- --ignored replay_cost --nocapture`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore]
    async fn replay_cost() {
        let dir = tempfile::tempdir().unwrap();
        let store = AuditStore::create(&dir.path().join("audit.db"), "bench", &dir.path().join("audit-signing.key"))
            .await
            .unwrap();
        let site = site();
        let now = DateTime::parse_from_rfc3339("2026-11-24T18:00:00+09:00").unwrap().with_timezone(&Utc);
        let (n, writers) = (10_000usize, 50usize);
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..writers {
            let writer = store.writer();
            tasks.spawn(async move {
                for i in (w..2 * n).step_by(writers) {
                    // The first half five days ago, the second within the horizon.
                    let age = if i < n { chrono::Duration::days(5) } else { chrono::Duration::hours(8) };
                    let time = now - age + chrono::Duration::milliseconds(i as i64);
                    let person = format!("p{i:05}");
                    let decision = NewEvent::new(time, "door.enter", Outcome::Granted, "GRANT_VALID")
                        .actor(person.clone())
                        .subject(person)
                        .place("server-door")
                        .score(0.5)
                        .details(serde_json::json!({"zone": "server-room", "reader": "server-in"}));
                    let seq = writer.append(decision).await.unwrap().seq;
                    let strike = NewEvent::new(time, "door.strike", Outcome::Info, "STRIKE_ACKNOWLEDGED")
                        .place("server-door")
                        .details(serde_json::json!({"decision": seq, "zone": "server-room"}));
                    writer.append(strike).await.unwrap();
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        let t = std::time::Instant::now();
        let r = at_start(&store, &site, now).await.unwrap();
        let took = t.elapsed();
        assert_eq!((r.entries, r.occupancy.people()), (n, n), "only the entries within the horizon");
        eprintln!("replayed {} entries (of {} door events in the store) in {took:?}", r.entries, 4 * n);
        store.close().await;
    }
}
