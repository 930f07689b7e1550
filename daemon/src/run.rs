//! Start-up, the tasks, and a clean stop. The library never installs signal handlers (STYLE §6): the binary
//! passes a shutdown future.

pub mod init;
mod peer_witness;
pub mod systemd;

use crate::node::clock::Clock;
use crate::node::daemon::{CentralLink, Daemon, Devices, DoorRuntime, Matcher, Matching, Shared, Stores};
use crate::node::live::Live;
use crate::node::options::{Options, SiteFileError, load_site};
use crate::node::recorder::Recorder;
use crate::store::RegistryStore;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use tobira_audit::{AuditStore, NewEvent, Outcome};
use tobira_core::occupancy::EscortLog;
use tobira_core::site::Site;
use tobira_drivers::{DoorController, Reader};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("cannot read the site configuration {path}: {source}")]
    ConfigRead { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Config(#[from] tobira_core::site::SiteError),
    #[error("data directory {path}: {detail}")]
    DataDir { path: PathBuf, detail: String },
    #[error("{0}")]
    Key(#[from] crate::secrets::keys::KeyError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("audit store: {0}")]
    Audit(#[from] tobira_audit::AuditError),
    #[error("device {device}: {detail}")]
    Device { device: String, detail: String },
    #[error("template {id} of {person} does not open with this node's template key: wrong key file or altered data")]
    Template { id: String, person: String },
    #[error("{0}")]
    Keyring(#[from] crate::secrets::keyring::KeyringError),
    #[error("finishing requests approved before a crash failed: {0}")]
    Resume(String),
    #[error("control socket {path}: {source}")]
    Socket { path: PathBuf, source: std::io::Error },
    #[error("{0}")]
    Pin(#[from] crate::node::trust::PinError),
    #[error("metrics endpoint {addr} (--metrics): {source}")]
    Metrics { addr: std::net::SocketAddr, source: std::io::Error },
    #[error(
        "the disk holding {path} is full (ディスク容量不足, {free} bytes free): {cause} — free space or grow the \
         volume, then start tobirad again; the stores are not damaged, do not restore them"
    )]
    DiskFull { path: PathBuf, free: u64, cause: String },
}

impl StartError {
    /// Whether the error already names a full disk, or cannot come from one (the site file, the directory).
    fn names_its_cause(&self) -> bool {
        matches!(
            self,
            StartError::DiskFull { .. }
                | StartError::Store(crate::store::StoreError::DiskFull { .. })
                | StartError::Audit(tobira_audit::AuditError::DiskFull { .. })
                | StartError::ConfigRead { .. }
                | StartError::Config(_)
                | StartError::DataDir { .. }
        )
    }
}

impl From<SiteFileError> for StartError {
    fn from(e: SiteFileError) -> Self {
        match e {
            SiteFileError::Read { path, source } => StartError::ConfigRead { path, source },
            SiteFileError::Config(e) => StartError::Config(e),
        }
    }
}

/// The name of user `uid` for a message (its number if it has none).
pub(crate) fn user_name(uid: u32) -> String {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: an all-zero passwd is a valid value for getpwuid_r to fill.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the sizes given; `found` is set to `&pw` or null.
    let r = unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr(), buf.len(), &mut found) };
    if r == 0 && !found.is_null() && !pw.pw_name.is_null() {
        // SAFETY: on success pw_name points at a NUL-terminated string inside `buf`.
        unsafe { std::ffi::CStr::from_ptr(pw.pw_name) }.to_string_lossy().into_owned()
    } else {
        uid.to_string()
    }
}

/// The data directory holds the registry and the operation history (操作履歴): it must belong to the user
/// tobirad runs as and be closed to everyone else (0700), or tobirad refuses to start and names the fix
/// (issue 15; 001 §15(4); THREATS "a local process on the terminal"). systemd's `UMask=` is not relied on.
pub fn check_data_dir(dir: &std::path::Path) -> Result<(), StartError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    check_data_dir_for(dir, unsafe { libc::geteuid() })
}

