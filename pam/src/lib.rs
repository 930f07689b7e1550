//! `pam_tobira.so`: asks `tobirad` over its login socket and relays its prompts through the PAM
//! conversation. It holds no policy and links no async runtime (DESIGN: "pam → proto"); every decision is
//! the daemon's. It never blocks forever: past `timeout=` seconds, or with the daemon unreachable, it answers
//! `PAM_AUTHINFO_UNAVAIL`, so the PAM stack's configuration decides what happens then.
//!
//! Module arguments: `socket=PATH` (default `/var/lib/tobira/login.sock`), `terminal=ID` (this terminal's
//! id in the site file; required), `timeout=SECONDS` (default 30).

mod client;

use client::{Args, Exchange, exchange};
use pam::constants::{PAM_ERROR_MSG, PAM_TEXT_INFO, PamFlag, PamResultCode};
use pam::conv::Conv;
use pam::items::{RHost, Service, Tty};
use pam::module::{PamHandle, PamHooks};
use pam::pam_hooks;
use std::ffi::CStr;
use tobira_proto::{LoginContext, LoginMessage, LoginOutcome, LoginRequest};

struct Tobira;
pam_hooks!(Tobira);

/// The one place where the daemon's answers become PAM codes (STYLE §5).
pub fn pam_code(outcome: LoginOutcome) -> PamResultCode {
    match outcome {
        LoginOutcome::Success => PamResultCode::PAM_SUCCESS,
        LoginOutcome::AuthError => PamResultCode::PAM_AUTH_ERR,
        LoginOutcome::UserUnknown => PamResultCode::PAM_USER_UNKNOWN,
        LoginOutcome::AccountExpired => PamResultCode::PAM_ACCT_EXPIRED,
        LoginOutcome::PermissionDenied => PamResultCode::PAM_PERM_DENIED,
        LoginOutcome::MaxTries => PamResultCode::PAM_MAXTRIES,
    }
}

fn item<'a, T: pam::items::Item<'a> + std::ops::Deref<Target = &'a CStr>>(pamh: &'a PamHandle) -> Option<String> {
    pamh.get_item::<T>().ok().flatten().map(|v| v.to_string_lossy().into_owned())
}

fn context(pamh: &mut PamHandle, args: &Args) -> Result<LoginContext, PamResultCode> {
    let user = pamh.get_user(None).map_err(|_| PamResultCode::PAM_USER_UNKNOWN)?;
    Ok(LoginContext {
        user,
        service: item::<Service>(pamh).unwrap_or_default(),
        tty: item::<Tty>(pamh),
        rhost: item::<RHost>(pamh),
        terminal: args.terminal.clone(),
    })
}

/// Sends one request and relays the daemon's messages to the person; returns the PAM code.
fn run(
    pamh: &mut PamHandle,
    raw_args: Vec<&CStr>,
    make: fn(LoginContext) -> LoginRequest,
) -> (PamResultCode, Option<LoginOutcome>) {
    let args = match Args::parse(&raw_args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("pam_tobira: {e}");
            return (PamResultCode::PAM_SERVICE_ERR, None);
        }
    };
    let ctx = match context(pamh, &args) {
        Ok(c) => c,
        Err(code) => return (code, None),
    };
    let conv = pamh.get_item::<Conv>().ok().flatten();
    // The daemon may already have said why (a refusal before capture, "N tries left"): the result's
    // message is then not said again, so every message appears once (issue 22 §4).
    let said_error = std::cell::Cell::new(false);
    let say = |m: &LoginMessage| {
        if let Some(conv) = &conv {
            let _ = match m {
                LoginMessage::Info { text } => conv.send(PAM_TEXT_INFO, text),
                LoginMessage::Error { text } => {
                    said_error.set(true);
                    conv.send(PAM_ERROR_MSG, text)
                }
                LoginMessage::Result { .. } => Ok(None),
            };
        }
    };
    match exchange(&args, &make(ctx), say) {
        Exchange::Answered { outcome, message } => {
            if outcome != LoginOutcome::Success
                && !said_error.get()
                && let Some(conv) = &conv
            {
                let _ = conv.send(PAM_ERROR_MSG, &message);
            }
            (pam_code(outcome), Some(outcome))
        }
        Exchange::Unavailable(why) => {
            if let Some(conv) = &conv {
                let _ = conv.send(PAM_ERROR_MSG, &format!("Biometric login unavailable: {why}"));
            }
            (PamResultCode::PAM_AUTHINFO_UNAVAIL, None)
        }
    }
}

impl PamHooks for Tobira {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, args, LoginRequest::Authenticate).0
    }

    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        match run(pamh, args, LoginRequest::Account) {
            // Lockout is an authentication matter; for the account it means "not now".
            (_, Some(LoginOutcome::MaxTries)) => PamResultCode::PAM_PERM_DENIED,
            (code, _) => code,
        }
    }

    fn sm_open_session(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, args, LoginRequest::SessionOpen).0
    }

    fn sm_close_session(pamh: &mut PamHandle, args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        run(pamh, args, LoginRequest::SessionClose).0
    }

    /// No credentials to set: succeed harmlessly.
    fn sm_setcred(_pamh: &mut PamHandle, _args: Vec<&CStr>, _flags: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }
}
