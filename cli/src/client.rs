//! Blocking client of the control socket, used by the CLI and the demo.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tobira_proto::{ActorClaim, CONTROL_VERSION, Envelope, ErrorCode, Request, Response, read_frame, write_frame};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("cannot reach tobirad at {path}: {source} — is the daemon running? (systemctl status tobirad)")]
    Connect { path: PathBuf, source: std::io::Error },
    #[error("talking to tobirad failed: {0}")]
    Frame(#[from] tobira_proto::FrameError),
    #[error("tobirad closed the connection without answering")]
    NoAnswer,
    #[error("{message}")]
    Refused { code: ErrorCode, message: String },
}

pub struct Client {
    path: PathBuf,
    timeout: Duration,
    actor: Option<ActorClaim>,
}

impl Client {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), timeout: Duration::from_secs(60), actor: None }
    }

    /// Requests from this client are performed by `actor`, who proves themselves at `reader`.
    pub fn with_actor(mut self, actor: Option<ActorClaim>) -> Self {
        self.actor = actor;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sends one request on a fresh connection and returns the daemon's data, or its refusal.
    pub fn call(&self, body: Request) -> Result<serde_json::Value, ClientError> {
        self.call_as(self.actor.clone(), body)
    }

    pub fn call_as(&self, actor: Option<ActorClaim>, body: Request) -> Result<serde_json::Value, ClientError> {
        let mut s = UnixStream::connect(&self.path)
            .map_err(|source| ClientError::Connect { path: self.path.clone(), source })?;
        let to = |source| ClientError::Connect { path: self.path.clone(), source };
        s.set_read_timeout(Some(self.timeout)).map_err(to)?;
        s.set_write_timeout(Some(self.timeout)).map_err(to)?;
        write_frame(&mut s, &Envelope { version: CONTROL_VERSION, actor, body })?;
        match read_frame::<_, Response>(&mut s)? {
            Some(Response::Ok { data }) => Ok(data),
            Some(Response::Error { code, message }) => Err(ClientError::Refused { code, message }),
            None => Err(ClientError::NoAnswer),
        }
    }
}
