//! The centre's witness at work (issue 7 §4): takes the tree heads nodes submit, in order, and countersigns
//! one only when (a) it is signed by the node's registered key, (b) it extends the head countersigned before
//! (the consistency proof, [`tobira_audit::witness::Witness`]), and (c) its root is the root of the centre's
//! *own copy* of that node's events — so a node cannot get a countersignature for a log it did not ship.
//! Its state is `cosigned_heads` itself: the countersignature and the head's verdict are written in one
//! transaction, so a crash never releases a countersignature the state does not hold.
//!
//! Runs as the centre's owner role (`tobira-central witness`), never on a node.

use crate::CentralError;
use sqlx::postgres::{PgListener, PgPool};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tobira_audit::Signer;
use tobira_audit::merkle::{CompactTree, Hash, leaf_hash};
use tobira_audit::witness::{SignedTreeHead, TreeHead, Witness, WitnessRefusal, WitnessState};

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    pub cosigned: u64,
    pub refused: u64,
    /// Heads whose events the centre does not hold yet: looked at again on the next pass.
    pub waiting: u64,
}

pub struct WitnessService {
    witness: Witness,
    public_key: Vec<u8>,
    /// The centre's copy of each node's log, at the size last countersigned.
    copies: HashMap<String, CompactTree>,
}

type HeadRow = (i64, String, i64, Vec<u8>, String, Vec<u8>, i64, Vec<Vec<u8>>);

fn to_hash(v: &[u8]) -> Option<Hash> {
    v.try_into().ok()
}

impl WitnessService {
    /// Loads the witness state (the last countersigned head of every node) and rebuilds the centre's copy
    /// of each log up to it.
    pub async fn load(pool: &PgPool, key: Signer) -> Result<WitnessService, CentralError> {
        let public_key = key.public_key();
        let mut state = WitnessState::default();
        let nodes: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT id, public_key FROM nodes").fetch_all(pool).await?;
        let mut copies = HashMap::new();
        for (node, _) in &nodes {
            if let Some(c) = crate::heads::last_cosigned(pool, node).await? {
                let mut tree = CompactTree::new();
                extend(pool, node, &mut tree, c.sth.head.size).await?;
                copies.insert(node.clone(), tree);
                state.heads.insert(node.clone(), c);
            }
        }
        let keys: BTreeMap<String, Vec<u8>> = nodes.into_iter().collect();
        Ok(WitnessService { witness: Witness::new(key.into_key_pair(), keys, state), public_key, copies })
    }

    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// Decides every pending head, oldest first.
    pub async fn pass(&mut self, pool: &PgPool) -> Result<Pass, CentralError> {
        let pending: Vec<HeadRow> = sqlx::query_as(
            "SELECT id, node, size, root, time, node_sig, proof_from, proof FROM tree_heads WHERE state = 'pending' ORDER BY id",
        )
        .fetch_all(pool)
        .await?;
        let mut out = Pass::default();
        for row in pending {
            match self.decide(pool, row).await? {
                Some(true) => out.cosigned += 1,
                Some(false) => out.refused += 1,
                None => out.waiting += 1,
            }
        }
        Ok(out)
    }

