//! Policy: one block per article with its deny cases, then properties.

use super::*;
use crate::ids::*;
use crate::model::{Grant, OffHoursApproval, Person, Place, Registry, Role, Schedule, VendorVisit};
use crate::site::parse_site;
use chrono::{Duration, NaiveDate};
use proptest::prelude::*;
use std::collections::BTreeMap;

const DEMO: &str = include_str!("../../../config/demo.toml");

fn jst(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{s}+09:00")).unwrap().with_timezone(&Utc)
}

/// Tuesday 2026-11-24, 10:00 JST: an ordinary working morning.
fn t0() -> DateTime<Utc> {
    jst("2026-11-24T10:00:00")
}

fn person(id: &str, roles: &[Role]) -> Person {
    Person {
        id: PersonId::new(id),
        match_id: MatchId::new(format!("m-{id}")),
        name: id.into(),
        affiliation: String::new(),
        roles: roles.to_vec(),
        appointment_end: None,
        active: true,
    }
}

fn grant(holder: &str, place: Place, by: &str, role: Role) -> Grant {
    Grant {
        id: GrantId::new(format!("g-{holder}-{place:?}")),
        holder: PersonId::new(holder),
        place,
        issued_by: PersonId::new(by),
        issuer_role: role,
        valid_from: t0() - Duration::days(30),
        valid_until: t0() + Duration::days(300),
        schedule: Schedule::Always,
    }
}

fn zone(z: &str) -> Place {
    Place::Zone(ZoneId::new(z))
}

fn term(t: &str) -> Place {
    Place::Terminal(TerminalId::new(t))
}

struct World {
    reg: Registry,
    occ: Occupancy,
    esc: EscortLog,
    lock: LockoutBook,
    node: NodeFacts,
}

impl World {
    fn new() -> World {
        let site = parse_site("demo.toml", DEMO).unwrap();
        let mut people = BTreeMap::new();
        for p in [
            person("kato", &[Role::SecurityDirector]),
            person("suzuki", &[Role::DataManager]),
            person("takahashi", &[Role::SystemAdministrator]),
            person("tanaka", &[Role::Operator]),
            person("sato", &[Role::Operator]),
            person("abe", &[Role::Vendor]),
        ] {
            people.insert(p.id.clone(), p);
        }
        let grants = vec![
            grant("tanaka", term("t-01"), "takahashi", Role::SystemAdministrator),
            grant("tanaka", zone("server-room"), "suzuki", Role::DataManager),
            grant("tanaka", zone("media-room"), "kato", Role::SecurityDirector),
            grant("sato", term("t-01"), "takahashi", Role::SystemAdministrator),
        ];
        let visits = vec![VendorVisit {
            id: VisitId::new("v1"),
            vendor: PersonId::new("abe"),
            company: "保守".into(),
            purpose: "点検".into(),
            name_tag: "V-1".into(),
            doors: vec![DoorId::new("server-door")],
            from: jst("2026-11-24T09:00:00"),
            until: jst("2026-11-24T17:00:00"),
            escorts: vec![PersonId::new("tanaka")],
            approved_by: PersonId::new("takahashi"),
            media_allowed: vec![],
        }];
        World {
            reg: Registry { site, people, grants, off_hours: vec![], visits },
            occ: Occupancy::default(),
            esc: EscortLog::default(),
            lock: LockoutBook::default(),
            node: NodeFacts::default(),
        }
    }

    fn decide(&self, req: &Request, now: DateTime<Utc>) -> Decision {
        decide(
            req,
            &Context {
                registry: &self.reg,
                grants: None,
                occupancy: &self.occ,
                escorts: &self.esc,
                lockout: &self.lock,
                now,
                node: self.node,
            },
        )
    }

    fn enter(&self, who: &str, door: &str, now: DateTime<Utc>) -> Decision {
        let reader = self
            .reg
            .site
            .door(&DoorId::new(door))
            .map(|d| d.entry_reader.clone())
            .unwrap_or_else(|| ReaderId::new("x"));
        self.decide(&Request::Enter { door: DoorId::new(door), person: PersonId::new(who), reader }, now)
    }

    fn login(&self, who: &str, t: &str, now: DateTime<Utc>) -> Decision {
        self.decide(&Request::Login { terminal: TerminalId::new(t), person: PersonId::new(who), remote: false }, now)
    }
}

fn code(d: &Decision) -> &'static str {
    d.reason.code()
}

