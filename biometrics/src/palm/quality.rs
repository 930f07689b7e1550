//! Capture quality of a palm region, measured before it becomes a template (issue 17 §3).
//!
//! The orientation code normalises local contrast, so it codes *something* at every point of any region:
//! on a nearly flat grey region it codes sensor noise, exposure gradients and — after a strong JPEG
//! compression — the 8×8 block marks. Two such codes share that structure whoever's hand it was, and on an
//! unseen contact-free sensor exactly these regions scored up to 0.51 against strangers (the 1:1 threshold
//! was 0.33). The code cannot tell texture from artefact, so two measures are taken on the pixels first:
//!
//! - **Line contrast**: the root-mean-square grey-level amplitude of the region after removing its slow
//!   illumination (the region at the code's 64² scale minus its 11×11 local mean — the same band the Gabor
//!   filters see), in grey levels of the 8-bit input. Veins and flexion lines in a usable capture are
//!   several grey levels deep; a nearly flat region holds a grey level or two of noise.
//! - **Blockiness**: JPEG quantises each 8×8 block on its own, so a heavily compressed image has steps at
//!   the block boundaries and flat blocks between them. Measured on the image as it arrived (the region's
//!   footprint in a whole-hand frame, the whole crop otherwise): the mean absolute difference between
//!   neighbouring pixels across the strongest-phase 8-pixel boundary, over the mean across the other seven
//!   phases, horizontally and vertically, the smaller of the two (an image's own content rarely repeats at
//!   exactly 8 px in both directions, JPEG's grid always does). Natural and lightly compressed images
//!   measure about 1; the grid's phase is found, not assumed, so a crop taken after compression is
//!   measured as well.
//!
//! The template's quality byte (0–100) is the worst of three grades: the share of code points with a clear
//! line response (as before), the line contrast and the blockiness, each mapped so that its refusal point
//! is [`super::MIN_QUALITY`] (30). Below it the capture is refused, naming the cause; between it and the
//! site's `enrollment_min_quality` (default 40) it may be used to verify but not to enrol.
//!
//! Where the refusal points come from (`tobira-bench palm` prints the measures of every capture condition
//! of PolyU and CASIA, as recorded and degraded): PolyU's regions measure a line contrast of 1.6–3.0 grey
//! levels and CASIA's 1.7–2.8; blurred by σ = 3 px they keep 0.9–2.3 and still match as before; with the
//! veins squeezed to a tenth of their contrast, 0.5–1.5, and their impostor scores spread out (raw
//! similarity up to 0.37 against strangers); a frame at a tenth of its contrast, 0.2–0.35. Below
//! [`MIN_CONTRAST`] = 0.6 the capture is refused. Blockiness: PolyU's BMPs 1.0–1.1, CASIA's own JPEGs
//! 1.7–2.2, JPEG quality 30: 2.8–5.2, quality 10: 4–12. Heavy compression costs genuine pairs half their
//! similarity and lets two blocky captures of different people agree on their block grid (measured with a
//! scratch harness before this gate: PolyU crops at quality 5 scored up to 0.58 against each other, quality
//! 20 measured 4.3–7.4, quality 50 2.2–3.3). Above [`MAX_BLOCKINESS`] = 3.5 the capture is refused: quality
//! 50 passes, quality 30 mostly not, 10 and below never.

use super::PalmError;

/// Below this line contrast (grey levels RMS) a region is refused.
pub const MIN_CONTRAST: f32 = 0.6;
/// Line contrast graded 100 (and above).
const GOOD_CONTRAST: f32 = MIN_CONTRAST / 0.3;
/// Above this blockiness a region is refused.
pub const MAX_BLOCKINESS: f32 = 3.5;
/// Blockiness graded 100 (and below): lightly compressed JPEG.
const CLEAN_BLOCKINESS: f32 = 1.5;
/// Every grade's refusal point.
const REFUSAL_GRADE: f32 = super::MIN_QUALITY as f32;

/// What the quality gate measured on one region.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualityReport {
    /// RMS line contrast, grey levels.
    pub contrast: f32,
    /// Block-boundary difference over the other phases' (≈ 1 for an image without JPEG block marks).
    pub blockiness: f32,
    /// Share of code points with a clear line response, 0–100.
    pub clarity: u8,
}

impl QualityReport {
    /// The line contrast as a grade 0–100 ([`MIN_CONTRAST`] → 30).
    pub fn contrast_grade(&self) -> u8 {
        grade(100.0 * self.contrast / GOOD_CONTRAST)
    }

