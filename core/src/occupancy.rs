//! Who is recorded inside which zone, and who recently authenticated at which door. Needed for nesting
//! (a child zone is entered only from inside its parent, 003 §13) and for vendor escorts (003 §13(4)).

use crate::ids::{DoorId, PersonId, ZoneId};
use crate::site::Site;
use chrono::{DateTime, Duration, Utc};
use std::collections::{BTreeMap, BTreeSet};

pub mod restore;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Occupancy {
    inside: BTreeMap<PersonId, BTreeSet<ZoneId>>,
}

impl Occupancy {
    pub fn enter(&mut self, person: PersonId, zone: ZoneId) {
        self.inside.entry(person).or_default().insert(zone);
    }

    /// Leaving a zone also leaves the zones nested in it: nobody stays in the media room after leaving the
    /// server room around it.
    pub fn exit_nested(&mut self, person: &PersonId, zone: &ZoneId, site: &Site) {
        if let Some(zs) = self.inside.get_mut(person) {
            zs.retain(|z| z != zone && !site.zone_chain(z).contains(zone));
            if zs.is_empty() {
                self.inside.remove(person);
            }
        }
    }

    pub fn exit(&mut self, person: &PersonId, zone: &ZoneId) {
        if let Some(zs) = self.inside.get_mut(person) {
            zs.remove(zone);
            if zs.is_empty() {
                self.inside.remove(person);
            }
        }
    }

    pub fn is_inside(&self, person: &PersonId, zone: &ZoneId) -> bool {
        self.inside.get(person).is_some_and(|z| z.contains(zone))
    }

    pub fn zones_of(&self, person: &PersonId) -> impl Iterator<Item = &ZoneId> {
        self.inside.get(person).into_iter().flatten()
    }

    /// How many people are recorded inside at least one zone.
    pub fn people(&self) -> usize {
        self.inside.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inside.is_empty()
    }

    /// Who is recorded inside each zone, zones and people in order (what a restart restored, for the record).
    pub fn by_zone(&self) -> BTreeMap<ZoneId, Vec<PersonId>> {
        let mut out: BTreeMap<ZoneId, Vec<PersonId>> = BTreeMap::new();
        for (person, zones) in &self.inside {
            for z in zones {
                out.entry(z.clone()).or_default().push(person.clone());
            }
        }
        out
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EscortLog {
    recent: Vec<(DoorId, PersonId, DateTime<Utc>)>,
}

impl EscortLog {
    /// Records a successful authentication at a door. Entries older than a day are dropped.
    pub fn record(&mut self, door: DoorId, person: PersonId, at: DateTime<Utc>) {
        self.recent.retain(|(_, _, t)| at - *t < Duration::days(1));
        self.recent.push((door, person, at));
    }

    /// Whether `person` authenticated at `door` within `window_s` before `now` (not after it).
    pub fn recent(&self, door: &DoorId, person: &PersonId, now: DateTime<Utc>, window_s: u32) -> bool {
        let w = Duration::seconds(i64::from(window_s));
        self.recent.iter().any(|(d, p, t)| d == door && p == person && *t <= now && now - *t <= w)
    }

    pub fn recent_at(&self, door: &DoorId, now: DateTime<Utc>, window_s: u32) -> impl Iterator<Item = &PersonId> {
        let w = Duration::seconds(i64::from(window_s));
        self.recent.iter().filter(move |(d, _, t)| d == door && *t <= now && now - *t <= w).map(|(_, p, _)| p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../config/demo.toml");

    /// 003 §13: the media room lies inside the server room; leaving the server room leaves both, leaving the
    /// media room leaves only it, and another person's zones are untouched.
    #[test]
    fn leaving_a_zone_leaves_the_zones_nested_in_it() {
        let site = crate::site::parse_site("demo.toml", DEMO).unwrap();
        let (tanaka, sato) = (PersonId::new("tanaka"), PersonId::new("sato"));
        let (server, media) = (ZoneId::new("server-room"), ZoneId::new("media-room"));
        let mut o = Occupancy::default();
        for p in [&tanaka, &sato] {
            o.enter(p.clone(), server.clone());
            o.enter(p.clone(), media.clone());
        }
        o.exit_nested(&sato, &media, &site);
        assert!(o.is_inside(&sato, &server) && !o.is_inside(&sato, &media), "the media room only");
        o.exit_nested(&tanaka, &server, &site);
        assert!(!o.is_inside(&tanaka, &server));
        assert!(!o.is_inside(&tanaka, &media), "still recorded in the media room after leaving the server room");
        assert_eq!(o.zones_of(&tanaka).count(), 0);
        assert!(o.is_inside(&sato, &server), "another person stays where they are");
    }
}
