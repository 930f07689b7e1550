//! What the centre noticed about its nodes (clock skew, refused tree heads): the alarms an auditor reviews
//! (003 §17, §20). Written only by the centre's own functions and witness.

use crate::CentralError;
use serde::Serialize;
use sqlx::postgres::PgPool;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CentralAlarm {
    pub id: i64,
    pub node: String,
    pub seq: Option<i64>,
    pub kind: String,
    pub detail: String,
    pub at: String,
}

/// Alarms after `after_id`, oldest first (optionally of one node).
pub async fn list(pool: &PgPool, node: Option<&str>, after_id: i64) -> Result<Vec<CentralAlarm>, CentralError> {
    Ok(sqlx::query_as(
        "SELECT id, node, seq, kind, detail, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS at \
         FROM central_alarms WHERE id > $1 AND ($2::text IS NULL OR node = $2) ORDER BY id",
    )
    .bind(after_id)
    .bind(node)
    .fetch_all(pool)
    .await?)
}

/// Sets the largest clock difference (seconds) the centre accepts without an alarm.
pub async fn set_max_clock_skew(admin: &PgPool, seconds: u32) -> Result<(), CentralError> {
    sqlx::query("UPDATE central_settings SET value = $1 WHERE key = 'max_clock_skew_s'")
        .bind(seconds.to_string())
        .execute(admin)
        .await?;
    Ok(())
}
