//! The palm-reader bridge protocol, version 1: a pure codec, bytes in and frames out (STYLE §1).
//!
//! Palm-vein sensors are sold with their vendors' SDKs, not with documented wire protocols, so tobira does
//! not drive them directly: a small helper process linked to the SDK (the *bridge*) listens on a UNIX
//! socket and speaks this protocol; the daemon's `palm-bridge` reader connects to it. The full
//! specification, for bridge authors, is `drivers/src/palm_bridge/PROTOCOL.md`.
//!
//! Wire format of every frame:
//!
//! ```text
//! "TPB1"  u32 BE body length  u32 BE header length  header (UTF-8 JSON)  payload (body − header bytes)
//! ```
//!
//! The magic lets a reader resynchronise after garbage; lengths are bounded before anything is allocated.
//! A bad frame is reported once as a [`Fault`] and skipped, so one garbled frame never stops the stream.

use serde::{Deserialize, Serialize};

pub const MAGIC: [u8; 4] = *b"TPB1";
pub const VERSION: u32 = 1;
/// Largest body (header + payload): a 2048×2048 8-bit image with room to spare.
pub const MAX_BODY: usize = 8 * 1024 * 1024;
pub const MAX_HEADER: usize = 64 * 1024;
/// Image sides a bridge may send; larger is refused before allocation.
pub const MAX_SIDE: u32 = 4096;
const PREFIX: usize = 12;

