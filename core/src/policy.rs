//! The decision: a pure function of the request, the registry snapshot, occupancy, escorts, lockout state
//! and the time (STYLE §4). Every branch names the article it enforces.

use crate::calendar::{OfficeHoursVerdict, is_office_hours};
use crate::ids::{DoorId, PersonId, ReaderId, TerminalId};
use crate::lockout::LockoutBook;
use crate::model::{Level, Place, Registry, Role, Schedule};
use crate::occupancy::{EscortLog, Occupancy};
use chrono::{DateTime, Utc};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Enter { door: DoorId, person: PersonId, reader: ReaderId },
    Exit { door: DoorId, person: PersonId },
    Login { terminal: TerminalId, person: PersonId, remote: bool },
}

pub struct Context<'a> {
    pub registry: &'a Registry,
    /// Optional grant index built from `registry` (a linear scan without it).
    pub grants: Option<&'a crate::model::GrantIndex>,
    pub occupancy: &'a Occupancy,
    pub escorts: &'a EscortLog,
    pub lockout: &'a LockoutBook,
    pub now: DateTime<Utc>,
    /// What the node knows beyond the registry that can keep a grant from being given.
    pub node: NodeFacts,
}

/// The node's own circumstances at the moment of a decision, so that every veto is decided here, with its
/// reason, and not after the fact by the caller (issue 20). The default vetoes nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// When the node last heard from the centre, in a multi-node site: a grant at a level whose limit has
    /// passed since is refused (`[central] stale_after_s_l*`, `crate::staleness`). `None`: never recorded.
    pub central_contact: Option<DateTime<Utc>>,
    /// The person was attributed (found among everyone, to name who tried) rather than identified among
    /// the people allowed here: attribution names, it never admits.
    pub attributed_only: bool,
    /// The door's controller is offline: a grant it cannot carry out is not given (fail secure).
    pub controller_offline: bool,
}

/// Proof that policy granted a request (rustls's proof-token pattern, STYLE §3): only this module can make
/// one, and unlocking a door requires one. Not `Clone`: one grant, one unlock.
#[derive(Debug, PartialEq, Eq)]
pub struct Granted {
    _proof: (),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Grant(Granted),
    Deny,
}

