//! The live state the flows decide with: the registry snapshot, occupancy, escorts, lockouts and throttles
//! (`Shared`), and when the node last heard from the centre. A flow holds this handle instead of the whole
//! `Daemon` (issue 20).

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use tobira_core::lockout::LockoutBook;
use tobira_core::model::Registry;
use tobira_core::occupancy::{EscortLog, Occupancy};
use tobira_core::policy::{Decision, NodeFacts};

/// The live, in-memory view the flows decide with; the stores are the durable truth behind it.
pub struct Shared {
    pub registry: Arc<Registry>,
    /// Built from `registry` and replaced with it.
    pub grants: tobira_core::model::GrantIndex,
    pub occupancy: Occupancy,
    pub escorts: EscortLog,
    pub lockout: LockoutBook,
    /// Unidentified attempts per reader (issue 16 §2): throttled, and alarmed once per run.
    pub reader_throttle: tobira_core::throttle::ReaderThrottle,
}

pub struct Live {
    pub shared: Mutex<Shared>,
    /// When this node last heard from the centre (the registry feed); the start counts as contact.
    pub contact: Mutex<Option<DateTime<Utc>>>,
}

impl Live {
    pub fn new(shared: Shared) -> Live {
        Live { shared: Mutex::new(shared), contact: Mutex::new(None) }
    }

    pub fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn registry(&self) -> Arc<Registry> {
        self.shared().registry.clone()
    }

    /// The policy decision with the live state: registry snapshot, occupancy, escorts, lockouts, and, in a
    /// multi-node site, when the node last heard from the centre (the per-level staleness limit).
    pub fn decide(&self, req: &tobira_core::policy::Request, now: DateTime<Utc>) -> Decision {
        self.decide_with(req, now, NodeFacts::default())
    }

    /// `decide` with what the caller knows besides (a door's controller offline, a person only attributed):
    /// every veto, and its reason, is `policy::decide`'s.
    pub fn decide_with(&self, req: &tobira_core::policy::Request, now: DateTime<Utc>, facts: NodeFacts) -> Decision {
        let node = NodeFacts { central_contact: self.contact.lock().ok().and_then(|c| *c), ..facts };
        let sh = self.shared();
        tobira_core::policy::decide(
            req,
            &tobira_core::policy::Context {
                registry: &sh.registry,
                grants: Some(&sh.grants),
                occupancy: &sh.occupancy,
                escorts: &sh.escorts,
                lockout: &sh.lockout,
                now,
                node,
            },
        )
    }
}
