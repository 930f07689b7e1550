//! Palm-vein recognition (issue 4): whole-hand near-infrared image → palm region → orientation code → score.
//!
//! Palm vein is the modality `000 §8–§9` (Kitaibaraki) registers for every operator, so it is a first-class
//! pipeline beside fingerprints, never routed through them: a [`crate::Sample::PalmNir`] reaches only
//! [`extract_palm`].
//!
//! - [`roi`]: hand segmentation, the valleys between the fingers as key points, a rotation- and
//!   scale-normalised square palm region.
//! - [`quality`]: the capture quality gate — line contrast, JPEG blockiness, clarity — before any code.
//! - [`features`]: illumination normalisation, the oriented Gabor bank, the orientation code.
//! - [`template`]: the versioned template and its byte format.
//! - [`matcher`]: 1:1 comparison with a shift search, normalised against the pair's own wrong alignments;
//!   [`PalmGallery`] for 1:N.
//! - [`cohort`]: the match measured against the probe's similarity to other people enrolled on the same
//!   readers, so the false-match rate holds on a sensor the score table was not calibrated on.
//! - [`iso19794_9`]: the ISO/IEC 19794-9:2007 vascular image record, for images that must travel.
//! - [`synthetic`]: synthetic palms for the simulator, the demo and scale tests.
//! - [`baseline`]: the competitive code (CompCode), the published baseline the benchmark compares against.
//! - [`degrade`]: poor captures made from good ones (blur, flat contrast, JPEG, a fingertip cut off), for the
//!   tests and the benchmark.

pub mod baseline;
pub mod cohort;
pub mod degrade;
pub mod eval;
pub mod features;
pub mod iso19794_9;
pub mod matcher;
pub mod quality;
pub mod roi;
pub use tobira_sample::synthetic_palm as synthetic;
pub mod template;
pub mod texture;

pub mod gallery;

pub use gallery::PalmGallery;
pub use matcher::{Comparison, PalmThreshold, compare, compare_detail};
pub use quality::QualityReport;
pub use roi::Roi;
pub use template::{PalmTemplate, TemplateError};

use features::{Bank, CodeSpec};
use std::sync::OnceLock;

pub use tobira_sample::ROI_SIDE;

/// Why a palm image gives no template. A rejection is always an error, never a weak template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PalmError {
    #[error("palm image geometry is invalid: {0}")]
    Invalid(String),
    #[error("the frame is empty or saturated (grey-level spread {spread})")]
    Blank { spread: u8 },
    #[error("palm quality too low: {quality} (at least {min} needed; hold the palm flat and still over the reader)")]
    LowQuality { quality: u8, min: u8 },
    /// Veins and lines barely above the grey (issue 17 §3): such codes agree with strangers' too often.
    #[error(
        "the palm image has too little contrast: its lines and veins vary by {:.2} grey levels (at least {:.2} \
         needed; check the reader's illumination, hold the palm still at the right distance)",
        f32::from(*hundredths) / 100.0, quality::MIN_CONTRAST
    )]
    LowContrast { hundredths: u16 },
    /// JPEG block marks dominate the region (issue 17 §3): two such captures agree on their block grid.
    #[error(
        "the palm image is too compressed: JPEG block marks are {:.1}× the texture between them (at most \
         {:.1}; set the reader or its bridge to a higher JPEG quality or a lossless format)",
        f32::from(*tenths) / 10.0, quality::MAX_BLOCKINESS
    )]
    Blocky { tenths: u16 },
    #[error("no hand found in the image: {0}")]
    NoHand(&'static str),
    #[error("the hand's key points were not found: {0}")]
    KeyPoints(&'static str),
    /// A valley between the fingers lies on the frame's edge (a fingertip touching it is fine).
    #[error(
        "the hand is cut off at the image edge: a valley between the fingers is not in the frame (move the hand \
         to the middle of the reader)"
    )]
    CutOff,
    #[error("the palm region falls outside the image")]
    RegionOutside,
    #[error("cannot decode the palm image: {0}")]
    Decode(String),
    /// Friction ridges, not veins: a fingerprint image offered as a palm (issue 4's bad input).
    #[error(
        "this is a fingerprint, not a palm: {percent} % of the image repeats like friction ridges (hold the palm, \
         not a finger, over the reader)"
    )]
    Fingerprint { percent: u8 },
}

