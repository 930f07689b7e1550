//! Resolution: from the raw mirror to the resolved site, checking the meaning (references, levels, times,
//! ranges) and naming the file, line and field of each mistake.

use crate::calendar::OfficeHours;
use crate::ids::*;
use crate::lockout::LockoutPolicy;
use crate::regulation::{NOT_AN_AUTHORITY, Preset, Regulation};
use crate::roles::{Level, Role};
use crate::site::error::{Ctx, SiteError};
use crate::site::raw::{RawRegulation, RawSite};
use crate::site::resolved::*;
use chrono::{FixedOffset, NaiveDate, NaiveTime, Weekday};
use std::collections::BTreeSet;
use toml::Spanned;

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 || h < 0 || m < 0 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

fn parse_day(s: &str) -> Option<Weekday> {
    Some(match s {
        "mon" => Weekday::Mon,
        "tue" => Weekday::Tue,
        "wed" => Weekday::Wed,
        "thu" => Weekday::Thu,
        "fri" => Weekday::Fri,
        "sat" => Weekday::Sat,
        "sun" => Weekday::Sun,
        _ => return None,
    })
}

fn unique<'a>(cx: &Ctx, what: &str, ids: impl Iterator<Item = &'a Spanned<String>>) -> Result<(), SiteError> {
    let mut seen = BTreeSet::new();
    for id in ids {
        if id.get_ref().is_empty() {
            return Err(cx.err(id.span(), format!("{what}.id"), "must not be empty"));
        }
        if !seen.insert(id.get_ref().clone()) {
            return Err(cx.err(id.span(), format!("{what} \"{}\".id", id.get_ref()), "duplicate id"));
        }
    }
    Ok(())
}

fn known(
    cx: &Ctx,
    owner: &str,
    field: &str,
    r: &Spanned<String>,
    what: &str,
    set: &BTreeSet<String>,
) -> Result<(), SiteError> {
    if set.contains(r.get_ref()) {
        return Ok(());
    }
    let list: Vec<&str> = set.iter().map(String::as_str).collect();
    Err(cx.err(
        r.span(),
        format!("{owner}.{field}"),
        format!("unknown {what} \"{}\" (known: {})", r.get_ref(), list.join(", ")),
    ))
}

/// `[regulation]`: the preset's rules, then the site's overrides, each checked with its line.
fn resolve_regulation(cx: &Ctx, raw: &RawRegulation) -> Result<Regulation, SiteError> {
    let preset = match &raw.preset {
        None => Preset::Sendai,
        Some(p) => p.get_ref().parse::<Preset>().map_err(|_| {
            let known: Vec<&str> = Preset::ALL.iter().map(|p| p.as_str()).collect();
            cx.err(
                p.span(),
                "regulation.preset",
                format!("unknown preset {:?} (known: {})", p.get_ref(), known.join(", ")),
            )
        })?,
    };
    let mut reg = preset.regulation();
    let role = |v: &Spanned<String>, field: &str| -> Result<Role, SiteError> {
        let known = || Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ");
        let r = v.get_ref().parse::<Role>().map_err(|_| {
            cx.err(
                v.span(),
                format!("regulation.{field}"),
                format!("{:?} is not a role (known: {})", v.get_ref(), known()),
            )
        })?;
        if NOT_AN_AUTHORITY.contains(&r) {
            return Err(cx.err(
                v.span(),
                format!("regulation.{field}"),
                format!("{} ({}) cannot hold an administrative authority", r.as_str(), r.japanese()),
            ));
        }
        Ok(r)
    };
    let roles = |v: &Spanned<Vec<String>>, field: &str| -> Result<Vec<Role>, SiteError> {
        v.get_ref().iter().map(|s| role(&Spanned::new(v.span(), s.clone()), field)).collect()
    };
    for (slot, v, field) in [
        (&mut reg.level1_issuer, &raw.level1_issuer, "level1_issuer"),
        (&mut reg.level2_issuer, &raw.level2_issuer, "level2_issuer"),
        (&mut reg.level3_issuer, &raw.level3_issuer, "level3_issuer"),
        (&mut reg.operator_designator, &raw.operator_designator, "operator_designator"),
        (&mut reg.view_approver, &raw.view_approver, "view_approver"),
        (&mut reg.off_hours_approver, &raw.off_hours_approver, "off_hours_approver"),
        (&mut reg.media_custodian, &raw.media_custodian, "media_custodian"),
    ] {
        if let Some(v) = v {
            *slot = role(v, field)?;
        }
    }
    if let Some(v) = &raw.operator_requesters {
        reg.operator_requesters = roles(v, "operator_requesters")?;
    }
    if let Some(v) = &raw.record_readers {
        reg.record_readers = roles(v, "record_readers")?;
    }
    if let Some(v) = &raw.media_takeout_consent {
        let r = roles(v, "media_takeout_consent")?;
        if r.is_empty() {
            return Err(cx.err(
                v.span(),
                "regulation.media_takeout_consent",
                "name at least one role: a medium never leaves without someone's consent (003 §11(3))",
            ));
        }
        reg.media_takeout_consent = r;
    }
    if let Some(b) = raw.own_section_needs_approval {
        reg.own_section_needs_approval = b;
    }
    Ok(reg)
}

