//! Scores and thresholds calibrated to a false-match rate.
//!
//! The table maps a false-match rate to the score an impostor comparison reaches that rarely. A comparison
//! is what the daemon decides on since enrolment fusion (issue 17): one probe against an enrolled finger of
//! three to five impressions, the mean of its two best scores against them ([`fused`]) — so the table is
//! measured on fused scores. A finger of one or two impressions (stored before fusion, or enrolled when
//! only two captures agreed) scores lower against strangers (one comparison, or the mean of both), so it is
//! held to a stricter rate than the table says, never a looser one.
//!
//! Derived from development data only (issue 17 §2): the fused impostor scores of FVC2000 DB1–DB3 — for
//! each finger every choice of 3, of 4 and of 5 of its 8 impressions against every impression of the set's
//! other fingers ([`fused_impostors`]) — each set read five times, at its nominal 500 dpi and at 480, 490,
//! 510 and 520 dpi (1,965,600 comparisons). Each set's five readings pooled give that sensor's table for
//! each number of impressions ([`calibrate`]: at 1e-2, 1e-3 and 1e-4 the lowest threshold that at most
//! that share reaches; stricter rates on a straight line in log(FMR) at the slope between 1e-2 and 1e-4),
//! and the table is the strictest of the nine ([`strictest`]), so each development sensor holds every rate
//! on its own whatever the template. One reading's strict end is one impostor pair's accident (a high pair
//! recurs in many of the fused choices, and DB2's highest impostor moves over 0.078–0.127 across the five
//! readings), hence the pooled readings. FVC2002 DB1, the evaluation set, is not used. Former tables: before
//! the extractor enlarged fine-ridged prints (`image::MIN_PERIOD`, session 18) 0.066 / 0.092 / 0.104, +0.022;
//! before the matcher's weighted hypotheses went from 16 to 8 (session 17) 0.068 / 0.093 / 0.106, +0.022; before
//! the extractor filled pores (session 17) 0.066 / 0.094 / 0.106, +0.022; three impressions only, strictest
//! per sensor, 0.059 / 0.082 / 0.103, +0.022; the best two with the three sensors pooled 0.053 / 0.073 /
//! 0.095, +0.021 (DB2 alone reached its 1e-4 point 2.9 times too often); with max fusion (session 15),
//! pooled, 0.064 / 0.089 / 0.122, +0.029; max fusion at 500 dpi alone 0.065 / 0.087 / 0.116, +0.026; single
//! scores before the matcher weighed minutiae by quality 0.057 / 0.073 / 0.090, +0.017.
//! `tests/calibration.rs` recomputes the table from the development sets and fails if this one differs:
//! re-derive it there when the matcher, the extractor or the fusion rule changes.

/// Similarity of two templates; higher is more similar, 0 for no evidence.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Score(pub f32);

/// (false-match rate, score threshold), from permissive to strict (see the module documentation).
pub const CALIBRATION: [(f64, f32); 6] =
    [(1e-2, 0.066), (1e-3, 0.086), (1e-4, 0.100), (1e-5, 0.118), (1e-6, 0.136), (1e-7, 0.154)];

/// The table's strictest point, and the slope the table itself is extrapolated on beyond 1e-4 (see above):
/// doors extend the table on it past 1e-7.
const STRICTEST: (f64, f32) = CALIBRATION[CALIBRATION.len() - 1];
pub const EXTRAPOLATION_PER_DECADE: f32 = 0.018;

/// The score for a target false-match rate from a calibration table (permissive to strict, non-empty),
/// interpolated in log(FMR) between points and clamped to the table's ends; a rate that is not a positive
/// number gets the strictest point. Returns (score, the rate asked for or the one used instead).
pub(crate) fn interpolate(table: &[(f64, f32)], fmr: f64) -> (f32, f64) {
    let (Some(&first), Some(&last)) = (table.first(), table.last()) else { return (f32::MAX, 0.0) };
    let fmr = if fmr.is_finite() && fmr > 0.0 { fmr } else { last.0 };
    if fmr >= first.0 {
        return (first.1, fmr);
    }
    if fmr <= last.0 {
        return (last.1, fmr);
    }
    for w in table.windows(2) {
        let ((f0, s0), (f1, s1)) = (w[0], w[1]);
        if fmr <= f0 && fmr >= f1 {
            let x = (fmr.ln() - f0.ln()) / (f1.ln() - f0.ln());
            return (s0 + (s1 - s0) * x as f32, fmr);
        }
    }
    (last.1, fmr)
}

