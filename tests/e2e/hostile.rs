//! Issue 15, the host side, through the real binaries: the files tobirad creates are its own (0600 in a 0700
//! directory it owns, whatever the umask), start-up errors name their real cause (a full disk, a read-only or
//! forbidden store, corruption), a disk that fills up in use denies and keeps the door locked and recovers
//! when space returns, and hostile local clients on both sockets (garbage, huge declared lengths, invalid and
//! deeply nested JSON, half frames, hundreds of idle connections, rapid connect/close, an unprivileged user)
//! neither grow the daemon's memory without bound nor keep an administrator's `tobira status` waiting
//! (001 §15(4); THREATS "a local process on the terminal"; 003 §17 the record stays true).
//!
//! Needs root (a private mount namespace with a small tmpfs, another user's credentials). Without it each
//! such test says so loudly, and fails when `CI` is set (CI runs as root).

use crate::common::*;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tobira_proto::{CONTROL_VERSION, Envelope, LoginContext, LoginMessage, LoginRequest, Request, Response, encode};

/// The liveness bound: an administrator's `tobira status` answered within this under any flood. Generous
/// on purpose (a loaded CI machine); the measured figure is printed.
const LIVENESS: Duration = Duration::from_secs(3);
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A test that cannot run here says so; in CI (root) it must run, so there it fails.
pub(crate) fn cannot_run(what: &str) {
    let msg = format!("SKIPPED: {what}");
    eprintln!("\n!!!!!!!! {msg} !!!!!!!!\n");
    assert!(std::env::var("CI").is_err(), "{msg}");
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn private_dir(p: &Path) {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(p).unwrap();
}

/// Starts tobirad on `dir/site.toml` (the demo site) with `data` and extra arguments; `umask` is set in the
/// child before it runs. Waits until `status` answers on `sock`.
fn start(dir: &Path, data: &Path, sock: &Path, extra: &[&str], umask: Option<libc::mode_t>) -> Running {
    let site = dir.join("site.toml");
    std::fs::write(&site, demo_site()).unwrap();
    if !data.join("registry.db").exists() {
        // `--init` creates the site and exits (issue 22 §2), under the same umask as the daemon.
        let mut init = Command::new(TOBIRAD);
        init.args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--init", "--simulation"]);
        if let Some(m) = umask {
            // SAFETY: umask is async-signal-safe and only changes the child's mask.
            unsafe {
                init.pre_exec(move || {
                    libc::umask(m);
                    Ok(())
                })
            };
        }
        let o = init.output().unwrap();
        assert!(o.status.success(), "tobirad --init: {}", text(&o));
    }
    let mut cmd = Command::new(TOBIRAD);
    cmd.args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--simulation"])
        .arg("--socket")
        .arg(sock)
        .args(extra)
        // HOSTILE_LOG=1 shows the daemon's log when a test here needs explaining.
        .stderr(if std::env::var_os("HOSTILE_LOG").is_some() { Stdio::inherit() } else { Stdio::null() });
    if let Some(m) = umask {
        // SAFETY: umask is async-signal-safe and only changes the child's mask.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(m);
                Ok(())
            })
        };
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(sock.exists() && cli(sock, &["status"]).status.success()) {
        assert!(child.try_wait().unwrap().is_none(), "daemon exited at start-up");
        assert!(Instant::now() < deadline, "daemon did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    Running { child, sock: sock.to_path_buf(), data: data.to_path_buf() }
}

/// Runs tobirad once on `data` expecting it to refuse to start; returns what it said.
fn refused_start(dir: &Path, data: &Path, init: bool) -> String {
    let site = dir.join("site.toml");
    std::fs::write(&site, demo_site()).unwrap();
    let mut cmd = Command::new(TOBIRAD);
    cmd.args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--simulation"]);
    if init {
        cmd.arg("--init");
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("tobirad started where it must refuse: {}", text(&o));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    assert!(!o.status.success(), "tobirad must refuse to start: {}", text(&o));
    text(&o)
}

fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// `tobira status` by the administrator (root); returns how long it took. It must succeed.
fn status_latency(sock: &Path) -> Duration {
    let t = Instant::now();
    let o = cli(sock, &["status"]);
    let took = t.elapsed();
    assert!(o.status.success(), "the administrator's status was refused: {}", text(&o));
    took
}

/// The worst of a few `status` calls spread over `over` (the flood's connections are held meanwhile).
fn worst_status(sock: &Path, over: Duration) -> Duration {
    let until = Instant::now() + over;
    let mut worst = Duration::ZERO;
    loop {
        worst = worst.max(status_latency(sock));
        if Instant::now() >= until {
            return worst;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ---------------------------------------------------------------------------------------------------------
// Another process, with the credentials we give it, holding connections.

/// A forked child with other credentials (uid, gid, supplementary groups) that opened `n` connections,
/// wrote `payload` on each and keeps them open until dropped.
struct Holder {
    pid: libc::pid_t,
    release: Option<OwnedFd>,
    connected: u32,
    first_errno: i32,
    /// What the daemon answered on the first connection (if asked to read it).
    reply: Vec<u8>,
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.release.take();
        // SAFETY: signalling and reaping our own child.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
    }
}

fn hold_as(uid: u32, gid: u32, groups: &[u32], path: &Path, n: usize, payload: &[u8], read_reply: bool) -> Holder {
    // Everything the child touches is prepared before fork: after it, only async-signal-safe system calls.
    // SAFETY: an all-zero sockaddr_un is valid; the path is copied within its bounds below.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_encoded_bytes();
    assert!(bytes.len() < addr.sun_path.len(), "socket path too long");
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    let addr_len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    let groups: Vec<libc::gid_t> = groups.to_vec();
    let payload = payload.to_vec();
    let mut buf = vec![0u8; 32 * 1024];
    let (mut out, mut hold) = ([0 as libc::c_int; 2], [0 as libc::c_int; 2]);
    // SAFETY: plain system calls on arrays we own; the child below uses only async-signal-safe calls and
    // memory allocated before the fork, and always ends in _exit.
    unsafe {
        assert_eq!(libc::pipe2(out.as_mut_ptr(), libc::O_CLOEXEC), 0);
        assert_eq!(libc::pipe2(hold.as_mut_ptr(), libc::O_CLOEXEC), 0);
        let pid = libc::fork();
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            // Only our two pipe ends: descriptors other test threads had open when we forked (a binary being
            // copied, say) must not stay open in a child that never execs.
            for fd in 3..4096 {
                if fd != out[1] && fd != hold[0] {
                    libc::close(fd);
                }
            }
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                libc::_exit(99);
            }
            let (mut connected, mut first_errno, mut first_fd) = (0u32, 0i32, -1);
            for _ in 0..n {
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                if fd < 0 {
                    first_errno = *libc::__errno_location();
                    break;
                }
                if libc::connect(fd, (&raw const addr).cast(), addr_len) != 0 {
                    if first_errno == 0 {
                        first_errno = *libc::__errno_location();
                    }
                    libc::close(fd);
                    continue;
                }
                connected += 1;
                if !payload.is_empty() {
                    libc::write(fd, payload.as_ptr().cast(), payload.len());
                }
                if first_fd < 0 {
                    first_fd = fd;
                }
            }
            let mut got = 0usize;
            if read_reply && first_fd >= 0 {
                let tv = libc::timeval { tv_sec: 10, tv_usec: 0 };
                libc::setsockopt(
                    first_fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&raw const tv).cast(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                );
                while got < buf.len() {
                    let r = libc::read(first_fd, buf.as_mut_ptr().add(got).cast(), buf.len() - got);
                    if r <= 0 {
                        break;
                    }
                    got += r as usize;
                }
            }
            let header = [connected, first_errno as u32, got as u32];
            libc::write(out[1], header.as_ptr().cast(), 12);
            libc::write(out[1], buf.as_ptr().cast(), got);
            let mut b = 0u8;
            libc::read(hold[0], (&raw mut b).cast(), 1);
            libc::_exit(0);
        }
        libc::close(out[1]);
        libc::close(hold[0]);
        let mut from_child = std::fs::File::from_raw_fd(out[0]);
        let release = OwnedFd::from_raw_fd(hold[1]);
        use std::io::Read;
        let mut header = [0u8; 12];
        let ok = from_child.read_exact(&mut header).is_ok();
        let word = |i: usize| u32::from_ne_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let mut h = Holder { pid, release: Some(release), connected: 0, first_errno: 0, reply: Vec::new() };
        assert!(ok, "the child with uid {uid} could not take those credentials (needs root)");
        h.connected = word(0);
        h.first_errno = word(4) as i32;
        h.reply = vec![0u8; word(8) as usize];
        from_child.read_exact(&mut h.reply).unwrap();
        h
    }
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

fn decode<T: serde::de::DeserializeOwned>(reply: &[u8]) -> T {
    assert!(reply.len() >= 4, "no answer frame: {reply:?}");
    let len = u32::from_be_bytes([reply[0], reply[1], reply[2], reply[3]]) as usize;
    serde_json::from_slice(&reply[4..4 + len]).unwrap_or_else(|e| panic!("unreadable answer ({e}): {reply:?}"))
}

/// Root client: sends `bytes` (as they are) and returns the daemon's whole answer.
fn raw(sock: &Path, bytes: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn status_frame() -> Vec<u8> {
    encode(&Envelope { version: CONTROL_VERSION, actor: None, progress: false, body: Request::Status }).unwrap()
}

/// The malformed inputs both sockets get, by name.
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("garbage (an HTTP request)", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("a declared length of 4 GiB", vec![0xff, 0xff, 0xff, 0xff, b'{']),
        ("a declared length of 200 MiB", (200u32 << 20).to_be_bytes().to_vec()),
        ("invalid JSON", frame(b"{\"version\": 1, \"body\": ")),
        ("JSON of the wrong shape", frame(br#"{"op":"format-disk","everything":true}"#)),
        ("JSON nested 100,000 deep", frame(&b"[".repeat(100_000))),
        ("JSON nested 50,000 deep in a valid field", {
            let mut j = br#"{"version":1,"actor":null,"body":{"op":"person-show","id":"#.to_vec();
            j.extend(b"[".repeat(50_000));
            frame(&j)
        }),
        ("an empty frame", frame(b"")),
    ]
}

// ---------------------------------------------------------------------------------------------------------
// Files.

#[test]
fn stores_keys_and_head_are_owner_only_under_umask_022() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sock = data.join("control.sock");
    // A checkpoint (and so the head file) after every event.
    let d = start(dir.path(), &data, &sock, &["--checkpoint-every", "1"], Some(0o022));
    d.bootstrap();
    let check = |running: bool| {
        assert_eq!(mode(&data), 0o700, "the data directory tobirad --init created");
        let mut names = Vec::new();
        for e in std::fs::read_dir(&data).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            let want = match name.as_str() {
                // The control socket is for the tobira group (0660); the login socket for root (0600).
                "control.sock" => 0o660,
                _ if ft.is_socket() => 0o600,
                _ => 0o600,
            };
            assert_eq!(mode(&e.path()), want, "{name} (running: {running})");
            names.push(name);
        }
        names.sort();
        names
    };
    let names = check(true);
    for f in STORE_FILES.into_iter().chain([
        "audit-signing.key",
        "audit-signing.pub",
        "template.key",
        "control.sock",
        "login.sock",
    ]) {
        assert!(names.iter().any(|n| n == f), "{f} should be there while tobirad runs: {names:?}");
    }
    assert!(d.stop().success());
    let names = check(false);
    assert!(names.iter().any(|n| n == "audit.db.head"), "{names:?}");
}

#[test]
fn a_data_directory_open_to_others_or_owned_by_another_user_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::DirBuilder::new().mode(0o755).create(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let said = refused_start(dir.path(), &data, true);
    assert!(said.contains(&format!("chmod 700 {}", data.display())), "names the path and the fix: {said}");
    assert!(said.contains("755"), "says what is wrong: {said}");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0, "nothing created in a refused directory");

    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    if !is_root() {
        return cannot_run("a data directory owned by another user needs root to create (chown)");
    }
    let c = std::ffi::CString::new(data.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid path; changing the owner of our own temporary directory.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), NOBODY, NOBODY) }, 0);
    let said = refused_start(dir.path(), &data, true);
    assert!(said.contains(&format!("chown root: {}", data.display())), "names the path and the fix: {said}");
    assert!(said.contains("nobody"), "names the owner: {said}");
    assert_eq!(std::fs::read_dir(&data).unwrap().count(), 0, "nothing created in a refused directory");

    // Owned by root (tobirad's user here) and 0700: it starts.
    // SAFETY: as above.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 0, 0) }, 0);
    let d = start(dir.path(), &data, &data.join("control.sock"), &[], None);
    assert!(d.stop().success());
}

