//! Who may perform which administrative act, and whether it takes effect at once or waits for the system
//! administrator's approval (003 §5(4), §7). A plain function over roles: the daemon proves *who* the actor
//! is (their own biometric at the terminal's reader); this module says what that person may do.
//!
//! The rule of thumb the regulations give: site administrators (拠点管理者) manage matching data and
//! operating authority, but each registration, deletion, delegation and return they make is a *request*
//! until the system administrator (システム管理者) approves it. Acts of the role a level names as its issuer
//! (003 §13(1)-(3)) take effect at once, because that role *is* the approving authority.
//!
//! Which roles those are is the site's city profile ([`crate::regulation::Regulation`], `[regulation]` in the
//! site file): [`authorize_in`] and [`may_decide_in`] take it as plain data; [`authorize`] and [`may_decide`]
//! are Sendai's rule (003), the default.

use crate::regulation::Regulation;
use crate::roles::{Level, Role};
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
    /// Issue or withdraw a card (or keypad ID) for a `card+biometric` door: the system administrator
    /// distributes user IDs and keeps their ledger (003 §14(2)); IDs properly issued (001 §15(2)).
    IssueCard,
    /// Periodic review of grants, templates and roles (004 §5(10)).
    Review,
    /// Acknowledge an alarm (003 §20, 001 §10).
    AckAlarm,
    /// Rotate the node key that wraps template data keys (001 §15(4)).
    RotateKey,
    /// Take a backup of the stores (002 §6(4): copies of important records keep the data safe). The copy
    /// holds the registry and the audit record, so only the system administrator makes one.
    Backup,
    /// Acknowledge that events the node signed were lost with its disk (a restore from an older backup):
    /// the record of remembered heads keeps naming them, and only the system administrator, who keeps the
    /// copies of the records (002 §6(4)), may put the loss on record so that verification names it instead of
    /// failing.
    AcknowledgeLoss,
    /// Decide (approve or reject) a pending request.
    Decide,
    /// Read the operation history / ledgers; `other_section` when it covers people of another section than
    /// the reader's own (002 §7(11)).
    ViewRecords { other_section: bool },
    /// Declare the devices and media a vendor actually brings into the server room, or takes out again
    /// (000 §7(2): the system administrator lets in nothing the room does not need).
    VisitMedia,
    /// Take a storage medium out of the office, or consent to a take-out another officer recorded (003 §11(3):
    /// the data manager and the system administrator both consent; 001 §8(2), 002 §6④(6) in their profiles).
    MediaTakeOut,
    /// Record that a medium taken out came back (003 §11(2), 002 §6④(6)).
    MediaReturn,
    /// Record a medium's disposal, how and witnessed by whom (003 §11(4)-(5), 002 §6④(3), (6), 001 §9).
    MediaDispose,
    /// Record whether a medium is faulty (003 §11(6): the system administrator records it).
    MediaFault,
}

