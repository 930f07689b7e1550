//! The daemon's R30x reader: a thread owns the port (the protocol is half duplex and strictly
//! request/reply), polls GenImg until a finger is on the glass, uploads the image and hands it over as a
//! [`Sample`]. The codec is pure (`Decoder`); this file only moves bytes and keeps time.

use super::{
    Ack, Command, ConfirmationCode, DEFAULT_ADDRESS, Decoder, IMAGE_HEIGHT, IMAGE_WIDTH, Pid, encode, unpack_4bpp,
};
use crate::{BoxFuture, DeviceError, Feedback, Misbehaviour, Modality, Reader, Sample};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

#[derive(Debug, Clone)]
pub struct R30xConfig {
    pub port: PathBuf,
    pub baud: u32,
    pub password: u32,
    /// How often to ask "is a finger there?" (R30x.md §6: GenImg answers at once without a finger).
    pub poll: Duration,
    /// Reply timeout (Adafruit 1 s, FPM 2 s).
    pub reply_timeout: Duration,
}

impl R30xConfig {
    pub fn new(port: impl Into<PathBuf>) -> Self {
        Self {
            port: port.into(),
            baud: 57600,
            password: 0,
            poll: Duration::from_millis(100),
            reply_timeout: Duration::from_secs(2),
        }
    }
}

pub struct R30xReader {
    id: String,
    /// Set by the port thread after every good handshake, cleared when a session fails.
    healthy: std::sync::Arc<std::sync::atomic::AtomicBool>,
    samples: tokio::sync::Mutex<mpsc::Receiver<Result<Sample, DeviceError>>>,
    feedback: Mutex<std::sync::mpsc::Sender<Feedback>>,
}

struct Port {
    file: std::fs::File,
    dec: Decoder,
    timeout: Duration,
    device: String,
}

impl Port {
    fn send(&mut self, c: &Command) -> Result<(), DeviceError> {
        let io = |source| DeviceError::Io { device: self.device.clone(), source };
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
        let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let h = healthy.clone();
        std::thread::Builder::new().name(format!("r30x-{id}")).spawn(move || run(device, cfg, tx, frx, &h)).ok();
        R30xReader { id: id.into(), healthy, samples: tokio::sync::Mutex::new(rx), feedback: Mutex::new(ftx) }
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
    healthy: &std::sync::atomic::AtomicBool,
) {
    const FIRST_RETRY: Duration = Duration::from_millis(200);
    let mut backoff = FIRST_RETRY;
    let mut reported = false;
    loop {
        if tx.is_closed() {
            return;
        }
        let file = match crate::serial::open(&cfg.port, cfg.baud, Duration::from_millis(100)) {
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
        let mut port = Port { file, dec: Decoder::default(), timeout: cfg.reply_timeout, device: device.clone() };
        let result = session(&mut port, &cfg, &tx, &feedback, &mut reported, healthy);
        healthy.store(false, std::sync::atomic::Ordering::Release);
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

/// One connected stretch: handshake, then poll and upload until something fails. A good handshake ends the
/// outage, so the next one is reported again (once).
fn session(
    port: &mut Port,
    cfg: &R30xConfig,
    tx: &mpsc::Sender<Result<Sample, DeviceError>>,
    feedback: &std::sync::mpsc::Receiver<Feedback>,
    reported: &mut bool,
    healthy: &std::sync::atomic::AtomicBool,
) -> Result<(), DeviceError> {
    let ack = port.command(&Command::VfyPwd(cfg.password))?;
    if ack.code != ConfirmationCode::Ok {
        return Err(DeviceError::DeviceMisbehaved {
            device: port.device.clone(),
            fault: Misbehaviour::UnexpectedFrame,
        });
    }
    *reported = false;
    healthy.store(true, std::sync::atomic::Ordering::Release);
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
        Some(self.healthy.load(std::sync::atomic::Ordering::Acquire))
    }

    fn feedback(&self, fb: Feedback) -> BoxFuture<'_, Result<(), DeviceError>> {
        Box::pin(async move {
            let tx = self.feedback.lock().unwrap_or_else(|p| p.into_inner());
            tx.send(fb).map_err(|_| DeviceError::Closed)
        })
    }
}
