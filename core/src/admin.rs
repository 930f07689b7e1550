//! Who may perform which administrative act, and whether it takes effect at once or waits for the system
//! administrator's approval (003 §5(4), §7). A plain function over roles: the daemon proves *who* the actor
//! is (their own biometric at the terminal's reader); this module says what that person may do.
//!
//! The rule of thumb the regulations give: site administrators (拠点管理者) manage matching data and
//! operating authority, but each registration, deletion, delegation and return they make is a *request*
//! until the system administrator (システム管理者) approves it. Acts of the role a level names as its issuer
//! (003 §13(1)-(3)) take effect at once, because that role *is* the approving authority.

use crate::model::{Level, Role};
use serde::{Deserialize, Serialize};

/// An administrative act, with what the rule needs to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// Register a person or appoint roles (003 §5(4): the system administrator appoints).
    AddPerson,
    /// Enroll (or re-enroll) someone's matching data (003 §7, §15).
    Enroll,
    /// Remove a person on transfer or leaving: revoke everything, erase templates (000 §8(2)).
    DeletePerson,
    /// Grant access to a place of this level (delegation of operating authority, 003 §7(3)).
    Grant(Level),
    /// Revoke / return a grant of this level (003 §7(3)).
    Revoke(Level),
    /// Prior approval for terminal use outside office hours (002 §5-2).
    OffHours,
    /// Register a vendor visit (003 §13(4)).
    Visit,
    /// Lift a biometric lockout.
    Unlock,
    /// Lend or take back a viewer ID (004 §11).
    LendViewer,
    /// Periodic review of grants, templates and roles (004 §5(10)).
    Review,
    /// Acknowledge an alarm (003 §20, 001 §10).
    AckAlarm,
    /// Rotate the node key that wraps template data keys (001 §15(4)).
    RotateKey,
    /// Decide (approve or reject) a pending request.
    Decide,
    /// Read the operation history / ledgers; `other_section` when it covers people of another section than
    /// the reader's own (002 §7(11)).
    ViewRecords { other_section: bool },
}

impl Act {
    pub fn article(self) -> &'static str {
        match self {
            Act::AddPerson => "003 §5(4)",
            Act::Enroll => "003 §7, §15",
            Act::DeletePerson => "000 §8(2), 003 §7",
            Act::Grant(_) | Act::Revoke(_) => "003 §7(3), §13",
            Act::OffHours => "002 §5-2",
            Act::Visit => "003 §13(4)",
            Act::Unlock => "NIST SP 800-63B §5.2.2",
            Act::LendViewer => "004 §11",
            Act::Review => "004 §5(10)",
            Act::AckAlarm => "003 §20, 001 §10",
            Act::RotateKey => "001 §15(4)",
            Act::Decide => "003 §7",
            Act::ViewRecords { .. } => "002 §7(11)",
        }
    }
}

/// How a permitted act takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// At once, the actor being the approving authority.
    Direct,
    /// As a pending request the system administrator approves or rejects.
    Request,
}

/// Why an act is refused: the roles that could do it, for the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{act:?} needs the role {}; the actor holds {}", needed_list(.needed), held_list(.held))]
pub struct NotPermitted {
    pub act: Act,
    pub needed: Vec<Role>,
    pub held: Vec<Role>,
}

fn needed_list(r: &[Role]) -> String {
    r.iter().map(|x| format!("{} ({})", x.as_str(), x.japanese())).collect::<Vec<_>>().join(" or ")
}

fn held_list(r: &[Role]) -> String {
    if r.is_empty() { "none".into() } else { r.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(", ") }
}

/// Roles that may read every section's records without asking (they supervise the whole site).
const SUPERVISORS: [Role; 4] =
    [Role::SystemAdministrator, Role::SecurityManager, Role::SecurityDirector, Role::DataManager];

/// The rule: may a holder of `roles` perform `act`, and how does it take effect?
pub fn authorize(act: Act, roles: &[Role]) -> Result<Mode, NotPermitted> {
    use Role::*;
    let has = |r: Role| roles.contains(&r);
    // (roles acting directly, roles acting by request)
    let (direct, request): (&[Role], &[Role]) = match act {
        Act::AddPerson | Act::OffHours | Act::Visit | Act::LendViewer | Act::Review | Act::RotateKey | Act::Decide => {
            (&[SystemAdministrator], &[])
        }
        Act::Enroll | Act::DeletePerson => (&[SystemAdministrator], &[SiteAdministrator]),
        Act::Grant(level) => match level {
            Level::L1 => (&[SystemAdministrator], &[SiteAdministrator]),
            Level::L2 => (&[DataManager], &[]),
            Level::L3 => (&[SecurityDirector], &[]),
        },
        // Taking authority away is never harder than giving it: the issuer role or the system administrator.
        Act::Revoke(level) => match level {
            Level::L1 => (&[SystemAdministrator], &[SiteAdministrator]),
            Level::L2 => (&[DataManager, SystemAdministrator], &[]),
            Level::L3 => (&[SecurityDirector, SystemAdministrator], &[]),
        },
        Act::Unlock => (&[SystemAdministrator, SecurityManager], &[]),
        Act::AckAlarm => (&[SecurityManager, SystemAdministrator], &[]),
        Act::ViewRecords { other_section: false } => (&SUPERVISORS, &[SiteAdministrator]),
        Act::ViewRecords { other_section: true } => (&SUPERVISORS, &[SiteAdministrator]),
    };
    if direct.iter().any(|r| has(*r)) {
        return Ok(Mode::Direct);
    }
    // A site administrator reads their own section's history directly; another section's needs approval.
    if act == (Act::ViewRecords { other_section: false }) && has(SiteAdministrator) {
        return Ok(Mode::Direct);
    }
    if request.iter().any(|r| has(*r)) {
        return Ok(Mode::Request);
    }
    let mut needed = direct.to_vec();
    needed.extend_from_slice(request);
    Err(NotPermitted { act, needed, held: roles.to_vec() })
}