/// Why. `code()` is stable (audit events and tests use it); `Display` tells the person what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    GrantValid,
    OffHoursApproved,
    VendorEscorted,
    ExitRecorded,
    NoGrant,
    GrantExpired,
    GrantNotYetValid,
    IssuerLacksRole,
    WrongIssuerRole,
    NotInsideParent,
    OutsideOfficeHours,
    Holiday,
    VendorNoVisit,
    VendorOutsideWindow,
    VendorNoEscort,
    LockedOut,
    UnknownPerson,
    UnknownDoor,
    UnknownTerminal,
    PersonInactive,
    AppointmentEnded,
    RemoteLoginRefused,
    NotIdentified,
    AuditUnavailable,
    /// The door's controller is offline: a grant could not open it, so it is not given (fail secure).
    DeviceOffline,
    /// The grant was recorded but the controller did not acknowledge the strike command: the door did not
    /// open, so nobody entered (no occupancy, no ledger entry) and the security manager is alarmed (003 §20).
    StrikeFailed,
    /// The node has not heard from the central registry for longer than this level tolerates.
    CentralStale,
    /// Too many unidentified attempts in a row at this reader: the attempt was refused without being
    /// matched until the reader's delay passes (issue 16 §2, `crate::throttle`).
    ReaderThrottled,
    /// A card (or keypad ID) at a `card+biometric` door that is registered to nobody: refused, and counted as
    /// an unidentified attempt at the reader (issue 16 §2).
    UnknownCard,
    /// A finger at a `card+biometric` door without a card first: refused unmatched, counted like a stranger.
    CardRequired,
    /// A card was accepted but no finger followed within the door's window: the claim lapsed.
    FingerTimeout,
    /// Nobody placed a finger or palm before the capture timeout (issue 22 §4): not a failed match, so it
    /// counts toward neither the lockout nor the reader's throttle.
    NoSample,
    /// A `two-biometrics` door (issue 16 §2): the first sample identified someone allowed; a second sample of
    /// another finger (or the other hand) of the same person must follow within the window. Not a refusal.
    SecondSampleRequired,
    /// The second sample at a `two-biometrics` door was the same finger (or hand) as the first: not counted
    /// as a stranger's attempt, and the first still stands within its window.
    SameSampleTwice,
    /// A registered card was read at a `card+biometric` door: its holder's finger must follow within the
    /// window (issue 16 §2). Not a refusal: what the person is told, and what the simulator answers.
    CardAccepted,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::GrantValid => "GRANT_VALID",
            Reason::OffHoursApproved => "OFF_HOURS_APPROVED",
            Reason::VendorEscorted => "VENDOR_ESCORTED",
            Reason::ExitRecorded => "EXIT_RECORDED",
            Reason::NoGrant => "NO_GRANT",
            Reason::GrantExpired => "GRANT_EXPIRED",
            Reason::GrantNotYetValid => "GRANT_NOT_YET_VALID",
            Reason::IssuerLacksRole => "ISSUER_LACKS_ROLE",
            Reason::WrongIssuerRole => "WRONG_ISSUER_ROLE",
            Reason::NotInsideParent => "NOT_INSIDE_PARENT",
            Reason::OutsideOfficeHours => "OUTSIDE_OFFICE_HOURS",
            Reason::Holiday => "HOLIDAY",
            Reason::VendorNoVisit => "VENDOR_NO_VISIT",
            Reason::VendorOutsideWindow => "VENDOR_OUTSIDE_WINDOW",
            Reason::VendorNoEscort => "VENDOR_NO_ESCORT",
            Reason::LockedOut => "LOCKED_OUT",
            Reason::UnknownPerson => "UNKNOWN_PERSON",
            Reason::UnknownDoor => "UNKNOWN_DOOR",
            Reason::UnknownTerminal => "UNKNOWN_TERMINAL",
            Reason::PersonInactive => "PERSON_INACTIVE",
            Reason::AppointmentEnded => "APPOINTMENT_ENDED",
            Reason::RemoteLoginRefused => "REMOTE_LOGIN_REFUSED",
            Reason::NotIdentified => "NOT_IDENTIFIED",
            Reason::AuditUnavailable => "AUDIT_UNAVAILABLE",
            Reason::DeviceOffline => "DEVICE_OFFLINE",
            Reason::StrikeFailed => "STRIKE_FAILED",
            Reason::CentralStale => "CENTRAL_STALE",
            Reason::ReaderThrottled => "READER_THROTTLED",
            Reason::UnknownCard => "UNKNOWN_CARD",
            Reason::CardRequired => "CARD_REQUIRED",
            Reason::FingerTimeout => "FINGER_TIMEOUT",
            Reason::NoSample => "NO_SAMPLE",
            Reason::SecondSampleRequired => "SECOND_SAMPLE_REQUIRED",
            Reason::SameSampleTwice => "SAME_SAMPLE_TWICE",
            Reason::CardAccepted => "CARD_ACCEPTED",
        }
    }

    /// The article (or standard) this reason enforces, for the audit event and the README's table.
    pub fn article(self) -> &'static str {
        match self {
            Reason::GrantValid | Reason::NoGrant | Reason::IssuerLacksRole | Reason::WrongIssuerRole => "003 §13",
            Reason::NotInsideParent => "003 §13",
            Reason::GrantExpired | Reason::GrantNotYetValid | Reason::AppointmentEnded => "004 §7",
            Reason::OutsideOfficeHours | Reason::Holiday | Reason::OffHoursApproved => "002 §5-2",
            Reason::VendorNoVisit | Reason::VendorOutsideWindow | Reason::VendorNoEscort | Reason::VendorEscorted => {
                "003 §13(4), 002 §5-4"
            }
            Reason::ExitRecorded => "000 §7, 003 §13",
            Reason::LockedOut | Reason::NotIdentified | Reason::ReaderThrottled | Reason::NoSample => {
                "NIST SP 800-63B §5.2.2"
            }
            Reason::RemoteLoginRefused => "004 §2(9)",
            Reason::PersonInactive => "000 §8(2)",
            Reason::UnknownPerson | Reason::UnknownDoor | Reason::UnknownTerminal => "001 §15(1)",
            Reason::AuditUnavailable => "000 §9, 003 §17",
            Reason::DeviceOffline | Reason::StrikeFailed => "003 §13, 003 §20",
            Reason::CentralStale => "003 §13, 004 §6",
            Reason::UnknownCard | Reason::CardRequired => "004 §2(9), NIST SP 800-63B §5.2.2",
            Reason::FingerTimeout | Reason::CardAccepted => "004 §2(9)",
            Reason::SecondSampleRequired | Reason::SameSampleTwice => "003 §13",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::GrantValid => "Access granted.",
            Reason::OffHoursApproved => "Granted outside office hours under a prior approval (時間外使用の承認).",
            Reason::VendorEscorted => "Vendor admitted with a registered visit and an escort who authenticated here.",
            Reason::ExitRecorded => "Exit recorded.",
            Reason::NoGrant => "No grant for this place: ask the person who issues grants at this level.",
            Reason::GrantExpired => "The grant has expired: ask for it to be renewed (004 §7).",
            Reason::GrantNotYetValid => "The grant is not valid yet: check its start date.",
            Reason::IssuerLacksRole => "The grant's issuer no longer holds the role it needs: ask for a new grant.",
            Reason::WrongIssuerRole => "The grant was not issued by the role this level requires under the site's regulation ([regulation]; Sendai: L1 system administrator, L2 data manager, L3 security director).",
            Reason::NotInsideParent => "You are not recorded inside the surrounding room: enter it through its reader first.",
            Reason::OutsideOfficeHours => "Outside office hours: no approval on record. Ask the system administrator (電算管理者) for an off-hours approval.",
            Reason::Holiday => "Closed day (holiday or closure): no approval on record. Ask the system administrator for an off-hours approval.",
            Reason::VendorNoVisit => "No registered visit for this vendor at this door: the system administrator must register it.",
            Reason::VendorOutsideWindow => "The registered visit is not for this time.",
            Reason::VendorNoEscort => "A vendor needs an escort: an escorting operator must authenticate at this door first.",
            Reason::LockedOut => "Too many failed attempts: locked for a while. Try later or ask an administrator.",
            Reason::UnknownPerson => "Unknown user ID.",
            Reason::UnknownDoor => "Unknown door.",
            Reason::UnknownTerminal => "Unknown terminal.",
            Reason::PersonInactive => "This person's authority has been removed.",
            Reason::AppointmentEnded => "The appointment term has ended; authority ends with it (004 §7).",
            Reason::RemoteLoginRefused => "Biometric login is only possible at the terminal itself, not remotely.",
            Reason::NotIdentified => "Not recognised: place your finger (or hold your palm) again, flat and centred.",
            Reason::AuditUnavailable => "The record cannot be written: access denied and the door stays locked. Call the system administrator.",
            Reason::DeviceOffline => "The door controller is offline: the door stays locked. Call the system administrator.",
            Reason::StrikeFailed => "The door did not open: its controller did not confirm the unlock. The door stays locked; the security manager has been alerted.",
            Reason::ReaderThrottled => "Too many unrecognised attempts at this reader: wait a few seconds, then try again (the security manager is told of repeated attempts).",
            Reason::UnknownCard => "This card (or ID) is not registered: ask the system administrator (システム管理者).",
            Reason::CardRequired => "This door needs your card (or ID on the keypad) first, then your finger.",
            Reason::FingerTimeout => "Card read, but no finger followed in time: present the card again, then your finger.",
            Reason::NoSample => "No finger or palm was placed in time: nothing was compared and nothing counts against you. Try again.",
            Reason::SecondSampleRequired => "Recognised: now place a different finger (or your other hand) to open this door.",
            Reason::SameSampleTwice => "That was the same finger (or hand) again: place a different one.",
            Reason::CardAccepted => "Card read: now place your finger.",
            Reason::CentralStale => "This node has lost contact with the central registry for too long: rooms of this level are refused until it reconnects (a revocation may be missing). Call the system administrator.",
        })
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Decision {
    pub verdict: Verdict,
    pub reason: Reason,
    pub article: &'static str,
}

