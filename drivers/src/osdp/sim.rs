//! A simulated OSDP door controller: libosdp's peripheral-device (PD) mode on the master side of a
//! pseudo-terminal, so the daemon's real control panel drives it exactly as it would an RS-485 adapter.
//! It has a strike relay (output 0, timed by the device), a door contact (input 0) and an exit button
//! (input 1), tamper and power status, a card reader, LEDs and a buzzer. Scenario commands come through
//! [`SimOsdpHandle`].

use super::channel::SerialChannel;
use libosdp::{
    OsdpCommand, OsdpEvent, OsdpEventCardRead, OsdpStatusReport, OsdpStatusReportType, PdCapEntity, PdCapability,
    PdInfoBuilder, PeripheralDevice,
};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Default, Clone)]
pub struct PdState {
    /// The strike is energised until this instant (control code 5), or permanently.
    pub relay_until: Option<Instant>,
    pub relay_on: bool,
    pub contact_open: bool,
    pub tamper: bool,
    /// Commands received, newest last: `output`, `led`, `buzzer`, …
    pub seen: Vec<String>,
    /// When the latest strike pulse arrived.
    pub last_pulse: Option<Instant>,
    pub online: bool,
    pub secure: bool,
    /// The device dies on the next strike command, before answering it (power cut mid-pulse).
    pub die_on_pulse: bool,
    /// The device answers osdp_OSTAT with its strike output off even after a pulse (a stuck relay driver).
    pub report_output_off: bool,
    /// The device refuses osdp_OSTAT (osdp_NAK) while it answers every poll: a firmware without output
    /// status reporting.
    pub refuse_output_status: bool,
}

impl PdState {
    pub fn relay_energised(&self, now: Instant) -> bool {
        self.relay_on || self.relay_until.is_some_and(|u| now < u)
    }
}

enum Act {
    Event(OsdpEvent),
    Stop,
}

#[derive(Clone)]
pub struct SimOsdpHandle {
    state: Arc<Mutex<PdState>>,
    acts: std_mpsc::Sender<Act>,
}

fn inputs(contact_open: bool, rex: bool) -> OsdpEvent {
    let mut report = [0u8; 64];
    report[0] = u8::from(contact_open);
    report[1] = u8::from(rex);
    OsdpEvent::Status(OsdpStatusReport { type_: OsdpStatusReportType::Input, nr_entries: 2, report })
}

impl SimOsdpHandle {
    pub fn state(&self) -> PdState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn set_contact(&self, open: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.contact_open = open;
        }
        let _ = self.acts.send(Act::Event(inputs(open, false)));
    }

    pub fn open_door(&self) {
        self.set_contact(true);
    }

    pub fn close_door(&self) {
        self.set_contact(false);
    }

    /// The exit button: pressed and released.
    pub fn rex(&self) {
        let open = self.state().contact_open;
        let _ = self.acts.send(Act::Event(inputs(open, true)));
        let _ = self.acts.send(Act::Event(inputs(open, false)));
    }

    pub fn tamper(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.tamper = true;
        }
        let mut report = [0u8; 64];
        report[0] = 1;
        let ev = OsdpStatusReport { type_: OsdpStatusReportType::Local, nr_entries: 2, report };
        let _ = self.acts.send(Act::Event(OsdpEvent::Status(ev)));
    }

    pub fn card(&self, data: Vec<u8>) {
        let _ = self.acts.send(Act::Event(OsdpEvent::CardRead(OsdpEventCardRead::new_raw(data))));
    }

    /// Keys typed on the reader's keypad, as osdp_KEYPAD carries them (ASCII digits, `#` as 0x0D).
    pub fn keypad(&self, keys: &str) {
        let data = keys
            .bytes()
            .map(|b| {
                if b == b'#' {
                    0x0D
                } else if b == b'*' {
                    0x7F
                } else {
                    b
                }
            })
            .collect();
        let _ = self.acts.send(Act::Event(OsdpEvent::KeyPress(libosdp::OsdpEventKeyPress::new(data))));
    }

    /// The device dies on the next strike command before it can answer it: the control panel hears
    /// nothing more from it (the relay is not energised).
    pub fn die_on_next_pulse(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.die_on_pulse = true;
        }
    }

    /// The device reports its strike output off when asked after a pulse (the relay did not pull in).
    pub fn report_output_off(&self, on: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.report_output_off = on;
        }
    }

    /// The device answers osdp_OSTAT with osdp_NAK (`on`), or with its outputs again (`!on`).
    pub fn refuse_output_status(&self, on: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.refuse_output_status = on;
        }
    }

    /// The device dies (power cut, cable pulled).
    pub fn stop(&self) {
        let _ = self.acts.send(Act::Stop);
    }
}

