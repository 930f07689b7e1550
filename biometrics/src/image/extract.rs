//! From a greyscale print to minutiae: contextual enhancement ([`super::enhance`]), binarisation at the
//! filter's zero crossing, thinning (Zhang–Suen), crossing numbers, and removal of false minutiae by
//! following the skeleton: at the print's border, spurs (an ending that runs into a junction), short
//! ridges and islands (an ending that runs into another ending), bridges (two junctions joined closely),
//! breaks (two endings facing each other across a small gap), and clusters.
//!
//! Direction convention (ISO/IEC 19794-2 as NIST's mindtct writes it): an ending points along its ridge
//! into the ridge, a bifurcation points between its two arms — so the same minutia keeps its direction
//! when pressure turns an ending into a bifurcation. Angles are counter-clockwise with y up.

use super::GrayImage;
use super::enhance::{B, Enhanced, analyse_with, enhance_with, filter};
use crate::fingerprint::template::{Minutia, MinutiaKind, MinutiaeTemplate};
use std::f32::consts::{PI, TAU};

/// Minutiae closer to the background than this many blocks are where the print is cut, not where ridges end.
const BORDER_DEPTH: u16 = 2;
/// How far a ridge is followed to judge a minutia, in pixels at 500 dpi.
const TRACE: usize = 22;
/// Steps along the ridge that give a minutia's direction.
const DIR_STEPS: usize = 9;
/// An ending whose ridge meets a junction within this many steps is a spur.
const SPUR: usize = 12;
/// An ending whose ridge ends again within this many steps is a short ridge or an island.
const SHORT_RIDGE: usize = 20;
/// Two junctions joined by fewer steps are a bridge or a hole.
const BRIDGE: usize = 10;
/// Endings closer than this, facing each other, are a broken ridge.
const BREAK: f32 = 16.0;
/// Minutiae closer than this are noise whatever their kinds.
const MIN_SEPARATION: f32 = 6.0;
/// At most this many minutiae are kept, the best by quality (ISO records hold 255).
const MAX_MINUTIAE: usize = 100;

/// Per-image quality: foreground coverage and ridge clarity, 0–100.
pub fn quality(e: &Enhanced) -> u8 {
    let f = &e.field;
    (100.0 * (f.coverage().min(0.5) / 0.5) * (f.mean_coherence() / 0.6).min(1.0)).round() as u8
}

/// Zhang–Suen thinning to one-pixel-wide ridges.
fn thin(bin: &mut [bool], w: usize, h: usize) {
    let mut del = Vec::new();
    let mut candidates: Vec<usize> =
        (0..w * h).filter(|&i| bin[i] && i % w > 0 && i % w < w - 1 && i / w > 0 && i / w < h - 1).collect();
    loop {
        let mut changed = false;
        for pass in 0..2 {
            del.clear();
            for &i in &candidates {
                if !bin[i] {
                    continue;
                }
                let p = [
                    bin[i - w],
                    bin[i - w + 1],
                    bin[i + 1],
                    bin[i + w + 1],
                    bin[i + w],
                    bin[i + w - 1],
                    bin[i - 1],
                    bin[i - w - 1],
                ];
                let n = p.iter().filter(|v| **v).count();
                if !(2..=6).contains(&n) {
                    continue;
                }
                let a = (0..8).filter(|&k| !p[k] && p[(k + 1) % 8]).count();
                let (c1, c2) = if pass == 0 {
                    (p[0] && p[2] && p[4], p[2] && p[4] && p[6])
                } else {
                    (p[0] && p[2] && p[6], p[0] && p[4] && p[6])
                };
                if a == 1 && !c1 && !c2 {
                    del.push(i);
                }
            }
            changed |= !del.is_empty();
            for &i in &del {
                bin[i] = false;
            }
        }
        if !changed {
            break;
        }
        candidates.retain(|&i| bin[i]);
    }
}

const N8: [(isize, isize); 8] = [(0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1)];

/// What following a ridge met.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Met {
    /// The ridge went on for the whole length.
    Nothing,
    /// It ended at this pixel after so many steps.
    Ending(usize, usize),
    /// It reached a junction at this pixel after so many steps.
    Junction(usize, usize),
}

struct Skeleton {
    w: usize,
    h: usize,
    on: Vec<bool>,
    /// Crossing number per skeleton pixel (0 elsewhere).
    cn: Vec<u8>,
}

