//! The reference bridge: the bridge side of the protocol, serving synthetic near-infrared palm images of
//! simulated people. It is what the simulator runs, and the model a vendor-SDK bridge follows (one
//! connection at a time per capture, hello first, progress while waiting, the image or an error).
//! Scenario commands (a hand presented, a sensor error, garbage on the wire, the bridge going away) are
//! scriptable from tests through [`SimBridge`].

use super::codec::{Decoder, ErrorCode, Frame, Hand, Header, ImageFormat, Stage, VERSION, encode};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Notify;

/// What happens at the sensor next.
#[derive(Debug, Clone)]
pub enum Presentation {
    /// A simulated person holds a hand over the sensor.
    Hand { body: String, hand: Hand },
    /// The sensor fails this capture with `code`.
    Fail(ErrorCode),
    /// The bridge writes these bytes before answering (a garbled line).
    Garbage(Vec<u8>),
    /// The sensor delivers this 8-bit image as its capture, whatever it shows: a fingerprint, a blank or a
    /// saturated frame offered as a palm (issue 4's bad input), which the daemon must refuse.
    Image { width: u32, height: u32, pixels: Vec<u8> },
    /// The bridge answers the capture with these bytes as they are, and takes it as answered: a frame of its
    /// own making that no conforming bridge sends (an image whose payload does not match its header, one of
    /// impossible size), which the daemon must not take for an image nor wait on forever.
    Raw(Vec<u8>),
}

#[derive(Default)]
struct Inner {
    queue: Mutex<VecDeque<Presentation>>,
    notify: Notify,
    attempts: AtomicU64,
    captures: AtomicU64,
    conns: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Presented whenever a capture finds the queue empty (a hand that is always there).
    always: Mutex<Option<Presentation>>,
}

/// Handle to script a running reference bridge.
#[derive(Clone, Default)]
pub struct SimBridge {
    inner: Arc<Inner>,
}

/// The reference bridge delivers palm regions (as a sensor that crops on the device does), not whole hands.
pub const SIDE: u32 = tobira_sample::ROI_SIDE as u32;
pub const DPI: u16 = crate::sim::population::PALM_DPI;
pub const WAVELENGTH_NM: u16 = crate::sim::population::PALM_WAVELENGTH_NM;

impl SimBridge {
    pub fn new() -> SimBridge {
        SimBridge::default()
    }

    pub fn present(&self, p: Presentation) {
        if let Ok(mut q) = self.inner.queue.lock() {
            q.push_back(p);
        }
        self.inner.notify.notify_one();
    }

    /// The bridge process dies: every open connection is closed (the daemon sees end of stream).
    pub fn disconnect_all(&self) {
        if let Ok(mut c) = self.inner.conns.lock() {
            for h in c.drain(..) {
                h.abort();
            }
        }
    }

    /// Captures answered with an image so far.
    pub fn captures(&self) -> u64 {
        self.inner.captures.load(Ordering::Relaxed)
    }

    /// Every capture that finds nothing queued gets `p` (for a bridge run by hand: `--body NAME`).
    pub fn always(&self, p: Option<Presentation>) {
        if let Ok(mut a) = self.inner.always.lock() {
            *a = p;
        }
        self.inner.notify.notify_one();
    }

    fn next(&self) -> Option<Presentation> {
        self.inner
            .queue
            .lock()
            .ok()
            .and_then(|mut q| q.pop_front())
            .or_else(|| self.inner.always.lock().ok().and_then(|a| a.clone()))
    }

