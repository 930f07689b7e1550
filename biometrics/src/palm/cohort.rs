//! Cohort normalisation (issue 17 §3): a palm match must also stand out from the probe's similarity to
//! *other people enrolled on the same readers*, so that the false-match rate holds on a sensor the fixed
//! score table was never calibrated on.
//!
//! Why: the score table ([`super::matcher::calibration`]) is fitted to PolyU's impostor pairs. On another
//! sensor the whole impostor distribution moves — an unseen contact-free sensor let 145 times the target
//! rate through — and the pair's own wrong alignments ([`super::matcher`]'s sidelobes) only partly correct
//! it. The textbook remedy is test normalisation (T-norm, Auckenthaler, Carey and Lloyd-Thomas, *Digital
//! Signal Processing* 10, 2000): compare the probe with a cohort of templates known to be someone else,
//! and measure the claimed match in units of that cohort's spread,
//! z = (raw(probe, reference) − mean_cohort) / sd_cohort. A cohort captured on the site's own readers
//! shares everything a sensor changes — exposure, blur, code smoothness, JPEG marks — so z's impostor
//! distribution is nearly the same on every sensor, where the raw similarity's is not.
//!
//! The cohort is the site's own enrolled palms of people other than the one claimed (or found), so no
//! template of a real person enters the repository (../shared/datasets/README.md) and a fixed cohort of
//! synthetic palms, which did not track real captures ([`super::matcher`]'s documentation), is not needed.
//! Up to [`COHORT_SIZE`] templates are used, taken round-robin over people; below [`MIN_COHORT`] the check
//! is not made and only the score table decides — a site with few palms enrolled has no sensor-independent
//! bound, and the README says so.
//!
//! The check is *added* to the score table, never a replacement: a match needs both, so it can only refuse
//! what the table alone would accept. Its [`Z_TABLE`] was measured on the synthetic palms (the only
//! development set with enough people for a 64-template cohort), every capture condition of
//! [`super::degrade::CONDITIONS`] the quality gate lets through, and checked on PolyU's real palms with the
//! cohort their four other people give (`tobira-bench palm` prints both).

use super::matcher::{MAX_SHIFT, compare_raw};
use super::template::PalmTemplate;

/// Cohort templates a decision compares the probe with: 64 comparisons of the raw similarity (≈ 12 µs
/// each) add under a millisecond. [`Z_TABLE`] is measured with cohorts of this size.
pub const COHORT_SIZE: usize = 64;

/// Fewer cohort templates than this and the spread is too uncertain to bound anything (with 4 people the
/// impostors' z reached 8 on PolyU): no check, the score table alone decides.
pub const MIN_COHORT: usize = 32;

/// A smaller cohort estimates the spread less surely, so its standard scores run further (the z table's
/// 1e-4 point, worst condition of the synthetic palms: 5.83 with 32 templates, 5.62 with 40, 5.60 with 48,
/// 5.32 with 64 — measured in session 24's scratch study). [`CohortStats::z`] divides the standard score
/// by 1 + `SMALL_COHORT` · (1/n − 1/[`COHORT_SIZE`]) — 1.156 at 32, 1.094 at 40, 1.052 at 48, 1 at 64 —
/// at or above each measured ratio, so one table serves every cohort size from [`MIN_COHORT`] up.
pub const SMALL_COHORT: f32 = 10.0;

/// (false-match rate, z a match must reach), permissive to strict, for a cohort of [`COHORT_SIZE`].
///
/// 1e-2 to 1e-4: for each rate, the highest empirical quantile over the capture conditions of 100
/// synthetic palms × 4 impressions (79,200 impostor pairs per condition where the gate refuses nothing),
/// rounded up to the second decimal; stricter rates lie beyond those pairs and continue the 1e-3 → 1e-4
/// slope (the tail is heavier than a normal one: a normal fit would put 1e-4 at 3.72). `tobira-bench palm`
/// recomputes it ("cohort check") and `tests/palm.rs` fails if this table differs from its recomputation.
pub const Z_TABLE: [(f64, f32); 6] =
    [(1e-2, 2.89), (1e-3, 4.07), (1e-4, 5.33), (1e-5, 6.59), (1e-6, 7.85), (1e-7, 9.11)];

