//! Telling systemd how the daemon is doing (issue 19), over the `sd_notify` datagram protocol
//! (sd_notify(3)): `STATUS=` lines as start-up proceeds, `READY=1` once the stores are open, the devices
//! configured and the audit chain verified, `STOPPING=1` on the way out, and `WATCHDOG=1` pings only while
//! every watched path (`node::heartbeat`: the door tasks, the login socket) is alive.
//!
//! Without `NOTIFY_SOCKET` (a terminal, the tests) every call is a no-op; a send that fails is logged once
//! and never stops the daemon: systemd then times the start out or restarts it, which is what it is for.

use crate::node::heartbeat::Heartbeats;
use sd_notify::NotifyState;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Sends `states` to systemd if it is listening.
pub fn notify(states: &[NotifyState]) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if let Err(e) = sd_notify::notify(states)
        && !WARNED.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(error = %e, "cannot notify systemd (NOTIFY_SOCKET)");
    }
}

/// `STATUS=`: one line saying what the daemon is doing (`systemctl status tobirad` shows it).
pub fn status(line: &str) {
    notify(&[NotifyState::Status(line)]);
}

/// `READY=1` with the status that goes with it.
pub fn ready(line: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(line)]);
}

/// `STOPPING=1`: the stop has begun (events in flight are being finished).
pub fn stopping(line: &str) {
    notify(&[NotifyState::Stopping, NotifyState::Status(line)]);
}

/// The watchdog systemd asks for (`WatchdogSec=`, passed as `WATCHDOG_USEC` for our pid), if any.
pub fn watchdog() -> Option<Watchdog> {
    sd_notify::watchdog_enabled().filter(|d| !d.is_zero()).map(Watchdog::for_timeout)
}

/// When to ping and how old a heartbeat may be for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watchdog {
    /// Time between two pings checks (a quarter of systemd's timeout: sd_watchdog_enabled(3) asks for at
    /// least half, and a late tick must not cost the daemon its life).
    pub every: Duration,
    /// A path whose last beat is older than this withholds the pings (half the timeout): a wedged door is
    /// restarted within about 1.5 × `WatchdogSec=`, a busy one that beats between events never is.
    pub max_age: Duration,
}

impl Watchdog {
    pub fn for_timeout(timeout: Duration) -> Watchdog {
        Watchdog { every: timeout / 4, max_age: (timeout / 2).max(crate::node::heartbeat::BEAT * 2) }
    }
}

/// Pings through `send` every `w.every` while no heartbeat is stale, until `stop` turns true. The first
/// stale path is logged and put in `STATUS=` once per episode, so an operator reading `systemctl status`
/// after the restart sees which path hung.
pub async fn pinger(
    heartbeats: Arc<Heartbeats>,
    w: Watchdog,
    mut send: impl FnMut(&[NotifyState]),
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(w.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut withheld = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        let stale = heartbeats.stale(w.max_age);
        match stale.first() {
            None => {
                if withheld {
                    tracing::info!("every watched path answers again: watchdog pings resumed");
                    withheld = false;
                }
                send(&[NotifyState::Watchdog]);
            }
            Some((name, age)) if !withheld => {
                withheld = true;
                let line = format!(
                    "{name} has not answered for {} s: watchdog pings withheld, systemd will restart tobirad \
                     (doors stay locked meanwhile)",
                    age.as_secs()
                );
                tracing::error!(path = %name, stale_s = age.as_secs(), "{line}");
                send(&[NotifyState::Status(&line)]);
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::heartbeat::BEAT;
    use std::sync::Mutex;

    fn text(states: &[NotifyState]) -> String {
        states.iter().map(|s| s.to_string()).collect::<Vec<_>>().join("\n")
    }

    /// A door loop as `flows::doors::door_task` runs it: beat every turn, wake at least every `BEAT`. Once
    /// `wedge` is notified it hangs inside "an event" forever, as a door stuck on a device or a lock would.
    async fn door_loop(alive: crate::node::heartbeat::Heartbeat, wedge: Arc<tokio::sync::Notify>) {
        let mut tick = tokio::time::interval(BEAT);
        loop {
            alive.beat();
            tokio::select! {
                _ = wedge.notified() => std::future::pending::<()>().await,
                _ = tick.tick() => {}
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wedged_door_stops_the_pings_and_the_others_do_not_hide_it() {
        let hb = Arc::new(Heartbeats::default());
        let wedge = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(door_loop(hb.register("door d01"), wedge.clone()));
        tokio::spawn(door_loop(hb.register("login socket"), Arc::new(tokio::sync::Notify::new())));
        let sent = Arc::new(Mutex::new(Vec::<(tokio::time::Instant, String)>::new()));
        let log = sent.clone();
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        // WatchdogSec=4: a check every second, a heartbeat may be 2 s old.
        let w = Watchdog::for_timeout(Duration::from_secs(4));
        assert_eq!(w, Watchdog { every: Duration::from_secs(1), max_age: Duration::from_secs(2) });
        tokio::spawn(pinger(
            hb.clone(),
            w,
            move |s| log.lock().unwrap().push((tokio::time::Instant::now(), text(s))),
            stop,
        ));
        tokio::time::sleep(Duration::from_secs(10)).await;
        let pings = |from: tokio::time::Instant| {
            sent.lock().unwrap().iter().filter(|(t, s)| *t >= from && s == "WATCHDOG=1").count()
        };
        let t0 = tokio::time::Instant::now() - Duration::from_secs(10);
        assert!(pings(t0) >= 9, "healthy paths ping every second: {:?}", sent.lock().unwrap());

        wedge.notify_one();
        let wedged_at = tokio::time::Instant::now();
        tokio::time::sleep(Duration::from_secs(30)).await;
        // At most the checks within max_age of the last beat still ping; none after that.
        let after = pings(wedged_at + w.max_age + w.every);
        assert_eq!(after, 0, "a wedged door must stop the pings: {:?}", sent.lock().unwrap());
        let status: Vec<_> =
            sent.lock().unwrap().iter().filter(|(_, s)| s.starts_with("STATUS=")).map(|(_, s)| s.clone()).collect();
        assert_eq!(status.len(), 1, "the stale path is said once: {status:?}");
        assert!(status[0].contains("door d01") && status[0].contains("withheld"), "{status:?}");
        // The systemd timeout (4 s) is exceeded: systemd would restart the daemon.
        let last = sent.lock().unwrap().iter().filter(|(_, s)| s == "WATCHDOG=1").map(|(t, _)| *t).max();
        assert!(last.is_some_and(|t| tokio::time::Instant::now() - t > Duration::from_secs(4)));
    }

    #[tokio::test(start_paused = true)]
    async fn pings_resume_when_the_path_answers_again() {
        let hb = Arc::new(Heartbeats::default());
        let login = hb.register("login socket");
        let sent = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = sent.clone();
        let (_stop_tx, stop) = tokio::sync::watch::channel(false);
        let w = Watchdog::for_timeout(Duration::from_secs(4));
        tokio::spawn(pinger(hb.clone(), w, move |s| log.lock().unwrap().push(text(s)), stop));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(sent.lock().unwrap().iter().any(|s| s.starts_with("STATUS=login socket")));
        let before = sent.lock().unwrap().len();
        login.beat();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(sent.lock().unwrap()[before..].iter().any(|s| s == "WATCHDOG=1"), "{:?}", sent.lock().unwrap());
    }
}
