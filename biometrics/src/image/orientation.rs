//! The ridge orientation field: per block, the dominant ridge direction and how clear it is (coherence),
//! from averaged squared gradients (Kass & Witkin; Bazen & Gerez), which treats θ and θ+π alike.

use super::{GrayImage, Mask};
use std::f64::consts::PI;

#[derive(Debug, Clone, PartialEq)]
pub struct OrientationField {
    pub block: u32,
    pub blocks_x: u32,
    pub blocks_y: u32,
    /// Ridge direction in radians, 0..π, measured from the x axis towards +y (image rows go down).
    pub theta: Vec<f64>,
    /// 0 (no dominant direction) ..= 1 (perfectly parallel ridges).
    pub coherence: Vec<f64>,
}

impl OrientationField {
    pub fn at(&self, bx: u32, by: u32) -> (f64, f64) {
        let i = (by * self.blocks_x + bx) as usize;
        (self.theta[i], self.coherence[i])
    }

    /// Mean coherence over the foreground: a quality measure (smudged or dry prints have little).
    pub fn mean_coherence(&self, mask: &Mask) -> f64 {
        let mut s = 0.0;
        let mut n = 0usize;
        for by in 0..self.blocks_y {
            for bx in 0..self.blocks_x {
                if mask.is_fg(bx, by) {
                    s += self.at(bx, by).1;
                    n += 1;
                }
            }
        }
        if n == 0 { 0.0 } else { s / n as f64 }
    }
}

/// Computes the field in blocks of `block` pixels; gradients by Sobel, each block smoothed over its
/// 3×3 neighbourhood so a single noisy block does not turn.
pub fn orientation_field(img: &GrayImage, block: u32) -> OrientationField {
    let block = block.max(4);
    let (w, h) = (img.width as i64, img.height as i64);
    let (bxn, byn) = (img.width / block, img.height / block);
    let mut vx = vec![0f64; (bxn * byn) as usize];
    let mut vy = vec![0f64; (bxn * byn) as usize];
    let mut mag = vec![0f64; (bxn * byn) as usize];
    let p = |x: i64, y: i64| f64::from(img.at(x.clamp(0, w - 1) as u32, y.clamp(0, h - 1) as u32));
    for by in 0..byn {
        for bx in 0..bxn {
            let (mut sx, mut sy, mut sm) = (0.0, 0.0, 0.0);
            for y in (by * block) as i64..((by + 1) * block) as i64 {
                for x in (bx * block) as i64..((bx + 1) * block) as i64 {
                    let gx = (p(x + 1, y - 1) + 2.0 * p(x + 1, y) + p(x + 1, y + 1))
                        - (p(x - 1, y - 1) + 2.0 * p(x - 1, y) + p(x - 1, y + 1));
                    let gy = (p(x - 1, y + 1) + 2.0 * p(x, y + 1) + p(x + 1, y + 1))
                        - (p(x - 1, y - 1) + 2.0 * p(x, y - 1) + p(x + 1, y - 1));
                    sx += 2.0 * gx * gy;
                    sy += gx * gx - gy * gy;
                    sm += gx * gx + gy * gy;
                }
            }
            let i = (by * bxn + bx) as usize;
            vx[i] = sx;
            vy[i] = sy;
            mag[i] = sm;
        }
    }
    let mut theta = vec![0f64; vx.len()];
    let mut coherence = vec![0f64; vx.len()];
    for by in 0..byn as i64 {
        for bx in 0..bxn as i64 {
            let (mut sx, mut sy, mut sm) = (0.0, 0.0, 0.0);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (x, y) = (bx + dx, by + dy);
                    if x >= 0 && y >= 0 && x < i64::from(bxn) && y < i64::from(byn) {
                        let j = (y * i64::from(bxn) + x) as usize;
                        sx += vx[j];
                        sy += vy[j];
                        sm += mag[j];
                    }
                }
            }
            let i = (by * i64::from(bxn) + bx) as usize;
            // The gradient's doubled angle; ridges run perpendicular to it.
            let grad = 0.5 * sx.atan2(sy);
            theta[i] = (grad + PI / 2.0).rem_euclid(PI);
            coherence[i] = if sm > 0.0 { (sx * sx + sy * sy).sqrt() / sm } else { 0.0 };
        }
    }
    OrientationField { block, blocks_x: bxn, blocks_y: byn, theta, coherence }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parallel ridges running at `ridge_angle` (radians from +x towards +y), period 9 px (500 dpi).
    fn ridges(ridge_angle: f64) -> GrayImage {
        let (w, h) = (160u32, 160u32);
        // Intensity varies along the normal to the ridges.
        let (nx, ny) = ((ridge_angle + PI / 2.0).cos(), (ridge_angle + PI / 2.0).sin());
        let px = (0..h)
            .flat_map(|y| {
                (0..w).map(move |x| {
                    (128.0 + 100.0 * ((f64::from(x) * nx + f64::from(y) * ny) * 2.0 * PI / 9.0).cos()) as u8
                })
            })
            .collect();
        GrayImage::from_raw(w, h, 500, px).unwrap()
    }

    fn angle_diff(a: f64, b: f64) -> f64 {
        let d = (a - b).rem_euclid(PI);
        d.min(PI - d)
    }

    #[test]
    fn orientation_of_generated_ridges_is_recovered() {
        for deg in [0.0f64, 22.5, 45.0, 67.5, 90.0, 120.0, 150.0, 179.0] {
            let a = deg.to_radians();
            let f = orientation_field(&ridges(a), 16);
            let (t, c) = f.at(5, 5);
            assert!(angle_diff(t, a) < 4f64.to_radians(), "{deg}°: got {:.1}°", t.to_degrees());
            assert!(c > 0.8, "{deg}°: coherence {c}");
        }
    }

    #[test]
    fn noise_has_low_coherence() {
        let mut s: u64 = 0x1234_5678;
        let px = (0..160 * 160)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s & 0xff) as u8
            })
            .collect();
        let g = GrayImage::from_raw(160, 160, 500, px).unwrap();
        let f = orientation_field(&g, 16);
        let m = crate::image::segment(&g, 16);
        assert!(f.mean_coherence(&m) < 0.3, "{}", f.mean_coherence(&m));
    }
}
