//! The site file's raw mirror: one struct per table, checking only the file's shape (types, unknown keys).
//! Every value keeps its span so resolution (`super::resolve`) can name the line of a mistake in meaning.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSite {
    pub site: RawSiteInfo,
    pub office_hours: RawOfficeHours,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub lockout: RawLockout,
    /// Issue 16 §2: the false-positive identification rate a door keeps per decision.
    #[serde(default)]
    pub identification: RawIdentification,
    /// Issue 16 §2: unidentified attempts at a reader are throttled and alarmed.
    #[serde(default)]
    pub reader_throttle: RawReaderThrottle,
    #[serde(default)]
    pub administration: RawAdministration,
    /// The city's profile (issue 21 §6): a preset and single-rule overrides. Absent: Sendai's (003).
    #[serde(default)]
    pub regulation: RawRegulation,
    /// Multi-node: where this node ships its audit events (issue 7). Absent: a single embedded node.
    #[serde(default)]
    pub central: Option<RawCentral>,
    /// A peer witness that countersigns this node's tree heads over TLS, without a centre (issue 16 §1(a)).
    #[serde(default)]
    pub witness: Option<RawWitness>,
    /// How a `--simulation` daemon's simulated devices behave (issue 15: keeping real line rates).
    #[serde(default)]
    pub simulation: RawSimulation,
    /// Where the web console serves and with which certificate (issue 18); its flags override.
    #[serde(default)]
    pub console: Option<RawConsole>,
    #[serde(default, rename = "zone")]
    pub zones: Vec<RawZone>,
    #[serde(default, rename = "reader")]
    pub readers: Vec<RawReader>,
    #[serde(default, rename = "controller")]
    pub controllers: Vec<RawController>,
    #[serde(default, rename = "door")]
    pub doors: Vec<RawDoor>,
    #[serde(default, rename = "terminal")]
    pub terminals: Vec<RawTerminal>,
}

