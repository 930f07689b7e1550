//! Rows of the administration workflows: requests and their decisions, template status and erasure, the
//! key generation, lent viewer IDs and alarms.

use super::{RegistryStore, StoreError, ts};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// A request awaiting (or past) the system administrator's decision (003 §7).
#[derive(Debug, Clone, Serialize)]
pub struct RequestRow {
    pub id: String,
    pub kind: String,
    pub subject: String,
    pub params: serde_json::Value,
    pub requested_by: String,
    pub requested_at: String,
    pub status: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
    pub note: Option<String>,
    pub applied_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LoanRow {
    pub id: String,
    pub viewer_id: String,
    pub lent_to: String,
    pub affiliation: String,
    pub purpose: String,
    pub lent_at: String,
    pub lent_by: String,
    pub returned_at: Option<String>,
    pub returned_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlarmRow {
    pub id: i64,
    pub audit_seq: i64,
    pub kind: String,
    pub place: Option<String>,
    pub subject: Option<String>,
    pub reason: String,
    pub raised_at: String,
    pub notified_at: Option<String>,
    pub acked_at: Option<String>,
    pub acked_by: Option<String>,
    pub note: Option<String>,
}

/// A template's row as the workflows see it (never its plaintext).
#[derive(Debug, Clone, Serialize)]
pub struct TemplateInfo {
    pub id: String,
    pub person: String,
    pub modality: String,
    pub position: i64,
    pub status: String,
    pub quality: i64,
    pub created_at: String,
}

macro_rules! request_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, kind, subject, params, requested_by, requested_at, status, decided_by, decided_at, note, applied_at FROM requests ",
            $tail
        )
    };
}

fn request_row(r: sqlx::sqlite::SqliteRow) -> RequestRow {
    let params: String = r.get(3);
    RequestRow {
        id: r.get(0),
        kind: r.get(1),
        subject: r.get(2),
        params: serde_json::from_str(&params).unwrap_or(serde_json::Value::Null),
        requested_by: r.get(4),
        requested_at: r.get(5),
        status: r.get(6),
        decided_by: r.get(7),
        decided_at: r.get(8),
        note: r.get(9),
        applied_at: r.get(10),
    }
}

impl RegistryStore {
    pub async fn add_request(
        &self,
        id: &str,
        kind: &str,
        subject: &str,
        params: &serde_json::Value,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO requests(id, kind, subject, params, requested_by, requested_at, status) VALUES (?,?,?,?,?,?, 'pending')")
            .bind(id)
            .bind(kind)
            .bind(subject)
            .bind(params.to_string())
            .bind(by)
            .bind(ts(now))
            .execute(&self.pool)
            .await
            .map_err(|e| Self::conflict_or(e, format!("request {id}")))?;
        Ok(())
    }

    pub async fn request(&self, id: &str) -> Result<Option<RequestRow>, StoreError> {
        let id = short_request_id(id).unwrap_or_else(|| id.to_string());
        Ok(sqlx::query(request_select!("WHERE id = ?")).bind(&id).fetch_optional(&self.pool).await?.map(request_row))
    }

