//! The module's side of the login socket: blocking std I/O with a deadline.

use std::ffi::CStr;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tobira_proto::{LoginMessage, LoginOutcome, LoginRequest, read_frame, write_frame};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub socket: PathBuf,
    pub terminal: String,
    pub timeout: Duration,
}

/// A mistake in the module's arguments in the PAM stack (`/etc/pam.d/…`): said on stderr, and the module
/// answers PAM_SERVICE_ERR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("module argument is not UTF-8")]
    NotUtf8,
    #[error("timeout={0}: not a number of seconds")]
    Timeout(String),
    #[error("unknown module argument {0:?} (known: socket=, terminal=, timeout=)")]
    Unknown(String),
    /// Without it the daemon cannot tell which terminal's reader to use.
    #[error("terminal= is required: the id of this terminal in tobirad's site file")]
    NoTerminal,
}

impl Args {
    pub fn parse(args: &[&CStr]) -> Result<Args, ArgsError> {
        let mut a = Args {
            socket: PathBuf::from("/var/lib/tobira/login.sock"),
            terminal: String::new(),
            timeout: Duration::from_secs(30),
        };
        for raw in args {
            let s = raw.to_str().map_err(|_| ArgsError::NotUtf8)?;
            match s.split_once('=') {
                Some(("socket", v)) => a.socket = PathBuf::from(v),
                Some(("terminal", v)) => a.terminal = v.to_string(),
                Some(("timeout", v)) => {
                    let secs: u64 = v.parse().map_err(|_| ArgsError::Timeout(v.to_string()))?;
                    a.timeout = Duration::from_secs(secs.clamp(1, 600));
                }
                _ => return Err(ArgsError::Unknown(s.to_string())),
            }
        }
        if a.terminal.is_empty() {
            return Err(ArgsError::NoTerminal);
        }
        Ok(a)
    }
}

pub enum Exchange {
    Answered {
        outcome: LoginOutcome,
        message: String,
    },
    /// The daemon could not be reached or did not answer in time.
    Unavailable(String),
}

pub fn exchange(args: &Args, req: &LoginRequest, mut say: impl FnMut(&LoginMessage)) -> Exchange {
    let deadline = Instant::now() + args.timeout;
    let mut s = match UnixStream::connect(&args.socket) {
        Ok(s) => s,
        Err(e) => return Exchange::Unavailable(format!("tobirad is not reachable at {} ({e})", args.socket.display())),
    };
    if let Err(e) = write_frame(&mut s, req) {
        // A daemon that refuses us (not root, busy) may close before our request is written: read its reason.
        let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
        if let Ok(Some(LoginMessage::Result { outcome, message, .. })) = read_frame::<_, LoginMessage>(&mut s) {
            return Exchange::Answered { outcome, message };
        }
        return Exchange::Unavailable(format!("cannot send the request ({e})"));
    }
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            return Exchange::Unavailable(format!("no answer within {} s", args.timeout.as_secs()));
        }
        match read_frame::<_, LoginMessage>(&mut s) {
            Ok(Some(LoginMessage::Result { outcome, message, .. })) => return Exchange::Answered { outcome, message },
            Ok(Some(m)) => say(&m),
            Ok(None) => return Exchange::Unavailable("tobirad closed the connection without an answer".into()),
            Err(e) => {
                return Exchange::Unavailable(format!("no valid answer within {} s ({e})", args.timeout.as_secs()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn parse(v: &[&str]) -> Result<Args, ArgsError> {
        let owned: Vec<CString> = v.iter().map(|s| CString::new(*s).unwrap()).collect();
        let refs: Vec<&CStr> = owned.iter().map(|c| c.as_c_str()).collect();
        Args::parse(&refs)
    }

    #[test]
    fn arguments() {
        let a = parse(&["terminal=t-01", "socket=/run/x.sock", "timeout=5"]).unwrap();
        assert_eq!(a.terminal, "t-01");
        assert_eq!(a.socket, PathBuf::from("/run/x.sock"));
        assert_eq!(a.timeout, Duration::from_secs(5));
        assert_eq!(
            parse(&[]).unwrap_err().to_string(),
            "terminal= is required: the id of this terminal in tobirad's site file"
        );
        assert_eq!(
            parse(&["terminal=t", "timeout=soon"]).unwrap_err().to_string(),
            "timeout=soon: not a number of seconds"
        );
        assert_eq!(
            parse(&["terminal=t", "debug"]).unwrap_err().to_string(),
            "unknown module argument \"debug\" (known: socket=, terminal=, timeout=)"
        );
    }

    /// The daemon refuses (not root, busy) and closes with the request unread: the module's write fails
    /// with EPIPE, and the daemon's reason must still be what PAM hears (issue 15).
    #[test]
    fn a_refusal_sent_before_the_request_is_read_is_still_readable() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("pam-tobira-refusal-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("login.sock");
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let m = LoginMessage::Result {
                outcome: LoginOutcome::PermissionDenied,
                reason: "NOT_ROOT".into(),
                message: "not permitted".into(),
            };
            s.write_all(&tobira_proto::encode(&m).unwrap()).unwrap();
        });
        let socket = format!("socket={}", path.display());
        let a = parse(&["terminal=t-01", &socket, "timeout=5"]).unwrap();
        // Larger than the socket's buffers, so the write is still going on when the daemon closes.
        let big = tobira_proto::LoginContext {
            user: "x".repeat(2 * 1024 * 1024),
            service: "s".into(),
            tty: None,
            rhost: None,
            terminal: "t-01".into(),
        };
        let r = exchange(&a, &LoginRequest::Account(big), |_| {});
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        match r {
            Exchange::Answered { outcome, message } => {
                assert_eq!(outcome, LoginOutcome::PermissionDenied);
                assert_eq!(message, "not permitted");
            }
            Exchange::Unavailable(e) => panic!("the refusal was lost: {e}"),
        }
    }

    #[test]
    fn unreachable_daemon_is_unavailable_quickly() {
        let a = parse(&["terminal=t-01", "socket=/nonexistent/login.sock", "timeout=2"]).unwrap();
        let t = Instant::now();
        let r = exchange(
            &a,
            &LoginRequest::Account(tobira_proto::LoginContext {
                user: "x".into(),
                service: "s".into(),
                tty: None,
                rhost: None,
                terminal: "t-01".into(),
            }),
            |_| {},
        );
        assert!(matches!(r, Exchange::Unavailable(_)));
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn silent_daemon_times_out() {
        let dir = std::env::temp_dir().join(format!("pam-tobira-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let _ = std::fs::remove_file(&sock);
        let l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let hold = std::thread::spawn(move || {
            let (_c, _) = l.accept().unwrap();
            std::thread::sleep(Duration::from_secs(3));
        });
        let a = parse(&["terminal=t-01", &format!("socket={}", sock.display()), "timeout=1"]).unwrap();
        let t = Instant::now();
        let r = exchange(
            &a,
            &LoginRequest::Account(tobira_proto::LoginContext {
                user: "x".into(),
                service: "s".into(),
                tty: None,
                rhost: None,
                terminal: "t-01".into(),
            }),
            |_| {},
        );
        assert!(matches!(r, Exchange::Unavailable(_)));
        assert!(t.elapsed() < Duration::from_millis(2500), "the timeout bounds the wait");
        hold.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
