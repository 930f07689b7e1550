//! The daemon's side of the palm-reader bridge: connects to the bridge's UNIX socket, checks its hello,
//! asks for one capture at a time, relays its progress and guidance, and hands the image over as a
//! [`Sample`]. A bridge that goes away is reported `Offline` and reconnected on the next capture, with a
//! growing delay so a dead bridge is not hammered; a garbled frame is counted, logged and skipped.

use super::codec::{Decoder, ErrorCode, FeedbackKind, Frame, Header, VERSION, encode};
use crate::{BoxFuture, DeviceError, Feedback, Misbehaviour, Modality, Reader, Sample};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::Mutex;

#[derive(Debug, Clone)]
pub struct PalmBridgeConfig {
    pub socket: PathBuf,
    /// How long a capture may take before the bridge is asked to give up (it answers `timeout` itself too).
    pub capture_timeout: Duration,
    /// How long the bridge may take to say hello after connecting.
    pub hello_timeout: Duration,
}

impl PalmBridgeConfig {
    pub fn new(socket: impl Into<PathBuf>) -> Self {
        Self { socket: socket.into(), capture_timeout: Duration::from_secs(15), hello_timeout: Duration::from_secs(2) }
    }
}

/// What the bridge said about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeInfo {
    pub vendor: String,
    pub model: String,
    pub serial: String,
    pub wavelength_nm: u16,
}

struct Conn {
    stream: UnixStream,
    dec: Decoder,
}

struct State {
    conn: Option<Conn>,
    info: Option<BridgeInfo>,
    /// Consecutive failed connects: the delay before the next attempt doubles with each, up to 30 s.
    failures: u32,
    retry_after: Option<tokio::time::Instant>,
    /// A capture asked of the bridge and not answered yet. A caller that stops waiting (a door task's
    /// `select!` taking another event) leaves it running: the next call waits for the same capture instead
    /// of asking for a new one, so a hand held out meanwhile is not answered to a capture nobody reads.
    in_flight: Option<InFlight>,
}

/// A capture asked of the bridge and not answered yet.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u64,
    /// When it is given up. Kept across resumed calls: a caller that stops waiting every few hundred
    /// milliseconds (a reader in a fault episode polls its health) must not restart the clock each time, or a
    /// bridge that never answers this capture would never be given up (issue 15: a palm bridge that lies).
    deadline: tokio::time::Instant,
    /// Garbled frames counted before it was asked: more by the deadline, and the bridge misbehaved.
    faults_before: u64,
}

pub struct PalmBridgeReader {
    id: String,
    cfg: PalmBridgeConfig,
    state: Mutex<State>,
    next_capture: AtomicU64,
    /// Garbled frames and garbage bytes seen (counted, logged, survived).
    pub faults: AtomicU64,
    /// The bridge answered the last capture (an image, or its own `timeout`/`busy`): a greeting alone does
    /// not count, since a hung bridge may still accept connections and greet.
    healthy: std::sync::atomic::AtomicBool,
    /// Guidance messages from the bridge for the person ("hold your hand flatter"), latest last.
    pub guidance: std::sync::Mutex<Vec<String>>,
}

impl PalmBridgeReader {
    pub fn new(id: impl Into<String>, cfg: PalmBridgeConfig) -> Self {
        Self {
            id: id.into(),
            cfg,
            state: Mutex::new(State { conn: None, info: None, failures: 0, retry_after: None, in_flight: None }),
            next_capture: AtomicU64::new(1),
            faults: AtomicU64::new(0),
            healthy: std::sync::atomic::AtomicBool::new(false),
            guidance: std::sync::Mutex::new(Vec::new()),
        }
    }

    pub async fn info(&self) -> Option<BridgeInfo> {
        self.state.lock().await.info.clone()
    }

    fn offline(&self) -> DeviceError {
        DeviceError::Offline { device: self.id.clone() }
    }

