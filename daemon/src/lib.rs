//! tobira: the daemon `tobirad` (the CLI `tobira` and the demo are `tobira-cli`, in cli/).
//!
//! The pure rules live in `tobira-core`, matching in `tobira-biometrics`, devices in `tobira-drivers`, the
//! audit chain in `tobira-audit`. This crate is the edge: it wires them to the stores, the sockets and the
//! clock, in the order every flow must keep — decide, record durably, only then act.

pub mod actor;
pub mod alarms;
pub mod audit_cmd;
pub mod clock;
pub mod commands;
pub mod control;
pub mod crypto;
pub mod daemon;
pub mod doors;
pub mod enroll;
pub mod enroll_palm;
pub mod erase;
pub mod identify;
pub mod init;
pub mod keyring;
pub mod keys;
pub mod ledger_cmd;
pub mod login;
pub mod login_socket;
pub mod options;
pub mod prompts;
pub mod registry_publish;
pub mod registry_sync;
pub mod requests;
pub mod review;
pub mod run;
pub mod shipper;
pub mod sim;
pub mod sim_r30x;
pub mod store;
pub mod transport;
pub mod tree_heads;
pub mod trust;
pub mod trust_cli;
pub mod viewer;
