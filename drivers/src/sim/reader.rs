//! A simulated biometric reader.

use crate::{BoxFuture, DeviceError, Feedback, Misbehaviour, Modality, Reader, Sample};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

#[derive(Default)]
struct State {
    queue: VecDeque<Sample>,
    unplugged: bool,
    /// The reader stopped answering: its driver reports "no answer" after its reply timeout.
    silent: bool,
    garble_next: bool,
    /// The reader answers after its driver's deadline (a slow module): each read ends with "no answer" at
    /// the deadline, and a sample that comes late is dropped by the driver, never handed on later.
    late: bool,
    feedback: Vec<Feedback>,
}

struct Inner {
    id: String,
    modality: Modality,
    state: Mutex<State>,
    notify: Notify,
}

/// How long a silent simulated reader keeps a read waiting before "no answer" (a driver's reply timeout).
const SILENT_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

pub struct SimReader {
    inner: Arc<Inner>,
}

/// The simulator's side: what a person (or a test) does at the reader.
#[derive(Clone)]
pub struct SimReaderHandle {
    inner: Arc<Inner>,
}

impl SimReader {
    pub fn new(id: &str, modality: Modality) -> (Arc<SimReader>, SimReaderHandle) {
        let inner =
            Arc::new(Inner { id: id.into(), modality, state: Mutex::new(State::default()), notify: Notify::new() });
        (Arc::new(SimReader { inner: inner.clone() }), SimReaderHandle { inner })
    }
}

fn lock(i: &Inner) -> std::sync::MutexGuard<'_, State> {
    i.state.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimReaderHandle {
    /// A finger or palm is placed: the reader will deliver this sample once.
    pub fn present(&self, s: Sample) {
        let mut st = lock(&self.inner);
        if st.unplugged {
            return;
        }
        st.queue.push_back(s);
        drop(st);
        self.inner.notify.notify_one();
    }

    pub fn unplug(&self) {
        let mut st = lock(&self.inner);
        st.unplugged = true;
        st.queue.clear();
        drop(st);
        self.inner.notify.notify_one();
    }

    /// The person steps away: samples placed but not yet read are dropped (a refused command left them).
    pub fn clear(&self) -> usize {
        let mut st = lock(&self.inner);
        let n = st.queue.len();
        st.queue.clear();
        n
    }

    pub fn replug(&self) {
        let mut st = lock(&self.inner);
        st.unplugged = false;
        st.silent = false;
        st.late = false;
        drop(st);
        self.inner.notify.notify_one();
    }

    /// The reader stays connected but stops answering (a hung module): each read ends after the driver's
    /// reply timeout with [`DeviceError::NoAnswer`], until [`SimReaderHandle::replug`].
    pub fn silence(&self) {
        lock(&self.inner).silent = true;
        self.inner.notify.notify_one();
    }

    /// Answers come after the driver's deadline (`true`) or on time again (`false`): meanwhile each read
    /// ends with [`DeviceError::NoAnswer`] at the deadline, and a touch made meanwhile arrives too late to
    /// be used — the driver drops it rather than hand a person's old touch to the door later.
    pub fn answer_late(&self, late: bool) {
        lock(&self.inner).late = late;
        self.inner.notify.notify_one();
    }

    /// The next read yields a garbled frame instead of a sample.
    pub fn garble_next(&self) {
        lock(&self.inner).garble_next = true;
        self.inner.notify.notify_one();
    }

    pub fn feedback_log(&self) -> Vec<Feedback> {
        lock(&self.inner).feedback.clone()
    }

    pub fn pending(&self) -> usize {
        lock(&self.inner).queue.len()
    }
}

impl Reader for SimReader {
    fn id(&self) -> &str {
        &self.inner.id
    }

    fn modality(&self) -> Modality {
        self.inner.modality
    }