impl Act {
    /// The act in words, with the forms' Japanese term, for refusals (issue 22 §3: no internal names).
    pub fn describe(self) -> String {
        let level = |l: Level| match l {
            Level::L1 => 1,
            Level::L2 => 2,
            Level::L3 => 3,
        };
        match self {
            Act::AddPerson => "registering people and appointing roles (職員の登録・役割の指定)".into(),
            Act::Enroll => "enrolling matching data (照合情報の登録)".into(),
            Act::DeletePerson => "removing a person on transfer or leaving (異動・退職による削除)".into(),
            Act::Grant(l) => format!("granting access to level {} places (レベル{}の権限付与)", level(l), level(l)),
            Act::Revoke(l) => format!("revoking a level {} grant (レベル{}の権限の返却・取消)", level(l), level(l)),
            Act::OffHours => "approving use outside office hours (時間外使用の承認)".into(),
            Act::Visit => "registering a vendor visit (保守業者の入室登録)".into(),
            Act::Unlock => "lifting a biometric lockout (ロックの解除)".into(),
            Act::LendViewer => "lending or taking back a viewer ID (閲覧用IDの貸出)".into(),
            Act::IssueCard => "issuing or withdrawing a card or keypad ID (カード・IDの交付と回収)".into(),
            Act::Review => "the periodic review (定期点検)".into(),
            Act::AckAlarm => "acknowledging an alarm (警報の確認)".into(),
            Act::RotateKey => "rotating the node key (鍵の更新)".into(),
            Act::Backup => "taking a backup of the stores (バックアップの取得)".into(),
            Act::AcknowledgeLoss => "acknowledging a loss of audit records (記録喪失の確認)".into(),
            Act::Decide => "approving or rejecting a request (申請の承認・却下)".into(),
            Act::ViewRecords { other_section: false } => "reading the records (記録の閲覧)".into(),
            Act::ViewRecords { other_section: true } => "reading another section's records (他課の記録の閲覧)".into(),
            Act::VisitMedia => {
                "declaring the devices and media a vendor brings in or takes out (持込・持出の確認)".into()
            }
            Act::MediaTakeOut => "taking a storage medium out, or consenting to it (記録媒体の持出し)".into(),
            Act::MediaReturn => "recording a storage medium's return (記録媒体の返却)".into(),
            Act::MediaDispose => "recording a storage medium's disposal (記録媒体の廃棄)".into(),
            Act::MediaFault => "recording a storage medium's fault (記録媒体の障害)".into(),
        }
    }

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
            Act::IssueCard => "003 §14(2), 001 §15(2)",
            Act::Review => "004 §5(10)",
            Act::AckAlarm => "003 §20, 001 §10",
            Act::RotateKey => "001 §15(4)",
            Act::Backup | Act::AcknowledgeLoss => "002 §6(4)",
            Act::Decide => "003 §7",
            Act::ViewRecords { .. } => "002 §7(11)",
            Act::VisitMedia => "000 §7(2)",
            Act::MediaTakeOut => "003 §11(3), 001 §8(2), 002 §6④(6)",
            Act::MediaReturn => "003 §11(2), 002 §6④(6)",
            Act::MediaDispose => "003 §11(4)-(5), 002 §6④(3), (6), 001 §9",
            Act::MediaFault => "003 §11(6)",
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
#[error("{} needs the role {}; the actor holds {}", .act.describe(), needed_list(.needed), held_list(.held))]
pub struct NotPermitted {
    pub act: Act,
    pub needed: Vec<Role>,
    pub held: Vec<Role>,
}

fn needed_list(r: &[Role]) -> String {
    r.iter().map(|x| format!("{} ({})", x.as_str(), x.japanese())).collect::<Vec<_>>().join(" or ")
}

fn held_list(r: &[Role]) -> String {
    if r.is_empty() {
        "no role".into()
    } else {
        r.iter().map(|x| format!("{} ({})", x.as_str(), x.japanese())).collect::<Vec<_>>().join(", ")
    }
}

/// The rule under Sendai's regulation (003, the default profile). The daemon uses [`authorize_in`] with the
/// site's own profile.
pub fn authorize(act: Act, roles: &[Role]) -> Result<Mode, NotPermitted> {
    authorize_in(act, roles, &Regulation::default())
}

fn dedup(mut v: Vec<Role>) -> Vec<Role> {
    let mut seen = Vec::new();
    v.retain(|r| {
        let fresh = !seen.contains(r);
        seen.push(*r);
        fresh
    });
    v
}

/// (roles acting directly, roles acting by request) for `act` under `reg`.
fn rule(act: Act, reg: &Regulation) -> (Vec<Role>, Vec<Role>) {
    use Role::*;
    let (direct, request) = match act {
        // 003 §14(2): the system administrator distributes user IDs (a card is one) and keeps their ledger.
        Act::AddPerson
        | Act::Visit
        | Act::LendViewer
        | Act::Review
        | Act::RotateKey
        | Act::IssueCard
        | Act::Backup
        | Act::AcknowledgeLoss => (vec![SystemAdministrator], vec![]),
        // 002 §5-2: prior agreement of the profile's approver (電算管理者 in 002).
        Act::OffHours => (vec![reg.off_hours_approver], vec![]),
        // Whoever approves some kind of request under this profile; `may_decide_in` checks the kind.
        Act::Decide => {
            (vec![reg.operator_designator, SystemAdministrator, reg.level1_issuer, reg.view_approver], vec![])
        }
        // 003 §7(3), 000 §8(1)-(2), 001 §6, 004 §6: the designator enrolls and removes operators; the system
        // administrator, who registers people, keeps it too.
        Act::Enroll | Act::DeletePerson => {
            (vec![reg.operator_designator, SystemAdministrator], reg.operator_requesters.clone())
        }
        // 003 §13(2), 000 §7(1), 002 §10(1): only the level's issuer grants; Level 1 delegations may be requested.
        Act::Grant(Level::L1) => (vec![reg.level1_issuer], reg.operator_requesters.clone()),
        Act::Grant(level) => (vec![reg.issuer(level)], vec![]),
        // Taking authority away is never harder than giving it: the issuer role or the system administrator.
        Act::Revoke(Level::L1) => (vec![reg.level1_issuer, SystemAdministrator], reg.operator_requesters.clone()),
        Act::Revoke(level) => (vec![reg.issuer(level), SystemAdministrator], vec![]),
        Act::Unlock => (vec![SystemAdministrator, SecurityManager], vec![]),
        Act::AckAlarm => (vec![SecurityManager, SystemAdministrator], vec![]),
        // 002 §7(11): the profile's readers read every section; site administrators and section officers ask.
        Act::ViewRecords { .. } => (reg.record_readers.clone(), vec![SiteAdministrator, SecurityManager]),
        // 000 §7(2): the system administrator (管理者) decides what may come into the server room.
        Act::VisitMedia => (vec![SystemAdministrator], vec![]),
        // 003 §11(3): each consenting role records its consent; the take-out is out once all have.
        Act::MediaTakeOut => (reg.media_takeout_consent.clone(), vec![]),
        // 003 §11(2), (5); 002 §6④(6); 001 §8(2), §9: the custodian, or the system administrator.
        Act::MediaReturn | Act::MediaDispose => (vec![reg.media_custodian, SystemAdministrator], vec![]),
        // 003 §11(6): the system administrator records faults; the custodian who finds one may too.
        Act::MediaFault => (vec![SystemAdministrator, reg.media_custodian], vec![]),
    };
    let direct = dedup(direct);
    let request = dedup(request).into_iter().filter(|r| !direct.contains(r)).collect();
    (direct, request)
}

/// The rule under a city's profile: may a holder of `roles` perform `act`, and how does it take effect?
pub fn authorize_in(act: Act, roles: &[Role], reg: &Regulation) -> Result<Mode, NotPermitted> {
    let has = |r: &Role| roles.contains(r);
    let (direct, request) = rule(act, reg);
    if direct.iter().any(has) {
        return Ok(Mode::Direct);
    }
    // Those who ask for another section's records read their own directly — unless the profile says one's
    // own section needs approval too (002 §7(11)).
    if act == (Act::ViewRecords { other_section: false }) && !reg.own_section_needs_approval && request.iter().any(has)
    {
        return Ok(Mode::Direct);
    }
    if request.iter().any(has) {
        return Ok(Mode::Request);
    }
    let mut needed = direct;
    needed.extend(request);
    Err(NotPermitted { act, needed, held: roles.to_vec() })
}

/// The roles that approve a request for `act` (the act the request would perform) under `reg`: those who may
/// perform it directly, and for reading records the profile's view approver.
pub fn approvers(act: Act, reg: &Regulation) -> Vec<Role> {
    match act {
        Act::ViewRecords { .. } => vec![reg.view_approver],
        other => rule(other, reg).0,
    }
}

/// The four-eyes rule for decisions: the system administrator decides, never on a request of their own.
pub fn may_decide(decider_roles: &[Role], decider: &str, requester: &str) -> Result<(), NotTheApprover> {
    if !decider_roles.contains(&Role::SystemAdministrator) {
        return Err(NotTheApprover::NotTheSystemAdministrator);
    }
    if decider == requester {
        return Err(NotTheApprover::OwnRequest);
    }
    Ok(())
}

/// Why a decider may not approve or reject a request under the site's profile (the four-eyes rule).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotTheApprover {
    /// The decider holds none of the roles the profile names for this kind of request.
    #[error("only the {} approves or rejects this request ({}; profile {})", needed_list(.approvers), .act.article(), .preset)]
    NotAnApprover { act: Act, approvers: Vec<Role>, preset: crate::regulation::Preset },
    /// Without a profile (Sendai's rule): only the system administrator decides.
    #[error("only the system administrator (システム管理者) approves or rejects requests (003 §7)")]
    NotTheSystemAdministrator,
    /// 003 §7: another person approves.
    #[error("a request cannot be approved by the person who made it (003 §7: another person approves)")]
    OwnRequest,
}

