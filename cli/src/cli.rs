//! The `tobira` command line: thin glue from arguments to control requests and back to tables.

use crate::client::{Client, ClientError};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use tobira_ledger::table::cell;
use tobira_proto::{
    ActorClaim, AuditFilter, GrantAdd, MediaCommand, MediaDispose, MediaTakeOut, OffHoursAdd, PersonAdd, Request,
    SimCommand, VisitAdd,
};

#[derive(Parser)]
#[command(
    name = "tobira",
    version,
    about = "tobira: biometric access control — administration, audit, simulator and demo"
)]
pub struct Cli {
    /// tobirad's control socket.
    #[arg(long, global = true, env = "TOBIRA_SOCKET", default_value = "/var/lib/tobira/control.sock")]
    pub socket: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Who performs this command (your user ID, ユーザID). Administrative commands need it: the daemon asks
    /// for your finger on the reader named by --at and verifies it before acting.
    #[arg(long, global = true, env = "TOBIRA_ACTOR")]
    pub actor: Option<String>,
    /// The terminal reader where you place your finger to prove who you are.
    #[arg(long = "at", global = true, env = "TOBIRA_READER")]
    pub at: Option<String>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Run the demo site on simulated devices in a temporary directory (no setup needed).
    Demo(crate::demo::DemoArgs),
    /// What the daemon is running.
    Status,
    /// A consistent copy of the running node's stores into the new directory DEST (on the daemon's machine,
    /// writable by its user), with the audit chain's head and a manifest of SHA-256 hashes. Never the keys:
    /// keep template.key and audit-signing.key in the separate key backup (バックアップの取得, 002 §6(4)).
    Backup { dest: PathBuf },
    /// Restore a backup onto a new node's empty data directory, offline: refused if the backup's files do
    /// not match its manifest, its audit chain does not verify against the pinned key (or --node-key), or a
    /// daemon runs on the directory. When the site has a centre, this node's events after the backup's head
    /// are fetched back from it, checked and appended (refused if the centre cannot be asked, unless
    /// --without-centre). Says which keys must come from the key backup (復元).
    Restore {
        src: PathBuf,
        #[arg(long, default_value = "/var/lib/tobira")]
        data_dir: PathBuf,
        /// The site file; the pinned audit key is looked for beside it (`audit-signing.pub`).
        #[arg(long, default_value = "/etc/tobira/site.toml")]
        config: PathBuf,
        /// The node's public key to trust instead of the pinned one: 64 hex digits or a file holding them.
        #[arg(long)]
        node_key: Option<String>,
        /// Do not ask the centre for this node's events after the backup's head: continue the chain from the
        /// backup's head although the centre, if it holds later events of this node, will see a fork.
        #[arg(long)]
        without_centre: bool,
    },
    /// Routine consistency checks (two site administrators, grants ending soon, people without templates);
    /// exits 1 when there is something to look at.
    Check,
    /// Whether the match thresholds hold on this site's own readers (照合閾値の確認): the enrolled people
    /// compared with one another as a login and a door compare them; the measured false-match rate of each
    /// decision with its 95 % bounds. Exits 1 when one is over twice its target. Up to about half a minute.
    ThresholdCheck,
    #[command(subcommand)]
    Person(PersonCmd),
    /// Enroll (or re-enroll) a finger of a person from several captures at a reader. By a site administrator
    /// (拠点管理者) it is a request the system administrator approves (003 §7).
    Enroll {
        person: String,
        #[arg(long)]
        reader: String,
        /// ISO finger position (1 = right thumb … 10 = left little).
        #[arg(long, default_value_t = 2)]
        finger: u8,
        /// Enroll a palm (left | right) instead of a finger.
        #[arg(long, value_parser = ["left", "right"])]
        palm: Option<String>,
        /// Captures (default: the site's [administration] enrollment_samples, 5).
        #[arg(long)]
        samples: Option<u8>,
    },
    /// Requests awaiting the system administrator's approval (承認, 003 §7).
    #[command(subcommand)]
    Request(RequestCmd),
    /// Lent viewer IDs (閲覧用ID, 004 §11).
    #[command(subcommand)]
    Viewer(ViewerCmd),
    /// Cards and keypad IDs for card+biometric doors (カード, 003 §14(2): issued by the system administrator).
    #[command(subcommand)]
    Card(CardCmd),
    /// Periodic review of every live grant, template and role (004 §5(10)); `--complete` records it.
    Review {
        #[arg(long)]
        complete: bool,
        /// A grant found wrong in the review (repeatable): revoked when the review is completed.
        #[arg(long)]
        revoke: Vec<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Alarms for the security manager (セキュリティ管理者, 003 §20).
    Alarms(AlarmsArgs),
    /// The node key that wraps template data keys (001 §15(4)).
    #[command(subcommand)]
    Key(KeyCmd),
    #[command(subcommand)]
    Grant(GrantCmd),
    /// Record a prior approval for terminal use outside office hours (002 §5-2).
    OffHours(OffHoursArgs),
    /// Register a vendor visit (003 §13(4)); `visit media-in|media-out` declares the devices and media the
    /// vendor brings in or takes out (000 §7(2)).
    Visit(VisitCmdArgs),
    /// The media register (記録媒体管理簿, 003 §11): media taken out, returned, disposed of, found faulty.
    #[command(subcommand)]
    Media(MediaCmd),
    /// Lift a person's biometric lockout at a reader (audited).
    Unlock {
        person: String,
        #[arg(long)]
        reader: String,
    },
    /// Log in at a terminal as the PAM module will (ID + biometric, 004 §2(9)).
    Login {
        terminal: String,
        user: String,
        #[arg(long)]
        remote: bool,
    },
    #[command(subcommand)]
    Audit(AuditCmd),
    /// A ledger derived from the audit log: entry-exit (入退室管理簿, 000 Form 1), operators (操作者管理簿,
    /// 000 Form 2), matching (照合情報管理簿, 003 §15), user-ids (ユーザID管理簿, 003 §14), viewer-ids
    /// (閲覧用ID貸出簿, 004 §11), media (記録媒体管理簿, 003 §11). Headed with the site, the period, when and by
    /// whom it was made; exporting it is recorded (002 §7(11)).
    Ledger {
        #[arg(default_value = "entry-exit", value_parser = ["entry-exit", "operators", "matching", "user-ids", "viewer-ids", "media"])]
        kind: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// Dates in the Japanese era (和暦: 令和8年11月24日) whatever the site's `ledger_dates` says.
        #[arg(long)]
        era: bool,
        /// Also write it as CSV (UTF-8 with BOM, for Excel) to this file.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Also write it as an HTML page that prints on A4 landscape, with sign-off boxes.
        #[arg(long)]
        html: Option<PathBuf>,
    },
    /// Drive the simulated devices (daemon started with --simulation).
    #[command(subcommand)]
    Sim(SimCmd),
}

#[derive(Subcommand)]
pub enum PersonCmd {
    /// Register a person (操作者 etc.).
    Add {
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        affiliation: String,
        /// Comma-separated roles: security-director, data-manager, system-administrator, security-manager,
        /// site-administrator, operator, vendor, viewer.
        #[arg(long, value_delimiter = ',')]
        roles: Vec<String>,
        /// End of the appointment term, YYYY-MM-DD (004 §7).
        #[arg(long)]
        appointment_end: Option<String>,
    },
    List,
    Show {
        id: String,
    },
    /// Remove a person on transfer or leaving (000 §8(2)): every grant revoked, every template erased.
    Delete {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum RequestCmd {
    List {
        /// pending | approved | applied | rejected | withdrawn
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve a request (system administrator; never your own).
    Approve {
        id: String,
        #[arg(long)]
        note: Option<String>,
    },
    Reject {
        id: String,
        #[arg(long)]
        note: String,
    },
    /// Take back your own pending request.
    Withdraw { id: String },
    /// Ask to read another section's records (002 §7(11)); `*` for every section (ledgers).
    View {
        #[arg(long)]
        section: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
pub enum ViewerCmd {
    Lend {
        viewer_id: String,
        /// The borrower's name.
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        affiliation: String,
        #[arg(long)]
        purpose: String,
    },
    Return {
        loan: String,
    },
}

#[derive(Subcommand)]
pub enum CardCmd {
    /// Issue a card to a person: CARD is the number printed on it (decimal; also what they type on the
    /// keypad, then `#`). Only its last digits are ever shown again.
    Add { person: String, card: String },
    /// Withdraw a card (lost, returned, transfer).
    Remove {
        card: String,
        #[arg(long)]
        reason: String,
    },
    /// Live cards: holder and last digits.
    List,
}

#[derive(Args)]
pub struct AlarmsArgs {
    #[command(subcommand)]
    pub cmd: Option<AlarmCmd>,
    /// Include acknowledged alarms.
    #[arg(long)]
    pub all: bool,
}

#[derive(Subcommand)]
pub enum AlarmCmd {
    /// Acknowledge an alarm with what was found and done (audited).
    Ack {
        id: i64,
        #[arg(long)]
        note: String,
    },
}

#[derive(Subcommand)]
pub enum KeyCmd {
    /// Rewrap every template data key under a fresh node key; the old key file is replaced.
    Rotate,
}

#[derive(Subcommand)]
pub enum GrantCmd {
    /// Grant access to a zone or a terminal.
    Add {
        holder: String,
        /// zone:ID or terminal:ID. You issue it in the role its level names (L1 system administrator, L2 data
        /// manager, L3 security director); a site administrator's L1 grant is a delegation request.
        #[arg(long)]
        place: String,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        until: Option<String>,
        /// always | office-hours
        #[arg(long)]
        schedule: Option<String>,
    },
    List {
        #[arg(long)]
        holder: Option<String>,
    },
    Revoke {
        id: String,
    },
}

#[derive(Args)]
pub struct OffHoursArgs {
    pub person: String,
    #[arg(long)]
    pub terminal: String,
    #[arg(long)]
    pub from: String,
    #[arg(long)]
    pub until: String,
    #[arg(long)]
    pub reason: String,
}

/// `tobira visit VENDOR …` registers a visit; `tobira visit media-in|media-out VISIT --media …` declares
/// what the vendor brought in or takes out.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct VisitCmdArgs {
    #[command(subcommand)]
    pub cmd: Option<VisitCmd>,
    #[command(flatten)]
    pub add: Option<VisitArgs>,
}

#[derive(Subcommand)]
pub enum VisitCmd {
    /// Declare the devices and media the vendor actually brings in (000 §7(2)), at the terminal before they
    /// enter; VISIT is the visit's id or the vendor's user ID (their visit now, or their next). No --media:
    /// nothing.
    MediaIn {
        visit: String,
        #[arg(long, value_delimiter = ',')]
        media: Vec<String>,
    },
    /// Declare what the vendor takes out again as they leave; a difference from the entry's declaration or
    /// the approval is flagged in the entry/exit ledger and alarmed (003 §20).
    MediaOut {
        visit: String,
        #[arg(long, value_delimiter = ',')]
        media: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum MediaCmd {
    /// A storage medium taken out of the office (003 §11(3)): to whom, what, how many, how many records, how
    /// it is carried. Out once every officer the regulation names has consented (Sendai: the data manager and
    /// the system administrator — the second runs `media consent`).
    TakeOut {
        /// The medium's own number (管理番号).
        medium: String,
        /// Kind of medium (媒体の種類): USBメモリ, 磁気テープ, 帳票…
        #[arg(long)]
        kind: String,
        #[arg(long, default_value_t = 1)]
        quantity: u32,
        /// How many records (本人確認情報の件数) it holds.
        #[arg(long)]
        records: u32,
        /// To whom or where it goes (相手方).
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "")]
        purpose: String,
        /// A locked container or strict packaging (施錠できる容器 / 厳重な包装).
        #[arg(long)]
        container: String,
        /// Due back (a day means through that day).
        #[arg(long)]
        due: Option<String>,
    },
    /// Consent to a take-out another officer recorded (003 §11(3)).
    Consent { id: String },
    /// The medium came back: say what was checked (seal, count).
    Return {
        id: String,
        #[arg(long)]
        condition: String,
    },
    /// A medium disposed of (003 §11(5)): how, witnessed by whom.
    Dispose {
        medium: String,
        #[arg(long)]
        kind: String,
        #[arg(long, default_value_t = 1)]
        quantity: u32,
        /// 破砕, 溶解, 消去ソフトによる消去…
        #[arg(long)]
        method: String,
        /// Who witnessed it (立会者): a registered person other than you.
        #[arg(long)]
        witness: String,
        /// A contractor's certificate number or any other note (001 §9).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The result of checking a medium for faults (003 §11(6)); a fault unless --sound.
    Fault {
        medium: String,
        #[arg(long)]
        kind: String,
        /// What the check found.
        #[arg(long)]
        finding: String,
        /// The check found the medium sound (recorded all the same).
        #[arg(long)]
        sound: bool,
    },
    /// Media out or awaiting consent; --all for the whole register.
    List {
        #[arg(long)]
        all: bool,
    },
}

#[derive(Args)]
pub struct VisitArgs {
    pub vendor: String,
    #[arg(long)]
    pub company: String,
    #[arg(long)]
    pub purpose: String,
    #[arg(long)]
    pub name_tag: String,
    #[arg(long, value_delimiter = ',')]
    pub doors: Vec<String>,
    #[arg(long)]
    pub from: String,
    #[arg(long)]
    pub until: String,
    #[arg(long, value_delimiter = ',')]
    pub escorts: Vec<String>,
    /// Communication devices or storage media the visit is approved to bring in (000 §7(2)).
    #[arg(long, value_delimiter = ',')]
    pub media: Vec<String>,
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Show audit events (viewing is itself recorded, 002 §7(11)).
    Show {
        #[arg(long)]
        person: Option<String>,
        #[arg(long)]
        place: Option<String>,
        /// Event kind or prefix, e.g. door. or login.failure
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        /// Also write the events as CSV (UTF-8 with BOM, Japanese headers) for the 7-year analysis (003 §17).
        #[arg(long)]
        csv: Option<PathBuf>,
    },
    /// Print an inclusion proof of event SEQ in this node's Merkle log (RFC 6962), signed with the node's
    /// audit key, for an auditor to check offline (`tobira audit check-proof`).
    Prove {
        seq: i64,
        #[arg(long, default_value = "/var/lib/tobira")]
        data_dir: PathBuf,
        /// Anchor the proof in the last head the centre's witness countersigned (the site file's
        /// `[central]`), so it holds against the history the centre vouched for.
        #[arg(long)]
        central: bool,
        /// The site file naming the centre (with --central).
        #[arg(long, default_value = "/etc/tobira/site.toml")]
        config: PathBuf,
    },
    /// Check an inclusion proof (from `audit prove`) against the node's public key (hex, from its
    /// audit-signing.pub or the centre). Exit 0 when the event is in the signed log, 4 when not.
    CheckProof {
        file: PathBuf,
        #[arg(long)]
        node_key: String,
        /// Also require the centre's witness countersignature, checked with this key (hex).
        #[arg(long)]
        witness_key: Option<String>,
    },
    /// After a restore from an older backup: put on record, signed into the chain, that the events past the
    /// heads remembered beside the pinned key are lost (by the system administrator, finger at --at;
    /// 002 §6(4)). `audit verify` then names the acknowledged loss instead of failing.
    AcknowledgeLoss {
        /// Why the events are gone and what was done (required: it is the record's only explanation).
        #[arg(long)]
        note: String,
    },
    /// Verify the hash chain and signed checkpoints of a store on disk (works with the daemon stopped).
    Verify {
        #[arg(long, default_value = "/var/lib/tobira")]
        data_dir: PathBuf,
        /// Ask the running daemon to verify its own store instead; a failure raises an alarm (003 §20).
        #[arg(long)]
        online: bool,
        /// Also compare the local store with the copy the central store holds (the site file's `[central]`):
        /// a history rewritten after shipping, even with its chain recomputed, differs from the centre's.
        #[arg(long)]
        central: bool,
        /// The site file naming the centre (with --central); the pinned key is looked for beside it
        /// (`audit-signing.pub`, written by `tobirad --init`).
        #[arg(long, default_value = "/etc/tobira/site.toml")]
        config: PathBuf,
        /// The node's public key to trust instead of the pinned one: 64 hex digits or a file holding them
        /// (check its fingerprint against the paper record). The key beside the data is never used.
        #[arg(long)]
        node_key: Option<String>,
        /// A signed tree head from a printed or exported ledger, SIZE:ROOT: the store must extend it
        /// (RFC 6962 consistency). Repeatable.
        #[arg(long)]
        anchor: Vec<String>,
        /// Also check the store against every head the site file's peer witness (`[witness]`) countersigned
        /// for this node (issue 16 §1(a)).
        #[arg(long)]
        witness: bool,
    },
}

#[derive(Subcommand)]
pub enum SimCmd {
    /// A simulated person places a finger on a reader (or, with --palm, holds a palm over a palm reader).
    Present {
        reader: String,
        body: String,
        #[arg(long, default_value_t = 2)]
        finger: u8,
        /// Present this palm (left | right) instead of a finger: a fresh synthetic palm-vein impression.
        #[arg(long, value_parser = ["left", "right"])]
        palm: Option<String>,
    },
    Walk {
        door: String,
        #[arg(long, default_value_t = 2000)]
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
    /// Hold a card to DOOR's reader: the number printed on it, as `tobira card add` registered it
    /// (card+biometric doors, issue 16 §2). Then `tobira sim present` the holder's finger.
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
    /// The next answer of a reader (or of a door controller, to a strike command) is garbage.
    Garble {
        reader: String,
    },
    /// The device stays connected but stops answering until `replug` (a hung reader; a controller that
    /// dies before it acknowledges the next strike command).
    Silence {
        device: String,
    },
    /// The reader (or simulated door controller) answers this late, after its driver's deadline (a slow
    /// module; a controller carries the strike out only then), until `--ms 0` or `replug`.
    Late {
        device: String,
        #[arg(long, default_value_t = 3000)]
        ms: u64,
    },
    /// Drop samples presented at a reader but not yet read.
    Clear {
        reader: String,
    },
    /// Make the audit store refuse writes (`--on false` to restore).
    AuditUnwritable {
        #[arg(long, action = clap::ArgAction::Set, default_value_t = true)]
        on: bool,
    },
    /// Set the daemon's clock (RFC 3339), or `real`.
    Clock {
        at: String,
    },
    Door {
        door: String,
    },
}

pub fn request_for(cmd: Cmd) -> Option<Request> {
    Some(match cmd {
        Cmd::Status => Request::Status,
        Cmd::Backup { dest } => {
            // The daemon writes it: an absolute path, as the caller meant it from here.
            Request::Backup { dest: std::path::absolute(&dest).unwrap_or(dest).to_string_lossy().into_owned() }
        }
        Cmd::Check => Request::Check,
        Cmd::ThresholdCheck => Request::ThresholdCheck,
        Cmd::Person(PersonCmd::Add { id, name, affiliation, roles, appointment_end }) => {
            Request::PersonAdd(PersonAdd { id, name, affiliation, roles, appointment_end })
        }
        Cmd::Person(PersonCmd::List) => Request::PersonList,
        Cmd::Person(PersonCmd::Show { id }) => Request::PersonShow { id },
        Cmd::Person(PersonCmd::Delete { id, reason }) => Request::PersonDelete { id, reason },
        Cmd::Enroll { person, reader, finger, palm, samples } => {
            Request::Enroll { person, reader, finger, palm, samples }
        }
        Cmd::Request(r) => match r {
            RequestCmd::List { status } => Request::RequestList { status },
            RequestCmd::Approve { id, note } => Request::RequestApprove { id, note },
            RequestCmd::Reject { id, note } => Request::RequestReject { id, note },
            RequestCmd::Withdraw { id } => Request::RequestWithdraw { id },
            RequestCmd::View { section, reason } => Request::RequestView { section, reason },
        },
        Cmd::Viewer(ViewerCmd::Lend { viewer_id, to, affiliation, purpose }) => {
            Request::ViewerLend { viewer_id, to, affiliation, purpose }
        }
        Cmd::Viewer(ViewerCmd::Return { loan }) => Request::ViewerReturn { loan },
        Cmd::Card(CardCmd::Add { person, card }) => Request::CardAdd { person, card },
        Cmd::Card(CardCmd::Remove { card, reason }) => Request::CardRemove { card, reason },
        Cmd::Card(CardCmd::List) => Request::CardList,
        Cmd::Review { complete, revoke, note } => Request::Review { complete, revoke, note },
        Cmd::Alarms(AlarmsArgs { cmd: None, all }) => Request::AlarmList { all },
        Cmd::Alarms(AlarmsArgs { cmd: Some(AlarmCmd::Ack { id, note }), .. }) => Request::AlarmAck { id, note },
        Cmd::Key(KeyCmd::Rotate) => Request::KeyRotate,
        Cmd::Grant(GrantCmd::Add { holder, place, from, until, schedule }) => {
            Request::GrantAdd(GrantAdd { holder, place, from, until, schedule })
        }
        Cmd::Grant(GrantCmd::List { holder }) => Request::GrantList { holder },
        Cmd::Grant(GrantCmd::Revoke { id }) => Request::GrantRevoke { id },
        Cmd::OffHours(a) => Request::OffHoursAdd(OffHoursAdd {
            person: a.person,
            terminal: a.terminal,
            from: a.from,
            until: a.until,
            reason: a.reason,
        }),
        Cmd::Visit(VisitCmdArgs { cmd: Some(VisitCmd::MediaIn { visit, media }), .. }) => {
            Request::VisitMedia { visit, direction: "in".into(), media }
        }
        Cmd::Visit(VisitCmdArgs { cmd: Some(VisitCmd::MediaOut { visit, media }), .. }) => {
            Request::VisitMedia { visit, direction: "out".into(), media }
        }
        Cmd::Visit(VisitCmdArgs { cmd: None, add: Some(v) }) => Request::VisitAdd(VisitAdd {
            vendor: v.vendor,
            company: v.company,
            purpose: v.purpose,
            name_tag: v.name_tag,
            doors: v.doors,
            from: v.from,
            until: v.until,
            escorts: v.escorts,
            media_allowed: v.media,
        }),
        Cmd::Visit(VisitCmdArgs { cmd: None, add: None }) => return None,
        Cmd::Media(m) => Request::Media(match m {
            MediaCmd::TakeOut { medium, kind, quantity, records, to, purpose, container, due } => {
                MediaCommand::TakeOut(MediaTakeOut {
                    medium,
                    media_kind: kind,
                    quantity,
                    records,
                    recipient: to,
                    purpose,
                    container,
                    due,
                })
            }
            MediaCmd::Consent { id } => MediaCommand::Consent { id },
            MediaCmd::Return { id, condition } => MediaCommand::Return { id, condition },
            MediaCmd::Dispose { medium, kind, quantity, method, witness, note } => {
                MediaCommand::Dispose(MediaDispose { medium, media_kind: kind, quantity, method, witness, note })
            }
            MediaCmd::Fault { medium, kind, finding, sound } => {
                MediaCommand::Fault { medium, media_kind: kind, faulty: !sound, finding }
            }
            MediaCmd::List { all } => MediaCommand::List { all },
        }),
        Cmd::Login { terminal, user, remote } => Request::Login { terminal, user, remote },
        Cmd::Unlock { person, reader } => Request::Unlock { person, reader },
        Cmd::Audit(AuditCmd::Show { person, place, kind, from, until, limit, .. }) => {
            Request::AuditShow(AuditFilter { person, place, kind, from, until, limit })
        }
        Cmd::Ledger { kind, from, until, era, csv, html } => Request::Ledger {
            kind: Some(kind),
            from,
            until,
            // Asked for: otherwise the site's setting.
            era: era.then_some(true),
            output: [csv.map(|_| "csv"), html.map(|_| "html")].into_iter().flatten().map(String::from).collect(),
        },
        Cmd::Sim(s) => Request::Sim(match s {
            SimCmd::Present { reader, body, palm: Some(hand), .. } => SimCommand::PresentPalm { reader, body, hand },
            SimCmd::Present { reader, body, finger, palm: None } => SimCommand::Present { reader, body, finger },
            SimCmd::Walk { door, hold_ms } => SimCommand::Walk { door, hold_ms },
            SimCmd::Open { door } => SimCommand::Open { door },
            SimCmd::Close { door } => SimCommand::Close { door },
            SimCmd::Force { door } => SimCommand::Force { door },
            SimCmd::Rex { door } => SimCommand::Rex { door },
            SimCmd::Card { door, number } => SimCommand::Card { door, number },
            SimCmd::Unplug { device } => SimCommand::Unplug { device },
            SimCmd::Replug { device } => SimCommand::Replug { device },
            SimCmd::Garble { reader } => SimCommand::Garble { reader },
            SimCmd::Silence { device } => SimCommand::Silence { device },
            SimCmd::Late { device, ms } => SimCommand::Late { device, ms },
            SimCmd::Clear { reader } => SimCommand::Clear { reader },
            SimCmd::AuditUnwritable { on } => SimCommand::AuditUnwritable { on },
            SimCmd::Clock { at } => SimCommand::Clock { at: (at != "real").then_some(at) },
            SimCmd::Door { door } => SimCommand::Door { door },
        }),
        Cmd::Audit(AuditCmd::Verify { online: true, central: false, .. }) => Request::AuditVerify,
        Cmd::Audit(AuditCmd::AcknowledgeLoss { note }) => Request::AuditAcknowledgeLoss { note },
        Cmd::Demo(_)
        | Cmd::Restore { .. }
        | Cmd::Audit(AuditCmd::Verify { .. } | AuditCmd::Prove { .. } | AuditCmd::CheckProof { .. }) => {
            return None;
        }
    })
}

/// Columns left out of human tables (all of them are in `--json`).
pub const HIDDEN_IN_TABLES: [&str; 6] = ["node", "time_text", "details", "details_text", "prev_hash", "hash"];

/// Columns shown first in human tables, in this order.
pub const FIRST_IN_TABLES: [&str; 11] =
    ["id", "seq", "time", "kind", "status", "actor", "subject", "place", "outcome", "reason", "article"];

/// Prints an answer: arrays of objects as a table, objects as key/value lines.
pub fn print_value(v: &serde_json::Value, json: bool) {
    if json {
        match v {
            serde_json::Value::Array(a) => a.iter().for_each(|x| println!("{x}")),
            other => println!("{other}"),
        }
        return;
    }
    match v {
        serde_json::Value::Array(a) if a.iter().all(|x| x.is_object()) && !a.is_empty() => {
            let all: Vec<String> = a[0].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
            // People read the table; the chain's hashes, the stored texts and the details are for scripts and
            // auditors (`--json`), and made `audit show` ~250 columns wide (issue 22 §3).
            let mut headers: Vec<String> =
                all.iter().filter(|h| !HIDDEN_IN_TABLES.contains(&h.as_str())).cloned().collect();
            // Identity and time first, as a ledger reads; other columns keep their order after them.
            headers.sort_by_key(|h| FIRST_IN_TABLES.iter().position(|f| f == h).unwrap_or(FIRST_IN_TABLES.len()));
            if headers.len() < all.len() {
                println!("(hashes and details: --json)");
            }
            let rows: Vec<Vec<String>> = a.iter().map(|x| headers.iter().map(|h| cell(&x[h])).collect()).collect();
            let hs: Vec<&str> = headers.iter().map(String::as_str).collect();
            print!("{}", tobira_ledger::table::render(&hs, &rows));
        }
        serde_json::Value::Array(a) if a.is_empty() => println!("(none)"),
        serde_json::Value::Object(o) => {
            for (k, x) in o {
                println!("{k}: {}", cell(x));
            }
        }
        other => println!("{}", cell(other)),
    }
}

/// Column names of the operation-history export (操作履歴, 003 §17), and the event fields they hold.
pub const HISTORY_COLUMNS: [(&str, &str); 12] = [
    ("日時", "time"),
    ("種別", "kind"),
    ("操作者", "actor"),
    ("対象者", "subject"),
    ("場所・端末", "place"),
    ("結果", "outcome"),
    ("理由", "reason"),
    ("根拠条項", "article"),
    ("照合スコア", "score"),
    ("詳細", "details"),
    ("連番", "seq"),
    ("ハッシュ", "hash"),
];

pub fn history_csv(events: &serde_json::Value) -> Vec<u8> {
    let headers: Vec<&str> = HISTORY_COLUMNS.iter().map(|c| c.0).collect();
    let rows: Vec<Vec<String>> = events
        .as_array()
        .map(|a| a.iter().map(|e| HISTORY_COLUMNS.iter().map(|(_, f)| cell(&e[*f])).collect()).collect())
        .unwrap_or_default();
    tobira_ledger::table::csv_with_bom(&headers, &rows)
}

/// The ledger's heading as `#` lines after its rows (a reader that skips `#` lines still reads the ledger, as
/// for the signed tree head after them): the form, the site, the period, when and by whom it was made.
pub fn csv_heading(v: &serde_json::Value) -> String {
    let h = &v["heading"];
    let f = |k: &str| h[k].as_str().unwrap_or("").replace(['\r', '\n'], " ");
    format!(
        "#帳票 (ledger),{}\r\n#拠点 (site),{} ({})\r\n#期間 (period),{}\r\n#出力日時 (made at),{}\r\n#出力者 (made by),{}\r\n{}",
        v["title"].as_str().unwrap_or("").replace(',', " "),
        f("site_name").replace(',', " "),
        f("site"),
        f("period").replace(',', " "),
        f("output_at"),
        f("printed_by").replace(',', " "),
        // The zone every time of the sheet is in, named once (issue 22 "Times").
        match f("zone") {
            z if z.is_empty() => String::new(),
            z => format!("#時刻 (times in),{}\r\n", z.replace(',', " ")),
        }
    )
}

/// Rows of the entry/exit ledger answer, in the ledger's column order.
pub fn ledger_rows(v: &serde_json::Value) -> (Vec<String>, Vec<Vec<String>>) {
    let cols: Vec<String> = v["columns"].as_array().map(|a| a.iter().map(cell).collect()).unwrap_or_default();
    let rows = v["rows"]
        .as_array()
        .map(|a| a.iter().map(|r| cols.iter().map(|c| cell(&r[c])).collect()).collect())
        .unwrap_or_default();
    (cols, rows)
}

/// Exit codes: 0 ok, 1 refused by policy or not found, 2 usage or bad input, 3 daemon unreachable, 4 audit
/// verification failed.
pub fn exit_code(e: &ClientError) -> i32 {
    match e {
        ClientError::Connect { .. }
        | ClientError::NoAnswer
        | ClientError::Refused { code: tobira_proto::ErrorCode::Busy, .. } => 3,
        ClientError::Refused { code: tobira_proto::ErrorCode::BadRequest, .. } => 2,
        _ => 1,
    }
}

pub fn client(cli: &Cli) -> Client {
    let actor = cli.actor.clone().map(|id| ActorClaim { id, reader: cli.at.clone() });
    Client::new(&cli.socket).with_actor(actor)
}