/// What the bridge tells the person while a capture is under way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Waiting for a hand.
    Waiting,
    /// A hand is over the sensor.
    Detected,
    /// Capturing: keep still.
    Capturing,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Header {
    /// Bridge → daemon, first frame on every connection.
    Hello {
        version: u32,
        vendor: String,
        model: String,
        serial: String,
        /// Near-infrared wavelength the sensor illuminates with, in nanometres.
        wavelength_nm: u16,
    },
    /// Daemon → bridge: capture one hand within `timeout_ms`.
    Capture {
        id: u64,
        timeout_ms: u32,
        prompt: String,
    },
    /// Daemon → bridge: give up capture `id`.
    Cancel {
        id: u64,
    },
    /// Daemon → bridge: show a result on the sensor's LEDs or display.
    Feedback {
        kind: FeedbackKind,
        text: String,
    },
    /// Bridge → daemon: where capture `id` stands.
    Progress {
        id: u64,
        stage: Stage,
    },
    /// Bridge → daemon: advice for the person (`code` for machines, `text` for people).
    Guidance {
        id: u64,
        code: String,
        text: String,
    },
    /// Bridge → daemon: the captured image; the payload holds `width × height` bytes, row by row.
    Image {
        id: u64,
        format: ImageFormat,
        width: u32,
        height: u32,
        dpi: u16,
        wavelength_nm: u16,
        hand: Hand,
        /// The sensor's own liveness (presentation attack) score in 0..=1, where it reports one.
        #[serde(default)]
        liveness: Option<f32>,
    },
    /// Bridge → daemon: capture `id` (or the bridge itself, without `id`) failed.
    Error {
        id: Option<u64>,
        code: ErrorCode,
        message: String,
    },
    Ping {
        nonce: u64,
    },
    Pong {
        nonce: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    /// 8-bit greyscale, one byte per pixel.
    Gray8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hand {
    Left,
    Right,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeedbackKind {
    Granted,
    Denied,
    Alarm,
    Idle,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// No hand within the timeout.
    Timeout,
    /// Another capture is under way.
    Busy,
    /// The sensor failed (disconnected, hardware error).
    Sensor,
    /// Cancelled by a `cancel`.
    Cancelled,
    /// The sensor's own presentation-attack detection refused the sample.
    Spoof,
    /// The request was not understood (version, malformed).
    Protocol,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub header: Header,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn new(header: Header) -> Frame {
        Frame { header, payload: Vec::new() }
    }
}

/// A frame that could not be read; the decoder has already skipped it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Fault {
    #[error("frame body of {0} bytes exceeds {MAX_BODY}")]
    TooLong(usize),
    #[error("header length {header} does not fit the body of {body} bytes (or exceeds {MAX_HEADER})")]
    BadHeaderLength { header: usize, body: usize },
    #[error("header is not a valid protocol message: {0}")]
    BadHeader(String),
    #[error("payload of {got} bytes does not match the header ({want} expected)")]
    PayloadMismatch { got: usize, want: usize },
    #[error("image {width}×{height} at {dpi} dpi is outside what a palm sensor sends")]
    BadImage { width: u32, height: u32, dpi: u16 },
}

/// Checks what JSON cannot: the payload matches the header, and image sizes are sane.
fn validate(h: &Header, payload_len: usize) -> Result<(), Fault> {
    match h {
        Header::Image { width, height, dpi, .. } => {
            if *width == 0 || *height == 0 || *width > MAX_SIDE || *height > MAX_SIDE || !(50..=2000).contains(dpi) {
                return Err(Fault::BadImage { width: *width, height: *height, dpi: *dpi });
            }
            let want = (*width as usize) * (*height as usize);
            if payload_len != want {
                return Err(Fault::PayloadMismatch { got: payload_len, want });
            }
        }
        _ if payload_len != 0 => return Err(Fault::PayloadMismatch { got: payload_len, want: 0 }),
        _ => {}
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
#[error("cannot encode frame: {0}")]
pub struct EncodeError(pub String);

pub fn encode(f: &Frame) -> Result<Vec<u8>, EncodeError> {
    let header = serde_json::to_vec(&f.header).map_err(|e| EncodeError(e.to_string()))?;
    validate(&f.header, f.payload.len()).map_err(|e| EncodeError(e.to_string()))?;
    let body = header.len() + f.payload.len();
    if header.len() > MAX_HEADER || body > MAX_BODY {
        return Err(EncodeError(format!("frame of {body} bytes is too large")));
    }
    let mut out = Vec::with_capacity(PREFIX + body);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&(body as u32).to_be_bytes());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&f.payload);
    Ok(out)
}

/// Incremental decoder: feed bytes as they arrive, take frames out.
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Bytes skipped while looking for the magic.
    pub garbage: u64,
    /// Frames dropped as faulty.
    pub faults: u64,
}

impl Decoder {
    pub fn new() -> Decoder {
        Decoder::default()
    }

    pub fn handle_input(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next frame, a fault (already skipped), or `None` when more bytes are needed.
    pub fn poll_frame(&mut self) -> Option<Result<Frame, Fault>> {
        // Resynchronise on the magic.
        match self.buf.windows(4).position(|w| w == MAGIC) {
            Some(0) => {}
            Some(n) => {
                self.garbage += n as u64;
                self.buf.drain(..n);
            }
            None => {
                // Keep a possible partial magic at the end.
                let keep = self.buf.len().min(3);
                let drop = self.buf.len() - keep;
                self.garbage += drop as u64;
                self.buf.drain(..drop);
                return None;
            }
        }
        if self.buf.len() < PREFIX {
            return None;
        }
        let body = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        let header_len = u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]]) as usize;
        if body > MAX_BODY {
            return Some(Err(self.skip(Fault::TooLong(body))));
        }
        if header_len > body || header_len > MAX_HEADER {
            return Some(Err(self.skip(Fault::BadHeaderLength { header: header_len, body })));
        }
        if self.buf.len() < PREFIX + body {
            return None;
        }
        let frame: Vec<u8> = self.buf.drain(..PREFIX + body).collect();
        let (header, payload) = frame[PREFIX..].split_at(header_len);
        let header: Header = match serde_json::from_slice(header) {
            Ok(h) => h,
            Err(e) => {
                self.faults += 1;
                return Some(Err(Fault::BadHeader(e.to_string())));
            }
        };
        if let Err(f) = validate(&header, payload.len()) {
            self.faults += 1;
            return Some(Err(f));
        }
        Some(Ok(Frame { header, payload: payload.to_vec() }))
    }

    /// Drops the magic of a frame whose lengths cannot be trusted, so the search restarts after it.
    fn skip(&mut self, f: Fault) -> Fault {
        self.faults += 1;
        self.buf.drain(..4);
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn image(w: u32, h: u32) -> Frame {
        Frame {
            header: Header::Image {
                id: 7,
                format: ImageFormat::Gray8,
                width: w,
                height: h,
                dpi: 250,
                wavelength_nm: 850,
                hand: Hand::Right,
                liveness: Some(0.98),
            },
            payload: (0..w * h).map(|i| (i % 251) as u8).collect(),
        }
    }

    fn decode_all(bytes: &[u8]) -> (Vec<Frame>, Vec<Fault>) {
        let mut d = Decoder::new();
        d.handle_input(bytes);
        let (mut ok, mut bad) = (Vec::new(), Vec::new());
        while let Some(r) = d.poll_frame() {
            match r {
                Ok(f) => ok.push(f),
                Err(f) => bad.push(f),
            }
        }
        (ok, bad)
    }

    #[test]
    fn the_wire_shape_is_stable() {
        let b =
            encode(&Frame::new(Header::Capture {
                id: 1, timeout_ms: 15000, prompt: "手をかざしてください".into()
            }))
            .unwrap();
        assert_eq!(&b[..4], b"TPB1");
        let header = r#"{"type":"capture","id":1,"timeout_ms":15000,"prompt":"手をかざしてください"}"#.as_bytes();
        assert_eq!(u32::from_be_bytes(b[4..8].try_into().unwrap()) as usize, header.len());
        assert_eq!(u32::from_be_bytes(b[8..12].try_into().unwrap()) as usize, header.len());
        assert_eq!(&b[12..], header);
    }

    #[test]
    fn frames_round_trip_in_any_chunking() {
        let frames = vec![
            Frame::new(Header::Hello {
                version: 1,
                vendor: "v".into(),
                model: "m".into(),
                serial: "s".into(),
                wavelength_nm: 850,
            }),
            Frame::new(Header::Progress { id: 7, stage: Stage::Detected }),
            image(64, 48),
            Frame::new(Header::Error { id: None, code: ErrorCode::Sensor, message: "unplugged".into() }),
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(|f| encode(f).unwrap()).collect();
        for chunk in [1, 3, 11, 4096] {
            let mut d = Decoder::new();
            let mut got = Vec::new();
            for c in bytes.chunks(chunk) {
                d.handle_input(c);
                while let Some(r) = d.poll_frame() {
                    got.push(r.unwrap());
                }
            }
            assert_eq!(got, frames, "chunk {chunk}");
        }
    }

    #[test]
    fn garbage_and_bad_frames_are_counted_and_survived() {
        let good = encode(&Frame::new(Header::Ping { nonce: 9 })).unwrap();
        let mut bytes = b"noise\xff\x00".to_vec();
        // A frame whose header is not a protocol message.
        let bad_header = br#"{"type":"format-disk"}"#;
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&(bad_header.len() as u32).to_be_bytes());
        bytes.extend_from_slice(&(bad_header.len() as u32).to_be_bytes());
        bytes.extend_from_slice(bad_header);
        // A frame claiming an enormous body.
        bytes.extend_from_slice(&MAGIC);
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        bytes.extend_from_slice(&0u32.to_be_bytes());
        bytes.extend_from_slice(&good);
        let mut d = Decoder::new();
        d.handle_input(&bytes);
        let mut results = Vec::new();
        while let Some(r) = d.poll_frame() {
            results.push(r);
        }
        assert!(matches!(results[0], Err(Fault::BadHeader(_))));
        assert!(matches!(results[1], Err(Fault::TooLong(_))));
        assert_eq!(results[2], Ok(Frame::new(Header::Ping { nonce: 9 })));
        assert_eq!(d.faults, 2);
        assert!(d.garbage >= 7);
    }

    #[test]
    fn image_payload_must_match_its_header() {
        let mut f = image(8, 8);
        f.payload.pop();
        assert!(encode(&f).is_err(), "the encoder refuses it too");
        let mut bytes = encode(&image(8, 8)).unwrap();
        // Shorten the payload but keep the lengths consistent: the image header now lies.
        bytes.truncate(bytes.len() - 1);
        let body = (bytes.len() - PREFIX) as u32;
        bytes[4..8].copy_from_slice(&body.to_be_bytes());
        let (ok, bad) = decode_all(&bytes);
        assert!(ok.is_empty());
        assert_eq!(bad, vec![Fault::PayloadMismatch { got: 63, want: 64 }]);
        let huge = Frame::new(Header::Image {
            id: 1,
            format: ImageFormat::Gray8,
            width: 100_000,
            height: 1,
            dpi: 250,
            wavelength_nm: 850,
            hand: Hand::Left,
            liveness: None,
        });
        assert!(encode(&huge).is_err());
    }

    proptest! {
        /// Whatever arrives, the decoder never panics and never holds more than one frame's worth of bytes.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let mut d = Decoder::new();
            d.handle_input(&bytes);
            let mut n = 0;
            while let Some(_r) = d.poll_frame() {
                n += 1;
                prop_assert!(n < 10_000);
            }
        }

        /// A good frame after arbitrary noise is still found.
        #[test]
        fn a_good_frame_survives_leading_noise(noise in proptest::collection::vec(any::<u8>(), 0..512), nonce in any::<u64>()) {
            let f = Frame::new(Header::Pong { nonce });
            let mut bytes = noise.clone();
            bytes.extend_from_slice(&encode(&f).unwrap());
            // Feed the frame three more times: noise may have swallowed the first (a fake magic with a long length).
            for _ in 0..3 {
                bytes.extend_from_slice(&encode(&f).unwrap());
            }
            let (ok, _) = decode_all(&bytes);
            prop_assert!(ok.contains(&f));
        }
    }
}