#[test]
fn a_store_that_is_not_a_database_is_called_corrupt_not_full() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    private_dir(&data);
    let junk = b"this is not a database, it is someone's spreadsheet".repeat(100);
    std::fs::write(data.join("registry.db"), &junk).unwrap();
    std::fs::write(data.join("audit.db"), &junk).unwrap();
    let said = refused_start(dir.path(), &data, false);
    assert!(said.contains("registry.db") && said.contains("restore it from backup"), "{said}");
    assert!(!said.contains("disk is full") && !said.contains("permission denied"), "{said}");
    assert_eq!(std::fs::read(data.join("registry.db")).unwrap(), junk, "left untouched");
}

#[test]
fn a_store_tobirads_user_may_not_open_is_named_a_permission_problem() {
    if !is_root() {
        return cannot_run("running tobirad as another user needs root (setuid)");
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let d = start(dir.path(), &data, &data.join("control.sock"), &[], None);
    d.bootstrap();
    assert!(d.stop().success());
    // The site handed to user nobody, except the registry, left root's (0600) by a careless restore.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(dir.path().join("site.toml"), std::fs::Permissions::from_mode(0o644)).unwrap();
    for e in std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().path()).chain([data.clone()]) {
        if e.file_name().is_some_and(|n| n != "registry.db") {
            let c = std::ffi::CString::new(e.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: a valid path inside our temporary directory.
            assert_eq!(unsafe { libc::chown(c.as_ptr(), NOBODY, NOBODY) }, 0);
        }
    }
    // A copy of tobirad other users may run (the build directory may be root's alone, as in CI).
    let bin = dir.path().join("tobirad");
    std::fs::copy(TOBIRAD, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let site = dir.path().join("site.toml");
    let mut cmd = Command::new(&bin);
    cmd.args(["--config", site.to_str().unwrap(), "--data-dir", data.to_str().unwrap(), "--simulation"]);
    // SAFETY: only async-signal-safe credential calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(NOBODY) != 0 || libc::setuid(NOBODY) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    };
    // Another test thread's fork may hold the copy open for a moment ("Text file busy"): try again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let o = loop {
        match cmd.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            r => break r.unwrap(),
        }
    };
    let said = text(&o);
    eprintln!("tobirad as nobody on root's registry said: {said}");
    assert!(!o.status.success(), "{said}");
    assert!(said.contains("registry.db") && said.contains("permission denied"), "names the real cause: {said}");
    assert!(!said.contains("restore it from backup"), "never advises restoring a healthy store: {said}");
}

