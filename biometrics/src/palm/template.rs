//! The palm-vein template: packed orientation codes, a mask, a quality score; and its versioned byte format.
//!
//! # Byte format, version 1 (all integers little-endian)
//!
//! ```text
//! offset  size        field
//! 0       4           magic "TPVT" (tobira palm-vein template)
//! 4       1           format version = 1
//! 5       1           grid G, side of the square code grid, 8..=64
//! 6       1           planes P, code bit planes: 3 (one orientation) or 6 (two orientations)
//! 7       1           quality, 0..=100
//! 8       8·G         mask: G rows of u64, bit x of row y set = point (x, y) counts in the distance
//! 8+8G    8·G·P       code planes, plane-major: plane p, row y at 8 + 8G + 8(pG + y)
//! ```
//!
//! Total length is exactly `8 + 8·G·(P + 1)` bytes (v1: G = 64, P = 3, 2,056 bytes). Bits at x ≥ G are
//! zero. Decoding refuses any other length, version, grid or plane count, and stray bits: a template arrives
//! from an enrollment station or the central store and is checked like any outside input. A new extraction
//! (different filters) is a new version: templates of different versions are never compared, they are
//! re-enrolled.

use super::features::{ANGULAR_BITS, RawCode};
use std::fmt;

pub const MAGIC: &[u8; 4] = b"TPVT";
pub const VERSION: u8 = 1;
const HEADER: usize = 8;

/// A palm-vein template. Never prints its bits (biometric data).
#[derive(Clone, PartialEq, Eq)]
pub struct PalmTemplate {
    pub(crate) grid: u8,
    pub(crate) planes: u8,
    pub(crate) quality: u8,
    /// `grid` rows.
    pub(crate) mask: Vec<u64>,
    /// `planes × grid` rows, plane-major.
    pub(crate) bits: Vec<u64>,
}

impl fmt::Debug for PalmTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PalmTemplate(v{VERSION}, {0}×{0}×{1}, quality {2})", self.grid, self.planes, self.quality)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    #[error("not a palm-vein template (bad magic)")]
    Magic,
    #[error("template format version {0} is not supported (this build reads version {VERSION}); re-enrol")]
    Version(u8),
    #[error("template header invalid: {0}")]
    Header(&'static str),
    #[error("template length {have} bytes, its header says {need}")]
    Length { have: usize, need: usize },
    #[error("template has bits outside its {0}×{0} grid")]
    StrayBits(u8),
}

fn row_mask(grid: usize) -> u64 {
    if grid >= 64 { u64::MAX } else { (1u64 << grid) - 1 }
}

impl PalmTemplate {
    /// Packs a raw code: the mask leaves out the weakest `mask_fraction` of points.
    pub(crate) fn from_raw(raw: &RawCode, double: bool, mask_fraction: f32, quality: u8) -> PalmTemplate {
        let g = raw.grid;
        let planes = if double { 6 } else { 3 };
        let mut bits = vec![0u64; planes * g];
        let mut mask = vec![0u64; g];
        let cut = if mask_fraction > 0.0 {
            let mut c = raw.contrast.clone();
            c.sort_by(|a, b| a.total_cmp(b));
            let k = ((c.len() as f32 * mask_fraction) as usize).min(c.len().saturating_sub(1));
            c[k]
        } else {
            f32::MIN
        };
        for y in 0..g {
            for x in 0..g {
                let i = y * g + x;
                if raw.contrast[i] >= cut {
                    mask[y] |= 1 << x;
                }
                let a = ANGULAR_BITS[usize::from(raw.first[i])];
                for p in 0..3 {
                    bits[p * g + y] |= u64::from((a >> p) & 1) << x;
                }
                if double {
                    let b = ANGULAR_BITS[usize::from(raw.second[i])];
                    for p in 0..3 {
                        bits[(3 + p) * g + y] |= u64::from((b >> p) & 1) << x;
                    }
                }
            }
        }
        PalmTemplate { grid: g as u8, planes: planes as u8, quality, mask, bits }
    }

    /// Quality 0–100 (the share of the region with clear line or vein structure, scaled).
    pub fn quality(&self) -> u8 {
        self.quality
    }

    pub fn grid(&self) -> usize {
        usize::from(self.grid)
    }

    pub fn planes(&self) -> usize {
        usize::from(self.planes)
    }

    /// Bytes this template occupies in memory (its bit rows) and encoded.
    pub fn encoded_len(&self) -> usize {
        HEADER + 8 * self.grid() * (self.planes() + 1)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VERSION, self.grid, self.planes, self.quality]);
        for w in self.mask.iter().chain(&self.bits) {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out
    }

    pub fn decode(b: &[u8]) -> Result<PalmTemplate, TemplateError> {
        if b.len() < HEADER {
            return Err(TemplateError::Length { have: b.len(), need: HEADER });
        }
        if &b[..4] != MAGIC {
            return Err(TemplateError::Magic);
        }
        if b[4] != VERSION {
            return Err(TemplateError::Version(b[4]));
        }
        let (grid, planes, quality) = (b[5], b[6], b[7]);
        if !(8..=64).contains(&grid) {
            return Err(TemplateError::Header("grid outside 8..=64"));
        }
        if planes != 3 && planes != 6 {
            return Err(TemplateError::Header("plane count is neither 3 nor 6"));
        }
        if quality > 100 {
            return Err(TemplateError::Header("quality above 100"));
        }
        let g = usize::from(grid);
        let need = HEADER + 8 * g * (usize::from(planes) + 1);
        if b.len() != need {
            return Err(TemplateError::Length { have: b.len(), need });
        }
        let words: Vec<u64> = b[HEADER..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let rm = row_mask(g);
        if words.iter().any(|w| w & !rm != 0) {
            return Err(TemplateError::StrayBits(grid));
        }
        let (mask, bits) = words.split_at(g);
        Ok(PalmTemplate { grid, planes, quality, mask: mask.to_vec(), bits: bits.to_vec() })
    }
}