    /// The next short request id (`R-0001`, `R-0002`, …: issue 22 §3), unique in this registry. The caller
    /// holds [`REQUEST_NUMBERING`] until the request is stored, so two filed at once never take one number.
    pub async fn next_request_id(&self) -> Result<String, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM requests").fetch_one(&self.pool).await?;
        Ok(format!("R-{:04}", n + 1))
    }

    pub async fn requests(&self, status: Option<&str>) -> Result<Vec<RequestRow>, StoreError> {
        let rows = match status {
            Some(s) => {
                sqlx::query(request_select!("WHERE status = ? ORDER BY requested_at, id"))
                    .bind(s)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => sqlx::query(request_select!("ORDER BY requested_at, id")).fetch_all(&self.pool).await?,
        };
        Ok(rows.into_iter().map(request_row).collect())
    }

    /// Moves a request from `from` to `to` only if it is still in `from`: two approvals racing, or an
    /// approval of a withdrawn request, find nothing to move and are refused.
    pub async fn transition_request(
        &self,
        id: &str,
        from: &str,
        to: &str,
        by: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let q = if to == "applied" {
            sqlx::query("UPDATE requests SET status = ?, applied_at = ? WHERE id = ? AND status = ?")
                .bind(to)
                .bind(ts(now))
                .bind(id)
                .bind(from)
        } else {
            sqlx::query(
                "UPDATE requests SET status = ?, decided_by = ?, decided_at = ?, note = ? WHERE id = ? AND status = ?",
            )
            .bind(to)
            .bind(by)
            .bind(ts(now))
            .bind(note)
            .bind(id)
            .bind(from)
        };
        Ok(q.execute(&self.pool).await?.rows_affected() == 1)
    }

    pub async fn templates_of(&self, person: &str) -> Result<Vec<TemplateInfo>, StoreError> {
        let rows = sqlx::query("SELECT id, person_id, modality, position, status, quality, created_at FROM templates WHERE person_id = ? ORDER BY created_at, id")
            .bind(person)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(template_info).collect())
    }

    pub async fn live_template_infos(&self) -> Result<Vec<TemplateInfo>, StoreError> {
        let rows = sqlx::query("SELECT id, person_id, modality, position, status, quality, created_at FROM templates WHERE status IN ('approved', 'pending') ORDER BY person_id, created_at")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(template_info).collect())
    }

    pub async fn set_template_status(&self, id: &str, from: &str, to: &str) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE templates SET status = ? WHERE id = ? AND status = ?")
            .bind(to)
            .bind(id)
            .bind(from)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Crypto-erase (000 §8(2)): the wrapped data key is destroyed and the ciphertext overwritten. What an old
    /// backup still holds is made useless by the key rotation that follows every erasure.
    pub async fn erase_templates(&self, ids: &[String]) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut n = 0;
        for id in ids {
            n += sqlx::query("UPDATE templates SET status = 'erased', wrapped_key = NULL, ciphertext = zeroblob(length(ciphertext)) WHERE id = ? AND status != 'erased'")
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Every data key still wrapped, for rotation.
    pub async fn wrapped_keys(&self) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let rows = sqlx::query("SELECT id, person_id, wrapped_key FROM templates WHERE wrapped_key IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    /// Replaces every wrapped key and the key fingerprint in one transaction: after a crash either all data
    /// keys open with the old node key or all with the new one, and `kek_sha256` says which.
    pub async fn rewrap(&self, rewrapped: &[(String, Vec<u8>)], new_fingerprint: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for (id, wk) in rewrapped {
            sqlx::query("UPDATE templates SET wrapped_key = ? WHERE id = ?")
                .bind(wk)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO meta(key, value) VALUES ('kek_sha256', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
            .bind(new_fingerprint)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn deactivate_person(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE people SET active = 0 WHERE id = ?").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn add_loan(&self, l: &LoanRow) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO viewer_loans(id, viewer_id, lent_to, affiliation, purpose, lent_at, lent_by) VALUES (?,?,?,?,?,?,?)")
            .bind(&l.id)
            .bind(&l.viewer_id)
            .bind(&l.lent_to)
            .bind(&l.affiliation)
            .bind(&l.purpose)
            .bind(&l.lent_at)
            .bind(&l.lent_by)
            .execute(&self.pool)
            .await
            .map_err(|e| Self::conflict_or(e, format!("an open loan of viewer ID {}", l.viewer_id)))?;
        Ok(())
    }

    pub async fn return_loan(&self, id: &str, by: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE viewer_loans SET returned_at = ?, returned_by = ? WHERE id = ? AND returned_at IS NULL",
        )
        .bind(ts(now))
        .bind(by)
        .bind(id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    pub async fn loans(&self) -> Result<Vec<LoanRow>, StoreError> {
        let rows = sqlx::query("SELECT id, viewer_id, lent_to, affiliation, purpose, lent_at, lent_by, returned_at, returned_by FROM viewer_loans ORDER BY lent_at, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| LoanRow {
                id: r.get(0),
                viewer_id: r.get(1),
                lent_to: r.get(2),
                affiliation: r.get(3),
                purpose: r.get(4),
                lent_at: r.get(5),
                lent_by: r.get(6),
                returned_at: r.get(7),
                returned_by: r.get(8),
            })
            .collect())
    }

    /// Records an alarm for an audit event; returns its id, or `None` if that event already raised one.
    pub async fn add_alarm(
        &self,
        seq: i64,
        kind: &str,
        place: Option<&str>,
        subject: Option<&str>,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let r = sqlx::query("INSERT INTO alarms(audit_seq, kind, place, subject, reason, raised_at) VALUES (?,?,?,?,?,?) ON CONFLICT(audit_seq) DO NOTHING")
            .bind(seq)
            .bind(kind)
            .bind(place)
            .bind(subject)
            .bind(reason)
            .bind(ts(at))
            .execute(&self.pool)
            .await?;
        Ok((r.rows_affected() == 1).then(|| r.last_insert_rowid()))
    }

    pub async fn mark_notified(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE alarms SET notified_at = ? WHERE id = ? AND notified_at IS NULL")
            .bind(ts(at))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn ack_alarm(&self, id: i64, by: &str, note: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let n = sqlx::query("UPDATE alarms SET acked_at = ?, acked_by = ?, note = ? WHERE id = ? AND acked_at IS NULL")
            .bind(ts(at))
            .bind(by)
            .bind(note)
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// How many alarms wait for the security manager's acknowledgement (the metrics' gauge).
    pub async fn open_alarm_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT count(*) FROM alarms WHERE acked_at IS NULL").fetch_one(&self.pool).await?)
    }

    pub async fn alarms(&self, open_only: bool) -> Result<Vec<AlarmRow>, StoreError> {
        let sql = if open_only {
            "SELECT id, audit_seq, kind, place, subject, reason, raised_at, notified_at, acked_at, acked_by, note FROM alarms WHERE acked_at IS NULL ORDER BY id"
        } else {
            "SELECT id, audit_seq, kind, place, subject, reason, raised_at, notified_at, acked_at, acked_by, note FROM alarms ORDER BY id"
        };
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|r| AlarmRow {
                id: r.get(0),
                audit_seq: r.get(1),
                kind: r.get(2),
                place: r.get(3),
                subject: r.get(4),
                reason: r.get(5),
                raised_at: r.get(6),
                notified_at: r.get(7),
                acked_at: r.get(8),
                acked_by: r.get(9),
                note: r.get(10),
            })
            .collect())
    }
}

fn template_info(r: sqlx::sqlite::SqliteRow) -> TemplateInfo {
    TemplateInfo {
        id: r.get(0),
        person: r.get(1),
        modality: r.get(2),
        position: r.get(3),
        status: r.get(4),
        quality: r.get(5),
        created_at: r.get(6),
    }
}

/// Serialises numbering and storing a request (see [`RegistryStore::next_request_id`]).
pub static REQUEST_NUMBERING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A short request id as people type it (`R-12`, `r-0012`) in its stored form (`R-0012`); `None` for any
/// other text, which is looked up as it is (the long `r-1796410296959645` of older requests).
pub fn short_request_id(text: &str) -> Option<String> {
    let digits = text.strip_prefix("R-").or_else(|| text.strip_prefix("r-"))?;
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u32>().ok().map(|n| format!("R-{n:04}"))
}

#[cfg(test)]
mod short_id_tests {
    use super::short_request_id;

    #[test]
    fn short_ids_are_accepted_as_people_type_them_and_long_ones_pass_through() {
        assert_eq!(short_request_id("R-0012").as_deref(), Some("R-0012"));
        assert_eq!(short_request_id("r-12").as_deref(), Some("R-0012"));
        assert_eq!(short_request_id("r-1796410296959645"), None, "an old long id is looked up as it is");
        assert_eq!(short_request_id("R-"), None);
        assert_eq!(short_request_id("tanaka"), None);
    }
}
