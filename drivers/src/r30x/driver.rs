//! The daemon's R30x reader: a thread owns the port (the protocol is half duplex and strictly
//! request/reply), finds the module's line rate, raises it to the configured one, polls GenImg until a
//! finger is on the glass, uploads the image and hands it over as a [`Sample`]. The codec is pure
//! (`Decoder`); this file only moves bytes and keeps time.
//!
//! The line rate is what a person waits for: an image is 36,864 bytes plus framing, ≈ 7 s at the factory
//! 57,600 baud and ≈ 3.5 s at 115,200 (issue 15). So each connection starts by finding the module (the rate
//! it answered at last, the configured rate, the factory rate, then the other standard ones), and if it is
//! not at the configured rate, sets the baud register (SetSysPara 4, acknowledged at the old rate), switches
//! the port and reads the register back (ReadSysPara) at the new rate. A module that follows only at its
//! next power-up (R30x.md §6) is read back at the old rate and kept there; it is found at the new one after
//! its power cycle.

use super::{
    Ack, Command, ConfirmationCode, DEFAULT_ADDRESS, Decoder, IMAGE_HEIGHT, IMAGE_WIDTH, Pid, SysParams, encode,
    parse_sys_params, unpack_4bpp,
};
use crate::line::STANDARD_BAUDS;
use crate::{BoxFuture, DeviceError, Feedback, Misbehaviour, Modality, Reader, Sample};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The module's factory line rate, N = 6 (R30x.md §1).
pub const FACTORY_BAUD: u32 = 57_600;
/// The fastest rate an R30x module offers, N = 12 (R30x.md §1; the R503 too).
pub const FASTEST_BAUD: u32 = 115_200;
/// After SetSysPara's ack, before speaking at the new rate: the module saves to flash and switches (FPM
/// re-reads the parameters after 100 ms, R30x.md §6).
const SWITCH_PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone)]
pub struct R30xConfig {
    pub port: PathBuf,
    /// The line rate to run at: the module is raised to it at start (one of [`STANDARD_BAUDS`]; default the
    /// fastest, 115,200). The site file's `baud` per reader.
    pub baud: u32,
    pub password: u32,
    /// How often to ask "is a finger there?" (R30x.md §6: GenImg answers at once without a finger).
    pub poll: Duration,
    /// Reply timeout (Adafruit 1 s, FPM 2 s).
    pub reply_timeout: Duration,
    /// How long to wait for an answer at each rate while looking for the module (LibDriver waits 300 ms
    /// for most replies; VfyPwd's 12-byte ack takes 12.5 ms even at 9,600).
    pub probe_timeout: Duration,
}

impl R30xConfig {
    pub fn new(port: impl Into<PathBuf>) -> Self {
        Self {
            port: port.into(),
            baud: FASTEST_BAUD,
            password: 0,
            poll: Duration::from_millis(100),
            reply_timeout: Duration::from_secs(2),
            probe_timeout: Duration::from_millis(400),
        }
    }
}

/// The rates to look for a module at, in order: where it answered last (it is most likely still there), the
/// configured rate (a module raised before keeps its rate in flash), the factory rate, then the other
/// standard rates from the fastest down. Each once; only rates a serial port can be set to.
pub fn probe_order(last: Option<u32>, target: u32) -> Vec<u32> {
    let mut order = Vec::with_capacity(STANDARD_BAUDS.len());
    for r in last.into_iter().chain([target, FACTORY_BAUD]).chain(STANDARD_BAUDS.into_iter().rev()) {
        if STANDARD_BAUDS.contains(&r) && !order.contains(&r) {
            order.push(r);
        }
    }
    order
}

pub struct R30xReader {
    id: String,
    /// Set by the port thread after every good handshake, cleared when a session fails.
    healthy: Arc<AtomicBool>,
    /// The line rate the module answers at in this session; 0 while there is none.
    line_rate: Arc<AtomicU32>,
    samples: tokio::sync::Mutex<mpsc::Receiver<Result<Sample, DeviceError>>>,
    feedback: Mutex<std::sync::mpsc::Sender<Feedback>>,
}

struct Port {
    file: std::fs::File,
    dec: Decoder,
    timeout: Duration,
    device: String,
    /// The rate the port is set to.
    rate: u32,
}

impl Port {
    /// Sets the port to `baud` and forgets whatever half-read bytes the decoder holds.
    fn set_rate(&mut self, baud: u32) -> Result<(), DeviceError> {
        crate::serial::set_baud(&self.file, baud)
            .map_err(|source| DeviceError::Io { device: self.device.clone(), source })?;
        self.dec = Decoder::default();
        self.rate = baud;
        Ok(())
    }

