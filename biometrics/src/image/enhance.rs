//! Contextual enhancement of a print: local normalisation, a fine orientation field from smoothed
//! gradient tensors, foreground segmentation, ridge period per block, and filtering with Gabor kernels
//! tuned to each pixel's orientation and period (Hong, Wan & Jain 1998). The output is signed: negative on
//! ridges (dark on every sensor we read), positive in valleys, zero outside the print.
//!
//! All in `f32` over padded buffers so the filter's inner loop is a plain multiply-add over precomputed
//! offsets, run over several pixels of one kernel at once (bit for bit the one-pixel sums: the tests keep
//! the one-pixel filter to check it); one 500 dpi print takes a few tens of milliseconds on one core.

use super::GrayImage;
use super::window::box_mean_var;
use std::f32::consts::PI;

/// Block size of the orientation, period and foreground grids, in pixels at 500 dpi.
pub const B: usize = 8;
/// Gabor orientations (11.25° apart) and the period step of the kernel bank.
const ORIENTATIONS: usize = 16;
const PERIOD_MIN: f32 = 5.0;
const PERIOD_MAX: f32 = 15.0;
const PERIOD_STEP: f32 = 0.5;
/// Kernel half-size: covers 2.5 σ along the ridge for the longest period.
const R: usize = 8;
/// A block is print when its grey-level spread is over 0.28 of the image's 95th-percentile block's and over
/// this many grey levels: the relative rule finds the print on any sensor, the floor only keeps a nearly
/// flat capture (an empty glass, sensor noise of a grey level or two) from being searched for ridges. It
/// was 6 until session 22, an absolute contrast the faint sensors' prints fall under: FVC2000 DB1 (the
/// faintest shared set, its prints' 95th-percentile spread 12–32) at half its contrast (`tobira-bench
/// fingerprint --contrast 0.5`) lost whole regions of its prints, 8 of 80 failed to enrol and the
/// all-pairs EER went 2.85 → 16.78 % (×0.35: 38 of 80, 40.38 %). At 2: 0 refused, 3.22 % and 3.57 %. What
/// it costs is the faint skin of DB1's own faintest finger (110, spread 12–20), which the floor at 6 had
/// cut off and which now gives minutiae less consistent than the rest: DB1's EER 2.85 → 3.22 % (mean of
/// five readings 3.17 → 3.36), a door of one 1.5 → 2.8 % of genuine attempts refused; no other shared set
/// has a block the old floor decided (docs/accuracy-journal.md, "Session 22").
const SEGMENT_FLOOR: f32 = 2.0;

/// The block grids an enhanced print carries, for minutia detection and quality.
pub struct Field {
    pub bw: usize,
    pub bh: usize,
    /// Ridge direction in radians, 0..π, from the x axis towards +y (image rows go down).
    pub theta: Vec<f32>,
    /// 0 (no dominant direction) ..= 1 (parallel ridges).
    pub coherence: Vec<f32>,
    /// Ridge period in pixels.
    pub period: Vec<f32>,
    /// The print's area, after clean-up (largest region, holes filled).
    pub fg: Vec<bool>,
    /// Distance from each foreground block to the nearest background block, in blocks (chessboard).
    pub depth: Vec<u16>,
    /// In the trial whose print's area reaches the image's edge ([`super::Trial::edge_is_print`]), the depth
    /// of each block in the area cleaned up the daemon's way (the image's edge as background); `None` in the
    /// daemon's extractor, where that area is [`Field::fg`] and its depth [`Field::depth`]. See
    /// [`Field::weight_depth`].
    pub daemon_area_depth: Option<Vec<u16>>,
}

impl Field {
    /// The depth a minutia's weight is taken from, and the area the print's median ridge period is taken
    /// over (a depth above 0): always the daemon's area. In the edge trial, weighed by the trial's own depth,
    /// the minutiae near the edge of a full print cost the development sets more (five readings, EER %, both
    /// with the median ridge period over the whole area: DB2 4.14 → 4.70, DB3 5.94 → 6.28, against 4.36 and
    /// 6.06 weighed this way; `docs/accuracy-journal.md`, "Session 23"). Near the image's edge a ridge is
    /// cut rather than ended, and the filter there sees zeros beyond the image.
    pub fn weight_depth(&self, b: usize) -> u16 {
        self.daemon_area_depth.as_ref().map_or(self.depth[b], |d| d[b])
    }

