//! DigitalPersona U.are.U 4000/4000B/4500 USB fingerprint readers (and the Microsoft Fingerprint Reader
//! built on them): the image decoder ([`image`], pure) and the USB driver through `rusb` ([`UruReader`]).
//! Facts and their sources: ../shared/protocols/uru4000.md.

pub mod image;
pub mod pcap;
mod reader;
pub mod usb;

pub use reader::UruReader;

pub use usb::{PROFILES, Profile, UruConfig, UruDevice, UsbError};