// ---------------------------------------------------------------------------------------------------------
// A small disk: a tmpfs in a private mount namespace.

/// Runs `f` on a thread of its own that has a private mount namespace with a tmpfs of `size` mounted at
/// `vol` (threads have their own namespaces; the processes it starts inherit it, nothing leaks to the host).
/// Returns `None`, loudly, where no namespace can be had.
pub(crate) fn on_small_disk<R: Send + 'static>(
    vol: PathBuf,
    size: &'static str,
    f: impl FnOnce(&Path) -> R + Send + 'static,
) -> Option<R> {
    let r = std::thread::spawn(move || {
        let c = |s: &str| std::ffi::CString::new(s).unwrap();
        let target = std::ffi::CString::new(vol.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: unshare and mount with valid NUL-terminated strings; they affect this thread only.
        let ok = unsafe {
            libc::unshare(libc::CLONE_NEWNS) == 0
                && libc::mount(
                    std::ptr::null(),
                    c("/").as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                ) == 0
                && libc::mount(
                    c("tmpfs").as_ptr(),
                    target.as_ptr(),
                    c("tmpfs").as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    c(&format!("size={size},mode=0755")).as_ptr().cast(),
                ) == 0
        };
        if !ok {
            eprintln!("private tmpfs: {}", std::io::Error::last_os_error());
            return None;
        }
        Some(f(&vol))
    })
    .join();
    match r {
        Ok(Some(v)) => Some(v),
        Ok(None) => {
            cannot_run("no private mount namespace with a tmpfs here (needs root): the disk-full cases are not tested");
            None
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Fills the file system holding `dir` to the last byte; returns the filler's path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let chunk = vec![0x5au8; 64 * 1024];
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling: {e}"),
        }
    }
    // The last partial chunk: byte by byte until nothing fits.
    while f.write(&[0x5a]).is_ok_and(|n| n == 1) {}
    let _ = f.sync_all();
    p
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(o)))
}

