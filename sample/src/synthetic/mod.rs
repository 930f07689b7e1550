//! Synthetic fingers (in the spirit of SFinGe, at the minutiae level): a master finger from an orientation
//! model with a core and a delta, minutiae placed with realistic spacing and ridge-flow directions; and
//! impressions of it with displacement, rotation, elastic distortion, partial contact, missed and spurious
//! minutiae. For the simulator, the demo and scale tests — never for accuracy claims on real sensors.

use crate::template::{Minutia, MinutiaKind, MinutiaeTemplate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::f32::consts::{PI, TAU};

const W: f32 = 320.0;
const H: f32 = 400.0;

/// How an impression differs from its master finger.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpressionNoise {
    pub rotation_deg: f32,
    pub translation_px: f32,
    pub distortion_px: f32,
    pub missing_rate: f32,
    pub spurious_rate: f32,
    pub angle_jitter_deg: f32,
    pub position_jitter_px: f32,
    /// Fraction of the print that may fall outside the contact area (partial contact).
    pub crop: f32,
}

impl Default for ImpressionNoise {
    fn default() -> Self {
        Self {
            rotation_deg: 15.0,
            translation_px: 25.0,
            distortion_px: 5.0,
            missing_rate: 0.15,
            spurious_rate: 0.10,
            angle_jitter_deg: 8.0,
            position_jitter_px: 2.5,
            crop: 0.2,
        }
    }
}

impl ImpressionNoise {
    /// No noise at all: the master's minutiae as they are.
    pub fn none() -> Self {
        Self {
            rotation_deg: 0.0,
            translation_px: 0.0,
            distortion_px: 0.0,
            missing_rate: 0.0,
            spurious_rate: 0.0,
            angle_jitter_deg: 0.0,
            position_jitter_px: 0.0,
            crop: 0.0,
        }
    }
}

#[derive(Clone, Copy)]
struct Master {
    x: f32,
    y: f32,
    t: f32,
    kind: MinutiaKind,
}

/// A master finger: its minutiae, in a frame of `w`×`h` pixels at 500 dpi that its impressions share.
#[derive(Clone)]
pub struct SyntheticFinger {
    minutiae: Vec<Master>,
    w: f32,
    h: f32,
}

impl std::fmt::Debug for SyntheticFinger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SyntheticFinger({} minutiae)", self.minutiae.len())
    }
}

/// Ridge orientation of the zero-pole model (Sherlock & Monro): half the difference of the arguments to the
/// delta and the core, plus a base rotation.
fn orientation(x: f32, y: f32, core: (f32, f32), delta: (f32, f32), base: f32) -> f32 {
    0.5 * ((y - delta.1).atan2(x - delta.0) - (y - core.1).atan2(x - core.0)) + base
}

fn inside(x: f32, y: f32, cx: f32, cy: f32, rx: f32, ry: f32) -> bool {
    ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0
}

impl SyntheticFinger {
    pub fn new(seed: u64) -> SyntheticFinger {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (cx, cy) = (W / 2.0 + rng.random_range(-15.0..15.0), H / 2.0 + rng.random_range(-15.0..15.0));
        let (rx, ry) = (rng.random_range(120.0..145.0), rng.random_range(165.0..190.0));
        let core = (cx + rng.random_range(-40.0..40.0), cy - rng.random_range(10.0..70.0));
        let delta = (cx + rng.random_range(-90.0..90.0), cy + rng.random_range(60.0..140.0));
        let base = rng.random_range(-0.3..0.3);
        let target = rng.random_range(38..62);
        let min_d: f32 = rng.random_range(17.0..22.0);
        let mut minutiae: Vec<Master> = Vec::with_capacity(target);
        let mut tries = 0;
        while minutiae.len() < target && tries < 20_000 {
            tries += 1;
            let x = rng.random_range(cx - rx..cx + rx);
            let y = rng.random_range(cy - ry..cy + ry);
            if !inside(x, y, cx, cy, rx * 0.95, ry * 0.95)
                || minutiae.iter().any(|m| (m.x - x).powi(2) + (m.y - y).powi(2) < min_d * min_d)
            {
                continue;
            }
            // Minutiae follow the ridge flow; an ending points one way or the other along it.
            let flow = orientation(x, y, core, delta, base);
            let t =
                (flow + if rng.random_bool(0.5) { 0.0 } else { PI } + rng.random_range(-0.12..0.12)).rem_euclid(TAU);
            let kind = if rng.random_bool(0.58) { MinutiaKind::Ending } else { MinutiaKind::Bifurcation };
            minutiae.push(Master { x, y, t, kind });
        }
        SyntheticFinger { minutiae, w: W, h: H }
    }

    /// A master finger whose minutiae are given, in the template's own frame: e.g. those a real extractor
    /// found on a clean impression of a [`SyntheticPrint`], so that minutiae-level impressions and image
    /// impressions are of one finger (the simulator's people, issue 22 §5). Angles and kinds are read back
    /// as [`impression`](Self::impression) writes them (ISO/IEC 19794-2: counter-clockwise, y up).
    pub fn from_minutiae(master: &MinutiaeTemplate) -> SyntheticFinger {
        let minutiae = master
            .minutiae
            .iter()
            .map(|m| Master {
                x: f32::from(m.x),
                y: f32::from(m.y),
                t: (-(f32::from(m.angle) / 256.0) * TAU).rem_euclid(TAU),
                kind: m.kind,
            })
            .collect();
        SyntheticFinger { minutiae, w: f32::from(master.width.max(1)), h: f32::from(master.height.max(1)) }
    }

