//! Synthetic fingerprint *images*, in the manner of SFinGe (Cappelli, Maio & Maltoni): a master print grown
//! by iterated oriented filtering over an orientation model with a core and a delta, then impressions of it
//! with displacement, rotation, elastic distortion, partial contact, and pressure/dryness noise. Minutiae
//! are not placed: they appear where the growing ridges must split or end to follow the flow, as in skin.
//!
//! What makes two fingers differ is therefore the flow and the ridge spacing, so those carry each finger's
//! individuality: singular points placed over wide ranges, bends of the flow at several scales, a ridge
//! period that wanders, and ridges whose direction wavers over a few periods. With a tidier model the
//! matcher's synthetic impostors scored far above real ones (≈2 % of impostor pairs over the FMR 1e-4
//! threshold that real sensors calibrated, against none of the real sets' 11,520); `tobira-bench fingerprint
//! --synthetic 100` prints the figures now.
//!
//! For the simulator and the demo (a person's finger is a seed), and for testing the image pipeline on
//! prints with known identity — never for accuracy claims about real sensors: the benchmark reports real
//! sets and synthetic ones apart.

use crate::gray::GrayImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f32::consts::{PI, TAU};

/// Master print size, larger than any impression so displacement never runs off it.
const MW: usize = 320;
const MH: usize = 380;
/// Impression size: the R30x family's 256×288 at 500 dpi.
pub const PRINT_W: u32 = 256;
pub const PRINT_H: u32 = 288;
/// Growth iterations of the oriented filter.
const ITERATIONS: usize = 10;
const ORIENTATIONS: usize = 24;
/// Ridge-period levels of the kernel bank, from 0.7 to 1.35 times the finger's mean period.
const PERIODS: usize = 7;
const R: isize = 6;

/// How an impression differs from its master print.
#[derive(Debug, Clone, PartialEq)]
pub struct PrintNoise {
    pub rotation_deg: f32,
    pub translation_px: f32,
    pub distortion_px: f32,
    /// Pressure: how much the ridge width varies between impressions (0 = always the same).
    pub pressure: f32,
    /// Dryness: fraction of ridge area broken into gaps (0..1).
    pub dryness: f32,
    /// Sensor noise, grey levels (standard deviation).
    pub noise: f32,
    /// How far the contact area's centre may move, as a fraction of the print.
    pub contact_shift: f32,
}

impl Default for PrintNoise {
    fn default() -> Self {
        Self {
            rotation_deg: 12.0,
            translation_px: 20.0,
            distortion_px: 4.0,
            pressure: 0.25,
            dryness: 0.15,
            noise: 8.0,
            contact_shift: 0.12,
        }
    }
}

impl PrintNoise {
    /// The master as it is, centred, no noise.
    pub fn none() -> Self {
        Self {
            rotation_deg: 0.0,
            translation_px: 0.0,
            distortion_px: 0.0,
            pressure: 0.0,
            dryness: 0.0,
            noise: 0.0,
            contact_shift: 0.0,
        }
    }
}

/// A master print: a ridge field in [-1, 1] (ridges positive) and the finger's footprint.
#[derive(Clone)]
pub struct SyntheticPrint {
    /// The master's seed: every impression's noise depends on it too (see [`SyntheticPrint::impression`]).
    seed: u64,
    ridges: Vec<f32>,
    /// Footprint ellipse: centre and radii, in master pixels.
    foot: (f32, f32, f32, f32),
}

impl std::fmt::Debug for SyntheticPrint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SyntheticPrint({MW}x{MH})")
    }
}

/// A singular point (core or delta), in master pixels.
type Point = (f32, f32);

/// Ridge orientation of the zero-pole model (Sherlock & Monro) with any number of cores and deltas.
fn flow(x: f32, y: f32, cores: &[Point], deltas: &[Point], base: f32) -> f32 {
    let arg = |p: &Point| (y - p.1).atan2(x - p.0);
    base + 0.5 * (deltas.iter().map(arg).sum::<f32>() - cores.iter().map(arg).sum::<f32>())
}

