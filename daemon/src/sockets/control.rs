//! The control socket server: a UNIX socket (0660), peer credentials checked, one request per connection
//! frame, bounded sizes and time so a silent or flooding client cannot hold the daemon.
//!
//! Admission (issue 15, THREATS "a local process on the terminal"): every connection is accepted at once, so
//! an administrator's never waits in the kernel's backlog behind a flood. Each peer UID holds at most
//! [`Limits::per_uid`] connections in service and all peers together [`Limits::total`]; one over its share is
//! told "busy" in a readable frame, never left hanging — unless one of that user's connections has still not
//! sent its request: that one gives its slot to the newcomer (an honest client writes its request the moment
//! it connects). A connection that has not sent its whole request within [`REQUEST_DEADLINE`] is answered with
//! the reason and dropped, so an idle or half-sent client holds a slot for two seconds at most, not ten.

use crate::node::daemon::Daemon;
use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tobira_proto::{CONTROL_VERSION, Envelope, ErrorCode, Request, Response, encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

/// A client must have sent its whole request within this time of connecting, or it is answered with the
/// reason and dropped: local clients write their one frame at once, so only a stalled or hostile one waits.
pub const REQUEST_DEADLINE: Duration = Duration::from_secs(2);
/// Control requests are small (ids, names, filters); anything larger is refused from its declared length,
/// before the body is buffered. With [`CONTROL_LIMITS`] the buffered requests stay below 16 MiB in total.
const MAX_REQUEST: usize = 256 * 1024;
/// Bytes a refused client may still send us before its connection is closed (its request, unread).
const REFUSAL_DRAIN: usize = 64 * 1024;

/// How many connections a socket serves at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections in service per peer UID: one user's flood cannot take another user's turn.
    pub per_uid: usize,
    /// Connections in service in total.
    pub total: usize,
    /// Refusals being delivered at once; past this a connection is closed without an answer.
    pub refusing: usize,
}

/// The control socket's limits: an administrator's `tobira status` needs one slot of their own UID.
pub const CONTROL_LIMITS: Limits = Limits { per_uid: 16, total: 64, refusing: 128 };

/// Who is on the other end of a connection, from the kernel (SO_PEERCRED, SO_PEERGROUPS).
#[derive(Debug, Clone)]
pub struct Peer {
    pub uid: u32,
    pub gid: u32,
    /// The peer's supplementary groups when it connected.
    pub groups: Vec<u32>,
}

/// `SO_PEERGROUPS` (Linux ≥ 4.13; the same number on x86 and ARM): the supplementary groups the peer had when
/// it connected, taken by the kernel with the credentials, so no race with a pid that exits and is reused.
const SO_PEERGROUPS: libc::c_int = 59;

impl Peer {
    pub fn of(stream: &UnixStream) -> std::io::Result<Peer> {
        let c = stream.peer_cred()?;
        Ok(Peer { uid: c.uid(), gid: c.gid(), groups: peer_groups(stream)? })
    }

    /// Whether the peer is `gid` by its primary or any supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }
}

fn peer_groups(stream: &UnixStream) -> std::io::Result<Vec<u32>> {
    let mut groups = vec![0 as libc::gid_t; 64];
    loop {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: the buffer is valid for `len` bytes and the fd is an open socket borrowed from `stream`.
        let r = unsafe {
            libc::getsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, SO_PEERGROUPS, groups.as_mut_ptr().cast(), &mut len)
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if r == 0 {
            groups.truncate(n);
            return Ok(groups);
        }
        let e = std::io::Error::last_os_error();
        // ERANGE: the kernel put the size it needs in `len`.
        if e.raw_os_error() == Some(libc::ERANGE) && n > groups.len() && n <= 65_536 {
            groups.resize(n, 0);
            continue;
        }
        return Err(e);
    }
}

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

