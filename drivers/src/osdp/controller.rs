//! A door controller on RS-485 through OSDP, with tobira as the control panel (CP) via `libosdp`.
//!
//! libosdp is not async and its callbacks run inside `refresh()`: one thread owns the control panel,
//! refreshes it every 20 ms, takes commands from the async side through a channel and forwards events the
//! other way; nothing ever calls back into libosdp from a callback (../shared/protocols/OSDP.md).
//!
//! Secure Channel is enforced (`EnforceSecure`) with the device's own key; without a key only an explicit
//! install mode is accepted, which the daemon audits. A device that goes offline — unplugged, powered off,
//! or failing the Secure Channel handshake — is reported once as `Offline` (its door counts as locked) and
//! the port is reopened every few seconds until it returns.

use super::channel::SerialChannel;
use crate::{BoxFuture, DeviceError, DoorController, DoorInput, Feedback};
use libosdp::{
    ControlPanel, ControlPanelBuilder, OsdpCommand, OsdpCommandBuzzer, OsdpCommandLed, OsdpCommandOutput, OsdpEvent,
    OsdpFlag, OsdpLedColor, OsdpLedParams, OsdpStatusReportType, PdInfoBuilder,
};
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Clone)]
pub struct OsdpConfig {
    pub port: PathBuf,
    pub baud: u32,
    /// The PD's address on the bus (0..=126).
    pub address: i32,
    /// Secure Channel base key (SCBK) of this device, from its 0600 key file.
    pub key: Option<[u8; 16]>,
    /// Accept the well-known install-mode key for one session to provision the device. Never on by default.
    pub install_mode: bool,
    /// The output wired to the strike relay, and the inputs wired to the door contact and the exit button.
    pub strike_output: u8,
    pub contact_input: usize,
    pub rex_input: usize,
    /// How often the control panel is refreshed (libosdp needs ≤ 50 ms).
    pub refresh: Duration,
    /// Offline this long (or never online) → reported offline and the port reopened.
    pub offline_after: Duration,
    /// Online (under Secure Channel) without a break this long before the device is called online, takes
    /// commands and ends an outage. A man in the middle who rewrites replies lets each new session's handshake
    /// through and breaks it at the first reply that carries a MAC: without this, every such session would be
    /// an outage of its own (a storm on record, and commands sent into a session about to fail).
    pub online_settle: Duration,
    /// How long a strike command may take to be acknowledged: osdp_OUT answered, then osdp_OSTAT answered
    /// with the strike output on. Beyond it the pulse has failed.
    pub ack_timeout: Duration,
    /// What counts as the device's acknowledgement of a strike command.
    pub strike_ack: StrikeAck,
}

/// How the control panel learns that a strike command was carried out. libosdp 3.2 does not hand the
/// application the PD's osdp_ACK itself, so the acknowledgement is read back or inferred from libosdp's
/// rule that a command answered with osdp_NAK or not at all takes the PD offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrikeAck {
    /// osdp_OUT, then osdp_OSTAT: the device must report the strike output on (read back; the default).
    OutputStatus,
    /// osdp_OUT, then the device must stay online through the command's reply window (for devices that
    /// cannot answer osdp_OSTAT, such as PDs built on the PyPI libosdp bindings). Weaker: it proves the
    /// command was answered with osdp_ACK, not that the relay pulled in.
    Reply,
}

/// Never prints the key.
impl std::fmt::Debug for OsdpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OsdpConfig")
            .field("port", &self.port)
            .field("address", &self.address)
            .field("key", &self.key.map(|_| "<16 bytes>"))
            .field("install_mode", &self.install_mode)
            .finish()
    }
}

impl OsdpConfig {
    pub fn new(port: impl Into<PathBuf>, address: i32, key: Option<[u8; 16]>) -> Self {
        Self {
            port: port.into(),
            baud: 115_200,
            address,
            key,
            install_mode: false,
            strike_output: 0,
            contact_input: 0,
            rex_input: 1,
            refresh: Duration::from_millis(20),
            offline_after: Duration::from_secs(3),
            online_settle: Duration::from_secs(1),
            ack_timeout: Duration::from_millis(1500),
            strike_ack: StrikeAck::OutputStatus,
        }
    }
}

