//! The minutiae matcher: local structures for alignment, then global pairing.
//!
//! Each minutia is described by its K nearest neighbours as (distance, direction of the neighbour seen from
//! the minutia, the neighbour's direction), all relative to the minutia's own direction — invariant to
//! rotation and translation (in the manner of Jiang & Yau's local structures). Pairs of minutiae whose
//! neighbourhoods agree are alignment hypotheses; for the best few, the probe is rotated and translated onto
//! the reference and minutiae are paired greedily within tolerances that widen with distance from the anchor
//! (skin is elastic). The score is the classic n² / (n_probe · n_reference) over the best hypothesis.
//!
//! Deterministic: the same inputs always give the same score.

use super::template::MinutiaeTemplate;
use crate::score::Score;
use std::f32::consts::{PI, TAU};

/// Neighbours per local structure.
const K: usize = 6;
/// Alignment hypotheses tried per comparison.
const HYPOTHESES: usize = 10;
/// Local-structure tolerances: 10 px, and 0.30 rad ≈ 12/256 of a turn.
const D_TOL: i16 = 40;
const A_TOL: i16 = 12;
/// Pairing tolerance at the anchor, in pixels at 500 dpi, and its growth with distance.
const PAIR_TOL: f32 = 11.0;
const PAIR_GROWTH: f32 = 0.06;
const PAIR_ANGLE: f32 = 0.45;
/// Small templates are scored as if they had this many minutiae: a 3-minutia probe pairing 3 of 3 is not
/// a strong match.
const MIN_COUNT: f32 = 15.0;

/// A neighbour in integer units so the inner loop is cheap: distance in quarter pixels, angles in 1/256 turn
/// (differences wrap by themselves in `u8` arithmetic).
#[derive(Clone, Copy, Default)]
struct Nbr {
    d: i16,
    phi: u8,
    dth: u8,
}

fn turn(a: f32) -> u8 {
    ((a.rem_euclid(TAU) / TAU * 256.0).round() as u32 % 256) as u8
}

fn adiff(a: u8, b: u8) -> i16 {
    i16::from(a.wrapping_sub(b) as i8).abs()
}

#[derive(Clone, Copy)]
struct Pt {
    x: f32,
    y: f32,
    t: f32,
}

/// A template in the matcher's form, derived at load (never stored).
#[derive(Clone)]
pub struct Prepared {
    pts: Vec<Pt>,
    nbrs: Vec<([Nbr; K], u8)>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prepared({} minutiae)", self.pts.len())
    }
}

fn wrap(a: f32) -> f32 {
    let mut a = a % TAU;
    if a > PI {
        a -= TAU;
    } else if a < -PI {
        a += TAU;
    }
    a
}

impl Prepared {
    pub fn new(t: &MinutiaeTemplate) -> Prepared {
        // Normalise to 500 dpi so 500 and 512 dpi sensors compare alike.
        let s = if t.resolution_dpi == 0 { 1.0 } else { 500.0 / f32::from(t.resolution_dpi) };
        let pts: Vec<Pt> =
            t.minutiae.iter().map(|m| Pt { x: f32::from(m.x) * s, y: f32::from(m.y) * s, t: m.radians() }).collect();
        let mut nbrs = Vec::with_capacity(pts.len());
        let mut cand: Vec<(f32, usize)> = Vec::with_capacity(pts.len());
        for (i, p) in pts.iter().enumerate() {
            cand.clear();
            for (j, q) in pts.iter().enumerate() {
                if i != j {
                    let d = ((q.x - p.x).powi(2) + (q.y - p.y).powi(2)).sqrt();
                    if d > 4.0 && d < 160.0 {
                        cand.push((d, j));
                    }
                }
            }
            cand.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut arr = [Nbr::default(); K];
            let mut n = 0u8;
            for &(d, j) in cand.iter().take(K) {
                let q = pts[j];
                let dir = (q.y - p.y).atan2(q.x - p.x);
                arr[usize::from(n)] = Nbr { d: (d * 4.0) as i16, phi: turn(dir - p.t), dth: turn(q.t - p.t) };
                n += 1;
            }
            nbrs.push((arr, n));
        }
        Prepared { pts, nbrs }
    }

    pub fn len(&self) -> usize {
        self.pts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pts.is_empty()
    }
}

fn local_similarity(a: &([Nbr; K], u8), b: &([Nbr; K], u8)) -> f32 {
    let (na, nb) = (usize::from(a.1), usize::from(b.1));
    if na < 2 || nb < 2 {
        return 0.0;
    }
    let mut used = [false; K];
    // Sum of (3 - normalised errors), in units of 1/(3·D_TOL·A_TOL) to stay in integers.
    let full = 3 * i32::from(D_TOL) * i32::from(A_TOL);
    let mut s: i32 = 0;
    for x in &a.0[..na] {
        let mut best: Option<(usize, i32)> = None;
        for (k, y) in b.0[..nb].iter().enumerate() {
            if used[k] {
                continue;
            }
            let dd = (x.d - y.d).abs();
            if dd > D_TOL {
                continue;
            }
            let dp = adiff(x.phi, y.phi);
            let dt = adiff(x.dth, y.dth);
            if dp > A_TOL || dt > A_TOL {
                continue;
            }
            let e = full - (i32::from(dd) * i32::from(A_TOL) + (i32::from(dp) + i32::from(dt)) * i32::from(D_TOL));
            if best.is_none_or(|(_, be)| e > be) {
                best = Some((k, e));
            }
        }
        if let Some((k, e)) = best {
            used[k] = true;
            s += e;
        }
    }
    s as f32 / (full as f32 * na.max(nb) as f32)
}