    pub fn block_of(&self, x: usize, y: usize) -> usize {
        (y / B).min(self.bh - 1) * self.bw + (x / B).min(self.bw - 1)
    }

    pub fn coverage(&self) -> f32 {
        self.fg.iter().filter(|b| **b).count() as f32 / self.fg.len().max(1) as f32
    }

    pub fn mean_coherence(&self) -> f32 {
        let (s, n) =
            self.fg.iter().zip(&self.coherence).filter(|(f, _)| **f).fold((0.0, 0), |(s, n), (_, c)| (s + c, n + 1));
        if n == 0 { 0.0 } else { s / n as f32 }
    }
}

pub struct Enhanced {
    pub width: usize,
    pub height: usize,
    /// Signed filter response; ridges < 0.
    pub response: Vec<f32>,
    pub field: Field,
}

/// Separable Gaussian smoothing of a block grid (values outside the grid are skipped, not zero).
fn smooth_grid(v: &[f32], weight: &[f32], bw: usize, bh: usize, sigma: f32) -> Vec<f32> {
    let r = (2.0 * sigma).ceil() as isize;
    let k: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let pass = |src: &[f32], wsrc: &[f32], horizontal: bool| -> (Vec<f32>, Vec<f32>) {
        let mut out = vec![0f32; bw * bh];
        let mut wout = vec![0f32; bw * bh];
        for y in 0..bh as isize {
            for x in 0..bw as isize {
                let (mut s, mut ws) = (0f32, 0f32);
                for (i, kv) in (-r..=r).zip(&k) {
                    let (xx, yy) = if horizontal { (x + i, y) } else { (x, y + i) };
                    if xx < 0 || yy < 0 || xx >= bw as isize || yy >= bh as isize {
                        continue;
                    }
                    let j = yy as usize * bw + xx as usize;
                    s += kv * src[j];
                    ws += kv * wsrc[j];
                }
                let j = y as usize * bw + x as usize;
                out[j] = s;
                wout[j] = ws;
            }
        }
        (out, wout)
    };
    let pre: Vec<f32> = v.iter().zip(weight).map(|(a, b)| a * b).collect();
    let (h1, w1) = pass(&pre, weight, true);
    let (h2, w2) = pass(&h1, &w1, false);
    h2.iter().zip(&w2).map(|(s, w)| if *w > 1e-6 { s / w } else { 0.0 }).collect()
}

/// Foreground clean-up: closing, opening, the largest 4-connected region, holes filled.
///
/// `edge_is_print` (an extraction trial, not the daemon's): a neighbour beyond the grid counts as the block
/// itself, not as background — the image's edge is not the print's edge. Counted as background (the
/// daemon's), the closing's erosion eats the outermost ring of blocks wherever a print reaches the image's
/// edge, and the border rule then drops the next: no minutia within 16 px of the edge, which on a 260 px
/// window (a small sensor) is a third of its area. In the trial the minutiae's weights still come from the
/// area cleaned up the daemon's way ([`Field::weight_depth`]).
fn clean_mask(fg: &mut [bool], bw: usize, bh: usize, edge_is_print: bool) {
    let morph = |src: &[bool], dilate: bool| -> Vec<bool> {
        let mut out = src.to_vec();
        for y in 0..bh {
            for x in 0..bw {
                let mut any = false;
                let mut all = true;
                for (dx, dy) in [(0isize, 0isize), (1, 0), (-1, 0), (0, 1), (0, -1)] {
                    let (xx, yy) = (x as isize + dx, y as isize + dy);
                    let inside = xx >= 0 && yy >= 0 && xx < bw as isize && yy < bh as isize;
                    let v = if inside { src[yy as usize * bw + xx as usize] } else { edge_is_print && src[y * bw + x] };
                    any |= v;
                    all &= v;
                }
                out[y * bw + x] = if dilate { any } else { all };
            }
        }
        out
    };
    let closed = morph(&morph(fg, true), false);
    let opened = morph(&morph(&closed, false), true);
    let (region, _) = super::region::largest_filled(&opened, bw, bh);
    fg.copy_from_slice(&region);
}

