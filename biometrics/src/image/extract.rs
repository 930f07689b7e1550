//! From a greyscale print to minutiae: normalisation, contextual (Gabor) enhancement along the orientation
//! field, binarisation, thinning (Zhang–Suen), crossing numbers, and removal of false minutiae (at the print's
//! border, and pairs too close to be real: spurs, bridges, breaks).

use super::{GrayImage, Mask, OrientationField, orientation_field, segment};
use crate::fingerprint::template::{Minutia, MinutiaKind, MinutiaeTemplate};
use std::f64::consts::PI;

const BLOCK: u32 = 16;
/// Ridge period at 500 dpi, in pixels (about 9 px, i.e. 0.46 mm).
const PERIOD: f64 = 9.0;
const ORIENTATIONS: usize = 16;
const KERNEL: i64 = 6;
/// Minutiae closer than this are mostly artefacts of noise or thinning.
const MIN_SEPARATION: f64 = 8.0;

/// Per-image quality: foreground coverage and ridge clarity, 0–100.
pub fn quality(mask: &Mask, field: &OrientationField) -> u8 {
    (100.0 * (mask.coverage().min(0.6) / 0.6) * field.mean_coherence(mask).min(1.0)).round() as u8
}

fn kernels() -> Vec<Vec<f64>> {
    let sigma = 4.0f64;
    (0..ORIENTATIONS)
        .map(|k| {
            let th = k as f64 * PI / ORIENTATIONS as f64;
            // Waves run across the ridges: along the normal to θ.
            let (nx, ny) = ((th + PI / 2.0).cos(), (th + PI / 2.0).sin());
            let mut kern = Vec::with_capacity(((2 * KERNEL + 1) * (2 * KERNEL + 1)) as usize);
            for y in -KERNEL..=KERNEL {
                for x in -KERNEL..=KERNEL {
                    let (xf, yf) = (x as f64, y as f64);
                    let u = xf * nx + yf * ny;
                    kern.push((-(xf * xf + yf * yf) / (2.0 * sigma * sigma)).exp() * (2.0 * PI * u / PERIOD).cos());
                }
            }
            let mean = kern.iter().sum::<f64>() / kern.len() as f64;
            kern.iter().map(|v| v - mean).collect()
        })
        .collect()
}

/// Ridges = true. Ridges are dark on the sensors we read; the image is normalised first.
fn binarise(img: &GrayImage, mask: &Mask, field: &OrientationField) -> Vec<bool> {
    let (w, h) = (img.width as i64, img.height as i64);
    let mean = img.pixels.iter().map(|p| f64::from(*p)).sum::<f64>() / img.pixels.len() as f64;
    let var = img.pixels.iter().map(|p| (f64::from(*p) - mean).powi(2)).sum::<f64>() / img.pixels.len() as f64;
    let sd = var.sqrt().max(1.0);
    let norm: Vec<f64> = img.pixels.iter().map(|p| (mean - f64::from(*p)) / sd).collect();
    let ks = kernels();
    let mut out = vec![false; norm.len()];
    for y in 0..h {
        for x in 0..w {
            let (bx, by) = ((x as u32) / BLOCK, (y as u32) / BLOCK);
            if !mask.is_fg(bx, by) {
                continue;
            }
            let th = field.at(bx.min(field.blocks_x - 1), by.min(field.blocks_y - 1)).0;
            let k = &ks[((th / PI * ORIENTATIONS as f64).round() as usize) % ORIENTATIONS];
            let mut s = 0.0;
            let mut i = 0;
            for dy in -KERNEL..=KERNEL {
                let yy = (y + dy).clamp(0, h - 1);
                for dx in -KERNEL..=KERNEL {
                    let xx = (x + dx).clamp(0, w - 1);
                    s += k[i] * norm[(yy * w + xx) as usize];
                    i += 1;
                }
            }
            // A flat patch (a gap between ridge ends) answers ~0 to every kernel: not a ridge.
            out[(y * w + x) as usize] = s > 0.5;
        }
    }
    out
}