/// takahashi (system administrator) enrolled, tanaka (operator) enrolled with a grant for the server room.
fn site_with_tanaka(d: &Running) {
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.staff(&[("suzuki", "data-manager"), ("tanaka", "operator")]);
    let o = d.act("suzuki", &["grant", "add", "tanaka", "--place", "zone:server-room"]);
    assert!(o.status.success(), "{}", text(&o));
}

fn pulses(d: &Running) -> u64 {
    json(&d.tobira(&["--json", "sim", "door", "server-door"]))["pulses"].as_u64().unwrap_or(0)
}

/// tanaka at the server room's entry reader: the decision the door reported.
fn tanaka_at_the_door(d: &Running) -> serde_json::Value {
    let o = d.tobira(&["--json", "sim", "present", "server-in", "tanaka"]);
    let v = json(&o);
    let _ = d.tobira(&["sim", "clear", "server-in"]);
    v
}

fn audit_seqs(d: &Running) -> Vec<i64> {
    let o = d.act("takahashi", &["--json", "audit", "show"]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .flat_map(|v| match v {
            serde_json::Value::Array(a) => a,
            other => vec![other],
        })
        .filter_map(|e| e["seq"].as_i64())
        .collect()
}

#[test]
fn a_full_disk_at_start_is_named_as_such_and_the_stores_open_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let vol = dir.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    let site_dir = dir.path().to_path_buf();
    on_small_disk(vol, "8m", move |vol| {
        let data = vol.join("data");
        let sock = data.join("control.sock");
        let d = start(&site_dir, &data, &sock, &[], None);
        d.bootstrap();
        assert!(d.stop().success());
        let registry = std::fs::read(data.join("registry.db")).unwrap();
        let audit = std::fs::read(data.join("audit.db")).unwrap();

        let filler = fill(vol);
        let said = refused_start(&site_dir, &data, false);
        eprintln!("tobirad on a full disk said: {said}");
        assert!(said.contains("disk is full"), "names the real cause: {said}");
        assert!(!said.contains("restore it from backup"), "never advises restoring a healthy store: {said}");
        assert_eq!(std::fs::read(data.join("registry.db")).unwrap(), registry, "registry untouched");
        assert_eq!(std::fs::read(data.join("audit.db")).unwrap(), audit, "audit store untouched");

        // Space returns: the same stores open, with their history.
        std::fs::remove_file(filler).unwrap();
        let d = start(&site_dir, &data, &sock, &[], None);
        let o = d.tobira(&["--json", "person", "show", "takahashi"]);
        assert!(o.status.success(), "the registry kept takahashi: {}", text(&o));
        assert!(d.stop().success());
        // Against the key pinned beside the site file at --init (issue 16 §1).
        let site = site_dir.join("site.toml");
        let v = Command::new(TOBIRA)
            .args(["audit", "verify", "--data-dir", data.to_str().unwrap(), "--config", site.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(v.status.success(), "the chain verifies: {}", text(&v));
    });
}

#[test]
fn a_read_only_store_is_a_permission_problem_not_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let vol = dir.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    let site_dir = dir.path().to_path_buf();
    on_small_disk(vol, "16m", move |vol| {
        let data = vol.join("data");
        let d = start(&site_dir, &data, &data.join("control.sock"), &[], None);
        d.bootstrap();
        assert!(d.stop().success());
        // The file system remounted read-only, as the kernel does after I/O errors.
        let c = |s: &Path| std::ffi::CString::new(s.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: valid strings; remounting our own private tmpfs.
        let r = unsafe {
            libc::mount(
                std::ptr::null(),
                c(vol).as_ptr(),
                std::ptr::null(),
                libc::MS_REMOUNT | libc::MS_RDONLY,
                std::ptr::null(),
            )
        };
        assert_eq!(r, 0, "remount read-only: {}", std::io::Error::last_os_error());
        let said = refused_start(&site_dir, &data, false);
        eprintln!("tobirad on a read-only store said: {said}");
        assert!(said.contains("permission denied") || said.contains("Read-only"), "names the real cause: {said}");
        assert!(!said.contains("restore it from backup"), "never advises restoring a healthy store: {said}");
    });
}

#[test]
fn a_disk_that_fills_in_use_denies_keeps_the_door_locked_loses_nothing_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let vol = dir.path().join("vol");
    std::fs::create_dir(&vol).unwrap();
    let site_dir = dir.path().to_path_buf();
    on_small_disk(vol, "24m", move |vol| {
        let data = vol.join("data");
        let sock = data.join("control.sock");
        let d = start(&site_dir, &data, &sock, &[], None);
        site_with_tanaka(&d);
        let mut acknowledged = Vec::new();

        let v = tanaka_at_the_door(&d);
        assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(true), Some("GRANT_VALID")), "{v}");
        acknowledged.extend(v["audit_seq"].as_i64());
        let deadline = Instant::now() + Duration::from_secs(10);
        while pulses(&d) < 1 {
            assert!(Instant::now() < deadline, "the strike never pulsed for tanaka");
            std::thread::sleep(Duration::from_millis(50));
        }

        // The disk fills up: every decision is denied, the strike stays still, the daemon still answers.
        let filler = fill(vol);
        for _ in 0..3 {
            let v = tanaka_at_the_door(&d);
            assert_eq!(v["granted"].as_bool(), Some(false), "no grant without a durable record: {v}");
            assert_eq!(v["reason"].as_str(), Some("AUDIT_UNAVAILABLE"), "{v}");
            assert!(v["audit_seq"].is_null(), "nothing acknowledged that was not stored: {v}");
        }
        assert_eq!(pulses(&d), 1, "the strike was not pulsed while the disk was full");
        eprintln!("status on a full disk answered in {:?}", status_latency(&sock));

        // Space returns: the same daemon grants again, without a restart.
        std::fs::remove_file(filler).unwrap();
        let v = tanaka_at_the_door(&d);
        assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(true), Some("GRANT_VALID")), "{v}");
        acknowledged.extend(v["audit_seq"].as_i64());
        let deadline = Instant::now() + Duration::from_secs(10);
        while pulses(&d) < 2 {
            assert!(Instant::now() < deadline, "the strike never pulsed after space returned");
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(d.stop().success());

        // Every acknowledged decision is in the store, and the chain is intact.
        let d = start(&site_dir, &data, &sock, &[], None);
        let stored = audit_seqs(&d);
        for seq in &acknowledged {
            assert!(stored.contains(seq), "acknowledged decision {seq} lost: {stored:?}");
        }
        assert!(d.stop().success());
        // Against the key pinned beside the site file at --init (issue 16 §1).
        let site = site_dir.join("site.toml");
        let v = Command::new(TOBIRA)
            .args(["audit", "verify", "--data-dir", data.to_str().unwrap(), "--config", site.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(v.status.success(), "the chain verifies: {}", text(&v));
    });
}

