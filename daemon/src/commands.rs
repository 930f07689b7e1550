//! Control requests → daemon actions. Every change to the registry is validated first, audited (durably),
//! then applied; a refusal changes nothing and says what is wrong.

use crate::daemon::Daemon;
use crate::store::StoreError;
use chrono::{DateTime, NaiveDate, Utc};
use tobira_audit::{NewEvent, Outcome};
use tobira_core::ids::*;
use tobira_core::model::{Grant, OffHoursApproval, Person, Place, Role, Schedule, VendorVisit};
use tobira_proto::{ErrorCode, Request, Response};

/// A refusal with the code the CLI maps to its exit status.
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn bad(msg: impl Into<String>) -> Self {
        Self { code: ErrorCode::BadRequest, message: msg.into() }
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self { code: ErrorCode::NotFound, message: msg.into() }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        let code = match e {
            StoreError::Conflict { .. } => ErrorCode::Conflict,
            StoreError::NotFound { .. } => ErrorCode::NotFound,
            _ => ErrorCode::Internal,
        };
        Self { code, message: e.to_string() }
    }
}

type Answer = Result<serde_json::Value, Refusal>;

pub async fn dispatch(d: &Daemon, req: Request) -> Response {
    let r = match req {
        Request::Status => status(d).await,
        Request::Check => check(d),
        Request::PersonAdd(p) => person_add(d, p).await,
        Request::PersonList => person_list(d),
        Request::PersonShow { id } => person_show(d, &id),
        Request::Enroll { person, reader, finger, samples } => d
            .enroll(&person, &reader, finger, samples)
            .await
            .map_err(|e| Refusal { code: ErrorCode::Denied, message: e.to_string() }),
        Request::GrantAdd(g) => grant_add(d, g).await,
        Request::GrantList { holder } => grant_list(d, holder.as_deref()),
        Request::GrantRevoke { id, actor } => grant_revoke(d, &id, &actor).await,
        Request::OffHoursAdd(a) => off_hours_add(d, a).await,
        Request::Unlock { person, reader, actor } => unlock(d, &person, &reader, &actor).await,
        Request::VisitAdd(v) => visit_add(d, v).await,
        Request::Login { terminal, user, remote } => {
            Ok(serde_json::to_value(d.login(&terminal, &user, remote).await).unwrap_or_default())
        }
        Request::AuditShow(f) => crate::audit_cmd::show(d, f).await,
        Request::AuditVerify => crate::audit_cmd::verify(d).await,
        Request::Ledger { kind, from, until } => {
            crate::ledger::ledger(d, kind.as_deref().unwrap_or("entry-exit"), from.as_deref(), until.as_deref()).await
        }
        Request::Sim(cmd) => crate::sim::command(d, cmd).await,
        _ => Err(Refusal::bad("this request is not supported by this daemon version")),
    };
    match r {
        Ok(data) => Response::Ok { data },
        Err(Refusal { code, message }) => Response::Error { code, message },
    }
}

/// Parses a time given on the command line: RFC 3339, or a date (the start of that day in the site's zone).
pub fn parse_time(d: &Daemon, field: &str, s: &str) -> Result<DateTime<Utc>, Refusal> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return date
            .and_hms_opt(0, 0, 0)
            .and_then(|n| n.and_local_timezone(d.site.utc_offset).single())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| Refusal::bad(format!("{field}: {s} is not a valid date")));
    }
    Err(Refusal::bad(format!("{field}: {s:?} is neither RFC 3339 (2026-11-24T09:00:00+09:00) nor a date (2026-11-24)")))
}

fn parse_role(field: &str, s: &str) -> Result<Role, Refusal> {
    s.parse::<Role>().map_err(|_| {
        Refusal::bad(format!(
            "{field}: unknown role {s:?}; one of security-director, data-manager, system-administrator, security-manager, site-administrator, operator, vendor, viewer"
        ))
    })
}

fn need_person(d: &Daemon, field: &str, id: &str) -> Result<Person, Refusal> {
    d.registry()
        .person(&PersonId::new(id))
        .cloned()
        .ok_or_else(|| Refusal::not_found(format!("{field}: no person {id:?}; see `tobira person list`")))
}

async fn audited_admin(
    d: &Daemon,
    kind: &str,
    actor: &str,
    subject: &str,
    article: &str,
    details: serde_json::Value,
) -> Result<i64, Refusal> {
    d.record(NewEvent {
        time: d.now(),
        kind: kind.into(),
        actor: Some(actor.into()),
        subject: Some(subject.into()),
        place: None,
        outcome: Outcome::Info,
        reason: "ADMIN_ACT".into(),
        article: Some(article.into()),
        score: None,
        details,
    })
    .await
    .map(|r| r.seq)
    .map_err(|e| Refusal {
        code: ErrorCode::Unavailable,
        message: format!("the audit store cannot take the event ({e}); nothing was changed"),
    })
}

