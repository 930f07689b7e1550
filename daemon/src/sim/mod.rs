//! The simulated devices (`--simulation`): below the node state, which holds them.

pub mod devices;
pub mod r30x;
