//! The resolved site: the checked model the daemon runs on, with references, levels and times validated.

pub use crate::calendar::OfficeHours;
use crate::ids::*;
pub use crate::lockout::LockoutPolicy;
use crate::regulation::Regulation;
use crate::roles::Level;
use crate::site::raw::{RawCentral, RawWitness};
use chrono::FixedOffset;

/// A false-positive identification (or false-match) rate, validated finite and in range when the site is read
/// (hence `Eq`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fpir(pub f64);

impl Eq for Fpir {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub unlock_pulse_ms: u32,
    pub held_open_s: u32,
    /// 003 §13(4): how long an escort's authentication at a door lets their vendor in.
    pub escort_window_s: u32,
    pub capture_timeout_s: u32,
    /// A contact opening this soon after a REX press is an exit, not a forced door.
    pub rex_grace_s: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneConfig {
    pub id: ZoneId,
    pub name: String,
    pub level: Level,
    pub parent: Option<ZoneId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderConfig {
    pub id: ReaderId,
    pub kind: String,
    pub port: Option<String>,
    pub modality: String,
    /// R30x kinds: the line rate to raise the module to (`None`: the driver's default, the fastest).
    pub baud: Option<u32>,
}

/// Line rates a serial reader or controller may name: the standard termios speeds, which are also the
/// rates every R30x module (the R503 allows N ∈ {1, 2, 4, 6, 12} of 9600×N) and OSDP device offers.
pub const LINE_RATES: [u32; 5] = [9600, 19200, 38400, 57600, 115_200];

/// Reader kinds that sit on a serial line and so take `baud`.
pub const SERIAL_READER_KINDS: [&str; 2] = ["r30x", "sim-r30x"];

/// `[console]`, checked (issue 18): each value absent unless the file gives it; the console's flags
/// override each.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsoleSettings {
    pub listen: Option<std::net::SocketAddr>,
    /// The certificate chain and key (both or neither).
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// Client certificates are required, issued by this CA (only with `tls`).
    pub client_ca: Option<std::path::PathBuf>,
}

/// `[simulation]`, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Simulation {
    /// Simulated serial devices keep their line rate (`line_rate = "kept"`).
    pub keep_line_rate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    pub id: ControllerId,
    pub kind: String,
    pub port: Option<String>,
    pub address: Option<u8>,
    pub key_file: Option<String>,
    pub install_mode: bool,
    pub baud: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorConfig {
    pub id: DoorId,
    pub name: String,
    pub zone: ZoneId,
    pub controller: ControllerId,
    pub entry_reader: ReaderId,
    pub exit_reader: Option<ReaderId>,
    pub rex: bool,
    /// What the door asks before the policy decides (issue 16 §2).
    pub auth: crate::authmode::AuthMode,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalConfig {
    pub id: TerminalId,
    pub name: String,
    pub zone: ZoneId,
    pub reader: ReaderId,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: SiteId,
    pub name: String,
    pub utc_offset: FixedOffset,
    pub office_hours: OfficeHours,
    pub timeouts: Timeouts,
    pub lockout: LockoutPolicy,
    /// The false-positive identification rate per door decision (`[identification] fpir`, issue 16 §2).
    pub fpir: Fpir,
    /// The false-match rate of a 1:1 comparison (`[identification] fmr`, in [1e-7, 1e-4]; issue 17).
    pub fmr: Fpir,
    pub reader_throttle: crate::throttle::ThrottlePolicy,
    pub administration: Administration,
    /// The city's rules: who issues each level, designates operators, approves viewing (issue 21 §6).
    pub regulation: Regulation,
    pub central: Option<RawCentral>,
    pub witness: Option<RawWitness>,
    /// How simulated devices behave under `--simulation` (ignored otherwise).
    pub simulation: Simulation,
    /// The web console's `[console]` (the daemon ignores it; `tobira-console --config` reads it).
    pub console: ConsoleSettings,
    pub zones: Vec<ZoneConfig>,
    pub readers: Vec<ReaderConfig>,
    pub controllers: Vec<ControllerConfig>,
    pub doors: Vec<DoorConfig>,
    pub terminals: Vec<TerminalConfig>,
}

/// The administration workflows' settings (`[administration]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Administration {
    pub enrollment_samples: u8,
    pub enrollment_min_quality: u8,
    pub review_period_days: u32,
    pub view_approval_hours: u32,
    pub notify_command: Vec<String>,
    /// The ledgers write dates in the Japanese era (令和8年11月24日) unless asked otherwise (`ledger_dates`).
    pub ledger_era: bool,
}

/// Reader kinds this version knows; a typo is caught at load, not when the first person arrives.
pub const READER_KINDS: [&str; 6] = ["sim-finger", "sim-palm", "sim-r30x", "r30x", "uru4000", "palm-bridge"];
pub const CONTROLLER_KINDS: [&str; 2] = ["sim", "osdp"];

impl Site {
    /// The tag this node puts in the grant ids it issues: its id on a multi-node site, none on a site of one
    /// node (`crate::grant_id`).
    pub fn grant_tag(&self) -> Option<&str> {
        self.central.as_ref().map(|_| self.id.as_str())
    }

    pub fn zone(&self, id: &ZoneId) -> Option<&ZoneConfig> {
        self.zones.iter().find(|z| &z.id == id)
    }
    pub fn door(&self, id: &DoorId) -> Option<&DoorConfig> {
        self.doors.iter().find(|d| &d.id == id)
    }
    pub fn terminal(&self, id: &TerminalId) -> Option<&TerminalConfig> {
        self.terminals.iter().find(|t| &t.id == id)
    }
    pub fn reader(&self, id: &ReaderId) -> Option<&ReaderConfig> {
        self.readers.iter().find(|r| &r.id == id)
    }

    /// The zone's ancestors, nearest first.
    pub fn zone_chain(&self, id: &ZoneId) -> Vec<ZoneId> {
        let mut out = Vec::new();
        let mut cur = self.zone(id).and_then(|z| z.parent.clone());
        while let Some(p) = cur {
            if out.contains(&p) {
                break;
            }
            cur = self.zone(&p).and_then(|z| z.parent.clone());
            out.push(p);
        }
        out
    }
}