async fn status(d: &Daemon) -> Answer {
    let reg = d.registry();
    let m = d.matching.read().unwrap_or_else(|p| p.into_inner());
    Ok(serde_json::json!({
        "site": reg.site.id.as_str(),
        "now": d.now(),
        "people": reg.people.len(),
        "grants": reg.grants.len(),
        "templates": m.owners.len(),
        "readers": d.readers.len(),
        "doors": d.doors.len(),
        "simulation": d.opts.simulation,
    }))
}

async fn person_add(d: &Daemon, p: tobira_proto::PersonAdd) -> Answer {
    if p.id.is_empty() || p.id.len() > 64 || !p.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
        return Err(Refusal::bad(format!("id: {:?} must be 1–64 ASCII letters, digits, '-', '_' or '.'", p.id)));
    }
    let roles = p.roles.iter().map(|r| parse_role("roles", r)).collect::<Result<Vec<_>, _>>()?;
    let appointment_end = match &p.appointment_end {
        Some(s) => Some(
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| Refusal::bad(format!("appointment_end: {s:?} is not YYYY-MM-DD")))?,
        ),
        None => None,
    };
    // 003 §5(4): the system administrator appoints two site administrators (拠点管理者) per site, not more.
    if roles.contains(&Role::SiteAdministrator) {
        let reg = d.registry();
        let current: Vec<&str> = reg
            .people
            .values()
            .filter(|x| x.active && x.has_role(Role::SiteAdministrator))
            .map(|x| x.id.as_str())
            .collect();
        if current.len() >= 2 {
            return Err(Refusal {
                code: ErrorCode::Conflict,
                message: format!(
                    "this site already has two site administrators (拠点管理者: {}); 003 §5(4) allows two — remove one first",
                    current.join(", ")
                ),
            });
        }
    }
    if d.registry().person(&PersonId::new(&p.id)).is_some() {
        return Err(Refusal { code: ErrorCode::Conflict, message: format!("person {} already exists", p.id) });
    }
    // The matching identity is random, not derived from the user ID, so authority and biometrics stay apart.
    let mut rnd = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut rnd)
        .map_err(|_| Refusal::bad("random generator failed"))?;
    let person = Person {
        id: PersonId::new(&p.id),
        match_id: MatchId::new(format!("m-{}", hex::encode(rnd))),
        name: p.name.clone(),
        affiliation: p.affiliation.clone(),
        roles: roles.clone(),
        appointment_end,
        active: true,
    };
    let roles_s: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    let seq = audited_admin(d, "admin.person.add", &p.actor, &p.id, "000 §8, 003 §14", serde_json::json!({"name": p.name, "affiliation": p.affiliation, "roles": roles_s, "appointment_end": p.appointment_end})).await?;
    d.store.add_person(&person, d.now()).await?;
    d.reload_registry().await?;
    Ok(serde_json::json!({"person": p.id, "audit_seq": seq}))
}

fn person_json(p: &Person) -> serde_json::Value {
    serde_json::json!({
        "id": p.id.as_str(), "name": p.name, "affiliation": p.affiliation,
        "roles": p.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "appointment_end": p.appointment_end, "active": p.active,
    })
}

fn person_list(d: &Daemon) -> Answer {
    let reg = d.registry();
    Ok(serde_json::Value::Array(reg.people.values().map(person_json).collect()))
}

fn person_show(d: &Daemon, id: &str) -> Answer {
    let p = need_person(d, "id", id)?;
    let m = d.matching.read().unwrap_or_else(|p| p.into_inner());
    let templates = m.by_person.get(&p.id).map(|v| v.len()).unwrap_or(0);
    let mut j = person_json(&p);
    j["templates"] = templates.into();
    Ok(j)
}

fn parse_place(d: &Daemon, s: &str) -> Result<Place, Refusal> {
    let (kind, id) =
        s.split_once(':').ok_or_else(|| Refusal::bad(format!("place: {s:?} must be zone:ID or terminal:ID")))?;
    match kind {
        "zone" if d.site.zone(&ZoneId::new(id)).is_some() => Ok(Place::Zone(ZoneId::new(id))),
        "terminal" if d.site.terminal(&TerminalId::new(id)).is_some() => Ok(Place::Terminal(TerminalId::new(id))),
        "zone" | "terminal" => Err(Refusal::not_found(format!("place: no {kind} {id:?} in the site configuration"))),
        _ => Err(Refusal::bad(format!("place: {s:?} must be zone:ID or terminal:ID"))),
    }
}

