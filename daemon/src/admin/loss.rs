//! `tobira audit acknowledge-loss --note …` (issue 19 §3): after a node was restored from a backup older than
//! its lost disk, the events it had signed but never shipped are gone, and the heads remembered beside the
//! pinned key (`audit-heads.json`) keep naming them: `tobira audit verify` fails, as it must for a rollback.
//! The system administrator, proved by finger (002 §6(4): they keep the copies of the records), puts the loss
//! on record: an `audit.loss_acknowledged` event naming each remembered head the store falls short of, how
//! many events the store kept and the hash of the last, how many at least are gone, and their note. It is
//! signed at once (a checkpoint), and from then on verification names the loss instead of failing.
//!
//! Only a store that falls *short* of a remembered head can be acknowledged: a head the store reaches but
//! does not extend is a rewritten history (evidence, never excused), and a head whose signature fails is a
//! forged record. The file beside the pinned key is left as it is: the acknowledgement lives in the signed
//! chain, where editing it breaks the chain.

use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use tobira_audit::anchors::{self, AnchorFailure, LOSS_ACKNOWLEDGED, Log, LossDetails};
use tobira_audit::{NewEvent, Outcome};
use tobira_proto::ErrorCode;

fn conflict(msg: impl Into<String>) -> Refusal {
    Refusal { code: ErrorCode::Conflict, message: msg.into() }
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    Refusal { code: ErrorCode::Internal, message: format!("the audit record cannot be read: {e}") }
}

pub async fn acknowledge(d: &Daemon, actor: &Actor, note: &str) -> Result<serde_json::Value, Refusal> {
    let note = note.trim();
    if note.is_empty() {
        return Err(Refusal::bad(
            "give a --note: why the events are gone and what was done (記録喪失の経緯); it is the record's only explanation",
        ));
    }
    let pin = d.opts.pinned_key_path();
    let t = tobira_audit::trust::resolve(None, &pin)
        .map_err(|e| conflict(format!("no pinned audit key to check the remembered heads with: {e}")))?;
    let none =
        || conflict("no head remembered beside the pinned key lies beyond this store: there is no loss to acknowledge");
    let Some(hw) = t.high_water.as_ref() else { return Err(none()) };
    let rec = match anchors::load(hw) {
        Ok(Some(r)) => r,
        Ok(None) => return Err(none()),
        Err(e) => return Err(conflict(format!("the record of remembered heads {e}"))),
    };
    let db = d.opts.audit_path();
    let (_, chain) = tobira_audit::log::leaves(&db).await.map_err(internal)?;
    let hashes: Vec<_> = chain.iter().map(|(_, h)| *h).collect();
    let log = Log::new(&hashes);
    let earlier = tobira_audit::trust::signed_acknowledgements(&db).await.map_err(internal)?;
    let mut lost = Vec::new();
    let mut described = Vec::new();
    for (head, what, r) in rec.check_each(&log, &t.key) {
        match r {
            Ok(()) => {}
            Err(_) if earlier.iter().any(|a| a.covers(&head)) => {}
            Err(AnchorFailure::RolledBack { .. }) => {
                lost.push(head);
                described.push(what);
            }
            Err(f) => {
                return Err(conflict(format!(
                    "{f}: that is not a loss this act may acknowledge (a rewritten history or a forged record is evidence; see `tobira audit verify`)"
                )));
            }
        }
    }
    let Some(furthest) = lost.iter().map(|h| h.size).max() else { return Err(none()) };
    let nearest = lost.iter().map(|h| h.size).min().unwrap_or(furthest);
    let kept = log.size();
    let details = LossDetails {
        lost,
        kept,
        kept_head: hashes.last().map(hex::encode).unwrap_or_default(),
        lost_at_least: furthest - kept,
        note: note.to_string(),
    };
    let value = serde_json::to_value(&details).map_err(internal)?;
    let receipt = d
        .record(
            NewEvent::new(d.now(), LOSS_ACKNOWLEDGED, Outcome::Info, "AUDIT_LOSS_ACKNOWLEDGED")
                .actor(actor.id())
                .place(d.site.id.as_str())
                .article("002 §6(4)")
                .details(value.clone()),
        )
        .await
        .map_err(|e| Refusal { code: ErrorCode::Unavailable, message: format!("not recorded: {e}") })?;
    // Signed at once: verification only takes an acknowledgement a signed checkpoint covers.
    d.stores.writer.checkpoint_now().await;
    if u64::try_from(receipt.seq).unwrap_or(u64::MAX) > nearest {
        // Other events were appended between reading the store and this one, past a remembered head: the
        // acknowledgement cannot speak for it (it would then excuse events written after the loss).
        return Err(conflict(format!(
            "recorded as event {}, but the store had meanwhile reached event {nearest} a remembered head names: acknowledge again with the doors quiet",
            receipt.seq
        )));
    }
    tracing::warn!(seq = receipt.seq, lost_at_least = details.lost_at_least, "audit loss acknowledged");
    Ok(serde_json::json!({
        "acknowledged": described,
        "audit_seq": receipt.seq,
        "kept": details.kept,
        "lost_at_least": details.lost_at_least,
        "details": value,
    }))
}