impl Site {
    pub(super) fn resolve(raw: RawSite, cx: &Ctx) -> Result<Site, SiteError> {
        let utc_offset = parse_offset(raw.site.utc_offset.get_ref()).ok_or_else(|| {
            cx.err(raw.site.utc_offset.span(), "site.utc_offset", "expected an offset like \"+09:00\"")
        })?;
        // A node of a multi-node site names the grants it issues with its id (`G-kita-shisho-0345`,
        // `crate::grant_id`), so the id must read the same in any case and split back from the number.
        if raw.central.is_some() && !crate::grant_id::valid_tag(raw.site.id.get_ref()) {
            return Err(cx.err(
                raw.site.id.span(),
                "site.id",
                "a node of a multi-node site ([central]) is named with 1–32 lowercase ASCII letters, digits and '-' \
                 (not at either end): its grants are numbered G-<site id>-0001",
            ));
        }

        let a = &raw.administration;
        let in_range = |v: &Spanned<u32>, field: &str, lo: u32, hi: u32| {
            if (lo..=hi).contains(v.get_ref()) {
                Ok(*v.get_ref())
            } else {
                Err(cx.err(v.span(), format!("administration.{field}"), format!("must be between {lo} and {hi}")))
            }
        };
        let administration = Administration {
            enrollment_samples: in_range(&a.enrollment_samples, "enrollment_samples", 1, 10)? as u8,
            enrollment_min_quality: in_range(&a.enrollment_min_quality, "enrollment_min_quality", 0, 100)? as u8,
            review_period_days: in_range(&a.review_period_days, "review_period_days", 1, 3650)?,
            view_approval_hours: in_range(&a.view_approval_hours, "view_approval_hours", 1, 720)?,
            notify_command: a.notify_command.get_ref().clone(),
            ledger_era: match a.ledger_dates.get_ref().as_str() {
                "iso" => false,
                "era" => true,
                other => {
                    return Err(cx.err(
                        a.ledger_dates.span(),
                        "administration.ledger_dates",
                        format!("{other:?}: say \"iso\" (2026-11-24) or \"era\" (令和8年11月24日)"),
                    ));
                }
            },
        };
        if a.notify_command.get_ref().first().is_some_and(|c| !c.starts_with('/')) {
            return Err(cx.err(
                a.notify_command.span(),
                "administration.notify_command",
                "the command must be an absolute path (it runs without a shell or PATH lookup)",
            ));
        }

        let regulation = resolve_regulation(cx, &raw.regulation)?;

        let oh = &raw.office_hours;
        let mut days = Vec::new();
        for d in oh.days.get_ref() {
            days.push(parse_day(d).ok_or_else(|| {
                cx.err(
                    oh.days.span(),
                    "office_hours.days",
                    format!("unknown day {d:?}; use mon, tue, wed, thu, fri, sat, sun"),
                )
            })?);
        }
        let time = |s: &Spanned<String>, f: &str| {
            NaiveTime::parse_from_str(s.get_ref(), "%H:%M").map_err(|_| {
                cx.err(s.span(), format!("office_hours.{f}"), format!("{:?} is not a time like \"08:30\"", s.get_ref()))
            })
        };
        let open = time(&oh.open, "open")?;
        let close = time(&oh.close, "close")?;
        if close <= open {
            return Err(cx.err(oh.close.span(), "office_hours.close", "closing time must be after opening time"));
        }
        let mut closures = Vec::new();
        for c in oh.closures.get_ref() {
            let md = c.split_once('-').and_then(|(m, d)| Some((m.parse::<u32>().ok()?, d.parse::<u32>().ok()?)));
            match md {
                Some((m, d)) if NaiveDate::from_ymd_opt(2024, m, d).is_some() => closures.push((m, d)),
                _ => {
                    return Err(cx.err(
                        oh.closures.span(),
                        "office_hours.closures",
                        format!("{c:?} is not a month-day like \"12-29\""),
                    ));
                }
            }
        }
        let mut extra_holidays = Vec::new();
        for h in oh.extra_holidays.get_ref() {
            extra_holidays.push(NaiveDate::parse_from_str(h, "%Y-%m-%d").map_err(|_| {
                cx.err(
                    oh.extra_holidays.span(),
                    "office_hours.extra_holidays",
                    format!("{h:?} is not a date like \"2026-08-14\""),
                )
            })?);
        }

        let t = &raw.timeouts;
        for (v, f) in [
            (&t.unlock_pulse_ms, "unlock_pulse_ms"),
            (&t.held_open_s, "held_open_s"),
            (&t.capture_timeout_s, "capture_timeout_s"),
        ] {
            if *v.get_ref() == 0 {
                return Err(cx.err(v.span(), format!("timeouts.{f}"), "must be greater than 0"));
            }
        }
        if *t.unlock_pulse_ms.get_ref() > 60_000 {
            return Err(cx.err(
                t.unlock_pulse_ms.span(),
                "timeouts.unlock_pulse_ms",
                "at most 60000 ms: a strike must not stay open for minutes",
            ));
        }
        let l = &raw.lockout;
        if !(1..=5).contains(l.max_failures.get_ref()) {
            return Err(cx.err(
                l.max_failures.span(),
                "lockout.max_failures",
                "must be 1 to 5 (DESIGN: at most 5 consecutive failures; NIST SP 800-63B)",
            ));
        }
        if *l.base_delay_s.get_ref() == 0 || l.max_delay_s.get_ref() < l.base_delay_s.get_ref() {
            return Err(cx.err(
                l.max_delay_s.span(),
                "lockout.max_delay_s",
                "base_delay_s must be > 0 and max_delay_s ≥ base_delay_s",
            ));
        }

        let fpir = &raw.identification.fpir;
        if !(fpir.get_ref().is_finite() && *fpir.get_ref() > 0.0 && *fpir.get_ref() <= 1e-3) {
            return Err(cx.err(
                fpir.span(),
                "identification.fpir",
                "must be a rate above 0 and at most 0.001 (THREATS: at most 1 in 10,000 by default)",
            ));
        }
        let th = &raw.reader_throttle;
        for (v, f) in [
            (&th.free_attempts, "free_attempts"),
            (&th.base_delay_s, "base_delay_s"),
            (&th.alarm_after, "alarm_after"),
            (&th.quiet_s, "quiet_s"),
        ] {
            if *v.get_ref() == 0 {
                return Err(cx.err(v.span(), format!("reader_throttle.{f}"), "must be greater than 0"));
            }
        }
        if !(th.base_delay_s.get_ref()..=&3600).contains(&th.max_delay_s.get_ref()) {
            return Err(cx.err(
                th.max_delay_s.span(),
                "reader_throttle.max_delay_s",
                "must be at least base_delay_s and at most 3600 (a throttle, not a door out of service)",
            ));
        }
        if *th.free_attempts.get_ref() > 10 || *th.alarm_after.get_ref() > 20 {
            return Err(cx.err(
                th.alarm_after.span(),
                "reader_throttle.alarm_after",
                "free_attempts at most 10 and alarm_after at most 20: a door reader is a public surface (issue 16)",
            ));
        }

        unique(cx, "zone", raw.zones.iter().map(|z| &z.id))?;
        unique(cx, "reader", raw.readers.iter().map(|z| &z.id))?;
        unique(cx, "controller", raw.controllers.iter().map(|z| &z.id))?;
        unique(cx, "door", raw.doors.iter().map(|z| &z.id))?;
        unique(cx, "terminal", raw.terminals.iter().map(|z| &z.id))?;
        let zone_ids: BTreeSet<String> = raw.zones.iter().map(|z| z.id.get_ref().clone()).collect();
        let reader_ids: BTreeSet<String> = raw.readers.iter().map(|z| z.id.get_ref().clone()).collect();
        let ctl_ids: BTreeSet<String> = raw.controllers.iter().map(|z| z.id.get_ref().clone()).collect();

        let mut zones = Vec::new();
        for z in &raw.zones {
            let owner = format!("zone \"{}\"", z.id.get_ref());
            let level = Level::from_number(*z.level.get_ref()).ok_or_else(|| {
                cx.err(
                    z.level.span(),
                    format!("{owner}.level"),
                    format!("{} is not a security level; 003 §13 defines 1, 2 and 3", z.level.get_ref()),
                )
            })?;
            if let Some(p) = &z.parent {
                known(cx, &owner, "parent", p, "zone", &zone_ids)?;
                if p.get_ref() == z.id.get_ref() {
                    return Err(cx.err(p.span(), format!("{owner}.parent"), "a zone cannot be its own parent"));
                }
            }
            zones.push(ZoneConfig {
                id: ZoneId::new(z.id.get_ref()),
                name: z.name.clone(),
                level,
                parent: z.parent.as_ref().map(|p| ZoneId::new(p.get_ref())),
            });
        }
        // Parent chains must end: a cycle would make "inside the parent" unanswerable.
        for z in &raw.zones {
            let mut cur = z.parent.as_ref().map(|p| p.get_ref().clone());
            let mut steps = 0;
            while let Some(c) = cur {
                steps += 1;
                if steps > zones.len() {
                    let span = z.parent.as_ref().map(|p| p.span()).unwrap_or(0..0);
                    return Err(cx.err(
                        span,
                        format!("zone \"{}\".parent", z.id.get_ref()),
                        "zone parents form a cycle",
                    ));
                }
                cur = zones.iter().find(|x| x.id.as_str() == c).and_then(|x| x.parent.as_ref().map(|p| p.to_string()));
            }
        }

        let mut readers = Vec::new();
        for r in &raw.readers {
            let owner = format!("reader \"{}\"", r.id.get_ref());
            if !READER_KINDS.contains(&r.kind.get_ref().as_str()) {
                return Err(cx.err(
                    r.kind.span(),
                    format!("{owner}.kind"),
                    format!("unknown reader kind \"{}\" (known: {})", r.kind.get_ref(), READER_KINDS.join(", ")),
                ));
            }
            let modality = match &r.modality {
                Some(m) if m.get_ref() == "finger" || m.get_ref() == "palm" => m.get_ref().clone(),
                Some(m) => {
                    return Err(cx.err(m.span(), format!("{owner}.modality"), "must be \"finger\" or \"palm\""));
                }
                None => {
                    if r.kind.get_ref().contains("palm") {
                        "palm".into()
                    } else {
                        "finger".into()
                    }
                }
            };
            if !r.kind.get_ref().starts_with("sim-") && r.port.is_none() {
                return Err(cx.err(
                    r.kind.span(),
                    format!("{owner}.port"),
                    format!("reader kind \"{}\" needs `port` (e.g. \"/dev/ttyUSB0\")", r.kind.get_ref()),
                ));
            }
            if let Some(b) = &r.baud {
                if !SERIAL_READER_KINDS.contains(&r.kind.get_ref().as_str()) {
                    return Err(cx.err(
                        b.span(),
                        format!("{owner}.baud"),
                        format!(
                            "a \"{}\" reader has no serial line; `baud` is for {}",
                            r.kind.get_ref(),
                            SERIAL_READER_KINDS.join(" and ")
                        ),
                    ));
                }
                if !LINE_RATES.contains(b.get_ref()) {
                    return Err(cx.err(
                        b.span(),
                        format!("{owner}.baud"),
                        format!(
                            "{} is not a line rate an R30x module and a serial port share; use one of 9600, 19200, 38400, 57600, 115200",
                            b.get_ref()
                        ),
                    ));
                }
            }
            readers.push(ReaderConfig {
                id: ReaderId::new(r.id.get_ref()),
                kind: r.kind.get_ref().clone(),
                port: r.port.clone(),
                modality,
                baud: r.baud.as_ref().map(|b| *b.get_ref()),
            });
        }
        let mut controllers = Vec::new();
        for c in &raw.controllers {
            if !CONTROLLER_KINDS.contains(&c.kind.get_ref().as_str()) {
                return Err(cx.err(
                    c.kind.span(),
                    format!("controller \"{}\".kind", c.id.get_ref()),
                    format!(
                        "unknown controller kind \"{}\" (known: {})",
                        c.kind.get_ref(),
                        CONTROLLER_KINDS.join(", ")
                    ),
                ));
            }
            if c.kind.get_ref() == "osdp" {
                let field = |f: &str| format!("controller \"{}\".{f}", c.id.get_ref());
                if c.port.is_none() {
                    return Err(cx.err(
                        c.kind.span(),
                        field("port"),
                        "an osdp controller needs `port` (e.g. \"/dev/ttyUSB0\")",
                    ));
                }
                if c.address.is_none_or(|a| a > 126) {
                    return Err(cx.err(c.kind.span(), field("address"), "an osdp controller needs `address` 0..=126"));
                }
                if c.key_file.is_none() && !c.install_mode {
                    return Err(cx.err(
                        c.kind.span(),
                        field("key_file"),
                        "an osdp controller needs `key_file` (its Secure Channel key); `install_mode = true` only to provision it",
                    ));
                }
                if c.baud.is_some_and(|b| !LINE_RATES.contains(&b)) {
                    return Err(cx.err(c.kind.span(), field("baud"), "one of 9600, 19200, 38400, 57600, 115200"));
                }
            }
            controllers.push(ControllerConfig {
                id: ControllerId::new(c.id.get_ref()),
                kind: c.kind.get_ref().clone(),
                port: c.port.clone(),
                address: c.address,
                key_file: c.key_file.clone(),
                install_mode: c.install_mode,
                baud: c.baud,
            });
        }
        let simulation = match &raw.simulation.line_rate {
            None => Simulation::default(),
            Some(v) => {
                match v.get_ref().as_str() {
                    "kept" => Simulation { keep_line_rate: true },
                    "instant" => Simulation { keep_line_rate: false },
                    other => {
                        return Err(cx.err(
                        v.span(),
                        "simulation.line_rate",
                        format!("{other:?}: say \"kept\" (real line rates) or \"instant\" (as fast as the pseudo-terminal)"),
                    ));
                    }
                }
            }
        };
        let mut used_readers: BTreeSet<String> = BTreeSet::new();
        let mut claim = |r: &Spanned<String>, owner: &str, field: &str| -> Result<(), SiteError> {
            known(cx, owner, field, r, "reader", &reader_ids)?;
            if !used_readers.insert(r.get_ref().clone()) {
                return Err(cx.err(
                    r.span(),
                    format!("{owner}.{field}"),
                    format!("reader \"{}\" is already used by another door or terminal", r.get_ref()),
                ));
            }
            Ok(())
        };
        let mut doors = Vec::new();
        for d in &raw.doors {
            let owner = format!("door \"{}\"", d.id.get_ref());
            known(cx, &owner, "zone", &d.zone, "zone", &zone_ids)?;
            known(cx, &owner, "controller", &d.controller, "controller", &ctl_ids)?;
            claim(&d.entry_reader, &owner, "entry_reader")?;
            if let Some(x) = &d.exit_reader {
                claim(x, &owner, "exit_reader")?;
            }
            let auth = match &d.auth {
                None => crate::authmode::AuthMode::Biometric,
                Some(a) => crate::authmode::AuthMode::parse(a.get_ref()).ok_or_else(|| {
                    cx.err(
                        a.span(),
                        format!("{owner}.auth"),
                        "must be \"biometric\", \"card+biometric\" or \"two-biometrics\"",
                    )
                })?,
            };
            doors.push(DoorConfig {
                id: DoorId::new(d.id.get_ref()),
                name: d.name.clone(),
                zone: ZoneId::new(d.zone.get_ref()),
                controller: ControllerId::new(d.controller.get_ref()),
                entry_reader: ReaderId::new(d.entry_reader.get_ref()),
                exit_reader: d.exit_reader.as_ref().map(|x| ReaderId::new(x.get_ref())),
                rex: d.rex,
                auth,
            });
        }
        let mut terminals = Vec::new();
        for t in &raw.terminals {
            let owner = format!("terminal \"{}\"", t.id.get_ref());
            known(cx, &owner, "zone", &t.zone, "zone", &zone_ids)?;
            claim(&t.reader, &owner, "reader")?;
            terminals.push(TerminalConfig {
                id: TerminalId::new(t.id.get_ref()),
                name: t.name.clone(),
                zone: ZoneId::new(t.zone.get_ref()),
                reader: ReaderId::new(t.reader.get_ref()),
            });
        }
        Ok(Site {
            id: SiteId::new(raw.site.id.get_ref()),
            name: raw.site.name,
            utc_offset,
            office_hours: OfficeHours { days, open, close, closures, extra_holidays },
            timeouts: Timeouts {
                unlock_pulse_ms: *t.unlock_pulse_ms.get_ref(),
                held_open_s: *t.held_open_s.get_ref(),
                escort_window_s: *t.escort_window_s.get_ref(),
                capture_timeout_s: *t.capture_timeout_s.get_ref(),
                rex_grace_s: *t.rex_grace_s.get_ref(),
            },
            lockout: LockoutPolicy {
                max_failures: *l.max_failures.get_ref(),
                base_delay_s: *l.base_delay_s.get_ref(),
                max_delay_s: *l.max_delay_s.get_ref(),
            },
            fpir: Fpir(*raw.identification.fpir.get_ref()),
            reader_throttle: crate::throttle::ThrottlePolicy {
                free_attempts: *th.free_attempts.get_ref(),
                base_delay_s: *th.base_delay_s.get_ref(),
                max_delay_s: *th.max_delay_s.get_ref(),
                alarm_after: *th.alarm_after.get_ref(),
                quiet_s: *th.quiet_s.get_ref(),
            },
            administration,
            regulation,
            central: raw.central.clone(),
            witness: raw.witness.clone(),
            simulation,
            zones,
            readers,
            controllers,
            doors,
            terminals,
        })
    }
}
