//! The control socket's requests: `router` routes each to its handler; every administrative act goes through
//! `audited` before it is applied, and a handler answers with a `Refusal` when it changes nothing.

pub mod alarms;
pub mod audit;
pub mod audited;
pub mod backup;
pub mod cards;
pub mod grant_ids;
pub mod ledgers;
pub mod loss;
pub mod media;
pub mod range;
pub mod requests;
pub mod review;
pub mod router;
pub mod sim;
pub mod templates;
pub mod viewer;