enum Cmd {
    Send(OsdpCommand),
    /// A strike pulse whose acknowledgement the caller waits for.
    Pulse(OsdpCommand, tokio::sync::oneshot::Sender<Result<(), DeviceError>>),
    Stop,
}

/// A strike command (or a probe) sent and not yet answered. In [`StrikeAck::OutputStatus`] mode each is
/// followed on the wire by an osdp_OSTAT query, and libosdp sends commands in order, so the n-th output status
/// report answers the n-th entry — also one answered after its deadline, which then answers nobody: such an
/// entry stays in place (its `ack` taken) until its report comes, so a late report is never taken for the
/// answer to a later command.
struct PendingPulse {
    /// The caller waiting for the acknowledgement; `None` once given up, and for a probe.
    ack: Option<tokio::sync::oneshot::Sender<Result<(), DeviceError>>>,
    deadline: Instant,
    /// A relock sent to learn whether a device that left a strike unanswered answers on time again.
    probe: bool,
}

/// libosdp answers a command within its reply timeout (200 ms) after the exchange in flight (another
/// 200 ms at most): a device still online this long after the command was queued has answered it.
const REPLY_WINDOW: Duration = Duration::from_millis(450);

/// While a device has left a strike unanswered, how often it is probed (a relock and the output's status:
/// the fail-secure state, harmless whatever the door is doing).
const PROBE_EVERY: Duration = Duration::from_secs(1);

pub struct OsdpController {
    id: String,
    strike_output: u8,
    /// Whether the control panel has the device online (under Secure Channel unless in install mode).
    online: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// A strike went unanswered and no probe has been answered on time since ([`Link::overdue`]).
    overdue: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cmds: std::sync::Mutex<std_mpsc::Sender<Cmd>>,
    inputs: tokio::sync::Mutex<mpsc::UnboundedReceiver<Result<DoorInput, DeviceError>>>,
}

impl Drop for OsdpController {
    fn drop(&mut self) {
        if let Ok(tx) = self.cmds.lock() {
            let _ = tx.send(Cmd::Stop);
        }
    }
}

/// Why the control panel could not be built on the line (logged; the link tries again later).
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("cannot open {}: {source}", .port.display())]
    Open { port: std::path::PathBuf, source: std::io::Error },
    /// libosdp refused the device's name, address or rate (its error, as libosdp prints it).
    #[error("{0}")]
    Settings(String),
    /// Never the well-known install key by accident (OSDP.md).
    #[error("no Secure Channel key and not in install mode: refusing")]
    NoKey,
    #[error("libosdp: {0}")]
    Libosdp(String),
}

/// The control panel thread's view of the device.
struct Link {
    shared_online: std::sync::Arc<std::sync::atomic::AtomicBool>,
    shared_overdue: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cfg: OsdpConfig,
    device: String,
    out: mpsc::UnboundedSender<Result<DoorInput, DeviceError>>,
    inputs: Vec<u8>,
    local: [u8; 2],
    online: bool,
    /// Since when libosdp has had the device online without a break, while it is not yet called online.
    settling_since: Option<Instant>,
    reported_offline: bool,
    reported_unsecured: bool,
    /// Pulses sent, oldest first, each followed on the wire by an output status query (osdp_OSTAT).
    pending: std::collections::VecDeque<PendingPulse>,
    /// A strike went unanswered past its budget (the device answers late, or not that command): it is not
    /// healthy, and not called `Online` again — not even after libosdp took it offline and back — until a
    /// probe (a relock, then the output's status) is answered within the budget. The probe is also the relock
    /// that must follow a strike the device may have carried out after all (issue 15: an OSDP controller that
    /// answers late; a relock queued in libosdp is lost when it takes the device offline).
    overdue: bool,
    next_probe: Instant,
}

