//! The control socket: the `tobira` CLI (and the demo) ask, the daemon answers. One request, one response.
//!
//! Identifiers and times travel as strings; the daemon parses and validates them, so a wrong one is refused
//! with a message naming the field rather than failing to decode.

use serde::{Deserialize, Serialize};

/// Protocol version; a client and daemon of different versions refuse each other clearly.
/// 2: the acting person travels in the envelope and proves themselves at a reader (issue 8).
pub const CONTROL_VERSION: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub version: u32,
    /// Who performs the request. Administrative requests are refused without one; the daemon captures the
    /// actor's own biometric at `reader` and verifies it 1:1 before acting (THREATS: "administrative acts
    /// require the actor's own biometric at the terminal").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<ActorClaim>,
    /// The client reads [`Response::Progress`] frames before the answer: an enrolment says each capture as
    /// it happens (which sample, its quality, why one was refused), so the console and the CLI can show the
    /// person at the reader where they are (issue 18). Other requests answer once, as without it; a client
    /// that does not ask never gets a progress frame.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub progress: bool,
    pub body: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorClaim {
    /// The actor's user ID (ユーザID).
    pub id: String,
    /// The reader at the terminal where the actor places their finger.
    pub reader: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Request {
    Status,
    /// Opens a session of a client that keeps one (the console, issue 18): the actor proves themselves 1:1 at
    /// the terminal's reader exactly as for an administrative act, and nothing else is done. The answer says
    /// who they are (name, section, roles); the sign-in is audited (`console.sign-in`, 003 §7), a failed proof
    /// as any other (`admin.actor.failure`). Only people holding an administrative or supervisory role may.
    SignIn {
        /// What is signing in, for the record (e.g. `console`).
        client: String,
    },
    /// The doors and readers the site configures, with what each driver can tell of its health and each door's
    /// state as its task last left it (`locked`, `unlocked`, `open`, `forced-open`, `held-open`); open like
    /// `Status` (no record is read).
    Devices,
    /// Consistency checks an administrator runs routinely (e.g. exactly two site administrators, 003 §5(4)).
    Check,
    /// Whether the threshold tables hold on the site's own readers (issue 17): the enrolled people compared
    /// with one another as a login and a door compare, one row per decision with the measured false-match
    /// rate's bounds and a verdict. Open like `Check` (only counts and scores are answered); one at a time.
    ThresholdCheck,
    PersonAdd(PersonAdd),
    PersonList,
    /// One page of the people, sorted by user ID, whose ID, name or section contains `query` (all when
    /// empty), with how many match in all: a console shows a site of thousands a page at a time without the
    /// whole registry crossing the socket (issue 18). Open like `PersonList`.
    PersonPage(PageQuery),
    PersonShow {
        id: String,
    },
    /// Captures `samples` presentations at `reader` (default: the site's `[enrollment] samples`) and stores
    /// the resulting template for `person`: approved at once when the system administrator enrolls, pending
    /// their approval when a site administrator does (003 §7).
    Enroll {
        person: String,
        reader: String,
        finger: u8,
        /// `left` or `right`: a palm instead of a finger.
        #[serde(default)]
        palm: Option<String>,
        samples: Option<u8>,
    },
    /// Remove a person on transfer or leaving (000 §8(2)): revoke every grant, erase every template.
    PersonDelete {
        id: String,
        reason: String,
    },
    GrantAdd(GrantAdd),
    GrantList {
        holder: Option<String>,
    },
    GrantRevoke {
        id: String,
    },
    /// One page of the live grants, sorted by holder then ID, whose ID, holder or place contains `query`,
    /// with how many match in all (like `PersonPage`).
    GrantPage(PageQuery),
    OffHoursAdd(OffHoursAdd),
    VisitAdd(VisitAdd),
    /// The devices and media a vendor actually brings in (`direction` `in`) or takes out again (`out`),
    /// declared at the terminal (000 §7(2)); the entry/exit ledger compares them with each other and with the
    /// visit's approval. `visit` is a visit id (`v-…`) or the vendor's user ID (at entry their visit now or
    /// their next, at exit the one they are on).
    VisitMedia {
        visit: String,
        direction: String,
        media: Vec<String>,
    },
    /// The media register (記録媒体管理簿, 003 §11, 001 §8(2), 002 §6④(6)).
    Media(MediaCommand),
    /// Lift a biometric lockout of a person at a reader (audited).
    Unlock {
        person: String,
        reader: String,
    },
    /// Requests awaiting (or past) the system administrator's decision (003 §7).
    RequestList {
        status: Option<String>,
    },
    RequestApprove {
        id: String,
        note: Option<String>,
    },
    RequestReject {
        id: String,
        note: String,
    },
    /// The requester takes their own pending request back.
    RequestWithdraw {
        id: String,
    },
    /// Ask to read another section's operation history (002 §7(11)).
    RequestView {
        section: String,
        reason: String,
    },
    /// Lend a viewer ID (閲覧用ID) or take it back (004 §11).
    ViewerLend {
        viewer_id: String,
        to: String,
        affiliation: String,
        purpose: String,
    },
    ViewerReturn {
        loan: String,
    },
    /// Issue a card (or keypad ID) to a person for `card+biometric` doors (003 §14(2)); `card` is the number
    /// printed on it, in decimal. The daemon stores its hash and shows only its last digits.
    CardAdd {
        person: String,
        card: String,
    },
    /// Withdraw a card (lost, returned, the holder left).
    CardRemove {
        card: String,
        reason: String,
    },
    /// Live cards: holder and last digits.
    CardList,
    /// Periodic review (004 §5(10)): without `complete`, the list of every live grant, template and role;
    /// with it, the review is recorded: `revoke` names the grants found wrong, everything else is confirmed.
    Review {
        complete: bool,
        revoke: Vec<String>,
        note: Option<String>,
    },
    /// Alarms for the security manager (003 §20): open ones, or all.
    AlarmList {
        all: bool,
    },
    AlarmAck {
        id: i64,
        note: String,
    },
    /// Rewrap every template data key under a fresh node key (001 §15(4)); the audit history is untouched.
    KeyRotate,
    /// A consistent online copy of the stores into the new directory `dest` (absolute, on the daemon's
    /// machine, writable by the daemon's user), with the chain's head and a manifest of SHA-256 hashes; never
    /// the keys (issue 19 §3, 002 §6(4)).
    Backup {
        dest: String,
    },
    /// Put on record that events this node signed were lost (a restore from an older backup, issue 19 §3):
    /// the heads remembered beside the pinned key that the store no longer reaches are named in a signed
    /// `audit.loss_acknowledged` event, with the administrator's note (required).
    AuditAcknowledgeLoss {
        note: String,
    },
    /// Terminal login as the PAM module will ask it: policy first, then a capture and a 1:1 verification.
    Login {
        terminal: String,
        user: String,
        remote: bool,
    },
    AuditShow(AuditFilter),
    AuditVerify,
    /// A ledger (台帳) derived from the audit log: `entry-exit` (default), `operators`, `matching`, `user-ids`,
    /// `viewer-ids`.
    Ledger {
        #[serde(default)]
        kind: Option<String>,
        from: Option<String>,
        until: Option<String>,
        /// Dates in the Japanese era (令和8年11月24日); `None`: the site's `[administration] ledger_dates`.
        #[serde(default)]
        era: Option<bool>,
        /// What the ledger is being written to beside the screen (`csv`, `html`): the record of its reading says
        /// it was exported or printed, and by whom (002 §7(11)).
        #[serde(default)]
        output: Vec<String>,
    },
    Sim(SimCommand),
}

/// A page of a list: rows `offset .. offset + limit` of those containing `query`. The answer is
/// `{"total": N, "offset": O, "rows": [...]}`, `total` counting every match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub offset: u32,
    /// At most this many rows; the daemon caps it (`MAX_PAGE`).
    pub limit: u32,
}