// ---- 003 §13: levels, issuing roles, nesting ----

#[test]
fn art_003_13_levels_and_issuers() {
    let mut w = World::new();
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "GRANT_VALID");
    assert!(w.enter("tanaka", "server-door", t0()).is_granted());
    // L1-only operator at L2.
    assert_eq!(code(&w.enter("sato", "server-door", t0())), "NO_GRANT");
    // L2 grant issued by the system administrator instead of the data manager.
    w.reg.grants.push(grant("sato", zone("server-room"), "takahashi", Role::SystemAdministrator));
    assert_eq!(code(&w.enter("sato", "server-door", t0())), "WRONG_ISSUER_ROLE");
    // Right role on paper, but the issuer does not hold it.
    w.reg.grants.retain(|g| g.holder.as_str() != "sato" || g.place != zone("server-room"));
    w.reg.grants.push(grant("sato", zone("server-room"), "takahashi", Role::DataManager));
    assert_eq!(code(&w.enter("sato", "server-door", t0())), "ISSUER_LACKS_ROLE");
    // The issuer loses the role later: the grant stops counting.
    w.reg.people.get_mut(&PersonId::new("suzuki")).unwrap().roles.clear();
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "ISSUER_LACKS_ROLE");
    // Terminals are L1: an operator grant issued by the data manager does not count.
    let mut w = World::new();
    w.reg.grants.retain(|g| g.place != term("t-01") || g.holder.as_str() != "sato");
    w.reg.grants.push(grant("sato", term("t-01"), "suzuki", Role::DataManager));
    assert_eq!(code(&w.login("sato", "t-01", t0())), "WRONG_ISSUER_ROLE");
}

#[test]
fn art_003_13_nesting() {
    let mut w = World::new();
    assert_eq!(code(&w.enter("tanaka", "media-door", t0())), "NOT_INSIDE_PARENT");
    w.occ.enter(PersonId::new("tanaka"), ZoneId::new("server-room"));
    assert_eq!(code(&w.enter("tanaka", "media-door", t0())), "GRANT_VALID");
    w.occ.exit(&PersonId::new("tanaka"), &ZoneId::new("server-room"));
    assert_eq!(code(&w.enter("tanaka", "media-door", t0())), "NOT_INSIDE_PARENT");
    // Inside the parent but no L3 grant.
    w.occ.enter(PersonId::new("sato"), ZoneId::new("server-room"));
    assert_eq!(code(&w.enter("sato", "media-door", t0())), "NO_GRANT");
}

// ---- 003 §13(4), 002 §5-4: vendors ----

#[test]
fn art_003_13_4_vendor_escort_window() {
    let mut w = World::new();
    assert_eq!(code(&w.enter("abe", "server-door", t0())), "VENDOR_NO_ESCORT");
    // An escort authenticated at another door does not count.
    w.esc.record(DoorId::new("media-door"), PersonId::new("tanaka"), t0());
    assert_eq!(code(&w.enter("abe", "server-door", t0())), "VENDOR_NO_ESCORT");
    // A non-listed person at the same door is no escort either.
    w.esc.record(DoorId::new("server-door"), PersonId::new("sato"), t0());
    assert_eq!(code(&w.enter("abe", "server-door", t0())), "VENDOR_NO_ESCORT");
    // The listed escort, too long ago.
    w.esc.record(DoorId::new("server-door"), PersonId::new("tanaka"), t0() - Duration::seconds(121));
    assert_eq!(code(&w.enter("abe", "server-door", t0())), "VENDOR_NO_ESCORT");
    // Within the window: admitted.
    w.esc.record(DoorId::new("server-door"), PersonId::new("tanaka"), t0() - Duration::seconds(30));
    assert_eq!(code(&w.enter("abe", "server-door", t0())), "VENDOR_ESCORTED");
    // Outside the visit's time window.
    let late = jst("2026-11-24T17:30:00");
    let mut w2 = World::new();
    w2.esc.record(DoorId::new("server-door"), PersonId::new("tanaka"), late);
    assert_eq!(code(&w2.enter("abe", "server-door", late)), "VENDOR_OUTSIDE_WINDOW");
    // No visit for this door.
    assert_eq!(code(&w.enter("abe", "media-door", t0())), "NOT_INSIDE_PARENT");
    w.occ.enter(PersonId::new("abe"), ZoneId::new("server-room"));
    assert_eq!(code(&w.enter("abe", "media-door", t0())), "VENDOR_NO_VISIT");
}

