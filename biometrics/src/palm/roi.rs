//! Region of interest from a whole-hand near-infrared image (CASIA 940 nm: an open hand on a dark background).
//!
//! 1. **Segmentation.** A 5×5 box blur, Otsu's threshold, the largest 4-connected component, its holes filled.
//!    The dark background of a NIR palm reader makes the hand the bright mode of the histogram.
//! 2. **Palm centre.** The mask point farthest from the background (a two-pass chamfer distance): the centre
//!    of the largest inscribed disc, which lies in the palm whatever the fingers do.
//! 3. **Radial profile.** From the centre, one ray every 0.5° to the first background pixel. A valley is a
//!    local minimum of the ray length, within [`VALLEY_REACH`] radii, with a finger rising at least
//!    [`FINGER_RISE`] radii on each side; rays that leave the image while still on the hand are the wrist
//!    (or a finger leaving the frame) and separate nothing. Relative rises, not absolute lengths, because a
//!    broad palm with short fingers (CASIA subject 003) reaches only 2.5 radii at the fingertips.
//! 4. **Key points.** The three consecutive valleys spaced most evenly, about a finger's width apart, lie
//!    between index, middle, ring and little finger; a farther valley beyond one end is the thumb's. The outer two (index–middle,
//!    ring–little) fix the palm's axis and scale, as in Zhang et al.'s palmprint ROI.
//! 5. **Region.** A square of side [`SIDE_RATIO`]·d (d = distance between the two key points), its near edge at
//!    [`OFFSET_RATIO`]·d from the key-point line on the palm side, resampled bilinearly to
//!    [`ROI_SIDE`](super::ROI_SIDE)². Rotation and scale of the hand are thereby normalised.
//!
//! Every failure is a [`PalmError`]: no hand, fingers not separated or cut off, region outside the image.

use super::{PalmError, ROI_SIDE};

/// A valley lies within this many inscribed-disc radii of the palm centre (measured 1.0–1.6 on CASIA).
pub const VALLEY_REACH: f32 = 2.0;
/// A finger rises at least this many radii above the valley beside it …
pub const FINGER_RISE: f32 = 0.35;
/// … within this many rays (0.5° each) of it.
const VALLEY_WINDOW: usize = 50;
/// The thumb rises farther from its valley (60°).
const THUMB_WINDOW: usize = 120;
/// Region side / key-point distance.
pub const SIDE_RATIO: f32 = 1.1;
/// Gap between the key-point line and the region's near edge / key-point distance.
pub const OFFSET_RATIO: f32 = 0.2;
/// Angular steps of the radial profile (0.5°).
const RAYS: usize = 720;

/// The key points found on the hand, in input pixel coordinates.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPoints {
    /// Valleys index–middle, middle–ring, ring–little.
    pub valleys: [(f32, f32); 3],
    /// The thumb–index valley, when the thumb is separated from the palm.
    pub thumb: Option<(f32, f32)>,
    /// Centre of the largest disc inscribed in the hand.
    pub centre: (f32, f32),
    /// That disc's radius.
    pub radius: f32,
}

/// A located palm region.
#[derive(Clone)]
pub struct Roi {
    /// [`ROI_SIDE`]² pixels, row-major; rows run from the finger side toward the wrist.
    pub pixels: Vec<u8>,
    pub key: KeyPoints,
    /// The region's corners in the input, in drawing order.
    pub corners: [(f32, f32); 4],
}

impl std::fmt::Debug for Roi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Roi({:?}, corners {:?})", self.key, self.corners)
    }
}

/// Otsu's threshold over a histogram: the level that maximises the between-class variance.
fn otsu(hist: &[u32; 256]) -> u8 {
    let total: f64 = hist.iter().map(|c| f64::from(*c)).sum();
    let sum: f64 = hist.iter().enumerate().map(|(v, c)| v as f64 * f64::from(*c)).sum();
    let (mut wb, mut sb, mut best, mut level) = (0.0, 0.0, -1.0, 0u8);
    for (v, c) in hist.iter().enumerate() {
        wb += f64::from(*c);
        if wb == 0.0 {
            continue;
        }
        let wf = total - wb;
        if wf == 0.0 {
            break;
        }
        sb += v as f64 * f64::from(*c);
        let (mb, mf) = (sb / wb, (sum - sb) / wf);
        let between = wb * wf * (mb - mf) * (mb - mf);
        if between > best {
            best = between;
            level = v as u8;
        }
    }
    level
}

