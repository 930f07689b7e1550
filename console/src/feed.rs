//! The live view's hub (issue 18 "doors and readers live"): the poller's latest answer, shared by every
//! `/events` stream, and whether a poller runs. Apart from [`crate::live`] (which polls the daemon and renders)
//! so that the console's state can hold it without the two modules importing each other.

use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::watch;

/// What the daemon answered at one poll; `None` when it could not be reached.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub devices: Value,
    pub status: Value,
    pub open_alarms: Vec<Value>,
}

/// The latest poll: `None` before the first, `Some(None)` when the daemon could not be reached.
pub type Latest = Option<Option<Arc<Snapshot>>>;

/// The poller's latest answer, shared by every `/events` stream.
pub struct Live {
    tx: watch::Sender<Latest>,
    polling: AtomicBool,
}

impl Default for Live {
    fn default() -> Self {
        Self { tx: watch::channel(None).0, polling: AtomicBool::new(false) }
    }
}

impl Live {
    /// A receiver of every poll, and whether the caller must start the poller (nobody was polling).
    pub fn subscribe(&self) -> (watch::Receiver<Latest>, bool) {
        let rx = self.tx.subscribe();
        let start = !self.polling.swap(true, Ordering::AcqRel);
        (rx, start)
    }

    /// One poll's answer, to every watching page.
    pub fn publish(&self, snap: Option<Snapshot>) {
        self.tx.send_replace(Some(snap.map(Arc::new)));
    }

    /// After a poll: whether a page still watches. When none does the poller stops (false), unless a page
    /// subscribed between the count and the store and found the poller still running: then it keeps on.
    pub fn keep_polling(&self) -> bool {
        if self.tx.receiver_count() == 0 {
            self.polling.store(false, Ordering::Release);
            if self.tx.receiver_count() == 0 || self.polling.swap(true, Ordering::AcqRel) {
                return false;
            }
        }
        true
    }
}
