//! Resolution of `[regulation]`: the city's preset, then the site's overrides, each checked with its line.

use crate::regulation::{NOT_AN_AUTHORITY, Preset, Regulation};
use crate::roles::Role;
use crate::site::error::{Ctx, SiteError};
use crate::site::raw::RawRegulation;
use toml::Spanned;

/// `[regulation]`: the preset's rules, then the site's overrides, each checked with its line.
pub(super) fn resolve_regulation(cx: &Ctx, raw: &RawRegulation) -> Result<Regulation, SiteError> {
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
