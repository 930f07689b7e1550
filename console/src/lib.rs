//! `tobira-console`: the site's web console (issue 18), a client of `tobirad`'s control socket exactly like
//! the `tobira` CLI. It holds no policy: every page is the daemon's answer, every act is the daemon's request
//! carrying the signed-in person as its actor, and the daemon proves that person's biometric again at the
//! terminal's reader before it acts (003 §7). What a role is shown is a convenience; the daemon decides.
//!
//! Pure parts (sessions, escaping, the refusal's article) are modules of their own with unit tests; `app`
//! is the thin HTTP edge.

pub mod app;
pub mod captures;
mod daemon;
mod enrol_events;
pub mod feed;
pub mod html;
pub mod i18n;
pub mod live;
mod pages;
mod routes;
pub mod session;
pub mod tls;

pub use app::{Config, State};
pub use routes::{router, router_for};