/// The cohort's spread of the probe's raw similarity: what a stranger's comparison with this probe, on
/// these readers, looks like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CohortStats {
    pub mean: f32,
    pub sd: f32,
    pub n: usize,
}

/// A spread below this (a probe that scores the same against everyone) is taken as this, so z stays finite
/// and such a probe still needs a clear margin.
const SD_FLOOR: f32 = 0.005;

impl CohortStats {
    /// Mean and standard deviation of `scores`; `None` below [`MIN_COHORT`].
    pub fn of(scores: &[f32]) -> Option<CohortStats> {
        if scores.len() < MIN_COHORT {
            return None;
        }
        let n = scores.len() as f64;
        let mean = scores.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
        let var = scores.iter().map(|v| (f64::from(*v) - mean).powi(2)).sum::<f64>() / n;
        Some(CohortStats { mean: mean as f32, sd: (var.sqrt() as f32).max(SD_FLOOR), n: scores.len() })
    }

    /// The probe's raw similarity against `cohort` (at most [`COHORT_SIZE`] of them are used).
    pub fn measure<'a>(probe: &PalmTemplate, cohort: impl IntoIterator<Item = &'a PalmTemplate>) -> Option<Self> {
        let scores: Vec<f32> = cohort.into_iter().take(COHORT_SIZE).map(|c| raw(probe, c)).collect();
        CohortStats::of(&scores)
    }

    /// How many cohort standard deviations `raw_score` lies above the cohort's mean, divided by the margin a
    /// cohort smaller than [`COHORT_SIZE`] needs ([`SMALL_COHORT`]): the z that [`Z_TABLE`] reads.
    pub fn z(&self, raw_score: f32) -> f32 {
        (raw_score - self.mean) / self.sd / small_cohort_margin(self.n)
    }
}

/// [`SMALL_COHORT`]'s divisor for a cohort of `n` (1 from [`COHORT_SIZE`] up).
pub fn small_cohort_margin(n: usize) -> f32 {
    let n = n.max(1) as f32;
    (1.0 + SMALL_COHORT * (1.0 / n - 1.0 / COHORT_SIZE as f32)).max(1.0)
}

/// The raw similarity the cohort is measured in (the score before the sidelobe normalisation).
pub fn raw(probe: &PalmTemplate, reference: &PalmTemplate) -> f32 {
    compare_raw(probe, reference, MAX_SHIFT).0
}

/// The z a match must reach for a false-match rate (per comparison), interpolated in log(FMR) and clamped to
/// [`Z_TABLE`]'s ends.
pub fn z_for_fmr(fmr: f64) -> f32 {
    crate::score::interpolate(&Z_TABLE, fmr).0
}

/// One cohort check, for the record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CohortCheck {
    pub z: f32,
    pub required: f32,
    pub cohort: usize,
}

impl CohortCheck {
    pub fn passes(&self) -> bool {
        self.z >= self.required
    }
}

/// Checks `probe` against `reference` at `fmr` per comparison, with the cohort `stats` of the probe.
pub fn check(probe: &PalmTemplate, reference: &PalmTemplate, stats: &CohortStats, fmr: f64) -> CohortCheck {
    CohortCheck { z: stats.z(raw(probe, reference)), required: z_for_fmr(fmr), cohort: stats.n }
}

/// A table from impostor z-scores measured under several capture conditions (each condition's scores
/// apart): [`Z_TABLE`]'s construction, so the bench and the test recompute it the same way. `None` when no
/// condition has the pairs to measure 1e-4 (at least 50,000).
pub fn calibrate_z(conditions: &[Vec<f32>]) -> Option<[(f64, f32); 6]> {
    let quantile = |v: &[f32], fmr: f64| -> Option<f32> {
        // Enough pairs that the quantile is a count of at least 5 above it.
        if (v.len() as f64) * fmr < 5.0 {
            return None;
        }
        let mut s = v.to_vec();
        s.sort_by(|a, b| b.total_cmp(a));
        let k = ((fmr * s.len() as f64).floor() as usize).min(s.len() - 1);
        Some(s[k])
    };
    let measured = |fmr: f64| conditions.iter().filter_map(|c| quantile(c, fmr)).fold(f32::NEG_INFINITY, f32::max);
    let up = |v: f32| (v * 100.0).ceil() / 100.0;
    if !measured(1e-4).is_finite() {
        return None;
    }
    let (q2, q3, q4) = (up(measured(1e-2)), up(measured(1e-3)), up(measured(1e-4)));
    let slope = q4 - q3;
    Some(
        [(1e-2, q2), (1e-3, q3), (1e-4, q4), (1e-5, q4 + slope), (1e-6, q4 + 2.0 * slope), (1e-7, q4 + 3.0 * slope)]
            .map(|(f, v)| (f, (v * 100.0).round() / 100.0)),
    )
}

