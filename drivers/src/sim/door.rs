//! A simulated door controller: a strike relay that times its own pulse, a door contact, a REX button and a
//! tamper switch. Like a real locked door, it only opens to a person walking through while the strike is
//! energised (or after REX); a crowbar (`force_open`) opens it anyway.

use crate::{BoxFuture, DeviceError, DoorController, DoorInput, Feedback};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

#[derive(Default)]
struct State {
    energised_until: Option<Instant>,
    pulses: u64,
    open: bool,
    rex_at: Option<Instant>,
    unplugged: bool,
    /// The controller takes commands but never acknowledges them (it died in the middle of a pulse).
    silent: bool,
    /// The next strike command is answered with garbage.
    garble_next: bool,
    /// A slow controller: it carries out each strike command this long after taking it, and acknowledges
    /// only then (issue 15's fault matrix, "late answers").
    late: Option<Duration>,
    /// A strike command was answered late since the controller was last on time.
    was_late: bool,
    /// Relock commands carried out (the daemon relocks after a strike it never saw acknowledged).
    relocks: u64,
    feedback: Vec<Feedback>,
}

struct Inner {
    id: String,
    state: Mutex<State>,
    tx: mpsc::UnboundedSender<DoorInput>,
    /// The controller carries out one command at a time, in the order it took them, as a device on a
    /// serial line does: a relock sent while a late strike is still being carried out comes after it.
    commands: tokio::sync::Mutex<()>,
}

pub struct SimDoor {
    inner: Arc<Inner>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<DoorInput>>,
}

#[derive(Clone)]
pub struct SimDoorHandle {
    inner: Arc<Inner>,
}

fn lock(i: &Inner) -> std::sync::MutexGuard<'_, State> {
    i.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A REX press lets the door open from inside for this long.
const REX_RELEASE: Duration = Duration::from_secs(5);

impl SimDoor {
    pub fn new(id: &str) -> (Arc<SimDoor>, SimDoorHandle) {
        let (tx, rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            id: id.into(),
            state: Mutex::new(State::default()),
            tx,
            commands: tokio::sync::Mutex::new(()),
        });
        (Arc::new(SimDoor { inner: inner.clone(), rx: tokio::sync::Mutex::new(rx) }), SimDoorHandle { inner })
    }
}

impl Inner {
    fn emit(&self, i: DoorInput) {
        let _ = self.tx.send(i);
    }
}

impl SimDoorHandle {
    pub fn relay_energised(&self) -> bool {
        lock(&self.inner).energised_until.is_some_and(|t| Instant::now() < t)
    }

    pub fn pulses(&self) -> u64 {
        lock(&self.inner).pulses
    }

    pub fn is_open(&self) -> bool {
        lock(&self.inner).open
    }

    /// A person walks through: the contact opens only if the strike is energised or REX was just pressed,
    /// then closes after `hold`. Returns whether the door opened.
    pub fn walk_through(&self, hold: Duration) -> bool {
        {
            let mut st = lock(&self.inner);
            let now = Instant::now();
            let released =
                st.energised_until.is_some_and(|t| now < t) || st.rex_at.is_some_and(|t| now - t < REX_RELEASE);
            if st.unplugged || st.open || !released {
                return false;
            }
            st.open = true;
        }
        self.inner.emit(DoorInput::ContactOpened);
        let inner = self.inner.clone();
        tokio::spawn(async move {
            tokio::time::sleep(hold).await;
            let was_open = std::mem::replace(&mut lock(&inner).open, false);
            if was_open {
                inner.emit(DoorInput::ContactClosed);
            }
        });
        true
    }

    /// The contact opens while the strike is off: what a crowbar does.
    pub fn force_open(&self) {
        let mut st = lock(&self.inner);
        if st.open {
            return;
        }
        st.open = true;
        drop(st);
        self.inner.emit(DoorInput::ContactOpened);
    }

    /// Opens the contact unconditionally (a test of the sensor, or propping a door).
    pub fn open(&self) {
        self.force_open();
    }

    pub fn close(&self) {
        let was_open = std::mem::replace(&mut lock(&self.inner).open, false);
        if was_open {
            self.inner.emit(DoorInput::ContactClosed);
        }
    }

    pub fn press_rex(&self) {
        lock(&self.inner).rex_at = Some(Instant::now());
        self.inner.emit(DoorInput::Rex);
    }

    /// A card read at the door's reader: `number`'s 64 bits, most significant first, as osdp_RAW carries
    /// them (the controller reports it; the door decides what it means).
    pub fn present_card(&self, number: u64) {
        self.inner.emit(DoorInput::CardRead { bits: 64, data: crate::CardData(number.to_be_bytes().to_vec()) });
    }