/// Zero-mean oriented Gabor taps over a `MW`-wide buffer.
fn kernel(theta: f32, period: f32) -> Vec<(isize, f32)> {
    let (su, sv) = (0.45 * period, 0.7 * period);
    let (tx, ty) = (theta.cos(), theta.sin());
    let mut taps = Vec::new();
    for dy in -R..=R {
        for dx in -R..=R {
            let (x, y) = (dx as f32, dy as f32);
            let v = x * tx + y * ty;
            let u = -x * ty + y * tx;
            let env = (-(u * u) / (2.0 * su * su) - (v * v) / (2.0 * sv * sv)).exp();
            if env > 0.02 {
                taps.push((dy * MW as isize + dx, env * (TAU * u / period).cos()));
            }
        }
    }
    let mean = taps.iter().map(|t| t.1).sum::<f32>() / taps.len().max(1) as f32;
    for t in &mut taps {
        t.1 -= mean;
    }
    taps
}

/// Smooth random field in about [-1, 1]: a few random Gaussian bumps, for distortion and dryness.
fn bumps(rng: &mut ChaCha8Rng, n: usize, spread: f32) -> Vec<(f32, f32, f32, f32)> {
    (0..n)
        .map(|_| {
            (
                rng.random_range(0.0..MW as f32),
                rng.random_range(0.0..MH as f32),
                rng.random_range(-1.0..1.0),
                rng.random_range(-1.0..1.0) * spread,
            )
        })
        .collect()
}

/// Ridges are not drawn with a ruler: over a few ridge periods their direction wanders by some degrees,
/// differently on every finger, and a minutia's direction follows its own ridge rather than the finger's
/// overall flow. Without this, minutiae of any two prints whose flows agree also agree in direction to
/// the degree, and impostors pair by chance far more often than real fingers do (synthetic impostor median
/// 0.025 against 0.014 on the real FVC sets).
struct Waviness {
    grid: Vec<f32>,
    cols: usize,
    cell: f32,
    amp: f32,
}

/// Waviness grid spacing (pixels) and amplitude (radians).
const WAVE_CELL: f32 = 16.0;
const WAVE_AMPLITUDE: f32 = 0.75;
/// Largest turn of the flow by one of a finger's own bends (radians).
const BEND: f32 = 1.2;

impl Waviness {
    fn new(rng: &mut ChaCha8Rng) -> Waviness {
        let cell = WAVE_CELL;
        let cols = (MW as f32 / cell) as usize + 2;
        let rows = (MH as f32 / cell) as usize + 2;
        Waviness {
            grid: (0..cols * rows).map(|_| rng.random_range(-1.0..1.0f32)).collect(),
            cols,
            cell,
            amp: WAVE_AMPLITUDE,
        }
    }

    /// Smoothly interpolated (smoothstep) value noise, in radians.
    fn at(&self, x: f32, y: f32) -> f32 {
        let (gx, gy) = (x / self.cell, y / self.cell);
        let (cx, cy) = (gx as usize, gy as usize);
        let s = |t: f32| t * t * (3.0 - 2.0 * t);
        let (fx, fy) = (s(gx - cx as f32), s(gy - cy as f32));
        let g = |c: usize, r: usize| self.grid.get(r * self.cols + c).copied().unwrap_or(0.0);
        let top = g(cx, cy) * (1.0 - fx) + g(cx + 1, cy) * fx;
        let bottom = g(cx, cy + 1) * (1.0 - fx) + g(cx + 1, cy + 1) * fx;
        self.amp * (top * (1.0 - fy) + bottom * fy)
    }
}