// ---- 004 §7: validity ----

#[test]
fn art_004_7_validity_and_appointment() {
    let mut w = World::new();
    for g in w.reg.grants.iter_mut().filter(|g| g.holder.as_str() == "tanaka") {
        g.valid_until = t0() - Duration::seconds(1);
    }
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "GRANT_EXPIRED");
    assert_eq!(code(&w.login("tanaka", "t-01", t0())), "GRANT_EXPIRED");
    let mut w = World::new();
    for g in w.reg.grants.iter_mut() {
        g.valid_from = t0() + Duration::days(1);
    }
    assert_eq!(code(&w.login("sato", "t-01", t0())), "GRANT_NOT_YET_VALID");
    // The appointment term ended yesterday: authority ends with it even if a grant runs longer.
    let mut w = World::new();
    w.reg.people.get_mut(&PersonId::new("sato")).unwrap().appointment_end = NaiveDate::from_ymd_opt(2026, 11, 23);
    assert_eq!(code(&w.login("sato", "t-01", t0())), "APPOINTMENT_ENDED");
    // 000 §8(2): a removed person.
    let mut w = World::new();
    w.reg.people.get_mut(&PersonId::new("sato")).unwrap().active = false;
    assert_eq!(code(&w.login("sato", "t-01", t0())), "PERSON_INACTIVE");
    assert_eq!(code(&w.login("ghost", "t-01", t0())), "UNKNOWN_PERSON");
}

// ---- 002 §5-2: office hours and approvals ----

#[test]
fn art_002_5_2_office_hours() {
    let mut w = World::new();
    assert_eq!(code(&w.login("sato", "t-01", t0())), "GRANT_VALID");
    assert_eq!(code(&w.login("sato", "t-01", jst("2026-11-24T08:00:00"))), "OUTSIDE_OFFICE_HOURS");
    assert_eq!(code(&w.login("sato", "t-01", jst("2026-11-24T17:15:00"))), "OUTSIDE_OFFICE_HOURS");
    assert_eq!(code(&w.login("sato", "t-01", jst("2026-11-22T10:00:00"))), "HOLIDAY", "Sunday");
    assert_eq!(code(&w.login("sato", "t-01", jst("2026-11-23T10:00:00"))), "HOLIDAY", "勤労感謝の日");
    assert_eq!(code(&w.login("sato", "t-01", jst("2026-12-29T10:00:00"))), "HOLIDAY", "year-end closure, a Tuesday");
    assert_eq!(code(&w.login("sato", "t-01", jst("2027-01-01T10:00:00"))), "HOLIDAY", "元日");
    let holiday = jst("2026-11-23T10:00:00");
    w.reg.off_hours.push(OffHoursApproval {
        id: ApprovalId::new("a1"),
        person: PersonId::new("sato"),
        terminal: TerminalId::new("t-02"),
        from: holiday - Duration::hours(1),
        until: holiday + Duration::hours(1),
        reason: "x".into(),
        approved_by: PersonId::new("takahashi"),
    });
    assert_eq!(code(&w.login("sato", "t-01", holiday)), "HOLIDAY", "an approval for another terminal does not count");
    w.reg.off_hours[0].terminal = TerminalId::new("t-01");
    assert_eq!(code(&w.login("sato", "t-01", holiday)), "OFF_HOURS_APPROVED");
    assert_eq!(code(&w.login("sato", "t-01", holiday + Duration::hours(2))), "HOLIDAY", "after the window");
    assert_eq!(code(&w.login("tanaka", "t-01", holiday)), "HOLIDAY", "someone else's approval");
    // An approval recorded by someone who is not the system administrator does not count.
    w.reg.off_hours[0].approved_by = PersonId::new("suzuki");
    assert_eq!(code(&w.login("sato", "t-01", holiday)), "HOLIDAY");
    // An office-hours schedule on a door grant.
    let mut w = World::new();
    for g in w.reg.grants.iter_mut() {
        g.schedule = Schedule::OfficeHours;
    }
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "GRANT_VALID");
    assert_eq!(code(&w.enter("tanaka", "server-door", jst("2026-11-24T20:00:00"))), "OUTSIDE_OFFICE_HOURS");
}