/// The four-eyes rule under a profile: a request for `act` is decided by one of its [`approvers`], never by
/// the person who made it.
pub fn may_decide_in(
    act: Act,
    reg: &Regulation,
    decider_roles: &[Role],
    decider: &str,
    requester: &str,
) -> Result<(), NotTheApprover> {
    let who = approvers(act, reg);
    if !who.iter().any(|r| decider_roles.contains(r)) {
        return Err(NotTheApprover::NotAnApprover { act, approvers: who, preset: reg.preset });
    }
    if decider == requester {
        return Err(NotTheApprover::OwnRequest);
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
        let e = authorize(Act::Grant(Level::L2), &[SystemAdministrator]).unwrap_err().to_string();
        // Issue 22 §3: in words, roles as the README writes them with the Japanese term, no `Grant(L2)`.
        assert_eq!(
            e,
            "granting access to level 2 places (レベル2の権限付与) needs the role data-manager (本人確認情報管理責任者); \
             the actor holds system-administrator (システム管理者)"
        );
        let e = authorize(Act::Decide, &[Operator]).unwrap_err().to_string();
        assert!(e.starts_with("approving or rejecting a request (申請の承認・却下) needs the role "), "{e}");
        assert!(!e.contains("Decide"), "{e}");
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
        assert_eq!(may_decide(&[SystemAdministrator], "a", "a"), Err(NotTheApprover::OwnRequest));
        assert_eq!(
            may_decide(&[SiteAdministrator], "a", "b").unwrap_err().to_string(),
            "only the system administrator (システム管理者) approves or rejects requests (003 §7)"
        );
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
            Just(Act::Backup),
            Just(Act::AcknowledgeLoss),
            Just(Act::Decide),
            any::<bool>().prop_map(|o| Act::ViewRecords { other_section: o }),
            Just(Act::VisitMedia),
            Just(Act::MediaTakeOut),
            Just(Act::MediaReturn),
            Just(Act::MediaDispose),
            Just(Act::MediaFault),
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

/// Each preset against its own articles (issue 21 §6).
#[cfg(test)]
mod profile_tests {
    use super::*;
    use crate::regulation::Preset::{self, *};
    use Role::*;
    use proptest::prelude::*;

    fn ok(act: Act, roles: &[Role], p: Preset) -> Result<Mode, NotPermitted> {
        authorize_in(act, roles, &p.regulation())
    }

    /// 000 §7(1): Kitaibaraki's system administrator (管理者) permits the server room, the data manager may not;
    /// 003 §13(2): Sendai the other way round.
    #[test]
    fn art_000_7_1_kitaibaraki_level2_is_granted_by_the_system_administrator() {
        assert_eq!(ok(Act::Grant(Level::L2), &[SystemAdministrator], Kitaibaraki), Ok(Mode::Direct));
        assert!(ok(Act::Grant(Level::L2), &[DataManager], Kitaibaraki).is_err());
        assert!(ok(Act::Grant(Level::L2), &[SystemAdministrator], Sendai).is_err());
        assert_eq!(ok(Act::Grant(Level::L2), &[DataManager], Sendai), Ok(Mode::Direct));
        // Silent on media rooms: Sendai's security director.
        assert_eq!(ok(Act::Grant(Level::L3), &[SecurityDirector], Kitaibaraki), Ok(Mode::Direct));
    }

    /// 000 §8(1)-(2): the security officer (セキュリティ責任者) designates operators, registers and deletes their
    /// palm data — directly; a site administrator's request for it is theirs to approve.
    #[test]
    fn art_000_8_kitaibaraki_security_officer_designates_operators() {
        for act in [Act::Enroll, Act::DeletePerson, Act::Grant(Level::L1), Act::Revoke(Level::L1)] {
            assert_eq!(ok(act, &[SecurityManager], Kitaibaraki), Ok(Mode::Direct), "{act:?}");
            assert!(ok(act, &[SecurityManager], Sendai).is_err(), "{act:?} under 003");
            assert_eq!(ok(act, &[SiteAdministrator], Kitaibaraki), Ok(Mode::Request), "{act:?}");
        }
        let k = Kitaibaraki.regulation();
        assert!(may_decide_in(Act::Grant(Level::L1), &k, &[SecurityManager], "ono", "ito").is_ok());
        let e = may_decide_in(Act::Grant(Level::L1), &k, &[SystemAdministrator], "sato", "ito").unwrap_err();
        assert!(e.to_string().contains("security-manager"), "{e}");
        assert_eq!(
            e.to_string(),
            "only the security-manager (セキュリティ管理者) approves or rejects this request (003 §7(3), §13; profile kitaibaraki)"
        );
        assert!(may_decide_in(Act::Enroll, &k, &[SecurityManager], "ono", "ono").is_err(), "never one's own");
    }

    /// 002 §10(1): Obama's server room is admitted by the 電算責任者 managing it; §7(2)-(3): the section
    /// officer notifies an operator, the 電算管理者 registers; §7(11): the operation records, one's own section's
    /// included, are checked only with the 電算管理者's approval; §5-2: off-hours use agreed with the 電算管理者.
    #[test]
    fn art_002_obama_server_room_notification_and_records() {
        assert_eq!(ok(Act::Grant(Level::L2), &[SecurityManager], Obama), Ok(Mode::Direct));
        assert!(ok(Act::Grant(Level::L2), &[DataManager], Obama).is_err());
        assert_eq!(ok(Act::Enroll, &[SecurityManager], Obama), Ok(Mode::Request));
        assert_eq!(ok(Act::Grant(Level::L1), &[SecurityManager], Obama), Ok(Mode::Request));
        assert_eq!(ok(Act::Grant(Level::L1), &[SystemAdministrator], Obama), Ok(Mode::Direct));
        for own in [false, true] {
            let view = Act::ViewRecords { other_section: !own };
            assert_eq!(ok(view, &[SiteAdministrator], Obama), Ok(Mode::Request), "own {own}");
            assert_eq!(ok(view, &[SecurityManager], Obama), Ok(Mode::Request), "own {own}");
            assert_eq!(ok(view, &[SystemAdministrator], Obama), Ok(Mode::Direct), "own {own}");
        }
        // Sendai: one's own section directly, the security manager everything.
        assert_eq!(ok(Act::ViewRecords { other_section: false }, &[SiteAdministrator], Sendai), Ok(Mode::Direct));
        assert_eq!(ok(Act::ViewRecords { other_section: true }, &[SecurityManager], Sendai), Ok(Mode::Direct));
        let o = Obama.regulation();
        let view = Act::ViewRecords { other_section: true };
        assert!(may_decide_in(view, &o, &[SystemAdministrator], "a", "b").is_ok());
        assert!(may_decide_in(view, &o, &[SecurityManager], "a", "b").is_err());
        assert_eq!(ok(Act::OffHours, &[SystemAdministrator], Obama), Ok(Mode::Direct));
        assert!(ok(Act::OffHours, &[SecurityManager], Obama).is_err());
    }

    /// 001 §6: Kurume's protection officer (保護責任者) designates the staff handling the data.
    #[test]
    fn art_001_6_kurume_protection_officer_designates() {
        assert_eq!(ok(Act::Grant(Level::L1), &[SecurityManager], Kurume), Ok(Mode::Direct));
        assert_eq!(ok(Act::Enroll, &[SecurityManager], Kurume), Ok(Mode::Direct));
        assert!(ok(Act::Grant(Level::L1), &[SystemAdministrator], Kurume).is_err());
        // Silent on server and media rooms: Sendai's issuers.
        assert_eq!(ok(Act::Grant(Level::L2), &[DataManager], Kurume), Ok(Mode::Direct));
        assert_eq!(ok(Act::Grant(Level::L3), &[SecurityDirector], Kurume), Ok(Mode::Direct));
    }

    /// 004 §6(1)-(3): Kitami's section officer (情報セキュリティ責任者) applies, the two-factor system's
    /// administrator registers the terminal authority.
    #[test]
    fn art_004_6_kitami_section_officer_applies_and_the_administrator_registers() {
        assert_eq!(ok(Act::Grant(Level::L1), &[SecurityManager], Kitami), Ok(Mode::Request));
        assert_eq!(ok(Act::Enroll, &[SecurityManager], Kitami), Ok(Mode::Request));
        assert_eq!(ok(Act::Grant(Level::L1), &[SystemAdministrator], Kitami), Ok(Mode::Direct));
        let k = Kitami.regulation();
        assert!(may_decide_in(Act::Grant(Level::L1), &k, &[SystemAdministrator], "a", "b").is_ok());
        assert!(may_decide_in(Act::Grant(Level::L1), &k, &[SecurityManager], "a", "b").is_err());
    }

    /// 003 §11(3): in Sendai a take-out is consented by the data manager and the system administrator (each
    /// records their consent); §11(2), (5): the data manager records returns and disposals, the system
    /// administrator may too; §11(6): the system administrator records faults. 001 §8(2) and 002 §6④(6): the
    /// section's officer (security manager here) keeps Kurume's and Obama's register; 000 §11: Kitaibaraki's
    /// security director keeps the media. Nobody else records anything.
    #[test]
    fn art_003_11_media_register_roles_by_profile() {
        for r in [DataManager, SystemAdministrator] {
            assert_eq!(ok(Act::MediaTakeOut, &[r], Sendai), Ok(Mode::Direct), "{r:?}");
            assert_eq!(ok(Act::MediaReturn, &[r], Sendai), Ok(Mode::Direct), "{r:?}");
            assert_eq!(ok(Act::MediaDispose, &[r], Sendai), Ok(Mode::Direct), "{r:?}");
        }
        assert_eq!(ok(Act::MediaFault, &[SystemAdministrator], Sendai), Ok(Mode::Direct));
        for r in [SiteAdministrator, SecurityManager, SecurityDirector] {
            assert!(ok(Act::MediaTakeOut, &[r], Sendai).is_err(), "{r:?}");
            assert!(ok(Act::MediaDispose, &[r], Sendai).is_err(), "{r:?}");
        }
        for p in [Kurume, Obama] {
            assert_eq!(ok(Act::MediaTakeOut, &[SecurityManager], p), Ok(Mode::Direct), "{p:?}");
            assert_eq!(ok(Act::MediaDispose, &[SecurityManager], p), Ok(Mode::Direct), "{p:?}");
            assert!(ok(Act::MediaTakeOut, &[DataManager], p).is_err(), "{p:?}");
        }
        assert_eq!(ok(Act::MediaDispose, &[SecurityDirector], Kitaibaraki), Ok(Mode::Direct));
        assert_eq!(ok(Act::VisitMedia, &[SystemAdministrator], Sendai), Ok(Mode::Direct));
        assert!(ok(Act::VisitMedia, &[Operator], Sendai).is_err(), "an escort declares through the administrator");
        let e = ok(Act::MediaFault, &[SiteAdministrator], Sendai).unwrap_err().to_string();
        assert!(e.starts_with("recording a storage medium's fault (記録媒体の障害) needs the role "), "{e}");
    }

    /// Sendai's profile gives exactly the rule `authorize` always gave (003).
    #[test]
    fn sendai_profile_is_the_old_rule() {
        let s = Sendai.regulation();
        for act in [Act::Enroll, Act::Grant(Level::L1), Act::Grant(Level::L2), Act::Decide, Act::Revoke(Level::L3)] {
            for r in Role::ALL {
                assert_eq!(authorize_in(act, &[r], &s), authorize(act, &[r]), "{act:?} {r:?}");
            }
        }
        assert!(may_decide_in(Act::Enroll, &s, &[SystemAdministrator], "a", "b").is_ok());
        assert!(may_decide_in(Act::Enroll, &s, &[SiteAdministrator], "a", "b").is_err());
    }

    fn presets() -> impl Strategy<Value = Preset> {
        proptest::sample::select(Preset::ALL.to_vec())
    }

    fn roles() -> impl Strategy<Value = Vec<Role>> {
        proptest::sample::subsequence(Role::ALL.to_vec(), 0..=8)
    }

    proptest! {
        /// Under every preset: plain users never administer, more roles never permit less, and only the
        /// level's issuer grants it.
        #[test]
        fn every_profile_keeps_the_invariants(p in presets(), a in roles(), b in roles(), level in prop_oneof![Just(Level::L1), Just(Level::L2), Just(Level::L3)]) {
            let reg = p.regulation();
            for act in [Act::Enroll, Act::DeletePerson, Act::Grant(level), Act::Revoke(level), Act::Decide, Act::OffHours, Act::ViewRecords { other_section: true }, Act::ViewRecords { other_section: false }] {
                prop_assert!(authorize_in(act, &[Operator, Vendor, Viewer], &reg).is_err());
                let mut both = a.clone();
                both.extend(b.iter().copied());
                match authorize_in(act, &a, &reg) {
                    Ok(Mode::Direct) => prop_assert_eq!(authorize_in(act, &both, &reg), Ok(Mode::Direct)),
                    Ok(Mode::Request) => prop_assert!(authorize_in(act, &both, &reg).is_ok()),
                    Err(_) => {}
                }
            }
            prop_assert_eq!(
                authorize_in(Act::Grant(level), &a, &reg) == Ok(Mode::Direct),
                a.contains(&reg.issuer(level))
            );
        }
    }
}