/// Every unordered pair (i < j) of a set's templates with the cohort z of `templates[i]` as the probe
/// against `templates[j]`, the cohort being the set's templates of people other than both (`ids`), taken
/// round-robin: how [`Z_TABLE`] is measured and how `tobira-bench palm` evaluates a set — a site whose
/// readers gave these captures would have these people enrolled. `None` where the cohort is too small.
pub fn pair_z(ids: &[&str], templates: &[&PalmTemplate]) -> Vec<(usize, usize, Option<f32>)> {
    let n = templates.len().min(ids.len());
    let mut raw_m = vec![0f32; n * n];
    for i in 0..n {
        for j in 0..n {
            if i != j {
                raw_m[i * n + j] = raw(templates[i], templates[j]);
            }
        }
    }
    // Each template's person, and each person's templates, by index.
    let (mut names, mut people, mut person_of): (Vec<&str>, Vec<Vec<usize>>, Vec<usize>) = Default::default();
    for (k, id) in ids.iter().enumerate().take(n) {
        let p = names.iter().position(|x| x == id).unwrap_or_else(|| {
            names.push(id);
            people.push(Vec::new());
            names.len() - 1
        });
        people[p].push(k);
        person_of.push(p);
    }
    let mut out = Vec::with_capacity(n * n.saturating_sub(1) / 2);
    for i in 0..n {
        let row = &raw_m[i * n..(i + 1) * n];
        for j in i + 1..n {
            let stats = stats_from_row(row, &people, [person_of[i], person_of[j]]);
            out.push((i, j, stats.map(|st| st.z(row[j]))));
        }
    }
    out
}

/// The cohort statistics of a probe whose raw similarity to each of a set's templates is `row`: the
/// templates of every person in `people` (each a list of indices into `row`) but the two in `skip` — the
/// probe's and the reference's — taken [`round_robin`]. `None` below [`MIN_COHORT`].
pub fn stats_from_row(row: &[f32], people: &[Vec<usize>], skip: [usize; 2]) -> Option<CohortStats> {
    let others: Vec<&[usize]> =
        people.iter().enumerate().filter(|(p, _)| !skip.contains(p)).map(|(_, v)| v.as_slice()).collect();
    let scores: Vec<f32> = round_robin(&others).into_iter().map(|k| row[*k]).collect();
    CohortStats::of(&scores)
}