fn box_blur(px: &[u8], w: usize, h: usize, r: usize) -> Vec<u8> {
    let mut tmp = vec![0u16; w * h];
    for y in 0..h {
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let s: u32 = px[y * w + x0..y * w + x1].iter().map(|v| u32::from(*v)).sum();
            tmp[y * w + x] = (s / (x1 - x0) as u32) as u16;
        }
    }
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let s: u32 = (y0..y1).map(|yy| u32::from(tmp[yy * w + x])).sum();
            out[y * w + x] = (s / (y1 - y0) as u32) as u8;
        }
    }
    out
}

/// The hand mask: the largest bright component, holes filled.
pub fn segment_hand(px: &[u8], w: usize, h: usize) -> Result<Vec<bool>, PalmError> {
    let blur = box_blur(px, w, h, 2);
    let mut hist = [0u32; 256];
    for v in &blur {
        hist[usize::from(*v)] += 1;
    }
    let t = otsu(&hist);
    let fg: Vec<bool> = blur.iter().map(|v| *v > t).collect();
    let (mask, n) = crate::image::region::largest_filled(&fg, w, h);
    if n == 0 {
        return Err(PalmError::NoHand("nothing brighter than the background"));
    }
    let share = n as f32 / (w * h) as f32;
    if !(0.05..=0.85).contains(&share) {
        return Err(PalmError::NoHand("the bright region is not hand-sized"));
    }
    Ok(mask)
}

/// Chamfer (3-4) distance to the background, two passes; the image border counts as background.
fn distance(mask: &[bool], w: usize, h: usize) -> Vec<u32> {
    let big = u32::MAX / 2;
    let mut d: Vec<u32> = mask.iter().map(|m| if *m { big } else { 0 }).collect();
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if d[i] == 0 {
                continue;
            }
            if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
                d[i] = 3;
                continue;
            }
            let m = (d[i - 1] + 3).min(d[i - w] + 3).min(d[i - w - 1] + 4).min(d[i - w + 1] + 4);
            d[i] = d[i].min(m);
        }
    }
    for y in (1..h.saturating_sub(1)).rev() {
        for x in (1..w - 1).rev() {
            let i = y * w + x;
            if d[i] == 0 {
                continue;
            }
            let m = (d[i + 1] + 3).min(d[i + w] + 3).min(d[i + w + 1] + 4).min(d[i + w - 1] + 4);
            d[i] = d[i].min(m);
        }
    }
    d
}

struct Ray {
    r: f32,
    /// Left the image while still on the hand.
    border: bool,
}

fn cast(mask: &[bool], w: usize, h: usize, c: (f32, f32), angle: f32) -> Ray {
    let (s, co) = angle.sin_cos();
    let mut r = 0.0f32;
    loop {
        r += 0.5;
        let (x, y) = (c.0 + co * r, c.1 + s * r);
        if x < 0.0 || y < 0.0 || x >= (w - 1) as f32 || y >= (h - 1) as f32 {
            return Ray { r, border: true };
        }
        if !mask[y.round() as usize * w + x.round() as usize] {
            return Ray { r, border: false };
        }
    }
}

