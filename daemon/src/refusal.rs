//! A refused request and the code the CLI maps to its exit status: what every handler and flow answers with
//! when it changes nothing. Its own module (issue 20) so that flows, handlers and the router all use it without
//! importing the router.

use crate::store::StoreError;
use tobira_proto::ErrorCode;

/// What a handler answers: its result as JSON, or why it changed nothing.
pub type Answer = Result<serde_json::Value, Refusal>;

/// A refusal with the code the CLI maps to its exit status.
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn bad(msg: impl Into<String>) -> Self {
        Self { code: ErrorCode::BadRequest, message: msg.into() }
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self { code: ErrorCode::NotFound, message: msg.into() }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        let code = match e {
            StoreError::Conflict { .. } => ErrorCode::Conflict,
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            _ => ErrorCode::Internal,
        };
        Self { code, message: e.to_string() }
    }
}