/// Why the simulated PD did not start.
#[derive(Debug, thiserror::Error)]
pub enum SimStartError {
    /// The pseudo-terminal could not be made non-blocking.
    #[error("{0}")]
    Line(std::io::Error),
    /// libosdp refused the device's settings (its error, as libosdp prints it).
    #[error("simulated OSDP PD could not start: {0}")]
    Pd(String),
    #[error("{0}")]
    Thread(std::io::Error),
    #[error("simulated OSDP PD thread died")]
    Died,
}

/// Starts the PD on `master` (a PTY master) at `address` with Secure Channel key `key`. Runs until
/// [`SimOsdpHandle::stop`].
pub fn spawn(master: std::fs::File, address: i32, key: [u8; 16]) -> Result<SimOsdpHandle, SimStartError> {
    spawn_with(master, address, Some(key))
}

/// As [`spawn`]; `key: None` plays an old device without Secure Channel (an unsecured session).
pub fn spawn_with(master: std::fs::File, address: i32, key: Option<[u8; 16]>) -> Result<SimOsdpHandle, SimStartError> {
    spawn_at(master, address, key, None)
}

/// The PD's side of an RS-485 line that keeps its rate: what the PD sends takes its line time (8N1) before
/// the PD goes on, and what it receives takes the command's line time to arrive, so a poll, an osdp_OUT
/// and their replies cost what they cost on a real bus (issue 15). libosdp's own poll and refresh timing
/// are untouched.
struct PacedChannel {
    inner: SerialChannel,
    baud: Option<u32>,
}