/// A decision threshold: a score at or above it is a match.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold {
    value: f32,
    fmr: f64,
}

impl Threshold {
    /// The threshold for a target false-match rate, interpolated in log(FMR) between calibrated points and
    /// clamped to the table's ends (a stricter rate than measured gets the strictest measured threshold).
    pub fn for_fmr(fmr: f64) -> Threshold {
        let (value, fmr) = interpolate(&CALIBRATION, fmr);
        Threshold { value, fmr }
    }

    /// The threshold that keeps the false-positive identification rate *per decision* at `fpir` when a
    /// probe is compared with `candidates` templates (a stranger at a door has one chance per template
    /// allowed there). By the union bound FPIR ≤ N × FMR, so each comparison gets `fpir / N`
    /// (issue 16 §2; palm doors do the same with `PalmThreshold::for_identification`).
    ///
    /// Past the table's strictest point the threshold is extrapolated on the same slope the table's own
    /// strict end uses ([`EXTRAPOLATION_PER_DECADE`], the fused impostor tail between 1e-2 and 1e-4 on the
    /// development sets), rather than clamped:
    /// a clamp would let FPIR grow with N again beyond 1,000 templates at 1e-4. `fmr()` is the
    /// per-comparison rate used, so `fmr() × N ≤ fpir` always holds.
    pub fn for_identification(fpir: f64, candidates: usize) -> Threshold {
        let fpir = if fpir.is_finite() && fpir > 0.0 { fpir } else { STRICTEST.0 };
        let per = fpir / candidates.max(1) as f64;
        if per >= STRICTEST.0 {
            return Threshold::for_fmr(per);
        }
        let decades = (STRICTEST.0 / per).log10() as f32;
        Threshold { value: STRICTEST.1 + EXTRAPOLATION_PER_DECADE * decades, fmr: per }
    }

    pub fn accepts(&self, s: Score) -> bool {
        s.0 >= self.value
    }

    pub fn value(&self) -> f32 {
        self.value
    }

    pub fn fmr(&self) -> f64 {
        self.fmr
    }
}

/// The daemon's default: FMR ≤ 1/10,000 (THREATS.md).
impl Default for Threshold {
    fn default() -> Self {
        Threshold::for_fmr(1e-4)
    }
}

/// The false-match rates the table has a measured point for, permissive to strict; the stricter points
/// ([`EXTRAPOLATED`]) follow the measured slope.
pub const MEASURED: [f64; 3] = [1e-2, 1e-3, 1e-4];
/// Rates beyond the measurements, extrapolated from them (see [`calibrate`]).
pub const EXTRAPOLATED: [f64; 3] = [1e-5, 1e-6, 1e-7];

/// A calibration table recomputed from impostor scores ([`calibrate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// (false-match rate, threshold) at [`MEASURED`] then [`EXTRAPOLATED`].
    pub table: Vec<(f64, f32)>,
    /// Threshold rise per decade of FMR beyond the measured points.
    pub per_decade: f32,
    /// Impostor comparisons it was computed from, and the highest score among them.
    pub comparisons: usize,
    pub highest: f32,
}

/// The fused score of a probe against an enrolled finger's impressions (issue 17): the mean of its two
/// best scores; one score alone for a finger of one impression; 0 for none.
///
/// Why the best two and not the best one: a stranger's probe that happens to line up with one impression
/// rarely lines up with a second, while the owner's usually overlaps two of three. Chosen on the
/// development sets at the operating point (`scripts/fusion-rules`, session 16; each rule with its own
/// table made as the daemon's is, the share of fused genuine attempts refused at doors of 1 / 10,000
/// templates, FVC2000 DB1 / DB2 / DB3, means over five readings): the best one 8.3 / 8.7 / 31.4 % and
/// 38.5 / 29.4 / 59.1 %; the best two 6.0 / 8.0 / 27.8 % and 25.6 / 21.0 / 52.8 %; the mean of the three
/// 5.8 / 8.8 / 28.6 % and 25.5 / 21.2 / 51.9 % (level with the best two, worse on DB2 and on synthetic
/// prints' tail); the second best worse than both. What it costs: its impostor scores lie closer
/// together, so a sensor whose impostors score higher than every calibration sensor's overshoots the rate
/// by more (DB2 held out of the calibration reaches the other two's 1e-4 point 18× too often, against 12×
/// with the best one).
pub fn fused(scores: impl IntoIterator<Item = Score>) -> Score {
    let (mut a, mut b): (Option<f32>, Option<f32>) = (None, None);
    for Score(s) in scores {
        if a.is_none_or(|a| s > a) {
            b = a;
            a = Some(s);
        } else if b.is_none_or(|b| s > b) {
            b = Some(s);
        }
    }
    match (a, b) {
        (Some(a), Some(b)) => Score((a + b) / 2.0),
        (Some(a), None) => Score(a),
        _ => Score(0.0),
    }
}

