//! tobira: the daemon `tobirad` (the CLI `tobira` and the demo are `tobira-cli`, in cli/).
//!
//! The pure rules live in `tobira-core`, matching in `tobira-biometrics`, devices in `tobira-drivers`, the
//! audit chain in `tobira-audit`. This crate is the edge: it wires them to the stores, the sockets and the
//! clock, in the order every flow must keep — decide, record durably, only then act.
//!
//! Its modules, from the bottom up; each imports only those listed before it (`scripts/check-layout` fails
//! on an import circle, DESIGN "Layout"):
//!
//! - `secrets` (keys, template sealing, transport wrapping) and `store` (the registry database; the key
//!   ring reconciles the node key with it);
//! - `refusal`: what a request that changes nothing answers;
//! - `sim`: the simulated devices of a `--simulation` daemon;
//! - `node`: the node's state (`Daemon`; the `Recorder` and `Live` handles flows hold), options, clock, trust anchor;
//! - `central`: shipping to the centre, tree heads, registry sync and publish;
//! - `flows`: identify, the actor's proof, doors, login, enrollment;
//! - `admin`: the control requests' router and handlers;
//! - `sockets`: the control and login sockets;
//! - `run`: start-up, the tasks, a clean stop.

pub mod admin;
pub mod central;
pub mod flows;
pub mod node;
pub mod refusal;
pub mod run;
pub mod secrets;
pub mod sim;
pub mod sockets;
pub mod store;
