//! The node's side of the centre (multi-node sites, issue 7): shipping the audit log, the signed tree heads
//! its witness countersigns, and the registry's two directions (publish local changes, apply the centre's).

pub mod registry_publish;
pub mod registry_sync;
pub mod shipper;
pub mod sync_error;
pub mod tree_heads;
