//! The daemon's two local sockets: `control` (the CLI, the console, the demo) and `login` (pam_tobira.so).

pub mod control;
pub mod login;
