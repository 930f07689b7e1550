//! tobira's tamper-evident audit store (DESIGN "Audit store").
//!
//! Every check and every administrative act is an event appended to a SQLite table in a SHA-256 hash chain;
//! the chain head is signed with the node's Ed25519 key at checkpoints (every N events and at shutdown) and
//! the latest signed head is also kept in a sidecar file, so altering, deleting, reordering or truncating
//! history is caught by [`verify`]. An append returns only once the event is durable on disk
//! (WAL, synchronous=FULL): the daemon opens a door only after that.

pub mod anchors;
pub mod backup;
mod disk;
mod error;
mod event;
pub mod fault;
pub mod log;
pub mod merkle;
pub mod rejoin;
mod signing;
mod store;
pub mod trust;
mod verify;
pub mod witness;
mod writer;

pub mod bench;

pub use error::AuditError;
pub use event::{EventField, EventRow, NewEvent, Outcome, StoredEvent, canonical_hash, time_text};
pub use signing::Signer;
pub use store::{AuditStore, Filter, read_public_key, read_store_key};
pub use verify::{VerifyFailure, VerifyReport, verify};
pub use writer::{AuditWriter, Receipt};

/// Seven years of retention (000 §9(3), 003 §17).
pub const RETENTION_YEARS: i32 = 7;
