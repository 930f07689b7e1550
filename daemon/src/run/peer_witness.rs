//! The node's side of a peer witness (issue 16 §1(a), `[witness]` in the site file): every `every_s` the node
//! signs the head of its whole audit log (RFC 6962) and sends it, with a consistency proof from the last
//! head the witness countersigned, to `tobira-central peer-witness` over TLS. A countersigned head is
//! remembered beside the pinned key (`audit-heads.json`); a refusal is an alarm (003 §20): the witness saw
//! this node present a history that does not extend the one it vouched for.

use crate::node::daemon::Daemon;
use std::sync::Arc;
use std::time::Duration;
use tobira_audit::merkle::{consistency_proof, leaf_hash, root};
use tobira_audit::witness::{SignedTreeHead, TreeHead, verify_countersigned};
use tobira_audit::{NewEvent, Outcome, Signer};
use tobira_central::peer_witness::{PeerClient, PeerRequest, PeerResponse};
use tobira_core::site::RawWitness;
use tokio::sync::watch;

pub async fn witness_task(d: Arc<Daemon>, cfg: RawWitness, signer: Signer, mut stop: watch::Receiver<bool>) {
    let client = match PeerClient::new(&cfg.address, &cfg.server_name(), std::path::Path::new(&cfg.ca_file)) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no peer witness: its TLS configuration cannot be read");
            return;
        }
    };
    let witness_key = hex::decode(cfg.witness_key.trim()).unwrap_or_default();
    let every = Duration::from_secs(u64::from(cfg.every_s.max(1)));
    let mut alarmed: Option<u64> = None;
    loop {
        if let Err(e) = once(&d, &client, &signer, &witness_key, &mut alarmed).await {
            tracing::warn!(witness = %cfg.address, error = %e, "peer witness not reached; retrying");
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// Why a round with the peer witness did not get this node's head countersigned (logged; retried).
#[derive(Debug, thiserror::Error)]
enum RoundError {
    /// The local audit store could not be read.
    #[error(transparent)]
    Store(#[from] tobira_audit::AuditError),
    #[error("{0}")]
    Task(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Peer(#[from] tobira_central::peer_witness::PeerError),
    #[error("unexpected answer {0:?}")]
    Unexpected(Box<PeerResponse>),
    #[error("a countersignature that does not verify with witness_key")]
    BadCountersignature,
}

async fn call(c: &PeerClient, req: PeerRequest) -> Result<PeerResponse, RoundError> {
    let c = c.clone();
    Ok(tokio::task::spawn_blocking(move || c.call(&req)).await??)
}

async fn once(
    d: &Daemon,
    c: &PeerClient,
    signer: &Signer,
    witness_key: &[u8],
    alarmed: &mut Option<u64>,
) -> Result<(), RoundError> {
    let (node, chain) = tobira_audit::log::leaves(&d.opts.audit_path()).await?;
    let node = if node.is_empty() { d.site.id.to_string() } else { node };
    // RFC 6962 leaves over the events' chain hashes, as every head of this node (`anchors::Log`).
    let leaves: Vec<_> = chain.iter().map(|(_, h)| leaf_hash(h)).collect();
    let have = match call(c, PeerRequest::Last { node: node.clone() }).await? {
        PeerResponse::Countersigned { head } => head.map_or(0, |h| h.sth.head.size),
        other => return Err(RoundError::Unexpected(Box::new(other))),
    };
    let size = leaves.len() as u64;
    if size == 0 || size <= have {
        return Ok(());
    }
    let proof = if have == 0 { Vec::new() } else { consistency_proof(&leaves, have as usize).unwrap_or_default() };
    let head = TreeHead { node: node.clone(), size, root: root(&leaves), time: tobira_audit::time_text(d.now()) };
    let sth = SignedTreeHead { node_sig: signer.sign(&head.message()), head };
    let req = PeerRequest::Submit { sth, proof: proof.iter().map(hex::encode).collect() };
    match call(c, req).await? {
        PeerResponse::Countersigned { head: Some(h) }
            if verify_countersigned(&h, &signer.public_key(), witness_key) =>
        {
            tracing::info!(size, "tree head countersigned by the peer witness");
            crate::node::trust::remember_countersigned(d, &h);
            Ok(())
        }
        PeerResponse::Countersigned { .. } => Err(RoundError::BadCountersignature),
        PeerResponse::Refused { why } => {
            if *alarmed != Some(size) {
                *alarmed = Some(size);
                tracing::error!(size, why, "the peer witness refused this node's tree head");
                let _ = d
                    .record(
                        NewEvent::new(d.now(), "witness.head_refused", Outcome::Alarm, "WITNESS_REFUSED")
                            .place(node)
                            .article("003 §17, §20")
                            .details(serde_json::json!({"size": size, "verdict": why, "witness": c.addr})),
                    )
                    .await;
            }
            Ok(())
        }
        other => Err(RoundError::Unexpected(Box::new(other))),
    }
}
