//! The daemon's U.are.U reader: a thread owns the USB device, captures whenever a finger is placed and
//! hands each image over as a [`Sample`]. No reader connected, or one unplugged, is `Offline`, retried with a
//! growing delay.

use super::image::{DPI, HEIGHT, WIDTH};
use super::usb::{UruConfig, UruDevice, UsbError};
use crate::{BoxFuture, DeviceError, Feedback, Modality, Reader, Sample};
use std::time::Duration;
use tokio::sync::mpsc;

pub struct UruReader {
    id: String,
    samples: tokio::sync::Mutex<mpsc::Receiver<Result<Sample, DeviceError>>>,
}

impl UruReader {
    pub fn spawn(id: &str, cfg: UruConfig) -> Result<UruReader, DeviceError> {
        let (tx, rx) = mpsc::channel(1);
        let device = id.to_string();
        std::thread::Builder::new()
            .name(format!("uru-{id}"))
            .spawn(move || run(&device, cfg, tx))
            .map_err(|source| DeviceError::Io { device: id.to_string(), source })?;
        Ok(UruReader { id: id.to_string(), samples: tokio::sync::Mutex::new(rx) })
    }
}

fn run(device: &str, cfg: UruConfig, tx: mpsc::Sender<Result<Sample, DeviceError>>) {
    let mut backoff = Duration::from_millis(500);
    let mut reported = false;
    loop {
        if tx.is_closed() {
            return;
        }
        let opened = rusb::Context::new().map_err(UsbError::from).and_then(|ctx| UruDevice::open(&ctx, cfg.clone()));
        let dev = match opened {
            Ok(d) => {
                backoff = Duration::from_millis(500);
                reported = false;
                d
            }
            Err(e) => {
                if !reported {
                    tracing::warn!(device, error = %e, "U.are.U reader unavailable; retrying");
                    reported = true;
                    if tx.blocking_send(Err(DeviceError::Offline { device: device.to_string() })).is_err() {
                        return;
                    }
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        loop {
            match dev.capture() {
                Ok(pixels) => {
                    let s = Sample::Gray8 { width: WIDTH as u32, height: HEIGHT as u32, dpi: DPI, pixels };
                    if tx.blocking_send(Ok(s)).is_err() {
                        return;
                    }
                }
                Err(UsbError::Timeout(_)) => continue, // nobody placed a finger: keep waiting
                Err(e) => {
                    tracing::warn!(device, error = %e, "U.are.U capture failed; reopening the device");
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

    fn feedback(&self, _fb: Feedback) -> BoxFuture<'_, Result<(), DeviceError>> {
        // The U.are.U has no LED or buzzer the host controls; feedback comes from the door or the screen.
        Box::pin(async { Ok(()) })
    }
}