/// Chessboard distance to the nearest background block (blocks beyond the grid count as background).
fn depth(fg: &[bool], bw: usize, bh: usize) -> Vec<u16> {
    let mut d: Vec<u16> = fg.iter().map(|f| if *f { u16::MAX } else { 0 }).collect();
    let get = |d: &[u16], x: isize, y: isize| -> u16 {
        if x < 0 || y < 0 || x >= bw as isize || y >= bh as isize { 0 } else { d[y as usize * bw + x as usize] }
    };
    for y in 0..bh as isize {
        for x in 0..bw as isize {
            let i = y as usize * bw + x as usize;
            if d[i] == 0 {
                continue;
            }
            let m = [get(&d, x - 1, y), get(&d, x, y - 1), get(&d, x - 1, y - 1), get(&d, x + 1, y - 1)];
            d[i] = d[i].min(m.iter().min().copied().unwrap_or(0).saturating_add(1));
        }
    }
    for y in (0..bh as isize).rev() {
        for x in (0..bw as isize).rev() {
            let i = y as usize * bw + x as usize;
            if d[i] == 0 {
                continue;
            }
            let m = [get(&d, x + 1, y), get(&d, x, y + 1), get(&d, x + 1, y + 1), get(&d, x - 1, y + 1)];
            d[i] = d[i].min(m.iter().min().copied().unwrap_or(0).saturating_add(1));
        }
    }
    d
}

/// `v.round() as usize` for a non-negative `v` below 2²³, without the library's rounding: the integer part,
/// plus one when what is left is a half or more (that difference is exact in `f32`). The ridge-period
/// profile rounds twice per sample, half a million times per print, and the library's `round` was a
/// quarter of that work (session 25).
fn round_nonneg(v: f32) -> usize {
    // Through `i32`: one instruction each way, where `usize`'s saturating conversion takes a dozen.
    let t = v as i32;
    (t + i32::from(v - t as f32 >= 0.5)).max(0) as usize
}

/// Ridge period of one block from the grey-level profile across the ridges (the "x-signature"): the mean
/// distance between successive maxima, or `None` where the profile shows no clear ridges.
fn block_period(n: &[f32], w: usize, h: usize, cx: f32, cy: f32, theta: f32) -> Option<f32> {
    const L: usize = 32;
    const WIDTH: isize = 8;
    let (tx, ty) = (theta.cos(), theta.sin());
    let (nx, ny) = (-ty, tx);
    let mut sig = [0f32; L];
    for (k, s) in sig.iter_mut().enumerate() {
        let u = k as f32 - (L as f32 - 1.0) / 2.0;
        let mut acc = 0.0;
        let mut cnt = 0;
        for j in -WIDTH..=WIDTH {
            let x = cx + u * nx + j as f32 * tx;
            let y = cy + u * ny + j as f32 * ty;
            if x < 0.0 || y < 0.0 || x >= (w - 1) as f32 || y >= (h - 1) as f32 {
                continue;
            }
            acc += n.get(round_nonneg(y) * w + round_nonneg(x)).copied().unwrap_or(0.0);
            cnt += 1;
        }
        *s = if cnt > 0 { acc / cnt as f32 } else { 0.0 };
    }
    let sm: Vec<f32> =
        (0..L).map(|i| (sig[i.saturating_sub(1)] + 2.0 * sig[i] + sig[(i + 1).min(L - 1)]) / 4.0).collect();
    let (mut first, mut last, mut peaks) = (0usize, 0usize, 0usize);
    let (lo, hi) = sm.iter().fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    if hi - lo < 0.5 {
        return None;
    }
    for i in 1..L - 1 {
        if sm[i] > sm[i - 1] && sm[i] >= sm[i + 1] && sm[i] > lo + 0.3 * (hi - lo) {
            if peaks == 0 {
                first = i;
            }
            last = i;
            peaks += 1;
        }
    }
    if peaks < 2 {
        return None;
    }
    let p = (last - first) as f32 / (peaks - 1) as f32;
    (PERIOD_MIN - 1.0..=PERIOD_MAX + 2.0).contains(&p).then_some(p)
}

