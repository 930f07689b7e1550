//! Appending to a restored store the events its node had already shipped (issue 19 §3): the backup ends
//! before the lost disk did, and the centre holds what came between. The caller has checked them against
//! the centre's signed heads and the pinned key (`tobira_central::recovery::check`); this is the store's own
//! belt: each event must be this node's, follow the store's head and hash to what it says, or nothing is
//! written. One transaction, offline (no daemon runs on the store).

use crate::disk::{head_path, options};
use crate::error::AuditError;
use crate::event::StoredEvent;
use crate::signing::{Signer, checkpoint_message};
use sqlx::{ConnectOptions, Connection};
use std::path::Path;

/// What was appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejoined {
    pub appended: i64,
    pub head_seq: i64,
    pub head: [u8; 32],
    /// The checkpoint signed at the new head, when a signing key was given.
    pub checkpoint: Option<i64>,
}

fn refused(detail: String) -> AuditError {
    AuditError::Write(format!("{detail}; nothing was appended"))
}

/// Appends `events` after the store's head in one transaction and, with `signer` (the key the store was
/// created with), signs a checkpoint at the new head: the head file first, then the row, as the writer does.
pub async fn append_shipped(
    db: &Path,
    events: &[StoredEvent],
    signer: Option<&Signer>,
) -> Result<Rejoined, AuditError> {
    let mut c = options(db, false)?.connect().await.map_err(|e| AuditError::opening(db, &e))?;
    let r = append_on(&mut c, db, events, signer).await;
    // Back to a rollback journal: the WAL is folded into the file and removed, so the store is one file
    // again and can be moved into place alone (tobirad switches it to WAL when it opens it).
    let folded = sqlx::query("PRAGMA journal_mode = DELETE").execute(&mut c).await;
    let closed = c.close().await;
    let rep = r?;
    folded?;
    closed?;
    Ok(rep)
}

async fn append_on(
    c: &mut sqlx::SqliteConnection,
    db: &Path,
    events: &[StoredEvent],
    signer: Option<&Signer>,
) -> Result<Rejoined, AuditError> {
    let node: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'node'")
        .fetch_one(&mut *c)
        .await
        .map_err(|_| AuditError::ForeignDatabase { path: db.into() })?;
    let store_key: String = sqlx::query_scalar("SELECT value FROM meta WHERE key = 'public_key'")
        .fetch_one(&mut *c)
        .await
        .map_err(|_| AuditError::ForeignDatabase { path: db.into() })?;
    if let Some(s) = signer
        && hex::encode(s.public_key()) != store_key
    {
        return Err(refused("the signing key is not the key this audit store was created with".into()));
    }
    let mut tx = c.begin_with("BEGIN IMMEDIATE").await?;
    let head: Option<(i64, Vec<u8>)> =
        sqlx::query_as("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetch_optional(&mut *tx).await?;
    let (mut seq, mut prev) = match head {
        Some((s, h)) => {
            (s, <[u8; 32]>::try_from(h.as_slice()).map_err(|_| refused("the head's hash is malformed".into()))?)
        }
        None => (0, [0u8; 32]),
    };
    for e in events {
        if e.node != node {
            return Err(refused(format!("event {} is node {}'s, this store is node {node}'s", e.seq, e.node)));
        }
        if e.seq != seq + 1 || e.prev_hash != prev {
            return Err(refused(format!("event {} does not follow the store's head (event {seq})", e.seq)));
        }
        if e.recompute() != e.hash {
            return Err(refused(format!("event {} does not match its hash", e.seq)));
        }
        sqlx::query(
            "INSERT INTO events(seq, node, time, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, hash) \
             VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(e.seq)
        .bind(&e.node)
        .bind(&e.time_text)
        .bind(&e.kind)
        .bind(&e.actor)
        .bind(&e.subject)
        .bind(&e.place)
        .bind(e.outcome.as_str())
        .bind(&e.reason)
        .bind(&e.article)
        .bind(e.score)
        .bind(&e.details_text)
        .bind(&e.prev_hash[..])
        .bind(&e.hash[..])
        .execute(&mut *tx)
        .await?;
        seq = e.seq;
        prev = e.hash;
    }
    tx.commit().await?;
    let mut checkpoint = None;
    if let Some(s) = signer
        && !events.is_empty()
    {
        let time = crate::event::time_text(chrono::Utc::now());
        let sig = s.sign(&checkpoint_message(&node, seq, &prev, &time));
        let headfile = serde_json::json!({"node": node, "seq": seq, "head": hex::encode(prev), "time": time, "signature": hex::encode(&sig)});
        crate::fault::write_private_atomic(&head_path(db), headfile.to_string().as_bytes())
            .map_err(|source| AuditError::Io { path: head_path(db), source })?;
        sqlx::query("INSERT INTO checkpoints(seq, head, time, signature) VALUES (?,?,?,?)")
            .bind(seq)
            .bind(&prev[..])
            .bind(&time)
            .bind(&sig)
            .execute(&mut *c)
            .await?;
        checkpoint = Some(seq);
    }
    Ok(Rejoined { appended: events.len() as i64, head_seq: seq, head: prev, checkpoint })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditStore, Filter, NewEvent, Outcome};

    fn ev(i: usize) -> NewEvent {
        NewEvent::new(chrono::Utc::now(), "door.enter", Outcome::Granted, "GRANT_VALID")
            .subject(format!("p{i}"))
            .place("server-in")
            .article("003 §13(2)")
            .score(0.5)
            .details(serde_json::json!({"i": i}))
    }

    async fn append(s: &AuditStore, range: std::ops::Range<usize>) {
        for i in range {
            s.writer().append(ev(i)).await.unwrap();
        }
    }

    async fn count(db: &Path) -> i64 {
        let mut c = crate::disk::read_only(db).unwrap().connect().await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM events").fetch_one(&mut c).await.unwrap()
    }

    /// The backup holds events 1..=5 of node-1; the lost store went on to 8. Returns the backup's store,
    /// events 6..=8, and the key.
    async fn setup(dir: &Path) -> (std::path::PathBuf, Vec<StoredEvent>, std::path::PathBuf) {
        let (live, key) = (dir.join("audit.db"), dir.join("audit-signing.key"));
        let s = AuditStore::create_with(&live, "node-1", &key, 100).await.unwrap();
        append(&s, 0..5).await;
        s.close().await;
        let b = dir.join("backup");
        std::fs::create_dir(&b).unwrap();
        std::fs::copy(&live, b.join("audit.db")).unwrap();
        // The store may close with its last events still in the write-ahead log (a checkpoint at close is
        // not promised while another connection lingers): the backup is the database with its log, as SQLite
        // would read it.
        for ext in ["-wal", "-shm"] {
            let from = dir.join(format!("audit.db{ext}"));
            if from.exists() {
                std::fs::copy(&from, b.join(format!("audit.db{ext}"))).unwrap();
            }
        }
        std::fs::copy(head_path(&live), head_path(&b.join("audit.db"))).unwrap();
        let s = AuditStore::open_with(&live, &key, 100).await.unwrap();
        append(&s, 5..8).await;
        let later = s.query(&Filter { after_seq: Some(5), ..Default::default() }).await.unwrap();
        s.close().await;
        (b.join("audit.db"), later, key)
    }

    #[tokio::test]
    async fn shipped_events_append_after_the_head_with_a_checkpoint_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let (db, later, key) = setup(dir.path()).await;
        let signer = Signer::load(&key).unwrap();
        let r = append_shipped(&db, &later, Some(&signer)).await.unwrap();
        assert_eq!((r.appended, r.head_seq, r.head, r.checkpoint), (3, 8, later[2].hash, Some(8)));
        assert!(!dir.path().join("backup/audit.db-wal").exists(), "one file again");
        let v = crate::verify(&db, &signer.public_key()).await.unwrap();
        assert_eq!((v.events, v.head), (8, later[2].hash));
        assert_eq!(v.checkpoints, 2, "the backup's checkpoint at 5 and the new one at 8");
    }

    #[tokio::test]
    async fn another_nodes_an_edited_or_an_unlinked_event_appends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (db, later, _) = setup(dir.path()).await;
        let mut other = later.clone();
        other[1].node = "node-2".into();
        let e = append_shipped(&db, &other, None).await.unwrap_err().to_string();
        assert!(e.contains("event 7 is node node-2's") && e.contains("nothing was appended"), "{e}");
        let mut edited = later.clone();
        edited[2].details_text = "{\"i\":99}".into();
        let e = append_shipped(&db, &edited, None).await.unwrap_err().to_string();
        assert!(e.contains("event 8 does not match its hash"), "{e}");
        let e = append_shipped(&db, &later[1..], None).await.unwrap_err().to_string();
        assert!(e.contains("event 7 does not follow the store's head (event 5)"), "{e}");
        assert_eq!(count(&db).await, 5, "all or nothing: not even the events before the bad one");
    }
}

