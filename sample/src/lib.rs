//! What the device drivers and the biometric pipelines share: the [`Sample`] a reader delivers, the
//! fingerprint template types, greyscale images, the side of a palm region, and the synthetic print and palm
//! generators the simulated readers present. A crate of its own so that the drivers never link the matcher
//! (DESIGN.md "Layout": `sample/`). Plain data and deterministic generators: no I/O.

pub mod gray;
pub mod synthetic;
pub mod synthetic_palm;
pub mod template;

pub use gray::{GrayImage, ImageError, TARGET_DPI};
pub use template::{Minutia, MinutiaKind, MinutiaeTemplate};

use std::fmt;

/// Side of the palm region every path delivers to feature extraction (the PolyU crops' size).
pub const ROI_SIDE: usize = 128;

/// What a reader delivers: minutiae, a fingerprint image, or a near-infrared palm image.
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