    pub fn master_count(&self) -> usize {
        self.minutiae.len()
    }

    pub fn impression(&self, seed: u64, n: &ImpressionNoise) -> MinutiaeTemplate {
        let (w, h) = (self.w, self.h);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_1234_abcd_0001);
        let sym = |rng: &mut ChaCha8Rng, a: f32| {
            if a > 0.0 { rng.random_range(-a..a) } else { 0.0 }
        };
        let rot = sym(&mut rng, n.rotation_deg).to_radians();
        let (tx, ty) = (sym(&mut rng, n.translation_px), sym(&mut rng, n.translation_px));
        // Elastic distortion: a few smooth Gaussian displacement bumps.
        let bumps: Vec<(f32, f32, f32, f32)> = (0..3)
            .map(|_| {
                (
                    rng.random_range(0.0..w),
                    rng.random_range(0.0..h),
                    sym(&mut rng, n.distortion_px),
                    sym(&mut rng, n.distortion_px),
                )
            })
            .collect();
        // Partial contact: an ellipse of the print that touched the sensor.
        let (ccx, ccy) = (w / 2.0 + sym(&mut rng, n.crop * w * 0.5), h / 2.0 + sym(&mut rng, n.crop * h * 0.5));
        let (crx, cry) = (w * (0.5 - n.crop * 0.15), h * (0.5 - n.crop * 0.15));
        let (sn, cs) = rot.sin_cos();
        let mut out = Vec::with_capacity(self.minutiae.len() + 8);
        let push = |x: f32, y: f32, t: f32, kind: MinutiaKind, q: u8, out: &mut Vec<Minutia>| {
            if (0.0..w).contains(&x) && (0.0..h).contains(&y) {
                // `t` is in image coordinates (y down); ISO/IEC 19794-2 angles turn counter-clockwise, y up.
                let angle = (((-t).rem_euclid(TAU) / TAU) * 256.0).round() as u32 % 256;
                out.push(Minutia { x: x as u16, y: y as u16, angle: angle as u8, kind, quality: q });
            }
        };
        for m in &self.minutiae {
            if n.crop > 0.0 && !inside(m.x, m.y, ccx, ccy, crx, cry) {
                continue;
            }
            if rng.random::<f32>() < n.missing_rate {
                continue;
            }
            let (mut x, mut y) = (m.x, m.y);
            for &(bx, by, dx, dy) in &bumps {
                let g = (-((x - bx).powi(2) + (y - by).powi(2)) / (2.0 * 80.0f32.powi(2))).exp();
                x += dx * g;
                y += dy * g;
            }
            let (dx, dy) = (x - w / 2.0, y - h / 2.0);
            let x = cs * dx - sn * dy + w / 2.0 + tx + sym(&mut rng, n.position_jitter_px);
            let y = sn * dx + cs * dy + h / 2.0 + ty + sym(&mut rng, n.position_jitter_px);
            let t = m.t + rot + sym(&mut rng, n.angle_jitter_deg).to_radians();
            // Endings and bifurcations are confused now and then, as real extractors do.
            let kind = if rng.random_bool(0.1) {
                if m.kind == MinutiaKind::Ending { MinutiaKind::Bifurcation } else { MinutiaKind::Ending }
            } else {
                m.kind
            };
            push(x, y, t, kind, rng.random_range(40..95), &mut out);
        }
        let spurious = (self.minutiae.len() as f32 * n.spurious_rate).round() as usize;
        for _ in 0..spurious {
            let (x, y) = (rng.random_range(ccx - crx..ccx + crx), rng.random_range(ccy - cry..ccy + cry));
            push(x, y, rng.random_range(0.0..TAU), MinutiaKind::Ending, rng.random_range(10..50), &mut out);
        }
        MinutiaeTemplate { width: w as u16, height: h as u16, resolution_dpi: 500, minutiae: out }
    }
}

mod print;
pub use print::{PRINT_H, PRINT_W, PrintNoise, SyntheticPrint};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finger_from_given_minutiae_presents_them_in_their_own_frame() {
        let given = MinutiaeTemplate {
            width: 256,
            height: 288,
            resolution_dpi: 500,
            minutiae: vec![
                Minutia { x: 10, y: 20, angle: 0, kind: MinutiaKind::Ending, quality: 60 },
                Minutia { x: 200, y: 250, angle: 77, kind: MinutiaKind::Bifurcation, quality: 60 },
                Minutia { x: 128, y: 144, angle: 255, kind: MinutiaKind::Ending, quality: 60 },
            ],
        };
        let f = SyntheticFinger::from_minutiae(&given);
        assert_eq!(f.master_count(), 3);
        // Without noise an impression is the master: positions, angles (read back as written) and frame.
        let clean = f.impression(1, &ImpressionNoise::none());
        assert_eq!((clean.width, clean.height), (256, 288));
        let key = |m: &Minutia| (m.x, m.y, m.angle);
        assert_eq!(
            clean.minutiae.iter().map(key).collect::<Vec<_>>(),
            given.minutiae.iter().map(key).collect::<Vec<_>>()
        );
        // With noise every minutia stays inside the frame given, not the generator's own 320×400.
        for seed in 0..50 {
            let t = f.impression(seed, &ImpressionNoise::default());
            assert!(t.minutiae.iter().all(|m| m.x < 256 && m.y < 288), "{seed}");
        }
    }
}