/// Fused impostor scores of one set (issue 17): for every finger, every choice of `captures` of its
/// impressions as an enrolled template, every impression of every other finger as the probe, the probe's
/// [`fused`] score against the chosen impressions — the score the daemon compares with its threshold.
/// `s[probe][reference]` is the directed score matrix of the set's impressions, `fingers[i]` the finger of
/// impression `i` (an impression that failed to enrol scores 0 in its row and column).
pub fn fused_impostors(fingers: &[u32], s: &[Vec<f32>], captures: usize) -> Vec<f32> {
    let mut by_finger: Vec<(u32, Vec<usize>)> = Vec::new();
    for (i, f) in fingers.iter().enumerate() {
        match by_finger.iter_mut().find(|(g, _)| g == f) {
            Some((_, v)) => v.push(i),
            None => by_finger.push((*f, vec![i])),
        }
    }
    let mut out = Vec::new();
    for (f, imps) in &by_finger {
        for choice in subsets(imps.len(), captures) {
            for (p, row) in s.iter().enumerate() {
                if fingers.get(p) == Some(f) {
                    continue;
                }
                out.push(fused(choice.iter().map(|&k| Score(row.get(imps[k]).copied().unwrap_or(0.0)))).0);
            }
        }
    }
    out
}

/// Every `k`-subset of `0..n`, in lexicographic order.
pub fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    if k == 0 || k > n {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut c: Vec<usize> = (0..k).collect();
    loop {
        out.push(c.clone());
        let Some(i) = (0..k).rev().find(|&i| c[i] < n - k + i) else { return out };
        c[i] += 1;
        for j in i + 1..k {
            c[j] = c[j - 1] + 1;
        }
    }
}

/// The calibration method (issue 17; README "Fingerprint images against the NIST reference"): at each
/// [`MEASURED`] rate f, the lowest threshold (a multiple of 0.001) that at most f of the impostor scores
/// reach; beyond them, a straight line in log(FMR) at the slope between the 1e-2 and 1e-4 points. Empty
/// input gives an empty table.
pub fn calibrate(impostors: &[f32]) -> Calibration {
    let mut v: Vec<f32> = impostors.to_vec();
    v.sort_by(|a, b| b.total_cmp(a));
    let n = v.len();
    let Some(&highest) = v.first() else {
        return Calibration { table: Vec::new(), per_decade: 0.0, comparisons: 0, highest: 0.0 };
    };
    let mut table: Vec<(f64, f32)> = MEASURED
        .iter()
        .map(|&f| {
            // At most floor(f·n) scores may reach the threshold: it must lie above the next one.
            let k = ((f * n as f64).floor() as usize).min(n - 1);
            let mut t = ((f64::from(v[k]) * 1000.0).floor() + 1.0) / 1000.0;
            while t as f32 <= v[k] {
                t += 0.001;
            }
            (f, t as f32)
        })
        .collect();
    let decades = (MEASURED[0] / MEASURED[MEASURED.len() - 1]).log10() as f32;
    let rise = table[table.len() - 1].1 - table[0].1;
    let per_decade = ((rise / decades) * 1000.0).ceil() / 1000.0;
    extrapolate(&mut table, per_decade);
    Calibration { table, per_decade, comparisons: n, highest }
}