/// Zhang–Suen thinning to one-pixel-wide ridges.
fn thin(bin: &mut [bool], w: usize, h: usize) {
    let at = |b: &[bool], x: usize, y: usize| b[y * w + x];
    loop {
        let mut changed = false;
        for pass in 0..2 {
            let mut del = Vec::new();
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    if !at(bin, x, y) {
                        continue;
                    }
                    let p = [
                        at(bin, x, y - 1),
                        at(bin, x + 1, y - 1),
                        at(bin, x + 1, y),
                        at(bin, x + 1, y + 1),
                        at(bin, x, y + 1),
                        at(bin, x - 1, y + 1),
                        at(bin, x - 1, y),
                        at(bin, x - 1, y - 1),
                    ];
                    let n = p.iter().filter(|v| **v).count();
                    let a = (0..8).filter(|&i| !p[i] && p[(i + 1) % 8]).count();
                    let (c1, c2) = if pass == 0 {
                        (p[0] && p[2] && p[4], p[2] && p[4] && p[6])
                    } else {
                        (p[0] && p[2] && p[6], p[0] && p[4] && p[6])
                    };
                    if (2..=6).contains(&n) && a == 1 && !c1 && !c2 {
                        del.push(y * w + x);
                    }
                }
            }
            changed |= !del.is_empty();
            for i in del {
                bin[i] = false;
            }
        }
        if !changed {
            break;
        }
    }
}

const N8: [(i64, i64); 8] = [(0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1)];

/// A thinned ridge map.
struct Skeleton<'a> {
    px: &'a [bool],
    w: i64,
    h: i64,
}

impl Skeleton<'_> {
    /// Follows a branch from `from` leaving through `first`, up to `len` steps; returns where it got.
    fn trace(&self, from: (i64, i64), first: (i64, i64), len: usize) -> (i64, i64) {
        trace(self.px, self.w, self.h, from, first, len)
    }
}

fn trace(sk: &[bool], w: i64, h: i64, (x, y): (i64, i64), (nx, ny): (i64, i64), len: usize) -> (i64, i64) {
    let (mut px, mut py, mut cx, mut cy) = (x, y, nx, ny);
    for _ in 0..len {
        let next = N8.iter().map(|(dx, dy)| (cx + dx, cy + dy)).find(|&(qx, qy)| {
            qx >= 0
                && qy >= 0
                && qx < w
                && qy < h
                && (qx, qy) != (px, py)
                && (qx, qy) != (x, y)
                && sk[(qy * w + qx) as usize]
        });
        match next {
            Some((qx, qy)) => {
                (px, py, cx, cy) = (cx, cy, qx, qy);
            }
            None => break,
        }
    }
    (cx, cy)
}

