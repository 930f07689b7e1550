//! The U.are.U USB conversation through `rusb` (libusb, vendored): power up, wait for a finger, read the
//! image, exchange the key, power down. Blocking, on the caller's thread, with an interrupt-reader thread
//! that always has a read in flight (the device reports power, finger-on and finger-off there) and a bulk
//! thread started before the capture mode is set (../shared/protocols/uru4000.md "Sequence").
//!
//! Contexts are created explicitly: the global libusb context panics in rusb when there is no USB at all.

use super::image::{BULK_LEN, Header, KeyExchangeError, Orientation, decode};
use rusb::{Context, DeviceHandle, UsbContext};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const REG_HWSTAT: u16 = 0x07;
const REG_SCRAMBLE_INDEX: u16 = 0x33;
const REG_SCRAMBLE_KEY: u16 = 0x34;
const REG_MODE: u16 = 0x4e;
const REG_DEVICE_INFO: u16 = 0xf0;
const REG_CHALLENGE: u16 = 0x2010;
const REG_RESPONSE: u16 = 0x2000;
const MODE_AWAIT_FINGER_ON: u8 = 0x10;
const MODE_AWAIT_FINGER_OFF: u8 = 0x12;
const MODE_CAPTURE: u8 = 0x20;
const MODE_OFF: u8 = 0x70;
const IRQ_SCANPWR_ON: u16 = 0x56aa;
const IRQ_FINGER_ON: u16 = 0x0101;
const IRQ_FINGER_OFF: u16 = 0x0200;
const EP_IRQ: u8 = 0x81;
const EP_DATA: u8 = 0x82;
/// AES-128 key of the MS Fingerprint Reader v2 challenge (uru4000.md; from libfprint).
const CRKEY: [u8; 16] =
    [0x79, 0xac, 0x91, 0x79, 0x5c, 0xa1, 0x47, 0x8e, 0x98, 0xe0, 0x0f, 0x3c, 0x59, 0x8f, 0x5f, 0x4b];

/// A supported model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub vid: u16,
    pub pid: u16,
    pub name: &'static str,
    /// Challenge/response before power-up completes (MS v2).
    pub auth: bool,
    pub orientation: Orientation,
}

