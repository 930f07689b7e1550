//! The `tobira` command: a client of the daemon's control socket (administration, the simulator's remote
//! control, ledgers and history), the offline audit checks, and the demo, which starts `tobirad` as a child
//! and plays the demo site on simulated devices.

pub mod audit;
pub mod cli;
pub mod client;
pub mod demo;
pub mod harness;
pub mod local_time;
pub mod mitm;
pub mod prompt;
pub mod restore;
pub mod restore_centre;
pub mod trust;
pub mod witness;