/// The most rows one page request returns, whatever `limit` asks: a page stays far below [`crate::MAX_FRAME`].
pub const MAX_PAGE: u32 = 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonAdd {
    pub id: String,
    pub name: String,
    pub affiliation: String,
    pub roles: Vec<String>,
    /// YYYY-MM-DD: end of the appointment term (004 §7); grants end with it by default.
    pub appointment_end: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantAdd {
    pub holder: String,
    /// `zone:ID` or `terminal:ID`. The issuer is the acting person, in the role the place's level names
    /// (003 §13); a site administrator's L1 grant is a delegation request until approved (003 §7(3)).
    pub place: String,
    /// RFC 3339; default now.
    pub from: Option<String>,
    /// RFC 3339 or YYYY-MM-DD; default the end of the holder's appointment (004 §7).
    pub until: Option<String>,
    /// `always` or `office-hours`.
    pub schedule: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OffHoursAdd {
    pub person: String,
    pub terminal: String,
    pub from: String,
    pub until: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VisitAdd {
    pub vendor: String,
    pub company: String,
    pub purpose: String,
    pub name_tag: String,
    pub doors: Vec<String>,
    pub from: String,
    pub until: String,
    pub escorts: Vec<String>,
    pub media_allowed: Vec<String>,
}

/// The media register's acts (003 §11): each by a person holding the role the site's regulation names, each
/// audited, each refused to anyone else.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "media", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum MediaCommand {
    /// A medium taken out of the office (003 §11(3)): recorded by one consenting officer, out once every
    /// role the regulation names has consented.
    TakeOut(MediaTakeOut),
    /// Another officer's consent to a take-out (`id`: `M-0001`).
    Consent { id: String },
    /// The medium came back (`condition`: what was checked on return).
    Return { id: String, condition: String },
    /// A medium disposed of: how (`method`, e.g. 破砕) and who witnessed it (003 §11(5)).
    Dispose(MediaDispose),
    /// The result of checking a medium for faults (003 §11(6)): `faulty` and what was found.
    Fault { medium: String, media_kind: String, faulty: bool, finding: String },
    /// The register: media out (or awaiting consent), or every entry with `all`.
    List { all: bool },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaTakeOut {
    /// The medium's own number (管理番号), as written on it.
    pub medium: String,
    /// What kind of medium (媒体の種類): USBメモリ, 磁気テープ, 帳票…
    pub media_kind: String,
    pub quantity: u32,
    /// How many records (本人確認情報の件数) it holds.
    pub records: u32,
    /// To whom or where it goes (相手方).
    pub recipient: String,
    pub purpose: String,
    /// How it is carried: a locked container or strict packaging (施錠できる容器 / 厳重な包装).
    pub container: String,
    /// When it is due back (a day means through that day); `None`: not to come back.
    pub due: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaDispose {
    pub medium: String,
    pub media_kind: String,
    pub quantity: u32,
    /// How: 破砕, 溶解, 消去ソフトによる消去… (003 §11(5): crushing or another sure measure).
    pub method: String,
    /// Who witnessed it (立会者): a registered person other than the one recording.
    pub witness: String,
    /// A contractor's certificate or any other note (001 §9).
    pub note: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditFilter {
    pub person: Option<String>,
    pub place: Option<String>,
    pub kind: Option<String>,
    pub from: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u32>,
}

/// Commands for the simulated devices; refused unless the daemon runs with `--simulation`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "sim", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SimCommand {
    /// A simulated person places a finger on a reader: the reader produces a fresh synthetic impression of
    /// that body's finger. The daemon's matcher never learns whose body it was.
    Present {
        reader: String,
        body: String,
        finger: u8,
    },
    /// A simulated person holds a palm (`left` or `right`) over a palm reader: a fresh synthetic near-infrared
    /// impression of that body's palm vein. Like `Present`, the body never travels with the sample.
    PresentPalm {
        reader: String,
        body: String,
        hand: String,
    },
    /// Walk through a door (opens only if the strike is energised), closing after `hold_ms`.
    Walk {
        door: String,
        hold_ms: u64,
    },
    Open {
        door: String,
    },
    Close {
        door: String,
    },
    Force {
        door: String,
    },
    Rex {
        door: String,
    },
    /// A card held to the door's reader (the controller reports a card read, as OSDP osdp_RAW does): the
    /// claim of a `card+biometric` door. `number` is the decimal number printed on the card.
    Card {
        door: String,
        number: String,
    },
    Unplug {
        device: String,
    },
    Replug {
        device: String,
    },
    Garble {
        reader: String,
    },
    /// The device stays connected but stops answering (a hung module; a controller that dies before it
    /// acknowledges the next strike command), until `Replug`.
    Silence {
        device: String,
    },
    /// The reader (or simulated door controller) answers `ms` after each command, past its driver's
    /// deadline (a slow module; a controller carries the strike out only then); `ms` 0: on time again
    /// (issue 15's fault matrix, "late answers").
    Late {
        device: String,
        ms: u64,
    },
    /// Drop samples presented at a reader but not yet read.
    Clear {
        reader: String,
    },
    /// Make the audit store refuse writes (as a filesystem remounted read-only after disk errors does), or
    /// writable again.
    AuditUnwritable {
        on: bool,
    },
    /// Set the daemon's clock (RFC 3339) or return to the real clock (`None`).
    Clock {
        at: Option<String>,
    },
    /// Advance time-driven checks (held-open alarms) now.
    Tick,
    Door {
        door: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Response {
    Ok {
        data: serde_json::Value,
    },
    /// A step of a request still under way, sent only to a client that asked for them
    /// ([`Envelope::progress`]); the request's `Ok` or `Error` follows. `data["step"]` names the step:
    /// `capture` (sample `n` of `of` awaited at `reader`), `sample` (taken, with its `quality`), `refused`
    /// (sample `n` refused, with the `reason`), `duplicate-check` (the 1:N search against everyone enrolled).
    Progress {
        data: serde_json::Value,
    },
    Error {
        code: ErrorCode,
        message: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    Conflict,
    Denied,
    /// Beyond the asker's authority in a way an auditor must hear of: an appointment that has ended (004 §7),
    /// a removed person acting, deciding or withdrawing someone else's request, another section's records
    /// without approval (002 §7(11)). Recorded as an incident for the security manager (003 §20, 001 §10);
    /// the CLI treats it as any refusal (exit 1). A role the asker simply lacks is `Denied` (recorded, no
    /// alarm).
    Forbidden,
    Unavailable,
    Internal,
    VersionMismatch,
    /// The caller already has as many requests in progress as it may (per-user share of the socket), or
    /// the daemon serves as many as it can: nothing was done; asking again shortly is safe.
    Busy,
}

/// The outcome of an access decision as the CLI and demo print it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DecisionReport {
    pub granted: bool,
    pub person: Option<String>,
    pub place: String,
    pub reason: String,
    pub message: String,
    pub article: String,
    pub score: Option<f64>,
    pub audit_seq: Option<i64>,
    /// Microseconds from the sample reaching the daemon to the unlock command (or the refusal) being issued,
    /// audit commit included.
    #[serde(default)]
    pub latency_us: Option<u64>,
    /// Microseconds from the sample reaching the daemon to the door controller acknowledging the strike
    /// (granted door decisions that sent a strike; none when the door stood open already). The door counts
    /// as opened only then (fail secure), so this is the decision plus a round trip to the controller;
    /// `latency_us` is the decision alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_us: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_shape_is_stable() {
        let r = Request::Sim(SimCommand::Present { reader: "t01-reader".into(), body: "tanaka".into(), finger: 2 });
        let j = serde_json::to_string(&Envelope { version: CONTROL_VERSION, actor: None, progress: false, body: r })
            .unwrap();
        assert_eq!(
            j,
            r#"{"version":2,"body":{"op":"sim","sim":"present","reader":"t01-reader","body":"tanaka","finger":2}}"#
        );
        let back: Envelope<Request> = serde_json::from_str(&j).unwrap();
        assert!(matches!(back.body, Request::Sim(SimCommand::Present { finger: 2, .. })));
    }

    #[test]
    fn the_actor_travels_in_the_envelope() {
        let e = Envelope {
            version: CONTROL_VERSION,
            actor: Some(ActorClaim { id: "takahashi".into(), reader: Some("t01-reader".into()) }),
            progress: false,
            body: Request::RequestApprove { id: "r-1".into(), note: None },
        };
        let j = serde_json::to_string(&e).unwrap();
        assert!(j.contains(r#""actor":{"id":"takahashi","reader":"t01-reader"}"#), "{j}");
        let back: Envelope<Request> = serde_json::from_str(&j).unwrap();
        assert_eq!(back.actor, e.actor);
    }

    #[test]
    fn progress_is_asked_in_the_envelope_and_comes_in_its_own_frames() {
        let plain = Envelope { version: CONTROL_VERSION, actor: None, progress: false, body: Request::Status };
        let j = serde_json::to_string(&plain).unwrap();
        assert!(!j.contains("progress"), "a client that does not ask says nothing: {j}");
        let asked: Envelope<Request> =
            serde_json::from_str(r#"{"version":2,"progress":true,"body":{"op":"status"}}"#).unwrap();
        assert!(asked.progress);
        let f = Response::Progress { data: serde_json::json!({"step": "capture", "n": 1, "of": 3}) };
        let j = serde_json::to_string(&f).unwrap();
        assert_eq!(j, r#"{"status":"progress","data":{"n":1,"of":3,"step":"capture"}}"#);
        assert!(matches!(serde_json::from_str::<Response>(&j).unwrap(), Response::Progress { .. }));
    }

    #[test]
    fn unknown_op_is_a_decode_error() {
        let r: Result<Envelope<Request>, _> = serde_json::from_str(r#"{"version":1,"body":{"op":"format-disk"}}"#);
        assert!(r.is_err());
    }
}
