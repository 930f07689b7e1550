//! Cards and keypad IDs (issue 16 §2): which person a card at a `card+biometric` door claims to be.
//! The registry keeps the number's hash and last digits only (migration 0004).

use super::{RegistryStore, StoreError, ts};
use chrono::{DateTime, Utc};
use sqlx::Row;
use tobira_core::card::CardNumber;
use tobira_core::ids::PersonId;

/// What the registry keeps of a card number: SHA-256 over a domain tag and the canonical digits. Not a
/// secret against root (card numbers are printed on cards and few enough to enumerate): it keeps them out
/// of backups, exports and `sqlite3` sessions, as 001 §15(2) asks of IDs ("not obtainable by others").
pub fn card_hash(n: &CardNumber) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"tobira-card-v1\0");
    ctx.update(n.danger_digits().as_bytes());
    hex::encode(ctx.finish().as_ref())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRow {
    pub id: i64,
    pub last_digits: String,
    pub person: String,
    pub issued_by: String,
    pub issued_at: String,
}

impl RegistryStore {
    /// Registers a card to `person`; a card already held by someone (live) is a conflict.
    pub async fn add_card(
        &self,
        hash: &str,
        last_digits: &str,
        person: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let r = sqlx::query(
            "INSERT INTO cards(card_hash, last_digits, person, issued_by, issued_at) VALUES (?,?,?,?,?) RETURNING id",
        )
        .bind(hash)
        .bind(last_digits)
        .bind(person)
        .bind(by)
        .bind(ts(now))
        .fetch_one(self.pool())
        .await
        .map_err(|e| Self::conflict_or(e, format!("card {last_digits}")))?;
        Ok(r.get(0))
    }

    /// Withdraws the live card with this hash; returns its row, or `None` when no such card is live.
    pub async fn remove_card(&self, hash: &str, by: &str, now: DateTime<Utc>) -> Result<Option<CardRow>, StoreError> {
        let Some(row) = self.card(hash).await? else { return Ok(None) };
        sqlx::query("UPDATE cards SET removed_by = ?, removed_at = ? WHERE id = ? AND removed_at IS NULL")
            .bind(by)
            .bind(ts(now))
            .bind(row.id)
            .execute(self.pool())
            .await?;
        Ok(Some(row))
    }

    /// The live card with this hash.
    pub async fn card(&self, hash: &str) -> Result<Option<CardRow>, StoreError> {
        Ok(sqlx::query(
            "SELECT id, last_digits, person, issued_by, issued_at FROM cards WHERE card_hash = ? AND removed_at IS NULL",
        )
        .bind(hash)
        .fetch_optional(self.pool())
        .await?
        .map(|r| row(&r)))
    }

    /// Whom a card read at a door names: the live holder of the card, if any.
    pub async fn card_holder(&self, n: &CardNumber) -> Result<Option<PersonId>, StoreError> {
        Ok(self.card(&card_hash(n)).await?.map(|r| PersonId::new(&r.person)))
    }

    /// Every live card, for `tobira card list` (last digits only).
    pub async fn cards(&self) -> Result<Vec<CardRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, last_digits, person, issued_by, issued_at FROM cards WHERE removed_at IS NULL ORDER BY person, id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(row).collect())
    }
}

fn row(r: &sqlx::sqlite::SqliteRow) -> CardRow {
    CardRow { id: r.get(0), last_digits: r.get(1), person: r.get(2), issued_by: r.get(3), issued_at: r.get(4) }
}