impl Skeleton {
    fn new(on: Vec<bool>, w: usize, h: usize) -> Skeleton {
        let mut cn = vec![0u8; w * h];
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let i = y * w + x;
                if !on[i] {
                    continue;
                }
                let ring: [bool; 8] =
                    N8.map(|(dx, dy)| on[((y as isize + dy) as usize) * w + (x as isize + dx) as usize]);
                cn[i] = ((0..8).filter(|&k| ring[k] != ring[(k + 1) % 8]).count() / 2) as u8;
            }
        }
        Skeleton { w, h, on, cn }
    }

    fn neighbours(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        let (x, y) = ((i % self.w) as isize, (i / self.w) as isize);
        // 4-neighbours first, so a staircase is followed along its steps, not cut across.
        [0usize, 2, 4, 6, 1, 3, 5, 7].into_iter().filter_map(move |k| {
            let (dx, dy) = N8[k];
            let (xx, yy) = (x + dx, y + dy);
            if xx < 0 || yy < 0 || xx >= self.w as isize || yy >= self.h as isize {
                return None;
            }
            let j = yy as usize * self.w + xx as usize;
            self.on[j].then_some(j)
        })
    }

    /// One starting pixel per branch leaving `i`: each run of set pixels around it is one branch; a
    /// 4-neighbour is preferred within a run.
    fn branches(&self, i: usize) -> Vec<usize> {
        let (x, y) = ((i % self.w) as isize, (i / self.w) as isize);
        let idx = |k: usize| {
            let (dx, dy) = N8[k];
            let (xx, yy) = (x + dx, y + dy);
            (xx >= 0 && yy >= 0 && xx < self.w as isize && yy < self.h as isize)
                .then(|| yy as usize * self.w + xx as usize)
                .filter(|&j| self.on[j])
        };
        let ring: [Option<usize>; 8] = std::array::from_fn(idx);
        let mut out = Vec::with_capacity(3);
        for k in 0..8 {
            if ring[k].is_some() && ring[(k + 7) % 8].is_none() {
                let mut pick = ring[k];
                let mut m = k;
                while let Some(j) = ring[m % 8] {
                    if m % 2 == 0 {
                        pick = Some(j);
                        break;
                    }
                    m += 1;
                    if m >= k + 8 {
                        break;
                    }
                }
                out.extend(pick);
            }
        }
        out
    }

    /// Follows the ridge from `start` through its neighbour `first` for up to `len` steps. Returns what it
    /// met and the pixel reached after `dir_steps` steps (or the last one, if the ridge stopped sooner).
    fn follow(&self, start: usize, first: usize, len: usize, dir_steps: usize) -> (Met, usize) {
        let mut seen = [start, first, usize::MAX, usize::MAX];
        let (mut cur, mut dir_px) = (first, first);
        for step in 1..=len {
            if step == dir_steps {
                dir_px = cur;
            }
            if self.cn[cur] >= 3 {
                return (Met::Junction(cur, step), if step < dir_steps { cur } else { dir_px });
            }
            if self.cn[cur] == 1 {
                return (Met::Ending(cur, step), if step < dir_steps { cur } else { dir_px });
            }
            let next = self.neighbours(cur).find(|j| !seen.contains(j) && !self.adjacent(*j, seen[0], cur));
            match next {
                Some(j) => {
                    seen = [start, cur, j, seen[1]];
                    cur = j;
                }
                None => return (Met::Ending(cur, step), if step < dir_steps { cur } else { dir_px }),
            }
        }
        (Met::Nothing, dir_px)
    }

    /// Whether `j` touches `start` (other than through `cur`): stepping there would turn back on the start.
    fn adjacent(&self, j: usize, start: usize, cur: usize) -> bool {
        if cur == start {
            return false;
        }
        let (ax, ay) = ((j % self.w) as isize, (j / self.w) as isize);
        let (bx, by) = ((start % self.w) as isize, (start / self.w) as isize);
        (ax - bx).abs() <= 1 && (ay - by).abs() <= 1 && j != start && self.cn[start] != 1
    }
}

#[derive(Clone, Copy, Debug)]
struct Cand {
    x: f32,
    y: f32,
    /// Radians in image coordinates (y down).
    dir: f32,
    kind: MinutiaKind,
    quality: f32,
    keep: bool,
}

fn angle_to(from: usize, to: usize, w: usize) -> f32 {
    let (fx, fy) = ((from % w) as f32, (from / w) as f32);
    let (tx, ty) = ((to % w) as f32, (to / w) as f32);
    (ty - fy).atan2(tx - fx)
}

fn adiff(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(TAU);
    d.min(TAU - d)
}

/// Snaps a traced direction onto the (smoother) ridge orientation, keeping the traced sense.
fn snap(traced: f32, theta: f32) -> f32 {
    let a = theta;
    let b = theta + PI;
    let d = |t: f32| adiff(traced, t);
    let o = if d(a) <= d(b) { a } else { b };
    // Trust the field where the traced direction agrees with it; keep the trace where it does not
    // (a sharp turn near a core or delta).
    if d(o) < 0.6 { o } else { traced }
}

/// The most a print is enlarged for its ridge period.
const MAX_ENLARGEMENT: f32 = 1.5;

