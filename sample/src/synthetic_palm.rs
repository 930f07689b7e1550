//! Synthetic palm-vein images for the simulator, the demo and scale tests: a master palm (vessel trees and
//! the principal flexion lines over a near-infrared skin texture) and its impressions, which differ by pose,
//! illumination and sensor noise. Deterministic from a seed, like [`crate::synthetic`] for fingers. Never for
//! accuracy claims on real sensors: the vessel model is a sketch (branching random walks with tapering
//! width), not physiology.

use crate::ROI_SIDE;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f32::consts::PI;

/// Side of the master canvas; impressions are [`ROI_SIDE`]² windows into it, so a moved or turned hand still
/// shows vessels at the window's edges.
const CANVAS: usize = 192;

/// How an impression differs from its master palm.
#[derive(Debug, Clone, PartialEq)]
pub struct PalmNoise {
    /// Largest rotation left after region normalisation, degrees.
    pub rotation_deg: f32,
    /// Largest displacement, pixels of the region.
    pub translation_px: f32,
    /// Largest relative scale change (0.05: ±5 %).
    pub scale: f32,
    /// Largest strength of the illumination gradient and exposure change (0..1).
    pub illumination: f32,
    /// Standard deviation of the sensor noise, grey levels.
    pub noise_sigma: f32,
}

impl Default for PalmNoise {
    fn default() -> Self {
        Self { rotation_deg: 4.0, translation_px: 5.0, scale: 0.04, illumination: 0.3, noise_sigma: 5.0 }
    }
}

impl PalmNoise {
    /// The master itself.
    pub fn none() -> Self {
        Self { rotation_deg: 0.0, translation_px: 0.0, scale: 0.0, illumination: 0.0, noise_sigma: 0.0 }
    }
}

/// A master palm: its darkness map (0 skin … 1 the darkest vessel) over the canvas.
#[derive(Clone)]
pub struct SyntheticPalm {
    seed: u64,
    dark: Vec<f32>,
}

impl std::fmt::Debug for SyntheticPalm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SyntheticPalm(seed {})", self.seed)
    }
}

/// Darkens the canvas along a segment with a Gaussian cross-section (max-combined, as overlapping vessels
/// do not absorb twice).
fn stroke(dark: &mut [f32], a: (f32, f32), b: (f32, f32), width: f32, depth: f32) {
    let reach = width * 2.5;
    let (x0, x1) = ((a.0.min(b.0) - reach).max(0.0) as usize, ((a.0.max(b.0) + reach) as usize).min(CANVAS - 1));
    let (y0, y1) = ((a.1.min(b.1) - reach).max(0.0) as usize, ((a.1.max(b.1) + reach) as usize).min(CANVAS - 1));
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = (dx * dx + dy * dy).max(1e-6);
    let inv = 1.0 / (2.0 * width * width);
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (px, py) = (x as f32 - a.0, y as f32 - a.1);
            let t = ((px * dx + py * dy) / len2).clamp(0.0, 1.0);
            let (ex, ey) = (px - t * dx, py - t * dy);
            let v = depth * (-(ex * ex + ey * ey) * inv).exp();
            let cell = &mut dark[y * CANVAS + x];
            if v > *cell {
                *cell = v;
            }
        }
    }
}