    /// A command with another reply timeout than the session's.
    fn command_within(&mut self, c: &Command, timeout: Duration) -> Result<Ack, DeviceError> {
        let usual = std::mem::replace(&mut self.timeout, timeout);
        let r = self.command(c);
        self.timeout = usual;
        r
    }

    /// ReadSysPara (R30x.md §3), answered OK with its 16 bytes.
    fn read_params(&mut self, timeout: Duration) -> Result<SysParams, DeviceError> {
        let ack = self.command_within(&Command::ReadSysPara, timeout)?;
        let bad = |fault| DeviceError::DeviceMisbehaved { device: self.device.clone(), fault };
        if ack.code != ConfirmationCode::Ok {
            return Err(bad(Misbehaviour::UnexpectedFrame));
        }
        parse_sys_params(&ack.data).ok_or(bad(Misbehaviour::BadLength))
    }

    /// Sends a command after dropping whatever is on the line: nothing is due before a command is sent,
    /// so any byte waiting is a late answer to an earlier one (issue 15's fault matrix, "late answers").
    fn send(&mut self, c: &Command) -> Result<(), DeviceError> {
        let io = |source| DeviceError::Io { device: self.device.clone(), source };
        crate::serial::discard_input(&self.file).map_err(io)?;
        self.dec = Decoder::default();
        self.file.write_all(&encode(DEFAULT_ADDRESS, Pid::Command, &c.payload())).map_err(io)
    }

    /// The next packet, skipping faults (they are counted in the decoder), within the reply timeout.
    fn packet(&mut self) -> Result<super::Packet, DeviceError> {
        let deadline = Instant::now() + self.timeout;
        let mut buf = [0u8; 512];
        let mut garbled = false;
        loop {
            while let Some(r) = self.dec.poll_packet() {
                match r {
                    Ok(p) => return Ok(p),
                    Err(f) => {
                        garbled = true;
                        tracing::debug!(device = %self.device, fault = ?f, "garbled bytes from reader skipped")
                    }
                }
            }
            if Instant::now() > deadline && garbled {
                // It answered, but nothing it said could be read: garbage on the line, not silence.
                return Err(DeviceError::DeviceMisbehaved {
                    device: self.device.clone(),
                    fault: Misbehaviour::Garbled,
                });
            }
            if Instant::now() > deadline {
                // The module said nothing within its reply timeout: that is the module failing (silent,
                // unpowered, another line rate), never "nobody at the reader" — GenImg answers at once
                // without a finger (R30x.md §6). Audited as a device fault.
                return Err(DeviceError::NoAnswer { device: self.device.clone() });
            }
            let n =
                self.file.read(&mut buf).map_err(|source| DeviceError::Io { device: self.device.clone(), source })?;
            self.dec.handle_input(&buf[..n]);
        }
    }

    fn command(&mut self, c: &Command) -> Result<Ack, DeviceError> {
        self.send(c)?;
        let p = self.packet()?;
        if p.pid != Pid::Ack {
            return Err(DeviceError::DeviceMisbehaved {
                device: self.device.clone(),
                fault: Misbehaviour::UnexpectedFrame,
            });
        }
        Ack::parse(&p.payload)
            .ok_or(DeviceError::DeviceMisbehaved { device: self.device.clone(), fault: Misbehaviour::BadLength })
    }

    fn upload_image(&mut self) -> Result<Vec<u8>, DeviceError> {
        let ack = self.command(&Command::UpImage)?;
        if ack.code != ConfirmationCode::Ok {
            return Err(DeviceError::DeviceMisbehaved {
                device: self.device.clone(),
                fault: Misbehaviour::UnexpectedFrame,
            });
        }
        let mut data = Vec::with_capacity(IMAGE_WIDTH * IMAGE_HEIGHT / 2);
        loop {
            let p = self.packet()?;
            data.extend_from_slice(&p.payload);
            match p.pid {
                Pid::EndData => break,
                Pid::Data if data.len() <= IMAGE_WIDTH * IMAGE_HEIGHT => {}
                _ => {
                    return Err(DeviceError::DeviceMisbehaved {
                        device: self.device.clone(),
                        fault: Misbehaviour::BadLength,
                    });
                }
            }
        }
        unpack_4bpp(&data, IMAGE_WIDTH, IMAGE_HEIGHT)
            .ok_or(DeviceError::DeviceMisbehaved { device: self.device.clone(), fault: Misbehaviour::BadLength })
    }
}

fn led(fb: &Feedback) -> Command {
    // Aura ring: 3 = on, 1 = breathe; colour 1 red, 2 blue, 4 green (R30x.md §2).
    let (control, colour) = match fb {
        Feedback::Granted => (3, 4),
        Feedback::Denied | Feedback::LockedOut => (3, 1),
        Feedback::Alarm => (2, 1),
        Feedback::Prompt(_) => (1, 2),
        Feedback::Idle => (4, 2),
    };
    Command::AuraLed { control, speed: 100, colour, times: 0 }
}

