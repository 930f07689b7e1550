//! What the node knows of its shipping to the centre (issue 7 §2): written by `central::shipper`, read by
//! `tobira status`; the node state holds it, so it lives beside that state.

use chrono::{DateTime, Utc};

/// What `tobira status` shows of the shipping.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ShipState {
    /// The highest sequence the centre acknowledged.
    pub acknowledged: i64,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub stopped_by_fork: bool,
    /// The largest log size the centre's witness countersigned for this node.
    pub cosigned: u64,
    /// This node's clock minus the centre's at the last batch, in seconds.
    pub clock_skew_s: Option<f64>,
}
