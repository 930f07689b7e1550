//! Keys and what they protect: key files (`keys`), template sealing (`crypto`), the node key's reconciliation
//! with the registry and its rotation (`keyring`, over the store), and wrapping data keys for other nodes
//! (`transport`). No node state.

pub mod crypto;
pub mod keyring;
pub mod keys;
pub mod transport;
