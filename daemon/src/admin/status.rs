//! What the node reports about itself: `tobira status`, the devices of the console's live view (issue 18),
//! the shipping lag to the centre (issue 7), and `tobira check`'s warnings for an administrator.

use crate::node::daemon::Daemon;
use crate::refusal::Answer;
use chrono::{DateTime, Utc};
use tobira_core::ids::*;
use tobira_core::model::{Person, Role};

pub async fn status(d: &Daemon) -> Answer {
    let reg = d.registry();
    let (templates, pending) = {
        let m = d.matcher.matching.read().unwrap_or_else(|p| p.into_inner());
        (m.owners.len(), 0)
    };
    let pending = pending + d.stores.registry.requests(Some("pending")).await?.len();
    Ok(serde_json::json!({
        "site": reg.site.id.as_str(),
        "site_name": reg.site.name.as_str(),
        "now": d.now(),
        // The site's zone, so clients show times as the site reads them (issue 22 §3).
        "utc_offset": reg.site.utc_offset.to_string(),
        "people": reg.people.values().filter(|p| p.active).count(),
        "grants": reg.grants.len(),
        "templates": templates,
        "pending_requests": pending,
        "open_alarms": d.stores.registry.alarms(true).await?.len(),
        "bootstrap": d.bootstrap_open().await,
        "central": central_status(d).await,
        "readers": d.devices.readers.len(),
        "doors": d.devices.doors.len(),
        "simulation": d.opts.simulation,
        // What the CLI announces before an act that waits for a finger (issue 22 §4).
        "capture_timeout_s": reg.site.timeouts.capture_timeout_s,
        "enrollment_samples": reg.site.administration.enrollment_samples,
    }))
}

/// The site's zones, terminals, doors and readers as configured, with the drivers' view of their health (`null` where a driver cannot
/// tell), for the console's live view (issue 18). Nothing here reads a record.
pub fn devices(d: &Daemon) -> serde_json::Value {
    let doors: Vec<serde_json::Value> = d
        .site
        .doors
        .iter()
        .map(|c| {
            let healthy = d.devices.doors.get(&c.id).and_then(|r| r.controller.healthy());
            serde_json::json!({"id": c.id.as_str(), "name": c.name, "zone": c.zone.as_str(),
                "controller": c.controller.as_str(), "entry_reader": c.entry_reader.as_str(),
                "exit_reader": c.exit_reader.as_ref().map(|r| r.as_str()), "healthy": healthy,
                "state": d.devices.door_states.word(&c.id)})
        })
        .collect();
    let readers: Vec<serde_json::Value> = d
        .site
        .readers
        .iter()
        .map(|c| {
            let r = d.devices.readers.get(&c.id);
            serde_json::json!({"id": c.id.as_str(), "kind": c.kind, "modality": c.modality,
                "connected": r.is_some(), "healthy": r.and_then(|r| r.healthy()),
                "line_rate": r.and_then(|r| r.line_rate()),
                "terminal": d.site.terminals.iter().find(|t| t.reader == c.id).map(|t| t.id.as_str())})
        })
        .collect();
    let zones: Vec<serde_json::Value> = d
        .site
        .zones
        .iter()
        .map(|z| serde_json::json!({"id": z.id.as_str(), "name": z.name, "level": z.level}))
        .collect();
    let terminals: Vec<serde_json::Value> = d
        .site
        .terminals
        .iter()
        .map(|t| serde_json::json!({"id": t.id.as_str(), "name": t.name, "zone": t.zone.as_str(), "reader": t.reader.as_str()}))
        .collect();
    serde_json::json!({"site": d.site.id.as_str(), "name": d.site.name, "utc_offset": d.site.utc_offset.to_string(),
        "now": d.now(), "zones": zones, "terminals": terminals, "doors": doors, "readers": readers,
        // How long a reader waits for a finger: the console's prompt says how long is left (issue 22 §4).
        "capture_timeout_s": d.site.timeouts.capture_timeout_s})
}

/// Shipping lag to the central store (issue 7): what the centre acknowledged against the local head.
pub async fn central_status(d: &Daemon) -> serde_json::Value {
    let Some(st) = d.central.shipping.lock().ok().and_then(|s| s.clone()) else { return serde_json::Value::Null };
    let head = d.stores.audit.head_seq().await.unwrap_or(0);
    serde_json::json!({"local_head": head, "acknowledged": st.acknowledged, "lag_events": head - st.acknowledged,
        "last_ok": st.last_ok, "last_error": st.last_error, "stopped_by_fork": st.stopped_by_fork,
        "cosigned": st.cosigned, "clock_skew_s": st.clock_skew_s})
}

