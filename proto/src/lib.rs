//! The messages and framing of tobirad's local sockets.
//!
//! Shared by the daemon (tokio), the `tobira` CLI (blocking std I/O) and, later, the PAM module, which must
//! link no async runtime — so this crate is serde plus a pure frame codec and nothing else.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. The length is bounded by
//! [`MAX_FRAME`] so a peer that lies about it cannot make the reader allocate without limit.

mod control;
mod frame;
mod login;

pub use control::*;
pub use frame::{FrameDecoder, FrameError, MAX_FRAME, encode, read_frame, write_frame};
pub use login::*;
