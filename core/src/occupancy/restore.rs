//! Occupancy rebuilt from the node's own audit record when `tobirad` starts (issue 21 §3: a restart must not
//! silence the escort rule, 003 §13(4), nor leave the people inside unidentifiable at an exit reader).
//!
//! The record is the source of truth, and it holds exactly what the live door flow acted on: a granted
//! decision (`door.enter` / `door.exit`) changes occupancy only once the controller carried it out — the
//! `door.strike` that names the decision (`STRIKE_ACKNOWLEDGED`, `DOOR_ALREADY_OPEN`). Replaying those
//! pairs in the record's order with the same [`Occupancy::enter`] and [`Occupancy::exit_nested`] the door
//! flow calls gives the occupancy the node had, as far back as the replay reaches.
//!
//! How far back: from the start of the previous day in the site's zone ([`horizon`]). Occupancy is about the
//! working day — rooms entered by the hour, vendor visits approved for a window of hours — and nobody stays
//! in a server room for days, so any stay begun yesterday or today (even a night's maintenance across
//! midnight) is covered, at least 24 hours whatever the time of the restart. Someone recorded inside before
//! that is not trusted to be there still: they left by a way the readers do not see (REX, tailgating), or
//! during an outage. It also keeps the start cheap: at most two days of door events are read, never the
//! seven years the record keeps.
//!
//! Pure: the daemon reads the events and passes the time; nothing here reads a clock or a store.

use super::Occupancy;
use crate::ids::{PersonId, ZoneId};
use crate::site::Site;
use chrono::{DateTime, Days, FixedOffset, TimeZone, Utc};
use std::collections::HashMap;

/// Which reader a door decision came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Entry,
    Exit,
}

/// A door event as the audit record holds it, reduced to what occupancy needs. `seq` is the event's
/// sequence number in the node's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoorRecord {
    /// A granted door decision (`door.enter` or `door.exit` with outcome granted): nobody has moved yet.
    Granted { seq: i64, time: DateTime<Utc>, side: Side, person: PersonId, zone: ZoneId },
    /// The controller carried out decision `decision` (`door.strike`, `STRIKE_ACKNOWLEDGED` or
    /// `DOOR_ALREADY_OPEN`): the person went in or out.
    Carried { seq: i64, time: DateTime<Utc>, decision: i64 },
}

impl DoorRecord {
    pub fn seq(&self) -> i64 {
        match self {
            DoorRecord::Granted { seq, .. } | DoorRecord::Carried { seq, .. } => *seq,
        }
    }

    pub fn time(&self) -> DateTime<Utc> {
        match self {
            DoorRecord::Granted { time, .. } | DoorRecord::Carried { time, .. } => *time,
        }
    }
}

/// What a replay rebuilt, with what it took to rebuild it (for the record of the restart).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub occupancy: Occupancy,
    /// The replay's horizon: events before it were not replayed.
    pub since: DateTime<Utc>,
    /// Entries and exits replayed (carried-out decisions at or after `since`).
    pub entries: usize,
    pub exits: usize,
    /// Carried-out entries into a zone the site file no longer has (not restored).
    pub unknown_zones: usize,
}

/// The start of the day before `now`'s day in the site's zone (`offset`): the replay reaches back at least
/// 24 hours, at most 48.
pub fn horizon(now: DateTime<Utc>, offset: FixedOffset) -> DateTime<Utc> {
    let today = now.with_timezone(&offset).date_naive();
    let yesterday = today.checked_sub_days(Days::new(1)).unwrap_or(today);
    // A fixed offset has exactly one local midnight.
    match offset.from_local_datetime(&yesterday.and_time(chrono::NaiveTime::MIN)).single() {
        Some(t) => t.with_timezone(&Utc),
        None => now - chrono::Duration::days(1),
    }
}

