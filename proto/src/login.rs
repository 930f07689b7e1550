//! The login socket: the PAM module asks, the daemon streams prompts and messages for the PAM conversation
//! and ends with one result. The module holds no policy (STYLE: "pam_tobira asks the daemon for decisions").

use serde::{Deserialize, Serialize};

/// Longest user name the daemon accepts; anything longer is refused before any lookup.
pub const MAX_USER: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginContext {
    pub user: String,
    /// PAM service (e.g. "login", "gdm-password").
    pub service: String,
    pub tty: Option<String>,
    /// PAM_RHOST: set for remote sessions, which biometric login refuses (004 §2(9)).
    pub rhost: Option<String>,
    /// The terminal this PAM stack runs on (module argument `terminal=`).
    pub terminal: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum LoginRequest {
    /// pam_sm_authenticate: policy, then a capture on the terminal's reader, then 1:1.
    Authenticate(LoginContext),
    /// pam_sm_acct_mgmt: authority valid now (grant, appointment, office hours or an approval)?
    Account(LoginContext),
    SessionOpen(LoginContext),
    SessionClose(LoginContext),
}

/// How the daemon's answer maps to PAM; the module turns it into a `PAM_*` code in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginOutcome {
    Success,
    /// Biometric did not match, or policy refused the authentication.
    AuthError,
    UserUnknown,
    /// Authority ended (grant expired, appointment over).
    AccountExpired,
    /// Not allowed now (no grant for this terminal, outside office hours without approval, remote).
    PermissionDenied,
    /// Locked out after repeated failures.
    MaxTries,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LoginMessage {
    /// Shown to the person (PAM_TEXT_INFO): "Place your finger on the reader".
    Info { text: String },
    /// Shown as an error (PAM_ERROR_MSG): "Not recognised, 3 tries left".
    Error { text: String },
    /// The last message.
    Result { outcome: LoginOutcome, reason: String, message: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape() {
        let r = LoginRequest::Authenticate(LoginContext {
            user: "tanaka".into(),
            service: "login".into(),
            tty: Some("tty1".into()),
            rhost: None,
            terminal: "t-01".into(),
        });
        let j = serde_json::to_string(&r).unwrap();
        assert!(j.starts_with(r#"{"op":"authenticate","user":"tanaka""#), "{j}");
        let m =
            LoginMessage::Result { outcome: LoginOutcome::MaxTries, reason: "LOCKED_OUT".into(), message: "x".into() };
        assert_eq!(serde_json::from_str::<LoginMessage>(&serde_json::to_string(&m).unwrap()).unwrap(), m);
    }
}
