//! The single writer: owns the chain head, groups queued appends into one transaction (group commit), and
//! answers each caller only after the commit is durable.

use crate::disk::{head_path, options};
use crate::error::AuditError;
use crate::event::{NewEvent, canonical_hash, details_text, time_text};
use crate::signing::{Signer, checkpoint_message};
use sqlx::{ConnectOptions, Connection, SqliteConnection};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Appends committed in one transaction at most.
const BATCH: usize = 4096;
/// Rows per INSERT statement (14 parameters each, well below SQLite's 32766).
const ROWS_PER_STATEMENT: usize = 256;

struct Row<'a> {
    seq: i64,
    ev: &'a NewEvent,
    time: String,
    details: String,
    prev: [u8; 32],
    hash: [u8; 32],
}

fn insert_rows(node: &str, rows: &[Row<'_>]) -> sqlx::QueryBuilder<sqlx::Sqlite> {
    let mut q = sqlx::QueryBuilder::new(
        "INSERT INTO events(seq, node, time, kind, actor, subject, place, outcome, reason, article, score, details, prev_hash, hash) ",
    );
    q.push_values(rows, |mut b, r| {
        b.push_bind(r.seq)
            .push_bind(node)
            .push_bind(r.time.as_str())
            .push_bind(r.ev.kind.as_str())
            .push_bind(r.ev.actor.as_deref())
            .push_bind(r.ev.subject.as_deref())
            .push_bind(r.ev.place.as_deref())
            .push_bind(r.ev.outcome.as_str())
            .push_bind(r.ev.reason.as_str())
            .push_bind(r.ev.article.as_deref())
            .push_bind(r.ev.score)
            .push_bind(r.details.as_str())
            .push_bind(&r.prev[..])
            .push_bind(&r.hash[..]);
    });
    q
}

/// Proof that an event is on disk: its sequence number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub seq: i64,
    pub hash: [u8; 32],
}

type Reply = oneshot::Sender<Result<Receipt, AuditError>>;