/// Extracts minutiae from a print image (any resolution; normalised to 500 dpi first) and the image's
/// quality (0–100).
pub fn extract_minutiae(input: &GrayImage) -> (MinutiaeTemplate, u8) {
    extract_minutiae_with(input, &Trial::default())
}

/// A print whose median ridge period is below this many pixels — a finer-ridged finger, or a sensor whose
/// resolution is lower than it declares — is enlarged until it is not (at most [`MAX_ENLARGEMENT`]),
/// extracted there, and its minutiae brought back to the image's own coordinates: the Gabor bank, the pore
/// size and the skeleton's clean-up lengths are made for ridges about 9 px apart, and finer ones break into
/// false minutiae. The matcher still compares in the image's own pixels. Tried in session 15 and not
/// adopted then (no consistent gain on the real development sets); judged again in session 18 with the
/// pores filled and 8 quality-drawn hypotheses, development sets only, five readings 480–520 dpi
/// (`FVC_MINPERIOD`, `scripts/fusion-rules --views 3|5`): mean all-pairs EER FVC2000 DB1 / DB2 / DB3 /
/// synthetic DB4 3.30 / 4.92 / 6.14 / 5.36 → 3.17 / 4.14 / 6.08 / 4.34 %; fewer genuine attempts refused
/// at every door on every development sensor with five impressions (a door of one 1.8 / 4.6 / 16.6 → 1.5 /
/// 4.0 / 15.5 %, of 10,000 11.5 / 12.5 / 42.8 → 9.9 / 12.0 / 39.2 %) and with three; the sensors' impostor
/// tails closer together (DB2 held out reaches the other two's 1e-4 point 3.7 times the target instead of
/// 22); read at 550–570 dpi (prints about 11 % finer than declared) DB2 / DB3 / DB4 gain as well (4.71 /
/// 6.56 / 5.28 → 4.30 / 6.00 / 3.99 %) and DB1 loses a little (4.06 → 4.29). At each set's own strict
/// points DB1 and DB3 separate slightly less, and the evaluation sensor, read after the choice, lets more
/// fused impostors over the table's thresholds (1:1 3.2 → 7.0 times the target with five impressions;
/// docs/accuracy-journal.md, "A ridge-period floor, adopted"; README, "The threshold table").
pub const MIN_PERIOD: f32 = 8.5;

/// Holes of at most this many pixels in the binarised ridges are filled before thinning: sweat pores, which
/// an optical sensor at 500 dpi shows as specks of valley inside a ridge (FVC2000 DB3 above all), and which
/// thinning turns into rings and false bifurcations. A real valley ending or a lake between ridges is larger
/// (a ridge period is 8–11 pixels). Tried in session 14 (issue 17) and not adopted then, because one
/// development impostor pair raised the pooled threshold table; adopted in session 17, judged the way the
/// table is now made (the strictest of the per-sensor tables, best two of 3 and of 5 impressions fused,
/// `scripts/fusion-rules --views N`, the development sets at 480–520 dpi): fewer genuine attempts refused at
/// every door size on every development sensor — doors of 1 / 10,000 templates with five impressions,
/// FVC2000 DB1 2.0 → 1.8 % / 13.4 → 11.8 %, DB2 5.2 → 4.6 / 13.8 → 12.9, DB3 19.0 → 17.3 / 45.6 → 43.5 —
/// while the single comparisons' mean EER moved 3.01 → 3.23 / 4.57 → 4.71 / 6.67 → 5.72 %. Other sizes the
/// same way: 8 level with 12 (within 0.7 points at every door), 16 and 20 worse with five impressions.
pub const PORE_FILL: usize = 12;

/// The median ridge period of a print's foreground blocks (the daemon's area, also in the edge trial), in
/// pixels; `None` without a foreground.
pub fn median_period(f: &super::Field) -> Option<f32> {
    let mut v: Vec<f32> = (0..f.period.len()).filter(|&b| f.weight_depth(b) > 0).map(|b| f.period[b]).collect();
    if v.is_empty() {
        return None;
    }
    let mid = v.len() / 2;
    Some(*v.select_nth_unstable_by(mid, f32::total_cmp).1)
}

