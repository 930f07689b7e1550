//! The domain model: people, roles, grants, approvals, visits, and the registry snapshot policy reads.

use crate::ids::*;
pub use crate::roles::{Level, Role, UnknownRole};
use crate::site::Site;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: PersonId,
    pub match_id: MatchId,
    pub name: String,
    pub affiliation: String,
    pub roles: Vec<Role>,
    /// 004 §7: the authority of a fixed-term employee ends with the appointment term.
    pub appointment_end: Option<NaiveDate>,
    pub active: bool,
}

impl Person {
    pub fn has_role(&self, r: Role) -> bool {
        self.roles.contains(&r)
    }

    /// 004 §7: a fixed-term employee's authority lasts through the last day of the appointment term (in the
    /// site's zone) and ends with it — for doors, logins and every administrative act alike. No end on record
    /// means no fixed term.
    pub fn within_appointment(&self, day: NaiveDate) -> bool {
        self.appointment_end.is_none_or(|end| day <= end)
    }

    /// Active and within the appointment on `day`: someone who may exercise a role or a grant today.
    pub fn in_office(&self, day: NaiveDate) -> bool {
        self.active && self.within_appointment(day)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Place {
    Zone(ZoneId),
    Terminal(TerminalId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    Always,
    OfficeHours,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub id: GrantId,
    pub holder: PersonId,
    pub place: Place,
    pub issued_by: PersonId,
    /// The role the issuer acted in; it must be the one the place's level requires (003 §13).
    pub issuer_role: Role,
    pub valid_from: DateTime<Utc>,
    /// 004 §7: every grant has an end date.
    pub valid_until: DateTime<Utc>,
    pub schedule: Schedule,
}

impl Grant {
    pub fn valid_at(&self, now: DateTime<Utc>) -> bool {
        self.valid_from <= now && now < self.valid_until
    }
}

/// 002 §5-2: prior agreement for terminal use outside office hours or on holidays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffHoursApproval {
    pub id: ApprovalId,
    pub person: PersonId,
    pub terminal: TerminalId,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub reason: String,
    pub approved_by: PersonId,
}

/// 003 §13(4), 002 §5-4, 000 §7(2): a registered maintenance visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorVisit {
    pub id: VisitId,
    pub vendor: PersonId,
    pub company: String,
    pub purpose: String,
    pub name_tag: String,
    pub doors: Vec<DoorId>,
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub escorts: Vec<PersonId>,
    pub approved_by: PersonId,
    /// Communication devices or storage media the visit is approved to bring in (000 §7(2)).
    pub media_allowed: Vec<String>,
}

impl VendorVisit {
    pub fn covers(&self, door: &DoorId, now: DateTime<Utc>) -> bool {
        self.doors.contains(door) && self.from <= now && now < self.until
    }
}

/// Grants by holder, so a decision over thousands of grants looks only at the person's own. Built from one
/// registry snapshot and used only with that snapshot (the daemon swaps both together).
#[derive(Debug, Clone, Default)]
pub struct GrantIndex {
    by_holder: std::collections::HashMap<PersonId, Vec<usize>>,
}

impl GrantIndex {
    pub fn new(reg: &Registry) -> GrantIndex {
        let mut by_holder: std::collections::HashMap<PersonId, Vec<usize>> = std::collections::HashMap::new();
        for (i, g) in reg.grants.iter().enumerate() {
            by_holder.entry(g.holder.clone()).or_default().push(i);
        }
        GrantIndex { by_holder }
    }
}

/// The snapshot every decision reads. Built by the daemon from its stores; plain data here.
#[derive(Debug, Clone)]
pub struct Registry {
    pub site: Site,
    pub people: BTreeMap<PersonId, Person>,
    pub grants: Vec<Grant>,
    pub off_hours: Vec<OffHoursApproval>,
    pub visits: Vec<VendorVisit>,
}

impl Registry {
    pub fn person(&self, id: &PersonId) -> Option<&Person> {
        self.people.get(id)
    }

    pub fn grants_for<'a>(&'a self, id: &'a PersonId) -> impl Iterator<Item = &'a Grant> + 'a {
        self.grants.iter().filter(move |g| &g.holder == id)
    }

    /// A person's grants through `index` when one is given (it must have been built from this registry).
    pub fn grants_of<'a>(
        &'a self,
        id: &'a PersonId,
        index: Option<&'a GrantIndex>,
    ) -> Box<dyn Iterator<Item = &'a Grant> + 'a> {
        match index {
            Some(ix) => Box::new(
                ix.by_holder
                    .get(id)
                    .into_iter()
                    .flatten()
                    .filter_map(|&i| self.grants.get(i))
                    .filter(move |g| &g.holder == id),
            ),
            None => Box::new(self.grants_for(id)),
        }
    }

    pub fn door(&self, id: &DoorId) -> Option<&crate::site::DoorConfig> {
        self.site.door(id)
    }

    /// Whether a grant counts: issued in the role the site's regulation names for the level (003 §13(2),
    /// 000 §7(1), 002 §10(1)), by someone who holds it now.
    pub fn issuer_valid(&self, g: &Grant, level: Level) -> bool {
        g.issuer_role == self.site.regulation.issuer(level)
            && self.person(&g.issued_by).is_some_and(|p| p.active && p.has_role(g.issuer_role))
    }

    /// The people a door's reader should identify among (THREATS: identification only among people allowed
    /// in that zone): holders of a grant for the door's zone valid now, vendors with a visit for the door now,
    /// and those visits' escorts.
    pub fn people_allowed_at_door(&self, door: &DoorId, now: DateTime<Utc>) -> BTreeSet<PersonId> {
        let mut out = BTreeSet::new();
        let Some(d) = self.site.door(door) else {
            return out;
        };
        let zone = Place::Zone(d.zone.clone());
        for g in &self.grants {
            if g.place == zone && g.valid_at(now) {
                out.insert(g.holder.clone());
            }
        }
        for v in &self.visits {
            if v.covers(door, now) {
                out.insert(v.vendor.clone());
                out.extend(v.escorts.iter().cloned());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn person(end: Option<NaiveDate>, active: bool) -> Person {
        Person {
            id: PersonId::new("ito"),
            match_id: MatchId::new("m-1"),
            name: "伊藤".into(),
            affiliation: "市民課".into(),
            roles: vec![Role::SiteAdministrator],
            appointment_end: end,
            active,
        }
    }

    proptest! {
        /// 004 §7: authority lasts through the appointment's last day and not a day longer.
        #[test]
        fn r21_authority_lasts_through_the_last_day_of_the_appointment(days in -3000i64..3000, offset in -400i64..400) {
            let end = NaiveDate::from_ymd_opt(2027, 3, 31).unwrap() + chrono::Duration::days(days);
            let day = end + chrono::Duration::days(offset);
            let p = person(Some(end), true);
            prop_assert_eq!(p.within_appointment(day), offset <= 0);
            prop_assert_eq!(p.in_office(day), offset <= 0);
            prop_assert!(!person(Some(end), false).in_office(day), "a removed person is never in office");
            prop_assert!(person(None, true).in_office(day), "no fixed term: no end");
        }
    }
}