/// A Gabor kernel as (offset into the padded image, weight) taps, zero mean.
fn kernel(theta: f32, period: f32, stride: isize) -> Vec<(isize, f32)> {
    let su = 0.42 * period; // across the ridges
    let sv = 0.65 * period; // along them: bridges breaks, averages out pores and scratches
    let (tx, ty) = (theta.cos(), theta.sin());
    let mut taps = Vec::new();
    let r = R as isize;
    for dy in -r..=r {
        for dx in -r..=r {
            let (x, y) = (dx as f32, dy as f32);
            let v = x * tx + y * ty;
            let u = -x * ty + y * tx;
            let env = (-(u * u) / (2.0 * su * su) - (v * v) / (2.0 * sv * sv)).exp();
            if env < 0.01 {
                continue;
            }
            taps.push((dy * stride + dx, env * (2.0 * PI * u / period).cos()));
        }
    }
    let mean = taps.iter().map(|t| t.1).sum::<f32>() / taps.len().max(1) as f32;
    for t in &mut taps {
        t.1 -= mean;
    }
    taps
}

/// A print measured but not yet filtered: its block grids and what the Gabor stage reads. Split from
/// [`enhance`] so a caller can look at the ridge period first and resample before paying for the filter.
pub struct Analysis {
    width: usize,
    height: usize,
    /// The locally normalised image.
    n: Vec<f32>,
    /// The smoothed doubled-angle orientation, cosine and sine, per block.
    c2s: Vec<f32>,
    s2s: Vec<f32>,
    pub field: Field,
}

/// Enhances a 500 dpi print. Never panics on any image `GrayImage` accepts (at least 32×32).
pub fn enhance(img: &GrayImage) -> Enhanced {
    filter(analyse(img))
}

/// [`enhance`] with the print's area cleaned up with the image's edge as print (`edge_is_print`, the
/// extraction trial [`super::Trial::edge_is_print`]; see [`clean_mask`]).
pub fn enhance_with(img: &GrayImage, edge_is_print: bool) -> Enhanced {
    filter(analyse_with(img, edge_is_print))
}

/// The first stage of [`enhance`]: normalisation, orientation, foreground and ridge period.
pub fn analyse(img: &GrayImage) -> Analysis {
    analyse_with(img, false)
}