impl Link {
    fn build(&self, events: std_mpsc::Sender<OsdpEvent>) -> Result<ControlPanel, LinkError> {
        let channel = SerialChannel::open(&self.cfg.port, self.cfg.baud)
            .map_err(|source| LinkError::Open { port: self.cfg.port.clone(), source })?;
        let mut pd = PdInfoBuilder::new()
            .name(&self.device)
            .map_err(|e| LinkError::Settings(format!("{e:?}")))?
            .address(self.cfg.address)
            .map_err(|e| LinkError::Settings(format!("{e:?}")))?
            .baud_rate(self.cfg.baud as i32)
            .map_err(|e| LinkError::Settings(format!("{e:?}")))?;
        match (self.cfg.key, self.cfg.install_mode) {
            (Some(k), _) => pd = pd.secure_channel_key(k).flag(OsdpFlag::EnforceSecure),
            (None, true) => pd = pd.flag(OsdpFlag::InstallMode),
            (None, false) => return Err(LinkError::NoKey),
        }
        let mut cp = ControlPanelBuilder::new()
            .add_channel(Box::new(channel), vec![pd])
            .build()
            .map_err(|e| LinkError::Libosdp(format!("{e:?}")))?;
        cp.set_event_callback(move |_pd, ev| {
            // Only forwarded: calling back into libosdp from here would deadlock (OSDP.md).
            let _ = events.send(ev);
            0
        });
        Ok(cp)
    }

    fn emit(&self, i: DoorInput) {
        let _ = self.out.send(Ok(i));
    }

    /// Ends every pulse still waiting with `e` (the device went away: none of them was acknowledged).
    fn fail_pending(&mut self, e: impl Fn() -> DeviceError) {
        for p in self.pending.drain(..) {
            if let Some(ack) = p.ack {
                let _ = ack.send(Err(e()));
            }
        }
    }

    fn on_event(&mut self, ev: OsdpEvent) {
        match ev {
            // osdp_OSTATR: libosdp sends commands in order and each only after the previous one was
            // answered, so the reply to the query behind a pulse means the PD took osdp_OUT — and says
            // whether the strike output is really on.
            OsdpEvent::Status(s) if s.type_ == OsdpStatusReportType::Output => {
                if self.cfg.strike_ack == StrikeAck::OutputStatus
                    && let Some(p) = self.pending.pop_front()
                {
                    if p.probe {
                        if self.overdue && Instant::now() <= p.deadline {
                            // Answered within the budget again: the door may try strikes again.
                            self.overdue = false;
                            self.shared_overdue.store(false, std::sync::atomic::Ordering::Release);
                            tracing::info!(device = %self.device, "OSDP device answers on time again");
                            self.emit(DoorInput::Online);
                        }
                        return;
                    }
                    // A strike already given up: its late report answers nobody.
                    let Some(ack) = p.ack else { return };
                    let on = s.report.get(usize::from(self.cfg.strike_output)).is_some_and(|b| *b != 0);
                    let r = if on {
                        Ok(())
                    } else {
                        tracing::warn!(device = %self.device, "OSDP device reports its strike output off after a pulse");
                        Err(DeviceError::DeviceMisbehaved {
                            device: self.device.clone(),
                            fault: crate::Misbehaviour::UnexpectedFrame,
                        })
                    };
                    let _ = ack.send(r);
                }
            }
            OsdpEvent::Status(s) if s.type_ == OsdpStatusReportType::Input => {
                let now: Vec<u8> = s.report[..s.nr_entries.min(64)].to_vec();
                let was = |i: usize| self.inputs.get(i).copied().unwrap_or(0);
                let is = |i: usize| now.get(i).copied().unwrap_or(0);
                let c = self.cfg.contact_input;
                if is(c) != was(c) {
                    self.emit(if is(c) != 0 { DoorInput::ContactOpened } else { DoorInput::ContactClosed });
                }
                let r = self.cfg.rex_input;
                if is(r) != 0 && was(r) == 0 {
                    self.emit(DoorInput::Rex);
                }
                self.inputs = now;
            }
            // osdp_LSTATR: byte 0 tamper, byte 1 power (0 normal, 1 fault).
            OsdpEvent::Status(s) if s.type_ == OsdpStatusReportType::Local => {
                let (tamper, power) = (s.report[0], s.report[1]);
                if tamper != 0 && self.local[0] == 0 {
                    self.emit(DoorInput::Tamper);
                }
                if power != 0 && self.local[1] == 0 {
                    self.emit(DoorInput::PowerLost);
                }
                self.local = [tamper, power];
            }
            OsdpEvent::Status(_) => {}
            OsdpEvent::CardRead(c) => self.emit(DoorInput::CardRead {
                bits: c.nr_bits.min(usize::from(u16::MAX)) as u16,
                data: crate::CardData(c.data),
            }),
            OsdpEvent::KeyPress(k) => self.emit(DoorInput::KeyPress { keys: crate::CardData(k.data) }),
            OsdpEvent::MfgReply(_) => {}
        }
    }