impl R30xReader {
    /// Starts the reader's thread. It reconnects with backoff when the port vanishes and reports each
    /// outage once as `Offline`.
    pub fn spawn(id: &str, cfg: R30xConfig) -> R30xReader {
        let (tx, rx) = mpsc::channel(4);
        let (ftx, frx) = std::sync::mpsc::channel::<Feedback>();
        let device = id.to_string();
        let healthy = Arc::new(AtomicBool::new(false));
        let line_rate = Arc::new(AtomicU32::new(0));
        let (h, l) = (healthy.clone(), line_rate.clone());
        std::thread::Builder::new().name(format!("r30x-{id}")).spawn(move || run(device, cfg, tx, frx, &h, &l)).ok();
        R30xReader {
            id: id.into(),
            healthy,
            line_rate,
            samples: tokio::sync::Mutex::new(rx),
            feedback: Mutex::new(ftx),
        }
    }

    /// The line rate the module answers at now (after raising it), or `None` while it is not connected.
    pub fn line_rate(&self) -> Option<u32> {
        Some(self.line_rate.load(Ordering::Acquire)).filter(|&r| r != 0)
    }

    /// Drops captures nobody has asked for yet (the person stepped away; a refused command left them), so
    /// the next command reads a fresh touch. Returns how many were dropped; none while a read is waiting.
    pub fn discard_pending(&self) -> usize {
        let Ok(mut rx) = self.samples.try_lock() else { return 0 };
        std::iter::from_fn(|| rx.try_recv().ok()).count()
    }
}