/// `tobira check`: what an administrator should look at. Warnings, not refusals.
pub async fn check(d: &Daemon) -> Answer {
    let reg = d.registry();
    let now = d.now();
    let mut warnings = Vec::new();
    let today = now.with_timezone(&d.site.utc_offset).date_naive();
    // 004 §7: someone whose appointment has ended counts for nothing, so the two site administrators of
    // 003 §5(4) are counted among those still in office.
    let site_admins = reg.people.values().filter(|p| p.in_office(today) && p.has_role(Role::SiteAdministrator)).count();
    if site_admins != 2 {
        warnings.push(format!(
            "the site has {site_admins} site administrator(s) (拠点管理者); 003 §5(4) asks for two: appoint with `tobira person add … --roles site-administrator`"
        ));
    }
    // Grants per holder, counted once: asking the registry per person walks every grant for each of them
    // (10,000 people × 10,000 grants made ホーム take over a second, issue 18).
    let mut grants_of: std::collections::HashMap<&PersonId, usize> = std::collections::HashMap::new();
    for g in &reg.grants {
        *grants_of.entry(&g.holder).or_default() += 1;
    }
    let grants_of = |id: &PersonId| grants_of.get(id).copied().unwrap_or(0);
    if d.bootstrap_open().await {
        warnings.push(
            "no system administrator has an enrolled finger yet (bootstrap): their acts are not biometrically proved — enroll them first".into(),
        );
    }
    {
        let m = d.matcher.matching.read().unwrap_or_else(|p| p.into_inner());
        let mut ended: Vec<&Person> =
            reg.people.values().filter(|p| p.active && !p.within_appointment(today)).collect();
        ended.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        for p in ended {
            let mut held = Vec::new();
            if !p.roles.is_empty() {
                held.push(format!(
                    "roles {}",
                    p.roles.iter().map(|r| format!("{} ({})", r.as_str(), r.japanese())).collect::<Vec<_>>().join(", ")
                ));
            }
            let grants = grants_of(&p.id);
            if grants > 0 {
                held.push(format!("{grants} grant(s)"));
            }
            if m.has_template(&p.id) {
                held.push("matching data (照合情報)".into());
            }
            if held.is_empty() {
                continue;
            }
            warnings.push(format!(
                "{}'s appointment ended on {} (任期満了, 004 §7) but they still hold {}: remove them with `tobira person \
                 delete {} --reason 任期満了` (000 §8(2))",
                p.id,
                p.appointment_end.map(|e| e.to_string()).unwrap_or_default(),
                held.join(", "),
                p.id
            ));
        }
    }
    // A grant counts only while its issuer holds the level's role (003 §13): one whose issuer has left or whose
    // appointment has ended must be issued again by someone in office.
    for g in reg.grants.iter().filter(|g| g.valid_until > now) {
        let issuer_in_office =
            reg.person(&g.issued_by).is_some_and(|p| p.in_office(today) && p.has_role(g.issuer_role));
        if !issuer_in_office {
            warnings.push(format!(
                "grant {} of {} was issued by {}, whose authority has ended (004 §7, 003 §13): issue it again \
                 (`tobira grant add {} …` by a {} in office) and revoke the old one",
                g.id,
                g.holder,
                g.issued_by,
                g.holder,
                g.issuer_role.as_str()
            ));
        }
    }
    let soon = now + chrono::Duration::days(30);
    for g in reg.grants.iter().filter(|g| g.valid_until > now && g.valid_until <= soon) {
        warnings.push(format!(
            "grant {} of {} ends {} (004 §7): renew it or let it lapse",
            g.id,
            g.holder,
            g.valid_until.with_timezone(&d.site.utc_offset).date_naive()
        ));
    }
    {
        let m = d.matcher.matching.read().unwrap_or_else(|p| p.into_inner());
        for p in reg.people.values().filter(|p| p.active && !p.has_role(Role::Vendor) && grants_of(&p.id) > 0) {
            if !m.has_template(&p.id) {
                warnings.push(format!(
                    "{} holds grants but has no approved template: enroll them (`tobira enroll {}`)",
                    p.id, p.id
                ));
            }
        }
    }
    let pending = d.stores.registry.requests(Some("pending")).await?;
    if !pending.is_empty() {
        warnings.push(format!(
            "{} request(s) await the system administrator's decision (003 §7): `tobira request list --status pending`",
            pending.len()
        ));
    }
    // 004 §5(10): periodic review.
    let period = chrono::Duration::days(i64::from(d.site.administration.review_period_days));
    let last = d.stores.registry.meta(crate::admin::review::META_LAST_REVIEW).await?;
    let last_t = last.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc));
    match last_t {
        Some(t) if now - t <= period => {}
        Some(t) => warnings.push(format!(
            "the periodic review is overdue (004 §5(10)): last completed {}, period {} days — run `tobira review`",
            t.with_timezone(&d.site.utc_offset).date_naive(),
            period.num_days()
        )),
        None => warnings.push("no periodic review has been completed yet (004 §5(10)): run `tobira review`".into()),
    }
    // 003 §13(4), 002 §5-4: a vendor inside with none of their escorts — an escort left first, and nobody
    // has gone back in or seen the vendor out yet.
    let unescorted = {
        let vendors: Vec<PersonId> =
            reg.people.values().filter(|p| p.has_role(Role::Vendor)).map(|p| p.id.clone()).collect();
        let sh = d.shared();
        tobira_core::escort::unescorted(&sh.occupancy, &vendors, &reg.visits, now)
    };
    for u in unescorted {
        let name = reg.person(&u.vendor).map(|p| p.name.clone()).unwrap_or_default();
        let zone = d.site.zone(&u.zone).map(|z| z.name.clone()).unwrap_or_else(|| u.zone.to_string());
        let escorts: Vec<&str> = u.escorts.iter().map(|e| e.as_str()).collect();
        warnings.push(format!(
            "vendor {} ({name}) is inside {zone} ({}) without an escort (付添者不在, 003 §13(4)): their escorts {} \
             must go back in, or see the vendor out through the exit reader",
            u.vendor,
            u.zone,
            if escorts.is_empty() { "(none on a visit in effect)".to_string() } else { escorts.join(", ") }
        ));
    }
    // 003 §11(3): media awaiting a consent, or out past their return date.
    warnings.extend(crate::admin::media::check_warnings(d).await?);
    let open = d.stores.registry.alarms(true).await?;
    if !open.is_empty() {
        warnings.push(format!(
            "{} open alarm(s) for the security manager (003 §20): `tobira alarms`, then `tobira alarms ack ID --note …`",
            open.len()
        ));
    }
    Ok(serde_json::json!({"ok": warnings.is_empty(), "warnings": warnings}))
}