pub const PROFILES: [Profile; 7] = [
    Profile {
        vid: 0x045e,
        pid: 0x00bb,
        name: "MS keyboard with fingerprint reader",
        auth: false,
        orientation: Orientation::Upright,
    },
    Profile {
        vid: 0x045e,
        pid: 0x00bc,
        name: "MS IntelliMouse with fingerprint reader",
        auth: false,
        orientation: Orientation::Upright,
    },
    Profile { vid: 0x045e, pid: 0x00bd, name: "MS fingerprint reader", auth: false, orientation: Orientation::Upright },
    Profile {
        vid: 0x045e,
        pid: 0x00ca,
        name: "MS Fingerprint Reader v2",
        auth: true,
        orientation: Orientation::Upright,
    },
    Profile {
        vid: 0x05ba,
        pid: 0x0007,
        name: "DigitalPersona U.are.U 4000",
        auth: false,
        orientation: Orientation::Upright,
    },
    Profile {
        vid: 0x05ba,
        pid: 0x0008,
        name: "DigitalPersona U.are.U 4000",
        auth: false,
        orientation: Orientation::Upright,
    },
    Profile {
        vid: 0x05ba,
        pid: 0x000a,
        name: "DigitalPersona U.are.U 4000B/4500",
        auth: false,
        orientation: Orientation::Rotated180,
    },
];

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsbError {
    #[error(
        "no U.are.U fingerprint reader is connected (no USB bus, or no supported VID:PID): plug it in, check `lsusb`"
    )]
    NoDevice,
    #[error("USB error: {0}")]
    Usb(#[from] rusb::Error),
    /// The device itself did not answer (a transfer, or an interrupt it owes us, timed out).
    #[error("the reader did not {0} in time")]
    Timeout(&'static str),
    /// Nobody placed a finger within the finger timeout: not a fault, the reader simply waits again.
    #[error("nobody placed a finger in time")]
    NoFinger,
    #[error("the reader did not power up after {0} attempts")]
    PowerUp(u32),
    #[error("the image could not be decoded: {0}")]
    Image(#[from] super::image::ImageError),
}

/// Capture settings.
#[derive(Debug, Clone)]
pub struct UruConfig {
    /// Seed of the key exchange. `None`: random per image. A fixed seed only to replay recordings
    /// (libfprint's recordings used 0x51EA2124).
    pub seed: Option<u32>,
    /// How long to wait for a finger.
    pub finger_timeout: Duration,
    /// Every USB transfer's timeout (long, so an untimed replay never loses a matched completion).
    pub transfer_timeout: Duration,
}

impl Default for UruConfig {
    fn default() -> Self {
        Self { seed: None, finger_timeout: Duration::from_secs(15), transfer_timeout: Duration::from_secs(5) }
    }
}

/// A connected reader.
pub struct UruDevice {
    handle: Arc<DeviceHandle<Context>>,
    pub profile: Profile,
    cfg: UruConfig,
}

/// Lists supported readers; never panics without a USB bus.
pub fn find(ctx: &Context) -> Result<Option<(rusb::Device<Context>, Profile)>, UsbError> {
    let devices = match ctx.devices() {
        Ok(d) => d,
        Err(_) => return Ok(None),
    };
    for d in devices.iter() {
        let Ok(desc) = d.device_descriptor() else { continue };
        if let Some(p) = PROFILES.iter().find(|p| p.vid == desc.vendor_id() && p.pid == desc.product_id()) {
            return Ok(Some((d, *p)));
        }
    }
    Ok(None)
}

fn random_seed() -> u32 {
    let mut b = [0u8; 4];
    // SAFETY: getrandom(2) writes at most 4 bytes into our 4-byte buffer.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), 4, 0) };
    if n == 4 {
        u32::from_le_bytes(b)
    } else {
        // Fallback: not secret, only varied (the scramble key protects nothing once read over USB).
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(1)
    }
}

/// AES-128-ECB of one block, for the MS v2 challenge (ring exposes no raw block cipher; RustCrypto's `aes`).
fn aes128_encrypt_block(key: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
    use aes::cipher::{BlockEncrypt, KeyInit};
    let cipher = aes::Aes128::new(&(*key).into());
    let mut b = (*block).into();
    cipher.encrypt_block(&mut b);
    b.into()
}

impl UruDevice {
    /// Opens the first supported reader.
    pub fn open(ctx: &Context, cfg: UruConfig) -> Result<UruDevice, UsbError> {
        let (dev, profile) = find(ctx)?.ok_or(UsbError::NoDevice)?;
        let _ = UsbContext::devices(ctx);
        let handle = dev.open()?;
        // No set-configuration and no kernel-driver calls: the device has one configuration, and the
        // kernel has no driver for it (and umockdev answers those with ENOTTY).
        handle.claim_interface(0)?;
        Ok(UruDevice { handle: Arc::new(handle), profile, cfg })
    }

    fn read_reg(&self, reg: u16, len: usize) -> Result<Vec<u8>, UsbError> {
        let mut buf = vec![0u8; len];
        let n = self.handle.read_control(0xc0, 0x04, reg, 0, &mut buf, self.cfg.transfer_timeout)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn write_reg(&self, reg: u16, data: &[u8]) -> Result<(), UsbError> {
        self.handle.write_control(0x40, 0x04, reg, 0, data, self.cfg.transfer_timeout)?;
        Ok(())
    }

    /// One capture: returns the decoded 384×290 image (dark ridges on white).
    pub fn capture(&self) -> Result<Vec<u8>, UsbError> {
        self.capture_noting_power(|| {})
    }

    /// [`UruDevice::capture`], calling `powered` as soon as the reader has powered up: the first proof in a
    /// capture that the device answers, which the daemon's reader reports as its health while it then waits
    /// (up to the finger timeout) for somebody.
    pub fn capture_noting_power(&self, powered: impl FnOnce()) -> Result<Vec<u8>, UsbError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (irq_tx, irq_rx) = mpsc::channel::<Result<u16, rusb::Error>>();
        let irq_thread = {
            let (h, stop, timeout) = (self.handle.clone(), stop.clone(), self.cfg.transfer_timeout);
            std::thread::spawn(move || {
                let mut buf = [0u8; 64];
                while !stop.load(Ordering::Acquire) {
                    match h.read_interrupt(EP_IRQ, &mut buf, timeout) {
                        Ok(n) if n >= 2 => {
                            let _ = irq_tx.send(Ok(u16::from_be_bytes([buf[0], buf[1]])));
                        }
                        Ok(_) | Err(rusb::Error::Timeout) => {}
                        // The endpoint failed (the reader vanished, or stalled): the capture waiting on it
                        // learns why at once, instead of waiting out its timeout.
                        Err(e) => {
                            let _ = irq_tx.send(Err(e));
                            break;
                        }
                    }
                }
            })
        };
        let result = self.capture_with(&irq_rx, powered);
        stop.store(true, Ordering::Release);
        let _ = irq_thread.join();
        result
    }

    /// Waits for the interrupt `want`; `on_timeout` is the error when it does not come in time (the device
    /// owing it, or nobody at the reader).
    fn wait_irq(
        &self,
        rx: &mpsc::Receiver<Result<u16, rusb::Error>>,
        want: u16,
        timeout: Duration,
        on_timeout: UsbError,
    ) -> Result<(), UsbError> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(Ok(t)) if t == want => return Ok(()),
                Ok(Ok(_)) => continue,
                Ok(Err(e)) => return Err(UsbError::Usb(e)),
                Err(mpsc::RecvTimeoutError::Timeout) => return Err(on_timeout),
                // The interrupt thread ended after reporting its error, which was read above.
                Err(mpsc::RecvTimeoutError::Disconnected) => return Err(UsbError::Usb(rusb::Error::Io)),
            }
        }
    }

    fn power_up(&self, irq: &mpsc::Receiver<Result<u16, rusb::Error>>) -> Result<(), UsbError> {
        for attempt in 1..=3 {
            let h = self.read_reg(REG_HWSTAT, 1)?.first().copied().unwrap_or(0);
            if h & 0x84 == 0x84 {
                // Reboot loop (uru4000.md step 2).
                self.write_reg(REG_HWSTAT, &[h & 0x0f])?;
                for _ in 0..100 {
                    if self.read_reg(REG_HWSTAT, 1)?.first().is_some_and(|v| v & 1 != 0) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            if h & 0x80 == 0 {
                self.write_reg(REG_HWSTAT, &[h | 0x80])?;
            }
            let mut up = false;
            for _ in 0..100 {
                self.write_reg(REG_HWSTAT, &[h & 0x0f])?;
                let v = self.read_reg(REG_HWSTAT, 1)?.first().copied().unwrap_or(0x80);
                if v & 0x80 == 0 {
                    up = true;
                    break;
                }
                if self.profile.auth {
                    let c = self.read_reg(REG_CHALLENGE, 16)?;
                    let block: [u8; 16] =
                        c.as_slice().try_into().map_err(|_| UsbError::Timeout("send its challenge"))?;
                    self.write_reg(REG_RESPONSE, &aes128_encrypt_block(&CRKEY, &block))?;
                } else {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            if !up {
                return Err(UsbError::PowerUp(100));
            }
            match self.wait_irq(irq, IRQ_SCANPWR_ON, Duration::from_secs(2), UsbError::Timeout("report scan power")) {
                Ok(()) => return Ok(()),
                Err(e) if attempt == 3 => return Err(e),
                Err(_) => continue,
            }
        }
        Err(UsbError::PowerUp(3))
    }

    fn capture_with(
        &self,
        irq: &mpsc::Receiver<Result<u16, rusb::Error>>,
        powered: impl FnOnce(),
    ) -> Result<Vec<u8>, UsbError> {
        self.power_up(irq)?;
        powered();
        let _info = self.read_reg(REG_DEVICE_INFO, 16)?;
        self.write_reg(REG_MODE, &[MODE_AWAIT_FINGER_ON])?;
        self.wait_irq(irq, IRQ_FINGER_ON, self.cfg.finger_timeout, UsbError::NoFinger)?;
        // The bulk read must be pending before capture mode is set.
        let bulk = {
            let (h, timeout) = (self.handle.clone(), self.cfg.transfer_timeout);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; BULK_LEN];
                h.read_bulk(EP_DATA, &mut buf, timeout).map(|n| {
                    buf.truncate(n);
                    buf
                })
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        self.write_reg(REG_MODE, &[MODE_CAPTURE])?;
        let data = bulk.join().map_err(|_| UsbError::Timeout("send the image"))??;
        let header = Header::parse(&data)?;
        let seed = self.cfg.seed.unwrap_or_else(random_seed);
        let exchange = |key_number: u8| -> Result<u32, KeyExchangeError> {
            let mut msg = vec![key_number];
            msg.extend_from_slice(&seed.to_le_bytes());
            let transfer = |e: UsbError| KeyExchangeError::Transfer(e.to_string());
            self.write_reg(REG_SCRAMBLE_INDEX, &msg).map_err(transfer)?;
            let r = self.read_reg(REG_SCRAMBLE_KEY, 4).map_err(transfer)?;
            let r: [u8; 4] = r.as_slice().try_into().map_err(|_| KeyExchangeError::ShortKey)?;
            Ok(u32::from_le_bytes(r) ^ seed)
        };
        // The key is always exchanged once, as libfprint does (a replay expects exactly that traffic).
        let first = exchange(header.key_number).map_err(|e| UsbError::Image(super::image::ImageError::Key(e)))?;
        let mut first = Some(first);
        let img = decode(&data, self.profile.orientation, |n| match first.take() {
            Some(k) if n == header.key_number => Ok(k),
            _ => exchange(n),
        })?;
        self.write_reg(REG_MODE, &[MODE_AWAIT_FINGER_OFF])?;
        let _ = self.wait_irq(irq, IRQ_FINGER_OFF, self.cfg.finger_timeout, UsbError::NoFinger);
        self.write_reg(REG_MODE, &[MODE_OFF])?;
        Ok(img)
    }
}