    pub fn tamper(&self) {
        self.inner.emit(DoorInput::Tamper);
    }

    pub fn unplug(&self) {
        lock(&self.inner).unplugged = true;
        self.inner.emit(DoorInput::Offline);
    }

    pub fn replug(&self) {
        let mut st = lock(&self.inner);
        st.unplugged = false;
        st.silent = false;
        st.late = None;
        st.was_late = false;
        drop(st);
        self.inner.emit(DoorInput::Online);
    }

    /// The controller dies without a word: strike commands are never acknowledged and the relay stays off,
    /// and nothing says it is gone (no `Offline`) — the daemon has to notice by itself.
    pub fn silence(&self) {
        lock(&self.inner).silent = true;
    }

    /// The next strike command is answered with garbage: the relay state is unknown, so it is no pulse.
    pub fn garble_next(&self) {
        lock(&self.inner).garble_next = true;
    }

    /// A slow controller (`Some`): each strike is carried out, and acknowledged, `late` after the command —
    /// past the daemon's deadline, so the relay may pull in after the person was told the door did not open.
    /// `None`: on time again, and its driver says so (`Online`) if it had been late.
    pub fn answer_late(&self, late: Option<Duration>) {
        let mut st = lock(&self.inner);
        st.late = late;
        let back = late.is_none() && std::mem::take(&mut st.was_late);
        drop(st);
        if back {
            self.inner.emit(DoorInput::Online);
        }
    }

    /// Relock commands the controller has carried out.
    pub fn relocks(&self) -> u64 {
        lock(&self.inner).relocks
    }

    pub fn feedback_log(&self) -> Vec<Feedback> {
        lock(&self.inner).feedback.clone()
    }
}

impl Inner {
    /// Carries out a strike command the controller has taken: the relay pulls in for `pulse`.
    fn energise(&self, pulse: Duration) {
        let mut st = lock(self);
        st.energised_until = Some(Instant::now() + pulse);
        st.pulses += 1;
    }
}

impl DoorController for SimDoor {
    fn id(&self) -> &str {
        &self.inner.id
    }