#[test]
fn art_004_2_9_remote_and_unknowns() {
    let w = World::new();
    let d = w.decide(
        &Request::Login { terminal: TerminalId::new("t-01"), person: PersonId::new("sato"), remote: true },
        t0(),
    );
    assert_eq!(code(&d), "REMOTE_LOGIN_REFUSED");
    assert_eq!(code(&w.login("sato", "t-99", t0())), "UNKNOWN_TERMINAL");
    assert_eq!(code(&w.enter("sato", "no-door", t0())), "UNKNOWN_DOOR");
    assert_eq!(
        code(&w.decide(&Request::Exit { door: DoorId::new("server-door"), person: PersonId::new("sato") }, t0())),
        "EXIT_RECORDED"
    );
}

// ---- NIST SP 800-63B: lockout ----

#[test]
fn nist_lockout_denies_before_anything_else() {
    let mut w = World::new();
    let key = (PersonId::new("sato"), ReaderId::new("t01-reader"));
    for _ in 0..5 {
        w.lock.record_failure(key.clone(), t0(), &w.reg.site.lockout);
    }
    assert_eq!(code(&w.login("sato", "t-01", t0())), "LOCKED_OUT");
    assert_eq!(code(&w.login("sato", "t-02", t0())), "NO_GRANT", "another reader is not locked");
    assert_eq!(code(&w.login("sato", "t-01", t0() + Duration::seconds(61))), "GRANT_VALID");
}

#[test]
fn only_policy_grants_and_denials_carry_their_article() {
    let d = Decision::deny(Reason::AuditUnavailable);
    assert!(!d.is_granted() && d.granted().is_none());
    assert_eq!(d.article, "000 §9, 003 §17");
}

// ---- properties ----

fn arb_role() -> impl Strategy<Value = Role> {
    proptest::sample::select(Role::ALL.to_vec())
}

proptest! {
    /// A grant issued by someone not holding the role its zone's level requires never admits (003 §13).
    #[test]
    fn wrong_issuer_never_admits(issuer_roles in proptest::collection::vec(arb_role(), 0..4), claimed in arb_role(), door in prop_oneof![Just("server-door"), Just("media-door")], inside in any::<bool>()) {
        let mut w = World::new();
        let level_role = if door == "server-door" { Role::DataManager } else { Role::SecurityDirector };
        let z = if door == "server-door" { "server-room" } else { "media-room" };
        w.reg.people.insert(PersonId::new("issuer"), person("issuer", &issuer_roles));
        w.reg.people.insert(PersonId::new("x"), person("x", &[Role::Operator]));
        w.reg.grants.push(grant("x", zone(z), "issuer", claimed));
        if inside { w.occ.enter(PersonId::new("x"), ZoneId::new("server-room")); }
        let d = w.enter("x", door, t0());
        if !(issuer_roles.contains(&level_role) && claimed == level_role) {
            prop_assert!(!d.is_granted(), "{:?} admitted", d.reason);
        }
    }

    /// An expired grant never admits (004 §7).
    #[test]
    fn expired_grant_never_admits(age_s in 0i64..10_000_000, door in prop_oneof![Just("server-door"), Just("t-01")]) {
        let mut w = World::new();
        let now = t0();
        for g in w.reg.grants.iter_mut() { g.valid_until = now - Duration::seconds(age_s); }
        w.occ.enter(PersonId::new("tanaka"), ZoneId::new("server-room"));
        let d = if door == "t-01" { w.login("tanaka", "t-01", now) } else { w.enter("tanaka", door, now) };
        prop_assert!(!d.is_granted());
    }

    /// Nobody enters a child zone without being recorded inside its parent (003 §13).
    #[test]
    fn child_zone_needs_parent(roles in proptest::collection::vec(arb_role(), 0..3), inside_parent in any::<bool>(), minutes in 0i64..(60 * 24 * 14)) {
        let mut w = World::new();
        w.reg.people.get_mut(&PersonId::new("tanaka")).unwrap().roles = roles;
        if inside_parent { w.occ.enter(PersonId::new("tanaka"), ZoneId::new("server-room")); }
        w.esc.record(DoorId::new("media-door"), PersonId::new("kato"), t0());
        let d = w.enter("tanaka", "media-door", t0() + Duration::minutes(minutes));
        if d.is_granted() { prop_assert!(inside_parent); }
    }

    /// The decision is the same for the same inputs.
    #[test]
    fn deterministic(who in prop_oneof![Just("tanaka"), Just("sato"), Just("abe"), Just("ghost")], place in 0usize..4, minutes in -(60i64 * 24 * 30)..(60 * 24 * 30)) {
        let w = World::new();
        let now = t0() + Duration::minutes(minutes);
        let run = || match place {
            0 => w.enter(who, "server-door", now),
            1 => w.enter(who, "media-door", now),
            2 => w.login(who, "t-01", now),
            _ => w.login(who, "t-02", now),
        };
        let (a, b) = (run(), run());
        prop_assert_eq!(a.reason, b.reason);
        prop_assert_eq!(a.is_granted(), b.is_granted());
    }
}

