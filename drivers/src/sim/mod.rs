//! Simulated devices (STYLE §8: the simulator is a driver). They implement the same traits as real
//! devices and are scripted through their handles: present a sample, walk through, force a door, unplug.

mod door;
pub mod population;
mod reader;

pub use door::{SimDoor, SimDoorHandle};
pub use reader::{SimReader, SimReaderHandle};
