//! Administrative acts are audited before they are applied (003 §17): the one way an act is recorded.

use crate::flows::actor::{Actor, Proof};
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use tobira_audit::{NewEvent, Outcome};
use tobira_proto::ErrorCode;

/// Records an administrative act with its actor, subject and how the actor was proved; durable before the
/// act is applied. If it cannot be recorded, nothing is changed.
pub async fn audited_admin(
    d: &Daemon,
    actor: &Actor,
    kind: &str,
    subject: &str,
    article: &str,
    mut details: serde_json::Value,
) -> Result<i64, Refusal> {
    if let serde_json::Value::Object(m) = &mut details {
        m.insert("proof".into(), actor.proof_json());
        m.insert("mode".into(), serde_json::to_value(actor.mode).unwrap_or_default());
    }
    d.record(
        NewEvent::new(d.now(), kind, Outcome::Info, "ADMIN_ACT")
            .actor(actor.id())
            .subject((!subject.is_empty()).then_some(subject))
            .place(match &actor.proof {
                Proof::Biometric { reader, .. } => Some(reader.clone()),
                Proof::Bootstrap => None,
            })
            .article(article)
            .details(details),
    )
    .await
    .map(|r| r.seq)
    .map_err(|e| Refusal {
        code: ErrorCode::Unavailable,
        message: format!("the audit store cannot take the event ({e}); nothing was changed"),
    })
}