/// [`analyse`], the print's area cleaned up with the image's edge as print or as background (the daemon's).
pub fn analyse_with(img: &GrayImage, edge_is_print: bool) -> Analysis {
    let (w, h) = (img.width as usize, img.height as usize);
    let raw: Vec<f32> = img.pixels.iter().map(|p| f32::from(*p)).collect();
    let (bw, bh) = (w.div_ceil(B), h.div_ceil(B));

    // Local normalisation: zero mean, unit contrast over a window of about two ridge periods.
    let (mean, var) = box_mean_var(&raw, w, h, 8);
    let n: Vec<f32> = (0..w * h).map(|i| (raw[i] - mean[i]) / (var[i].sqrt() + 8.0)).collect();

    // Gradient tensors per block (Sobel on the raw image).
    let (mut gxx, mut gyy, mut gxy) = (vec![0f32; bw * bh], vec![0f32; bw * bh], vec![0f32; bw * bh]);
    let mut energy = vec![0f32; bw * bh];
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let p = |dx: isize, dy: isize| raw[(y as isize + dy) as usize * w + (x as isize + dx) as usize];
            let gx = (p(1, -1) + 2.0 * p(1, 0) + p(1, 1)) - (p(-1, -1) + 2.0 * p(-1, 0) + p(-1, 1));
            let gy = (p(-1, 1) + 2.0 * p(0, 1) + p(1, 1)) - (p(-1, -1) + 2.0 * p(0, -1) + p(1, -1));
            let b = (y / B) * bw + x / B;
            gxx[b] += gx * gx;
            gyy[b] += gy * gy;
            gxy[b] += gx * gy;
        }
    }
    // Grey-level spread per block (a 16×16 window around it) for the segmentation.
    let mut spread = vec![0f32; bw * bh];
    for by in 0..bh {
        for bx in 0..bw {
            let (cx, cy) = ((bx * B + B / 2).min(w - 1), (by * B + B / 2).min(h - 1));
            spread[by * bw + bx] = var[cy * w + cx].sqrt();
            energy[by * bw + bx] = gxx[by * bw + bx] + gyy[by * bw + bx];
        }
    }
    let ones = vec![1f32; bw * bh];
    let sxx = smooth_grid(&gxx, &ones, bw, bh, 1.5);
    let syy = smooth_grid(&gyy, &ones, bw, bh, 1.5);
    let sxy = smooth_grid(&gxy, &ones, bw, bh, 1.5);
    let mut coherence = vec![0f32; bw * bh];
    let (mut c2, mut s2) = (vec![0f32; bw * bh], vec![0f32; bw * bh]);
    for i in 0..bw * bh {
        let (a, b, c) = (sxx[i], syy[i], sxy[i]);
        let tot = a + b;
        coherence[i] = if tot > 1e-3 { ((a - b).powi(2) + 4.0 * c * c).sqrt() / tot } else { 0.0 };
        // Doubled gradient angle; the ridge runs across the gradient.
        let phi = (2.0 * c).atan2(a - b);
        c2[i] = -phi.cos();
        s2[i] = -phi.sin();
    }

    // Segmentation: the print varies like ridges do; the glass, the background and smudges do not.
    let mut sorted: Vec<f32> = spread.clone();
    sorted.sort_by(f32::total_cmp);
    let p95 = sorted[(sorted.len() as f32 * 0.95) as usize % sorted.len()];
    let limit = (0.28 * p95).max(SEGMENT_FLOOR);
    let mut fg: Vec<bool> = (0..bw * bh).map(|i| spread[i] > limit && coherence[i] > 0.05).collect();
    let daemon_area = edge_is_print.then(|| {
        let mut old = fg.clone();
        clean_mask(&mut old, bw, bh, false);
        old
    });
    clean_mask(&mut fg, bw, bh, edge_is_print);

    // A second, wider smoothing of the direction where ridges are unclear (coherence-weighted).
    let wgt: Vec<f32> = (0..bw * bh).map(|i| if fg[i] { coherence[i].max(0.02) } else { 0.001 }).collect();
    let c2s = smooth_grid(&c2, &wgt, bw, bh, 1.0);
    let s2s = smooth_grid(&s2, &wgt, bw, bh, 1.0);
    let theta: Vec<f32> = (0..bw * bh).map(|i| (0.5 * s2s[i].atan2(c2s[i])).rem_euclid(PI)).collect();

    // Ridge period per block; unclear blocks take their neighbours' (smoothed), then the print's median.
    let mut period = vec![0f32; bw * bh];
    let mut valid = vec![0f32; bw * bh];
    for by in 0..bh {
        for bx in 0..bw {
            let i = by * bw + bx;
            if !fg[i] {
                continue;
            }
            let (cx, cy) = ((bx * B) as f32 + B as f32 / 2.0, (by * B) as f32 + B as f32 / 2.0);
            if let Some(p) = block_period(&n, w, h, cx, cy, theta[i]) {
                period[i] = p;
                valid[i] = 1.0;
            }
        }
    }
    // The print's median period over the daemon's area even in the edge trial: taken over the kept edge
    // blocks it moved, and with it every block's clamp (session 23).
    let mut vals: Vec<f32> = period
        .iter()
        .zip(&valid)
        .enumerate()
        .filter(|(i, (_, v))| **v > 0.0 && daemon_area.as_ref().is_none_or(|o| o[*i]))
        .map(|(_, (p, _))| *p)
        .collect();
    vals.sort_by(f32::total_cmp);
    let med = if vals.is_empty() { 9.0 } else { vals[vals.len() / 2] };
    let smoothed = smooth_grid(&period, &valid, bw, bh, 2.0);
    for i in 0..bw * bh {
        let p = if smoothed[i] > 0.0 { smoothed[i] } else { med };
        period[i] = p.clamp(PERIOD_MIN.max(0.75 * med), PERIOD_MAX.min(1.3 * med));
    }

    let depth = depth(&fg, bw, bh);
    let daemon_area_depth = daemon_area.map(|old| self::depth(&old, bw, bh));
    let field = Field { bw, bh, theta, coherence, period, fg, depth, daemon_area_depth };
    Analysis { width: w, height: h, n, c2s, s2s, field }
}

/// The smoothed doubled-angle direction (sine, cosine) at pixel (`x`, `y`), interpolated bilinearly
/// between the centres of the four nearest blocks.
fn doubled_angle_at(x: usize, y: usize, bw: usize, bh: usize, s2s: &[f32], c2s: &[f32]) -> (f32, f32) {
    let fx = (x as f32 + 0.5) / B as f32 - 0.5;
    let fy = (y as f32 + 0.5) / B as f32 - 0.5;
    let (x0, y0) = (fx.floor().max(0.0) as usize, fy.floor().max(0.0) as usize);
    let (x1, y1) = ((x0 + 1).min(bw - 1), (y0 + 1).min(bh - 1));
    let (ax, ay) = ((fx - x0 as f32).clamp(0.0, 1.0), (fy - y0 as f32).clamp(0.0, 1.0));
    let mix = |v: &[f32]| {
        v[y0 * bw + x0] * (1.0 - ax) * (1.0 - ay)
            + v[y0 * bw + x1] * ax * (1.0 - ay)
            + v[y1 * bw + x0] * (1.0 - ax) * ay
            + v[y1 * bw + x1] * ax * ay
    };
    (mix(s2s), mix(c2s))
}