// ---------------------------------------------------------------------------------------------------------
// Hostile local clients.

/// The sockets outside the 0700 data directory, in a directory other users can traverse, so the tests can
/// also be another user.
fn start_with_public_sockets(dir: &Path) -> (Running, PathBuf) {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let public = dir.join("run");
    std::fs::DirBuilder::new().mode(0o755).create(&public).unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o755)).unwrap();
    let login = public.join("login.sock");
    let d =
        start(dir, &dir.join("data"), &public.join("control.sock"), &["--login-socket", login.to_str().unwrap()], None);
    (d, login)
}

#[test]
fn hostile_clients_on_the_control_socket_neither_starve_the_administrator_nor_grow_memory() {
    if !is_root() {
        return cannot_run("hostile clients as another user need root (setuid in a child)");
    }
    let dir = tempfile::tempdir().unwrap();
    let (d, _) = start_with_public_sockets(dir.path());
    let sock = d.sock.clone();
    let pid = d.child.id();
    let rss_before = rss_kib(pid);
    let baseline = status_latency(&sock);

    for (what, bytes) in malformed() {
        let reply = raw(&sock, &bytes);
        match decode::<Response>(&reply) {
            Response::Error { message, .. } => eprintln!("{what}: {message}"),
            Response::Ok { data } => panic!("{what} was accepted: {data}"),
            Response::Progress { data } => panic!("{what}: progress nobody asked for: {data}"),
        }
    }
    for _ in 0..2000 {
        drop(std::os::unix::net::UnixStream::connect(&sock).unwrap());
    }
    let after_rapid = status_latency(&sock);
    eprintln!("FIGURE control socket, right after 2000 rapid connect/close: status answered in {after_rapid:?}");
    let mut figures = vec![("2000 rapid connect/close".to_string(), after_rapid)];

    // Floods, by root (the administrator's own user) and by another user admitted through a supplementary
    // group (the socket's group is root's here), each held while the administrator asks for the status.
    for (who, uid, groups) in [("another user", NOBODY, vec![0u32]), ("the administrator's own user", 0, vec![0])] {
        for (flood, n, payload) in
            [("200 idle connections", 200usize, Vec::new()), ("40 half-sent frames", 40, status_frame()[..6].to_vec())]
        {
            let gid = if uid == 0 { 0 } else { NOBODY };
            let h = hold_as(uid, gid, &groups, &sock, n, &payload, false);
            assert_eq!(h.connected as usize, n, "{flood} by {who}: connect failed (errno {})", h.first_errno);
            let worst = worst_status(&sock, Duration::from_millis(1500));
            eprintln!("FIGURE control socket, {flood} by {who}: status answered in {worst:?} at worst");
            figures.push((format!("{flood} by {who}"), worst));
            drop(h);
        }
    }

    // An unprivileged user: the file mode keeps them out; through a too-open mode the daemon refuses them
    // itself, in words they can read; a member by a supplementary group only is admitted.
    let h = hold_as(NOBODY, NOBODY, &[], &sock, 1, &status_frame(), true);
    assert_eq!((h.connected, h.first_errno), (0, libc::EACCES), "the 0660 socket keeps others out");
    drop(h);
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let h = hold_as(NOBODY, NOBODY, &[], &sock, 1, &status_frame(), true);
    match decode::<Response>(&h.reply) {
        Response::Error { message, .. } => {
            assert!(message.contains("not permitted"), "{message}");
            eprintln!("an unprivileged user is told: {message}");
        }
        Response::Ok { data } | Response::Progress { data } => panic!("an unprivileged user was served: {data}"),
    }
    drop(h);
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o660)).unwrap();
    let h = hold_as(NOBODY, NOBODY, &[0], &sock, 1, &status_frame(), true);
    assert!(
        matches!(decode::<Response>(&h.reply), Response::Ok { .. }),
        "a member by a supplementary group is admitted: {:?}",
        String::from_utf8_lossy(&h.reply)
    );
    drop(h);

    let rss_after = rss_kib(pid);
    eprintln!(
        "FIGURE control socket: status {baseline:?} at rest; tobirad VmRSS {rss_before} KiB before, {rss_after} KiB after"
    );
    for (what, worst) in &figures {
        assert!(*worst < LIVENESS, "{what}: the administrator waited {worst:?}");
    }
    assert!(rss_after < rss_before + 64 * 1024, "memory grew from {rss_before} to {rss_after} KiB");
    assert!(d.stop().success(), "the daemon stops cleanly after the flood");
}