#[cfg(test)]
mod measure {
    use super::*;
    use crate::AuditStore;

    /// The figure in the README: appending 100 000 fetched events to a restored store and verifying it.
    /// `cargo test --release -p tobira-audit --lib rejoin -- --ignored --nocapture`
    #[tokio::test]
    #[ignore = "a measurement"]
    async fn appending_100k_events_takes() {
        let dir = tempfile::tempdir().unwrap();
        let (db, key) = (dir.path().join("audit.db"), dir.path().join("audit-signing.key"));
        let s = AuditStore::create(&db, "node-1", &key).await.unwrap();
        s.close().await;
        let mut prev = [0u8; 32];
        let events: Vec<StoredEvent> = (1..=100_000i64)
            .map(|seq| {
                let time = format!("2026-11-24T01:{:02}:{:02}.000000000Z", (seq / 60) % 60, seq % 60);
                let details = format!("{{\"i\":{seq}}}");
                let hash = crate::canonical_hash(
                    "node-1",
                    &time,
                    "door.enter",
                    None,
                    Some("tanaka"),
                    Some("server-in"),
                    "granted",
                    "GRANT_VALID",
                    Some("003 §13(2)"),
                    Some(0.9),
                    &details,
                    &prev,
                );
                let e = StoredEvent {
                    node: "node-1".into(),
                    seq,
                    time: chrono::Utc::now(),
                    time_text: time,
                    kind: "door.enter".into(),
                    actor: None,
                    subject: Some("tanaka".into()),
                    place: Some("server-in".into()),
                    outcome: crate::Outcome::Granted,
                    reason: "GRANT_VALID".into(),
                    article: Some("003 §13(2)".into()),
                    score: Some(0.9),
                    details: serde_json::Value::Null,
                    details_text: details,
                    prev_hash: prev,
                    hash,
                };
                prev = hash;
                e
            })
            .collect();
        let signer = Signer::load(&key).unwrap();
        let t = std::time::Instant::now();
        let r = append_shipped(&db, &events, Some(&signer)).await.unwrap();
        let appended = t.elapsed();
        let v = crate::verify(&db, &signer.public_key()).await.unwrap();
        eprintln!("appended {} events in {appended:?}, verified in {:?} more", r.appended, t.elapsed() - appended);
        assert_eq!(v.events, 100_000);
    }
}