/// Only root, the daemon's own user, or members of the socket's group (primary or supplementary) may talk to
/// the daemon (THREATS: "a local process on the terminal"). The file mode already says so; this checks the
/// peer itself too.
fn peer_allowed(peer: &Peer, socket_gid: u32) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    peer.uid == 0 || peer.uid == me || peer.in_group(socket_gid)
}

/// The connections in service, per peer UID and in total.
struct Slots {
    limits: Limits,
    inner: Mutex<SlotState>,
}

#[derive(Default)]
struct SlotState {
    uids: HashMap<u32, UidSlots>,
    total: usize,
    next_id: u64,
    /// Connections whose slot a newer one took over: their own slot must not be given back twice.
    handed_over: std::collections::HashSet<u64>,
}

#[derive(Default)]
struct UidSlots {
    held: usize,
    /// Connections of this user still waiting for their request, oldest first, each with the signal that
    /// makes it give its slot to a newer connection.
    waiting: std::collections::VecDeque<(u64, tokio::sync::oneshot::Sender<()>)>,
}

/// One connection's place in [`Slots`]; given back when dropped.
struct Slot {
    slots: Arc<Slots>,
    uid: u32,
    id: u64,
}

impl Slots {
    /// A slot for a new connection of `uid`, with the signal that it must yield it. At its share, the user's
    /// oldest connection that has still not sent its request yields its slot to this one: an honest client
    /// sends its request the moment it connects, so only a stalled one ever waits, and a user's own flood of
    /// idle connections cannot keep that user's administrator out either. With nothing to take over: busy.
    fn take(self: &Arc<Self>, uid: u32) -> Result<(Slot, tokio::sync::oneshot::Receiver<()>), String> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *g;
        let id = st.next_id;
        st.next_id += 1;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mine = st.uids.entry(uid).or_default();
        if mine.held < self.limits.per_uid && st.total < self.limits.total {
            mine.held += 1;
            st.total += 1;
        } else if let Some((old, yield_now)) = mine.waiting.pop_front() {
            // The old connection's slot becomes this one's: the counts stay as they are.
            let _ = yield_now.send(());
            st.handed_over.insert(old);
        } else {
            let held = mine.held;
            if held == 0 {
                st.uids.remove(&uid);
            }
            return Err(if held >= self.limits.per_uid {
                format!("busy (混雑): user {uid} already has {held} requests in progress; try again when they finish")
            } else {
                format!("busy (混雑): {} requests in progress; try again in a moment", st.total)
            });
        }
        if let Some(mine) = st.uids.get_mut(&uid) {
            mine.waiting.push_back((id, tx));
        }
        Ok((Slot { slots: self.clone(), uid, id }, rx))
    }
}

impl Slot {
    /// The request has arrived: from now on the connection is served and keeps its slot to the end.
    fn serving(&self) {
        let mut g = self.slots.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mine) = g.uids.get_mut(&self.uid) {
            mine.waiting.retain(|(id, _)| *id != self.id);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut g = self.slots.inner.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *g;
        if let Some(mine) = st.uids.get_mut(&self.uid) {
            mine.waiting.retain(|(id, _)| *id != self.id);
        }
        if st.handed_over.remove(&self.id) {
            return;
        }
        st.total = st.total.saturating_sub(1);
        if let Some(mine) = st.uids.get_mut(&self.uid) {
            mine.held = mine.held.saturating_sub(1);
            if mine.held == 0 && mine.waiting.is_empty() {
                st.uids.remove(&self.uid);
            }
        }
    }
}

/// Logs refusals at most once per interval with their count, so a flood of connections is one line, not a
/// line per connection.
struct RefusalLog {
    what: &'static str,
    last: Option<Instant>,
    since: u64,
}

impl RefusalLog {
    fn note(&mut self, reason: &str) {
        self.since += 1;
        if self.last.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
            tracing::warn!(socket = self.what, refused = self.since, reason, "connections refused: over their share");
            self.last = Some(Instant::now());
            self.since = 0;
        }
    }
}

