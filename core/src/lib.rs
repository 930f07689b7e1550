//! tobira's pure domain core: the regulations as policy.
//!
//! - [`admin`]: who may perform which administrative act, directly or by request (003 §5(4), §7).
//! - [`ids`], [`model`]: people, roles, grants, approvals, visits, and the [`model::Registry`] snapshot.
//! - [`grant_id`]: short grant ids (`G-0345`, `G-kita-shisho-0345` on a multi-node site) as typed and stored.
//! - [`site`]: the site layout file, checked with file/line/field errors.
//! - [`regulation`]: city profiles — which role issues each level, designates operators, approves viewing
//!   (presets for the five regulations; Sendai's the default).
//! - [`calendar`]: office hours and Japanese holidays (002 §5-2).
//! - [`dates`]: what a day given as the start or the end of a range means (one rule for every command).
//! - [`policy`]: `decide(request, context) -> Decision` — every rule of DESIGN.md "Rules".
//! - [`lockout`]: throttling of biometric failures (NIST SP 800-63B).
//! - [`occupancy`]: who is inside which zone; recent authentications for escorts.
//! - [`escort`]: an escort stays with the vendor while the vendor is inside (003 §13(4)).
//! - [`media`]: devices and media a vendor brings in and takes out (000 §7(2)); consents to take media out
//!   (003 §11(3)).
//! - [`door`]: the door state machine.
//! - [`authmode`], [`card`]: what a door asks before the policy decides (finger, card + finger).
//!
//! Nothing here reads a clock, a file or a socket, and the crate links no runtime: the daemon passes the
//! time in, so every rule is tested with plain values.

pub mod admin;
pub mod authmode;
pub mod calendar;
pub mod card;
pub mod dates;
pub mod door;
pub mod escort;
pub mod grant_id;
pub mod ids;
pub mod lockout;
pub mod media;
pub mod model;
pub mod occupancy;
pub mod policy;
pub mod regulation;
pub mod roles;
pub mod site;
pub mod staleness;
pub mod throttle;
