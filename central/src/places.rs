//! Who and where, for the centre's ledgers (issue 21 §4: names, not ids — サーバ室, not `server-room`). The
//! people are the city's registry as the feed leaves it; the places are what each node's site file calls
//! them. The centre holds no site file: every node says its places' names in its `daemon.start` event
//! (`details.places`), signed into its record and shipped like any other event, so a later start (a renamed
//! room) overrides an earlier one. Places are kept per node: two sites may use one id for two rooms.

use sqlx::postgres::PgPool;
use std::collections::HashMap;

/// The names of each node's places, from its start events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Places {
    by_node: HashMap<String, HashMap<String, String>>,
}

impl Places {
    /// From `(node, details)` of `daemon.start` events in the order they were recorded: a later start's name
    /// for a place replaces an earlier one; a start from before the names were said leaves them as they were.
    pub fn from_starts<'a>(starts: impl IntoIterator<Item = (&'a str, &'a serde_json::Value)>) -> Places {
        let mut by_node: HashMap<String, HashMap<String, String>> = HashMap::new();
        for (node, details) in starts {
            let Some(places) = details.get("places").and_then(|p| p.as_object()) else { continue };
            let names = by_node.entry(node.to_string()).or_default();
            for (id, name) in places {
                if let Some(n) = name.as_str().filter(|n| !n.is_empty()) {
                    names.insert(id.clone(), n.to_string());
                }
            }
        }
        Places { by_node }
    }

    /// The name node `node`'s site gives place `id`.
    pub fn name(&self, node: &str, id: &str) -> Option<&str> {
        self.by_node.get(node)?.get(id).map(String::as_str)
    }

    /// The name of `id` when the node is not known: only if every node that has such a place calls it the same.
    pub fn name_anywhere(&self, id: &str) -> Option<&str> {
        let mut names = self.by_node.values().filter_map(|m| m.get(id));
        let first = names.next()?;
        names.all(|n| n == first).then_some(first.as_str())
    }

    /// Reads every node's start events from the central store.
    pub async fn load(pool: &PgPool) -> Result<Places, sqlx::Error> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT node, details FROM audit_events WHERE kind = 'daemon.start' ORDER BY node, seq")
                .fetch_all(pool)
                .await?;
        let parsed: Vec<(String, serde_json::Value)> =
            rows.into_iter().filter_map(|(node, d)| serde_json::from_str(&d).ok().map(|v| (node, v))).collect();
        Ok(Places::from_starts(parsed.iter().map(|(n, d)| (n.as_str(), d))))
    }
}

/// The ledgers' directory at the centre: the city's people (user ID → name, affiliation) and each node's
/// places.
#[derive(Debug, Clone, Default)]
pub struct CentralDirectory {
    pub people: HashMap<String, (String, String)>,
    pub places: Places,
}

impl tobira_ledger::Directory for CentralDirectory {
    fn lookup(&self, id: &str) -> Option<(String, String)> {
        self.people.get(id).cloned()
    }

    fn place_name(&self, id: &str) -> Option<String> {
        self.places.name_anywhere(id).map(String::from)
    }

    fn place_name_at(&self, node: &str, id: &str) -> Option<String> {
        self.places.name(node, id).map(String::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use tobira_audit::{NewEvent, Outcome, StoredEvent};

    fn start(places: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"version": "0.1.0", "places": places})
    }

    #[test]
    fn each_node_names_its_own_places_and_a_later_start_renames() {
        let honcho1 = start(serde_json::json!({"server-room": "サーバ室", "t-01": "端末01"}));
        let kita = start(serde_json::json!({"server-room": "北支所 機械室"}));
        let honcho2 = start(serde_json::json!({"server-room": "第1サーバ室"}));
        let old = serde_json::json!({"version": "0.0.9"});
        let p = Places::from_starts([("honcho", &honcho1), ("kita", &kita), ("honcho", &honcho2), ("honcho", &old)]);
        assert_eq!(p.name("honcho", "server-room"), Some("第1サーバ室"), "the latest start says the name");
        assert_eq!(p.name("honcho", "t-01"), Some("端末01"), "a later start that omits a place keeps its name");
        assert_eq!(p.name("kita", "server-room"), Some("北支所 機械室"));
        assert_eq!(p.name("kita", "t-01"), None);
        assert_eq!(p.name_anywhere("server-room"), None, "two nodes, two rooms: no single name");
        assert_eq!(p.name_anywhere("t-01"), Some("端末01"));
    }

    /// 000 Form 1 at the centre: the entry/exit ledger across nodes names each node's room as its own site
    /// does, as the node's own ledger does.
    #[test]
    fn the_central_entry_exit_ledger_names_each_nodes_rooms() {
        let honcho = start(serde_json::json!({"server-room": "サーバ室"}));
        let kita = start(serde_json::json!({"server-room": "北支所 機械室"}));
        let dir = CentralDirectory {
            people: HashMap::from([("tanaka".to_string(), ("田中 太郎".to_string(), "市民課".to_string()))]),
            places: Places::from_starts([("honcho", &honcho), ("kita", &kita)]),
        };
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0).unwrap();
        let ev = |node: &str, seq: i64, kind: &str, outcome: Outcome, reason: &str, details: serde_json::Value| {
            let e = NewEvent::new(t, kind, outcome, reason)
                .actor("tanaka")
                .subject("tanaka")
                .place("server-door")
                .details(details);
            StoredEvent::for_test(node, seq, e)
        };
        let mut events = Vec::new();
        for node in ["honcho", "kita"] {
            let zone = serde_json::json!({"zone": "server-room", "door": "server-door"});
            events.push(ev(node, 10, "door.enter", Outcome::Granted, "GRANT_VALID", zone));
            let strike = serde_json::json!({"decision": 10});
            events.push(ev(node, 11, "door.strike", Outcome::Info, "STRIKE_ACKNOWLEDGED", strike));
        }
        let rows = tobira_ledger::entry_exit_rows_in(&events, &dir, chrono::FixedOffset::east_opt(9 * 3600).unwrap());
        let place = |node: &str| {
            rows.iter().find(|r| r["拠点"] == node).map(|r| r["入室場所"].clone()).unwrap_or_else(|| panic!("{rows:?}"))
        };
        assert_eq!(place("honcho"), "サーバ室");
        assert_eq!(place("kita"), "北支所 機械室");
        assert_eq!(rows[0]["氏名"], "田中 太郎");
    }
}
