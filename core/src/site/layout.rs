//! Resolution of the site's places and devices: zones, readers, controllers, doors, terminals and
//! `[simulation]` — every id unique, every reference known, every reader used by one door or terminal.

use crate::ids::*;
use crate::roles::Level;
use crate::site::error::{Ctx, SiteError};
use crate::site::raw::RawSite;
use crate::site::resolved::*;
use std::collections::BTreeSet;
use toml::Spanned;

/// The checked places and devices of a site, as [`Site`] holds them.
pub(super) struct Layout {
    pub(super) zones: Vec<ZoneConfig>,
    pub(super) readers: Vec<ReaderConfig>,
    pub(super) controllers: Vec<ControllerConfig>,
    pub(super) simulation: Simulation,
    pub(super) doors: Vec<DoorConfig>,
    pub(super) terminals: Vec<TerminalConfig>,
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

/// Zones, readers, controllers, `[simulation]`, doors and terminals, checked in that order.
pub(super) fn resolve_layout(raw: &RawSite, cx: &Ctx) -> Result<Layout, SiteError> {
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
                return Err(cx.err(span, format!("zone \"{}\".parent", z.id.get_ref()), "zone parents form a cycle"));
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
                format!("unknown controller kind \"{}\" (known: {})", c.kind.get_ref(), CONTROLLER_KINDS.join(", ")),
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
        Some(v) => match v.get_ref().as_str() {
            "kept" => Simulation { keep_line_rate: true },
            "instant" => Simulation { keep_line_rate: false },
            other => {
                return Err(cx.err(
                    v.span(),
                    "simulation.line_rate",
                    format!(
                        "{other:?}: say \"kept\" (real line rates) or \"instant\" (as fast as the pseudo-terminal)"
                    ),
                ));
            }
        },
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
    Ok(Layout { zones, readers, controllers, simulation, doors, terminals })
}