    fn pulse(&self, pulse: Duration) -> BoxFuture<'_, Result<(), DeviceError>> {
        Box::pin(async move {
            let (silent, late) = {
                let mut st = lock(&self.inner);
                if st.unplugged {
                    return Err(DeviceError::Offline { device: self.inner.id.clone() });
                }
                if std::mem::take(&mut st.garble_next) {
                    return Err(DeviceError::DeviceMisbehaved {
                        device: self.inner.id.clone(),
                        fault: crate::Misbehaviour::Garbled,
                    });
                }
                if st.late.is_some() {
                    st.was_late = true;
                }
                (st.silent, st.late)
            };
            if silent {
                // Never acknowledged (and never carried out): the caller's deadline ends the wait.
                std::future::pending::<()>().await;
            }
            // The command is on the line: the controller carries it out whether or not anyone still waits
            // for its answer, so the work is its own task, not this future (which the caller may drop).
            let inner = self.inner.clone();
            let (done, answer) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let _queue = inner.commands.lock().await;
                if let Some(late) = late {
                    tokio::time::sleep(late).await;
                }
                inner.energise(pulse);
                let _ = done.send(());
            });
            answer.await.map_err(|_| DeviceError::Closed)
        })
    }

    fn healthy(&self) -> Option<bool> {
        Some(!lock(&self.inner).unplugged)
    }

    fn relock(&self) -> BoxFuture<'_, Result<(), DeviceError>> {
        Box::pin(async move {
            {
                let st = lock(&self.inner);
                if st.unplugged || st.silent {
                    return Err(DeviceError::Offline { device: self.inner.id.clone() });
                }
            }
            // After any strike still being carried out (a late controller), as on the line.
            let _queue = self.inner.commands.lock().await;
            let mut st = lock(&self.inner);
            st.energised_until = None;
            st.relocks += 1;
            Ok(())
        })
    }

    fn feedback(&self, fb: Feedback) -> BoxFuture<'_, Result<(), DeviceError>> {
        Box::pin(async move {
            let mut st = lock(&self.inner);
            st.feedback.push(fb);
            if st.feedback.len() > 256 {
                st.feedback.drain(..128);
            }
            Ok(())
        })
    }

    fn next_input(&self) -> BoxFuture<'_, Result<DoorInput, DeviceError>> {
        Box::pin(async move {
            let mut rx = self.rx.lock().await;
            rx.recv().await.ok_or(DeviceError::Closed)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pulse_energises_then_relocks_by_itself() {
        let (d, h) = SimDoor::new("d");
        d.pulse(Duration::from_secs(3)).await.unwrap();
        assert!(h.relay_energised());
        assert_eq!(h.pulses(), 1);
        tokio::time::advance(Duration::from_millis(3001)).await;
        assert!(!h.relay_energised());
    }

    #[tokio::test(start_paused = true)]
    async fn walking_through_a_locked_door_fails_silently() {
        let (d, h) = SimDoor::new("d");
        assert!(!h.walk_through(Duration::from_secs(1)));
        assert!(tokio::time::timeout(Duration::from_millis(10), d.next_input()).await.is_err(), "no event");
    }

    #[tokio::test(start_paused = true)]
    async fn walk_after_pulse_opens_and_closes() {
        let (d, h) = SimDoor::new("d");
        d.pulse(Duration::from_secs(3)).await.unwrap();
        assert!(h.walk_through(Duration::from_secs(2)));
        assert_eq!(d.next_input().await.unwrap(), DoorInput::ContactOpened);
        assert_eq!(d.next_input().await.unwrap(), DoorInput::ContactClosed);
    }

    #[tokio::test(start_paused = true)]
    async fn force_open_while_locked_and_rex() {
        let (d, h) = SimDoor::new("d");
        h.force_open();
        assert!(!h.relay_energised());
        assert_eq!(d.next_input().await.unwrap(), DoorInput::ContactOpened);
        h.close();
        assert_eq!(d.next_input().await.unwrap(), DoorInput::ContactClosed);
        h.press_rex();
        assert_eq!(d.next_input().await.unwrap(), DoorInput::Rex);
        assert!(h.walk_through(Duration::from_secs(1)), "REX releases the door from inside");
    }

    #[tokio::test(start_paused = true)]
    async fn unplugged_controller_refuses_pulses() {
        let (d, h) = SimDoor::new("d");
        h.unplug();
        assert_eq!(d.next_input().await.unwrap(), DoorInput::Offline);
        assert!(matches!(d.pulse(Duration::from_secs(1)).await, Err(DeviceError::Offline { .. })));
        assert!(!h.relay_energised());
        h.replug();
        assert_eq!(d.next_input().await.unwrap(), DoorInput::Online);
        assert!(d.pulse(Duration::from_secs(1)).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_controller_never_acknowledges_and_a_garbled_answer_is_no_pulse() {
        let (d, h) = SimDoor::new("d");
        h.silence();
        let r = tokio::time::timeout(Duration::from_secs(5), d.pulse(Duration::from_secs(1))).await;
        assert!(r.is_err(), "no acknowledgement from a silent controller");
        assert!(!h.relay_energised());
        h.replug();
        assert_eq!(d.next_input().await.unwrap(), DoorInput::Online);
        h.garble_next();
        assert!(matches!(d.pulse(Duration::from_secs(1)).await, Err(DeviceError::DeviceMisbehaved { .. })));
        assert_eq!(h.pulses(), 0);
        assert!(d.pulse(Duration::from_secs(1)).await.is_ok());
        assert_eq!(h.pulses(), 1);
    }

    /// A late controller carries the strike out after the caller gave up waiting, and a relock sent
    /// meanwhile comes after it (one command at a time); on time again, its driver says so.
    #[tokio::test(start_paused = true)]
    async fn a_late_controller_pulls_in_after_the_deadline_and_a_relock_follows_it() {
        let (d, h) = SimDoor::new("d");
        h.answer_late(Some(Duration::from_secs(3)));
        let r = tokio::time::timeout(Duration::from_secs(2), d.pulse(Duration::from_secs(5))).await;
        assert!(r.is_err(), "no acknowledgement within the deadline");
        assert!(!h.relay_energised() && h.pulses() == 0, "not carried out yet");
        let relock = tokio::spawn({
            let d = d.clone();
            async move { d.relock().await }
        });
        tokio::time::sleep(Duration::from_millis(999)).await;
        assert_eq!(h.pulses(), 0);
        assert!(relock.await.unwrap().is_ok());
        assert_eq!((h.pulses(), h.relocks()), (1, 1), "the late strike landed, then the relock");
        assert!(!h.relay_energised(), "relocked at once after it");
        h.answer_late(None);
        assert_eq!(d.next_input().await.unwrap(), DoorInput::Online);
        d.pulse(Duration::from_secs(1)).await.unwrap();
        assert!(h.relay_energised());
    }
}