async fn grant_add(d: &Daemon, g: tobira_proto::GrantAdd) -> Answer {
    let holder = need_person(d, "holder", &g.holder)?;
    need_person(d, "issued_by", &g.issued_by)?;
    let place = parse_place(d, &g.place)?;
    let issuer_role = parse_role("issuer_role", &g.issuer_role)?;
    let now = d.now();
    let from = match &g.from {
        Some(s) => parse_time(d, "from", s)?,
        None => now,
    };
    // 004 §7: a grant ends with the holder's appointment unless an earlier end is given.
    let until = match (&g.until, holder.appointment_end) {
        (Some(s), _) => parse_time(d, "until", s)?,
        (None, Some(end)) => parse_time(d, "until", &(end + chrono::Days::new(1)).to_string())?,
        (None, None) => {
            return Err(Refusal::bad(
                "until: the holder has no appointment end on record; give --until (004 §7: every grant has an end date)",
            ));
        }
    };
    if until <= from {
        return Err(Refusal::bad("until: must be after from"));
    }
    let schedule = match g.schedule.as_deref() {
        None | Some("always") => Schedule::Always,
        Some("office-hours") => Schedule::OfficeHours,
        Some(s) => {
            return Err(Refusal::bad(format!("schedule: {s:?} must be always or office-hours")));
        }
    };
    let reg = d.registry();
    if reg.grants.iter().any(|x| x.holder == holder.id && x.place == place) {
        return Err(Refusal {
            code: ErrorCode::Conflict,
            message: format!("{} already holds a live grant for {}; revoke it first", g.holder, g.place),
        });
    }
    let id = GrantId::new(format!("g-{}", now.timestamp_micros()));
    let grant = Grant {
        id: id.clone(),
        holder: holder.id.clone(),
        place,
        issued_by: PersonId::new(&g.issued_by),
        issuer_role,
        valid_from: from,
        valid_until: until,
        schedule,
    };
    let seq = audited_admin(
        d,
        "admin.grant.add",
        &g.issued_by,
        &g.holder,
        "003 §13, 004 §7",
        serde_json::json!({"grant": id.as_str(), "place": g.place, "issuer_role": issuer_role.as_str(), "from": from, "until": until}),
    )
    .await?;
    d.store.add_grant(&grant, now).await?;
    d.reload_registry().await?;
    Ok(serde_json::json!({"grant": id.as_str(), "until": until, "audit_seq": seq}))
}

fn grant_list(d: &Daemon, holder: Option<&str>) -> Answer {
    let reg = d.registry();
    let list: Vec<_> = reg
        .grants
        .iter()
        .filter(|g| holder.is_none_or(|h| g.holder.as_str() == h))
        .map(|g| {
            let place = match &g.place {
                Place::Zone(z) => format!("zone:{z}"),
                Place::Terminal(t) => format!("terminal:{t}"),
            };
            serde_json::json!({"id": g.id.as_str(), "holder": g.holder.as_str(), "place": place, "issued_by": g.issued_by.as_str(),
                "issuer_role": g.issuer_role.as_str(), "from": g.valid_from, "until": g.valid_until})
        })
        .collect();
    Ok(serde_json::Value::Array(list))
}

async fn grant_revoke(d: &Daemon, id: &str, actor: &str) -> Answer {
    let reg = d.registry();
    let Some(g) = reg.grants.iter().find(|g| g.id.as_str() == id) else {
        return Err(Refusal::not_found(format!("no live grant {id:?}; see `tobira grant list`")));
    };
    let seq = audited_admin(
        d,
        "admin.grant.revoke",
        actor,
        g.holder.as_str(),
        "004 §6, 000 §8(2)",
        serde_json::json!({"grant": id}),
    )
    .await?;
    d.store.revoke_grant(id, actor, d.now()).await?;
    d.reload_registry().await?;
    Ok(serde_json::json!({"revoked": id, "audit_seq": seq}))
}