/// Appends the [`EXTRAPOLATED`] rates to a table of the [`MEASURED`] ones: from its strictest point on a
/// straight line in log(FMR), `per_decade` higher each decade, rounded to 0.001. One line for
/// [`calibrate`] and [`strictest`], so the daemon's table and a recomputed one extend alike.
fn extrapolate(table: &mut Vec<(f64, f32)>, per_decade: f32) {
    let Some(&(last_f, last_t)) = table.last() else { return };
    for &f in &EXTRAPOLATED {
        let d = (last_f / f).log10().round() as f32;
        table.push((f, ((last_t + per_decade * d) * 1000.0).round() / 1000.0));
    }
}

/// The strictest of several sensors' tables (issue 17, session 16): at each measured rate the highest of
/// their thresholds, beyond them the steepest of their slopes from the highest 1e-4 point. Pooling the
/// sensors' impostors instead lets a sensor whose impostors score high hide among the others' — with the
/// development sets pooled, FVC2000 DB2 alone reached the 1e-4 point 2.9 times as often as it should — so
/// the table is the one under which every development sensor holds each rate on its own. It does not make
/// a sensor worse than all of them safe (README, "The threshold table": each set held out).
pub fn strictest(tables: &[Calibration]) -> Calibration {
    let mut table: Vec<(f64, f32)> = MEASURED
        .iter()
        .enumerate()
        .map(|(k, &f)| (f, tables.iter().filter_map(|c| c.table.get(k)).map(|p| p.1).fold(0.0, f32::max)))
        .collect();
    let per_decade = tables.iter().map(|c| c.per_decade).fold(0.0, f32::max);
    extrapolate(&mut table, per_decade);
    Calibration {
        table,
        per_decade,
        comparisons: tables.iter().map(|c| c.comparisons).sum(),
        highest: tables.iter().map(|c| c.highest).fold(0.0, f32::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stricter_rates_give_higher_thresholds() {
        let mut last = 0.0;
        for f in [1e-1, 1e-2, 3e-3, 1e-3, 1e-4, 1e-5, 1e-6, 1e-8] {
            let t = Threshold::for_fmr(f).value();
            assert!(t >= last, "{f}: {t} < {last}");
            last = t;
        }
        assert_eq!(Threshold::default().value(), Threshold::for_fmr(1e-4).value());
        assert!(Threshold::for_fmr(f64::NAN).value() >= Threshold::for_fmr(1e-7).value());
    }

    #[test]
    fn one_candidate_is_the_one_to_one_threshold() {
        assert_eq!(Threshold::for_identification(1e-4, 1), Threshold::for_fmr(1e-4));
        assert_eq!(Threshold::for_identification(1e-4, 0), Threshold::for_fmr(1e-4), "nobody allowed: 1:1");
        let ten = Threshold::for_identification(1e-4, 10);
        assert!((ten.value() - Threshold::for_fmr(1e-5).value()).abs() < 1e-6, "{ten:?}");
        // Beyond the table: 10,000 templates at 1e-4 ask 1e-8 of each comparison, one decade past 1e-7.
        let big = Threshold::for_identification(1e-4, 10_000);
        assert!((big.value() - (STRICTEST.1 + EXTRAPOLATION_PER_DECADE)).abs() < 1e-5, "{big:?}");
        assert!(Threshold::for_identification(f64::NAN, 1).value() >= Threshold::for_fmr(1e-7).value());
    }

    #[test]
    fn the_strictest_table_holds_every_sensors_rate() {
        // Sensor A's impostors 0.000…0.999, sensor B's the same shifted up by 0.2 at the top.
        let a: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        let b: Vec<f32> = a.iter().map(|&x| if x > 0.9 { x + 0.2 } else { x }).collect();
        let (ca, cb) = (calibrate(&a), calibrate(&b));
        let c = strictest(&[ca.clone(), cb.clone()]);
        assert_eq!(c.table.len(), MEASURED.len() + EXTRAPOLATED.len());
        for (k, &(f, t)) in c.table.iter().enumerate().take(MEASURED.len()) {
            assert_eq!(t, ca.table[k].1.max(cb.table[k].1));
            for v in [&a, &b] {
                let over = v.iter().filter(|&&x| x >= t).count();
                assert!(over as f64 <= f * v.len() as f64, "{f}: {over} of one sensor reach {t}");
            }
        }
        assert_eq!(c.per_decade, ca.per_decade.max(cb.per_decade));
        assert!(c.table.windows(2).all(|w| w[1].1 >= w[0].1));
        // Pooled, the high sensor is hidden: it reaches the pooled 1e-3 point more often than 1e-3.
        let pooled = calibrate(&[a.clone(), b.clone()].concat());
        let over = b.iter().filter(|&&x| x >= pooled.table[1].1).count();
        assert!(over as f64 > 1e-3 * b.len() as f64, "{over}");
    }

    #[test]
    fn the_fused_score_is_the_mean_of_the_two_best() {
        let f = |v: &[f32]| fused(v.iter().map(|&s| Score(s))).0;
        assert!((f(&[0.1, 0.5, 0.3]) - 0.4).abs() < 1e-6, "the best two of three, whatever their order");
        assert!((f(&[0.5, 0.1, 0.3]) - 0.4).abs() < 1e-6);
        assert!((f(&[0.3, 0.3, 0.1]) - 0.3).abs() < 1e-6, "a tie counts twice");
        // A stranger who lines up with one impression only does not get that impression's score.
        assert!((f(&[0.0, 0.9, 0.0]) - 0.45).abs() < 1e-6);
        assert_eq!(f(&[0.2]), 0.2, "a finger of one impression: its one score");
        assert_eq!(f(&[]), 0.0);
    }

    #[test]
    fn fused_impostors_are_the_fused_score_of_each_choice_and_the_method_is_exact() {
        // Two fingers of three impressions; scores a[p][r] = 0.1·p + 0.01·r, so a probe's best two of a
        // choice are its highest-numbered references.
        let fingers = [1, 1, 1, 2, 2, 2];
        let s: Vec<Vec<f32>> = (0..6).map(|p| (0..6).map(|r| 0.1 * p as f32 + 0.01 * r as f32).collect()).collect();
        let two = fused_impostors(&fingers, &s, 2);
        // Per finger C(3,2) = 3 choices × 3 probes of the other finger.
        assert_eq!(two.len(), 18);
        assert!((two[0] - (0.3 + 0.005)).abs() < 1e-6, "probe 3 against {{0,1}} of finger 1: {}", two[0]);
        let three = fused_impostors(&fingers, &s, 3);
        assert_eq!(three.len(), 6);
        assert!((three[0] - (0.3 + 0.015)).abs() < 1e-6, "probe 3 against {{0,1,2}}: the best two {}", three[0]);
        assert_eq!(fused_impostors(&fingers, &s, 4), Vec::<f32>::new());
        assert_eq!(subsets(4, 2).len(), 6);
        // 1,000 scores 0.000 … 0.999: at most 10 may reach the 1e-2 point, at most 1 the 1e-3 point.
        let scores: Vec<f32> = (0..1000).map(|i| i as f32 / 1000.0).collect();
        let c = calibrate(&scores);
        assert_eq!((c.table[0].1, c.table[1].1, c.table[2].1), (0.990, 0.999, 1.0));
        for &(f, t) in &c.table[..3] {
            let over = scores.iter().filter(|&&x| x >= t).count();
            assert!(over as f64 <= f * 1000.0, "{f}: {over} reach {t}");
        }
        assert_eq!(c.table.len(), 6);
        assert!(c.table.windows(2).all(|w| w[1].1 >= w[0].1));
    }

    proptest::proptest! {
        /// Issue 16 §2: whatever the number allowed, the per-decision bound holds (N × FMR ≤ FPIR target),
        /// and more candidates never lower the threshold.
        #[test]
        fn fpir_bound_holds_and_the_threshold_rises_with_n(
            n in 1usize..2_000_000, more in 0usize..1_000_000, exp in 2.0f64..7.0,
        ) {
            let fpir = 10f64.powf(-exp);
            let t = Threshold::for_identification(fpir, n);
            proptest::prop_assert!(t.fmr() * n as f64 <= fpir * (1.0 + 1e-9), "{t:?} n {n}");
            let u = Threshold::for_identification(fpir, n + more);
            proptest::prop_assert!(u.value() >= t.value(), "{u:?} < {t:?}");
            proptest::prop_assert!(t.value() >= Threshold::for_fmr(fpir).value() - 1e-6);
        }
    }
}