/// `[console]`: the web console's address and TLS (issue 18). Paths are absolute, PEM files.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsole {
    /// Address and port to serve on; anything but loopback only over TLS.
    pub listen: Option<Spanned<String>>,
    /// The site's certificate chain for the console.
    pub tls_cert: Option<Spanned<String>>,
    /// Its private key.
    pub tls_key: Option<Spanned<String>>,
    /// The CA whose client certificates the console requires (without one, no connection is served).
    pub client_ca: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSiteInfo {
    pub id: Spanned<String>,
    pub name: String,
    pub utc_offset: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOfficeHours {
    pub days: Spanned<Vec<String>>,
    pub open: Spanned<String>,
    pub close: Spanned<String>,
    #[serde(default = "empty_list")]
    pub closures: Spanned<Vec<String>>,
    #[serde(default = "empty_list")]
    pub extra_holidays: Spanned<Vec<String>>,
}

fn empty_list() -> Spanned<Vec<String>> {
    Spanned::new(0..0, Vec::new())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawTimeouts {
    pub unlock_pulse_ms: Spanned<u32>,
    pub held_open_s: Spanned<u32>,
    pub escort_window_s: Spanned<u32>,
    pub capture_timeout_s: Spanned<u32>,
    pub rex_grace_s: Spanned<u32>,
}

impl Default for RawTimeouts {
    fn default() -> Self {
        Self {
            unlock_pulse_ms: Spanned::new(0..0, 3000),
            held_open_s: Spanned::new(0..0, 30),
            escort_window_s: Spanned::new(0..0, 120),
            capture_timeout_s: Spanned::new(0..0, 15),
            rex_grace_s: Spanned::new(0..0, 10),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLockout {
    pub max_failures: Spanned<u32>,
    pub base_delay_s: Spanned<u32>,
    pub max_delay_s: Spanned<u32>,
}

impl Default for RawLockout {
    fn default() -> Self {
        Self {
            max_failures: Spanned::new(0..0, 5),
            base_delay_s: Spanned::new(0..0, 60),
            max_delay_s: Spanned::new(0..0, 3600),
        }
    }
}

/// `[identification]`: the per-decision false-positive identification rate (FPIR) a door keeps, whatever the
/// number of people allowed there, and the false-match rate a 1:1 comparison (a login, an administrator's
/// proof, an enrolment's captures agreeing) is held to.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIdentification {
    pub fpir: Spanned<f64>,
    pub fmr: Spanned<f64>,
}

impl Default for RawIdentification {
    fn default() -> Self {
        Self { fpir: Spanned::new(0..0, 1e-4), fmr: Spanned::new(0..0, 1e-4) }
    }
}

/// `[reader_throttle]`: see [`crate::throttle`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawReaderThrottle {
    pub free_attempts: Spanned<u32>,
    pub base_delay_s: Spanned<u32>,
    pub max_delay_s: Spanned<u32>,
    pub alarm_after: Spanned<u32>,
    pub quiet_s: Spanned<u32>,
}

impl Default for RawReaderThrottle {
    fn default() -> Self {
        let d = crate::throttle::ThrottlePolicy::default();
        Self {
            free_attempts: Spanned::new(0..0, d.free_attempts),
            base_delay_s: Spanned::new(0..0, d.base_delay_s),
            max_delay_s: Spanned::new(0..0, d.max_delay_s),
            alarm_after: Spanned::new(0..0, d.alarm_after),
            quiet_s: Spanned::new(0..0, d.quiet_s),
        }
    }
}

/// `[witness]`: a peer witness (`tobira-central peer-witness` on another host) that countersigns this node's
/// signed tree heads over TLS (issue 16 §1(a)).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWitness {
    /// host:port of the witness.
    pub address: String,
    /// The name its certificate is issued for (default: the host part of `address`).
    #[serde(default)]
    pub server_name: Option<String>,
    /// The CA that issued the witness's certificate (PEM).
    pub ca_file: String,
    /// The witness's public key (Ed25519, hex), as its administrator publishes it.
    pub witness_key: String,
    /// How often the node submits its head, in seconds.
    #[serde(default = "default_witness_every_s")]
    pub every_s: u32,
}

impl RawWitness {
    pub fn server_name(&self) -> String {
        self.server_name.clone().unwrap_or_else(|| {
            self.address.rsplit_once(':').map_or(self.address.as_str(), |(h, _)| h).trim_matches(['[', ']']).into()
        })
    }
}

fn default_witness_every_s() -> u32 {
    60
}

/// `[central]`: the central PostgreSQL store, over TLS with this node's client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCentral {
    pub host: String,
    #[serde(default = "default_pg_port")]
    pub port: u16,
    #[serde(default = "default_central_db")]
    pub database: String,
    /// This node's database role (the CN of its client certificate).
    pub role: String,
    pub ca_file: String,
    pub cert_file: String,
    pub key_file: String,
    /// How often the shipper looks for new events, in milliseconds.
    #[serde(default = "default_ship_ms")]
    pub ship_every_ms: u32,
    /// How often the node submits the signed head of its log to the centre's witness, in milliseconds.
    #[serde(default = "default_head_ms")]
    pub head_every_ms: u32,
    /// The centre's witness public key (Ed25519, hex), as its administrator publishes it: `tobira audit
    /// verify --central` checks the countersignatures with it.
    #[serde(default)]
    pub witness_key: Option<String>,
    /// The longest the node may go without hearing from the centre before it refuses grants to that level
    /// (seconds; absent: no limit). E.g. L3 300: a media room is refused after 5 minutes of silence.
    #[serde(default)]
    pub stale_after_s_l1: Option<u32>,
    #[serde(default)]
    pub stale_after_s_l2: Option<u32>,
    #[serde(default)]
    pub stale_after_s_l3: Option<u32>,
}

impl RawCentral {
    pub fn staleness(&self) -> crate::staleness::StalenessLimits {
        crate::staleness::StalenessLimits {
            l1: self.stale_after_s_l1,
            l2: self.stale_after_s_l2,
            l3: self.stale_after_s_l3,
        }
    }
}

fn default_pg_port() -> u16 {
    5432
}

fn default_central_db() -> String {
    "tobira".into()
}

fn default_ship_ms() -> u32 {
    500
}

fn default_head_ms() -> u32 {
    10_000
}

/// `[administration]`: the workflows of issue 8.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAdministration {
    /// Captures per enrollment (DESIGN "Enrollment"), 1..=10; 5 by default since issue 17's session 16: the
    /// daemon stores up to five agreeing fingerprint impressions, and on the development sets a door of one
    /// template rejects 1.7 / 5.8 / 21.2 % of genuine attempts with five against 6.0 / 7.4 / 29.7 % with three
    /// (README, "Five captures").
    pub enrollment_samples: Spanned<u32>,
    /// Lowest sample quality (0–100) the enrollment accepts; a poorer capture is refused and asked again.
    pub enrollment_min_quality: Spanned<u32>,
    /// 004 §5(10): a review older than this many days is overdue (`tobira check` says so), 1..=3650.
    pub review_period_days: Spanned<u32>,
    /// 002 §7(11): how long an approval to read another section's records stays usable, in hours.
    pub view_approval_hours: Spanned<u32>,
    /// 003 §20: a command run once per alarm (argv, no shell), with TOBIRA_ALARM_* in its environment and the
    /// alarm as JSON on its standard input. Empty: the system journal only.
    pub notify_command: Spanned<Vec<String>>,
    /// How the ledgers write dates: `iso` (2026-11-24, the default) or `era` (令和8年11月24日, as municipal
    /// forms are read); `tobira ledger --era` asks for the era once.
    pub ledger_dates: Spanned<String>,
}

