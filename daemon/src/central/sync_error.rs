//! Why a round of the registry exchange with the centre stopped (logged; the task reconnects and resumes
//! from the last applied version, so nothing is lost).

use crate::secrets::crypto::SealError;
use crate::secrets::transport::TransportKeyError;

/// What failed while applying the centre's registry changes or publishing this node's.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The local registry store.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The change could not be audited here, so it is not applied (audit first).
    #[error(transparent)]
    Audit(#[from] tobira_audit::AuditError),
    #[error("{0}")]
    Central(#[from] tobira_central::CentralError),
    /// The centre's database connection or its notification listener.
    #[error("{0}")]
    Db(#[from] sqlx::Error),
    /// The node refused to apply the change (the refusal's message).
    #[error("{0}")]
    Refused(String),
    /// A change's payload is not what its kind says (`person`, `grant`, `approval`, `visit`, `template`).
    #[error("{what}: {source}")]
    Payload { what: &'static str, source: serde_json::Error },
    #[error("template: no {0}")]
    TemplateField(&'static str),
    #[error("template {id}: key not hex")]
    KeyNotHex { id: String },
    #[error("template {id}: ciphertext not hex")]
    CiphertextNotHex { id: String },
    /// A template's data key could not be opened or wrapped.
    #[error("template {id}: {source}")]
    TemplateKey { id: String, source: SealError },
    /// Sealing under this node's key (the message as the crypto layer gives it).
    #[error("{0}")]
    Seal(SealError),
    #[error("{0}")]
    TransportKey(#[from] TransportKeyError),
    #[error("publishing to the centre: {0}")]
    Publish(Box<SyncError>),
    #[error("wrapping templates for new nodes: {0}")]
    WrapForNewcomers(Box<SyncError>),
}