impl SyntheticPrint {
    /// The master print of finger `seed`; deterministic.
    pub fn new(seed: u64) -> SyntheticPrint {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let (cx, cy) =
            (MW as f32 / 2.0 + rng.random_range(-10.0..10.0), MH as f32 / 2.0 + rng.random_range(-10.0..10.0));
        // Pattern class (Henry): left or right loop, whorl, tented arch — the singular points' layout.
        // Pattern class (Henry): left or right loop, whorl, tented arch — the singular points' layout. Where
        // they sit varies widely (the ridge count between core and delta is one of a finger's most
        // individual traits), or prints of one class look alike and impostors pair by chance.
        let (cores, deltas): (Vec<Point>, Vec<Point>) = match rng.random_range(0..10) {
            0..=2 => {
                let core = (cx + rng.random_range(-45.0..25.0), cy - rng.random_range(-10.0..80.0));
                (vec![core], vec![(core.0 + rng.random_range(40.0..140.0), core.1 + rng.random_range(80.0..200.0))])
            }
            3..=5 => {
                let core = (cx + rng.random_range(-25.0..45.0), cy - rng.random_range(-10.0..80.0));
                (vec![core], vec![(core.0 - rng.random_range(40.0..140.0), core.1 + rng.random_range(80.0..200.0))])
            }
            6..=8 => {
                // Whorls: the two cores' spacing and axis make plain, spiral and double-loop whorls.
                let (ox, oy) = (cx + rng.random_range(-35.0..35.0), cy + rng.random_range(-60.0..20.0));
                let gap = rng.random_range(8.0..40.0);
                let axis = rng.random_range(-0.9..0.9f32);
                let (ax, ay) = (gap * axis.sin(), gap * axis.cos());
                (
                    vec![(ox - ax, oy - ay), (ox + ax, oy + ay)],
                    vec![
                        (ox - rng.random_range(60.0..140.0), oy + rng.random_range(70.0..170.0)),
                        (ox + rng.random_range(60.0..140.0), oy + rng.random_range(70.0..170.0)),
                    ],
                )
            }
            _ => {
                let x = cx + rng.random_range(-30.0..30.0);
                let y = cy + rng.random_range(-20.0..50.0);
                let gap = rng.random_range(15.0..40.0);
                (vec![(x, y - gap)], vec![(x + rng.random_range(-10.0..10.0), y + gap)])
            }
        };
        let base = rng.random_range(-0.35..0.35);
        let period = rng.random_range(9.0..11.0f32);
        let foot = (cx, cy, rng.random_range(115.0..135.0), rng.random_range(150.0..170.0));
        // Individuality beyond the singular points: the flow bends differently on every finger, at several
        // scales.
        let bends: Vec<(f32, f32, f32, f32)> =
            bumps(&mut rng, 14, 1.0).into_iter().map(|(x, y, a, _)| (x, y, a, rng.random_range(35.0..70.0))).collect();
        // Ridge period per pixel: it wanders around the finger's own mean. Where ridges must crowd or spread
        // the growth has to split or end one, so minutiae appear at places of this finger's own — without
        // it they appear only where the flow forces them, and two prints of one class share them.
        let spread = bumps(&mut rng, 24, 1.0);
        // Orientation and period per pixel, quantised to the kernel bank.
        let bank: Vec<Vec<(isize, f32)>> = (0..PERIODS * ORIENTATIONS)
            .map(|k| {
                let level = (k / ORIENTATIONS) as f32 / (PERIODS - 1) as f32;
                kernel((k % ORIENTATIONS) as f32 * PI / ORIENTATIONS as f32, period * (0.7 + 0.65 * level))
            })
            .collect();
        let wavy = Waviness::new(&mut rng);
        let mut obin = vec![0u16; MW * MH];
        for y in 0..MH {
            for x in 0..MW {
                let (fx, fy) = (x as f32, y as f32);
                let bend: f32 = bends
                    .iter()
                    .map(|&(bx, by, a, r)| BEND * a * (-((fx - bx).powi(2) + (fy - by).powi(2)) / (2.0 * r * r)).exp())
                    .sum();
                let t = (flow(fx, fy, &cores, &deltas, base) + bend + wavy.at(fx, fy)).rem_euclid(PI);
                let o = (t / PI * ORIENTATIONS as f32).round() as usize % ORIENTATIONS;
                let d: f32 = spread
                    .iter()
                    .map(|&(bx, by, a, _)| {
                        a * (-((fx - bx).powi(2) + (fy - by).powi(2)) / (2.0 * 30.0f32.powi(2))).exp()
                    })
                    .sum();
                let level = ((d * 0.5 + 0.5).clamp(0.0, 1.0) * (PERIODS - 1) as f32).round() as usize;
                obin[y * MW + x] = (level * ORIENTATIONS + o) as u16;
            }
        }
        // Growth from sparse random seeds: each pass reinforces what follows the flow and clips.
        let mut a = vec![0f32; MW * MH];
        for _ in 0..(MW * MH / 2000) {
            let (x, y) = (rng.random_range(R as usize..MW - R as usize), rng.random_range(R as usize..MH - R as usize));
            a[y * MW + x] = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
        }
        let mut b = vec![0f32; MW * MH];
        for _ in 0..ITERATIONS {
            for y in R as usize..MH - R as usize {
                for x in R as usize..MW - R as usize {
                    let i = y * MW + x;
                    let mut s = 0f32;
                    for &(off, w) in &bank[usize::from(obin[i])] {
                        s += w * a[(i as isize + off) as usize];
                    }
                    b[i] = (s * 2.5).clamp(-1.0, 1.0);
                }
            }
            std::mem::swap(&mut a, &mut b);
        }
        SyntheticPrint { seed, ridges: a, foot }
    }

