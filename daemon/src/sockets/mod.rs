//! The daemon's two local sockets: `control` (the CLI, the console, the demo) and `login` (pam_tobira.so);
//! and the opt-in `metrics` endpoint for the city's monitoring (TCP, meant for localhost).

pub mod control;
pub mod login;
pub mod metrics;