/// The Gabor bank's orientation for a doubled-angle direction (sine `s2`, cosine `c2`): the nearest of
/// [`ORIENTATIONS`] to half its angle. Exactly [`orientation_bin_exact`]'s answer, which this takes
/// wherever the angle is within a hundredth of a bin of a boundary between two (or is not a number):
/// elsewhere a polynomial arctangent, whose error (under 1e-5 rad) is a thousand times smaller than that
/// margin, gives the same bin without the library's `atan2` and `fmod`. Once per pixel of the print, the two
/// calls were a third of the filter's time (session 25).
fn orientation_bin(s2: f32, c2: f32) -> usize {
    let (ax, ay) = (c2.abs(), s2.abs());
    let (lo, hi) = if ax < ay { (ax, ay) } else { (ay, ax) };
    if hi == 0.0 || !lo.is_finite() || !hi.is_finite() {
        return orientation_bin_exact(s2, c2);
    }
    let a = lo / hi;
    let q = a * a;
    let mut r = ((-0.046_496_475 * q + 0.159_314_22) * q - 0.327_622_76) * q * a + a;
    if ay > ax {
        r = std::f32::consts::FRAC_PI_2 - r;
    }
    if c2 < 0.0 {
        r = PI - r;
    }
    if s2 < 0.0 {
        r = -r;
    }
    // Half the angle in bins of π / ORIENTATIONS: the doubled angle in bins of 2π / ORIENTATIONS.
    let bins = r * (ORIENTATIONS as f32 / (2.0 * PI));
    let nearest = bins.round();
    if (bins - nearest).abs() > 0.49 {
        return orientation_bin_exact(s2, c2);
    }
    (nearest as i32).rem_euclid(ORIENTATIONS as i32) as usize
}

/// The bank's orientation as the filter has always computed it: half the doubled angle in 0..π, rounded
/// to the nearest of [`ORIENTATIONS`].
fn orientation_bin_exact(s2: f32, c2: f32) -> usize {
    let th = (0.5 * s2.atan2(c2)).rem_euclid(PI);
    ((th / PI * ORIENTATIONS as f32).round() as usize) % ORIENTATIONS
}

/// A kernel's taps that lie side by side in one row, in the kernel's order: the first tap's offset into
/// the padded image and the weights along the row.
#[derive(Clone)]
struct Segment {
    off: isize,
    weights: Vec<f32>,
}

/// A kernel's taps ([`kernel`]) as runs of neighbouring pixels, in the same order.
fn segments(taps: &[(isize, f32)]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for &(off, wt) in taps {
        match out.last_mut() {
            Some(s) if s.off + s.weights.len() as isize == off => s.weights.push(wt),
            _ => out.push(Segment { off, weights: vec![wt] }),
        }
    }
    out
}

/// The filter's response at `L` neighbouring pixels of one kernel, the first at `base` in the padded image:
/// each lane the sum over the taps in their order, as one pixel alone would have it, held in registers.
/// Every tap is inside the padded image (it is padded by the kernel's half-size), so no segment is skipped.
fn filter_lanes<const L: usize>(segs: &[Segment], padded: &[f32], base: usize) -> [f32; L] {
    let mut acc = [0f32; L];
    for seg in segs {
        let start = base.wrapping_add_signed(seg.off);
        let Some(src) = padded.get(start..start + seg.weights.len() + L - 1) else { continue };
        for (wt, win) in seg.weights.iter().zip(src.windows(L)) {
            for (a, p) in acc.iter_mut().zip(win) {
                *a += wt * p;
            }
        }
    }
    acc
}