/// As [`check_data_dir`], for the user `me` who will run tobirad (`--init --user` as root).
pub fn check_data_dir_for(dir: &std::path::Path, me: u32) -> Result<(), StartError> {
    let err = |detail: String| StartError::DataDir { path: dir.into(), detail };
    let meta = std::fs::metadata(dir).map_err(|e| err(e.to_string()))?;
    if !meta.is_dir() {
        return Err(err("is not a directory: check --data-dir".into()));
    }
    if meta.uid() != me {
        let me_name = user_name(me);
        return Err(err(format!(
            "is owned by {} (uid {}), not by {me_name} (uid {me}) that tobirad runs as; it holds the registry and \
             the operation history (操作履歴), so only tobirad's own user may own it — run `chown {me_name}: {}`, \
             or start tobirad as its owner",
            user_name(meta.uid()),
            meta.uid(),
            dir.display()
        )));
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(err(format!(
            "is mode {mode:o}: other local users could read or replace the registry and the operation history \
             (操作履歴) — run `chmod 700 {}`",
            dir.display()
        )));
    }
    Ok(())
}

/// The data directory of an existing site: `--init` (`crate::init`) is the only place one is created.
fn prepare_data_dir(opts: &Options) -> Result<(), StartError> {
    let dir = &opts.data_dir;
    let err = |detail: String| StartError::DataDir { path: dir.clone(), detail };
    if !dir.exists() {
        return Err(err("holds no tobira stores: run `tobirad --init` once to create a new site here".into()));
    }
    check_data_dir(dir)?;
    let have_reg = opts.registry_path().exists();
    let have_audit = opts.audit_path().exists();
    if have_reg != have_audit {
        return Err(err(format!(
            "holds {} but not {}: refusing to start half a site — restore the missing file from backup",
            if have_reg { "registry.db" } else { "audit.db" },
            if have_reg { "audit.db" } else { "registry.db" }
        )));
    }
    if !have_reg {
        return Err(err("holds no tobira stores: run `tobirad --init` once to create a new site here".into()));
    }
    Ok(())
}

/// The simulated devices a site names, refused unless `--simulation` is given. Checked before anything is
/// created, at `--init` and at every start (issue 22 §2: a refused start must leave nothing behind).
pub fn check_simulated_devices(site: &Site, simulation: bool) -> Result<(), StartError> {
    if simulation {
        return Ok(());
    }
    for r in &site.readers {
        let detail = match r.kind.as_str() {
            "sim-finger" | "sim-palm" => "is a simulated reader; start with --simulation, or name a real reader kind",
            "sim-r30x" => "is a simulated R30x module; start with --simulation, or name kind r30x and its port",
            _ => continue,
        };
        return Err(StartError::Device { device: r.id.to_string(), detail: detail.into() });
    }
    if let Some(c) = site.controllers.iter().find(|c| c.kind == "sim") {
        return Err(StartError::Device {
            device: c.id.to_string(),
            detail: "is a simulated controller; start with --simulation".into(),
        });
    }
    Ok(())
}