    /// The blockiness as a grade 0–100 ([`MAX_BLOCKINESS`] → 30, [`CLEAN_BLOCKINESS`] or less → 100).
    pub fn block_grade(&self) -> u8 {
        let over = (self.blockiness - CLEAN_BLOCKINESS).max(0.0) / (MAX_BLOCKINESS - CLEAN_BLOCKINESS);
        grade(100.0 - (100.0 - REFUSAL_GRADE) * over)
    }

    /// The template's quality: the worst grade.
    pub fn grade(&self) -> u8 {
        self.clarity.min(self.contrast_grade()).min(self.block_grade())
    }

    /// The quality, or why the capture is refused (the first failing measure, artefacts first: a blocky
    /// region also codes poorly, and the cause to fix is the compression).
    pub fn verdict(&self) -> Result<u8, PalmError> {
        if self.blockiness > MAX_BLOCKINESS {
            return Err(PalmError::Blocky { tenths: (self.blockiness * 10.0).round().min(9_999.0) as u16 });
        }
        if self.contrast < MIN_CONTRAST {
            return Err(PalmError::LowContrast { hundredths: (self.contrast * 100.0).round().max(0.0) as u16 });
        }
        if self.clarity < super::MIN_QUALITY {
            return Err(PalmError::LowQuality { quality: self.clarity, min: super::MIN_QUALITY });
        }
        Ok(self.grade())
    }
}

fn grade(v: f32) -> u8 {
    v.round().clamp(0.0, 100.0) as u8
}

/// Side at which the contrast is measured (the code's input side).
const SIDE: usize = 64;
/// Local-mean window half-size for the contrast's high-pass (the code's normalisation window).
const RADIUS: usize = 5;

/// RMS of the region (any size) at [`SIDE`]², after subtracting its local mean.
pub fn line_contrast(pixels: &[u8], w: usize, h: usize) -> f32 {
    if pixels.len() != w * h || w == 0 || h == 0 {
        return 0.0;
    }
    let img = super::features::resample(pixels, w, h, SIDE);
    let (mean, _) = crate::image::window::box_mean_var(&img, SIDE, SIDE, RADIUS);
    let ss: f32 = img.iter().zip(&mean).map(|(v, m)| (v - m) * (v - m)).sum();
    (ss / img.len() as f32).sqrt()
}

/// Blockiness of the part of an image inside `[x0, x1) × [y0, y1)` (clipped to the image); 1 for a part
/// too small to measure.
pub fn blockiness(pixels: &[u8], w: usize, h: usize, bbox: (usize, usize, usize, usize)) -> f32 {
    if pixels.len() != w * h {
        return 1.0;
    }
    let (x0, y0) = (bbox.0.min(w), bbox.1.min(h));
    let (x1, y1) = (bbox.2.min(w), bbox.3.min(h));
    if x1 < x0 + 17 || y1 < y0 + 17 {
        return 1.0;
    }
    let mut hs = [0f64; 8];
    let mut hn = [0u32; 8];
    let mut vs = [0f64; 8];
    let mut vn = [0u32; 8];
    for y in y0..y1 {
        for x in x0..x1 {
            let p = i32::from(pixels[y * w + x]);
            if x + 1 < x1 {
                // The boundary between columns x and x + 1; phase 0 when x + 1 is a multiple of 8.
                let d = (i32::from(pixels[y * w + x + 1]) - p).unsigned_abs();
                hs[(x + 1) % 8] += f64::from(d);
                hn[(x + 1) % 8] += 1;
            }
            if y + 1 < y1 {
                let d = (i32::from(pixels[(y + 1) * w + x]) - p).unsigned_abs();
                vs[(y + 1) % 8] += f64::from(d);
                vn[(y + 1) % 8] += 1;
            }
        }
    }
    let ratio = |s: &[f64; 8], n: &[u32; 8]| {
        let m: Vec<f64> = s.iter().zip(n).map(|(s, n)| s / f64::from((*n).max(1))).collect();
        let (best, peak) = m.iter().enumerate().fold((0, f64::MIN), |a, (i, v)| if *v > a.1 { (i, *v) } else { a });
        let rest = m.iter().enumerate().filter(|(i, _)| *i != best).map(|(_, v)| v).sum::<f64>() / 7.0;
        // A quarter grey level of slack: a perfectly flat region is not blocky, it is flat.
        ((peak + 0.25) / (rest + 0.25)) as f32
    };
    ratio(&hs, &hn).min(ratio(&vs, &vn))
}