/// Accepts connections and, within [`Limits`] (see the module documentation), reads each one's request of at
/// most `max_request` bytes and runs `handle` on it, until `shutdown` changes. A connection over its share
/// gets the frame `busy` makes of the reason. Shared by the control and login sockets.
/// Which socket an accept loop serves, for the log, and its heartbeat when systemd's watchdog watches it
/// (`node::heartbeat`: the login socket).
pub struct Served {
    pub what: &'static str,
    pub alive: Option<crate::node::heartbeat::Heartbeat>,
}

pub async fn accept_loop<T, F, Fut, B>(
    listener: UnixListener,
    limits: Limits,
    max_request: usize,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    Served { what, alive }: Served,
    busy: B,
    handle: F,
) where
    T: serde::de::DeserializeOwned + Send + 'static,
    F: Fn(UnixStream, Peer, Result<T, ReadError>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
    B: Fn(String) -> Vec<u8>,
{
    let handle = Arc::new(handle);
    let slots = Arc::new(Slots { limits, inner: Mutex::new(SlotState::default()) });
    let refusing = Arc::new(Semaphore::new(limits.refusing));
    let mut log = RefusalLog { what, last: None, since: 0 };
    // A watched socket (login) wakes to beat while idle: an accept loop that stops turning stops systemd's
    // watchdog pings (`node::heartbeat`).
    let mut beat = tokio::time::interval(crate::node::heartbeat::BEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if let Some(a) = &alive {
            a.beat();
        }
        let mut stream = tokio::select! {
            _ = beat.tick(), if alive.is_some() => continue,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of descriptors or memory: pause instead of spinning on the same error.
                    tracing::warn!(socket = what, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let peer = match Peer::of(&stream) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(socket = what, error = %e, "peer credentials unavailable; connection closed");
                continue;
            }
        };
        match slots.take(peer.uid) {
            Ok((slot, yield_now)) => {
                let handle = handle.clone();
                tokio::spawn(async move {
                    let req = tokio::select! {
                        r = read_request::<T>(&mut stream, max_request) => r,
                        _ = yield_now => Err(ReadError::Superseded),
                    };
                    slot.serving();
                    (*handle)(stream, peer, req).await;
                    drop(slot);
                });
            }
            Err(reason) => {
                log.note(&reason);
                // Past this many refusals in flight the connection is closed unanswered: the client reports
                // that the daemon closed it, which is still not a hang.
                let Ok(permit) = refusing.clone().try_acquire_owned() else { continue };
                let frame = busy(reason);
                tokio::spawn(async move {
                    let _permit = permit;
                    refuse(stream, &frame).await;
                });
            }
        }
    }
}

/// Sends a refusal the client can read, then takes (and discards) what it still sends until it closes, for
/// at most [`REQUEST_DEADLINE`]: closing first would make the client's own write fail with "Broken pipe"
/// before it ever reads the reason.
pub async fn refuse(mut stream: UnixStream, frame: &[u8]) {
    let _ = tokio::time::timeout(REQUEST_DEADLINE, async {
        if stream.write_all(frame).await.is_err() {
            return;
        }
        let _ = stream.shutdown().await;
        let mut sink = [0u8; 1024];
        let mut taken = 0;
        while taken < REFUSAL_DRAIN {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(n) => taken += n,
            }
        }
    })
    .await;
}

fn error_frame(code: ErrorCode, message: String) -> Vec<u8> {
    encode(&Response::Error { code, message }).unwrap_or_default()
}

pub async fn serve(
    daemon: Arc<Daemon>,
    listener: UnixListener,
    socket_gid: u32,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let busy = |reason: String| error_frame(ErrorCode::Busy, reason);
    accept_loop(
        listener,
        CONTROL_LIMITS,
        MAX_REQUEST,
        shutdown,
        Served { what: "control", alive: None },
        busy,
        move |stream, peer, req| {
            let d = daemon.clone();
            async move {
                // Refused only once the request is read: the client's write succeeds and it reads the reason.
                if !peer_allowed(&peer, socket_gid) {
                    tracing::warn!(uid = peer.uid, "control connection from a peer without permission refused");
                    let message = format!(
                        "not permitted (権限なし): user {} is neither root nor a member of the control socket's group \
                     (gid {socket_gid}); ask the system administrator to add you to the tobira group",
                        peer.uid
                    );
                    refuse(stream, &error_frame(ErrorCode::Denied, message)).await;
                    return;
                }
                handle(d, stream, req).await;
            }
        },
    )
    .await
}