impl SyntheticPalm {
    pub fn new(seed: u64) -> SyntheticPalm {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x7061_6c6d_7665_696e);
        let mut dark = vec![0.0f32; CANVAS * CANVAS];
        let c = CANVAS as f32;
        // Vessel trees: trunks enter from the wrist side (bottom) and the palm's edges, wander upward with
        // persistence, branch and taper.
        let trunks = rng.random_range(5..=8);
        let mut stack: Vec<((f32, f32), f32, f32, u32)> = Vec::new();
        for _ in 0..trunks {
            let side: u8 = rng.random_range(0..4);
            let (p, dir) = match side {
                0 | 1 => ((rng.random_range(0.1..0.9) * c, c), -PI / 2.0 + rng.random_range(-0.8..0.8)),
                2 => ((0.0, rng.random_range(0.3..1.0) * c), -PI / 4.0 + rng.random_range(-0.4..0.4)),
                _ => ((c, rng.random_range(0.3..1.0) * c), -3.0 * PI / 4.0 + rng.random_range(-0.4..0.4)),
            };
            stack.push((p, dir, rng.random_range(2.2..3.2), 0));
        }
        let mut segments = 0;
        while let Some((mut p, mut dir, mut width, depth)) = stack.pop() {
            let steps = rng.random_range(15..40);
            for _ in 0..steps {
                dir += rng.random_range(-0.35..0.35);
                let len = rng.random_range(4.0..7.0);
                let q = (p.0 + dir.cos() * len, p.1 + dir.sin() * len);
                stroke(&mut dark, p, q, width, 0.55 + 0.1 * width.min(3.0));
                segments += 1;
                p = q;
                if p.0 < -10.0 || p.1 < -10.0 || p.0 > c + 10.0 || p.1 > c + 10.0 {
                    break;
                }
                width *= 0.985;
                if depth < 3 && rng.random_bool(0.07) && segments < 600 {
                    let turn = if rng.random_bool(0.5) { 1.0 } else { -1.0 } * rng.random_range(0.4..1.0);
                    stack.push((p, dir + turn, width * 0.7, depth + 1));
                }
            }
        }
        // Flexion creases: two to four long, faint, gently curved lines, placed and turned per palm (the
        // principal lines differ between people more than their names suggest).
        let creases = rng.random_range(2..=4);
        for _ in 0..creases {
            let mut p = (rng.random_range(-5.0..20.0), rng.random_range(0.1..0.9) * c);
            let mut dir: f32 = rng.random_range(-0.7..0.7);
            let bend = rng.random_range(-0.04..0.04);
            while p.0 < c + 5.0 {
                dir += bend;
                let q = (p.0 + dir.cos() * 6.0, p.1 + dir.sin() * 6.0);
                stroke(&mut dark, p, q, rng.random_range(1.0..1.8), 0.3);
                p = q;
                if !(-20.0..c + 20.0).contains(&p.1) {
                    break;
                }
            }
        }
        SyntheticPalm { seed, dark }
    }

    /// Impression `n`: a [`ROI_SIDE`]² 8-bit region as the region-of-interest step would deliver it.
    pub fn impression(&self, n: u64, noise: &PalmNoise) -> Vec<u8> {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n);
        let mut sym = |a: f32| if a > 0.0 { rng.random_range(-a..a) } else { 0.0 };
        let rot = sym(noise.rotation_deg).to_radians();
        let (tx, ty) = (sym(noise.translation_px), sym(noise.translation_px));
        let scale = 1.0 + sym(noise.scale);
        let (gx, gy) = (sym(noise.illumination), sym(noise.illumination));
        let exposure = 1.0 + sym(noise.illumination * 0.5);
        let sigma = noise.noise_sigma;
        let (s, co) = rot.sin_cos();
        let half = ROI_SIDE as f32 / 2.0;
        let cc = CANVAS as f32 / 2.0;
        let mut out = Vec::with_capacity(ROI_SIDE * ROI_SIDE);
        for y in 0..ROI_SIDE {
            for x in 0..ROI_SIDE {
                let (u, v) = ((x as f32 - half) * scale, (y as f32 - half) * scale);
                let (cx, cy) = (cc + u * co - v * s + tx, cc + u * s + v * co + ty);
                let d = sample(&self.dark, cx, cy);
                // NIR skin: bright, brighter in the palm's centre; vessels absorb.
                let (nx, ny) = (x as f32 / half - 1.0, y as f32 / half - 1.0);
                let light = (1.0 - 0.15 * (nx * nx + ny * ny)) * (1.0 + 0.5 * (gx * nx + gy * ny)) * exposure;
                let skin = 150.0 * light;
                let mut val = skin * (1.0 - 0.35 * d);
                if sigma > 0.0 {
                    // Sum of uniforms ≈ Gaussian, cheap and deterministic.
                    let g: f32 = (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>() * 0.866;
                    val += g * sigma;
                }
                out.push(val.round().clamp(0.0, 255.0) as u8);
            }
        }
        out
    }
}

fn sample(m: &[f32], x: f32, y: f32) -> f32 {
    let max = (CANVAS - 1) as f32;
    let (x, y) = (x.clamp(0.0, max), y.clamp(0.0, max));
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(CANVAS - 1), (y0 + 1).min(CANVAS - 1));
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let p = |x: usize, y: usize| m[y * CANVAS + x];
    p(x0, y0) * (1.0 - tx) * (1.0 - ty)
        + p(x1, y0) * tx * (1.0 - ty)
        + p(x0, y1) * (1.0 - tx) * ty
        + p(x1, y1) * tx * ty
}