impl Decision {
    /// Anyone may build a denial; only [`decide`] builds a grant.
    pub fn deny(reason: Reason) -> Decision {
        Decision { verdict: Verdict::Deny, reason, article: reason.article() }
    }

    fn grant(reason: Reason) -> Decision {
        Decision { verdict: Verdict::Grant(Granted { _proof: () }), reason, article: reason.article() }
    }

    pub fn is_granted(&self) -> bool {
        matches!(self.verdict, Verdict::Grant(_))
    }

    pub fn granted(&self) -> Option<&Granted> {
        match &self.verdict {
            Verdict::Grant(g) => Some(g),
            Verdict::Deny => None,
        }
    }
}

pub fn decide(req: &Request, ctx: &Context) -> Decision {
    let d = match req {
        Request::Enter { door, person, reader } => enter(door, person, reader, ctx),
        Request::Exit { door, person } => exit(door, person, ctx),
        Request::Login { terminal, person, remote } => login(terminal, person, *remote, ctx),
    };
    match (d.is_granted(), veto(req, ctx)) {
        (true, Some(reason)) => Decision::deny(reason),
        _ => d,
    }
}

/// The node's vetoes over a grant the rules would give, in the order they are told: a node cut off from the
/// centre for longer than the level tolerates, an attribution that never admits, a door that cannot open.
fn veto(req: &Request, ctx: &Context) -> Option<Reason> {
    let site = &ctx.registry.site;
    // Exits are never held back by staleness.
    let level = match req {
        Request::Enter { door, .. } => site.door(door).and_then(|d| site.zone(&d.zone)).map(|z| z.level),
        Request::Login { .. } => Some(Level::L1),
        Request::Exit { .. } => None,
    };
    if let Some(c) = &site.central
        && let Some(level) = level
        && let Some(last) = ctx.node.central_contact
        && c.staleness().too_stale(level, last, ctx.now)
    {
        return Some(Reason::CentralStale);
    }
    if ctx.node.attributed_only {
        return Some(Reason::NotIdentified);
    }
    if ctx.node.controller_offline {
        return Some(Reason::DeviceOffline);
    }
    None
}