    fn run(mut self, cmds: std_mpsc::Receiver<Cmd>) {
        let (ev_tx, ev_rx) = std_mpsc::channel();
        let mut cp: Option<ControlPanel> = None;
        let mut since = Instant::now();
        let mut next_open = Instant::now();
        loop {
            if cp.is_none() && Instant::now() >= next_open {
                match self.build(ev_tx.clone()) {
                    Ok(c) => {
                        cp = Some(c);
                        since = Instant::now();
                    }
                    Err(e) => {
                        if !self.reported_offline {
                            tracing::warn!(device = %self.device, error = %e, "OSDP controller unavailable");
                        }
                        next_open = Instant::now() + self.cfg.offline_after;
                    }
                }
            }
            loop {
                match cmds.try_recv() {
                    Ok(Cmd::Send(c)) => {
                        if let Some(p) = cp.as_mut()
                            && self.online
                        {
                            if p.send_command(0, c).is_err() {
                                tracing::warn!(device = %self.device, "OSDP command queue refused a command");
                            }
                        } else {
                            tracing::warn!(device = %self.device, "OSDP device offline: command not sent");
                        }
                    }
                    Ok(Cmd::Pulse(c, ack)) => match cp.as_mut() {
                        Some(p) if self.online => {
                            let query = OsdpCommand::Status(libosdp::OsdpStatusReport {
                                type_: OsdpStatusReportType::Output,
                                nr_entries: 0,
                                report: [0; 64],
                            });
                            let readback = self.cfg.strike_ack == StrikeAck::OutputStatus;
                            if p.send_command(0, c).is_err() || (readback && p.send_command(0, query).is_err()) {
                                tracing::warn!(device = %self.device, "OSDP command queue refused a strike command");
                                let _ = ack.send(Err(DeviceError::Busy { device: self.device.clone() }));
                            } else {
                                let wait = if readback { self.cfg.ack_timeout } else { REPLY_WINDOW };
                                let deadline = Instant::now() + wait;
                                self.pending.push_back(PendingPulse { ack: Some(ack), deadline, probe: false });
                            }
                        }
                        _ => {
                            let _ = ack.send(Err(DeviceError::Offline { device: self.device.clone() }));
                        }
                    },
                    Ok(Cmd::Stop) | Err(std_mpsc::TryRecvError::Disconnected) => {
                        self.fail_pending(|| DeviceError::Closed);
                        return;
                    }
                    Err(std_mpsc::TryRecvError::Empty) => break,
                }
            }
            if let Some(p) = cp.as_mut() {
                p.refresh();
                let up = p.is_online(0);
                let secure = p.is_sc_active(0);
                while let Ok(ev) = ev_rx.try_recv() {
                    self.on_event(ev);
                }
                // Up is online once it has held for `online_settle`; down is offline at once.
                let online = if !up {
                    self.settling_since = None;
                    false
                } else if self.online {
                    true
                } else {
                    let since_up = *self.settling_since.get_or_insert_with(Instant::now);
                    since_up.elapsed() >= self.cfg.online_settle
                };
                self.shared_online.store(online, std::sync::atomic::Ordering::Release);
                if online && !self.online {
                    self.settling_since = None;
                    self.online = true;
                    self.reported_offline = false;
                    tracing::info!(device = %self.device, secure, overdue = self.overdue, "OSDP device online");
                    // Still overdue: `Online` waits for a probe answered on time.
                    if !self.overdue {
                        self.emit(DoorInput::Online);
                    }
                    if !secure && !self.reported_unsecured {
                        // Only possible in install mode: an unsecured session is an alarm in itself.
                        self.reported_unsecured = true;
                        self.emit(DoorInput::SecureChannelDown);
                    }
                }
                if !online && self.online {
                    // Not heard from within libosdp's reply budget: offline now, before the next decision,
                    // and the outage is reported at once (the port is reopened after `offline_after`).
                    self.online = false;
                    since = Instant::now();
                    let device = self.device.clone();
                    self.fail_pending(|| DeviceError::Offline { device: device.clone() });
                    if !self.reported_offline {
                        self.reported_offline = true;
                        tracing::warn!(device = %self.device, "OSDP device stopped answering; its door stays locked");
                        self.emit(DoorInput::Offline);
                    }
                }
                let now = Instant::now();
                if self.cfg.strike_ack == StrikeAck::OutputStatus {
                    // Past its budget: the caller is told, the entry waits for its report (see `PendingPulse`).
                    for p in self.pending.iter_mut().filter(|p| p.deadline <= now) {
                        if let Some(ack) = p.ack.take() {
                            if self.online {
                                self.overdue = true;
                                self.shared_overdue.store(true, std::sync::atomic::Ordering::Release);
                                self.next_probe = now + PROBE_EVERY;
                            }
                            let _ = ack.send(Err(DeviceError::NoAnswer { device: self.device.clone() }));
                        }
                    }
                    let probing = self.pending.iter().any(|p| p.probe && p.deadline > now);
                    if self.overdue && self.online && !probing && now >= self.next_probe {
                        self.next_probe = now + PROBE_EVERY;
                        let relock = OsdpCommand::Output(OsdpCommandOutput {
                            output_no: self.cfg.strike_output,
                            control_code: 1,
                            timer_count: 0,
                        });
                        let query = OsdpCommand::Status(libosdp::OsdpStatusReport {
                            type_: OsdpStatusReportType::Output,
                            nr_entries: 0,
                            report: [0; 64],
                        });
                        if p.send_command(0, relock).is_ok() && p.send_command(0, query).is_ok() {
                            let deadline = now + self.cfg.ack_timeout;
                            self.pending.push_back(PendingPulse { ack: None, deadline, probe: true });
                        }
                    }
                } else {
                    while self.pending.front().is_some_and(|p| p.deadline <= now) {
                        if let Some(p) = self.pending.pop_front() {
                            let r = match self.cfg.strike_ack {
                                // Still online through the reply window: osdp_OUT was answered with osdp_ACK.
                                StrikeAck::Reply if self.online => Ok(()),
                                _ => Err(DeviceError::NoAnswer { device: self.device.clone() }),
                            };
                            if let Some(ack) = p.ack {
                                let _ = ack.send(r);
                            }
                        }
                    }
                }
                // A session still settling is given its time before the port is reopened under it.
                if !online && self.settling_since.is_none() && since.elapsed() >= self.cfg.offline_after {
                    if !self.reported_offline {
                        self.reported_offline = true;
                        tracing::warn!(device = %self.device, "OSDP device offline (no answer or Secure Channel refused); its door stays locked");
                        self.emit(DoorInput::Offline);
                    }
                    // Reopen the port: the adapter may have been unplugged and come back as a new node.
                    cp = None;
                    self.shared_online.store(false, std::sync::atomic::Ordering::Release);
                    next_open = Instant::now();
                }
            } else if !self.reported_offline && since.elapsed() >= self.cfg.offline_after {
                let device = self.device.clone();
                self.fail_pending(|| DeviceError::Offline { device: device.clone() });
                self.reported_offline = true;
                self.emit(DoorInput::Offline);
            }
            std::thread::sleep(self.cfg.refresh);
        }
    }
}

