//! Length-prefixed JSON frames: a pure decoder for the daemon and blocking helpers for clients.

use serde::{Serialize, de::DeserializeOwned};
use std::io::{Read, Write};

/// Largest frame either side accepts. Control messages are small; audit listings are paged well below this.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame of {len} bytes exceeds the limit of {MAX_FRAME} bytes")]
    TooLarge { len: usize },
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("I/O error on the socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Encodes one message as a frame.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(msg)?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge { len: body.len() });
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Incremental decoder: feed it whatever bytes arrived with [`FrameDecoder::handle_input`], then take
/// complete messages with [`FrameDecoder::poll_frame`]. It never reads a socket itself.
#[derive(Default)]
pub struct FrameDecoder {
    buf: Vec<u8>,
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn handle_input(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Returns the next complete frame's message, `Ok(None)` when more bytes are needed.
    /// A length above [`MAX_FRAME`] is an error before any of the body is buffered.
    pub fn poll_frame<T: DeserializeOwned>(&mut self) -> Result<Option<T>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLarge { len });
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&self.buf[4..4 + len]);
        self.buf.drain(..4 + len);
        Ok(Some(msg?))
    }
}

/// Blocking write of one frame (CLI, PAM module).
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Blocking read of one frame (CLI, PAM module). `Ok(None)` on a clean end of stream before a frame.
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R) -> Result<Option<T>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..])?;
        if n == 0 {
            return if got == 0 { Ok(None) } else { Err(FrameError::Truncated) };
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge { len });
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof { FrameError::Truncated } else { FrameError::Io(e) }
    })?;
    Ok(Some(serde_json::from_slice(&body)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_split_anywhere() {
        let msgs = vec!["a".to_string(), "いろは".to_string(), String::new()];
        let mut bytes = Vec::new();
        for m in &msgs {
            bytes.extend(encode(m).unwrap());
        }
        for split in 0..bytes.len() {
            let mut d = FrameDecoder::new();
            let mut out: Vec<String> = Vec::new();
            d.handle_input(&bytes[..split]);
            while let Some(m) = d.poll_frame().unwrap() {
                out.push(m);
            }
            d.handle_input(&bytes[split..]);
            while let Some(m) = d.poll_frame().unwrap() {
                out.push(m);
            }
            assert_eq!(out, msgs, "split at {split}");
            assert_eq!(d.pending(), 0);
        }
    }

    #[test]
    fn lying_length_is_refused_before_buffering() {
        let mut d = FrameDecoder::new();
        d.handle_input(&u32::MAX.to_be_bytes());
        assert!(matches!(d.poll_frame::<String>(), Err(FrameError::TooLarge { .. })));
    }

    #[test]
    fn garbage_body_is_malformed_not_panic() {
        let mut d = FrameDecoder::new();
        d.handle_input(&[0, 0, 0, 3, b'{', 0xff, b'}']);
        assert!(matches!(d.poll_frame::<String>(), Err(FrameError::Malformed(_))));
    }

    #[test]
    fn blocking_helpers_detect_truncation() {
        let bytes = encode(&"hello".to_string()).unwrap();
        let mut r = &bytes[..bytes.len() - 1];
        assert!(matches!(read_frame::<_, String>(&mut r), Err(FrameError::Truncated)));
        let mut r = &bytes[..];
        assert_eq!(read_frame::<_, String>(&mut r).unwrap().as_deref(), Some("hello"));
        let mut empty: &[u8] = &[];
        assert!(read_frame::<_, String>(&mut empty).unwrap().is_none());
    }
}
