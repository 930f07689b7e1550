//! An escort stays with the vendor (003 §13(4), 002 §5-4): while a vendor (保守業者) is recorded inside a
//! zone, at least one of the escorts of their visit must be recorded inside that same zone. Entering needs an
//! escort who authenticated at the door a moment before (`policy`); this module is the rule for the time
//! after — an escort who leaves first leaves the vendor alone, which is an incident for the security manager
//! (003 §20).
//!
//! Plain functions over the occupancy the daemon keeps, the registered visits and the time: the daemon asks
//! [`left_alone_by`] around every identified exit, and `tobira check` asks [`unescorted`] for the state now.

use crate::ids::{PersonId, VisitId, ZoneId};
use crate::model::VendorVisit;
use crate::occupancy::Occupancy;
use chrono::{DateTime, Utc};

/// A vendor recorded inside a zone where none of their escorts is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unescorted {
    pub vendor: PersonId,
    pub zone: ZoneId,
    /// The visit the vendor is inside on (`None`: no visit of theirs has begun — nobody may escort them).
    pub visit: Option<VisitId>,
    /// The escorts that visit names, none of whom is inside `zone`.
    pub escorts: Vec<PersonId>,
}

/// The visit a vendor is inside on at `now`: one whose window covers `now` (the latest begun), else — the
/// window has closed while they are still inside — the one that ended last. `None` when no visit of theirs
/// has begun.
pub fn visit_in_effect<'a>(
    visits: &'a [VendorVisit],
    vendor: &PersonId,
    now: DateTime<Utc>,
) -> Option<&'a VendorVisit> {
    let begun = || visits.iter().filter(move |v| &v.vendor == vendor && v.from <= now);
    begun().filter(|v| now < v.until).max_by_key(|v| v.from).or_else(|| begun().max_by_key(|v| v.until))
}

/// Every vendor inside a zone without one of their visit's escorts inside it (003 §13(4)), by vendor then
/// zone. `vendors` are the people who hold the vendor role: anyone else inside is on their own grant.
pub fn unescorted<'a>(
    occupancy: &Occupancy,
    vendors: impl IntoIterator<Item = &'a PersonId>,
    visits: &[VendorVisit],
    now: DateTime<Utc>,
) -> Vec<Unescorted> {
    let mut out = Vec::new();
    for vendor in vendors {
        let visit = visit_in_effect(visits, vendor, now);
        let escorts: Vec<PersonId> =
            visit.map(|v| v.escorts.iter().filter(|e| *e != vendor).cloned().collect()).unwrap_or_default();
        for zone in occupancy.zones_of(vendor) {
            if !escorts.iter().any(|e| occupancy.is_inside(e, zone)) {
                out.push(Unescorted {
                    vendor: vendor.clone(),
                    zone: zone.clone(),
                    visit: visit.map(|v| v.id.clone()),
                    escorts: escorts.clone(),
                });
            }
        }
    }
    out.sort_by(|a, b| (a.vendor.as_str(), a.zone.as_str()).cmp(&(b.vendor.as_str(), b.zone.as_str())));
    out
}