    async fn connect(&self, st: &mut State) -> Result<(), DeviceError> {
        if st.conn.is_some() {
            return Ok(());
        }
        if let Some(t) = st.retry_after
            && tokio::time::Instant::now() < t
        {
            return Err(self.offline());
        }
        match self.handshake().await {
            Ok((conn, info)) => {
                if st.failures > 0 {
                    tracing::info!(device = %self.id, "palm bridge is back");
                }
                st.conn = Some(conn);
                st.in_flight = None;
                st.info = Some(info);
                st.failures = 0;
                st.retry_after = None;
                Ok(())
            }
            Err(e) => {
                self.healthy.store(false, Ordering::Release);
                st.failures = st.failures.saturating_add(1);
                let delay = Duration::from_millis(250u64 << st.failures.min(7)).min(Duration::from_secs(30));
                st.retry_after = Some(tokio::time::Instant::now() + delay);
                if st.failures == 1 {
                    tracing::warn!(device = %self.id, error = %e, "palm bridge unreachable; retrying with backoff");
                }
                Err(e)
            }
        }
    }

    async fn handshake(&self) -> Result<(Conn, BridgeInfo), DeviceError> {
        let stream = UnixStream::connect(&self.cfg.socket).await.map_err(|_| self.offline())?;
        let mut conn = Conn { stream, dec: Decoder::new() };
        let first = tokio::time::timeout(self.cfg.hello_timeout, self.read_frame(&mut conn))
            .await
            .map_err(|_| DeviceError::NoAnswer { device: self.id.clone() })??;
        match first.header {
            Header::Hello { version, vendor, model, serial, wavelength_nm } if version == VERSION => {
                tracing::info!(device = %self.id, %vendor, %model, wavelength_nm, "palm bridge connected");
                Ok((conn, BridgeInfo { vendor, model, serial, wavelength_nm }))
            }
            Header::Hello { version, .. } => {
                tracing::error!(device = %self.id, version, "palm bridge speaks another protocol version");
                Err(DeviceError::DeviceMisbehaved { device: self.id.clone(), fault: Misbehaviour::UnexpectedFrame })
            }
            _ => Err(DeviceError::DeviceMisbehaved { device: self.id.clone(), fault: Misbehaviour::UnexpectedFrame }),
        }
    }