async fn respond(mut stream: UnixStream, r: Response) -> std::io::Result<()> {
    let bytes = encode(&r).unwrap_or_else(|_| {
        encode(&Response::Error { code: ErrorCode::Internal, message: "response too large".into() }).unwrap_or_default()
    });
    stream.write_all(&bytes).await?;
    stream.shutdown().await
}

/// Why a request could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The request is not one: a declared length over the limit, a closed connection, malformed JSON.
    Malformed(String),
    /// The whole request did not arrive within [`REQUEST_DEADLINE`].
    Late,
    /// Still no request when a newer connection of the same user needed the slot.
    Superseded,
    /// Closed without sending a byte.
    Closed,
}

impl ReadError {
    /// What the client is told (an idle or stalled client, if it is still listening).
    pub fn message(&self) -> String {
        match self {
            ReadError::Malformed(e) => format!("malformed request: {e}"),
            ReadError::Late => format!(
                "no complete request within {} s (要求の送信期限切れ); connection closed",
                REQUEST_DEADLINE.as_secs()
            ),
            ReadError::Superseded => {
                "no request yet when a newer connection of the same user needed the slot; connection closed".into()
            }
            ReadError::Closed => "connection closed before a request".into(),
        }
    }

    /// Logs the failure: a malformed request as a warning at most every 10 s per socket (with the count
    /// since), so a client sending garbage in a loop cannot flood the journal; idle or closed ones at debug.
    pub fn log(&self, socket: &'static str, warned: &Mutex<(Option<Instant>, u64)>) {
        match self {
            ReadError::Malformed(m) => {
                let mut g = warned.lock().unwrap_or_else(|p| p.into_inner());
                g.1 += 1;
                if g.0.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(socket, error = %m, malformed = g.1, "malformed requests");
                    *g = (Some(Instant::now()), 0);
                }
            }
            other => tracing::debug!(socket, reason = other.message(), "no request; connection dropped"),
        }
    }
}

/// Reads one request frame of at most `max` bytes within [`REQUEST_DEADLINE`]. Shared by both sockets. The
/// declared length is checked before any of the body is buffered, so a peer that announces 4 GiB costs
/// nothing; `serde_json`'s nesting limit keeps deeply nested JSON from exhausting the stack.
pub async fn read_request<T: serde::de::DeserializeOwned>(stream: &mut UnixStream, max: usize) -> Result<T, ReadError> {
    let body = tokio::time::timeout(REQUEST_DEADLINE, async {
        let mut len = [0u8; 4];
        // Closed before the first byte: a probe (another tobirad checking for a stale socket, a monitor), not
        // a malformed request.
        if stream.read(&mut len[..1]).await.map_err(|e| ReadError::Malformed(e.to_string()))? == 0 {
            return Err(ReadError::Closed);
        }
        stream.read_exact(&mut len[1..]).await.map_err(|e| closed_early(&e))?;
        let len = u32::from_be_bytes(len) as usize;
        if len > max {
            return Err(ReadError::Malformed(format!("request of {len} bytes exceeds the limit of {max} bytes")));
        }
        let mut body = vec![0u8; len];
        stream.read_exact(&mut body).await.map_err(|e| closed_early(&e))?;
        Ok(body)
    })
    .await
    .map_err(|_| ReadError::Late)??;
    serde_json::from_slice(&body).map_err(|e| ReadError::Malformed(format!("malformed message: {e}")))
}

