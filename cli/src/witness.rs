//! `tobira audit verify --witness` (issue 16 §1(a)): the heads the site's peer witness countersigned for this
//! node become anchors the store must extend. Each is checked first: countersigned with the site file's
//! `witness_key` and signed by the key verification trusts (the pinned key or `--node-key`) — so a store
//! rewritten with a fresh key, or cut short, fails against heads that nobody on the node can change.

use std::path::Path;
use tobira_audit::anchors::Anchor;
use tobira_audit::witness::verify_countersigned;
use tobira_central::peer_witness::{PeerClient, PeerRequest, PeerResponse};

/// The countersigned heads as `SIZE:ROOT` anchors; `Err((exit code, message))` when they cannot be had or do
/// not verify (4: a head not signed by the trusted key or not countersigned by the witness; 1: unreachable;
/// 2: no `[witness]` in the site file).
pub fn witness_anchors(config: &Path, node_key: Option<&str>) -> Result<Vec<String>, (i32, String)> {
    let text = std::fs::read_to_string(config).map_err(|e| (2, format!("{}: {e}", config.display())))?;
    let site = tobira_core::site::parse_site(&config.display().to_string(), &text).map_err(|e| (2, e.to_string()))?;
    let Some(w) = site.witness.clone() else {
        return Err((2, format!("{} has no [witness] section: this node has no peer witness", config.display())));
    };
    let trusted = tobira_audit::trust::resolve(node_key, &tobira_audit::trust::default_pin(config))
        .map_err(|e| (5, e.to_string()))?;
    let witness_key = hex::decode(w.witness_key.trim()).map_err(|e| (2, format!("[witness] witness_key: {e}")))?;
    let client =
        PeerClient::new(&w.address, &w.server_name(), Path::new(&w.ca_file)).map_err(|e| (1, e.to_string()))?;
    let heads = match client.call(&PeerRequest::Heads { node: site.id.to_string() }).map_err(|e| (1, e.to_string()))? {
        PeerResponse::Heads { heads } => heads,
        other => return Err((1, format!("the witness answered {other:?}"))),
    };
    let mut out = Vec::with_capacity(heads.len());
    for h in &heads {
        if !verify_countersigned(h, &trusted.key, &witness_key) {
            return Err((
                4,
                format!(
                    "the head of {} events the witness countersigned at {} is not signed by {} (or not countersigned by witness_key): the node's key was replaced after it was witnessed",
                    h.sth.head.size,
                    h.sth.head.time,
                    trusted.describe()
                ),
            ));
        }
        out.push(Anchor { size: h.sth.head.size, root: h.sth.head.root }.to_string());
    }
    Ok(out)
}