async fn off_hours_add(d: &Daemon, a: tobira_proto::OffHoursAdd) -> Answer {
    need_person(d, "person", &a.person)?;
    let approver = need_person(d, "approved_by", &a.approved_by)?;
    if !approver.has_role(Role::SystemAdministrator) {
        return Err(Refusal {
            code: ErrorCode::Denied,
            message: format!(
                "approved_by: {} is not a system administrator (電算管理者); 002 §5-2 needs their prior agreement",
                a.approved_by
            ),
        });
    }
    if d.site.terminal(&TerminalId::new(&a.terminal)).is_none() {
        return Err(Refusal::not_found(format!("terminal: no terminal {:?}", a.terminal)));
    }
    let from = parse_time(d, "from", &a.from)?;
    let until = parse_time(d, "until", &a.until)?;
    if until <= from {
        return Err(Refusal::bad("until: must be after from"));
    }
    let now = d.now();
    let id = ApprovalId::new(format!("oh-{}", now.timestamp_micros()));
    let appr = OffHoursApproval {
        id: id.clone(),
        person: PersonId::new(&a.person),
        terminal: TerminalId::new(&a.terminal),
        from,
        until,
        reason: a.reason.clone(),
        approved_by: approver.id.clone(),
    };
    let seq = audited_admin(d, "admin.offhours.add", &a.approved_by, &a.person, "002 §5-2", serde_json::json!({"approval": id.as_str(), "terminal": a.terminal, "from": from, "until": until, "reason": a.reason})).await?;
    d.store.add_off_hours(&appr, now).await?;
    d.reload_registry().await?;
    Ok(serde_json::json!({"approval": id.as_str(), "audit_seq": seq}))
}

async fn visit_add(d: &Daemon, v: tobira_proto::VisitAdd) -> Answer {
    let vendor = need_person(d, "vendor", &v.vendor)?;
    if !vendor.has_role(Role::Vendor) {
        return Err(Refusal::bad(format!("vendor: {} is not registered as a vendor (保守業者)", v.vendor)));
    }
    let approver = need_person(d, "approved_by", &v.approved_by)?;
    if !approver.has_role(Role::SystemAdministrator) {
        return Err(Refusal {
            code: ErrorCode::Denied,
            message: format!("approved_by: {} is not the system administrator (003 §13(4))", v.approved_by),
        });
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
    let until = parse_time(d, "until", &v.until)?;
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
        approved_by: approver.id.clone(),
        media_allowed: v.media_allowed.clone(),
    };
    let seq = audited_admin(
        d,
        "admin.visit.add",
        &v.approved_by,
        &v.vendor,
        "003 §13(4), 000 §7(2)",
        serde_json::to_value(&v).unwrap_or_default(),
    )
    .await?;
    d.store.add_visit(&visit, now).await?;
    d.reload_registry().await?;
    Ok(serde_json::json!({"visit": id.as_str(), "audit_seq": seq}))
}

/// Lifts a lockout (NIST SP 800-63B throttling) after the administrator has checked who it was; the unlock
/// is part of the operation history.
async fn unlock(d: &Daemon, person: &str, reader: &str, actor: &str) -> Answer {
    need_person(d, "person", person)?;
    need_person(d, "actor", actor)?;
    if d.site.reader(&ReaderId::new(reader)).is_none() {
        return Err(Refusal::not_found(format!("reader: no reader {reader:?} in the site configuration")));
    }
    let key = (PersonId::new(person), ReaderId::new(reader));
    let was = d.shared().lockout.entry(&key);
    if was.failures == 0 && was.locked_until.is_none() {
        return Err(Refusal::not_found(format!("{person} has no failures recorded at {reader}")));
    }
    let seq = audited_admin(
        d,
        "login.unlock",
        actor,
        person,
        "NIST SP 800-63B §5.2.2",
        serde_json::json!({"reader": reader, "failures": was.failures, "locked_until": was.locked_until}),
    )
    .await?;
    d.shared().lockout.unlock(&key);
    d.persist_lockout(&key).await;
    Ok(serde_json::json!({"unlocked": person, "reader": reader, "audit_seq": seq}))
}

/// `tobira check`: what an administrator should look at. Warnings, not refusals.
fn check(d: &Daemon) -> Answer {
    let reg = d.registry();
    let now = d.now();
    let mut warnings = Vec::new();
    let site_admins = reg.people.values().filter(|p| p.active && p.has_role(Role::SiteAdministrator)).count();
    if site_admins != 2 {
        warnings.push(format!(
            "the site has {site_admins} site administrator(s) (拠点管理者); 003 §5(4) asks for two: appoint with `tobira person add … --roles site-administrator`"
        ));
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
    let m = d.matching.read().unwrap_or_else(|p| p.into_inner());
    for p in
        reg.people.values().filter(|p| p.active && !p.has_role(Role::Vendor) && reg.grants_for(&p.id).next().is_some())
    {
        if !m.by_person.contains_key(&p.id) {
            warnings.push(format!(
                "{} holds grants but has no enrolled template: enroll them (`tobira enroll {}`)",
                p.id, p.id
            ));
        }
    }
    Ok(serde_json::json!({"ok": warnings.is_empty(), "warnings": warnings}))
}
