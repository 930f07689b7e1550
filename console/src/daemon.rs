//! The control socket, from async handlers: the CLI's blocking `Client` on tokio's blocking pool.

use std::path::PathBuf;
use tobira_cli::client::{Client, ClientError};
use tobira_proto::{ActorClaim, Request};

#[derive(Clone)]
pub struct Daemon {
    socket: PathBuf,
}

impl Daemon {
    pub fn new(socket: PathBuf) -> Self {
        Self { socket }
    }

    /// One request; `actor` is the signed-in person at the console's reader for acts and record views.
    pub async fn call(&self, actor: Option<ActorClaim>, req: Request) -> Result<serde_json::Value, ClientError> {
        let c = Client::new(self.socket.clone());
        tokio::task::spawn_blocking(move || c.call_as(actor, req)).await.unwrap_or(Err(ClientError::NoAnswer))
    }

    /// One request whose progress frames (an enrolment's captures) go to `on_step` as they arrive.
    pub async fn call_progress(
        &self,
        actor: Option<ActorClaim>,
        req: Request,
        mut on_step: impl FnMut(serde_json::Value) + Send + 'static,
    ) -> Result<serde_json::Value, ClientError> {
        let c = Client::new(self.socket.clone());
        tokio::task::spawn_blocking(move || c.call_progress(actor, req, Some(&mut on_step)))
            .await
            .unwrap_or(Err(ClientError::NoAnswer))
    }
}

/// Whether the daemon could not be reached at all (as opposed to answering with a refusal).
pub fn unreachable(e: &ClientError) -> bool {
    matches!(e, ClientError::Connect { .. } | ClientError::NoAnswer | ClientError::Frame(_))
}
