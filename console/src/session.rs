//! Sessions: short (idle timeout, default 5 minutes, issue 18), held in memory only, identified by a random
//! token in an `HttpOnly; SameSite=Strict` cookie; each carries its own CSRF token. Signing in issues a
//! fresh token (a token planted before sign-in is worth nothing after it). The clock is passed in, so
//! expiry is tested without waiting.

use crate::i18n::Lang;
use rand::Rng;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The person who proved themselves at sign-in, as the daemon answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub name: String,
    pub affiliation: String,
    pub roles: Vec<String>,
}

impl User {
    pub fn has(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// What an act's page shows once after the redirect that follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flash {
    Done(String),
    /// The daemon's refusal (or the console's own "cannot reach the daemon"): its code word and message.
    Refused {
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone)]
pub struct Session {
    pub csrf: String,
    pub lang: Lang,
    pub user: Option<User>,
    pub flash: Option<Flash>,
    /// The session's person was signed out for idleness and has not been told yet.
    ended: bool,
    last_seen: Instant,
}

/// How a request's cookie was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Live,
    /// A signed-in session that sat idle too long: it is gone, and the person must prove themselves again.
    Expired,
    /// No cookie, or one we never issued (or forgot at a restart): a new anonymous session.
    New,
}

pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    pub idle: Duration,
}

/// 256 random bits, hex.
pub fn token() -> String {
    hex::encode(rand::rng().random::<[u8; 32]>())
}

/// Compares secrets without an early exit.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Sessions {
    pub fn new(idle: Duration) -> Self {
        Self { map: Mutex::new(HashMap::new()), idle }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The session named by `cookie`, or a new anonymous one. `touch` counts this request as activity (the
    /// page's own background refresh does not, so an open page does not keep a session alive).
    pub fn open(&self, cookie: Option<&str>, now: Instant, touch: bool) -> (String, Session, Found) {
        let mut map = self.lock();
        let mut lang = Lang::Ja;
        if let Some(t) = cookie
            && let Some(s) = map.get_mut(t)
        {
            let idle_out = now.duration_since(s.last_seen) > self.idle;
            if !idle_out || s.user.is_some() {
                if idle_out {
                    // Signed out in place, so whichever request comes next (the page's background refresh
                    // or the person's next click) still learns why.
                    s.user = None;
                    s.flash = None;
                    s.ended = true;
                    s.last_seen = now;
                }
                let found = if s.ended { Found::Expired } else { Found::Live };
                if touch {
                    // The page the person asked for says it once.
                    s.ended = false;
                    s.last_seen = now;
                }
                return (t.to_string(), s.clone(), found);
            }
            lang = s.lang;
            map.remove(t);
        }
        if map.len() > 10_000 {
            let idle = self.idle;
            map.retain(|_, s| now.duration_since(s.last_seen) <= idle);
        }
        let t = token();
        let s = Session { csrf: token(), lang, user: None, flash: None, ended: false, last_seen: now };
        map.insert(t.clone(), s.clone());
        (t, s, Found::New)
    }

    /// The language of a signed-in session still within its idle time, without counting this as activity
    /// or changing anything (the home page's event stream asks at every update; the next page a person asks
    /// for is the one that says the session ended).
    pub fn peek(&self, token: &str, now: Instant) -> Option<Lang> {
        let map = self.lock();
        let s = map.get(token)?;
        (s.user.is_some() && now.duration_since(s.last_seen) <= self.idle).then_some(s.lang)
    }

    /// The person proved themselves: a fresh session (new token, new CSRF token) replaces the anonymous one.
    pub fn sign_in(&self, old: &str, user: User, now: Instant) -> String {
        let mut map = self.lock();
        let lang = map.remove(old).map(|s| s.lang).unwrap_or_default();
        let t = token();
        map.insert(
            t.clone(),
            Session { csrf: token(), lang, user: Some(user), flash: None, ended: false, last_seen: now },
        );
        t
    }

    pub fn sign_out(&self, token: &str) {
        self.lock().remove(token);
    }

    pub fn set_lang(&self, token: &str, lang: Lang) {
        if let Some(s) = self.lock().get_mut(token) {
            s.lang = lang;
        }
    }

    pub fn set_flash(&self, token: &str, flash: Flash) {
        if let Some(s) = self.lock().get_mut(token) {
            s.flash = Some(flash);
        }
    }

    pub fn take_flash(&self, token: &str) -> Option<Flash> {
        self.lock().get_mut(token).and_then(|s| s.flash.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User { id: "takahashi".into(), name: "高橋".into(), affiliation: "情報政策課".into(), roles: vec![] }
    }

    #[test]
    fn an_idle_session_expires_and_its_person_must_prove_themselves_again() {
        let s = Sessions::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let (anon, _, f) = s.open(None, t0, true);
        assert_eq!(f, Found::New);
        let t = s.sign_in(&anon, user(), t0);
        assert_ne!(t, anon, "signing in issues a fresh token");
        assert_eq!(s.open(Some(&anon), t0, true).2, Found::New, "the pre-sign-in token is worth nothing");
        let (_, live, f) = s.open(Some(&t), t0 + Duration::from_secs(299), true);
        assert_eq!((f, live.user.map(|u| u.id)), (Found::Live, Some("takahashi".into())));
        // Activity at 299 s moved the deadline; the page's background refresh does not.
        let (_, _, f) = s.open(Some(&t), t0 + Duration::from_secs(500), false);
        assert_eq!(f, Found::Live);
        // The page's background refresh is the first to find it idle; the next page still says why, once.
        let (_, s1, f) = s.open(Some(&t), t0 + Duration::from_secs(700), false);
        assert!(s1.user.is_none() && f == Found::Expired);
        let (_, s2, f) = s.open(Some(&t), t0 + Duration::from_secs(701), true);
        assert!(s2.user.is_none() && f == Found::Expired);
        let (_, s3, f) = s.open(Some(&t), t0 + Duration::from_secs(702), true);
        assert!(s3.user.is_none() && f == Found::Live, "told once; still signed out");
    }

    #[test]
    fn peeking_neither_keeps_a_session_alive_nor_ends_it() {
        let s = Sessions::new(Duration::from_secs(300));
        let t0 = Instant::now();
        let (anon, _, _) = s.open(None, t0, true);
        assert_eq!(s.peek(&anon, t0), None, "nobody signed in");
        let t = s.sign_in(&anon, user(), t0);
        assert_eq!(s.peek(&t, t0 + Duration::from_secs(299)), Some(Lang::Ja));
        assert_eq!(s.peek(&t, t0 + Duration::from_secs(301)), None, "peeking at 299 s moved nothing");
        // The next page still learns why.
        assert_eq!(s.open(Some(&t), t0 + Duration::from_secs(302), true).2, Found::Expired);
        assert_eq!(s.peek("unknown", t0), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_compare_whole() {
        let s = Sessions::new(Duration::from_secs(300));
        let (_, a, _) = s.open(None, Instant::now(), true);
        let (_, b, _) = s.open(None, Instant::now(), true);
        assert_ne!(a.csrf, b.csrf);
        assert_eq!(a.csrf.len(), 64);
        assert!(same_secret(&a.csrf, &a.csrf.clone()));
        assert!(!same_secret(&a.csrf, &a.csrf[..63]));
        assert!(!same_secret(&a.csrf, &b.csrf));
    }
}
