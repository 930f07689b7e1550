//! Progress of a request still under way (issue 18): an enrolment says each capture as it happens, so the
//! person at the reader sees which sample is awaited, its quality, and why one was refused, on the console's
//! page or in the CLI — not only once all captures are done.
//!
//! The control socket opens a sink for a request whose client asked for progress
//! (`Envelope::progress`) and writes each step as a `Response::Progress` frame before the answer; a flow
//! calls [`report`] and does not know whether anyone listens. The sink is task-local, so the flows'
//! signatures stay as they are, and a step reported with nobody listening costs nothing.

use tokio::sync::mpsc::UnboundedSender;

tokio::task_local! {
    static SINK: UnboundedSender<serde_json::Value>;
}

/// Runs `work` with its progress reported to `sink`.
pub async fn scoped<F: std::future::Future>(sink: UnboundedSender<serde_json::Value>, work: F) -> F::Output {
    SINK.scope(sink, work).await
}

/// One step of the request under way, to the client if it asked (a client gone away changes nothing: the
/// request goes on and is answered, or not, as without it).
pub fn report(step: serde_json::Value) {
    let _ = SINK.try_with(|s| s.send(step));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn steps_reach_the_sink_in_order_and_nowhere_without_one() {
        report(serde_json::json!({"step": "nobody listens"}));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        scoped(tx, async {
            report(serde_json::json!({"step": "capture", "n": 1}));
            report(serde_json::json!({"step": "sample", "n": 1}));
        })
        .await;
        assert_eq!(rx.recv().await.unwrap()["step"], "capture");
        assert_eq!(rx.recv().await.unwrap()["step"], "sample");
        assert!(rx.recv().await.is_none(), "the sink closes with its request");
    }
}
