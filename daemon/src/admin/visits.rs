//! Vendor visits (003 §13(4), 000 §7(2)): who comes, for which doors, when, and who escorts them.

use crate::admin::audited::audited_admin;
use crate::admin::people::need_person;
use crate::admin::range::{parse_end, parse_time};
use crate::flows::actor::Actor;
use crate::node::daemon::Daemon;
use crate::refusal::{Answer, Refusal};
use tobira_core::ids::*;
use tobira_core::model::{Role, VendorVisit};

pub async fn add(d: &Daemon, actor: &Actor, v: tobira_proto::VisitAdd) -> Answer {
    let vendor = need_person(d, "vendor", &v.vendor)?;
    if !vendor.has_role(Role::Vendor) {
        return Err(Refusal::bad(format!("vendor: {} is not registered as a vendor (保守業者)", v.vendor)));
    }
    for e in &v.escorts {
        need_person(d, "escorts", e)?;
    }
    for door in &v.doors {
        if d.site.door(&DoorId::new(door)).is_none() {
            return Err(Refusal::not_found(format!("doors: no door {door:?}")));
        }
    }
    if v.escorts.is_empty() {
        return Err(Refusal::bad("escorts: a vendor visit needs at least one escorting operator (003 §13(4))"));
    }
    let from = parse_time(d, "from", &v.from)?;
    let until = parse_end(d, "until", &v.until)?;
    if until <= from {
        return Err(Refusal::bad("until: must be after from"));
    }
    let now = d.now();
    let id = VisitId::new(format!("v-{}", now.timestamp_micros()));
    let visit = VendorVisit {
        id: id.clone(),
        vendor: vendor.id.clone(),
        company: v.company.clone(),
        purpose: v.purpose.clone(),
        name_tag: v.name_tag.clone(),
        doors: v.doors.iter().map(DoorId::new).collect(),
        from,
        until,
        escorts: v.escorts.iter().map(PersonId::new).collect(),
        approved_by: actor.person.id.clone(),
        media_allowed: v.media_allowed.clone(),
    };
    let mut details = serde_json::to_value(&v).unwrap_or_default();
    details["visit"] = id.as_str().into();
    let seq = audited_admin(d, actor, "admin.visit.add", &v.vendor, "003 §13(4), 000 §7(2)", details).await?;
    d.stores.registry.add_visit(&visit, now).await?;
    d.reload_registry().await?;
    crate::central::registry_publish::queue(
        d,
        "visit.upsert",
        id.as_str(),
        "admin.visit.add",
        actor.id(),
        serde_json::to_value(&visit).unwrap_or_default(),
    )
    .await;
    Ok(serde_json::json!({"visit": id.as_str(), "audit_seq": seq}))
}