/// Extracts minutiae from a print image (any resolution; normalised to 500 dpi first).
pub fn extract_minutiae(input: &GrayImage) -> (MinutiaeTemplate, u8) {
    let img = input.normalised();
    let mask = segment(&img, BLOCK);
    let field = orientation_field(&img, BLOCK);
    let q = quality(&mask, &field);
    let (w, h) = (img.width as usize, img.height as usize);
    let mut sk = binarise(&img, &mask, &field);
    thin(&mut sk, w, h);
    let (wi, hi) = (w as i64, h as i64);
    // Inside the print, with a margin: minutiae at the print's edge are where ridges are cut, not end.
    let interior = |x: i64, y: i64| {
        let (bx, by) = (x as u32 / BLOCK, y as u32 / BLOCK);
        (-1i64..=1).all(|dy| {
            (-1i64..=1).all(|dx| {
                let (nx, ny) = (i64::from(bx) + dx, i64::from(by) + dy);
                nx >= 0 && ny >= 0 && mask.is_fg(nx as u32, ny as u32)
            })
        })
    };
    let skel = Skeleton { px: &sk, w: wi, h: hi };
    let mut found: Vec<(f64, f64, f64, MinutiaKind, u8)> = Vec::new();
    for y in 1..hi - 1 {
        for x in 1..wi - 1 {
            if !sk[(y * wi + x) as usize] || !interior(x, y) {
                continue;
            }
            let ring: Vec<bool> = N8.iter().map(|(dx, dy)| sk[((y + dy) * wi + x + dx) as usize]).collect();
            let cn = (0..8).filter(|&i| ring[i] != ring[(i + 1) % 8]).count() / 2;
            let nbrs: Vec<(i64, i64)> =
                N8.iter().zip(&ring).filter(|(_, on)| **on).map(|((dx, dy), _)| (x + dx, y + dy)).collect();
            let (kind, angle) = match (cn, nbrs.len()) {
                (1, _) => {
                    // An ending points away from its ridge.
                    let (ex, ey) = skel.trace((x, y), nbrs[0], 10);
                    (MinutiaKind::Ending, ((y - ey) as f64).atan2((x - ex) as f64))
                }
                (3, _) => {
                    // A bifurcation points along the branch that stands apart from the other two, reversed.
                    let ends: Vec<(f64, f64)> = nbrs
                        .iter()
                        .take(3)
                        .map(|&(nx, ny)| {
                            let (ex, ey) = skel.trace((x, y), (nx, ny), 10);
                            (((ey - y) as f64).atan2((ex - x) as f64), 0.0)
                        })
                        .collect();
                    if ends.len() < 3 {
                        continue;
                    }
                    let sep = |a: f64, b: f64| {
                        let d = (a - b).rem_euclid(2.0 * PI);
                        d.min(2.0 * PI - d)
                    };
                    let lone = (0..3)
                        .max_by(|&i, &j| {
                            let si: f64 = (0..3).filter(|&k| k != i).map(|k| sep(ends[i].0, ends[k].0)).sum();
                            let sj: f64 = (0..3).filter(|&k| k != j).map(|k| sep(ends[j].0, ends[k].0)).sum();
                            si.total_cmp(&sj)
                        })
                        .unwrap_or(0);
                    (MinutiaKind::Bifurcation, ends[lone].0 + PI)
                }
                _ => continue,
            };
            let (bx, by) = ((x as u32 / BLOCK).min(field.blocks_x - 1), (y as u32 / BLOCK).min(field.blocks_y - 1));
            let mq = (field.at(bx, by).1 * 100.0).round().clamp(1.0, 100.0) as u8;
            // Image rows go down; ISO angles turn counter-clockwise with y up.
            found.push((x as f64, y as f64, -angle, kind, mq));
        }
    }
    // Pairs closer than a ridge period are spurs, bridges or breaks: drop both.
    let mut keep = vec![true; found.len()];
    for i in 0..found.len() {
        for j in i + 1..found.len() {
            let d = ((found[i].0 - found[j].0).powi(2) + (found[i].1 - found[j].1).powi(2)).sqrt();
            if d < MIN_SEPARATION {
                keep[i] = false;
                keep[j] = false;
            }
        }
    }
    let minutiae = found
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|((x, y, a, kind, q), _)| Minutia {
            x: *x as u16,
            y: *y as u16,
            angle: ((a.rem_euclid(2.0 * PI) / (2.0 * PI) * 256.0).round() as u32 % 256) as u8,
            kind: *kind,
            quality: *q,
        })
        .collect();
    (MinutiaeTemplate { width: img.width as u16, height: img.height as u16, resolution_dpi: img.dpi, minutiae }, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Horizontal dark ridges, period 9, with the middle ridge cut between x = 60 and x = 100: two endings
    /// at known places, facing each other.
    fn broken_ridge() -> GrayImage {
        let (w, h) = (160u32, 160u32);
        let mut px = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                let phase = (f64::from(y) * 2.0 * PI / PERIOD).cos();
                let on_cut_ridge = (f64::from(y) / PERIOD).round() as u32 == 9 && (60..100).contains(&x);
                let v = if phase > 0.3 && !on_cut_ridge { 40 } else { 210 };
                px.push(v);
            }
        }
        GrayImage::from_raw(w, h, 500, px).unwrap()
    }

    #[test]
    fn endings_of_a_cut_ridge_are_found_where_they_are() {
        let (t, _) = extract_minutiae(&broken_ridge());
        let y0 = 9.0 * PERIOD;
        let near =
            |x: f64| t.minutiae.iter().find(|m| (f64::from(m.x) - x).abs() < 6.0 && (f64::from(m.y) - y0).abs() < 4.0);
        let left = near(60.0).expect("ending at the left end of the cut");
        let right = near(99.0).expect("ending at the right end of the cut");
        assert_eq!(left.kind, MinutiaKind::Ending);
        assert_eq!(right.kind, MinutiaKind::Ending);
        // The left ending points right (angle 0), the right one points left (128 = 180°).
        let off = |a: u8, want: u8| (a.wrapping_sub(want) as i8).unsigned_abs();
        assert!(off(left.angle, 0) < 16, "left angle {}", left.angle);
        assert!(off(right.angle, 128) < 16, "right angle {}", right.angle);
        // Clean parallel ridges elsewhere produce no others.
        assert!(t.minutiae.len() <= 4, "spurious minutiae: {}", t.minutiae.len());
    }

    #[test]
    fn blank_and_noise_images_give_no_usable_template() {
        let blank = GrayImage::from_raw(128, 128, 500, vec![255; 128 * 128]).unwrap();
        let (t, q) = extract_minutiae(&blank);
        assert!(t.minutiae.is_empty());
        assert_eq!(q, 0);
    }
}
