//! Grant ids on this node (issue 22 "Readable output"): numbered short (`G-0345`; `G-kita-shisho-0345` on
//! a multi-node site, where grants travel between nodes by their id) and read back as people type them. The
//! forms and why the node's id is in them: `tobira_core::grant_id`.

use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use tobira_core::grant_id;
use tobira_core::ids::GrantId;

/// The id of a grant issued here now (or of the grant a request asks for, numbered when it is filed).
pub async fn next(d: &Daemon) -> Result<GrantId, Refusal> {
    let n = d.stores.registry.next_grant_number().await?;
    Ok(GrantId::new(grant_id::format(d.site.grant_tag(), n)))
}

/// The stored id a typed one names: `g-1` → `G-0001`, an old `G-1796…` → `g-1796…`; on a multi-node site
/// an untagged `G-1` that is no grant here is this node's own `G-<node>-0001`. Text that is no grant id
/// is returned as it is, for the caller's "no live grant" answer.
pub fn resolve(d: &Daemon, typed: &str) -> String {
    let Some(id) = grant_id::canonical(typed) else { return typed.to_string() };
    let reg = d.registry();
    let held = |id: &str| reg.grants.iter().any(|g| g.id.as_str() == id);
    if held(&id) {
        return id;
    }
    if let (Some(tag), Some(n)) = (d.site.grant_tag(), grant_id::untagged_number(&id)) {
        let own = grant_id::format(Some(tag), n);
        if held(&own) {
            return own;
        }
    }
    id
}