/// The devices a site names, built from their drivers.
fn build_devices(site: &Site, opts: &Options) -> Result<Devices, StartError> {
    let mut sim = crate::sim::devices::SimDevices::default();
    let mut readers: HashMap<_, Arc<dyn Reader>> = HashMap::new();
    for r in &site.readers {
        match r.kind.as_str() {
            "sim-finger" | "sim-palm" => {
                if !opts.simulation {
                    return Err(StartError::Device {
                        device: r.id.to_string(),
                        detail: "is a simulated reader; start with --simulation, or name a real reader kind".into(),
                    });
                }
                readers.insert(r.id.clone(), sim.add_reader(r));
            }
            "sim-r30x" => {
                if !opts.simulation {
                    return Err(StartError::Device {
                        device: r.id.to_string(),
                        detail: "is a simulated R30x module; start with --simulation, or name kind r30x and its port"
                            .into(),
                    });
                }
                let dev = sim.add_r30x(r, site.simulation.keep_line_rate).map_err(|e| StartError::Device {
                    device: r.id.to_string(),
                    detail: format!("pseudo-terminal: {e}"),
                })?;
                readers.insert(r.id.clone(), dev);
            }
            "r30x" => {
                // The site file requires `port` for real readers; e.g. /dev/ttyUSB0 or a `tobira-sim` link.
                let Some(port) = &r.port else {
                    return Err(StartError::Device {
                        device: r.id.to_string(),
                        detail: "kind r30x needs `port`".into(),
                    });
                };
                let mut cfg = tobira_drivers::r30x::R30xConfig::new(port);
                // The rate the driver raises the module to at start (SetSysPara, read back); the fastest by
                // default, since a person at the door waits for the image to cross the line (issue 15).
                cfg.baud = r.baud.unwrap_or(tobira_drivers::r30x::FASTEST_BAUD);
                readers.insert(r.id.clone(), Arc::new(tobira_drivers::r30x::R30xReader::spawn(r.id.as_str(), cfg)));
            }
            "uru4000" => {
                // USB: the first connected U.are.U 4000/4500 (`port = "usb"`).
                let reader = tobira_drivers::uru4000::UruReader::spawn(r.id.as_str(), Default::default())
                    .map_err(|e| StartError::Device { device: r.id.to_string(), detail: e.to_string() })?;
                readers.insert(r.id.clone(), Arc::new(reader));
            }
            "palm-bridge" => {
                // `port` names the bridge's UNIX socket (drivers/src/palm_bridge/PROTOCOL.md).
                let Some(port) = &r.port else {
                    return Err(StartError::Device {
                        device: r.id.to_string(),
                        detail: "kind palm-bridge needs `port` (the bridge's socket path)".into(),
                    });
                };
                let mut cfg = tobira_drivers::palm_bridge::PalmBridgeConfig::new(port);
                cfg.capture_timeout = std::time::Duration::from_secs(u64::from(site.timeouts.capture_timeout_s));
                readers.insert(
                    r.id.clone(),
                    Arc::new(tobira_drivers::palm_bridge::PalmBridgeReader::new(r.id.as_str(), cfg)),
                );
            }
            other => {
                return Err(StartError::Device {
                    device: r.id.to_string(),
                    detail: format!("reader kind {other:?} has no driver in this build"),
                });
            }
        }
    }
    let mut controllers: HashMap<_, Arc<dyn DoorController>> = HashMap::new();
    for c in &site.controllers {
        match c.kind.as_str() {
            "sim" => {
                if !opts.simulation {
                    return Err(StartError::Device {
                        device: c.id.to_string(),
                        detail: "is a simulated controller; start with --simulation".into(),
                    });
                }
                controllers.insert(c.id.clone(), sim.add_controller(c));
            }
            "osdp" => {
                let dev = |detail: String| StartError::Device { device: c.id.to_string(), detail };
                let port = c.port.clone().ok_or_else(|| dev("needs `port`".into()))?;
                let key = match &c.key_file {
                    Some(f) => {
                        Some(tobira_drivers::osdp::load_key(std::path::Path::new(f)).map_err(|e| dev(e.to_string()))?)
                    }
                    None => None,
                };
                if key.is_none() && c.install_mode {
                    tracing::warn!(controller = %c.id, "OSDP install mode: the well-known key is accepted for provisioning");
                }
                let mut cfg = tobira_drivers::osdp::OsdpConfig::new(port, i32::from(c.address.unwrap_or(0)), key);
                cfg.install_mode = c.install_mode;
                cfg.baud = c.baud.unwrap_or(115_200);
                let ctl =
                    tobira_drivers::osdp::OsdpController::spawn(c.id.as_str(), cfg).map_err(|e| dev(e.to_string()))?;
                controllers.insert(c.id.clone(), Arc::new(ctl));
            }
            other => {
                return Err(StartError::Device {
                    device: c.id.to_string(),
                    detail: format!("controller kind {other:?} has no driver in this build"),
                });
            }
        }
    }
    let mut doors = HashMap::new();
    for d in &site.doors {
        let Some(ctl) = controllers.get(&d.controller).cloned() else {
            return Err(StartError::Device {
                device: d.id.to_string(),
                detail: format!("controller {} missing", d.controller),
            });
        };
        sim.map_door(&d.id, &d.controller);
        doors.insert(d.id.clone(), DoorRuntime { id: d.id.clone(), controller: ctl });
    }
    Ok(Devices { readers, doors, door_states: Default::default(), sim: opts.simulation.then_some(sim) })
}