/// Extraction changes tried for issue 17, kept for the development harness (`examples/fvc.rs`:
/// `FVC_MINPERIOD`, `FVC_PORES`; `scripts/fvc-jitter`) so that the next calibration can judge them again
/// (docs/accuracy-journal.md, "Tried on development"). The default is the daemon's extractor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trial {
    /// The ridge-period floor; the daemon's is [`MIN_PERIOD`]. 0: off (the extractor before session 18).
    pub min_period: f32,
    /// Holes of at most this many pixels in the binarised ridges (sweat pores, which thinning turns into
    /// rings and false bifurcations) are filled before thinning; the daemon's is [`PORE_FILL`]. 0: off
    /// (the extractor before session 17).
    pub pore: usize,
    /// The print's area reaches the image's edge where the print does (the foreground clean-up counts a
    /// block beyond the grid as the block itself), the minutiae there kept at the weight of a minutia one
    /// block from the print's edge, the print's median period still taken over the daemon's area. Tried
    /// in session 23 and not adopted yet (`FVC_EDGE=1`; `docs/accuracy-journal.md`, "Session 23"): 260 px
    /// windows of the development sets (a small sensor) EER 5.58 / 5.36 / 16.31 → 3.83 / 5.23 / 13.92 %,
    /// full prints 3.36 / 4.14 / 5.94 → 2.91 / 4.29 / 6.02 over five readings, the doors of the full
    /// prints about level (a little worse from 100 templates up). Judged at the operating point only
    /// by `scripts/fusion-rules`; the table, the bench and the README were not re-derived for it.
    pub edge_is_print: bool,
}

impl Default for Trial {
    /// The daemon's extractor: fine-ridged prints enlarged, pores filled.
    fn default() -> Trial {
        Trial { min_period: MIN_PERIOD, pore: PORE_FILL, edge_is_print: false }
    }
}

/// A band at the image's edge nearly black on average (below this grey level) and no wider in grey levels
/// than [`FRAME_FLAT`] is the sensor's frame, not skin: a print's rows and columns are never that flat at
/// that darkness (sensor noise, and ridges cross them), and a flat light margin is background already.
const FRAME_DARK: i64 = 32;
const FRAME_FLAT: u8 = 4;

/// The rows and columns at the image's edges that are a dark, flat frame — a sensor or driver that pads its
/// window with black — as (left, top, right, bottom) counts, at most a quarter of each dimension from each
/// side. Such a frame meets the print in a step of full contrast, which the segmentation (its threshold is
/// relative to the strongest contrast in the image) took for the strongest ridges: a black band 1 px wide
/// around FVC2000 DB1's images left 35 of its 80 with too few minutiae to enrol, 2 px 75, 4 and 6 px all 80
/// (session 21, `tobira-bench fingerprint --frame PX`). The shared sets have such bands of their own
/// (FVC2000 DB3 2–4 px on the left of 20 images, FVC2002 DB1 1 px on the right of 12); taking those off too
/// moved DB3's mean all-pairs EER over five readings 6.08 → 5.94 % and its door of one 15.5 → 16.6 %, the
/// evaluation set's 2.79 → 2.80 %, and left the threshold table as it was.
fn dark_frame(img: &GrayImage) -> (u32, u32, u32, u32) {
    let (w, h) = (img.width, img.height);
    // A run of pixels is frame when it is flat and dark.
    let frame = |run: &mut dyn Iterator<Item = u8>| {
        let (mut lo, mut hi, mut sum, mut n) = (u8::MAX, 0u8, 0i64, 0i64);
        for p in run {
            lo = lo.min(p);
            hi = hi.max(p);
            sum += i64::from(p);
            n += 1;
        }
        n > 0 && hi - lo <= FRAME_FLAT && sum < FRAME_DARK * n
    };
    let row = |y: u32, x0: u32, x1: u32| (x0..x1).map(move |x| img.at(x, y));
    let col = |x: u32, y0: u32, y1: u32| (y0..y1).map(move |y| img.at(x, y));
    let (mut l, mut t, mut r, mut b) = (0u32, 0u32, 0u32, 0u32);
    // Peel one side at a time, each judged over what the others left, until none is frame.
    loop {
        let before = (l, t, r, b);
        if t < h / 4 && frame(&mut row(t, l, w - r)) {
            t += 1;
        }
        if b < h / 4 && frame(&mut row(h - 1 - b, l, w - r)) {
            b += 1;
        }
        if l < w / 4 && frame(&mut col(l, t, h - b)) {
            l += 1;
        }
        if r < w / 4 && frame(&mut col(w - 1 - r, t, h - b)) {
            r += 1;
        }
        if (l, t, r, b) == before {
            return (l, t, r, b);
        }
    }
}

/// [`extract_minutiae`] with a [`Trial`]'s changes.
pub fn extract_minutiae_with(input: &GrayImage, trial: &Trial) -> (MinutiaeTemplate, u8) {
    let img = input.normalised();
    let (l, t, r, b) = dark_frame(&img);
    let (w, h) = (img.width - l - r, img.height - t - b);
    if (l, t, r, b) == (0, 0, 0, 0) || w < 32 || h < 32 {
        return extract_normalised(&img, trial);
    }
    // The print inside the frame, its minutiae brought back to the whole image's coordinates.
    let (mut tpl, q) = extract_normalised(&img.window(l, t, w, h), trial);
    for m in &mut tpl.minutiae {
        m.x = m.x.saturating_add(l as u16);
        m.y = m.y.saturating_add(t as u16);
    }
    tpl.width = img.width as u16;
    tpl.height = img.height as u16;
    (tpl, q)
}