/// Pairs probe minutiae with reference minutiae under the alignment that maps probe[i] onto reference[j].
fn pair_count(p: &Prepared, r: &Prepared, i: usize, j: usize, used: &mut Vec<bool>) -> usize {
    let (a, b) = (p.pts[i], r.pts[j]);
    let rot = wrap(b.t - a.t);
    let (sn, cs) = rot.sin_cos();
    used.clear();
    used.resize(r.pts.len(), false);
    let mut n = 0;
    for q in &p.pts {
        let dx = q.x - a.x;
        let dy = q.y - a.y;
        let x = cs * dx - sn * dy + b.x;
        let y = sn * dx + cs * dy + b.y;
        let t = q.t + rot;
        let tol = PAIR_TOL + PAIR_GROWTH * (dx * dx + dy * dy).sqrt();
        let mut best: Option<(usize, f32)> = None;
        for (k, m) in r.pts.iter().enumerate() {
            if used[k] {
                continue;
            }
            let ex = m.x - x;
            let ey = m.y - y;
            if ex.abs() > tol || ey.abs() > tol {
                continue;
            }
            let d2 = ex * ex + ey * ey;
            if d2 > tol * tol || wrap(m.t - t).abs() > PAIR_ANGLE {
                continue;
            }
            if best.is_none_or(|(_, bd)| d2 < bd) {
                best = Some((k, d2));
            }
        }
        if let Some((k, _)) = best {
            used[k] = true;
            n += 1;
        }
    }
    n
}

/// 1:1 comparison. Higher is more similar; 0 for templates too small to compare.
pub fn compare(p: &Prepared, r: &Prepared) -> Score {
    if p.pts.len() < 3 || r.pts.len() < 3 {
        return Score(0.0);
    }
    // The best alignment hypotheses by local similarity.
    let mut top: Vec<(f32, usize, usize)> = Vec::with_capacity(HYPOTHESES + 1);
    for (i, a) in p.nbrs.iter().enumerate() {
        for (j, b) in r.nbrs.iter().enumerate() {
            let s = local_similarity(a, b);
            if s <= 0.25 {
                continue;
            }
            if top.len() < HYPOTHESES || s > top[top.len() - 1].0 {
                let at = top.partition_point(|x| x.0 >= s);
                top.insert(at, (s, i, j));
                top.truncate(HYPOTHESES);
            }
        }
    }
    let mut used = Vec::new();
    let best = top.iter().map(|&(_, i, j)| pair_count(p, r, i, j, &mut used)).max().unwrap_or(0);
    if best < 3 {
        return Score(0.0);
    }
    let n = best as f32;
    let np = (p.pts.len() as f32).max(MIN_COUNT);
    let nr = (r.pts.len() as f32).max(MIN_COUNT);
    Score((n * n / (np * nr)).min(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fingerprint::template::{Minutia, MinutiaKind};
    use crate::synthetic::{ImpressionNoise, SyntheticFinger};

    fn imp(finger: u64, seed: u64) -> Prepared {
        Prepared::new(&SyntheticFinger::new(finger).impression(seed, &ImpressionNoise::default()))
    }

    #[test]
    fn identical_templates_score_high_and_symmetric_enough() {
        let t = SyntheticFinger::new(3).impression(1, &ImpressionNoise::default());
        let p = Prepared::new(&t);
        assert!(compare(&p, &p).0 > 0.9);
        let q = imp(3, 2);
        let (a, b) = (compare(&p, &q).0, compare(&q, &p).0);
        assert!((a - b).abs() < 0.15, "{a} vs {b}");
    }

    #[test]
    fn rotation_and_translation_do_not_matter() {
        let t = SyntheticFinger::new(9).impression(1, &ImpressionNoise::none());
        let rot = 0.4f32;
        let moved = MinutiaeTemplate {
            minutiae: t
                .minutiae
                .iter()
                .map(|m| {
                    let (x, y) = (f32::from(m.x) - 150.0, f32::from(m.y) - 200.0);
                    Minutia {
                        x: (x * rot.cos() - y * rot.sin() + 180.0).clamp(0.0, 599.0) as u16,
                        y: (x * rot.sin() + y * rot.cos() + 230.0).clamp(0.0, 599.0) as u16,
                        angle: m.angle.wrapping_add((rot / TAU * 256.0).round() as u8),
                        ..*m
                    }
                })
                .collect(),
            width: 600,
            height: 600,
            ..t.clone()
        };
        assert!(compare(&Prepared::new(&t), &Prepared::new(&moved)).0 > 0.7);
    }

    #[test]
    fn degenerate_templates_never_match() {
        let empty = MinutiaeTemplate { width: 10, height: 10, resolution_dpi: 500, minutiae: vec![] };
        let one = MinutiaeTemplate {
            minutiae: vec![Minutia { x: 1, y: 1, angle: 0, kind: MinutiaKind::Ending, quality: 50 }],
            ..empty.clone()
        };
        let real = imp(1, 1);
        for t in [&empty, &one] {
            let p = Prepared::new(t);
            assert_eq!(compare(&p, &real).0, 0.0);
            assert_eq!(compare(&real, &p).0, 0.0);
            assert_eq!(compare(&p, &p).0, 0.0);
        }
    }
}