/// The names the site file gives its zones, doors and terminals (id → サーバ室), said at every start: the
/// centre holds no site file, and names places in its ledgers from the latest start of each node.
fn place_names(site: &Site) -> serde_json::Map<String, serde_json::Value> {
    let zones = site.zones.iter().map(|z| (z.id.to_string(), z.name.clone()));
    let doors = site.doors.iter().map(|d| (d.id.to_string(), d.name.clone()));
    let terminals = site.terminals.iter().map(|t| (t.id.to_string(), t.name.clone()));
    zones.chain(doors).chain(terminals).map(|(id, name)| (id, name.into())).collect()
}

/// Opens everything, runs until `shutdown` resolves, then stops cleanly: the control socket closes, each
/// door task finishes the event in flight, a final event and checkpoint are written.
pub async fn run(opts: Options, shutdown: impl std::future::Future<Output = ()>) -> Result<(), StartError> {
    let dir = opts.data_dir.clone();
    match run_until(opts, shutdown).await {
        // Whatever step met it (a key, a migration, the first event), a full disk is named as such: every
        // other symptom follows from it, and the advice for corruption would throw healthy stores away.
        Err(e) if !e.names_its_cause() => match tobira_audit::fault::disk_full(&dir) {
            Some(free) => Err(StartError::DiskFull { path: dir, free, cause: e.to_string() }),
            None => Err(e),
        },
        r => r,
    }
}