proptest! {
    /// The grant index changes the speed of a decision, never its outcome.
    #[test]
    fn index_agrees_with_the_scan(who in prop_oneof![Just("tanaka"), Just("sato"), Just("abe"), Just("ghost")], place in 0usize..4, extra in 0usize..30) {
        let mut w = World::new();
        for i in 0..extra {
            w.reg.grants.push(grant(&format!("p{i}"), term("t-01"), "takahashi", Role::SystemAdministrator));
        }
        w.reg.grants.push(grant("sato", zone("server-room"), "suzuki", Role::DataManager));
        let index = crate::model::GrantIndex::new(&w.reg);
        let req = match place {
            0 => Request::Enter { door: DoorId::new("server-door"), person: PersonId::new(who), reader: ReaderId::new("server-in") },
            1 => Request::Enter { door: DoorId::new("media-door"), person: PersonId::new(who), reader: ReaderId::new("media-in") },
            2 => Request::Login { terminal: TerminalId::new("t-01"), person: PersonId::new(who), remote: false },
            _ => Request::Login { terminal: TerminalId::new("t-02"), person: PersonId::new(who), remote: false },
        };
        let ctx = |g| Context { registry: &w.reg, grants: g, occupancy: &w.occ, escorts: &w.esc, lockout: &w.lock, now: t0(), node: NodeFacts::default() };
        let (a, b) = (decide(&req, &ctx(None)), decide(&req, &ctx(Some(&index))));
        prop_assert_eq!(a.reason, b.reason);
        prop_assert_eq!(a.is_granted(), b.is_granted());
    }
}

// ---- city profiles (issue 21 §6): the level's issuer is the site's regulation's ----

/// The demo site under a `[regulation]` section (preset and overrides as TOML lines).
fn world_under(regulation: &str) -> World {
    let mut w = World::new();
    w.reg.site = parse_site("site.toml", &format!("{DEMO}\n[regulation]\n{regulation}\n")).unwrap();
    w
}

/// 000 §7(1): in Kitaibaraki whoever enters the server room (サーバ設置室) needs the permission of the system
/// administrator (管理者 = システム管理者, §4): their grant admits, the data manager's is refused.
#[test]
fn art_000_7_1_kitaibaraki_server_room_is_permitted_by_the_system_administrator() {
    let mut w = world_under("preset = \"kitaibaraki\"");
    w.reg.grants.push(grant("sato", zone("server-room"), "takahashi", Role::SystemAdministrator));
    assert_eq!(code(&w.enter("sato", "server-door", t0())), "GRANT_VALID");
    // tanaka's server-room grant was issued by the data manager (Sendai's rule): not Kitaibaraki's.
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "WRONG_ISSUER_ROLE");
    // 000 §8(1), §9(2): terminal authority is the security officer's (セキュリティ責任者) designation.
    w.reg.people.insert(PersonId::new("ono"), person("ono", &[Role::SecurityManager]));
    w.reg.grants.retain(|g| g.holder.as_str() != "sato" || g.place != term("t-01"));
    w.reg.grants.push(grant("sato", term("t-01"), "ono", Role::SecurityManager));
    assert_eq!(code(&w.login("sato", "t-01", t0())), "GRANT_VALID");
    assert_eq!(code(&w.login("tanaka", "t-01", t0())), "WRONG_ISSUER_ROLE", "the system administrator's L1 grant");
    // 000 is silent on media rooms: Sendai's security director still permits Level 3.
    w.occ.enter(PersonId::new("tanaka"), ZoneId::new("server-room"));
    assert_eq!(code(&w.enter("tanaka", "media-door", t0())), "GRANT_VALID");
}

