//! The control socket's requests: `router` routes each to its handler (`people`, `grants`, `visits`, `status`, …); every administrative act goes through
//! `audited` before it is applied, and a handler answers with a `Refusal` when it changes nothing.

pub mod alarms;
pub mod audit;
pub mod audited;
pub mod backup;
pub mod cards;
pub mod grant_ids;
pub mod grants;
pub mod ledgers;
pub mod listing;
pub mod loss;
pub mod media;
pub mod people;
pub mod range;
pub mod requests;
pub mod review;
pub mod router;
pub mod sim;
pub mod status;
pub mod templates;
pub mod threshold_check;
pub mod viewer;
pub mod visits;