impl libosdp::Channel for PacedChannel {
    fn get_id(&self) -> i32 {
        self.inner.get_id()
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, libosdp::ChannelError> {
        let n = self.inner.read(buf)?;
        if let Some(b) = self.baud {
            std::thread::sleep(crate::line::line_time(n, b));
        }
        Ok(n)
    }

    fn write(&mut self, buf: &[u8]) -> Result<usize, libosdp::ChannelError> {
        let n = self.inner.write(buf)?;
        if let Some(b) = self.baud {
            std::thread::sleep(crate::line::line_time(n, b));
        }
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), libosdp::ChannelError> {
        self.inner.flush()
    }

    fn close(&mut self) -> Result<(), libosdp::ChannelError> {
        self.inner.close()
    }
}

/// As [`spawn_with`], the line keeping `line_rate` in real time when given (the controller's `baud`;
/// `None`: as fast as the PTY takes the bytes).
pub fn spawn_at(
    master: std::fs::File,
    address: i32,
    key: Option<[u8; 16]>,
    line_rate: Option<u32>,
) -> Result<SimOsdpHandle, SimStartError> {
    let channel =
        PacedChannel { inner: SerialChannel::from_file(master).map_err(SimStartError::Line)?, baud: line_rate };
    let state = Arc::new(Mutex::new(PdState::default()));
    let (acts_tx, acts_rx) = std_mpsc::channel();
    let (ready_tx, ready_rx) = std_mpsc::channel::<Result<(), SimStartError>>();
    let st = state.clone();
    std::thread::Builder::new()
        .name("osdp-sim-pd".into())
        .spawn(move || {
            // libosdp's builder holds raw pointers: it is made on the thread that owns the device.
            let built = PdInfoBuilder::new()
                .name("tobira-sim door")
                .and_then(|b| b.address(address))
                .and_then(|b| b.baud_rate(line_rate.and_then(|r| i32::try_from(r).ok()).unwrap_or(115_200)))
                .map(|b| {
                    let b = b
                        .capability(PdCapability::OutputControl(PdCapEntity::new(1, 1)))
                        .capability(PdCapability::ContactStatusMonitoring(PdCapEntity::new(1, 2)))
                        .capability(PdCapability::LedControl(PdCapEntity::new(1, 1)))
                        .capability(PdCapability::AudibleOutput(PdCapEntity::new(1, 1)))
                        .capability(PdCapability::CardDataFormat(PdCapEntity::new(1, 1)));
                    match key {
                        Some(k) => b
                            .capability(PdCapability::CommunicationSecurity(PdCapEntity::new(1, 1)))
                            .secure_channel_key(k),
                        None => b,
                    }
                })
                .and_then(|info| PeripheralDevice::new(info, Box::new(channel)));
            let mut pd = match built {
                Ok(pd) => {
                    let _ = ready_tx.send(Ok(()));
                    pd
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(SimStartError::Pd(format!("{e:?}"))));
                    return;
                }
            };
            let cb_state = st.clone();
            pd.set_command_callback(move |c| {
                // Runs inside refresh(): only our own state is touched, never libosdp.
                let Ok(mut s) = cb_state.lock() else { return -1 };
                if s.die_on_pulse && matches!(c, OsdpCommand::Output(o) if o.control_code == 5) {
                    drop(s);
                    // Dead before the reply leaves: this thread never refreshes the device again.
                    loop {
                        std::thread::park();
                    }
                }
                if s.refuse_output_status
                    && matches!(c, OsdpCommand::Status(r) if r.type_ == OsdpStatusReportType::Output)
                {
                    return -1; // libosdp answers osdp_NAK
                }
                apply(&mut s, c);
                0
            });
            loop {
                pd.refresh();
                loop {
                    match acts_rx.try_recv() {
                        Ok(Act::Event(ev)) => {
                            let _ = pd.notify_event(ev);
                        }
                        Ok(Act::Stop) | Err(std_mpsc::TryRecvError::Disconnected) => return,
                        Err(std_mpsc::TryRecvError::Empty) => break,
                    }
                }
                if let Ok(mut s) = st.lock() {
                    s.online = pd.is_online();
                    s.secure = pd.is_sc_active();
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
        .map_err(SimStartError::Thread)?;
    ready_rx.recv().map_err(|_| SimStartError::Died)??;
    Ok(SimOsdpHandle { state, acts: acts_tx })
}

fn apply(s: &mut PdState, c: &mut OsdpCommand) {
    match c {
        // osdp_OSTAT / osdp_ISTAT / osdp_LSTAT: the device fills in what it has now.
        OsdpCommand::Status(r) => {
            let now = Instant::now();
            match r.type_ {
                OsdpStatusReportType::Output => {
                    r.nr_entries = 1;
                    r.report[0] = u8::from(s.relay_energised(now) && !s.report_output_off);
                }
                OsdpStatusReportType::Input => {
                    r.nr_entries = 2;
                    r.report[0] = u8::from(s.contact_open);
                    r.report[1] = 0;
                }
                OsdpStatusReportType::Local => {
                    r.nr_entries = 2;
                    r.report[0] = u8::from(s.tamper);
                    r.report[1] = 0;
                }
                _ => {}
            }
            s.seen.push(format!("status {:?}", r.type_));
        }
        OsdpCommand::Output(o) => {
            let now = Instant::now();
            match o.control_code {
                5 => {
                    s.relay_until = Some(now + Duration::from_millis(u64::from(o.timer_count) * 100));
                    s.last_pulse = Some(now);
                }
                1 | 3 => {
                    s.relay_on = false;
                    s.relay_until = None;
                }
                2 | 4 => s.relay_on = true,
                _ => {}
            }
            s.seen.push(format!("output {} code {} timer {}", o.output_no, o.control_code, o.timer_count));
        }
        OsdpCommand::Led(l) => s.seen.push(format!("led {:?}", l.temporary.on_color)),
        OsdpCommand::Buzzer(b) => s.seen.push(format!("buzzer {}", b.rep_count)),
        other => s.seen.push(format!("{other:?}").chars().take(40).collect()),
    }
}
