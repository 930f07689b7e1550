//! 1:1 comparison of palm-vein templates: the normalised Hamming distance of their codes over the points both
//! masks keep, minimised over small translations of one code against the other.
//!
//! Why a shift search: the region of interest is placed from the finger valleys, and two captures of one hand
//! still land a few pixels apart (the valleys move as the fingers spread). Rotation is normalised by the same
//! key points; the remaining few degrees are absorbed by the 30° orientation bins and the shift search.
//! Shifts are searched coarse-to-fine (every second offset, then the neighbours of the best), which finds
//! the same minimum as the full grid on genuine pairs at a third of the cost.

use super::template::PalmTemplate;
use crate::score::Score;

/// Largest translation searched, in code points (v1: 64-point grid over the 128-pixel region, so ±12 px).
pub const MAX_SHIFT: i32 = 6;

/// Fewer common points than this fraction of the grid is not enough evidence: the shift is skipped.
const MIN_OVERLAP: f32 = 0.4;

#[inline]
fn shifted(w: u64, dx: i32) -> u64 {
    if dx >= 0 { w >> dx } else { w << (-dx) }
}

/// Normalised distance (0 = same code, ≈0.5 = unrelated) at one shift: probe point (x, y) against
/// reference point (x + dx, y + dy). `None` when the overlap is too small to count.
#[inline(always)]
pub(crate) fn distance_at(a: &PalmTemplate, b: &PalmTemplate, dx: i32, dy: i32) -> Option<f32> {
    let g = a.grid as i32;
    let planes = usize::from(a.planes);
    let gu = g as usize;
    let (y0, y1) = ((-dy).max(0), (g - dy).min(g));
    let mut diff = 0u32;
    let mut count = 0u32;
    for y in y0..y1 {
        let ya = y as usize;
        let yb = (y + dy) as usize;
        let m = a.mask[ya] & shifted(b.mask[yb], dx);
        count += m.count_ones();
        for p in 0..planes {
            diff += ((a.bits[p * gu + ya] ^ shifted(b.bits[p * gu + yb], dx)) & m).count_ones();
        }
    }
    let min = (MIN_OVERLAP * (g * g) as f32) as u32;
    if count < min.max(1) {
        return None;
    }
    Some(diff as f32 / (count as f32 * planes as f32))
}

/// Smallest distance over translations up to `max_shift`, searched coarse-to-fine.
pub(crate) fn best_distance(a: &PalmTemplate, b: &PalmTemplate, max_shift: i32) -> f32 {
    if a.grid != b.grid || a.planes != b.planes {
        return 1.0;
    }
    // The build targets x86-64-v2 (.cargo/config.toml), so `count_ones` is one popcnt instruction.
    best_distance_impl(a, b, max_shift)
}

/// `b`'s rows shifted by `dx` bits once, so the row offsets (`dy`) that follow only XOR and count.
struct Shifted {
    mask: Vec<u64>,
    bits: Vec<u64>,
}

#[inline(always)]
fn shift_rows(b: &PalmTemplate, dx: i32, out: &mut Shifted) {
    out.mask.clear();
    out.mask.extend(b.mask.iter().map(|w| shifted(*w, dx)));
    out.bits.clear();
    out.bits.extend(b.bits.iter().map(|w| shifted(*w, dx)));
}

/// Distance of `a` against pre-shifted rows of `b` at row offset `dy`.
#[inline(always)]
fn distance_rows(a: &PalmTemplate, sb: &Shifted, dy: i32) -> Option<f32> {
    let g = a.mask.len();
    let planes = usize::from(a.planes);
    let (ya0, yb0, n) = if dy >= 0 {
        (0, dy as usize, g.saturating_sub(dy as usize))
    } else {
        ((-dy) as usize, 0, g.saturating_sub((-dy) as usize))
    };
    let (mut diff, mut count) = (0u32, 0u32);
    let am = &a.mask[ya0..ya0 + n];
    let bm = &sb.mask[yb0..yb0 + n];
    let mut masks = [0u64; 64];
    for ((m, x), y) in masks.iter_mut().zip(am).zip(bm) {
        *m = x & y;
        count += m.count_ones();
    }
    for p in 0..planes {
        let ab = &a.bits[p * g + ya0..p * g + ya0 + n];
        let bb = &sb.bits[p * g + yb0..p * g + yb0 + n];
        for ((x, y), m) in ab.iter().zip(bb).zip(&masks) {
            diff += ((x ^ y) & m).count_ones();
        }
    }
    let min = (MIN_OVERLAP * (g * g) as f32) as u32;
    if count < min.max(1) {
        return None;
    }
    Some(diff as f32 / (count as f32 * planes as f32))
}

