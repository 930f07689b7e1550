//! The login socket for `pam_tobira.so` (DESIGN "Terminal login"). Only root may call it: PAM stacks run as
//! root, and nothing else on the terminal may ask the daemon to log someone in (THREATS: "a local process").
//! One request per connection; prompts stream back as they happen; the last frame is the result, sent only
//! after the audit event is durable.

use crate::flows::login::{Login, Notes};
use crate::node::heartbeat::Heartbeats;
use crate::sockets::control::{Limits, Peer, ReadError, refuse};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tobira_audit::{NewEvent, Outcome};
use tobira_core::ids::{PersonId, TerminalId};
use tobira_core::policy::{Reason, Request};
use tobira_proto::{LoginContext, LoginMessage, LoginOutcome, LoginRequest, MAX_USER, encode};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};

/// Logins served at once (only root may call, so the per-UID share is the whole); one more is told "busy"
/// at once instead of waiting. Doors are served by their own tasks.
const LIMITS: Limits = Limits { per_uid: 16, total: 16, refusing: 64 };
/// Requests are small; anything larger is refused from its declared length, before it is buffered.
const MAX_REQUEST: usize = 4096;

pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    crate::sockets::control::remove_stale(path)?;
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// What PAM should hear for a decision: one typed match over the reasons themselves, never their codes as
/// strings.
pub fn outcome_for(granted: bool, reason: Reason) -> LoginOutcome {
    if granted {
        return LoginOutcome::Success;
    }
    match reason {
        Reason::NotIdentified | Reason::NoSample | Reason::AuditUnavailable => LoginOutcome::AuthError,
        Reason::LockedOut => LoginOutcome::MaxTries,
        Reason::UnknownPerson => LoginOutcome::UserUnknown,
        Reason::GrantExpired | Reason::AppointmentEnded | Reason::PersonInactive => LoginOutcome::AccountExpired,
        Reason::GrantValid
        | Reason::OffHoursApproved
        | Reason::VendorEscorted
        | Reason::ExitRecorded
        | Reason::NoGrant
        | Reason::GrantNotYetValid
        | Reason::IssuerLacksRole
        | Reason::WrongIssuerRole
        | Reason::NotInsideParent
        | Reason::OutsideOfficeHours
        | Reason::Holiday
        | Reason::VendorNoVisit
        | Reason::VendorOutsideWindow
        | Reason::VendorNoEscort
        | Reason::UnknownDoor
        | Reason::UnknownTerminal
        | Reason::RemoteLoginRefused
        | Reason::DeviceOffline
        | Reason::StrikeFailed
        | Reason::CentralStale
        | Reason::ReaderThrottled => LoginOutcome::PermissionDenied,
        // `Reason` is non-exhaustive: a reason added later is a plain refusal until it is placed above.
        _ => LoginOutcome::PermissionDenied,
    }
}

fn valid_user(u: &str) -> bool {
    !u.is_empty() && u.len() <= MAX_USER && u.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

fn remote(ctx: &LoginContext) -> bool {
    ctx.rhost.as_deref().is_some_and(|h| !h.is_empty() && h != "localhost" && h != "127.0.0.1" && h != "::1")
}

/// Serves the login socket with the login flow's handles (`Login`), not the whole daemon (issue 20).
pub async fn serve(
    login: Login,
    heartbeats: Arc<Heartbeats>,
    listener: UnixListener,
    shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let busy = |reason: String| result_frame(LoginOutcome::AuthError, "BUSY", reason);
    crate::sockets::control::accept_loop(
        listener,
        LIMITS,
        MAX_REQUEST,
        shutdown,
        crate::sockets::control::Served { what: "login", alive: Some(heartbeats.register("login socket")) },
        busy,
        move |stream, peer, req| handle(login.clone(), stream, peer, req),
    )
    .await
}

async fn send(stream: &mut UnixStream, m: &LoginMessage) -> bool {
    match encode(m) {
        Ok(b) => stream.write_all(&b).await.is_ok(),
        Err(_) => false,
    }
}

fn result_frame(outcome: LoginOutcome, reason: &str, message: String) -> Vec<u8> {
    encode(&LoginMessage::Result { outcome, reason: reason.into(), message }).unwrap_or_default()
}

async fn finish(mut stream: UnixStream, outcome: LoginOutcome, reason: &str, message: String) {
    let _ = send(&mut stream, &LoginMessage::Result { outcome, reason: reason.into(), message }).await;
    let _ = stream.shutdown().await;
}

async fn handle(d: Login, stream: UnixStream, peer: Peer, req: Result<LoginRequest, ReadError>) {
    // Refused only once the request is read: the caller's write succeeds and it reads the reason.
    if peer.uid != 0 {
        tracing::warn!(uid = peer.uid, "login socket: caller is not root; refused");
        let msg = "not permitted (権限なし): only the PAM stack (root) may use the login socket".to_string();
        return refuse(stream, &result_frame(LoginOutcome::PermissionDenied, "NOT_ROOT", msg)).await;
    }
    let req = match req {
        Ok(r) => r,
        Err(ReadError::Closed) => return,
        Err(e) => {
            static WARNED: std::sync::Mutex<(Option<std::time::Instant>, u64)> = std::sync::Mutex::new((None, 0));
            e.log("login", &WARNED);
            return finish(stream, LoginOutcome::AuthError, "BAD_REQUEST", e.message()).await;
        }
    };
    let ctx = match &req {
        LoginRequest::Authenticate(c)
        | LoginRequest::Account(c)
        | LoginRequest::SessionOpen(c)
        | LoginRequest::SessionClose(c) => c.clone(),
    };
    // Refuse malformed names before any lookup; never echo a name that is not a valid user ID.
    if !valid_user(&ctx.user) {
        return finish(stream, LoginOutcome::UserUnknown, "UNKNOWN_PERSON", "unknown user".into()).await;
    }
    match req {
        LoginRequest::Authenticate(ctx) => authenticate(&d, stream, ctx).await,
        LoginRequest::Account(ctx) => account(&d, stream, ctx).await,
        LoginRequest::SessionOpen(ctx) => session(&d, stream, ctx, "session.open").await,
        LoginRequest::SessionClose(ctx) => session(&d, stream, ctx, "session.close").await,
    }
}

async fn authenticate(d: &Login, mut stream: UnixStream, ctx: LoginContext) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let d2 = d.clone();
    let c2 = ctx.clone();
    let flow = tokio::spawn(async move { d2.login_with(&c2.terminal, &c2.user, remote(&c2), &Notes::to(tx)).await });
    // Relay the flow's messages as they come; the flow ends when its sender drops.
    while let Some(m) = rx.recv().await {
        if !send(&mut stream, &m).await {
            break;
        }
    }
    match flow.await {
        Ok(r) => finish(stream, outcome_for(r.granted, r.reason), &r.report.reason, r.report.message).await,
        Err(_) => {
            finish(stream, LoginOutcome::AuthError, "INTERNAL", "the login flow failed; see the daemon log".into())
                .await
        }
    }
}

