//! The R30x "EF 01" UART protocol (R307, R503, AS608, ZFM-20): a pure codec — bytes in, packets out —
//! that never touches a port or a clock (STYLE §1). Facts and their sources: ../shared/protocols/R30x.md.
//!
//! Call order: feed whatever the port delivered to [`Decoder::handle_input`], then take packets with
//! [`Decoder::poll_packet`] until it returns `None`. Garbage before a header is skipped and counted;
//! a bad checksum or an impossible length is reported once as a [`Fault`] and the decoder resynchronises on
//! the next `EF 01`, so a noisy line never stops the stream.

mod command;
mod driver;
mod image;
mod module;
mod packet;
pub mod sim;

pub use command::{Ack, Command, ConfirmationCode, SysParams, parse_sys_params};
pub use driver::{FACTORY_BAUD, FASTEST_BAUD, R30xConfig, R30xReader, probe_order};
pub use image::{IMAGE_BYTES_4BPP, IMAGE_HEIGHT, IMAGE_WIDTH, unpack_4bpp};
pub use module::{BaudChange, Led, Module, ModuleConfig};
pub use packet::{DEFAULT_ADDRESS, Decoder, Fault, MAX_PAYLOAD, Packet, Pid, checksum, encode};
