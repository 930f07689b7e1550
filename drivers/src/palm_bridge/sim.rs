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

pub const SIDE: u32 = 192;
pub const DPI: u16 = 100;
pub const WAVELENGTH_NM: u16 = 850;

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
        let header = Header::Image {
            id,
            format: ImageFormat::Gray8,
            width: SIDE,
            height: SIDE,
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

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// xorshift64*: deterministic, good enough for synthetic textures.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A synthetic NIR palm: a bright palm on a dark background with darker vein curves fixed by (body, hand),
/// and per-attempt shift and sensor noise. Stands in for a sensor until the palm pipeline (issue 4) has
/// real images to learn from; it exercises the transport, not the matcher.
pub fn synthetic_palm(body: &str, hand: Hand, attempt: u64) -> Vec<u8> {
    let side = SIDE as usize;
    let mut veins = Rng(fnv(body) ^ (hand as u64).wrapping_mul(0x9e37_79b9) | 1);
    let mut noise = Rng(fnv(body).rotate_left(17) ^ attempt.wrapping_mul(0x2545_f491) | 1);
    let (dx, dy) = (noise.unit() * 6.0 - 3.0, noise.unit() * 6.0 - 3.0);
    // Vein curves: quadratic Béziers across the palm.
    let curves: Vec<[(f32, f32); 3]> = (0..7)
        .map(|_| {
            let p = |r: &mut Rng| (30.0 + r.unit() * 132.0, 30.0 + r.unit() * 132.0);
            [p(&mut veins), p(&mut veins), p(&mut veins)]
        })
        .collect();
    let mut img = vec![0u8; side * side];
    let c = side as f32 / 2.0;
    for y in 0..side {
        for x in 0..side {
            let (fx, fy) = (x as f32 - dx, y as f32 - dy);
            let r = (((fx - c) / 80.0).powi(2) + ((fy - c) / 88.0).powi(2)).sqrt();
            let mut v = if r < 1.0 { 175.0 - 40.0 * r * r } else { 35.0 };
            if r < 1.0 {
                for curve in &curves {
                    let d = bezier_distance(curve, fx, fy);
                    v -= 55.0 * (-(d * d) / 18.0).exp();
                }
            }
            v += noise.unit() * 10.0 - 5.0;
            img[y * side + x] = v.clamp(0.0, 255.0) as u8;
        }
    }
    img
}

fn bezier_distance(c: &[(f32, f32); 3], x: f32, y: f32) -> f32 {
    let mut best = f32::MAX;
    for i in 0..=24 {
        let t = i as f32 / 24.0;
        let u = 1.0 - t;
        let px = u * u * c[0].0 + 2.0 * u * t * c[1].0 + t * t * c[2].0;
        let py = u * u * c[0].1 + 2.0 * u * t * c[1].1 + t * t * c[2].1;
        best = best.min((px - x).hypot(py - y));
    }
    best
}
