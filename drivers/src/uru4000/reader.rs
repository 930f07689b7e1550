//! The daemon's U.are.U reader: a thread owns the USB device, captures whenever a finger is placed and
//! hands each image over as a [`Sample`]. A fault is handed over once per episode (issue 15): a reader
//! that is not connected, or vanishes mid-capture, is `Offline`; one that stops answering, `NoAnswer`; an
//! image that cannot be decoded, `DeviceMisbehaved`. The thread reopens the device with a growing delay,
//! and the episode ends when the reader answers again (it powers up), which [`Reader::healthy`] reports so
//! the daemon audits the recovery when it happens, not at the next finger.

use super::image::{DPI, HEIGHT, WIDTH};
use super::usb::{UruConfig, UruDevice, UsbError};
use crate::{BoxFuture, DeviceError, Feedback, Misbehaviour, Modality, Reader, Sample};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;

pub struct UruReader {
    id: String,
    samples: tokio::sync::Mutex<mpsc::Receiver<Result<Sample, DeviceError>>>,
    /// The reader powered up in the current capture (it answers).
    answering: Arc<AtomicBool>,
}

impl UruReader {
    pub fn spawn(id: &str, cfg: UruConfig) -> Result<UruReader, DeviceError> {
        let (tx, rx) = mpsc::channel(1);
        let device = id.to_string();
        let answering = Arc::new(AtomicBool::new(false));
        let flag = answering.clone();
        std::thread::Builder::new()
            .name(format!("uru-{id}"))
            .spawn(move || run(&device, cfg, &flag, tx))
            .map_err(|source| DeviceError::Io { device: id.to_string(), source })?;
        Ok(UruReader { id: id.to_string(), samples: tokio::sync::Mutex::new(rx), answering })
    }
}

/// The fault a failed capture or open is, for the daemon's audit; `None` when it is no fault (nobody came).
fn fault_of(device: &str, e: &UsbError) -> Option<DeviceError> {
    let device = device.to_string();
    Some(match e {
        UsbError::NoFinger => return None,
        UsbError::NoDevice
        | UsbError::Usb(rusb::Error::NoDevice | rusb::Error::NotFound | rusb::Error::Io | rusb::Error::Access) => {
            DeviceError::Offline { device }
        }
        UsbError::Usb(rusb::Error::Timeout) | UsbError::Timeout(_) | UsbError::PowerUp(_) => {
            DeviceError::NoAnswer { device }
        }
        UsbError::Image(_) => DeviceError::DeviceMisbehaved { device, fault: Misbehaviour::Garbled },
        UsbError::Usb(_) => DeviceError::DeviceMisbehaved { device, fault: Misbehaviour::UnexpectedFrame },
    })
}

/// Sleeps `backoff`, then doubles it (at most 30 s) for the next failure.
fn pause(backoff: &mut Duration) {
    std::thread::sleep(*backoff);
    *backoff = (*backoff * 2).min(Duration::from_secs(30));
}

fn run(device: &str, cfg: UruConfig, answering: &AtomicBool, tx: mpsc::Sender<Result<Sample, DeviceError>>) {
    const FIRST: Duration = Duration::from_millis(500);
    let mut backoff = FIRST;
    // A fault was handed over and the reader has not answered since: nothing more to report until it does.
    let mut in_episode = false;
    let report = |e: &UsbError, in_episode: &mut bool| -> bool {
        answering.store(false, Ordering::Release);
        let Some(fault) = fault_of(device, e) else { return true };
        if std::mem::replace(in_episode, true) {
            return true;
        }
        tracing::warn!(device, error = %e, "U.are.U reader fault; reopening it with a growing delay");
        tx.blocking_send(Err(fault)).is_ok()
    };
    loop {
        if tx.is_closed() {
            return;
        }
        let opened = rusb::Context::new().map_err(UsbError::from).and_then(|ctx| UruDevice::open(&ctx, cfg.clone()));
        let dev = match opened {
            Ok(d) => d,
            Err(e) => {
                if !report(&e, &mut in_episode) {
                    return;
                }
                pause(&mut backoff);
                continue;
            }
        };
        loop {
            let mut powered = false;
            let got = dev.capture_noting_power(|| {
                powered = true;
                answering.store(true, Ordering::Release);
            });
            if powered {
                // The reader answered: whatever episode there was has ended (the daemon saw `healthy`).
                in_episode = false;
                backoff = FIRST;
            }
            match got {
                Ok(pixels) => {
                    let s = Sample::Gray8 { width: WIDTH as u32, height: HEIGHT as u32, dpi: DPI, pixels };
                    if tx.blocking_send(Ok(s)).is_err() {
                        return;
                    }
                }
                Err(UsbError::NoFinger) => {
                    if tx.is_closed() {
                        return;
                    }
                }
                Err(e) => {
                    if !report(&e, &mut in_episode) {
                        return;
                    }
                    // Reopened after a breath, so a reader failing at once never spins this thread.
                    pause(&mut backoff);
                    break;
                }
            }
        }
    }
}

impl Reader for UruReader {
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
        Some(self.answering.load(Ordering::Acquire))
    }

    fn feedback(&self, _fb: Feedback) -> BoxFuture<'_, Result<(), DeviceError>> {
        // The U.are.U has no LED or buzzer the host controls; feedback comes from the door or the screen.
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each way a U.are.U capture fails is the fault the daemon audits (issue 15): gone, silent, garbled;
    /// nobody at the reader is none.
    #[test]
    fn each_usb_failure_is_the_fault_it_is() {
        let f = |e: UsbError| fault_of("r", &e);
        assert!(f(UsbError::NoFinger).is_none());
        for gone in [UsbError::NoDevice, UsbError::Usb(rusb::Error::NoDevice), UsbError::Usb(rusb::Error::Io)] {
            assert!(matches!(f(gone), Some(DeviceError::Offline { .. })));
        }
        for silent in
            [UsbError::Usb(rusb::Error::Timeout), UsbError::Timeout("report scan power"), UsbError::PowerUp(3)]
        {
            assert!(matches!(f(silent), Some(DeviceError::NoAnswer { .. })));
        }
        let garbled =
            UsbError::Image(crate::uru4000::image::ImageError::Key(crate::uru4000::image::KeyExchangeError::ShortKey));
        assert!(matches!(f(garbled), Some(DeviceError::DeviceMisbehaved { fault: Misbehaviour::Garbled, .. })));
        assert!(matches!(
            f(UsbError::Usb(rusb::Error::Pipe)),
            Some(DeviceError::DeviceMisbehaved { fault: Misbehaviour::UnexpectedFrame, .. })
        ));
    }
}