/// The extraction proper, on an image already at 500 dpi.
fn extract_normalised(img: &GrayImage, trial: &Trial) -> (MinutiaeTemplate, u8) {
    let a = analyse_with(img, trial.edge_is_print);
    let scale = median_period(&a.field).map_or(1.0, |p| (trial.min_period / p).clamp(1.0, MAX_ENLARGEMENT));
    if scale < 1.02 {
        return minutiae_with(img, &filter(a), trial.pore);
    }
    let big = img.resampled(f64::from(scale));
    let (mut t, q) = minutiae_with(&big, &enhance_with(&big, trial.edge_is_print), trial.pore);
    let back = |v: u16, limit: u32| ((f32::from(v) / scale).round() as u32).min(limit.saturating_sub(1)) as u16;
    for m in &mut t.minutiae {
        m.x = back(m.x, img.width);
        m.y = back(m.y, img.height);
    }
    t.width = img.width as u16;
    t.height = img.height as u16;
    t.resolution_dpi = img.dpi;
    (t, q)
}

/// Fills the holes of at most `max` pixels inside the ridges: 4-connected non-ridge components that touch
/// no image edge ([`Trial::pore`]).
fn fill_pores(bin: &mut [bool], w: usize, h: usize, max: usize) {
    let (label, sizes, border) = super::region::components(bin, w, h, false);
    for (cell, l) in bin.iter_mut().zip(label) {
        if l != u32::MAX && !border[l as usize] && sizes[l as usize] <= max {
            *cell = true;
        }
    }
}