fn run(
    device: String,
    cfg: R30xConfig,
    tx: mpsc::Sender<Result<Sample, DeviceError>>,
    feedback: std::sync::mpsc::Receiver<Feedback>,
    healthy: &AtomicBool,
    line_rate: &AtomicU32,
) {
    const FIRST_RETRY: Duration = Duration::from_millis(200);
    let mut backoff = FIRST_RETRY;
    let mut reported = false;
    // Where the module answered last: the first rate tried when the port comes back.
    let mut last_rate = None;
    loop {
        if tx.is_closed() {
            return;
        }
        let order = probe_order(last_rate, cfg.baud);
        let first = order.first().copied().unwrap_or(FACTORY_BAUD);
        let file = match crate::serial::open(&cfg.port, first, Duration::from_millis(100)) {
            Ok(f) => f,
            Err(_) => {
                if !reported {
                    reported = true;
                    let _ = tx.blocking_send(Err(DeviceError::Offline { device: device.clone() }));
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        let mut port =
            Port { file, dec: Decoder::default(), timeout: cfg.reply_timeout, device: device.clone(), rate: first };
        let result = session(&mut port, &cfg, &order, &tx, &feedback, &mut reported, healthy, line_rate);
        healthy.store(false, Ordering::Release);
        let answered_at = line_rate.swap(0, Ordering::AcqRel);
        if answered_at != 0 {
            last_rate = Some(answered_at);
        }
        if !reported {
            // The session had a good handshake: the next outage starts its retries from the beginning.
            backoff = FIRST_RETRY;
        }
        if let Err(e) = result {
            if tx.is_closed() {
                return;
            }
            tracing::warn!(device = %device, error = %e, "reader session ended; reconnecting");
            if !reported {
                reported = true;
                let _ = tx.blocking_send(Err(e));
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// Finds the rate the module answers at: VfyPwd at each rate of `order` in turn. A module that answers
/// but refuses the password is found (and refused); one that answers nothing anywhere is silent, and one
/// that only ever sent unreadable bytes is garbled.
fn find_module(port: &mut Port, cfg: &R30xConfig, order: &[u32]) -> Result<(), DeviceError> {
    let mut garbled = None;
    for &rate in order {
        port.set_rate(rate)?;
        match port.command_within(&Command::VfyPwd(cfg.password), cfg.probe_timeout) {
            // VfyPwd's ack carries nothing after its code (R30x.md §2): another shape is a late answer to
            // another command.
            Ok(ack) if ack.code == ConfirmationCode::Ok && ack.data.is_empty() => return Ok(()),
            Ok(_) => {
                return Err(DeviceError::DeviceMisbehaved {
                    device: port.device.clone(),
                    fault: Misbehaviour::UnexpectedFrame,
                });
            }
            Err(e @ DeviceError::DeviceMisbehaved { .. }) => garbled = Some(e),
            Err(DeviceError::NoAnswer { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Err(garbled.unwrap_or(DeviceError::NoAnswer { device: port.device.clone() }))
}

/// Raises the module found at `port.rate` to `cfg.baud` (SetSysPara 4, R30x.md §2) and reads the register
/// back at the new rate; keeps the old rate when the module does not follow (it refused the value, or
/// follows only at its next power-up). Errors only when the module stops answering altogether.
fn raise(port: &mut Port, cfg: &R30xConfig) -> Result<(), DeviceError> {
    let params = port.read_params(cfg.reply_timeout)?;
    let want = cfg.baud;
    if port.rate == want {
        return Ok(());
    }
    let n = want / 9600;
    if u32::from(params.baud_n) == n {
        tracing::warn!(device = %port.device, rate = port.rate, want, "the module has stored the line rate but runs at the old one until it is power-cycled");
        return Ok(());
    }
    let ack = port.command(&Command::SetSysPara { register: 4, value: n as u8 })?;
    if ack.code != ConfirmationCode::Ok {
        tracing::warn!(device = %port.device, rate = port.rate, want, code = ?ack.code, "the module refused the line rate; staying at its rate");
        return Ok(());
    }
    let old = port.rate;
    std::thread::sleep(SWITCH_PAUSE);
    port.set_rate(want)?;
    match port.read_params(cfg.probe_timeout) {
        Ok(p) if u32::from(p.baud_n) == n => {
            tracing::info!(device = %port.device, from = old, to = want, "module raised to the configured line rate (read back)");
            Ok(())
        }
        _ => {
            port.set_rate(old)?;
            port.read_params(cfg.reply_timeout)?;
            tracing::warn!(device = %port.device, rate = old, want, "the module acknowledged the line rate but still answers at the old one (it follows at its next power-up)");
            Ok(())
        }
    }
}

/// One connected stretch: find the module, raise its line rate, then poll and upload until something fails.
/// A good handshake ends the outage, so the next one is reported again (once).
#[allow(clippy::too_many_arguments)]
fn session(
    port: &mut Port,
    cfg: &R30xConfig,
    order: &[u32],
    tx: &mpsc::Sender<Result<Sample, DeviceError>>,
    feedback: &std::sync::mpsc::Receiver<Feedback>,
    reported: &mut bool,
    healthy: &AtomicBool,
    line_rate: &AtomicU32,
) -> Result<(), DeviceError> {
    find_module(port, cfg, order)?;
    raise(port, cfg)?;
    *reported = false;
    healthy.store(true, Ordering::Release);
    line_rate.store(port.rate, Ordering::Release);
    loop {
        if tx.is_closed() {
            return Ok(());
        }
        while let Ok(fb) = feedback.try_recv() {
            let _ = port.command(&led(&fb))?;
        }
        let ack = port.command(&Command::GenImg)?;
        match ack.code {
            ConfirmationCode::Ok => {
                let pixels = port.upload_image()?;
                let s = Sample::Gray8 { width: IMAGE_WIDTH as u32, height: IMAGE_HEIGHT as u32, dpi: 500, pixels };
                if tx.blocking_send(Ok(s)).is_err() {
                    return Ok(());
                }
                // Wait for the finger to leave before the next capture, so one touch is one sample.
                loop {
                    std::thread::sleep(cfg.poll);
                    if port.command(&Command::GenImg)?.code != ConfirmationCode::Ok {
                        break;
                    }
                    if tx.is_closed() {
                        return Ok(());
                    }
                }
            }
            _ => std::thread::sleep(cfg.poll),
        }
    }
}

impl Reader for R30xReader {
    fn id(&self) -> &str {
        &self.id
    }

    fn modality(&self) -> Modality {
        Modality::Finger
    }

    fn next_sample(&self) -> BoxFuture<'_, Result<Sample, DeviceError>> {
        Box::pin(async move { self.samples.lock().await.recv().await.unwrap_or(Err(DeviceError::Closed)) })
    }

    fn healthy(&self) -> Option<bool> {
        Some(self.healthy.load(Ordering::Acquire))
    }

    fn line_rate(&self) -> Option<u32> {
        R30xReader::line_rate(self)
    }

    fn feedback(&self, fb: Feedback) -> BoxFuture<'_, Result<(), DeviceError>> {
        Box::pin(async move {
            let tx = self.feedback.lock().unwrap_or_else(|p| p.into_inner());
            tx.send(fb).map_err(|_| DeviceError::Closed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_is_looked_for_where_it_was_then_where_it_should_be_then_at_the_factory_rate() {
        assert_eq!(probe_order(None, 115_200), [115_200, 57_600, 38_400, 19_200, 9600]);
        assert_eq!(probe_order(Some(19_200), 115_200), [19_200, 115_200, 57_600, 38_400, 9600]);
        assert_eq!(probe_order(Some(57_600), 57_600), [57_600, 115_200, 38_400, 19_200, 9600]);
        assert_eq!(probe_order(Some(28_800), 57_600), [57_600, 115_200, 38_400, 19_200, 9600], "only standard rates");
    }
}