fn led(color: OsdpLedColor, tenths: u16, flash: bool) -> OsdpCommand {
    let temporary = OsdpLedParams {
        control_code: 2,
        on_count: if flash { 2 } else { 10 },
        off_count: if flash { 2 } else { 0 },
        on_color: color,
        off_color: OsdpLedColor::None,
        timer_count: tenths,
    };
    OsdpCommand::Led(OsdpCommandLed { reader: 0, led_number: 0, temporary, permanent: OsdpLedParams::default() })
}

fn buzz(times: u8) -> OsdpCommand {
    OsdpCommand::Buzzer(OsdpCommandBuzzer { reader: 0, control_code: 2, on_count: 2, off_count: 2, rep_count: times })
}

impl OsdpController {
    pub fn spawn(id: &str, cfg: OsdpConfig) -> Result<OsdpController, DeviceError> {
        let (cmd_tx, cmd_rx) = std_mpsc::channel();
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let strike_output = cfg.strike_output;
        let online = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let overdue = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let link = Link {
            shared_online: online.clone(),
            shared_overdue: overdue.clone(),
            device: id.to_string(),
            cfg,
            out: in_tx,
            inputs: Vec::new(),
            local: [0, 0],
            online: false,
            settling_since: None,
            reported_offline: false,
            reported_unsecured: false,
            pending: Default::default(),
            overdue: false,
            next_probe: Instant::now(),
        };
        std::thread::Builder::new()
            .name(format!("osdp-{id}"))
            .spawn(move || link.run(cmd_rx))
            .map_err(|source| DeviceError::Io { device: id.to_string(), source })?;
        Ok(OsdpController {
            id: id.to_string(),
            strike_output,
            online,
            overdue,
            cmds: std::sync::Mutex::new(cmd_tx),
            inputs: tokio::sync::Mutex::new(in_rx),
        })
    }

