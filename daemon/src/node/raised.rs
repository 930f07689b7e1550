//! An alarm event just made durable, on its way from `Recorder::record` to the alarm task (`admin::alarms`): the
//! node state holds the sender, so the type lives beside it rather than in the task that receives it.

use chrono::{DateTime, Utc};
use tobira_audit::NewEvent;

/// An alarm event just made durable.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Raised {
    pub seq: i64,
    pub kind: String,
    pub place: Option<String>,
    pub subject: Option<String>,
    pub reason: String,
    pub time: DateTime<Utc>,
}

impl Raised {
    pub fn from_event(ev: &NewEvent) -> Raised {
        Raised {
            seq: 0,
            kind: ev.kind.clone(),
            place: ev.place.clone(),
            subject: ev.subject.clone(),
            reason: ev.reason.clone(),
            time: ev.time,
        }
    }
}