/// The four-eyes rule for decisions: the system administrator decides, never on a request of their own.
pub fn may_decide(decider_roles: &[Role], decider: &str, requester: &str) -> Result<(), &'static str> {
    if !decider_roles.contains(&Role::SystemAdministrator) {
        return Err("only the system administrator (システム管理者) approves or rejects requests (003 §7)");
    }
    if decider == requester {
        return Err("a request cannot be approved by the person who made it (003 §7: another person approves)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;
    use proptest::prelude::*;

    #[test]
    fn site_administrators_request_and_the_system_administrator_acts() {
        // 003 §7: a site administrator's enrollment, deletion, delegation and return wait for approval.
        for act in [Act::Enroll, Act::DeletePerson, Act::Grant(Level::L1), Act::Revoke(Level::L1)] {
            assert_eq!(authorize(act, &[SiteAdministrator]), Ok(Mode::Request), "{act:?}");
            assert_eq!(authorize(act, &[SystemAdministrator]), Ok(Mode::Direct), "{act:?}");
        }
    }

    #[test]
    fn an_operator_cannot_enroll_or_grant() {
        let e = authorize(Act::Enroll, &[Operator]).unwrap_err();
        assert_eq!(e.needed, vec![SystemAdministrator, SiteAdministrator]);
        assert!(e.to_string().contains("拠点管理者"), "{e}");
        assert!(authorize(Act::Grant(Level::L1), &[Operator]).is_err());
        assert!(authorize(Act::Decide, &[SiteAdministrator]).is_err());
    }

    #[test]
    fn levels_two_and_three_are_granted_only_by_their_issuer() {
        // 003 §13(2), (3): the data manager designates L2, the security director permits L3.
        assert_eq!(authorize(Act::Grant(Level::L2), &[DataManager]), Ok(Mode::Direct));
        assert!(authorize(Act::Grant(Level::L2), &[SystemAdministrator]).is_err());
        assert!(authorize(Act::Grant(Level::L2), &[SiteAdministrator]).is_err());
        assert_eq!(authorize(Act::Grant(Level::L3), &[SecurityDirector]), Ok(Mode::Direct));
        assert!(authorize(Act::Grant(Level::L3), &[DataManager]).is_err());
        // …but any of them may be revoked by the system administrator.
        assert_eq!(authorize(Act::Revoke(Level::L3), &[SystemAdministrator]), Ok(Mode::Direct));
    }

    #[test]
    fn other_sections_records_need_approval_for_a_site_administrator() {
        // 002 §7(11).
        assert_eq!(authorize(Act::ViewRecords { other_section: false }, &[SiteAdministrator]), Ok(Mode::Direct));
        assert_eq!(authorize(Act::ViewRecords { other_section: true }, &[SiteAdministrator]), Ok(Mode::Request));
        assert_eq!(authorize(Act::ViewRecords { other_section: true }, &[SecurityManager]), Ok(Mode::Direct));
        assert!(authorize(Act::ViewRecords { other_section: false }, &[Operator]).is_err());
    }

    #[test]
    fn nobody_approves_their_own_request() {
        assert!(may_decide(&[SystemAdministrator], "a", "a").is_err());
        assert!(may_decide(&[SiteAdministrator], "a", "b").is_err());
        assert!(may_decide(&[SystemAdministrator], "a", "b").is_ok());
    }

    fn roles() -> impl Strategy<Value = Vec<Role>> {
        proptest::sample::subsequence(Role::ALL.to_vec(), 0..=8)
    }

    fn acts() -> impl Strategy<Value = Act> {
        let levels = prop_oneof![Just(Level::L1), Just(Level::L2), Just(Level::L3)];
        prop_oneof![
            Just(Act::AddPerson),
            Just(Act::Enroll),
            Just(Act::DeletePerson),
            levels.clone().prop_map(Act::Grant),
            levels.prop_map(Act::Revoke),
            Just(Act::OffHours),
            Just(Act::Visit),
            Just(Act::Unlock),
            Just(Act::LendViewer),
            Just(Act::Review),
            Just(Act::AckAlarm),
            Just(Act::RotateKey),
            Just(Act::Decide),
            any::<bool>().prop_map(|o| Act::ViewRecords { other_section: o }),
        ]
    }

    proptest! {
        /// Without any role nothing is permitted; operators, vendors and viewers never administer anything.
        #[test]
        fn plain_users_never_administer(act in acts(), extra in proptest::sample::subsequence(vec![Operator, Vendor, Viewer], 0..=3)) {
            prop_assert!(authorize(act, &extra).is_err());
        }

        /// Adding roles never takes a permission away (monotonic), and a Direct stays Direct.
        #[test]
        fn more_roles_never_permit_less(act in acts(), a in roles(), b in roles()) {
            let mut both = a.clone();
            both.extend(b);
            match authorize(act, &a) {
                Ok(Mode::Direct) => prop_assert_eq!(authorize(act, &both), Ok(Mode::Direct)),
                Ok(Mode::Request) => prop_assert!(authorize(act, &both).is_ok()),
                Err(_) => {}
            }
        }

        /// Only a system administrator decides requests, whatever else they hold.
        #[test]
        fn only_system_administrators_decide(r in roles()) {
            prop_assert_eq!(may_decide(&r, "x", "y").is_ok(), r.contains(&SystemAdministrator));
        }
    }
}