#[test]
fn hostile_clients_on_the_login_socket_get_readable_refusals_and_cannot_starve_the_daemon() {
    if !is_root() {
        return cannot_run("hostile clients as another user need root (setuid in a child)");
    }
    let dir = tempfile::tempdir().unwrap();
    let (d, login) = start_with_public_sockets(dir.path());
    let sock = d.sock.clone();
    let pid = d.child.id();
    let rss_before = rss_kib(pid);

    for (what, bytes) in malformed() {
        let reply = raw(&login, &bytes);
        match decode::<LoginMessage>(&reply) {
            LoginMessage::Result { outcome, message, .. } => {
                assert_ne!(outcome, tobira_proto::LoginOutcome::Success, "{what}");
                eprintln!("login socket, {what}: {message}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    for _ in 0..2000 {
        drop(std::os::unix::net::UnixStream::connect(&login).unwrap());
    }
    let account = encode(&LoginRequest::Account(LoginContext {
        user: "takahashi".into(),
        service: "login".into(),
        tty: None,
        rhost: None,
        terminal: "t-01".into(),
    }))
    .unwrap();
    for (flood, n, payload) in
        [("200 idle connections", 200usize, Vec::new()), ("40 half-sent frames", 40, account[..5].to_vec())]
    {
        let h = hold_as(0, 0, &[0], &login, n, &payload, false);
        assert_eq!(h.connected as usize, n, "{flood}: connect failed (errno {})", h.first_errno);
        // The PAM stack (root) is still answered: at once, or told "busy" in words it can pass on.
        let reply = raw(&login, &account);
        let LoginMessage::Result { reason, message, .. } = decode::<LoginMessage>(&reply) else {
            panic!("no result: {reply:?}")
        };
        eprintln!("login socket, {flood}: a PAM request got {reason}: {message}");
        let worst = worst_status(&sock, Duration::from_millis(1500));
        eprintln!("FIGURE login socket, {flood}: the administrator's status answered in {worst:?} at worst");
        assert!(worst < LIVENESS, "{flood}: the administrator waited {worst:?}");
        drop(h);
    }

    // Not root: the 0600 socket keeps them out; through a too-open mode the daemon refuses, readably.
    let h = hold_as(NOBODY, NOBODY, &[0], &login, 1, &account, true);
    assert_eq!((h.connected, h.first_errno), (0, libc::EACCES), "the 0600 socket keeps others out");
    drop(h);
    std::fs::set_permissions(&login, std::fs::Permissions::from_mode(0o666)).unwrap();
    let h = hold_as(NOBODY, NOBODY, &[0], &login, 1, &account, true);
    match decode::<LoginMessage>(&h.reply) {
        LoginMessage::Result { reason, message, .. } => {
            assert_eq!(reason, "NOT_ROOT", "{message}");
            assert!(message.contains("not permitted"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    drop(h);

    let rss_after = rss_kib(pid);
    eprintln!("FIGURE login socket: tobirad VmRSS {rss_before} KiB before, {rss_after} KiB after");
    assert!(rss_after < rss_before + 64 * 1024, "memory grew from {rss_before} to {rss_after} KiB");
    assert!(d.stop().success());
}
