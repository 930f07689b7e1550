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
        }
    }
}

enum Cmd {
    Send(OsdpCommand),
    Stop,
}

pub struct OsdpController {
    id: String,
    strike_output: u8,
    /// Whether the control panel has the device online (under Secure Channel unless in install mode).
    online: std::sync::Arc<std::sync::atomic::AtomicBool>,
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

/// The control panel thread's view of the device.
struct Link {
    shared_online: std::sync::Arc<std::sync::atomic::AtomicBool>,
    cfg: OsdpConfig,
    device: String,
    out: mpsc::UnboundedSender<Result<DoorInput, DeviceError>>,
    inputs: Vec<u8>,
    local: [u8; 2],
    online: bool,
    reported_offline: bool,
    reported_unsecured: bool,
}

impl Link {
    fn build(&self, events: std_mpsc::Sender<OsdpEvent>) -> Result<ControlPanel, String> {
        let channel = SerialChannel::open(&self.cfg.port, self.cfg.baud)
            .map_err(|e| format!("cannot open {}: {e}", self.cfg.port.display()))?;
        let mut pd = PdInfoBuilder::new()
            .name(&self.device)
            .map_err(|e| format!("{e:?}"))?
            .address(self.cfg.address)
            .map_err(|e| format!("{e:?}"))?
            .baud_rate(self.cfg.baud as i32)
            .map_err(|e| format!("{e:?}"))?;
        match (self.cfg.key, self.cfg.install_mode) {
            (Some(k), _) => pd = pd.secure_channel_key(k).flag(OsdpFlag::EnforceSecure),
            (None, true) => pd = pd.flag(OsdpFlag::InstallMode),
            (None, false) => return Err("no Secure Channel key and not in install mode: refusing".into()),
        }
        let mut cp = ControlPanelBuilder::new()
            .add_channel(Box::new(channel), vec![pd])
            .build()
            .map_err(|e| format!("libosdp: {e:?}"))?;
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

    fn on_event(&mut self, ev: OsdpEvent) {
        match ev {
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
            OsdpEvent::CardRead(c) => {
                self.emit(DoorInput::CardRead { bits: c.nr_bits.min(usize::from(u16::MAX)) as u16 })
            }
            OsdpEvent::KeyPress(_) => self.emit(DoorInput::KeyPress),
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
                    Ok(Cmd::Stop) | Err(std_mpsc::TryRecvError::Disconnected) => return,
                    Err(std_mpsc::TryRecvError::Empty) => break,
                }
            }
            if let Some(p) = cp.as_mut() {
                p.refresh();
                let online = p.is_online(0);
                let secure = p.is_sc_active(0);
                while let Ok(ev) = ev_rx.try_recv() {
                    self.on_event(ev);
                }
                self.shared_online.store(online, std::sync::atomic::Ordering::Release);
                if online && !self.online {
                    self.online = true;
                    self.reported_offline = false;
                    tracing::info!(device = %self.device, secure, "OSDP device online");
                    self.emit(DoorInput::Online);
                    if !secure && !self.reported_unsecured {
                        // Only possible in install mode: an unsecured session is an alarm in itself.
                        self.reported_unsecured = true;
                        self.emit(DoorInput::SecureChannelDown);
                    }
                }
                if !online && self.online {
                    self.online = false;
                    since = Instant::now();
                }
                if !online && since.elapsed() >= self.cfg.offline_after {
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
        let link = Link {
            shared_online: online.clone(),
            device: id.to_string(),
            cfg,
            out: in_tx,
            inputs: Vec::new(),
            local: [0, 0],
            online: false,
            reported_offline: false,
            reported_unsecured: false,
        };
        std::thread::Builder::new()
            .name(format!("osdp-{id}"))
            .spawn(move || link.run(cmd_rx))
            .map_err(|source| DeviceError::Io { device: id.to_string(), source })?;
        Ok(OsdpController {
            id: id.to_string(),
            strike_output,
            online,
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
        Box::pin(async move { self.send(c) })
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