/// Below this quality a template cannot support a decision: ask for another capture. Every measure of the
/// quality gate ([`quality`]) refuses at this grade.
pub const MIN_QUALITY: u8 = 30;

fn bank() -> &'static Bank {
    static BANK: OnceLock<Bank> = OnceLock::new();
    BANK.get_or_init(|| Bank::new(CodeSpec::v1()))
}

/// Largest side of an image taken as an already-cropped palm region (PolyU crops are 128², palm readers that
/// crop on the device deliver up to 256²); anything else is a whole hand and goes through [`roi::locate`].
pub const MAX_REGION_SIDE: usize = 256;

/// Is this image a palm region already (square, at most [`MAX_REGION_SIDE`])?
pub fn is_region(width: usize, height: usize) -> bool {
    width == height && width <= MAX_REGION_SIDE
}

/// A template and, for a whole-hand image, the region it came from (for debug output and audits).
#[derive(Debug, Clone)]
pub struct Extraction {
    pub template: PalmTemplate,
    pub roi: Option<Roi>,
}

/// Any 8-bit NIR image: a square region is used as it is, a whole hand is located first.
pub fn extract_image(pixels: &[u8], width: usize, height: usize) -> Result<Extraction, PalmError> {
    if is_region(width, height) {
        return Ok(Extraction { template: extract_region(pixels, width, height)?, roi: None });
    }
    // A whole print can pass for a hand's outline, and its ridges do not survive the resampling to the
    // region: judge the texture at the sensor's own resolution first.
    if pixels.len() == width * height {
        refuse_ridges(pixels, width, height)?;
    }
    let roi = roi::locate(pixels, width, height)?;
    let blockiness = footprint_blockiness(pixels, width, height, &roi);
    let template = extract_gated(bank(), &roi.pixels, ROI_SIDE, ROI_SIDE, blockiness)?;
    Ok(Extraction { template, roi: Some(roi) })
}

/// JPEG's block grid lives in the frame as it arrived, not in the resampled (turned, scaled) region: its
/// blockiness is measured over the region's footprint in the frame.
fn footprint_blockiness(pixels: &[u8], width: usize, height: usize, roi: &Roi) -> f32 {
    let (xs, ys) = (roi.corners.map(|c| c.0), roi.corners.map(|c| c.1));
    let lo = |v: [f32; 4]| v.iter().copied().fold(f32::MAX, f32::min).max(0.0) as usize;
    let hi = |v: [f32; 4]| v.iter().copied().fold(0.0, f32::max).ceil() as usize + 1;
    quality::blockiness(pixels, width, height, (lo(xs), lo(ys), hi(xs), hi(ys)))
}

/// What the quality gate measures on an image (a region, or a whole hand's located region), without
/// deciding: the benchmark prints it for every capture condition, and it tells an operator which measure a
/// refused capture failed by how much. An error only when there is no region to measure.
pub fn assess(pixels: &[u8], width: usize, height: usize) -> Result<QualityReport, PalmError> {
    if pixels.len() != width * height || width < 32 || height < 32 || width > 4096 || height > 4096 {
        return Err(PalmError::Invalid(format!("{width}x{height} image with {} bytes", pixels.len())));
    }
    let (region, side, blockiness) = if is_region(width, height) {
        (pixels.to_vec(), width, quality::blockiness(pixels, width, height, (0, 0, width, height)))
    } else {
        let roi = roi::locate(pixels, width, height)?;
        let b = footprint_blockiness(pixels, width, height, &roi);
        (roi.pixels, ROI_SIDE, b)
    };
    Ok(QualityReport {
        contrast: quality::line_contrast(&region, side, side),
        blockiness,
        clarity: features::quality(&bank().code(&region, side, side)),
    })
}

/// NIR wavelengths at which subcutaneous veins are visible (haemoglobin absorbs, skin scatters little).
pub const NIR_NM: std::ops::RangeInclusive<u16> = 700..=1000;