    fn sample(&self, x: f32, y: f32) -> f32 {
        if x < 0.0 || y < 0.0 || x >= (MW - 1) as f32 || y >= (MH - 1) as f32 {
            return -1.0;
        }
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let at = |xx: usize, yy: usize| self.ridges[yy * MW + xx];
        at(x0, y0) * (1.0 - fx) * (1.0 - fy)
            + at(x0 + 1, y0) * fx * (1.0 - fy)
            + at(x0, y0 + 1) * (1.0 - fx) * fy
            + at(x0 + 1, y0 + 1) * fx * fy
    }

    /// Impression `seed` of this print: an 8-bit 256×288 image at 500 dpi, dark ridges on a light ground,
    /// as an R30x module uploads it.
    pub fn impression(&self, seed: u64, n: &PrintNoise) -> GrayImage {
        // The finger's own seed goes into the noise: impression 1 of two different fingers must not share
        // their dry patches, contact edge and placement, or the gaps' borders become minutiae at the same
        // places in both prints and impostors pair them.
        let mixed = seed ^ 0x0ddb_a11c_afe0_0042 ^ self.seed.rotate_left(17).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut rng = ChaCha8Rng::seed_from_u64(mixed);
        let sym = |rng: &mut ChaCha8Rng, a: f32| if a > 0.0 { rng.random_range(-a..a) } else { 0.0 };
        let rot = sym(&mut rng, n.rotation_deg).to_radians();
        let (tx, ty) = (sym(&mut rng, n.translation_px), sym(&mut rng, n.translation_px));
        let warp = bumps(&mut rng, 4, 1.0);
        let dry = bumps(&mut rng, 40, 1.0);
        let level = sym(&mut rng, n.pressure);
        let (fcx, fcy, frx, fry) = self.foot;
        let (ccx, ccy) = (fcx + sym(&mut rng, n.contact_shift * frx), fcy + sym(&mut rng, n.contact_shift * fry));
        let (sn, cs) = rot.sin_cos();
        let (w, h) = (PRINT_W as usize, PRINT_H as usize);
        let mut px = Vec::with_capacity(w * h);
        for y in 0..h {
            for x in 0..w {
                // Impression pixel → master coordinates: undo rotation about the centre and the shift.
                let (dx, dy) = (x as f32 - w as f32 / 2.0 - tx, y as f32 - h as f32 / 2.0 - ty);
                let mut mx = cs * dx + sn * dy + fcx;
                let mut my = -sn * dx + cs * dy + fcy;
                for &(bx, by, ux, uy) in &warp {
                    let g = (-((mx - bx).powi(2) + (my - by).powi(2)) / (2.0 * 70.0f32.powi(2))).exp();
                    mx += ux * n.distortion_px * g;
                    my += uy * n.distortion_px * g;
                }
                let contact = ((mx - ccx) / frx).powi(2) + ((my - ccy) / fry).powi(2);
                let mut v = 235.0;
                if contact < 1.0 {
                    let r = self.sample(mx, my);
                    // Pressure moves the ridge/valley boundary; the edge of the contact area presses less.
                    let edge = ((1.0 - contact) * 4.0).min(1.0);
                    let mut ink = ((r - level) * 3.0).clamp(-1.0, 1.0) * 0.5 + 0.5;
                    if n.dryness > 0.0 {
                        let d: f32 = dry
                            .iter()
                            .map(|&(bx, by, a, _)| a * (-((mx - bx).powi(2) + (my - by).powi(2)) / 180.0).exp())
                            .sum();
                        if d > 1.0 - 2.0 * n.dryness {
                            ink *= 0.35;
                        }
                    }
                    v = 235.0 - 190.0 * ink * edge;
                }
                v += sym(&mut rng, n.noise * 1.7);
                px.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
        // from_raw only refuses geometry; this one is fixed and valid.
        GrayImage { width: PRINT_W, height: PRINT_H, dpi: 500, pixels: px }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_are_deterministic_and_differ_between_fingers() {
        let a = SyntheticPrint::new(1).impression(1, &PrintNoise::default());
        let b = SyntheticPrint::new(1).impression(1, &PrintNoise::default());
        let c = SyntheticPrint::new(2).impression(1, &PrintNoise::default());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!((a.width, a.height, a.dpi), (PRINT_W, PRINT_H, 500));
    }
}
