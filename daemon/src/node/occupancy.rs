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
    NewEvent {
        time: now,
        kind: "daemon.occupancy".into(),
        actor: None,
        subject: None,
        place: Some(site.id.to_string()),
        outcome: Outcome::Info,
        reason: "OCCUPANCY_RESTORED".into(),
        article: Some(ARTICLE.into()),
        score: None,
        details: serde_json::json!({
            "since": r.since, "entries_replayed": r.entries, "exits_replayed": r.exits,
            "unknown_zones": r.unknown_zones, "people": r.occupancy.people(), "zones": zones,
        }),
    }
}

/// The record when the replay could not be read: the node starts with nobody recorded inside, so the escort
/// rule is silent for anyone already in — an alarm for the security manager (003 §20).
pub fn not_restored_event(site: &Site, now: DateTime<Utc>, error: &str) -> NewEvent {
    NewEvent {
        time: now,
        kind: "daemon.occupancy".into(),
        actor: None,
        subject: None,
        place: Some(site.id.to_string()),
        outcome: Outcome::Alarm,
        reason: "OCCUPANCY_NOT_RESTORED".into(),
        article: Some(format!("{ARTICLE}, 003 §20")),
        score: None,
        details: serde_json::json!({"error": error}),
    }
}
