//! tobirad's command-line options and the paths derived from them (STYLE §11: resolve touches the system).

use std::path::{Path, PathBuf};
use tobira_audit::trust::default_pin;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "tobirad", version, about = "tobira daemon: biometric access control for doors and terminals")]
pub struct Options {
    /// Site layout (zones, doors, terminals, readers, office hours, timeouts).
    #[arg(long, default_value = "/etc/tobira/site.toml")]
    pub config: PathBuf,
    /// Where the registry, the audit store and the key files live (0700).
    #[arg(long, default_value = "/var/lib/tobira")]
    pub data_dir: PathBuf,
    /// Control socket path (default: DATA_DIR/control.sock).
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Login socket for pam_tobira.so (default: DATA_DIR/login.sock, mode 0600, root callers only).
    #[arg(long)]
    pub login_socket: Option<PathBuf>,
    /// Create a new site's stores and keys in an empty data directory, print the pinned key's fingerprint and
    /// what to do next, and exit (it never runs the site). Refuses a data directory that holds a site.
    /// Without it a missing store is an error, so a wrong path never starts an empty site.
    #[arg(long)]
    pub init: bool,
    /// With `--init` as root: the user the service runs as, who will own the data directory and the stores
    /// (default `tobira`, the `User=` of config/tobirad.service). Not root: only yourself.
    #[arg(long, requires = "init")]
    pub user: Option<String>,
    /// Accept the simulator's commands (present a sample, open a door, set the clock). Never in production.
    #[arg(long)]
    pub simulation: bool,
    /// Log as JSON lines (for journald / log shipping) instead of human-readable text.
    #[arg(long)]
    pub log_json: bool,
    /// Where `--init` pins the node's audit public key, outside the data directory (root-owned, read-only
    /// to the daemon); `audit-heads.json` beside it remembers the largest heads signed, printed and
    /// countersigned. Default: `audit-signing.pub` in the site file's directory (`/etc/tobira/`).
    #[arg(long)]
    pub pinned_key: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:9477). Off unless given; no person is
    /// ever in a label, but keep it on localhost or behind a firewall.
    #[arg(long, env = "TOBIRA_METRICS", value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Sign an audit checkpoint every this many events.
    #[arg(long, default_value_t = 1000)]
    pub checkpoint_every: u64,
    /// With `--simulation` only: start the simulated clock at this time (RFC 3339, e.g.
    /// 2026-11-24T10:30:00+09:00), as `tobira sim clock` would set it, so a scenario's time goes on across a
    /// restart and what is rebuilt at start (occupancy) is rebuilt as of it.
    #[arg(long, env = "TOBIRA_SIM_CLOCK", value_name = "TIME", requires = "simulation")]
    pub sim_clock: Option<chrono::DateTime<chrono::FixedOffset>>,
}

impl Options {
    pub fn socket_path(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| self.data_dir.join("control.sock"))
    }
    /// The PAM module's socket (root only).
    pub fn login_socket_path(&self) -> PathBuf {
        self.login_socket.clone().unwrap_or_else(|| self.data_dir.join("login.sock"))
    }
    pub fn registry_path(&self) -> PathBuf {
        self.data_dir.join("registry.db")
    }
    pub fn audit_path(&self) -> PathBuf {
        self.data_dir.join("audit.db")
    }
    /// Ed25519 key that signs audit checkpoints.
    pub fn signing_key_path(&self) -> PathBuf {
        self.data_dir.join("audit-signing.key")
    }
    /// The pinned audit public key (see `--pinned-key`).
    pub fn pinned_key_path(&self) -> PathBuf {
        self.pinned_key.clone().unwrap_or_else(|| default_pin(&self.config))
    }
    /// X25519 key that opens data keys other nodes wrap to this one (multi-node only).
    pub fn transport_key_path(&self) -> PathBuf {
        self.data_dir.join("transport.key")
    }
    /// AES-256 key that wraps the templates' data keys.
    pub fn template_key_path(&self) -> PathBuf {
        self.data_dir.join("template.key")
    }
}

/// Why the site file could not be loaded (tobirad maps both to EX_CONFIG; `tobira audit` says them).
#[derive(Debug, thiserror::Error)]
pub enum SiteFileError {
    #[error("cannot read the site configuration {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Config(#[from] tobira_core::site::SiteError),
}

/// Reads and parses the site file (the one place both tobirad and the audit commands do it).
pub fn load_site(path: &Path) -> Result<tobira_core::site::Site, SiteFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| SiteFileError::Read { path: path.into(), source })?;
    Ok(tobira_core::site::parse_site(&path.display().to_string(), &text)?)
}