/// Person checks common to every request: known, active, within the appointment (000 §8(2), 004 §7).
fn check_person(person: &PersonId, ctx: &Context) -> Result<(), Reason> {
    let p = ctx.registry.person(person).ok_or(Reason::UnknownPerson)?;
    if !p.active {
        return Err(Reason::PersonInactive);
    }
    if !p.within_appointment(ctx.now.with_timezone(&ctx.registry.site.utc_offset).date_naive()) {
        return Err(Reason::AppointmentEnded);
    }
    Ok(())
}

/// The best grant for a place: a valid one if any, else the most telling refusal (expired before wrong
/// issuer before none) so the person hears the reason that applies to them.
fn grant_for(person: &PersonId, place: &Place, level: Level, ctx: &Context) -> Result<Schedule, Reason> {
    let mut best = Reason::NoGrant;
    let rank = |r: Reason| match r {
        Reason::NoGrant => 0,
        Reason::GrantNotYetValid => 1,
        Reason::GrantExpired => 2,
        Reason::IssuerLacksRole => 3,
        Reason::WrongIssuerRole => 4,
        _ => 5,
    };
    for g in ctx.registry.grants_of(person, ctx.grants).filter(|g| &g.place == place) {
        // 003 §13(2) (000 §7(1), 002 §10(1) in their profiles): the grant counts only if issued in the role the
        // site's regulation names for the level…
        let r = if g.issuer_role != ctx.registry.site.regulation.issuer(level) {
            Reason::WrongIssuerRole
        // …by someone who holds that role.
        } else if !ctx.registry.issuer_valid(g, level) {
            Reason::IssuerLacksRole
        // 004 §7: validity period.
        } else if ctx.now < g.valid_from {
            Reason::GrantNotYetValid
        } else if ctx.now >= g.valid_until {
            Reason::GrantExpired
        } else {
            return Ok(g.schedule);
        };
        if rank(r) > rank(best) {
            best = r;
        }
    }
    Err(best)
}

fn office_reason(v: &OfficeHoursVerdict) -> Reason {
    if v.is_closed_day() { Reason::Holiday } else { Reason::OutsideOfficeHours }
}

