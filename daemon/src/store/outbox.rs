//! The local outbox of registry changes bound for the centre (see `registry_publish`).

use super::{RegistryStore, StoreError, ts};
use chrono::{DateTime, Utc};
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub kind: String,
    pub target: String,
    pub reason: String,
    pub issued_by: String,
    pub payload: String,
}

impl RegistryStore {
    pub async fn queue_change(
        &self,
        kind: &str,
        target: &str,
        reason: &str,
        by: &str,
        payload: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO central_outbox(kind, target, reason, issued_by, payload, created_at) VALUES (?,?,?,?,?,?)",
        )
        .bind(kind)
        .bind(target)
        .bind(reason)
        .bind(by)
        .bind(payload)
        .bind(ts(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn unpublished(&self) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, target, reason, issued_by, payload FROM central_outbox WHERE published_version IS NULL ORDER BY id LIMIT 500",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| OutboxRow {
                id: r.get(0),
                kind: r.get(1),
                target: r.get(2),
                reason: r.get(3),
                issued_by: r.get(4),
                payload: r.get(5),
            })
            .collect())
    }

    pub async fn mark_published(&self, id: i64, version: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE central_outbox SET published_version = ? WHERE id = ?")
            .bind(version)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