fn closed_early(e: &std::io::Error) -> ReadError {
    ReadError::Malformed(if e.kind() == std::io::ErrorKind::UnexpectedEof {
        "connection closed before a complete request".into()
    } else {
        e.to_string()
    })
}

async fn handle(daemon: Arc<Daemon>, stream: UnixStream, req: Result<Envelope<Request>, ReadError>) {
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            static WARNED: Mutex<(Option<Instant>, u64)> = Mutex::new((None, 0));
            e.log("control", &WARNED);
            // A superseded connection's request was never read, so it did nothing: "busy" tells the client to
            // ask again (the CLI does, for up to 10 s), as for any connection over its share. Its request may
            // well have been written already: under a flood of the same user's new connections an
            // administrator's own request could otherwise fail outright (found by `tobira-bench faults`).
            let code = if matches!(e, ReadError::Superseded) { ErrorCode::Busy } else { ErrorCode::BadRequest };
            if !matches!(e, ReadError::Closed) {
                let _ = respond(stream, Response::Error { code, message: e.message() }).await;
            }
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
    if !req.progress {
        let resp = crate::admin::router::dispatch(&daemon, req.actor, req.body).await;
        let _ = respond(stream, resp).await;
        return;
    }
    // The client asked for progress: each step the request reports is written as it comes, then the answer.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let work = crate::flows::progress::scoped(tx, crate::admin::router::dispatch(&daemon, req.actor, req.body));
    tokio::pin!(work);
    let mut stream = stream;
    let mut listening = true;
    let resp = loop {
        tokio::select! {
            resp = &mut work => break resp,
            Some(step) = rx.recv() => {
                // A client that went away stops hearing; the request itself goes on to its end.
                if listening {
                    listening = send_progress(&mut stream, step).await;
                }
            }
        }
    };
    while let Ok(step) = rx.try_recv() {
        if listening {
            listening = send_progress(&mut stream, step).await;
        }
    }
    let _ = respond(stream, resp).await;
}

/// Writes one progress frame; false once the client can no longer be written to.
async fn send_progress(stream: &mut UnixStream, data: serde_json::Value) -> bool {
    match encode(&Response::Progress { data }) {
        Ok(bytes) => stream.write_all(&bytes).await.is_ok(),
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(per_uid: usize, total: usize) -> Arc<Slots> {
        Arc::new(Slots { limits: Limits { per_uid, total, refusing: 1 }, inner: Mutex::new(SlotState::default()) })
    }

    #[test]
    fn an_idle_connection_yields_its_slot_to_the_same_users_newer_one() {
        let s = slots(2, 10);
        let (a, mut a_yield) = s.take(1000).unwrap();
        let (b, mut b_yield) = s.take(1000).unwrap();
        // At the share: the oldest connection still waiting for its request gives way.
        let (c, _c_yield) = s.take(1000).unwrap();
        assert!(a_yield.try_recv().is_ok(), "the oldest idle connection is told to yield");
        assert!(b_yield.try_recv().is_err());
        drop(a);
        // b and c are served (their requests arrived): nothing left to yield, so the next one is busy.
        b.serving();
        c.serving();
        let busy = s.take(1000).err().expect("busy");
        assert!(busy.contains("busy (混雑)") && busy.contains("user 1000"), "{busy}");
        // Another user (the administrator) is not affected.
        let (root, _) = s.take(0).expect("another user's share is its own");
        drop((b, c, root));
        let g = s.inner.lock().unwrap();
        assert_eq!((g.total, g.uids.len(), g.handed_over.len()), (0, 0, 0), "every slot given back once");
    }

    #[test]
    fn the_total_bounds_every_user_together() {
        let s = slots(5, 3);
        let held: Vec<_> = (0..3).map(|uid| s.take(uid).unwrap()).collect();
        for (slot, _) in &held {
            slot.serving();
        }
        assert!(s.take(99).is_err(), "over the total with nothing idle: busy");
        drop(held);
        assert!(s.take(99).is_ok());
    }
}
