//! Foreground segmentation: where the print is. Blocks whose grey levels vary like ridges do are
//! foreground; flat blocks (background, a smudge-free glass) are not. A majority filter removes isolated
//! blocks so a speck of dust does not become a print and a flat patch inside a print is kept.

use super::GrayImage;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mask {
    pub block: u32,
    pub blocks_x: u32,
    pub blocks_y: u32,
    pub fg: Vec<bool>,
}

impl Mask {
    pub fn is_fg(&self, bx: u32, by: u32) -> bool {
        bx < self.blocks_x && by < self.blocks_y && self.fg[(by * self.blocks_x + bx) as usize]
    }

    /// Fraction of blocks that are foreground: a poor or empty capture has little.
    pub fn coverage(&self) -> f64 {
        if self.fg.is_empty() {
            return 0.0;
        }
        self.fg.iter().filter(|b| **b).count() as f64 / self.fg.len() as f64
    }
}

/// Segments `img` in blocks of `block` pixels.
pub fn segment(img: &GrayImage, block: u32) -> Mask {
    let block = block.max(4);
    let (bxn, byn) = (img.width / block, img.height / block);
    let mut std = vec![0f64; (bxn * byn) as usize];
    for by in 0..byn {
        for bx in 0..bxn {
            let (mut s, mut s2) = (0f64, 0f64);
            for y in by * block..(by + 1) * block {
                for x in bx * block..(bx + 1) * block {
                    let v = f64::from(img.at(x, y));
                    s += v;
                    s2 += v * v;
                }
            }
            let n = f64::from(block * block);
            let mean = s / n;
            std[(by * bxn + bx) as usize] = (s2 / n - mean * mean).max(0.0).sqrt();
        }
    }
    let max = std.iter().cloned().fold(0.0, f64::max);
    // Absolute floor (sensor noise) and relative to the strongest ridges in this image.
    let threshold = (0.2 * max).max(6.0);
    let raw: Vec<bool> = std.iter().map(|s| *s >= threshold).collect();
    let mut fg = raw.clone();
    for by in 0..byn {
        for bx in 0..bxn {
            let mut votes = 0;
            let mut total = 0;
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (x, y) = (i64::from(bx) + dx, i64::from(by) + dy);
                    if x >= 0 && y >= 0 && x < i64::from(bxn) && y < i64::from(byn) {
                        total += 1;
                        votes += i32::from(raw[(y * i64::from(bxn) + x) as usize]);
                    }
                }
            }
            fg[(by * bxn + bx) as usize] = votes * 2 > total;
        }
    }
    Mask { block, blocks_x: bxn, blocks_y: byn, fg }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ridges in a centred disc, flat grey around it.
    fn disc() -> GrayImage {
        let (w, h) = (256u32, 256u32);
        let mut px = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = (f64::from(x) - 128.0, f64::from(y) - 128.0);
                let inside = dx * dx + dy * dy < 80.0 * 80.0;
                let v = if inside { 128.0 + 90.0 * (f64::from(x) * std::f64::consts::TAU / 9.0).cos() } else { 200.0 };
                px.push(v as u8);
            }
        }
        GrayImage::from_raw(w, h, 500, px).unwrap()
    }

    #[test]
    fn ridges_are_foreground_and_flat_is_not() {
        let m = segment(&disc(), 16);
        assert_eq!((m.blocks_x, m.blocks_y), (16, 16));
        assert!(m.is_fg(8, 8), "centre");
        assert!(!m.is_fg(0, 0) && !m.is_fg(15, 15), "corners");
        let c = m.coverage();
        assert!(c > 0.25 && c < 0.45, "disc of radius 80 in 256²: {c}");
    }

    #[test]
    fn blank_images_have_no_foreground() {
        for v in [0u8, 255] {
            let g = GrayImage::from_raw(128, 128, 500, vec![v; 128 * 128]).unwrap();
            assert_eq!(segment(&g, 16).coverage(), 0.0);
        }
    }
}