/// pam_sm_acct_mgmt: is this person's authority valid here now? No capture, no lockout change.
async fn account(d: &Login, stream: UnixStream, ctx: LoginContext) {
    let now = d.clock.now();
    let req = Request::Login {
        terminal: TerminalId::new(&ctx.terminal),
        person: PersonId::new(&ctx.user),
        remote: remote(&ctx),
    };
    let dec = d.live.decide(&req, now);
    let ev = crate::node::daemon::decision_event(
        "login.account",
        now,
        Some(&PersonId::new(&ctx.user)),
        &ctx.terminal,
        &dec,
        None,
        serde_json::json!({"service": ctx.service, "tty": ctx.tty}),
    );
    if d.recorder.record(ev).await.is_err() {
        return finish(
            stream,
            LoginOutcome::AuthError,
            "AUDIT_UNAVAILABLE",
            "the operation history cannot be recorded".into(),
        )
        .await;
    }
    finish(stream, outcome_for(dec.is_granted(), dec.reason), dec.reason.code(), dec.reason.to_string()).await;
}

/// Login and logout are the operation history (操作履歴, 000 §9); a session that cannot be recorded does not open.
async fn session(d: &Login, stream: UnixStream, ctx: LoginContext, kind: &str) {
    let ev = NewEvent::new(d.clock.now(), kind, Outcome::Info, if kind == "session.open" { "LOGIN" } else { "LOGOUT" })
        .actor(ctx.user.clone())
        .subject(ctx.user.clone())
        .place(ctx.terminal.clone())
        .article("000 §9, 003 §17")
        .details(serde_json::json!({"service": ctx.service, "tty": ctx.tty, "rhost": ctx.rhost}));
    match d.recorder.record(ev).await {
        Ok(_) => finish(stream, LoginOutcome::Success, "RECORDED", "recorded".into()).await,
        Err(_) => {
            finish(
                stream,
                LoginOutcome::PermissionDenied,
                "AUDIT_UNAVAILABLE",
                "the operation history cannot be recorded".into(),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_as_pam_expects() {
        assert_eq!(outcome_for(true, Reason::GrantValid), LoginOutcome::Success);
        assert_eq!(outcome_for(false, Reason::NotIdentified), LoginOutcome::AuthError);
        assert_eq!(outcome_for(false, Reason::LockedOut), LoginOutcome::MaxTries);
        assert_eq!(outcome_for(false, Reason::UnknownPerson), LoginOutcome::UserUnknown);
        assert_eq!(outcome_for(false, Reason::GrantExpired), LoginOutcome::AccountExpired);
        assert_eq!(outcome_for(false, Reason::AppointmentEnded), LoginOutcome::AccountExpired);
        assert_eq!(outcome_for(false, Reason::OutsideOfficeHours), LoginOutcome::PermissionDenied);
        assert_eq!(outcome_for(false, Reason::CentralStale), LoginOutcome::PermissionDenied);
        assert_eq!(
            outcome_for(false, Reason::AuditUnavailable),
            LoginOutcome::AuthError,
            "fail secure: never a soft failure"
        );
    }

    #[test]
    fn user_names_are_checked() {
        assert!(valid_user("tanaka"));
        assert!(!valid_user(""));
        assert!(!valid_user(&"a".repeat(65)));
        assert!(!valid_user("tanaka; rm -rf /"));
        assert!(!valid_user("田中"));
    }
}