/// Replays the door events at or after [`horizon`]`(now)` in the record's order (by `seq`, whatever order
/// they are given in): an entry or exit counts only once the controller carried out its decision, and an
/// exit leaves the zones nested in the exit's zone, as at the door. An event stamped after `now` (a clock
/// stepped back) still counts: it happened.
pub fn replay(records: impl IntoIterator<Item = DoorRecord>, site: &Site, now: DateTime<Utc>) -> Restored {
    let since = horizon(now, site.utc_offset);
    let mut records: Vec<DoorRecord> = records.into_iter().filter(|r| r.time() >= since).collect();
    records.sort_by_key(DoorRecord::seq);
    let mut out = Restored { occupancy: Occupancy::default(), since, entries: 0, exits: 0, unknown_zones: 0 };
    // Granted decisions waiting for their strike; each is carried out at most once.
    let mut granted: HashMap<i64, (Side, PersonId, ZoneId)> = HashMap::new();
    for r in records {
        match r {
            DoorRecord::Granted { seq, side, person, zone, .. } => {
                granted.insert(seq, (side, person, zone));
            }
            DoorRecord::Carried { decision, .. } => {
                let Some((side, person, zone)) = granted.remove(&decision) else { continue };
                match side {
                    Side::Entry if site.zone(&zone).is_none() => out.unknown_zones += 1,
                    Side::Entry => {
                        out.occupancy.enter(person, zone);
                        out.entries += 1;
                    }
                    Side::Exit => {
                        out.occupancy.exit_nested(&person, &zone, site);
                        out.exits += 1;
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DEMO: &str = include_str!("../../../config/demo.toml");

    fn site() -> Site {
        crate::site::parse_site("demo.toml", DEMO).unwrap()
    }

    /// 2026-11-25 at `h:m` JST (the demo site's zone).
    fn jst(d: u32, h: u32, m: u32) -> DateTime<Utc> {
        FixedOffset::east_opt(9 * 3600).unwrap().with_ymd_and_hms(2026, 11, d, h, m, 0).unwrap().with_timezone(&Utc)
    }

    fn p(s: &str) -> PersonId {
        PersonId::new(s)
    }

    fn z(s: &str) -> ZoneId {
        ZoneId::new(s)
    }

    /// The record as the door flow writes it: the decision, then (if the controller carried it out) the
    /// strike naming it, one after the other.
    #[derive(Default)]
    struct Record {
        events: Vec<DoorRecord>,
    }

    impl Record {
        fn next_seq(&self) -> i64 {
            self.events.len() as i64 + 1
        }
        fn decide(&mut self, at: DateTime<Utc>, side: Side, who: &str, zone: &str) -> i64 {
            let seq = self.next_seq();
            self.events.push(DoorRecord::Granted { seq, time: at, side, person: p(who), zone: z(zone) });
            seq
        }
        fn carry(&mut self, at: DateTime<Utc>, decision: i64) {
            let seq = self.next_seq();
            self.events.push(DoorRecord::Carried { seq, time: at, decision });
        }
        fn door(&mut self, at: DateTime<Utc>, side: Side, who: &str, zone: &str) {
            let d = self.decide(at, side, who, zone);
            self.carry(at, d);
        }
    }

    #[test]
    fn the_horizon_is_the_start_of_the_previous_local_day() {
        let offset = FixedOffset::east_opt(9 * 3600).unwrap();
        // Early in the morning, late at night, and just after midnight JST (still the previous day in UTC).
        for now in [jst(25, 8, 0), jst(25, 23, 59), jst(25, 0, 1)] {
            assert_eq!(horizon(now, offset), jst(24, 0, 0), "at {now}");
        }
        assert_eq!(horizon(jst(1, 10, 0), offset), jst(1, 0, 0) - chrono::Duration::days(1), "across a month");
    }

    /// 003 §13(4): the vendor and both escorts went into the server room; one escort left. After the restart
    /// the vendor and the other escort are inside, the one who left is not.
    #[test]
    fn carried_out_entries_and_exits_are_replayed() {
        let mut r = Record::default();
        for who in ["tanaka", "sato", "abe"] {
            r.door(jst(25, 10, 0), Side::Entry, who, "server-room");
        }
        r.door(jst(25, 10, 20), Side::Exit, "sato", "server-room");
        let got = replay(r.events, &site(), jst(25, 10, 30));
        let o = &got.occupancy;
        assert!(o.is_inside(&p("abe"), &z("server-room")) && o.is_inside(&p("tanaka"), &z("server-room")));
        assert!(!o.is_inside(&p("sato"), &z("server-room")), "sato left");
        assert_eq!((got.entries, got.exits), (3, 1));
        assert_eq!(got.since, jst(24, 0, 0));
        assert_eq!(o.by_zone()[&z("server-room")], vec![p("abe"), p("tanaka")]);
    }

    /// 003 §13, 000 Form 1: a grant the controller never carried out (`STRIKE_FAILED`, a crash before the
    /// strike) is not an entry, at the door or in the replay; nor is a strike naming no decision replayed.
    #[test]
    fn a_grant_never_carried_out_is_not_an_entry() {
        let mut r = Record::default();
        r.decide(jst(25, 10, 0), Side::Entry, "tanaka", "server-room");
        r.carry(jst(25, 10, 0), 999);
        let inside = r.decide(jst(25, 10, 1), Side::Entry, "sato", "server-room");
        r.carry(jst(25, 10, 1), inside);
        // The strike of an exit that failed: sato is still inside.
        r.decide(jst(25, 10, 5), Side::Exit, "sato", "server-room");
        let got = replay(r.events, &site(), jst(25, 11, 0));
        assert!(!got.occupancy.is_inside(&p("tanaka"), &z("server-room")));
        assert!(got.occupancy.is_inside(&p("sato"), &z("server-room")));
        assert_eq!((got.entries, got.exits), (1, 0));
    }

    /// 003 §13: the media room lies inside the server room; leaving the server room leaves both, in the
    /// replay as at the door.
    #[test]
    fn an_exit_through_a_nested_zone_replays_as_at_the_door() {
        let mut r = Record::default();
        for who in ["tanaka", "sato"] {
            r.door(jst(25, 9, 0), Side::Entry, who, "server-room");
            r.door(jst(25, 9, 1), Side::Entry, who, "media-room");
        }
        r.door(jst(25, 9, 30), Side::Exit, "tanaka", "server-room");
        r.door(jst(25, 9, 31), Side::Exit, "sato", "media-room");
        let o = replay(r.events, &site(), jst(25, 10, 0)).occupancy;
        assert_eq!(o.zones_of(&p("tanaka")).count(), 0, "out of the media room with the server room around it");
        assert!(o.is_inside(&p("sato"), &z("server-room")) && !o.is_inside(&p("sato"), &z("media-room")));
    }

    /// Nobody is still trusted inside from before the previous day; yesterday's night shift is.
    #[test]
    fn events_before_the_horizon_are_not_replayed() {
        let mut r = Record::default();
        r.door(jst(23, 23, 59), Side::Entry, "tanaka", "server-room");
        r.door(jst(24, 0, 0), Side::Entry, "sato", "server-room");
        r.door(jst(24, 22, 0), Side::Entry, "abe", "office");
        // A decision before the horizon carried out after it (the strike a moment later) is not replayed.
        let d = r.decide(jst(23, 23, 59), Side::Entry, "suzuki", "office");
        r.carry(jst(24, 0, 0), d);
        let got = replay(r.events, &site(), jst(25, 3, 0));
        let o = &got.occupancy;
        assert!(!o.is_inside(&p("tanaka"), &z("server-room")), "before the horizon");
        assert!(o.is_inside(&p("sato"), &z("server-room")), "at the horizon");
        assert!(o.is_inside(&p("abe"), &z("office")), "last night");
        assert!(!o.is_inside(&p("suzuki"), &z("office")));
        assert_eq!(got.entries, 2);
    }

    /// Doors run side by side: another door's events come between a decision and its strike, and the record
    /// may be handed over in any order — the replay follows `seq`.
    #[test]
    fn the_record_order_decides_whatever_order_the_events_come_in() {
        let mut r = Record::default();
        let enter = r.decide(jst(25, 10, 0), Side::Entry, "tanaka", "server-room");
        r.door(jst(25, 10, 0), Side::Entry, "sato", "office");
        r.carry(jst(25, 10, 0), enter);
        r.door(jst(25, 10, 5), Side::Exit, "tanaka", "server-room");
        r.door(jst(25, 10, 6), Side::Entry, "tanaka", "server-room");
        let mut shuffled = r.events.clone();
        shuffled.reverse();
        let got = replay(shuffled, &site(), jst(25, 11, 0));
        assert_eq!(got, replay(r.events, &site(), jst(25, 11, 0)));
        assert!(got.occupancy.is_inside(&p("tanaka"), &z("server-room")), "went back in last");
        assert!(got.occupancy.is_inside(&p("sato"), &z("office")));
    }

    #[test]
    fn a_zone_no_longer_in_the_site_file_is_not_restored() {
        let mut r = Record::default();
        r.door(jst(25, 10, 0), Side::Entry, "tanaka", "old-annex");
        let got = replay(r.events, &site(), jst(25, 11, 0));
        assert!(got.occupancy.is_empty());
        assert_eq!((got.entries, got.unknown_zones), (0, 1));
    }

    proptest! {
        /// Whatever people do at the doors of nested zones, and whichever strikes fail, the replay of the
        /// record gives the occupancy the door flow kept (`enter` / `exit_nested` on a carried-out decision).
        #[test]
        fn the_replay_is_the_occupancy_the_doors_kept(
            steps in proptest::collection::vec((0usize..3, any::<bool>(), 0usize..3, proptest::bool::weighted(0.85)), 0..60)
        ) {
            let site = site();
            let people = ["tanaka", "sato", "abe"];
            let zones = ["server-room", "media-room", "office"];
            let mut live = Occupancy::default();
            let mut r = Record::default();
            for (i, (who, exit, zone, carried)) in steps.into_iter().enumerate() {
                let at = jst(25, 9, 0) + chrono::Duration::seconds(i as i64);
                let side = if exit { Side::Exit } else { Side::Entry };
                let d = r.decide(at, side, people[who], zones[zone]);
                if carried {
                    r.carry(at, d);
                    match side {
                        Side::Entry => live.enter(p(people[who]), z(zones[zone])),
                        Side::Exit => live.exit_nested(&p(people[who]), &z(zones[zone]), &site),
                    }
                }
            }
            prop_assert_eq!(replay(r.events, &site, jst(25, 18, 0)).occupancy, live);
        }
    }
}