/// 003 §13(2): the same two grants under Sendai's default profile — the other way round.
#[test]
fn art_003_13_2_sendai_server_room_is_designated_by_the_data_manager() {
    for w in [World::new(), world_under("preset = \"sendai\"")] {
        let mut w = w;
        w.reg.grants.push(grant("sato", zone("server-room"), "takahashi", Role::SystemAdministrator));
        assert_eq!(code(&w.enter("sato", "server-door", t0())), "WRONG_ISSUER_ROLE");
        assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "GRANT_VALID");
    }
}

/// A site overrides one rule of its preset: Sendai's rules with the system administrator at Level 2.
#[test]
fn a_single_override_changes_only_its_rule() {
    let mut w = world_under("level2_issuer = \"system-administrator\"");
    w.reg.grants.push(grant("sato", zone("server-room"), "takahashi", Role::SystemAdministrator));
    assert_eq!(code(&w.enter("sato", "server-door", t0())), "GRANT_VALID");
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "WRONG_ISSUER_ROLE");
    assert_eq!(code(&w.login("tanaka", "t-01", t0())), "GRANT_VALID", "Level 1 is still Sendai's");
}

/// 002 §10(1): in Obama the server room (電子計算機室) is entered by those the 電算責任者 managing it admits
/// (the section's officer: security manager); 002 §5-2 off-hours use is agreed with the 電算管理者.
#[test]
fn art_002_10_1_obama_server_room_is_admitted_by_the_section_officer() {
    let mut w = world_under("preset = \"obama\"");
    w.reg.people.insert(PersonId::new("ono"), person("ono", &[Role::SecurityManager]));
    w.reg.grants.push(grant("sato", zone("server-room"), "ono", Role::SecurityManager));
    assert_eq!(code(&w.enter("sato", "server-door", t0())), "GRANT_VALID");
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "WRONG_ISSUER_ROLE");
    // 002 §7(1)-(3): terminals stay the 電算管理者's (system administrator).
    assert_eq!(code(&w.login("tanaka", "t-01", t0())), "GRANT_VALID");
}

/// 001 §6 (Kurume) and 004 §6(1)-(3) (Kitami): who issues terminal authority.
#[test]
fn art_001_6_and_004_6_terminal_authority() {
    // Kurume: the protection officer (保護責任者) designates the staff handling the data.
    let mut w = world_under("preset = \"kurume\"");
    w.reg.people.insert(PersonId::new("ono"), person("ono", &[Role::SecurityManager]));
    w.reg.grants.retain(|g| g.holder.as_str() != "sato" || g.place != term("t-01"));
    w.reg.grants.push(grant("sato", term("t-01"), "ono", Role::SecurityManager));
    assert_eq!(code(&w.login("sato", "t-01", t0())), "GRANT_VALID");
    assert_eq!(code(&w.login("tanaka", "t-01", t0())), "WRONG_ISSUER_ROLE");
    // Silent on the server room: the data manager's (Sendai) grant still counts.
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "GRANT_VALID");
    // Kitami: the 二要素認証システム管理者 (system administrator) registers terminal authority.
    let w = world_under("preset = \"kitami\"");
    assert_eq!(code(&w.login("tanaka", "t-01", t0())), "GRANT_VALID");
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "GRANT_VALID");
}

fn arb_preset() -> impl Strategy<Value = crate::regulation::Preset> {
    proptest::sample::select(crate::regulation::Preset::ALL.to_vec())
}

fn arb_authority() -> impl Strategy<Value = Role> {
    proptest::sample::select(vec![
        Role::SecurityDirector,
        Role::DataManager,
        Role::SystemAdministrator,
        Role::SecurityManager,
        Role::SiteAdministrator,
    ])
}