fn enter(door: &DoorId, person: &PersonId, reader: &ReaderId, ctx: &Context) -> Decision {
    // NIST SP 800-63B: a locked (person, reader) is refused before anything else.
    if ctx.lockout.check(&(person.clone(), reader.clone()), ctx.now).is_err() {
        return Decision::deny(Reason::LockedOut);
    }
    let Some(d) = ctx.registry.site.door(door) else {
        return Decision::deny(Reason::UnknownDoor);
    };
    let Some(zone) = ctx.registry.site.zone(&d.zone) else {
        return Decision::deny(Reason::UnknownDoor);
    };
    if let Err(r) = check_person(person, ctx) {
        return Decision::deny(r);
    }
    // 003 §13: zones nest; a child zone is entered only by someone recorded inside its parent.
    if let Some(parent) = &zone.parent
        && !ctx.occupancy.is_inside(person, parent)
    {
        return Decision::deny(Reason::NotInsideParent);
    }
    let is_vendor = ctx.registry.person(person).is_some_and(|p| p.has_role(Role::Vendor));
    if is_vendor {
        return vendor(door, person, ctx);
    }
    match grant_for(person, &Place::Zone(zone.id.clone()), zone.level, ctx) {
        Ok(Schedule::Always) => Decision::grant(Reason::GrantValid),
        Ok(Schedule::OfficeHours) => {
            let v = is_office_hours(&ctx.registry.site.office_hours, ctx.registry.site.utc_offset, ctx.now);
            if v.is_open() { Decision::grant(Reason::GrantValid) } else { Decision::deny(office_reason(&v)) }
        }
        Err(r) => Decision::deny(r),
    }
}

/// 003 §13(4), 002 §5-4: a vendor enters only on a registered visit for this door and time, right after an
/// escort authenticated at the same door.
fn vendor(door: &DoorId, person: &PersonId, ctx: &Context) -> Decision {
    let visits: Vec<_> = ctx.registry.visits.iter().filter(|v| &v.vendor == person && v.doors.contains(door)).collect();
    if visits.is_empty() {
        return Decision::deny(Reason::VendorNoVisit);
    }
    let Some(visit) = visits.iter().find(|v| v.from <= ctx.now && ctx.now < v.until) else {
        return Decision::deny(Reason::VendorOutsideWindow);
    };
    let window = ctx.registry.site.timeouts.escort_window_s;
    let escorted = visit.escorts.iter().any(|e| e != person && ctx.escorts.recent(door, e, ctx.now, window));
    if escorted { Decision::grant(Reason::VendorEscorted) } else { Decision::deny(Reason::VendorNoEscort) }
}

/// Egress is never blocked (a locked-in person is a safety hazard); the exit is recorded for the ledger.
fn exit(door: &DoorId, _person: &PersonId, ctx: &Context) -> Decision {
    if ctx.registry.site.door(door).is_none() {
        return Decision::deny(Reason::UnknownDoor);
    }
    Decision::grant(Reason::ExitRecorded)
}

fn login(terminal: &TerminalId, person: &PersonId, remote: bool, ctx: &Context) -> Decision {
    // 004 §2(9): two-factor means the biometric is presented at the terminal itself.
    if remote {
        return Decision::deny(Reason::RemoteLoginRefused);
    }
    let Some(t) = ctx.registry.site.terminal(terminal) else {
        return Decision::deny(Reason::UnknownTerminal);
    };
    if let Err(r) = check_person(person, ctx) {
        return Decision::deny(r);
    }
    if ctx.lockout.check(&(person.clone(), t.reader.clone()), ctx.now).is_err() {
        return Decision::deny(Reason::LockedOut);
    }
    // 003 §13(3): terminals are Level 1, permitted by the system administrator.
    if let Err(r) = grant_for(person, &Place::Terminal(terminal.clone()), Level::L1, ctx) {
        return Decision::deny(r);
    }
    // 002 §5-2: outside office hours or on holidays, only with a prior approval covering now.
    let v = is_office_hours(&ctx.registry.site.office_hours, ctx.registry.site.utc_offset, ctx.now);
    if v.is_open() {
        return Decision::grant(Reason::GrantValid);
    }
    let approved = ctx.registry.off_hours.iter().any(|a| {
        &a.person == person
            && &a.terminal == terminal
            && a.from <= ctx.now
            && ctx.now < a.until
            && ctx
                .registry
                .person(&a.approved_by)
                .is_some_and(|p| p.has_role(ctx.registry.site.regulation.off_hours_approver))
    });
    if approved { Decision::grant(Reason::OffHoursApproved) } else { Decision::deny(office_reason(&v)) }
}

#[cfg(test)]
mod tests;
