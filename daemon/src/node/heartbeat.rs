//! Liveness of the paths a person waits on (issue 19): each door task and the login socket's accept loop
//! beat a heartbeat every turn of their loop, idle or busy. systemd's watchdog is pinged only while every
//! heartbeat is fresh (`run::systemd`), so a door task wedged inside one event stops the pings, systemd
//! restarts the daemon, and the doors stay locked meanwhile (strikes are fail-secure).
//!
//! The clock is tokio's, so the tests drive it with paused time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How often the watched loops wake when idle to beat (the door task's tick is the same 250 ms).
pub const BEAT: Duration = Duration::from_millis(250);

struct Slot {
    /// What is watched, for the log and STATUS= when it goes stale ("door d01", "login socket").
    name: String,
    /// Milliseconds from `Heartbeats::start` at the last beat.
    last_ms: AtomicU64,
}

/// Every watched path's heartbeat, shared by the tasks that beat and the watchdog pinger that reads them.
pub struct Heartbeats {
    start: Instant,
    slots: Mutex<Vec<Arc<Slot>>>,
}

impl Default for Heartbeats {
    fn default() -> Self {
        Heartbeats { start: Instant::now(), slots: Mutex::new(Vec::new()) }
    }
}

/// One watched path's heartbeat: beat it every turn of the loop.
#[derive(Clone)]
pub struct Heartbeat {
    start: Instant,
    slot: Arc<Slot>,
}

impl Heartbeat {
    pub fn beat(&self) {
        self.slot.last_ms.store(ms_since(self.start), Ordering::Relaxed);
    }
}

fn ms_since(start: Instant) -> u64 {
    u64::try_from(Instant::now().saturating_duration_since(start).as_millis()).unwrap_or(u64::MAX)
}

impl Heartbeats {
    /// A new watched path, fresh from now (a door task that has not run its first turn yet is not stale).
    pub fn register(&self, name: impl Into<String>) -> Heartbeat {
        let slot = Arc::new(Slot { name: name.into(), last_ms: AtomicU64::new(ms_since(self.start)) });
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).push(slot.clone());
        Heartbeat { start: self.start, slot }
    }

    /// The watched paths that have not beaten within `max_age`, with how long ago they last did.
    pub fn stale(&self, max_age: Duration) -> Vec<(String, Duration)> {
        let now = ms_since(self.start);
        let max = u64::try_from(max_age.as_millis()).unwrap_or(u64::MAX);
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|s| {
                let age = now.saturating_sub(s.last_ms.load(Ordering::Relaxed));
                (age > max).then(|| (s.name.clone(), Duration::from_millis(age)))
            })
            .collect()
    }

    /// How many paths are watched.
    pub fn len(&self) -> usize {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_path_that_stops_beating_is_stale_and_only_it() {
        let hb = Heartbeats::default();
        let door = hb.register("door d01");
        let login = hb.register("login socket");
        assert!(hb.stale(Duration::from_secs(1)).is_empty(), "fresh when registered");
        tokio::time::advance(Duration::from_millis(800)).await;
        login.beat();
        tokio::time::advance(Duration::from_millis(400)).await;
        door.beat();
        assert!(hb.stale(Duration::from_secs(1)).is_empty());
        tokio::time::advance(Duration::from_millis(700)).await;
        // login last beat 1.1 s ago, the door 0.7 s ago.
        let stale = hb.stale(Duration::from_secs(1));
        assert_eq!(stale.len(), 1, "{stale:?}");
        assert_eq!(stale[0].0, "login socket");
        assert_eq!(stale[0].1, Duration::from_millis(1100));
    }
}