impl Default for RawAdministration {
    fn default() -> Self {
        Self {
            enrollment_samples: Spanned::new(0..0, 5),
            enrollment_min_quality: Spanned::new(0..0, 40),
            review_period_days: Spanned::new(0..0, 180),
            view_approval_hours: Spanned::new(0..0, 24),
            notify_command: Spanned::new(0..0, Vec::new()),
            ledger_dates: Spanned::new(0..0, "iso".into()),
        }
    }
}

/// `[regulation]`: which city's rules apply (`preset`), and single rules the site overrides. Role values are
/// the role names of `person add --roles` (`system-administrator`, …).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegulation {
    pub preset: Option<Spanned<String>>,
    pub level1_issuer: Option<Spanned<String>>,
    pub level2_issuer: Option<Spanned<String>>,
    pub level3_issuer: Option<Spanned<String>>,
    pub operator_designator: Option<Spanned<String>>,
    pub operator_requesters: Option<Spanned<Vec<String>>>,
    pub record_readers: Option<Spanned<Vec<String>>>,
    pub view_approver: Option<Spanned<String>>,
    pub own_section_needs_approval: Option<bool>,
    pub off_hours_approver: Option<Spanned<String>>,
    pub media_custodian: Option<Spanned<String>>,
    pub media_takeout_consent: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZone {
    pub id: Spanned<String>,
    pub name: String,
    pub level: Spanned<i64>,
    pub parent: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReader {
    pub id: Spanned<String>,
    pub kind: Spanned<String>,
    pub port: Option<String>,
    pub modality: Option<Spanned<String>>,
    /// R30x modules: the line rate the driver raises the module to at start (default 115200, the fastest).
    pub baud: Option<Spanned<u32>>,
}

/// `[simulation]`: only read by a daemon started with `--simulation`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawSimulation {
    /// `"kept"`: simulated serial devices send their bytes at their line rate, so a person waits at a
    /// simulated door what they would wait at a real one; `"instant"` (the default): as fast as the
    /// pseudo-terminal takes them.
    pub line_rate: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawController {
    pub id: Spanned<String>,
    pub kind: Spanned<String>,
    pub port: Option<String>,
    pub address: Option<u8>,
    /// OSDP: the device's Secure Channel key file (0600, 32 hex digits).
    pub key_file: Option<String>,
    /// OSDP: accept the install-mode key for one provisioning session (audited). Never leave it on.
    #[serde(default)]
    pub install_mode: bool,
    /// OSDP: line speed (9600, 19200, 38400, 57600 or 115200; default 115200).
    pub baud: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDoor {
    pub id: Spanned<String>,
    pub name: String,
    pub zone: Spanned<String>,
    pub controller: Spanned<String>,
    pub entry_reader: Spanned<String>,
    pub exit_reader: Option<Spanned<String>>,
    #[serde(default)]
    pub rex: bool,
    /// `"biometric"` (default), `"card+biometric"` or `"two-biometrics"` (see [`crate::authmode`]).
    #[serde(default)]
    pub auth: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTerminal {
    pub id: Spanned<String>,
    pub name: String,
    pub zone: Spanned<String>,
    pub reader: Spanned<String>,
}