/// Templates for a cohort: up to [`COHORT_SIZE`], round-robin over `people` (each a list of one person's
/// templates), so a site where some enrolled both hands still gets as many different people as it has.
pub fn round_robin<'a, T>(people: &[&'a [T]]) -> Vec<&'a T> {
    let mut out = Vec::with_capacity(COHORT_SIZE);
    let mut round = 0;
    while out.len() < COHORT_SIZE {
        let before = out.len();
        for p in people {
            if out.len() >= COHORT_SIZE {
                break;
            }
            if let Some(t) = p.get(round) {
                out.push(t);
            }
        }
        if out.len() == before {
            break;
        }
        round += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_small_a_cohort_bounds_nothing() {
        assert_eq!(CohortStats::of(&[0.1; MIN_COHORT - 1]), None);
        let s = CohortStats::of(&[0.1; MIN_COHORT]).expect("enough");
        // A probe that scores the same against everyone still needs a margin: the floor keeps z finite.
        assert_eq!(s.sd, SD_FLOOR);
        assert!(s.z(0.1 + 4.0 * SD_FLOOR) < z_for_fmr(1e-4));
    }

    #[test]
    fn z_is_measured_in_the_cohorts_spread() {
        let scores: Vec<f32> = (0..64).map(|i| if i % 2 == 0 { 0.1 } else { 0.2 }).collect();
        let s = CohortStats::of(&scores).expect("enough");
        assert!((s.mean - 0.15).abs() < 1e-6 && (s.sd - 0.05).abs() < 1e-6, "{s:?}");
        assert!((s.z(0.4) - 5.0).abs() < 1e-4, "a full cohort: the plain standard score");
        // Half the cohort, the same spread: the standard score is discounted by the small cohort's margin.
        let half = CohortStats::of(&scores[..32]).expect("enough");
        assert!((half.z(0.4) - 5.0 / 1.15625).abs() < 1e-3, "{}", half.z(0.4));
        assert!(small_cohort_margin(40) > small_cohort_margin(48) && small_cohort_margin(48) > 1.0);
        assert_eq!(small_cohort_margin(64), 1.0);
        assert_eq!(small_cohort_margin(500), 1.0);
        // The same raw similarity from a probe whose cohort sits higher is weaker evidence.
        let high: Vec<f32> = scores.iter().map(|v| v + 0.15).collect();
        assert!(CohortStats::of(&high).expect("enough").z(0.4) < 2.0);
    }

    #[test]
    fn the_z_table_is_strict_to_stricter_and_interpolates() {
        assert!(Z_TABLE.windows(2).all(|w| w[0].0 > w[1].0 && w[0].1 < w[1].1), "{Z_TABLE:?}");
        assert_eq!(z_for_fmr(1e-4), Z_TABLE[2].1);
        let mid = z_for_fmr(10f64.powf(-3.5));
        assert!(mid > Z_TABLE[1].1 && mid < Z_TABLE[2].1);
        assert_eq!(z_for_fmr(1e-12), Z_TABLE[5].1, "clamped at the strictest point");
        assert_eq!(z_for_fmr(f64::NAN), Z_TABLE[5].1);
    }

    #[test]
    fn calibration_takes_the_worst_condition_and_continues_the_slope() {
        // Two conditions of 100,000 scores: 0..1 uniform and 0..2 uniform; the second's quantiles are higher.
        let a: Vec<f32> = (0..100_000).map(|i| i as f32 / 100_000.0).collect();
        let b: Vec<f32> = a.iter().map(|v| v * 2.0).collect();
        let t = calibrate_z(&[a, b]).expect("100,000 pairs measure 1e-4");
        assert_eq!(t[0], (1e-2, 1.98));
        assert_eq!(t[1], (1e-3, 2.0));
        assert_eq!(t[2], (1e-4, 2.0));
        // A condition too small for a rate (fewer than 5 pairs beyond it) does not decide that point.
        let small: Vec<f32> = vec![9.0; 1000];
        let t2 = calibrate_z(&[(0..100_000).map(|i| i as f32 / 100_000.0).collect(), small.clone()]).expect("measured");
        assert_eq!(t2[0].1, 9.0, "{t2:?}");
        assert_eq!(t2[1].1, 1.0, "{t2:?}");
        assert_eq!(t2[2].1, 1.0, "{t2:?}");
        assert_eq!(calibrate_z(&[small]), None, "1,000 pairs cannot measure 1e-4");
    }

    #[test]
    fn round_robin_spreads_over_people_first() {
        let a = [1, 2, 3];
        let b = [10];
        let c = [20, 21];
        let picked: Vec<i32> = round_robin(&[&a[..], &b[..], &c[..]]).into_iter().copied().collect();
        assert_eq!(picked, vec![1, 10, 20, 2, 21, 3]);
        let many: Vec<Vec<u32>> = (0..100).map(|i| vec![i, i + 1000]).collect();
        let refs: Vec<&[u32]> = many.iter().map(|v| v.as_slice()).collect();
        let p = round_robin(&refs);
        assert_eq!(p.len(), COHORT_SIZE);
        assert!(p.iter().all(|v| **v < 100), "one template per person before anyone's second");
    }
}
