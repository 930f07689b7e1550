//! Tree heads between a node and the centre's witness (issue 7 §4): a node submits the signed head of its
//! Merkle log with the consistency proof from the last head the centre countersigned; the witness answers
//! with a countersignature in `cosigned_heads`. Both tables are read through row-level security, so a node
//! sees only its own heads.

use crate::CentralError;
use sqlx::postgres::PgPool;
use tobira_audit::merkle::Hash;
use tobira_audit::witness::{Countersigned, SignedTreeHead, TreeHead};

/// The last head the centre countersigned for `node`: where the next consistency proof starts.
pub async fn last_cosigned(pool: &PgPool, node: &str) -> Result<Option<Countersigned>, CentralError> {
    Ok(cosigned(pool, node).await?.pop())
}

/// Every countersigned head of `node`, smallest first.
pub async fn cosigned(pool: &PgPool, node: &str) -> Result<Vec<Countersigned>, CentralError> {
    type Row = (i64, Vec<u8>, String, Vec<u8>, Vec<u8>);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT size, root, time, node_sig, witness_sig FROM cosigned_heads WHERE node = $1 ORDER BY size",
    )
    .bind(node)
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|(size, root, time, node_sig, witness_sig)| {
            let root: Hash = root
                .try_into()
                .map_err(|_| CentralError::Db(sqlx::Error::Protocol("a stored root is not 32 bytes".into())))?;
            Ok(Countersigned {
                sth: SignedTreeHead { head: TreeHead { node: node.into(), size: size as u64, root, time }, node_sig },
                witness_sig,
            })
        })
        .collect()
}

/// Submits a signed head with its consistency proof from `proof_from` (the size last countersigned, 0 for
/// none). The witness decides asynchronously; see [`head_state`].
pub async fn submit(pool: &PgPool, sth: &SignedTreeHead, proof_from: u64, proof: &[Hash]) -> Result<i64, CentralError> {
    let proof: Vec<Vec<u8>> = proof.iter().map(|h| h.to_vec()).collect();
    sqlx::query_scalar(
        "INSERT INTO tree_heads(node, size, root, time, node_sig, proof_from, proof) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&sth.head.node)
    .bind(sth.head.size as i64)
    .bind(sth.head.root.to_vec())
    .bind(&sth.head.time)
    .bind(&sth.node_sig)
    .bind(proof_from as i64)
    .bind(&proof)
    .fetch_one(pool)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("42501") => CentralError::NotYours(d.message().into()),
        _ => CentralError::Db(e),
    })
}

/// What the witness made of a submitted head: `pending`, `cosigned` or `refused`, with its verdict.
pub async fn head_state(pool: &PgPool, id: i64) -> Result<Option<(String, Option<String>)>, CentralError> {
    Ok(sqlx::query_as("SELECT state, verdict FROM tree_heads WHERE id = $1").bind(id).fetch_optional(pool).await?)
}
