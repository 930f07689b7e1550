//! Palm-vein readers through a bridge process (issue 5 §4): the market's palm-vein sensors are driven by
//! their vendors' SDKs, so a small helper linked to the SDK speaks this documented, versioned protocol over
//! a UNIX socket and the daemon's [`PalmBridgeReader`] drives it. Specification: `PROTOCOL.md` beside this
//! file. [`sim::SimBridge`] is the reference bridge the simulator runs.

pub mod codec;
mod driver;
pub mod sim;

pub use driver::{BridgeInfo, PalmBridgeConfig, PalmBridgeReader};