    fn next_sample(&self) -> BoxFuture<'_, Result<Sample, DeviceError>> {
        Box::pin(async move {
            loop {
                // Register interest before checking, so a present() between the check and the await wakes us.
                let notified = self.inner.notify.notified();
                if lock(&self.inner).silent {
                    tokio::time::sleep(SILENT_REPLY_TIMEOUT).await;
                    return Err(DeviceError::NoAnswer { device: self.inner.id.clone() });
                }
                if lock(&self.inner).late {
                    tokio::time::sleep(SILENT_REPLY_TIMEOUT).await;
                    // Whatever the reader answers arrives after the deadline: dropped.
                    lock(&self.inner).queue.clear();
                    return Err(DeviceError::NoAnswer { device: self.inner.id.clone() });
                }
                {
                    let mut st = lock(&self.inner);
                    if st.unplugged {
                        return Err(DeviceError::Offline { device: self.inner.id.clone() });
                    }
                    if st.garble_next {
                        st.garble_next = false;
                        return Err(DeviceError::DeviceMisbehaved {
                            device: self.inner.id.clone(),
                            fault: Misbehaviour::Garbled,
                        });
                    }
                    if let Some(s) = st.queue.pop_front() {
                        return Ok(s);
                    }
                }
                notified.await;
            }
        })
    }

    fn healthy(&self) -> Option<bool> {
        let st = lock(&self.inner);
        Some(!st.unplugged && !st.silent && !st.late)
    }

    fn feedback(&self, fb: Feedback) -> BoxFuture<'_, Result<(), DeviceError>> {
        Box::pin(async move {
            let mut st = lock(&self.inner);
            if st.unplugged {
                return Err(DeviceError::Offline { device: self.inner.id.clone() });
            }
            st.feedback.push(fb);
            if st.feedback.len() > 256 {
                st.feedback.drain(..128);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tobira_sample::synthetic::{ImpressionNoise, SyntheticFinger};

    fn sample(seed: u64) -> Sample {
        Sample::Minutiae(SyntheticFinger::new(seed).impression(1, &ImpressionNoise::default()))
    }

    #[tokio::test]
    async fn presented_sample_arrives_once() {
        let (r, h) = SimReader::new("r", Modality::Finger);
        h.present(sample(1));
        assert!(r.next_sample().await.is_ok());
        let again = tokio::time::timeout(std::time::Duration::from_millis(50), r.next_sample()).await;
        assert!(again.is_err(), "no second delivery");
    }

    #[tokio::test]
    async fn unplug_then_replug() {
        let (r, h) = SimReader::new("r", Modality::Finger);
        h.present(sample(1));
        h.unplug();
        assert!(matches!(r.next_sample().await, Err(DeviceError::Offline { .. })));
        h.replug();
        h.present(sample(2));
        assert!(r.next_sample().await.is_ok());
    }

    #[tokio::test]
    async fn garble_once_then_normal() {
        let (r, h) = SimReader::new("r", Modality::Finger);
        h.garble_next();
        h.present(sample(1));
        assert!(matches!(
            r.next_sample().await,
            Err(DeviceError::DeviceMisbehaved { fault: Misbehaviour::Garbled, .. })
        ));
        assert!(r.next_sample().await.is_ok());
    }

    #[tokio::test]
    async fn dropping_a_pending_read_loses_nothing() {
        let (r, h) = SimReader::new("r", Modality::Finger);
        let pending = tokio::time::timeout(std::time::Duration::from_millis(20), r.next_sample()).await;
        assert!(pending.is_err());
        h.present(sample(3));
        assert!(r.next_sample().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_reader_reports_no_answer_until_replugged() {
        let (r, h) = SimReader::new("r", Modality::Finger);
        h.silence();
        h.present(sample(1));
        assert_eq!(r.healthy(), Some(false));
        assert!(matches!(r.next_sample().await, Err(DeviceError::NoAnswer { .. })));
        h.replug();
        assert_eq!(r.healthy(), Some(true));
        assert!(r.next_sample().await.is_ok(), "the touch made while silent is read after");
    }

    /// Late answers (issue 15's fault matrix): no answer at the deadline, and the touch that answered late
    /// is gone — it is never handed to the door once the reader is on time again.
    #[tokio::test(start_paused = true)]
    async fn a_late_reader_answers_nothing_in_time_and_its_late_touch_is_dropped() {
        let (r, h) = SimReader::new("r", Modality::Finger);
        h.answer_late(true);
        h.present(sample(1));
        assert_eq!(r.healthy(), Some(false));
        assert!(matches!(r.next_sample().await, Err(DeviceError::NoAnswer { .. })));
        h.answer_late(false);
        assert_eq!(r.healthy(), Some(true));
        let stale = tokio::time::timeout(std::time::Duration::from_secs(5), r.next_sample()).await;
        assert!(stale.is_err(), "the late touch is not delivered");
        h.present(sample(2));
        assert!(r.next_sample().await.is_ok(), "a touch on time is");
    }

    #[tokio::test]
    async fn feedback_is_logged() {
        let (r, h) = SimReader::new("r", Modality::Finger);
        r.feedback(Feedback::Granted).await.unwrap();
        assert_eq!(h.feedback_log(), vec![Feedback::Granted]);
    }
}