#[inline(always)]
fn best_distance_impl(a: &PalmTemplate, b: &PalmTemplate, max_shift: i32) -> f32 {
    let mut sb = Shifted { mask: Vec::with_capacity(b.mask.len()), bits: Vec::with_capacity(b.bits.len()) };
    let mut best = (1.0f32, 0, 0);
    let mut dx = -max_shift;
    while dx <= max_shift {
        shift_rows(b, dx, &mut sb);
        let mut dy = -max_shift;
        while dy <= max_shift {
            if let Some(d) = distance_rows(a, &sb, dy)
                && d < best.0
            {
                best = (d, dx, dy);
            }
            dy += 2;
        }
        dx += 2;
    }
    let (_, bx, by) = best;
    for dx in bx - 1..=bx + 1 {
        if dx.abs() > max_shift {
            continue;
        }
        shift_rows(b, dx, &mut sb);
        for dy in by - 1..=by + 1 {
            if (dx == bx && dy == by) || dy.abs() > max_shift {
                continue;
            }
            if let Some(d) = distance_rows(a, &sb, dy)
                && d < best.0
            {
                best.0 = d;
            }
        }
    }
    best.0
}

/// Similarity of two palm-vein templates: 1 − 2·distance, clamped to [0, 1] (0: no more alike than two
/// unrelated palms). Templates of different geometry score 0.
pub fn compare(a: &PalmTemplate, b: &PalmTemplate) -> Score {
    compare_shift(a, b, MAX_SHIFT)
}

/// [`compare`] with another search range (parameter studies).
pub fn compare_shift(a: &PalmTemplate, b: &PalmTemplate, max_shift: i32) -> Score {
    Score((1.0 - 2.0 * best_distance(a, b, max_shift)).clamp(0.0, 1.0))
}

/// (false-match rate, score threshold), from permissive to strict, for [`compare`]'s scores.
///
/// Measured on the 2,160 impostor pairs of PolyU_MS_NIR_ROI (6 palms × 12 images; `tobira-bench palm`
/// prints the impostor distribution): highest impostor 0.285, 99th percentile ≈ 0.25. The stricter points
/// lie beyond what 2,160 pairs can show and are set on the tail of a normal fit (mean 0.173, sd 0.042):
/// mean + 3.1·sd, + 3.7·sd, + 4.3·sd, … Genuine cross-session pairs scored 0.61 at their lowest, so the
/// daemon's default (1e-4) keeps a margin on both sides. Re-measure on a larger set before relying on the
/// strict end.
pub(crate) const CALIBRATION: [(f64, f32); 6] =
    [(1e-2, 0.270), (1e-3, 0.300), (1e-4, 0.330), (1e-5, 0.355), (1e-6, 0.380), (1e-7, 0.400)];

/// A decision threshold on palm scores: a score at or above it is a match. Separate from
/// [`crate::Threshold`] because palm and fingerprint scores have different impostor distributions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PalmThreshold {
    value: f32,
    fmr: f64,
}

impl PalmThreshold {
    /// The threshold for a target false-match rate, interpolated in log(FMR) and clamped to the table.
    pub fn for_fmr(fmr: f64) -> PalmThreshold {
        let (value, fmr) = crate::score::interpolate(&CALIBRATION, fmr);
        PalmThreshold { value, fmr }
    }

    /// The threshold for one identification among `candidates` templates that keeps the false-match rate
    /// *per identification* at `fmr`: a stranger compared with N palms has N chances, so each comparison
    /// gets `fmr / N` (the bench's 1:N run: at the 1:1 default 11 of 100 strangers matched someone among
    /// 10,000 synthetic palms, at this threshold none did).
    pub fn for_identification(fmr: f64, candidates: usize) -> PalmThreshold {
        PalmThreshold::for_fmr(fmr / candidates.max(1) as f64)
    }

    pub fn accepts(&self, s: Score) -> bool {
        s.0 >= self.value
    }

    pub fn value(&self) -> f32 {
        self.value
    }

    pub fn fmr(&self) -> f64 {
        self.fmr
    }
}

/// The daemon's default: FMR ≤ 1/10,000 (THREATS.md), as for fingerprints.
impl Default for PalmThreshold {
    fn default() -> Self {
        PalmThreshold::for_fmr(1e-4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identification_among_many_asks_for_a_higher_score() {
        let one = PalmThreshold::for_fmr(1e-4);
        assert_eq!(PalmThreshold::for_identification(1e-4, 1), one);
        assert_eq!(PalmThreshold::for_identification(1e-4, 0), one, "no candidates: the 1:1 threshold");
        let ten = PalmThreshold::for_identification(1e-4, 10);
        assert!((ten.value() - PalmThreshold::for_fmr(1e-5).value()).abs() < 1e-6, "{ten:?}");
        assert!(ten.value() > one.value());
        // Beyond the calibrated table the strictest point holds.
        assert_eq!(PalmThreshold::for_identification(1e-4, 10_000).value(), PalmThreshold::for_fmr(1e-7).value());
    }
}
