//! The media register's state (migration 0005, 003 §11): take-outs and their consents and returns, disposals,
//! fault checks. Every change is audited by `admin::media` before it is written here.

use super::{RegistryStore, StoreError, ts};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// Held while a register number is chosen and its row stored, so two acts at once never take one number.
pub static MEDIA_NUMBERING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One entry of the register.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MediaRow {
    pub id: String,
    pub kind: String,
    pub medium: String,
    pub media_kind: String,
    pub quantity: i64,
    pub records: Option<i64>,
    pub recipient: Option<String>,
    pub purpose: Option<String>,
    pub container: Option<String>,
    pub due: Option<String>,
    pub method: Option<String>,
    pub witness: Option<String>,
    pub faulty: Option<bool>,
    pub finding: Option<String>,
    pub note: Option<String>,
    pub status: String,
    /// JSON `[{"person", "roles", "at"}]`: who consented to a take-out, in which roles.
    pub consents: serde_json::Value,
    pub recorded_by: String,
    pub recorded_at: String,
    pub returned_by: Option<String>,
    pub returned_at: Option<String>,
    pub condition: Option<String>,
}

macro_rules! media_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, kind, medium, media_kind, quantity, records, recipient, purpose, container, due, method, ",
            "witness, faulty, finding, note, status, consents, recorded_by, recorded_at, returned_by, returned_at, ",
            "condition FROM media_register ",
            $tail
        )
    };
}

fn media_row(r: sqlx::sqlite::SqliteRow) -> MediaRow {
    let consents: String = r.get(16);
    MediaRow {
        id: r.get(0),
        kind: r.get(1),
        medium: r.get(2),
        media_kind: r.get(3),
        quantity: r.get(4),
        records: r.get(5),
        recipient: r.get(6),
        purpose: r.get(7),
        container: r.get(8),
        due: r.get(9),
        method: r.get(10),
        witness: r.get(11),
        faulty: r.get::<Option<i64>, _>(12).map(|f| f != 0),
        finding: r.get(13),
        note: r.get(14),
        status: r.get(15),
        consents: serde_json::from_str(&consents).unwrap_or(serde_json::Value::Array(vec![])),
        recorded_by: r.get(17),
        recorded_at: r.get(18),
        returned_by: r.get(19),
        returned_at: r.get(20),
        condition: r.get(21),
    }
}

impl RegistryStore {
    /// The next register number (`M-0001`, …), unique in this registry; hold [`MEDIA_NUMBERING`] until the row
    /// is stored.
    pub async fn next_media_id(&self) -> Result<String, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM media_register").fetch_one(self.pool()).await?;
        Ok(format!("M-{:04}", n + 1))
    }

    /// Stores a new entry; a medium already out (or awaiting consent) is a conflict.
    pub async fn add_media(&self, m: &MediaRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO media_register(id, kind, medium, media_kind, quantity, records, recipient, purpose, container, \
             due, method, witness, faulty, finding, note, status, consents, recorded_by, recorded_at) \
             VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        )
        .bind(&m.id)
        .bind(&m.kind)
        .bind(&m.medium)
        .bind(&m.media_kind)
        .bind(m.quantity)
        .bind(m.records)
        .bind(&m.recipient)
        .bind(&m.purpose)
        .bind(&m.container)
        .bind(&m.due)
        .bind(&m.method)
        .bind(&m.witness)
        .bind(m.faulty.map(i64::from))
        .bind(&m.finding)
        .bind(&m.note)
        .bind(&m.status)
        .bind(m.consents.to_string())
        .bind(&m.recorded_by)
        .bind(&m.recorded_at)
        .execute(self.pool())
        .await
        .map_err(|e| Self::conflict_or(e, format!("medium {} taken out", m.medium)))?;
        Ok(())
    }

    pub async fn media_entry(&self, id: &str) -> Result<Option<MediaRow>, StoreError> {
        Ok(sqlx::query(media_select!("WHERE id = ?")).bind(id).fetch_optional(self.pool()).await?.map(media_row))
    }

    /// Media out or awaiting consent (`all`: every entry), oldest first.
    pub async fn media_entries(&self, all: bool) -> Result<Vec<MediaRow>, StoreError> {
        let q = if all {
            sqlx::query(media_select!("ORDER BY recorded_at, id"))
        } else {
            sqlx::query(media_select!("WHERE status IN ('awaiting-consent', 'out') ORDER BY recorded_at, id"))
        };
        Ok(q.fetch_all(self.pool()).await?.into_iter().map(media_row).collect())
    }

    /// Records a further consent, only while the take-out still awaits one: two consents racing find one of
    /// them refused.
    pub async fn consent_media(
        &self,
        id: &str,
        consents: &serde_json::Value,
        status: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE media_register SET consents = ?, status = ? WHERE id = ? AND status = 'awaiting-consent'",
        )
        .bind(consents.to_string())
        .bind(status)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Records a take-out's return, only while it is out.
    pub async fn return_media(
        &self,
        id: &str,
        by: &str,
        condition: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE media_register SET status = 'returned', returned_by = ?, returned_at = ?, condition = ? \
             WHERE id = ? AND status = 'out'",
        )
        .bind(by)
        .bind(ts(now))
        .bind(condition)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}