async fn run_until(opts: Options, shutdown: impl std::future::Future<Output = ()>) -> Result<(), StartError> {
    let site = load_site(&opts.config)?;
    // Before anything is created or opened: a refusal leaves nothing behind (issue 22 §2).
    check_simulated_devices(&site, opts.simulation)?;
    if opts.init {
        // `tobirad --init` is `init::init`, called by the binary; never run a site with it.
        return Err(StartError::DataDir {
            path: opts.data_dir.clone(),
            detail: "--init creates a site and exits: run tobirad again without it".into(),
        });
    }
    prepare_data_dir(&opts)?;
    systemd::status("opening the stores");
    // Stores first: a foreign or damaged file is named before anything else is said or created.
    let store = RegistryStore::open(&opts.registry_path(), false).await?;
    let audit_store =
        AuditStore::open_with(&opts.audit_path(), &opts.signing_key_path(), opts.checkpoint_every).await?;
    let template_key = crate::secrets::keyring::settle(&opts.template_key_path(), &store).await?;
    let audit = audit_store.writer();
    systemd::status("configuring the devices");
    let devices = build_devices(&site, &opts)?;
    let registry = store.load_registry(site.clone()).await?;
    let lockouts = store.lockouts().await?;

    systemd::status("loading the templates");
    let mut matching = Matching::default();
    for row in store.live_templates().await? {
        let sealed = crate::secrets::crypto::Sealed { wrapped_key: row.wrapped_key, ciphertext: row.ciphertext };
        let plain = crate::secrets::crypto::open_template(&template_key, row.person.as_str(), &row.id, &sealed)
            .map_err(|_| StartError::Template { id: row.id.clone(), person: row.person.to_string() })?;
        let t = crate::node::daemon::Decoded::decode(&row.modality, &plain)
            .map_err(|_| StartError::Template { id: row.id.clone(), person: row.person.to_string() })?;
        matching.insert_decoded(row.person, row.id, t);
    }

    // The simulated clock may start where a scenario left it (`--sim-clock`, simulation only).
    let clock = Clock::new();
    if let Some(t) = opts.sim_clock.filter(|_| opts.simulation) {
        clock.set(Some(t.with_timezone(&chrono::Utc)));
    }
    // Who is inside, from the record (issue 21 §3): a restart must not silence the escort rule (003 §13(4)).
    systemd::status("restoring occupancy from the audit record");
    let restored = crate::node::occupancy::at_start(&audit_store, &site, clock.now()).await;
    let occupancy = restored.as_ref().map(|r| r.occupancy.clone()).unwrap_or_default();

    let (decisions, _) = tokio::sync::broadcast::channel(256);
    let (alarm_tx, alarm_rx) = tokio::sync::mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        writer: audit.clone(),
        alarms: alarm_tx,
        metrics: Default::default(),
        decisions,
        doors: devices.doors.keys().cloned().collect(),
    });
    let live = Arc::new(Live::new(Shared {
        grants: tobira_core::model::GrantIndex::new(&registry),
        registry: Arc::new(registry),
        occupancy,
        escorts: EscortLog::default(),
        lockout: lockouts,
        // Restored: a restart does not reset a stranger's delay (issue 16 §2).
        reader_throttle: crate::flows::doors::throttle_file::load(&opts.data_dir),
    }));
    let daemon = Arc::new(Daemon {
        site: Arc::new(site.clone()),
        clock: Arc::new(clock),
        stores: Stores { registry: Arc::new(store), audit: audit_store, writer: audit },
        template_key: tokio::sync::RwLock::new(template_key),
        bootstrap_closed: std::sync::atomic::AtomicBool::new(false),
        central: CentralLink {
            shipping: Mutex::new(site.central.as_ref().map(|_| Default::default())),
            outbox_wake: tokio::sync::Notify::new(),
        },
        recorder,
        live,
        matcher: Arc::new(Matcher {
            matching: RwLock::new(matching),
            threshold: tobira_biometrics::Threshold::for_fmr(site.fmr.0),
            palm_threshold: tobira_biometrics::palm::PalmThreshold::for_fmr(site.fmr.0),
            fpir: site.fpir,
        }),
        devices: Arc::new(devices),
        heartbeats: Default::default(),
        opts: opts.clone(),
    });

    daemon.load_bootstrap_state().await?;
    crate::node::trust::at_start(&daemon).await;
    if site.central.is_some() {
        *daemon.live.contact.lock().unwrap_or_else(|p| p.into_inner()) = Some(daemon.now());
    }
    // A crash between "approved" and "applied" is finished now, before anyone is served.
    crate::admin::requests::resume(&daemon).await.map_err(|e| StartError::Resume(e.message))?;

    let socket_path = opts.socket_path();
    let listener = crate::sockets::control::bind(&socket_path)
        .map_err(|source| StartError::Socket { path: socket_path.clone(), source })?;
    let socket_gid = std::fs::metadata(&socket_path).map(|m| m.gid()).unwrap_or(0);
    let login_path = opts.login_socket_path();
    let login_listener = crate::sockets::login::bind(&login_path)
        .map_err(|source| StartError::Socket { path: login_path.clone(), source })?;
    let metrics_listener = match opts.metrics {
        Some(addr) => {
            Some(crate::sockets::metrics::bind(addr).await.map_err(|source| StartError::Metrics { addr, source })?)
        }
        None => None,
    };

    let _ = daemon
        .record(NewEvent::new(daemon.now(), "daemon.start", Outcome::Info, "STARTED").place(site.id.as_str()).details(
            serde_json::json!({
                "version": env!("CARGO_PKG_VERSION"), "simulation": opts.simulation,
                "templates": daemon.matcher.matching.read().map(|m| m.owners.len()).unwrap_or(0), "places": place_names(&site),
            }),
        ))
        .await;
    let occupancy_event = match &restored {
        Ok(r) => {
            tracing::info!(since = %r.since, entries = r.entries, exits = r.exits, people = r.occupancy.people(), "occupancy restored from the audit record");
            crate::node::occupancy::restored_event(r, &site, daemon.now())
        }
        Err(e) => {
            tracing::error!(error = %e, "occupancy could not be restored: nobody is recorded inside");
            crate::node::occupancy::not_restored_event(&site, daemon.now(), &e.to_string())
        }
    };
    let _ = daemon.record(occupancy_event).await;
    for c in site.controllers.iter().filter(|c| c.install_mode) {
        // Install mode accepts the well-known OSDP key: recorded as an alarm every start it is configured.
        let _ = daemon
            .record(
                NewEvent::new(daemon.now(), "device.osdp.install_mode", Outcome::Alarm, "INSTALL_MODE")
                    .place(c.id.as_str())
                    .article("003 §20")
                    .details(serde_json::json!({"controller": c.id.as_str(), "key_file": c.key_file})),
            )
            .await;
    }
    tracing::info!(site = %site.id, regulation = %site.regulation.preset, socket = %socket_path.display(), simulation = opts.simulation, "tobirad started");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for door in site.doors.iter() {
        if let Some(h) = crate::flows::doors::DoorHandles::of(&daemon, &door.id) {
            tasks.spawn(crate::flows::doors::door_task(h, stop_rx.clone()));
        }
    }
    tasks.spawn(crate::sockets::control::serve(daemon.clone(), listener, socket_gid, stop_rx.clone()));
    tasks.spawn(crate::admin::alarms::alarm_task(daemon.clone(), alarm_rx, stop_rx.clone()));
    if let Some(c) = site.central.clone() {
        // The same key signs checkpoints and the log's tree heads (the centre registers its public half).
        let signer = match tobira_audit::Signer::load(&opts.signing_key_path()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "no tree heads for the centre's witness: the signing key cannot be read");
                None
            }
        };
        tasks.spawn(crate::central::shipper::shipper_task(daemon.clone(), c.clone(), signer, stop_rx.clone()));
        tasks.spawn(crate::central::registry_sync::sync_task(daemon.clone(), c, stop_rx.clone()));
    }
    if let Some(w) = site.witness.clone() {
        match tobira_audit::Signer::load(&opts.signing_key_path()) {
            Ok(signer) => {
                tasks.spawn(peer_witness::witness_task(daemon.clone(), w, signer, stop_rx.clone()));
            }
            Err(e) => tracing::error!(error = %e, "no tree heads for the peer witness: the signing key cannot be read"),
        }
    }
    // The chain is verified once at every start, in the background (the doors already answer): a store
    // altered while the daemon was down raises an alarm for the security manager (003 §20) instead of going
    // unnoticed. systemd hears READY=1 only once it is done (issue 19).
    let verifier = daemon.clone();
    let (verified_tx, verified_rx) = tokio::sync::oneshot::channel::<String>();
    systemd::status("verifying the audit chain");
    tasks.spawn(async move {
        match crate::admin::alarms::catch_up(&verifier).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(alarms = n, "raised alarms recorded before a crash but never raised"),
            Err(e) => tracing::error!(error = %e.message, "could not scan the audit log for unraised alarms"),
        }
        let said = match crate::admin::audit::verify(&verifier).await {
            Ok(v) if v["ok"] == false => {
                tracing::error!(failure = %v["failure"], "audit verification at start failed");
                format!("audit verification FAILED at start (alarm raised): {}", v["failure"])
            }
            Ok(v) => format!("audit chain verified ({} events)", v["events"]),
            Err(e) => format!("audit verification could not run: {}", e.message),
        };
        let _ = verified_tx.send(said);
    });
    tasks.spawn(crate::sockets::login::serve(
        daemon.login_flow(),
        daemon.heartbeats.clone(),
        login_listener,
        stop_rx.clone(),
    ));
    let watchdog = systemd::watchdog();
    if let Some(w) = watchdog {
        tracing::info!(every_ms = w.every.as_millis() as u64, "systemd watchdog: pinging while doors and login answer");
        tasks.spawn(systemd::pinger(daemon.heartbeats.clone(), w, systemd::notify, stop_rx.clone()));
    }
    if let Some(l) = metrics_listener {
        // Stale as the watchdog would judge it; without one, as the unit's WatchdogSec=30s would.
        let stale_after =
            watchdog.unwrap_or(systemd::Watchdog::for_timeout(std::time::Duration::from_secs(30))).max_age;
        tracing::info!(addr = ?l.local_addr().ok(), "metrics endpoint serving /metrics");
        tasks.spawn(crate::sockets::metrics::serve(daemon.clone(), l, stale_after, stop_rx.clone()));
    }

    let mut shutdown = std::pin::pin!(shutdown);
    tokio::select! {
        _ = shutdown.as_mut() => {}
        said = verified_rx => {
            let said = said.unwrap_or_else(|_| "audit verification did not finish".into());
            systemd::ready(&format!(
                "serving {} doors and the login socket; {said}",
                site.doors.len()
            ));
            shutdown.await;
        }
    }
    tracing::info!("shutting down: finishing events in flight");
    systemd::stopping("stopping: finishing events in flight, writing the final checkpoint");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    let _ = std::fs::remove_file(&socket_path);
    let _ = std::fs::remove_file(&login_path);
    let _ = daemon
        .record(NewEvent::new(daemon.now(), "daemon.stop", Outcome::Info, "STOPPED").place(site.id.as_str()))
        .await;
    daemon.stores.writer.shutdown().await;
    daemon.stores.registry.close().await;
    tracing::info!("tobirad stopped");
    Ok(())
}
