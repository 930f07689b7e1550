//! What a reader delivers, and extraction of a template from it.

use crate::fingerprint::template::MinutiaeTemplate;
use std::fmt;

/// Fewer minutiae than this cannot support a decision at FMR 1/10,000: ask for another capture.
pub const MIN_MINUTIAE: usize = 12;

pub enum Sample {
    /// A reader or simulator that delivers minutiae.
    Minutiae(MinutiaeTemplate),
    /// An 8-bit greyscale fingerprint image (R30x upload, U.are.U).
    Gray8 { width: u32, height: u32, dpi: u16, pixels: Vec<u8> },
    /// An 8-bit near-infrared palm image (a palm-reader bridge). Kept apart from fingerprint images so a palm
    /// can never reach the fingerprint pipeline by accident.
    PalmNir { width: u32, height: u32, dpi: u16, wavelength_nm: u16, pixels: Vec<u8> },
}

/// Never prints biometric content.
impl fmt::Debug for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sample::Minutiae(t) => write!(f, "Sample::Minutiae({t:?})"),
            Sample::Gray8 { width, height, dpi, .. } => write!(f, "Sample::Gray8({width}x{height} @{dpi} dpi)"),
            Sample::PalmNir { width, height, dpi, wavelength_nm, .. } => {
                write!(f, "Sample::PalmNir({width}x{height} @{dpi} dpi, {wavelength_nm} nm)")
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    #[error("sample quality too low: {minutiae} minutiae found, at least {MIN_MINUTIAE} needed")]
    LowQuality { minutiae: usize },
    #[error("this kind of sample cannot be turned into a template")]
    Unsupported,
    #[error("sample geometry is invalid: {0}")]
    Invalid(String),
}

/// Turns a sample into a template, refusing samples too poor to decide on.
pub fn extract(sample: &Sample) -> Result<MinutiaeTemplate, ExtractError> {
    match sample {
        Sample::Minutiae(t) => {
            if t.width == 0 || t.height == 0 {
                return Err(ExtractError::Invalid(format!("{}x{} image", t.width, t.height)));
            }
            if let Some(m) = t.minutiae.iter().find(|m| m.x >= t.width || m.y >= t.height) {
                return Err(ExtractError::Invalid(format!(
                    "minutia at ({},{}) outside {}x{}",
                    m.x, m.y, t.width, t.height
                )));
            }
            if t.minutiae.len() < MIN_MINUTIAE {
                return Err(ExtractError::LowQuality { minutiae: t.minutiae.len() });
            }
            Ok(t.clone())
        }
        Sample::Gray8 { width, height, dpi, pixels } => {
            let img = crate::image::GrayImage::from_raw(*width, *height, *dpi, pixels.clone())
                .map_err(|e| ExtractError::Invalid(e.to_string()))?;
            let (t, _quality) = crate::image::extract_minutiae(&img);
            if t.minutiae.len() < MIN_MINUTIAE {
                return Err(ExtractError::LowQuality { minutiae: t.minutiae.len() });
            }
            Ok(t)
        }
        // Palms have their own pipeline and template type (issue 4): `palm::extract_palm`. This fingerprint
        // entry point refuses them, so a palm can never become a minutiae template.
        Sample::PalmNir { .. } => Err(ExtractError::Unsupported),
    }
}
