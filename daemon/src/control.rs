//! The control socket server: a UNIX socket (0660), peer credentials checked, one request per connection
//! frame, bounded sizes and time so a silent or flooding client cannot hold the daemon.

use crate::daemon::Daemon;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tobira_proto::{CONTROL_VERSION, Envelope, ErrorCode, FrameDecoder, Request, Response, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

/// Connections served at once; more wait in the kernel's backlog instead of costing memory here.
const MAX_CONNECTIONS: usize = 32;
/// A client that does not finish its request within this time is dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Removes a socket left by a previous run, refusing if a daemon still answers on it.
pub fn remove_stale(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        // A stale socket from a previous run; refuse if a daemon still answers on it.
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another tobirad is listening on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    Ok(())
}

pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    remove_stale(path)?;
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(l)
}

/// Only root, the daemon's own user, or members of the socket's group may talk to the daemon (THREATS:
/// "a local process on the terminal"). The file mode already says so; this checks the peer itself too.
fn peer_allowed(stream: &UnixStream, socket_gid: u32) -> bool {
    match stream.peer_cred() {
        Ok(c) => {
            // SAFETY: getuid has no preconditions and cannot fail.
            let me = unsafe { libc::getuid() };
            c.uid() == 0 || c.uid() == me || c.gid() == socket_gid
        }
        Err(_) => false,
    }
}

/// Accepts connections and runs `handle` on each, at most `max` at once (more wait in the kernel's backlog
/// instead of costing memory here), until `shutdown` changes. Shared by the control and login sockets.
pub async fn accept_loop<F, Fut>(
    listener: UnixListener,
    max: usize,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    what: &'static str,
    handle: F,
) where
    F: Fn(UnixStream) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = shutdown.changed() => return,
        };
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => { tracing::warn!(socket = what, error = %e, "accept failed"); continue; }
            },
            _ = shutdown.changed() => return,
        };
        let work = handle(stream);
        tokio::spawn(async move {
            let _permit = permit;
            work.await;
        });
    }
}

pub async fn serve(
    daemon: Arc<Daemon>,
    listener: UnixListener,
    socket_gid: u32,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    accept_loop(listener, MAX_CONNECTIONS, shutdown, "control", move |stream| {
        let d = daemon.clone();
        async move {
            if !peer_allowed(&stream, socket_gid) {
                tracing::warn!("control connection from a peer without permission refused");
                let message = "not permitted: run as root or a member of the tobira group".into();
                let _ = respond(stream, Response::Error { code: ErrorCode::Denied, message }).await;
                return;
            }
            handle(d, stream).await;
        }
    })
    .await
}

async fn respond(mut stream: UnixStream, r: Response) -> std::io::Result<()> {
    let bytes = encode(&r).unwrap_or_else(|_| {
        encode(&Response::Error { code: ErrorCode::Internal, message: "response too large".into() }).unwrap_or_default()
    });
    stream.write_all(&bytes).await?;
    stream.shutdown().await
}

/// Reads one request frame of at most `max` bytes. Shared by both sockets; the callers bound the time.
pub async fn read_request<T: serde::de::DeserializeOwned>(stream: &mut UnixStream, max: usize) -> Result<T, String> {
    let mut dec = FrameDecoder::new();
    let mut buf = [0u8; 4096];
    loop {
        match dec.poll_frame::<T>() {
            Ok(Some(req)) => return Ok(req),
            Ok(None) if dec.pending() > max => return Err("request too large".into()),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        let n = stream.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before a complete request".into());
        }
        dec.handle_input(&buf[..n]);
    }
}

async fn handle(daemon: Arc<Daemon>, mut stream: UnixStream) {
    let req = match tokio::time::timeout(
        REQUEST_TIMEOUT,
        read_request::<Envelope<Request>>(&mut stream, tobira_proto::MAX_FRAME),
    )
    .await
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "malformed control request");
            let _ = respond(
                stream,
                Response::Error { code: ErrorCode::BadRequest, message: format!("malformed request: {e}") },
            )
            .await;
            return;
        }
        Err(_) => {
            tracing::warn!("control client sent no complete request in time; dropped");
            return;
        }
    };
    if req.version != CONTROL_VERSION {
        let msg = format!(
            "client speaks control protocol {}, daemon speaks {CONTROL_VERSION}: use the matching tobira CLI",
            req.version
        );
        let _ = respond(stream, Response::Error { code: ErrorCode::VersionMismatch, message: msg }).await;
        return;
    }
    let resp = crate::commands::dispatch(&daemon, req.actor, req.body).await;
    let _ = respond(stream, resp).await;
}