    /// Whether the device is online now; a command for an offline device is refused, not queued, so the
    /// caller knows the strike was not energised.
    pub fn is_online(&self) -> bool {
        self.online.load(std::sync::atomic::Ordering::Acquire)
    }

    fn send(&self, c: OsdpCommand) -> Result<(), DeviceError> {
        if !self.is_online() {
            return Err(DeviceError::Offline { device: self.id.clone() });
        }
        self.cmds.lock().map_err(|_| DeviceError::Closed)?.send(Cmd::Send(c)).map_err(|_| DeviceError::Closed)
    }
}

impl DoorController for OsdpController {
    fn id(&self) -> &str {
        &self.id
    }

    fn pulse(&self, pulse: Duration) -> BoxFuture<'_, Result<(), DeviceError>> {
        // Control code 5: temporary ON for timer_count × 100 ms, then back to the permanent state (off). The
        // device times the pulse, so a crashed daemon never leaves the strike energised.
        let tenths = pulse.as_millis().div_ceil(100).clamp(1, u128::from(u16::MAX)) as u16;
        let c = OsdpCommand::Output(OsdpCommandOutput {
            output_no: self.strike_output,
            control_code: 5,
            timer_count: tenths,
        });
        Box::pin(async move {
            if !self.is_online() {
                return Err(DeviceError::Offline { device: self.id.clone() });
            }
            let (tx, rx) = tokio::sync::oneshot::channel();
            self.cmds
                .lock()
                .map_err(|_| DeviceError::Closed)?
                .send(Cmd::Pulse(c, tx))
                .map_err(|_| DeviceError::Closed)?;
            rx.await.unwrap_or(Err(DeviceError::Closed))
        })
    }

    /// Online, and not overdue: a device that left a strike unanswered is not trusted with the next one.
    fn healthy(&self) -> Option<bool> {
        Some(self.is_online() && !self.overdue.load(std::sync::atomic::Ordering::Acquire))
    }

    fn relock(&self) -> BoxFuture<'_, Result<(), DeviceError>> {
        let c =
            OsdpCommand::Output(OsdpCommandOutput { output_no: self.strike_output, control_code: 1, timer_count: 0 });
        Box::pin(async move { self.send(c) })
    }

    fn feedback(&self, fb: Feedback) -> BoxFuture<'_, Result<(), DeviceError>> {
        Box::pin(async move {
            match fb {
                Feedback::Granted => self.send(led(OsdpLedColor::Green, 30, false)),
                Feedback::Denied | Feedback::LockedOut => {
                    self.send(led(OsdpLedColor::Red, 20, false))?;
                    self.send(buzz(1))
                }
                Feedback::Alarm => {
                    self.send(led(OsdpLedColor::Red, 100, true))?;
                    self.send(buzz(5))
                }
                Feedback::Prompt(_) => self.send(led(OsdpLedColor::Amber, 50, true)),
                Feedback::Idle => Ok(()),
            }
        })
    }

    fn next_input(&self) -> BoxFuture<'_, Result<DoorInput, DeviceError>> {
        Box::pin(async move { self.inputs.lock().await.recv().await.unwrap_or(Err(DeviceError::Closed)) })
    }
}
