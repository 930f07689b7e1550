//! tobira: the daemon `tobirad` and the CLI `tobira`.
//!
//! The pure rules live in `tobira-core`, matching in `tobira-biometrics`, devices in `tobira-drivers`, the
//! audit chain in `tobira-audit`. This crate is the edge: it wires them to the stores, the sockets and the
//! clock, in the order every flow must keep — decide, record durably, only then act.

pub mod actor;
pub mod alarms;
pub mod audit_cmd;
pub mod centre_cli;
pub mod cli;
pub mod client;
pub mod clock;
pub mod commands;
pub mod control;
pub mod crypto;
pub mod daemon;
pub mod demo;
mod demo_admin;
mod demo_doors;
mod demo_palm;
pub mod doors;
pub mod enroll;
pub mod enroll_palm;
pub mod erase;
pub mod identify;
pub mod keyring;
pub mod keys;
pub mod ledger;
pub mod ledger_extra;
pub mod login;
pub mod login_socket;
pub mod options;
pub mod registry_publish;
pub mod registry_sync;
pub mod requests;
pub mod review;
pub mod run;
pub mod shipper;
pub mod sim;
pub mod sim_r30x;
pub mod store;
pub mod table;
pub mod transport;
pub mod tree_heads;
pub mod trust;
pub mod trust_cli;
pub mod viewer;