/// The second stage of [`enhance`]: each pixel filtered with the Gabor kernel of its orientation and period.
pub fn filter(a: Analysis) -> Enhanced {
    let Analysis { width: w, height: h, n, c2s, s2s, field } = a;
    let (bw, bh) = (field.bw, field.bh);
    let (fg, period) = (&field.fg, &field.period);
    // Gabor filtering over a zero-padded copy of the normalised image.
    let stride = w + 2 * R;
    let mut padded = vec![0f32; stride * (h + 2 * R)];
    for y in 0..h {
        padded[(y + R) * stride + R..(y + R) * stride + R + w].copy_from_slice(&n[y * w..(y + 1) * w]);
    }
    let nper = ((PERIOD_MAX - PERIOD_MIN) / PERIOD_STEP).round() as usize + 1;
    let mut bank: Vec<Option<Vec<Segment>>> = vec![None; ORIENTATIONS * nper];
    let mut response = vec![0f32; w * h];
    // Each row's pixels are filtered in runs that share a kernel, tap by tap across the run: the same sums
    // in the same order per pixel as one pixel at a time, so bit for bit the same response, but the run's
    // pixels are independent additions the compiler puts side by side in vector registers. One pixel at a
    // time, every tap waited for the previous addition; the filter was half of an extraction (session 25).
    let mut slots = vec![usize::MAX; w];
    let period_bin: Vec<usize> =
        period.iter().map(|p| (((p - PERIOD_MIN) / PERIOD_STEP).round().max(0.0) as usize).min(nper - 1)).collect();
    for y in 0..h {
        for (x, slot) in slots.iter_mut().enumerate() {
            let b = (y / B) * bw + x / B;
            if !fg[b] {
                *slot = usize::MAX;
                continue;
            }
            let (s2, c2) = doubled_angle_at(x, y, bw, bh, &s2s, &c2s);
            *slot = orientation_bin(s2, c2) * nper + period_bin[b];
        }
        let mut x = 0;
        while x < w {
            let k = slots[x];
            let run = slots[x..].iter().take_while(|s| **s == k).count();
            if k != usize::MAX {
                let (o, pk) = (k / nper, k % nper);
                let taps = bank[k].get_or_insert_with(|| {
                    segments(&kernel(
                        o as f32 * PI / ORIENTATIONS as f32,
                        PERIOD_MIN + pk as f32 * PERIOD_STEP,
                        stride as isize,
                    ))
                });
                let base = (y + R) * stride + x + R;
                let out = &mut response[y * w + x..y * w + x + run];
                let mut j = 0;
                while j < run {
                    let (dst, at) = (&mut out[j..], base + j);
                    j += if run - j >= 8 {
                        dst[..8].copy_from_slice(&filter_lanes::<8>(taps, &padded, at));
                        8
                    } else if run - j >= 4 {
                        dst[..4].copy_from_slice(&filter_lanes::<4>(taps, &padded, at));
                        4
                    } else {
                        dst[..1].copy_from_slice(&filter_lanes::<1>(taps, &padded, at));
                        1
                    };
                }
            }
            x += run;
        }
    }
    Enhanced { width: w, height: h, response, field }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The filter one pixel at a time, as it was written before the runs (session 25): the reference the
    /// run-wise filter must reproduce bit for bit.
    fn filter_plain(a: Analysis) -> Vec<f32> {
        let Analysis { width: w, height: h, n, c2s, s2s, field } = a;
        let (bw, bh) = (field.bw, field.bh);
        let stride = w + 2 * R;
        let mut padded = vec![0f32; stride * (h + 2 * R)];
        for y in 0..h {
            padded[(y + R) * stride + R..(y + R) * stride + R + w].copy_from_slice(&n[y * w..(y + 1) * w]);
        }
        let nper = ((PERIOD_MAX - PERIOD_MIN) / PERIOD_STEP).round() as usize + 1;
        let mut response = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let b = (y / B) * bw + x / B;
                if !field.fg[b] {
                    continue;
                }
                let (s2, c2) = doubled_angle_at(x, y, bw, bh, &s2s, &c2s);
                let th = (0.5 * s2.atan2(c2)).rem_euclid(PI);
                let o = ((th / PI * ORIENTATIONS as f32).round() as usize) % ORIENTATIONS;
                let pk = (((field.period[b] - PERIOD_MIN) / PERIOD_STEP).round().max(0.0) as usize).min(nper - 1);
                let taps =
                    kernel(o as f32 * PI / ORIENTATIONS as f32, PERIOD_MIN + pk as f32 * PERIOD_STEP, stride as isize);
                let base = ((y + R) * stride + x + R) as isize;
                let mut s = 0f32;
                for &(off, wt) in &taps {
                    s += wt * padded[(base + off) as usize];
                }
                response[y * w + x] = s;
            }
        }
        response
    }

    /// Whorl-like ridges whose period grows across the image, with pseudo-random noise and a blank margin:
    /// every orientation, many periods, and runs of every length between background and print.
    fn test_print(w: u32, h: u32, seed: u32) -> GrayImage {
        let mut state = seed;
        let mut px = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = f32::from((state >> 24) as u8) / 255.0 - 0.5;
                let (fx, fy) = (x as f32 - w as f32 * 0.45, y as f32 - h as f32 * 0.55);
                let period = 6.0 + 8.0 * x as f32 / w as f32;
                let phase = (fx * fx + 0.6 * fy * fy).sqrt() * std::f32::consts::TAU / period + 0.4 * fy.atan2(fx);
                let inside = x > 12 && y > 20 && x < w - 16 && y < h - 8;
                let v = if inside { 128.0 + 70.0 * phase.cos() + 40.0 * noise } else { 200.0 + 6.0 * noise };
                px.push(v.clamp(0.0, 255.0) as u8);
            }
        }
        GrayImage::from_raw(w, h, 500, px).expect("a valid size")
    }

    #[test]
    fn rounding_a_non_negative_value_is_the_library_s_rounding() {
        let mut values: Vec<f32> = (0..2_000_000).map(|k| k as f32 * 0.000_37).collect();
        for t in 0..2_000u32 {
            let half = t as f32 + 0.5;
            for d in -3..=3 {
                values.push(f32::from_bits((half.to_bits() as i32 + d) as u32));
            }
            values.push(t as f32);
        }
        values.extend([0.0, -0.0, f32::MIN_POSITIVE, 0.499_999_97, 0.5, 8_388_607.5]);
        for v in values {
            assert_eq!(round_nonneg(v), v.round() as usize, "{v:e}");
        }
    }

    #[test]
    fn the_fast_orientation_bin_is_the_library_arctangent_s_everywhere() {
        let mut checked = 0;
        let mut state = 12_345u32;
        let mut rand = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f32::from((state >> 8) as u16) / 65_535.0
        };
        // Every doubled angle on a fine grid, and the angles within a few ulps and a few millionths of each
        // boundary between two bins, at magnitudes from sensor noise to a strong ridge.
        let mut angles: Vec<f32> = (0..200_000).map(|k| -PI + 2.0 * PI * k as f32 / 200_000.0).collect();
        for b in 0..2 * ORIENTATIONS {
            let edge = -PI + (b as f32 + 0.5) * (2.0 * PI / ORIENTATIONS as f32);
            for d in -40..=40 {
                angles.push(edge + d as f32 * 1e-6);
                angles.push(f32::from_bits((edge.to_bits() as i32 + d) as u32));
            }
        }
        for phi in angles {
            for m in [1e-6f32, 0.003, 0.4, 1.0, 37.0] {
                let m = m * (0.5 + rand());
                let (s2, c2) = (m * phi.sin(), m * phi.cos());
                assert_eq!(orientation_bin(s2, c2), orientation_bin_exact(s2, c2), "s2 {s2:e}, c2 {c2:e}");
                checked += 1;
            }
        }
        for (s2, c2) in
            [(0.0, 0.0), (-0.0, 0.0), (0.0, -0.0), (-0.0, -1.0), (0.0, -1.0), (f32::NAN, 1.0), (1.0, f32::INFINITY)]
        {
            assert_eq!(orientation_bin(s2, c2), orientation_bin_exact(s2, c2), "s2 {s2:e}, c2 {c2:e}");
        }
        assert!(checked > 1_000_000);
    }

    #[test]
    fn the_run_wise_filter_gives_the_one_pixel_at_a_time_response_bit_for_bit() {
        for (w, h, seed) in [(200, 240, 1), (163, 131, 7), (256, 288, 42)] {
            let img = test_print(w, h, seed);
            let fast = filter(analyse(&img)).response;
            let plain = filter_plain(analyse(&img));
            let filtered = plain.iter().filter(|v| **v != 0.0).count();
            assert!(filtered > (w * h / 2) as usize, "{w}×{h}: only {filtered} pixels filtered");
            let differ = fast.iter().zip(&plain).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
            assert_eq!(differ, 0, "{w}×{h}: {differ} of {} pixels differ", plain.len());
        }
    }
}