/// The vendors an exit left alone: unescorted in a zone after it (`after`), escorted there before it
/// (`before`). An exit that leaves nobody alone — the vendor leaving first, another escort still inside, a
/// vendor who was already alone — gives nothing, so each incident is raised once, by the exit that caused it.
pub fn left_alone_by<'a>(
    before: &Occupancy,
    after: &Occupancy,
    vendors: impl IntoIterator<Item = &'a PersonId> + Clone,
    visits: &[VendorVisit],
    now: DateTime<Utc>,
) -> Vec<Unescorted> {
    let was = unescorted(before, vendors.clone(), visits, now);
    unescorted(after, vendors, visits, now)
        .into_iter()
        .filter(|u| {
            after.is_inside(&u.vendor, &u.zone) && !was.iter().any(|w| w.vendor == u.vendor && w.zone == u.zone)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DoorId;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    const DEMO: &str = include_str!("../../config/demo.toml");

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        chrono::FixedOffset::east_opt(9 * 3600)
            .unwrap()
            .with_ymd_and_hms(2026, 11, 24, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn p(s: &str) -> PersonId {
        PersonId::new(s)
    }

    fn visit(escorts: &[&str]) -> VendorVisit {
        VendorVisit {
            id: VisitId::new("v-1"),
            vendor: p("abe"),
            company: "保守株式会社".into(),
            purpose: "サーバ保守".into(),
            name_tag: "V-017".into(),
            doors: vec![DoorId::new("server-door")],
            from: t(9, 0),
            until: t(17, 0),
            escorts: escorts.iter().map(|e| p(e)).collect(),
            approved_by: p("takahashi"),
            media_allowed: vec![],
        }
    }

    fn server() -> ZoneId {
        ZoneId::new("server-room")
    }

    fn media() -> ZoneId {
        ZoneId::new("media-room")
    }

    /// 003 §13(4), 002 §5-4: the escort leaving first leaves the vendor alone — one incident, raised by that
    /// exit; the vendor leaving first, or a second escort still inside, raises nothing.
    #[test]
    fn art_003_13_4_escort_stays() {
        let site = crate::site::parse_site("demo.toml", DEMO).unwrap();
        let vendors = [p("abe")];
        let visits = [visit(&["tanaka", "sato"])];
        let mut o = Occupancy::default();
        for who in ["tanaka", "abe"] {
            o.enter(p(who), server());
        }
        assert!(unescorted(&o, &vendors, &visits, t(10, 0)).is_empty(), "escorted");
        // tanaka leaves first: abe is alone in the server room.
        let before = o.clone();
        o.exit_nested(&p("tanaka"), &server(), &site);
        let alone = left_alone_by(&before, &o, &vendors, &visits, t(10, 30));
        assert_eq!(alone.len(), 1, "{alone:?}");
        assert_eq!((alone[0].vendor.as_str(), alone[0].zone.as_str()), ("abe", "server-room"));
        assert_eq!(alone[0].visit, Some(VisitId::new("v-1")));
        assert_eq!(alone[0].escorts, vec![p("tanaka"), p("sato")]);
        // Someone else leaving now does not raise it again: it was this exit's.
        let before = o.clone();
        o.enter(p("kato"), server());
        o.exit_nested(&p("kato"), &server(), &site);
        assert!(left_alone_by(&before, &o, &vendors, &visits, t(10, 31)).is_empty(), "raised once");
        assert_eq!(unescorted(&o, &vendors, &visits, t(10, 31)).len(), 1, "…but it lasts until fixed");
        // sato comes in: escorted again; then abe leaves first: nothing.
        o.enter(p("sato"), server());
        assert!(unescorted(&o, &vendors, &visits, t(10, 40)).is_empty());
        let before = o.clone();
        o.exit_nested(&p("abe"), &server(), &site);
        assert!(left_alone_by(&before, &o, &vendors, &visits, t(10, 45)).is_empty(), "the vendor left first");
    }

    /// With two escorts inside, one may leave.
    #[test]
    fn art_003_13_4_one_escort_of_two_may_leave() {
        let site = crate::site::parse_site("demo.toml", DEMO).unwrap();
        let vendors = [p("abe")];
        let visits = [visit(&["tanaka", "sato"])];
        let mut o = Occupancy::default();
        for who in ["tanaka", "sato", "abe"] {
            o.enter(p(who), server());
        }
        let before = o.clone();
        o.exit_nested(&p("tanaka"), &server(), &site);
        assert!(left_alone_by(&before, &o, &vendors, &visits, t(11, 0)).is_empty());
    }

    /// Zones nest (003 §13): an escort stepping out of the media room leaves a vendor inside it alone there,
    /// though both are still in the server room around it.
    #[test]
    fn art_003_13_4_the_rule_holds_in_each_zone() {
        let site = crate::site::parse_site("demo.toml", DEMO).unwrap();
        let vendors = [p("abe")];
        let visits = [visit(&["tanaka"])];
        let mut o = Occupancy::default();
        for who in ["tanaka", "abe"] {
            o.enter(p(who), server());
            o.enter(p(who), media());
        }
        let before = o.clone();
        o.exit_nested(&p("tanaka"), &media(), &site);
        let alone = left_alone_by(&before, &o, &vendors, &visits, t(11, 0));
        assert_eq!(alone.iter().map(|u| u.zone.as_str()).collect::<Vec<_>>(), ["media-room"]);
        // Leaving the server room leaves the media room too: the vendor is alone in both.
        let mut o = before.clone();
        o.exit_nested(&p("tanaka"), &server(), &site);
        let alone = left_alone_by(&before, &o, &vendors, &visits, t(11, 0));
        assert_eq!(alone.iter().map(|u| u.zone.as_str()).collect::<Vec<_>>(), ["media-room", "server-room"]);
    }

    /// A vendor still inside after the visit's window closed is judged by that visit's escorts; an escort of
    /// another visit (or of none) is not theirs.
    #[test]
    fn art_003_13_4_the_visit_in_effect_names_the_escorts() {
        let visits = [visit(&["tanaka"])];
        assert_eq!(visit_in_effect(&visits, &p("abe"), t(8, 59)), None, "not begun");
        assert!(visit_in_effect(&visits, &p("abe"), t(12, 0)).is_some());
        assert!(visit_in_effect(&visits, &p("abe"), t(18, 0)).is_some(), "overstayed: the visit that ended last");
        let mut o = Occupancy::default();
        o.enter(p("abe"), server());
        o.enter(p("sato"), server());
        let u = unescorted(&o, &[p("abe")], &visits, t(18, 0));
        assert_eq!(u.len(), 1, "sato is not abe's escort: {u:?}");
    }

    fn people() -> impl Strategy<Value = Vec<(u8, bool, bool)>> {
        // (who: 0 the vendor, 1–3 escorts, 4–5 others), inside the server room, inside the media room.
        proptest::collection::vec((0u8..6, any::<bool>(), any::<bool>()), 0..8)
    }

    proptest! {
        /// Whatever the occupancy, the vendor is reported unescorted in exactly the zones they are in without
        /// one of their escorts, and an exit raises an incident only for a zone it emptied of escorts.
        #[test]
        fn a_vendor_is_unescorted_exactly_where_no_escort_is(inside in people(), leaver in 0u8..6, leave_server in any::<bool>()) {
            let site = crate::site::parse_site("demo.toml", DEMO).unwrap();
            let name = |i: u8| p(["abe", "tanaka", "sato", "kato", "ito", "mori"][i as usize]);
            let visits = [visit(&["tanaka", "sato", "kato"])];
            let mut o = Occupancy::default();
            for (who, s, m) in &inside {
                if *s { o.enter(name(*who), server()); }
                if *m { o.enter(name(*who), media()); }
            }
            let now = t(12, 0) + Duration::seconds(1);
            let u = unescorted(&o, &[p("abe")], &visits, now);
            for z in [server(), media()] {
                let alone = o.is_inside(&p("abe"), &z) && !(1..=3).any(|e| o.is_inside(&name(e), &z));
                prop_assert_eq!(u.iter().any(|x| x.zone == z), alone);
            }
            let before = o.clone();
            o.exit_nested(&name(leaver), &if leave_server { server() } else { media() }, &site);
            for a in left_alone_by(&before, &o, &[p("abe")], &visits, now) {
                prop_assert!((1..=3).contains(&leaver), "only an escort's exit leaves the vendor alone");
                prop_assert!(before.is_inside(&name(leaver), &a.zone) && !o.is_inside(&name(leaver), &a.zone));
            }
        }
    }
}