proptest! {
    /// Under every preset, with or without an override of the level's issuer, a grant from an issuer who
    /// holds the role counts at the door exactly when its issuer role is the profile's issuer for that level.
    #[test]
    fn a_grant_counts_exactly_when_issued_in_the_profiles_role(preset in arb_preset(), over in proptest::option::of(arb_authority()), claimed in arb_authority(), place in 0usize..3) {
        let (key, level) = [("level1_issuer", Level::L1), ("level2_issuer", Level::L2), ("level3_issuer", Level::L3)][place];
        let mut toml = format!("preset = \"{preset}\"\n");
        if let Some(r) = over { toml.push_str(&format!("{key} = \"{}\"\n", r.as_str())); }
        let mut w = world_under(&toml);
        w.reg.grants.clear();
        w.reg.people.insert(PersonId::new("issuer"), person("issuer", &[claimed]));
        w.reg.people.insert(PersonId::new("x"), person("x", &[Role::Operator]));
        w.occ.enter(PersonId::new("x"), ZoneId::new("server-room"));
        let d = match level {
            Level::L1 => { w.reg.grants.push(grant("x", term("t-01"), "issuer", claimed)); w.login("x", "t-01", t0()) }
            Level::L2 => { w.reg.grants.push(grant("x", zone("server-room"), "issuer", claimed)); w.enter("x", "server-door", t0()) }
            Level::L3 => { w.reg.grants.push(grant("x", zone("media-room"), "issuer", claimed)); w.enter("x", "media-door", t0()) }
        };
        let issuer = over.unwrap_or_else(|| preset.regulation().issuer(level));
        prop_assert_eq!(w.reg.site.regulation.issuer(level), issuer);
        prop_assert_eq!(d.is_granted(), claimed == issuer, "{:?} under {} with {:?}", d.reason, preset, over);
        if claimed != issuer { prop_assert_eq!(d.reason, Reason::WrongIssuerRole); }
    }
}

// ---- the node's vetoes (issue 20: every veto in one decision) ----

/// A multi-node site whose server rooms (L2) tolerate `l2` seconds without the centre (003 §13, 004 §6).
fn with_centre(w: &mut World, l2: Option<u32>) {
    w.reg.site.central = Some(crate::site::RawCentral {
        host: "centre".into(),
        port: 5432,
        database: "tobira".into(),
        role: "node".into(),
        ca_file: String::new(),
        cert_file: String::new(),
        key_file: String::new(),
        ship_every_ms: 1000,
        head_every_ms: 1000,
        witness_key: None,
        stale_after_s_l1: None,
        stale_after_s_l2: l2,
        stale_after_s_l3: None,
    });
}

#[test]
fn a_node_cut_off_from_the_centre_past_the_level_limit_refuses_entry_but_not_exit_or_other_levels() {
    let mut w = World::new();
    with_centre(&mut w, Some(60));
    w.node.central_contact = Some(t0() - Duration::seconds(60));
    assert!(w.enter("tanaka", "server-door", t0()).is_granted(), "at the limit: still served");
    w.node.central_contact = Some(t0() - Duration::seconds(61));
    let d = w.enter("tanaka", "server-door", t0());
    assert_eq!(code(&d), "CENTRAL_STALE");
    assert_eq!(d.article, "003 §13, 004 §6");
    assert!(w.login("tanaka", "t-01", t0()).is_granted(), "L1 has no limit here");
    let exit = w.decide(&Request::Exit { door: DoorId::new("server-door"), person: PersonId::new("tanaka") }, t0());
    assert_eq!(code(&exit), "EXIT_RECORDED", "exits are never held back");
    // A refusal by the rules keeps its own reason: the veto only ever takes back a grant.
    assert_eq!(code(&w.enter("sato", "server-door", t0())), "NO_GRANT");
    // Without a recorded contact, or without [central], nothing is stale.
    w.node.central_contact = None;
    assert!(w.enter("tanaka", "server-door", t0()).is_granted());
    w.reg.site.central = None;
    w.node.central_contact = Some(t0() - Duration::days(30));
    assert!(w.enter("tanaka", "server-door", t0()).is_granted());
}

#[test]
fn an_attributed_person_is_named_but_never_admitted() {
    let mut w = World::new();
    w.node.attributed_only = true;
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "NOT_IDENTIFIED");
    assert_eq!(code(&w.enter("sato", "server-door", t0())), "NO_GRANT", "the rules' refusal is kept");
}

#[test]
fn a_grant_an_offline_controller_cannot_carry_out_is_refused_and_staleness_is_told_first() {
    let mut w = World::new();
    w.node.controller_offline = true;
    let d = w.enter("tanaka", "server-door", t0());
    assert_eq!(code(&d), "DEVICE_OFFLINE");
    assert!(d.granted().is_none(), "no proof token: the door cannot be unlocked with this decision");
    let exit = w.decide(&Request::Exit { door: DoorId::new("server-door"), person: PersonId::new("tanaka") }, t0());
    assert_eq!(code(&exit), "DEVICE_OFFLINE");
    with_centre(&mut w, Some(60));
    w.node.central_contact = Some(t0() - Duration::seconds(61));
    w.node.attributed_only = true;
    assert_eq!(code(&w.enter("tanaka", "server-door", t0())), "CENTRAL_STALE");
}
