//! The site layout: zones, doors, terminals, readers, controllers, office hours, timeouts (a TOML file).
//!
//! Loading is two steps (STYLE §11): [`RawSite`] mirrors the file and only checks its shape; `Site::resolve`
//! checks the meaning (references, levels, times). Every error names the file, line, column and field, so an
//! administrator can fix the file without reading code.
//!
//! - `raw`: the file's raw mirror (`RawSite` and its tables);
//! - `resolve`: resolution and validation, raw to resolved: the site's settings here, `[regulation]` in
//!   `regulation`, the places and devices in `layout`;
//! - `resolved`: the resolved types ([`Site`], its zones, readers, controllers, doors, terminals);
//! - `error`: [`SiteError`] and where in the file it points.
//!
//! The submodules are private; everything public is re-exported here, so callers name `crate::site::Site`.

mod error;
mod layout;
mod raw;
mod regulation;
mod resolve;
mod resolved;

pub use error::SiteError;
use error::{Ctx, key_at, line_col};
pub use raw::*;
pub use resolved::*;

/// Parses and checks a site file. `file` is used only in error messages.
pub fn parse_site(file: &str, text: &str) -> Result<Site, SiteError> {
    let raw: RawSite = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let (line, column) = line_col(text, span.start);
        SiteError {
            file: file.into(),
            line,
            column,
            field: key_at(text, span.start),
            message: e.message().trim().to_string(),
        }
    })?;
    Site::resolve(raw, &Ctx { file, text })
}

#[cfg(test)]
mod tests;