fn minutiae_with(img: &GrayImage, e: &Enhanced, pore: usize) -> (MinutiaeTemplate, u8) {
    let q = quality(e);
    let (w, h) = (e.width, e.height);
    let f = &e.field;
    let mut bin: Vec<bool> = (0..w * h).map(|i| e.response[i] < 0.0 && f.fg[f.block_of(i % w, i / w)]).collect();
    if pore > 0 {
        fill_pores(&mut bin, w, h, pore);
    }
    thin(&mut bin, w, h);
    let sk = Skeleton::new(bin, w, h);

    let mut cands: Vec<Cand> = Vec::new();
    let mut at: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    let mut junction_links: Vec<(usize, usize)> = Vec::new();
    let mut ending_links: Vec<(usize, usize)> = Vec::new();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let cn = sk.cn[i];
            if cn != 1 && cn != 3 {
                continue;
            }
            let b = f.block_of(x, y);
            if f.depth[b] < BORDER_DEPTH {
                continue;
            }
            let nbrs = sk.branches(i);
            let theta = f.theta[b];
            let quality = f.coherence[b].clamp(0.0, 1.0) * (f32::from(f.weight_depth(b).min(4)) / 4.0);
            let idx = cands.len();
            if cn == 1 {
                let Some(&first) = nbrs.first() else { continue };
                let (met, dir_px) = sk.follow(i, first, TRACE, DIR_STEPS);
                let mut keep = true;
                match met {
                    Met::Junction(j, steps) if steps <= SPUR => {
                        keep = false;
                        junction_links.push((idx, j));
                    }
                    Met::Ending(j, steps) if steps <= SHORT_RIDGE => {
                        keep = false;
                        ending_links.push((idx, j));
                    }
                    _ => {}
                }
                let dir = snap(angle_to(i, dir_px, w), theta);
                cands.push(Cand { x: x as f32, y: y as f32, dir, kind: MinutiaKind::Ending, quality, keep });
            } else {
                // Three branches; the two closest in direction are the arms.
                let mut dirs = Vec::with_capacity(3);
                let mut keep = true;
                for &n in nbrs.iter().take(3) {
                    let (met, dir_px) = sk.follow(i, n, BRIDGE + 2, DIR_STEPS);
                    if let Met::Junction(j, steps) = met
                        && steps <= BRIDGE
                    {
                        keep = false;
                        junction_links.push((idx, j));
                    }
                    dirs.push(angle_to(i, dir_px, w));
                }
                if dirs.len() < 3 {
                    continue;
                }
                let pairs = [(0, 1, 2), (0, 2, 1), (1, 2, 0)];
                let &(a, b2, lone) = pairs
                    .iter()
                    .min_by(|p, q| adiff(dirs[p.0], dirs[p.1]).total_cmp(&adiff(dirs[q.0], dirs[q.1])))
                    .unwrap_or(&(0, 1, 2));
                let _ = (a, b2);
                let dir = snap(dirs[lone] + PI, theta);
                cands.push(Cand { x: x as f32, y: y as f32, dir, kind: MinutiaKind::Bifurcation, quality, keep });
            }
            at.insert(i, idx);
        }
    }
    // The other end of a spur, a short ridge or a bridge goes too.
    for (_, j) in junction_links.iter().chain(&ending_links) {
        if let Some(&k) = at.get(j) {
            cands[k].keep = false;
        }
    }
    // Breaks: two endings close together, each pointing into its own ridge, away from the other.
    for a in 0..cands.len() {
        for b in a + 1..cands.len() {
            let (p, r) = (cands[a], cands[b]);
            let d = ((p.x - r.x).powi(2) + (p.y - r.y).powi(2)).sqrt();
            if d < MIN_SEPARATION {
                cands[a].keep = false;
                cands[b].keep = false;
                continue;
            }
            if d < BREAK && p.kind == MinutiaKind::Ending && r.kind == MinutiaKind::Ending {
                let ab = (r.y - p.y).atan2(r.x - p.x);
                if adiff(p.dir, r.dir) > 2.4 && adiff(p.dir, ab + PI) < 0.9 && adiff(r.dir, ab) < 0.9 {
                    cands[a].keep = false;
                    cands[b].keep = false;
                }
            }
        }
    }
    let mut kept: Vec<Cand> = cands.into_iter().filter(|c| c.keep).collect();
    if kept.len() > MAX_MINUTIAE {
        kept.sort_by(|a, b| b.quality.total_cmp(&a.quality));
        kept.truncate(MAX_MINUTIAE);
        kept.sort_by(|a, b| (a.y, a.x).partial_cmp(&(b.y, b.x)).unwrap_or(std::cmp::Ordering::Equal));
    }
    let minutiae = kept
        .iter()
        .map(|c| Minutia {
            x: c.x as u16,
            y: c.y as u16,
            // Image rows go down; ISO angles turn counter-clockwise with y up.
            angle: (((-c.dir).rem_euclid(TAU) / TAU * 256.0).round() as u32 % 256) as u8,
            kind: c.kind,
            quality: (c.quality * 100.0).round().clamp(1.0, 100.0) as u8,
        })
        .collect();
    let _ = B;
    (MinutiaeTemplate { width: w as u16, height: h as u16, resolution_dpi: img.dpi, minutiae }, q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::analyse;

    /// Horizontal dark ridges of period 9 with one phase singularity at (80, 80): the classic model of a
    /// minutia (the ridge count differs by one on either side of it). `invert` swaps ridges and valleys, which
    /// turns a ridge ending into a bifurcation at the same place.
    fn singular(invert: bool) -> GrayImage {
        singular_at(invert, 9.0)
    }

    fn singular_at(invert: bool, period: f32) -> GrayImage {
        singular_where(invert, period, 80.0)
    }

    /// [`singular_at`] with the singularity at (`cx`, 80).
    fn singular_where(invert: bool, period: f32, cx: f32) -> GrayImage {
        let (w, h) = (160u32, 160u32);
        let mut px = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (f32::from(x as u16), f32::from(y as u16));
                let psi = TAU * fy / period + (fy - 80.0).atan2(fx - cx);
                let ridge = psi.cos() > 0.0;
                px.push(if ridge != invert { 50 } else { 200 });
            }
        }
        GrayImage::from_raw(w, h, 500, px).unwrap()
    }

    fn near_centre(t: &MinutiaeTemplate) -> Vec<Minutia> {
        near(t, 80.0, 80.0)
    }

    /// The minutiae within 8 px of (`x`, `y`) on both axes.
    fn near(t: &MinutiaeTemplate, x: f32, y: f32) -> Vec<Minutia> {
        t.minutiae
            .iter()
            .filter(|m| (f32::from(m.x) - x).abs() < 8.0 && (f32::from(m.y) - y).abs() < 8.0)
            .copied()
            .collect()
    }

    #[test]
    fn a_minutia_is_found_where_the_ridge_count_changes_and_keeps_its_direction_when_inverted() {
        let (a, _) = extract_minutiae(&singular(false));
        let (b, _) = extract_minutiae(&singular(true));
        let (ma, mb) = (near_centre(&a), near_centre(&b));
        assert_eq!(ma.len(), 1, "one minutia at the singularity: {ma:?} of {}", a.minutiae.len());
        assert_eq!(mb.len(), 1, "one minutia at the singularity when inverted: {mb:?}");
        // Ridges and valleys swapped: an ending becomes a bifurcation, and the other way round.
        assert_ne!(ma[0].kind, mb[0].kind);
        // ... with the same direction (ISO/IEC 19794-2 convention), along the ridges (0 or 128 of 256).
        let off = |x: u8, y: u8| (x.wrapping_sub(y) as i8).unsigned_abs();
        assert!(off(ma[0].angle, mb[0].angle) < 24, "{} vs {}", ma[0].angle, mb[0].angle);
        assert!(off(ma[0].angle, 0).min(off(ma[0].angle, 128)) < 20, "angle {}", ma[0].angle);
        // Straight, clean ridges elsewhere give no others (the border is not a minutia).
        assert!(a.minutiae.len() <= 2, "spurious minutiae: {}", a.minutiae.len());
    }

    #[test]
    fn the_edge_trial_keeps_a_print_that_reaches_the_image_edge_and_its_minutiae_there_weighed_down() {
        // Ridges fill the image, so the print's area is the whole image. The daemon's clean-up takes the
        // outermost ring of blocks for background; the trial keeps it (`Trial::edge_is_print`).
        let centre = singular(false);
        assert!(analyse_with(&centre, true).field.fg.iter().all(|f| *f), "the trial's area reaches every edge");
        let daemon = analyse(&centre).field;
        let edge_blocks = (0..daemon.bw * daemon.bh)
            .filter(|b| b % daemon.bw == 0 || b / daemon.bw == 0 || b % daemon.bw == daemon.bw - 1)
            .collect::<Vec<_>>();
        assert!(edge_blocks.iter().all(|b| !daemon.fg[*b]), "the daemon's stops a block short of the edge");
        // A minutia in the second ring of blocks from the left edge (8–15 px): the trial finds it, the
        // daemon's border rule drops it ...
        let img = singular_where(false, 9.0, 8.0);
        let edge = Trial { edge_is_print: true, ..Trial::default() };
        let (t, _) = extract_minutiae_with(&img, &edge);
        let found = near(&t, 8.0, 80.0);
        assert_eq!(found.len(), 1, "one minutia near the edge: {:?}", t.minutiae);
        assert!((8..16).contains(&found[0].x), "in the second ring: {:?}", found[0]);
        assert_eq!(near(&extract_minutiae(&img).0, 8.0, 80.0), vec![], "the daemon's extractor drops it");
        // ... weighed as a minutia one block from the print's edge: a quarter of one in the middle.
        let (c, _) = extract_minutiae_with(&centre, &edge);
        let mid = near_centre(&c);
        assert_eq!(mid.len(), 1);
        assert!(
            u32::from(found[0].quality) * 3 < u32::from(mid[0].quality),
            "near the edge {:?} against {} in the middle",
            found[0],
            mid[0].quality
        );
    }

    #[test]
    fn a_fine_ridged_print_is_enlarged_for_extraction_and_its_minutiae_keep_the_image_coordinates() {
        // Ridges 6.5 px apart: below a floor of 8.5, so the print is enlarged (×1.31) before extraction.
        let img = singular_at(false, 6.5);
        let p = median_period(&analyse(&img).field).unwrap_or(0.0);
        assert!(p < 7.5, "measured period {p}");
        let floor = Trial { min_period: 8.5, ..Trial::default() };
        assert_eq!(floor, Trial::default(), "the daemon's extractor has this floor");
        let (t, _) = extract_minutiae_with(&img, &floor);
        assert_eq!((t.width, t.height, t.resolution_dpi), (160, 160, 500), "the image's own frame");
        // The singularity is found where it is in the image, not where it was in the enlarged copy (≈ 105).
        let near = near_centre(&t);
        assert_eq!(near.len(), 1, "one minutia at the singularity: {near:?} of {:?}", t.minutiae);
        assert!(t.minutiae.iter().all(|m| m.x < 160 && m.y < 160));
        // A print above the floor is extracted as it is, and the daemon's extractor is the one with the floor.
        let coarse = singular_at(false, 9.0);
        assert!(median_period(&analyse(&coarse).field).unwrap_or(0.0) >= 8.5);
        let none = Trial { min_period: 0.0, ..Trial::default() };
        assert_eq!(extract_minutiae(&coarse), extract_minutiae_with(&coarse, &none));
        assert_eq!(extract_minutiae(&img), extract_minutiae_with(&img, &floor));
        assert_ne!(extract_minutiae(&img), extract_minutiae_with(&img, &none), "the fine print was enlarged");
    }

    #[test]
    fn a_dark_flat_frame_around_the_print_is_not_taken_for_it() {
        // The print of `singular` inside an 8 px black band (a driver padding its window) and a 5 px band of
        // grey 20 on one side only: extracted as the print alone, its minutiae where they are in the framed
        // image.
        let plain = singular(false);
        let (pw, ph) = (plain.width, plain.height);
        let (l, t, r, b) = (8u32, 8u32, 13u32, 8u32);
        let (w, h) = (pw + l + r, ph + t + b);
        let mut px = vec![0u8; (w * h) as usize];
        for y in 0..h {
            for x in pw + l..pw + l + 5 {
                px[(y * w + x) as usize] = 20;
            }
        }
        for y in 0..ph {
            for x in 0..pw {
                px[((y + t) * w + x + l) as usize] = plain.at(x, y);
            }
        }
        let framed = GrayImage::from_raw(w, h, 500, px).unwrap();
        assert_eq!(dark_frame(&framed), (l, t, r, b));
        assert_eq!(dark_frame(&plain), (0, 0, 0, 0), "ridges at the edge are not a frame");
        // One black column is a frame too (FVC2002 DB1's images have one).
        let mut narrow = plain.clone();
        for y in 0..ph {
            narrow.pixels[(y * pw) as usize] = 0;
        }
        assert_eq!(dark_frame(&narrow), (1, 0, 0, 0));
        let (a, qa) = extract_minutiae(&plain);
        let (f, qf) = extract_minutiae(&framed);
        assert_eq!((f.width, f.height), (w as u16, h as u16), "the framed image's own frame");
        let shifted: Vec<Minutia> =
            a.minutiae.iter().map(|m| Minutia { x: m.x + l as u16, y: m.y + t as u16, ..*m }).collect();
        assert_eq!(f.minutiae, shifted);
        assert_eq!(qf, qa);
        // A flat light margin is left alone (the segmentation takes it for background already); a black
        // image loses at most a quarter of each side and still gives nothing.
        let light = GrayImage::from_raw(64, 64, 500, vec![230; 64 * 64]).unwrap();
        assert_eq!(dark_frame(&light), (0, 0, 0, 0));
        let black = GrayImage::from_raw(64, 64, 500, vec![0; 64 * 64]).unwrap();
        assert_eq!(dark_frame(&black), (16, 16, 16, 16));
        assert!(extract_minutiae(&black).0.minutiae.is_empty());
    }

    #[test]
    fn pores_inside_ridges_are_filled_and_valleys_and_the_edge_are_not() {
        // A 12×8 grid of ridge (#) with two one-pixel pores, a 4-pixel pore, a 10-pixel hole (a valley
        // between ridges) and a 2-pixel notch on the image's edge.
        let rows = [
            "############",
            "#..#########",
            "#..##.######",
            "##########.#",
            "####.....###",
            "####.....###",
            "############",
            "#..#########",
        ];
        let (w, h) = (12, rows.len());
        let mut bin: Vec<bool> = rows.iter().flat_map(|r| r.chars().map(|c| c == '#')).collect();
        fill_pores(&mut bin, w, h, 4);
        let at = |x: usize, y: usize| bin[y * w + x];
        assert!(at(5, 2) && at(10, 3), "one-pixel pores are filled");
        assert!(at(1, 1) && at(2, 2), "a 4-pixel pore is filled");
        assert!(!at(5, 4) && !at(8, 5), "a 10-pixel hole is left as a valley");
        assert!(!at(1, 7) && !at(2, 7), "a notch open to the image edge is left");
    }

    #[test]
    fn blank_black_and_noise_images_give_no_usable_template() {
        for v in [0u8, 255, 128] {
            let flat = GrayImage::from_raw(128, 128, 500, vec![v; 128 * 128]).unwrap();
            let (t, q) = extract_minutiae(&flat);
            assert!(t.minutiae.is_empty(), "flat {v}");
            assert_eq!(q, 0, "flat {v}");
        }
        // White noise has contrast but no ridge flow.
        let mut s = 0x1234_5678u32;
        let noise: Vec<u8> = (0..256 * 256)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 24) as u8
            })
            .collect();
        let (t, q) = extract_minutiae(&GrayImage::from_raw(256, 256, 500, noise).unwrap());
        assert!(t.minutiae.len() < crate::sample::MIN_MINUTIAE || q < 20, "{} minutiae, quality {q}", t.minutiae.len());
        // Faint noise on an empty glass: since the segmentation's floor came down to 2 grey levels (session
        // 22) a few grey levels of noise are searched for ridges; the filter makes ridge-like blobs of them,
        // but with no flow from block to block, so their quality stays far below enrolment's (default 40).
        for (sigma, grey) in [(2u32, 200u32), (3, 150), (5, 90), (8, 200), (12, 128)] {
            let px: Vec<u8> = (0..300 * 300)
                .map(|_| {
                    // The sum of four uniform draws: roughly normal, spread `sigma`.
                    let mut sum = 0i64;
                    for _ in 0..4 {
                        s ^= s << 13;
                        s ^= s >> 17;
                        s ^= s << 5;
                        sum += i64::from(s >> 24) - 128;
                    }
                    (i64::from(grey) + sum * i64::from(sigma) / 148).clamp(0, 255) as u8
                })
                .collect();
            let (t, q) = extract_minutiae(&GrayImage::from_raw(300, 300, 500, px).unwrap());
            assert!(q < 20, "noise σ {sigma} around {grey}: {} minutiae, quality {q}", t.minutiae.len());
        }
    }
}
