//! Blocking client of the control socket, used by the CLI and the demo.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tobira_proto::{ActorClaim, CONTROL_VERSION, Envelope, ErrorCode, Request, Response, read_frame, write_frame};

/// How long a client keeps asking again while the daemon answers "busy".
const BUSY_PATIENCE: Duration = Duration::from_secs(10);

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

    /// A "busy" answer (this user already has its share of requests in progress) did nothing, so the request
    /// is sent again, a little later each time, for up to [`BUSY_PATIENCE`].
    pub fn call_as(&self, actor: Option<ActorClaim>, body: Request) -> Result<serde_json::Value, ClientError> {
        self.call_progress(actor, body, None)
    }

    /// [`Client::call_as`], with each of the daemon's progress frames (an enrolment's captures, as they
    /// happen) given to `on_progress` before the answer (issue 18).
    pub fn call_progress(
        &self,
        actor: Option<ActorClaim>,
        body: Request,
        on_progress: Option<&mut dyn FnMut(serde_json::Value)>,
    ) -> Result<serde_json::Value, ClientError> {
        let envelope = Envelope { version: CONTROL_VERSION, actor, progress: on_progress.is_some(), body };
        let mut nothing = |_: serde_json::Value| {};
        let on_progress: &mut dyn FnMut(serde_json::Value) = match on_progress {
            Some(f) => f,
            None => &mut nothing,
        };
        let give_up = Instant::now() + BUSY_PATIENCE;
        let mut pause = Duration::from_millis(20);
        loop {
            match self.once(&envelope, &mut *on_progress) {
                Err(ClientError::Refused { code: ErrorCode::Busy, .. }) if Instant::now() + pause < give_up => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                r => return r,
            }
        }
    }

    fn once(
        &self,
        envelope: &Envelope<Request>,
        on_progress: &mut dyn FnMut(serde_json::Value),
    ) -> Result<serde_json::Value, ClientError> {
        let mut s = UnixStream::connect(&self.path)
            .map_err(|source| ClientError::Connect { path: self.path.clone(), source })?;
        let to = |source| ClientError::Connect { path: self.path.clone(), source };
        s.set_read_timeout(Some(self.timeout)).map_err(to)?;
        s.set_write_timeout(Some(self.timeout)).map_err(to)?;
        let sent = write_frame(&mut s, envelope);
        // A daemon that refuses us may close before our request is written; its reason is still readable.
        let mut answer = read_frame::<_, Response>(&mut s);
        // Progress frames come only when asked for; each is handed on, then the next frame is read.
        while let Ok(Some(Response::Progress { data })) = answer {
            on_progress(data);
            answer = read_frame::<_, Response>(&mut s);
        }
        match (sent, answer) {
            (_, Ok(Some(Response::Ok { data }))) => Ok(data),
            (_, Ok(Some(Response::Error { code, message }))) => Err(ClientError::Refused { code, message }),
            (Err(e), _) => Err(e.into()),
            (Ok(()), Ok(None)) | (Ok(()), Ok(Some(Response::Progress { .. }))) => Err(ClientError::NoAnswer),
            (Ok(()), Err(e)) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A daemon that refuses without reading closes on a request still being written: the client's write
    /// fails with EPIPE, and the reason must still reach the user instead of "Broken pipe" (issue 15).
    #[test]
    fn a_refusal_sent_before_the_request_is_read_is_still_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("control.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let refusal = Response::Error { code: ErrorCode::Denied, message: "not permitted (権限なし)".into() };
            s.write_all(&tobira_proto::encode(&refusal).unwrap()).unwrap();
            // Closed with the client's request unread: its remaining write fails with EPIPE.
        });
        // Larger than the socket's buffers, so the write is still going on when the server closes.
        let body = Request::PersonShow { id: "x".repeat(2 * 1024 * 1024) };
        let r = Client::new(&path).call(body);
        server.join().unwrap();
        match r {
            Err(ClientError::Refused { code: ErrorCode::Denied, message }) => {
                assert!(message.contains("not permitted"))
            }
            other => panic!("the refusal was lost: {other:?}"),
        }
    }
}