enum Msg {
    Append(Box<NewEvent>, Reply),
    Unwritable(bool, oneshot::Sender<Result<(), AuditError>>),
    HighWater(PathBuf, oneshot::Sender<()>),
    Checkpoint(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// A handle to the writer task. Cheap to clone; every clone appends to the same chain.
#[derive(Clone)]
pub struct AuditWriter {
    tx: mpsc::Sender<Msg>,
}

struct Task {
    conn: SqliteConnection,
    db: PathBuf,
    node: String,
    signer: Arc<Signer>,
    every: u64,
    head_seq: i64,
    head_hash: [u8; 32],
    checkpoint_seq: i64,
    /// Roughly how far the postings reach (the store's `indexed_upto` is the truth).
    indexed_hint: i64,
    /// Whether `audit.db.head` may be replaced: false when it was found missing (after checkpoints were
    /// signed), garbled, truncated or older than the newest checkpoint. Then it is left as it is — evidence
    /// for `verify`, never silently overwritten at the next checkpoint (issue 15 item 7).
    head_file_ok: bool,
    /// The high-water file beside the pinned key, if the daemon named one (`anchors`).
    high_water: Option<PathBuf>,
}

/// Index when at least this many events are waiting, this many at a time.
const INDEX_EVERY: i64 = 256;
const INDEX_STEP: i64 = 2048;

impl AuditWriter {
    pub(crate) async fn start(
        db: &Path,
        node: String,
        signer: Arc<Signer>,
        every: u64,
    ) -> Result<AuditWriter, AuditError> {
        let mut conn = options(db, false)?.connect().await?;
        let head: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetch_optional(&mut conn).await?;
        let cp: Option<i64> = sqlx::query_scalar("SELECT max(seq) FROM checkpoints").fetch_one(&mut conn).await?;
        let (head_seq, head_hash) = match head {
            Some((s, h)) if h.len() == 32 => {
                let mut a = [0u8; 32];
                a.copy_from_slice(&h);
                (s, a)
            }
            Some(_) => {
                return Err(AuditError::Corrupt { path: db.into(), detail: "chain head has a malformed hash".into() });
            }
            None => (0, [0u8; 32]),
        };
        let indexed: Option<String> =
            sqlx::query_scalar("SELECT value FROM meta WHERE key = 'indexed_upto'").fetch_optional(&mut conn).await?;
        let indexed_hint = indexed.and_then(|v| v.parse().ok()).unwrap_or(0);
        let head_file_ok = match crate::disk::read_head_file(db) {
            Ok(None) => cp.is_none(),
            Ok(Some(h)) => cp.is_none_or(|c| h.seq >= c),
            Err(_) => false,
        };
        if !head_file_ok {
            tracing::error!(
                path = %head_path(db).display(),
                "the audit head file is missing, garbled or older than the newest checkpoint: it is kept as it is and not overwritten; `tobira audit verify` reports it"
            );
        }
        let task = Task {
            conn,
            db: db.into(),
            node,
            signer,
            every: every.max(1),
            head_seq,
            head_hash,
            checkpoint_seq: cp.unwrap_or(0),
            indexed_hint,
            head_file_ok,
            high_water: None,
        };
        let (tx, rx) = mpsc::channel(65_536);
        tokio::spawn(task.run(rx));
        Ok(AuditWriter { tx })
    }

    /// Appends one event; returns once it is durable. An error means it was not recorded: deny.
    pub async fn append(&self, ev: NewEvent) -> Result<Receipt, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Append(Box::new(ev), tx)).await.map_err(|_| AuditError::Closed)?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// How many requests wait for the writer now (the metrics' audit queue depth).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Makes the store refuse writes at the SQLite level (`PRAGMA query_only`), exactly as a filesystem
    /// remounted read-only after I/O errors would: the simulator uses it to show that the door then stays
    /// locked. Not reachable from production commands.
    pub async fn set_unwritable(&self, on: bool) -> Result<(), AuditError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(Msg::Unwritable(on, tx)).await.map_err(|_| AuditError::Closed)?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// Also remember every checkpoint in the high-water file at `path` (beside the pinned key, outside the
    /// data directory), so a store rolled back together with its head file is caught (issue 16 §1(c)).
    pub async fn remember_checkpoints_in(&self, path: PathBuf) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::HighWater(path, tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Signs a checkpoint at the head now (if anything was appended since the last one), so an event that
    /// must count as signed at once — a loss acknowledgement — does not wait for the next periodic one.
    pub async fn checkpoint_now(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Checkpoint(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Writes a final checkpoint and stops the writer; later appends fail with `Closed`.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Msg::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut pending: Option<Msg> = None;
        loop {
            let first = match pending.take() {
                Some(m) => m,
                None => match rx.recv().await {
                    Some(m) => m,
                    None => {
                        self.checkpoint().await;
                        return;
                    }
                },
            };
            match first {
                Msg::Append(ev, reply) => {
                    let mut batch = vec![(ev, reply)];
                    let mut drained = false;
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(Msg::Append(ev, reply)) => batch.push((ev, reply)),
                            Ok(other) => {
                                pending = Some(other);
                                break;
                            }
                            Err(_) => {
                                drained = true;
                                break;
                            }
                        }
                    }
                    self.commit(batch).await;
                    // Nothing waiting: spend the idle moment on the person/place postings, in small steps so
                    // the next append waits little.
                    if drained && rx.is_empty() && self.head_seq - self.indexed_hint >= INDEX_EVERY {
                        match crate::disk::index_step(&mut self.conn, INDEX_STEP).await {
                            Ok(n) => self.indexed_hint += n,
                            Err(e) => tracing::warn!(error = %e, "audit index step failed; queries will catch up"),
                        }
                    }
                }
                Msg::Unwritable(on, reply) => {
                    let r = sqlx::query(if on { "PRAGMA query_only = ON" } else { "PRAGMA query_only = OFF" })
                        .execute(&mut self.conn)
                        .await
                        .map(|_| ())
                        .map_err(AuditError::Db);
                    let _ = reply.send(r);
                }
                Msg::HighWater(path, reply) => {
                    self.high_water = Some(path);
                    let _ = reply.send(());
                }
                Msg::Checkpoint(reply) => {
                    self.checkpoint().await;
                    let _ = reply.send(());
                }
                Msg::Shutdown(reply) => {
                    self.checkpoint().await;
                    let _ = reply.send(());
                    return;
                }
            }
        }
    }

    async fn commit(&mut self, batch: Vec<(Box<NewEvent>, Reply)>) {
        let (batch, replies): (Vec<Box<NewEvent>>, Vec<Reply>) = batch.into_iter().unzip();
        // Hash the batch first (pure), then write it with multi-row INSERTs: one statement per chunk instead
        // of one per event, because the per-statement overhead, not SQLite, bounds grouped throughput.
        let mut rows = Vec::with_capacity(batch.len());
        let (mut seq, mut prev) = (self.head_seq, self.head_hash);
        for ev in &batch {
            seq += 1;
            let time = time_text(ev.time);
            let details = details_text(&ev.details);
            let hash = canonical_hash(
                &self.node,
                &time,
                &ev.kind,
                ev.actor.as_deref(),
                ev.subject.as_deref(),
                ev.place.as_deref(),
                ev.outcome.as_str(),
                &ev.reason,
                ev.article.as_deref(),
                ev.score,
                &details,
                &prev,
            );
            rows.push(Row { seq, ev, time, details, prev, hash });
            prev = hash;
        }
        let receipts: Vec<Receipt> = rows.iter().map(|r| Receipt { seq: r.seq, hash: r.hash }).collect();
        let result: Result<(), sqlx::Error> = async {
            if rows.len() <= ROWS_PER_STATEMENT {
                // One statement in autocommit is atomic and durable by itself: no BEGIN/COMMIT round trips.
                insert_rows(&self.node, &rows).build().execute(&mut self.conn).await?;
                return Ok(());
            }
            let mut tx = self.conn.begin().await?;
            for chunk in rows.chunks(ROWS_PER_STATEMENT) {
                insert_rows(&self.node, chunk).build().execute(&mut *tx).await?;
            }
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => {
                if let Some(last) = receipts.last() {
                    self.head_seq = last.seq;
                    self.head_hash = last.hash;
                }
                for (reply, r) in replies.into_iter().zip(receipts) {
                    let _ = reply.send(Ok(r));
                }
                if (self.head_seq - self.checkpoint_seq) as u64 >= self.every {
                    self.checkpoint().await;
                }
            }
            Err(e) => {
                // Nothing of the batch is stored and the head is unchanged: every caller denies.
                tracing::error!(error = %e, events = replies.len(), "audit commit failed");
                let msg = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(AuditError::Write(msg.clone())));
                }
            }
        }
    }

    /// Signs the chain head, stores the checkpoint and the sidecar head file. Failure is logged, not fatal:
    /// the chain itself is already durable.
    /// A new checkpoint may replace the remembered one only if the chain still holds that one: a store cut
    /// short and then grown past it again is a fork, and raising the record would erase the evidence.
    async fn still_holds_remembered_checkpoint(&mut self, hw: &Path) -> bool {
        let Ok(Some(rec)) = crate::anchors::load(hw) else { return true };
        let Some(c) = rec.checkpoint else { return true };
        let Ok(seq) = i64::try_from(c.seq) else { return false };
        if seq > self.head_seq {
            return true; // never lowered by `raise`; verification reports the rollback
        }
        let at: Option<Vec<u8>> = sqlx::query_scalar("SELECT hash FROM events WHERE seq = ?")
            .bind(seq)
            .fetch_optional(&mut self.conn)
            .await
            .ok()
            .flatten();
        let holds = at.map(hex::encode).as_deref() == Some(c.head.as_str());
        if !holds {
            tracing::error!(
                seq,
                "the chain no longer holds the checkpoint remembered beside the pinned key: the record is not raised past it; `tobira audit verify` reports it"
            );
        }
        holds
    }

    async fn checkpoint(&mut self) {
        if self.head_seq <= self.checkpoint_seq {
            return;
        }
        let time = time_text(chrono::Utc::now());
        let sig = self.signer.sign(&checkpoint_message(&self.node, self.head_seq, &self.head_hash, &time));
        // The head file and the high-water record first, the checkpoint row last: a crash in between leaves
        // a head newer than the rows (it still verifies: the events it names are durable), never one older
        // than them (which `verify` must report as a replaced head file).
        let head = serde_json::json!({"node": self.node, "seq": self.head_seq, "head": hex::encode(self.head_hash), "time": time, "signature": hex::encode(&sig)});
        if !self.head_file_ok {
            tracing::error!("audit head file left as found (missing, garbled or old): not overwritten");
        } else if let Err(e) = crate::fault::write_private_atomic(&head_path(&self.db), head.to_string().as_bytes()) {
            tracing::error!(error = %e, "audit head file not written");
        }
        if let Some(hw) = self.high_water.clone()
            && self.still_holds_remembered_checkpoint(&hw).await
        {
            let rec = crate::anchors::CheckpointRecord {
                seq: self.head_seq as u64,
                head: hex::encode(self.head_hash),
                time: time.clone(),
                signature: hex::encode(&sig),
            };
            if let Err(e) = crate::anchors::raise(&hw, &self.node, crate::anchors::Raise::Checkpoint(rec)) {
                tracing::error!(error = %e, "the high-water record beside the pinned key was not raised");
            }
        }
        let r = sqlx::query("INSERT INTO checkpoints(seq, head, time, signature) VALUES (?,?,?,?)")
            .bind(self.head_seq)
            .bind(&self.head_hash[..])
            .bind(&time)
            .bind(&sig)
            .execute(&mut self.conn)
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "audit checkpoint failed");
            return;
        }
        self.checkpoint_seq = self.head_seq;
    }
}