    /// The next good frame; faults are counted and skipped, end of stream is `Offline`.
    async fn read_frame(&self, conn: &mut Conn) -> Result<Frame, DeviceError> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(r) = conn.dec.poll_frame() {
                match r {
                    Ok(f) => return Ok(f),
                    Err(fault) => {
                        self.faults.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(device = %self.id, %fault, "garbled frame from the palm bridge skipped");
                    }
                }
            }
            let n = conn
                .stream
                .read(&mut buf)
                .await
                .map_err(|source| DeviceError::Io { device: self.id.clone(), source })?;
            if n == 0 {
                return Err(self.offline());
            }
            conn.dec.handle_input(&buf[..n]);
        }
    }

    async fn send(&self, conn: &mut Conn, f: &Frame) -> Result<(), DeviceError> {
        let bytes =
            encode(f).map_err(|e| DeviceError::Io { device: self.id.clone(), source: std::io::Error::other(e.0) })?;
        conn.stream.write_all(&bytes).await.map_err(|source| DeviceError::Io { device: self.id.clone(), source })
    }

    async fn capture(&self) -> Result<Sample, DeviceError> {
        let mut guard = self.state.lock().await;
        let st = &mut *guard;
        self.connect(st).await?;
        let resumed = st.in_flight;
        let InFlight { id, deadline, faults_before } = resumed.unwrap_or_else(|| InFlight {
            id: self.next_capture.fetch_add(1, Ordering::Relaxed),
            deadline: tokio::time::Instant::now() + self.cfg.capture_timeout + Duration::from_secs(1),
            faults_before: self.faults.load(Ordering::Relaxed),
        });
        // Marked before the request is sent: if this call is dropped from here on, the next one resumes.
        st.in_flight = Some(InFlight { id, deadline, faults_before });
        let Some(conn) = st.conn.as_mut() else { return Err(self.offline()) };
        let timeout_ms = u32::try_from(self.cfg.capture_timeout.as_millis()).unwrap_or(u32::MAX);
        let ask = Frame::new(Header::Capture { id, timeout_ms, prompt: "Hold your hand over the sensor".into() });
        let result = async {
            if resumed.is_none() {
                self.send(conn, &ask).await?;
            }
            loop {
                let f = self.read_frame(conn).await?;
                match f.header {
                    Header::Image { id: got, width, height, dpi, wavelength_nm, .. } if got == id => {
                        return Ok(Sample::PalmNir { width, height, dpi, wavelength_nm, pixels: f.payload });
                    }
                    Header::Progress { id: got, stage } if got == id => {
                        tracing::debug!(device = %self.id, ?stage, "palm capture progress");
                    }
                    Header::Guidance { id: got, text, .. } if got == id => {
                        if let Ok(mut g) = self.guidance.lock() {
                            g.push(text);
                        }
                    }
                    Header::Error { id: Some(got), code, message } if got == id => {
                        tracing::info!(device = %self.id, ?code, %message, "palm capture failed");
                        return Err(match code {
                            ErrorCode::Timeout | ErrorCode::Cancelled => {
                                DeviceError::Timeout { device: self.id.clone() }
                            }
                            ErrorCode::Busy => DeviceError::Busy { device: self.id.clone() },
                            ErrorCode::Sensor => self.offline(),
                            ErrorCode::Spoof | ErrorCode::Protocol => DeviceError::DeviceMisbehaved {
                                device: self.id.clone(),
                                fault: Misbehaviour::UnexpectedFrame,
                            },
                        });
                    }
                    Header::Error { id: None, code, message } => {
                        tracing::warn!(device = %self.id, ?code, %message, "palm bridge reports a fault");
                        if code == ErrorCode::Sensor {
                            return Err(self.offline());
                        }
                    }
                    Header::Ping { nonce } => self.send(conn, &Frame::new(Header::Pong { nonce })).await?,
                    // A late answer to a capture that was given up: not ours any more.
                    _ => tracing::debug!(device = %self.id, "stale frame from the palm bridge ignored"),
                }
            }
        };
        let r = tokio::time::timeout_at(deadline, result).await;
        let r = match r {
            Ok(r) => r,
            Err(_) => {
                // The bridge times the capture itself and answers `timeout` when nobody came; silence
                // beyond that is the bridge failing, not an empty reader (issue 15).
                let _ = self.send(conn, &Frame::new(Header::Cancel { id })).await;
                // Frames the bridge garbled while this capture waited: an answer we could not take is a
                // bridge that misbehaves, not one that is silent (issue 15: a palm bridge that lies).
                if self.faults.load(Ordering::Relaxed) > faults_before {
                    Err(DeviceError::DeviceMisbehaved { device: self.id.clone(), fault: Misbehaviour::Garbled })
                } else {
                    Err(DeviceError::NoAnswer { device: self.id.clone() })
                }
            }
        };
        // Answered, failed or given up: the next call asks for a new capture.
        st.in_flight = None;
        if matches!(r, Ok(_) | Err(DeviceError::Timeout { .. } | DeviceError::Busy { .. })) {
            self.healthy.store(true, Ordering::Release);
        }
        // A bridge that garbled its answer is not healthy either: otherwise the next health check would call
        // it recovered before it ever answered properly (a fault and a recovery per capture: a storm).
        if matches!(
            r,
            Err(DeviceError::Offline { .. }
                | DeviceError::Io { .. }
                | DeviceError::NoAnswer { .. }
                | DeviceError::DeviceMisbehaved { .. })
        ) {
            self.healthy.store(false, Ordering::Release);
            st.conn = None; // reconnect on the next capture
        }
        r
    }
}

impl Reader for PalmBridgeReader {
    fn id(&self) -> &str {
        &self.id
    }

    fn modality(&self) -> Modality {
        Modality::Palm
    }

    fn next_sample(&self) -> BoxFuture<'_, Result<Sample, DeviceError>> {
        Box::pin(self.capture())
    }

    fn healthy(&self) -> Option<bool> {
        Some(self.healthy.load(Ordering::Acquire))
    }

    fn feedback(&self, fb: Feedback) -> BoxFuture<'_, Result<(), DeviceError>> {
        Box::pin(async move {
            let (kind, text) = match fb {
                Feedback::Granted => (FeedbackKind::Granted, String::new()),
                Feedback::Denied | Feedback::LockedOut => (FeedbackKind::Denied, String::new()),
                Feedback::Alarm => (FeedbackKind::Alarm, String::new()),
                Feedback::Idle => (FeedbackKind::Idle, String::new()),
                Feedback::Prompt(p) => (FeedbackKind::Idle, p),
            };
            let mut st = self.state.lock().await;
            match st.conn.as_mut() {
                Some(conn) => self.send(conn, &Frame::new(Header::Feedback { kind, text })).await,
                None => Ok(()),
            }
        })
    }
}