/// The palm counterpart of [`crate::extract`]: a [`Sample::PalmNir`](crate::Sample::PalmNir) to a template.
/// Any other sample kind is refused, so a fingerprint can never become a palm template by accident.
pub fn extract_palm(sample: &crate::Sample) -> Result<PalmTemplate, PalmError> {
    match sample {
        crate::Sample::PalmNir { width, height, wavelength_nm, pixels, .. } => {
            if !NIR_NM.contains(wavelength_nm) {
                return Err(PalmError::Invalid(format!("{wavelength_nm} nm is not near-infrared (700–1000 nm)")));
            }
            Ok(extract_image(pixels, *width as usize, *height as usize)?.template)
        }
        _ => Err(PalmError::Invalid("not a near-infrared palm sample".into())),
    }
}

/// Decodes an image file (BMP, JPEG, PNG, TIFF, PGM) and extracts from it. The file bytes come from outside:
/// a truncated or malformed file is a [`PalmError::Decode`].
pub fn extract_file_bytes(bytes: &[u8]) -> Result<Extraction, PalmError> {
    let img = crate::image::GrayImage::decode(bytes, 500).map_err(|e| PalmError::Decode(e.to_string()))?;
    extract_image(&img.pixels, img.width as usize, img.height as usize)
}

/// Extracts a template from a square palm region (already cropped: a PolyU image, or [`roi`]'s output).
pub fn extract_region(pixels: &[u8], width: usize, height: usize) -> Result<PalmTemplate, PalmError> {
    extract_with(bank(), pixels, width, height)
}

/// Refuses an image whose texture is friction ridges ([`texture::looks_like_fingerprint`]).
fn refuse_ridges(pixels: &[u8], width: usize, height: usize) -> Result<(), PalmError> {
    let e = texture::ridge_evidence(pixels, width, height);
    if texture::looks_like_fingerprint(&e) {
        let percent = (e.ridge_share * 100.0).round().clamp(0.0, 100.0) as u8;
        return Err(PalmError::Fingerprint { percent });
    }
    Ok(())
}

/// Extraction with a given filter bank, the region's blockiness measured on the region itself.
pub fn extract_with(bank: &Bank, pixels: &[u8], width: usize, height: usize) -> Result<PalmTemplate, PalmError> {
    if pixels.len() != width * height {
        return Err(PalmError::Invalid(format!("{} bytes for {width}x{height}", pixels.len())));
    }
    extract_gated(bank, pixels, width, height, quality::blockiness(pixels, width, height, (0, 0, width, height)))
}

/// The quality gate ([`quality`]) and the code, for a region whose blockiness the caller measured on the
/// image as it arrived.
fn extract_gated(
    bank: &Bank,
    pixels: &[u8],
    width: usize,
    height: usize,
    blockiness: f32,
) -> Result<PalmTemplate, PalmError> {
    if width < 32 || height < 32 || width > 4096 || height > 4096 {
        return Err(PalmError::Invalid(format!("{width}x{height} region")));
    }
    if pixels.len() != width * height {
        return Err(PalmError::Invalid(format!("{} bytes for {width}x{height}", pixels.len())));
    }
    // An empty, black or saturated frame has no spread: refuse before filtering noise into a code.
    let mut hist = [0u32; 256];
    for p in pixels {
        hist[usize::from(*p)] += 1;
    }
    let pct = |q: f32| {
        let target = (pixels.len() as f32 * q) as u32;
        let mut acc = 0;
        for (v, c) in hist.iter().enumerate() {
            acc += c;
            if acc > target {
                return v as u8;
            }
        }
        255
    };
    let spread = pct(0.95).saturating_sub(pct(0.05));
    if spread < 12 {
        return Err(PalmError::Blank { spread });
    }
    refuse_ridges(pixels, width, height)?;
    let raw = bank.code(pixels, width, height);
    let report = QualityReport {
        contrast: quality::line_contrast(pixels, width, height),
        blockiness,
        clarity: features::quality(&raw),
    };
    let quality = report.verdict()?;
    let spec = bank.spec();
    Ok(PalmTemplate::from_raw(&raw, spec.double, spec.mask_fraction, quality))
}