    /// Serves connections until the listener fails; each connection is one daemon.
    pub async fn serve(self, listener: UnixListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let me = self.clone();
            let h = tokio::spawn(async move {
                if let Err(e) = me.connection(stream).await {
                    tracing::debug!(error = %e, "reference palm bridge: connection ended");
                }
            });
            if let Ok(mut c) = self.inner.conns.lock() {
                c.retain(|x| !x.is_finished());
                c.push(h);
            }
        }
    }

    async fn connection(&self, mut s: UnixStream) -> std::io::Result<()> {
        let hello = Header::Hello {
            version: VERSION,
            vendor: "tobira".into(),
            model: "reference palm bridge (synthetic NIR images)".into(),
            serial: "SIM-0001".into(),
            wavelength_nm: WAVELENGTH_NM,
        };
        write(&mut s, &Frame::new(hello)).await?;
        let mut dec = Decoder::new();
        let mut buf = vec![0u8; 4096];
        loop {
            let frame = loop {
                if let Some(r) = dec.poll_frame() {
                    match r {
                        Ok(f) => break f,
                        Err(fault) => {
                            let msg = fault.to_string();
                            write(
                                &mut s,
                                &Frame::new(Header::Error { id: None, code: ErrorCode::Protocol, message: msg }),
                            )
                            .await?;
                            continue;
                        }
                    }
                }
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                dec.handle_input(&buf[..n]);
            };
            match frame.header {
                Header::Capture { id, timeout_ms, .. } => self.capture(&mut s, id, timeout_ms).await?,
                Header::Ping { nonce } => write(&mut s, &Frame::new(Header::Pong { nonce })).await?,
                // Feedback is shown on the (simulated) sensor; cancel of a finished capture is a no-op.
                _ => {}
            }
        }
    }

    async fn capture(&self, s: &mut UnixStream, id: u64, timeout_ms: u32) -> std::io::Result<()> {
        write(s, &Frame::new(Header::Progress { id, stage: Stage::Waiting })).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(u64::from(timeout_ms));
        let p = loop {
            if let Some(p) = self.next() {
                break p;
            }
            if tokio::time::timeout_at(deadline, self.inner.notify.notified()).await.is_err() {
                let e = Header::Error { id: Some(id), code: ErrorCode::Timeout, message: "no hand presented".into() };
                return write(s, &Frame::new(e)).await;
            }
        };
        match p {
            Presentation::Fail(code) => {
                write(s, &Frame::new(Header::Error { id: Some(id), code, message: format!("{code:?}") })).await
            }
            Presentation::Garbage(bytes) => {
                s.write_all(&bytes).await?;
                // The capture itself still needs a hand: wait again (the daemon counts the garbage).
                Box::pin(self.capture_after_garbage(s, id, deadline)).await
            }
            Presentation::Hand { body, hand } => self.send_hand(s, id, &body, hand).await,
            Presentation::Image { width, height, pixels } => {
                self.send_image(s, id, width, height, Hand::Unknown, pixels).await
            }
            Presentation::Raw(bytes) => s.write_all(&bytes).await,
        }
    }

    async fn capture_after_garbage(
        &self,
        s: &mut UnixStream,
        id: u64,
        deadline: tokio::time::Instant,
    ) -> std::io::Result<()> {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        self.capture(s, id, u32::try_from(left.as_millis()).unwrap_or(0)).await
    }

    async fn send_hand(&self, s: &mut UnixStream, id: u64, body: &str, hand: Hand) -> std::io::Result<()> {
        write(s, &Frame::new(Header::Progress { id, stage: Stage::Detected })).await?;
        write(s, &Frame::new(Header::Progress { id, stage: Stage::Capturing })).await?;
        let attempt = self.inner.attempts.fetch_add(1, Ordering::Relaxed);
        let pixels = synthetic_palm(body, hand, attempt);
        self.send_image(s, id, SIDE, SIDE, hand, pixels).await
    }

    async fn send_image(
        &self,
        s: &mut UnixStream,
        id: u64,
        width: u32,
        height: u32,
        hand: Hand,
        pixels: Vec<u8>,
    ) -> std::io::Result<()> {
        let header = Header::Image {
            id,
            format: ImageFormat::Gray8,
            width,
            height,
            dpi: DPI,
            wavelength_nm: WAVELENGTH_NM,
            hand,
            liveness: Some(0.99),
        };
        write(s, &Frame { header, payload: pixels }).await?;
        self.inner.captures.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

async fn write(s: &mut UnixStream, f: &Frame) -> std::io::Result<()> {
    let bytes = encode(f).map_err(|e| std::io::Error::other(e.0))?;
    s.write_all(&bytes).await
}

/// A synthetic NIR palm of a simulated person: a fresh impression of that body's hand from the simulator's
/// population (`palm::synthetic` vessel trees, pose, illumination and noise differing per attempt), the same
/// palm the in-process simulated reader shows, so a person enrolled at one matches at the other.
pub fn synthetic_palm(body: &str, hand: Hand, attempt: u64) -> Vec<u8> {
    let hand = if hand == Hand::Left { "left" } else { "right" };
    crate::sim::population::SimPopulation::default().palm_pixels(body, hand, attempt)
}