    /// `Some(true)` countersigned, `Some(false)` refused, `None` waiting for the node's events.
    async fn decide(&mut self, pool: &PgPool, row: HeadRow) -> Result<Option<bool>, CentralError> {
        let (id, node, size, root, time, node_sig, proof_from, proof) = row;
        if let Some((key,)) = sqlx::query_as::<_, (Vec<u8>,)>("SELECT public_key FROM nodes WHERE id = $1")
            .bind(&node)
            .fetch_optional(pool)
            .await?
        {
            self.witness.know(&node, key);
        }
        let (Some(root), Ok(proof)) =
            (to_hash(&root), proof.iter().map(|p| to_hash(p).ok_or(())).collect::<Result<Vec<_>, ()>>())
        else {
            return self.refuse(pool, id, &node, "witness.malformed", "a root or proof hash is not 32 bytes").await;
        };
        let sth = SignedTreeHead { head: TreeHead { node: node.clone(), size: size as u64, root, time }, node_sig };
        let have = self.witness.state().heads.get(&node).map_or(0, |c| c.sth.head.size);
        if (proof_from as u64) < have && size as u64 >= have {
            // Submitted before the previous head was countersigned: its proof starts from an older head.
            // Not an attack; the node sends a fresh head with a proof from the new size.
            sqlx::query("UPDATE tree_heads SET state = 'refused', verdict = $2 WHERE id = $1")
                .bind(id)
                .bind(format!("superseded: the proof starts at {proof_from}, the centre has countersigned {have}"))
                .execute(pool)
                .await?;
            return Ok(Some(false));
        }
        if proof_from as u64 > have {
            let why = format!("the proof starts at {proof_from}, but the centre countersigned only {have}");
            return self.refuse(pool, id, &node, "witness.refused", &why).await;
        }
        if let Err(r) = self.witness.check(&sth, &proof) {
            return self.refuse(pool, id, &node, refusal_kind(&r), &r.to_string()).await;
        }
        // The centre's own copy at the head's size.
        let mut copy = self.copies.get(&node).cloned().unwrap_or_default();
        if (size as u64) > copy.size() {
            extend(pool, &node, &mut copy, size as u64).await?;
            if copy.size() < size as u64 {
                return Ok(None);
            }
        }
        if copy.size() == size as u64 && copy.root() != root {
            let why = format!(
                "the head of {size} entries does not describe the events the node shipped (the centre's root {})",
                hex::encode(copy.root())
            );
            return self.refuse(pool, id, &node, "witness.refused", &why).await;
        }
        match self.witness.countersign(&sth, &proof) {
            Ok(c) => {
                let mut tx = pool.begin().await?;
                sqlx::query("INSERT INTO cosigned_heads(node, size, root, time, node_sig, witness_sig) VALUES ($1, $2, $3, $4, $5, $6)")
                    .bind(&node)
                    .bind(size)
                    .bind(root.to_vec())
                    .bind(&c.sth.head.time)
                    .bind(&c.sth.node_sig)
                    .bind(&c.witness_sig)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("UPDATE tree_heads SET state = 'cosigned' WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                self.copies.insert(node, copy);
                Ok(Some(true))
            }
            Err(r) => self.refuse(pool, id, &node, refusal_kind(&r), &r.to_string()).await,
        }
    }

    async fn refuse(
        &self,
        pool: &PgPool,
        id: i64,
        node: &str,
        kind: &str,
        why: &str,
    ) -> Result<Option<bool>, CentralError> {
        tracing::warn!(node, head = id, reason = why, "tree head refused by the witness");
        let mut tx = pool.begin().await?;
        sqlx::query("UPDATE tree_heads SET state = 'refused', verdict = $2 WHERE id = $1")
            .bind(id)
            .bind(why)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT tobira_raise($1, NULL, $2, $3)").bind(node).bind(kind).bind(why).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(false))
    }
}

fn refusal_kind(r: &WitnessRefusal) -> &'static str {
    match r {
        WitnessRefusal::BadNodeSignature(_) | WitnessRefusal::UnknownNode(_) => "witness.bad_signature",
        _ => "witness.refused",
    }
}

/// Extends `tree` with the node's stored events up to `size` (fewer if the centre has fewer).
async fn extend(pool: &PgPool, node: &str, tree: &mut CompactTree, size: u64) -> Result<(), CentralError> {
    const CHUNK: i64 = 50_000;
    while tree.size() < size {
        let from = tree.size() as i64;
        let upto = (size as i64).min(from + CHUNK);
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, hash FROM audit_events WHERE node = $1 AND seq > $2 AND seq <= $3 ORDER BY seq",
        )
        .bind(node)
        .bind(from)
        .bind(upto)
        .fetch_all(pool)
        .await?;
        if rows.is_empty() {
            return Ok(());
        }
        for (seq, h) in rows {
            let Some(h) = to_hash(&h) else { return Ok(()) };
            if seq != tree.size() as i64 + 1 {
                return Ok(()); // cannot happen: the chain trigger refuses gaps
            }
            tree.push(leaf_hash(&h));
        }
    }
    Ok(())
}

/// Runs until `stop`: a pass on every submission (NOTIFY `tobira_heads`) and every few seconds anyway.
pub async fn run(
    pool: PgPool,
    mut svc: WitnessService,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), CentralError> {
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen("tobira_heads").await?;
    loop {
        let p = svc.pass(&pool).await?;
        if p.cosigned + p.refused > 0 {
            tracing::info!(cosigned = p.cosigned, refused = p.refused, waiting = p.waiting, "witness pass");
        }
        tokio::select! {
            _ = stop.changed() => return Ok(()),
            r = tokio::time::timeout(Duration::from_secs(2), listener.recv()) => {
                if let Ok(Err(e)) = r {
                    return Err(e.into());
                }
            }
        }
    }
}