/// The circular runs of `true`: (first index, length), longest first.
fn runs(v: &[bool]) -> Vec<(usize, usize)> {
    let n = v.len();
    if n == 0 || !v.iter().any(|b| *b) {
        return Vec::new();
    }
    if v.iter().all(|b| *b) {
        return vec![(0, n)];
    }
    let start = (0..n).find(|i| !v[*i]).unwrap_or(0);
    let (mut out, mut k) = (Vec::new(), 0);
    while k < n {
        if v[(start + k) % n] {
            let first = k;
            while k < n && v[(start + k) % n] {
                k += 1;
            }
            out.push(((start + first) % n, k - first));
        } else {
            k += 1;
        }
    }
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// Where to cut the circle of rays so that the valleys come in order along the hand's outline, the thumb's
/// valley at one end: the middle of the wrist — of the runs of rays that leave the image on the hand, the
/// one farthest from every valley candidate, if it is at least 90° from them (a fingertip touching the frame
/// lies beside the valleys, the wrist opposite them) — or else just past the widest gap between candidates
/// (`cands` sorted), which holds the wrist and the thumb.
fn outline_start(border: &[bool], cands: &[usize]) -> usize {
    let n = border.len();
    let apart = |a: usize, b: usize| {
        let d = a.abs_diff(b) % n;
        d.min(n - d)
    };
    let far = |k: usize| cands.iter().map(|c| apart(k, *c)).min().unwrap_or(n);
    // Longest first, so that among equally distant runs the longest wins.
    if let Some(mid) = runs(border)
        .into_iter()
        .map(|(a, len)| (a + len / 2) % n)
        .min_by_key(|m| std::cmp::Reverse(far(*m)))
        .filter(|m| far(*m) >= n / 4)
    {
        return mid;
    }
    let mut best = (0, 0);
    for (i, &k) in cands.iter().enumerate() {
        let next = cands[(i + 1) % cands.len()];
        let gap = (next + n - k) % n;
        if gap > best.0 || cands.len() == 1 {
            best = (gap, (k + 1) % n);
        }
    }
    best.1
}

/// Finds the key points on a hand mask.
pub fn key_points(mask: &[bool], w: usize, h: usize) -> Result<KeyPoints, PalmError> {
    let d = distance(mask, w, h);
    let (ci, dmax) = d.iter().enumerate().max_by_key(|(_, v)| **v).map(|(i, v)| (i, *v)).unwrap_or((0, 0));
    let radius = dmax as f32 / 3.0;
    if radius < 10.0 {
        return Err(PalmError::NoHand("no palm-sized region"));
    }
    let centre = ((ci % w) as f32, (ci / w) as f32);
    let rays: Vec<Ray> =
        (0..RAYS).map(|k| cast(mask, w, h, centre, k as f32 * std::f32::consts::TAU / RAYS as f32)).collect();
    let border: Vec<bool> = rays.iter().map(|r| r.border).collect();
    // Smoothed over three rays: one-pixel steps of the mask edge are not valleys.
    let r: Vec<f32> =
        (0..RAYS).map(|k| (rays[(k + RAYS - 1) % RAYS].r + rays[k].r + rays[(k + 1) % RAYS].r) / 3.0).collect();
    let at = |k: isize| (k.rem_euclid(RAYS as isize)) as usize;
    let rise = FINGER_RISE * radius;
    // Valley candidates: local minima over ±6 rays (strict on the left, so a plateau gives one) with a
    // finger rising on each side within `window` rays, and no wrist (border ray) in between.
    let find = |window: usize| {
        let mut out: Vec<usize> = Vec::new();
        for k in 0..RAYS {
            if border[k] || r[k] > VALLEY_REACH * radius {
                continue;
            }
            let ki = k as isize;
            if (1..=6).any(|j| r[at(ki - j)] <= r[k] || r[at(ki + j)] < r[k]) {
                continue;
            }
            let side = |dir: isize| {
                let mut best = 0.0f32;
                for j in 1..=window as isize {
                    let i = at(ki + dir * j);
                    if border[i] {
                        break;
                    }
                    best = best.max(r[i]);
                }
                best
            };
            if side(-1) - r[k] >= rise && side(1) - r[k] >= rise {
                out.push(k);
            }
        }
        out
    };
    let mut cands = find(VALLEY_WINDOW);
    // Order the candidates along the hand's outline, starting at the wrist.
    let start = outline_start(&border, &cands);
    cands.sort_by_key(|k| (k + RAYS - start) % RAYS);
    let point = |k: usize| {
        let ang = k as f32 * std::f32::consts::TAU / RAYS as f32;
        let rr = rays[k].r - 0.5;
        (centre.0 + ang.cos() * rr, centre.1 + ang.sin() * rr)
    };
    let valleys: Vec<(f32, f32)> = cands.iter().map(|k| point(*k)).collect();
    let dist = |p: (f32, f32), q: (f32, f32)| ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt();
    // The three valleys between the four fingers: consecutive, about one finger's width apart each.
    let mut best: Option<(f32, usize)> = None;
    for i in 0..valleys.len().saturating_sub(2) {
        let (d1, d2) = (dist(valleys[i], valleys[i + 1]), dist(valleys[i + 1], valleys[i + 2]));
        let (lo, hi) = (d1.min(d2), d1.max(d2));
        if lo < 0.15 * radius || hi > 1.2 * radius || lo < 0.5 * hi {
            continue;
        }
        let cost = (hi - lo) / hi;
        if best.is_none_or(|(c, _)| cost < c) {
            best = Some((cost, i));
        }
    }
    let Some((_, i)) = best else {
        return Err(PalmError::KeyPoints("no three valleys spaced like the four fingers"));
    };
    let mut three = [valleys[i], valleys[i + 1], valleys[i + 2]];
    // The thumb valley is the next one beyond an end of the three, farther away than the fingers' spacing.
    let spacing = dist(three[0], three[1]).max(dist(three[1], three[2]));
    // The thumb's valley is wide: look for it with a wider window, among the candidates outside the three.
    let order = |k: usize| (k + RAYS - start) % RAYS;
    let mut wide = find(THUMB_WINDOW);
    wide.sort_by_key(|k| order(*k));
    let (o_first, o_last) = (order(cands[i]), order(cands[i + 2]));
    let before =
        wide.iter().filter(|k| order(**k) < o_first).map(|k| point(*k)).rfind(|v| dist(*v, three[0]) > 1.2 * spacing);
    let after =
        wide.iter().filter(|k| order(**k) > o_last).map(|k| point(*k)).find(|v| dist(*v, three[2]) > 1.2 * spacing);
    let thumb = match (before, after) {
        (Some(b), None) => Some(b),
        (None, Some(a)) => {
            three.reverse();
            Some(a)
        }
        (Some(b), Some(a)) => {
            if dist(a, three[2]) < dist(b, three[0]) {
                three.reverse();
                Some(a)
            } else {
                Some(b)
            }
        }
        // Thumb not separated: keep the outline order (index first for a left hand seen palm-up, as in the
        // CASIA set; a mirrored hand gives a mirrored region, consistently so for that hand).
        (None, None) => None,
    };
    // A valley on the frame's edge is not seen whole: the hand is cut off there. A finger that leaves the
    // frame beyond its valleys is not (issue 17 §3: contact-free captures often touch the edge with a
    // fingertip): every valley already has a finger rising FINGER_RISE radii on both sides before any ray
    // leaves the image, so the valleys it gives are real; the region is checked below to lie on the hand.
    let margin = 2.0;
    if three
        .iter()
        .any(|(x, y)| *x < margin || *y < margin || *x > (w - 1) as f32 - margin || *y > (h - 1) as f32 - margin)
    {
        return Err(PalmError::CutOff);
    }
    Ok(KeyPoints { valleys: three, thumb, centre, radius })
}

fn bilinear(px: &[u8], w: usize, h: usize, x: f32, y: f32) -> f32 {
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
    let (tx, ty) = (x - x0 as f32, y - y0 as f32);
    let p = |x: usize, y: usize| f32::from(px[y * w + x]);
    p(x0, y0) * (1.0 - tx) * (1.0 - ty)
        + p(x1, y0) * tx * (1.0 - ty)
        + p(x0, y1) * (1.0 - tx) * ty
        + p(x1, y1) * tx * ty
}

/// The whole step: segmentation, key points, the normalised square region.
pub fn locate(px: &[u8], w: usize, h: usize) -> Result<Roi, PalmError> {
    if w < 64 || h < 64 || w > 4096 || h > 4096 || px.len() != w * h {
        return Err(PalmError::Invalid(format!("{w}x{h} image with {} bytes", px.len())));
    }
    // Segmentation and key points at half resolution for large frames (a 768×576 CASIA image: 4× less
    // work, ±1 px at half resolution is well within what the region tolerates); the region itself is
    // sampled from the full-resolution image.
    let f = if w * h >= 200_000 { 2 } else { 1 };
    let (mw, mh) = (w / f, h / f);
    let small: Vec<u8> = if f == 1 {
        px.to_vec()
    } else {
        (0..mw * mh)
            .map(|i| {
                let (x, y) = (2 * (i % mw), 2 * (i / mw));
                let s = u16::from(px[y * w + x])
                    + u16::from(px[y * w + x + 1])
                    + u16::from(px[(y + 1) * w + x])
                    + u16::from(px[(y + 1) * w + x + 1]);
                (s / 4) as u8
            })
            .collect()
    };
    let mask = segment_hand(&small, mw, mh)?;
    let mut key = key_points(&mask, mw, mh)?;
    if f > 1 {
        let up = |p: (f32, f32)| (p.0 * f as f32 + 0.5, p.1 * f as f32 + 0.5);
        key.valleys = key.valleys.map(up);
        key.thumb = key.thumb.map(up);
        key.centre = up(key.centre);
        key.radius *= f as f32;
    }
    let (p1, p3) = (key.valleys[0], key.valleys[2]);
    let d = ((p3.0 - p1.0).powi(2) + (p3.1 - p1.1).powi(2)).sqrt();
    let u = ((p3.0 - p1.0) / d, (p3.1 - p1.1) / d);
    let mut n = (-u.1, u.0);
    let mid = ((p1.0 + p3.0) / 2.0, (p1.1 + p3.1) / 2.0);
    if (key.centre.0 - mid.0) * n.0 + (key.centre.1 - mid.1) * n.1 < 0.0 {
        n = (-n.0, -n.1);
    }
    let side = SIDE_RATIO * d;
    let near = OFFSET_RATIO * d;
    let at = |i: f32, j: f32| {
        // i across the palm (−½..½ of the side), j from the near edge (0..1 of the side).
        (mid.0 + u.0 * i * side + n.0 * (near + j * side), mid.1 + u.1 * i * side + n.1 * (near + j * side))
    };
    let corners = [at(-0.5, 0.0), at(0.5, 0.0), at(0.5, 1.0), at(-0.5, 1.0)];
    if corners.iter().any(|(x, y)| *x < 0.0 || *y < 0.0 || *x > (w - 1) as f32 || *y > (h - 1) as f32) {
        return Err(PalmError::RegionOutside);
    }
    let mut pixels = Vec::with_capacity(ROI_SIDE * ROI_SIDE);
    let mut off_hand = 0usize;
    for j in 0..ROI_SIDE {
        for i in 0..ROI_SIDE {
            let (x, y) = at((i as f32 + 0.5) / ROI_SIDE as f32 - 0.5, (j as f32 + 0.5) / ROI_SIDE as f32);
            let (mx, my) = (((x / f as f32) as usize).min(mw - 1), ((y / f as f32) as usize).min(mh - 1));
            if !mask[my * mw + mx] {
                off_hand += 1;
            }
            pixels.push(bilinear(px, w, h, x, y).round().clamp(0.0, 255.0) as u8);
        }
    }
    // The region must be palm: a region that reaches past the hand means the key points are wrong.
    if off_hand > ROI_SIDE * ROI_SIDE / 50 {
        return Err(PalmError::KeyPoints("the palm region reaches past the hand"));
    }
    Ok(Roi { pixels, key, corners })
}

/// The input as RGB with the key points and the region drawn on it, for a person to check (the bench's
/// `--debug-dir`): valleys red, thumb valley orange, palm centre blue, region green.
pub fn draw_debug(px: &[u8], w: usize, h: usize, roi: Option<&Roi>) -> Vec<u8> {
    let mut rgb: Vec<u8> = px.iter().flat_map(|v| [*v, *v, *v]).collect();
    let mut put = |x: f32, y: f32, c: [u8; 3]| {
        let (x, y) = (x.round() as i64, y.round() as i64);
        if x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h {
            let i = 3 * (y as usize * w + x as usize);
            rgb[i..i + 3].copy_from_slice(&c);
        }
    };
    let Some(roi) = roi else { return rgb };
    let line = |a: (f32, f32), b: (f32, f32), c: [u8; 3], put: &mut dyn FnMut(f32, f32, [u8; 3])| {
        let n = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) as usize).max(1);
        for k in 0..=n {
            let t = k as f32 / n as f32;
            let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
            put(x, y, c);
            put(x + 1.0, y, c);
            put(x, y + 1.0, c);
        }
    };
    for k in 0..4 {
        line(roi.corners[k], roi.corners[(k + 1) % 4], [0, 255, 0], &mut put);
    }
    let cross = |p: (f32, f32), c: [u8; 3], put: &mut dyn FnMut(f32, f32, [u8; 3])| {
        line((p.0 - 8.0, p.1), (p.0 + 8.0, p.1), c, put);
        line((p.0, p.1 - 8.0), (p.0, p.1 + 8.0), c, put);
    };
    for v in roi.key.valleys {
        cross(v, [255, 0, 0], &mut put);
    }
    if let Some(t) = roi.key.thumb {
        cross(t, [255, 160, 0], &mut put);
    }
    cross(roi.key.centre, [0, 128, 255], &mut put);
    rgb
}
