//! Scores and thresholds calibrated to a false-match rate.
//!
//! The table maps a false-match rate to the score an impostor comparison reaches that rarely. It is the
//! stricter of two measurements, so a door errs on the side of refusing:
//!
//! - real sensors: the 11,520 cross-finger pairs of the four real FVC "B" sets (2,880 each), images through
//!   the extractor (`cargo run --release -p tobira-biometrics --example fvc -- DIR...` with
//!   `FVC_IMPOSTORS=FILE` writes them): 1e-2 → 0.048, 1e-3 → 0.072, highest of all 0.0916;
//! - synthetic fingers: 489,300 impostor pairs (`cargo test -p tobira-biometrics --release calibrate --
//!   --ignored --nocapture`): 1e-2 → 0.037, 1e-3 → 0.052, 1e-4 → 0.067, 1e-5 → 0.083.
//!
//! 1e-4 sits just above every real impostor score seen; stricter rates are extrapolated at +0.02 per
//! decade (the real tail's slope between 1e-2 and 1e-4). Re-measure when the matcher or extractor changes.

/// Similarity of two templates; higher is more similar, 0 for no evidence.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Score(pub f32);

/// (false-match rate, score threshold), from permissive to strict (see the module documentation).
pub(crate) const CALIBRATION: [(f64, f32); 6] =
    [(1e-2, 0.048), (1e-3, 0.073), (1e-4, 0.092), (1e-5, 0.112), (1e-6, 0.132), (1e-7, 0.152)];

/// The table's strictest point, and the slope the table itself is extrapolated on beyond 1e-4 (see above).
const STRICTEST: (f64, f32) = CALIBRATION[CALIBRATION.len() - 1];
const EXTRAPOLATION_PER_DECADE: f32 = 0.02;

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
    /// strict end uses (+0.02 per decade, the real impostor tail between 1e-2 and 1e-4), rather than clamped:
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
        assert!((big.value() - 0.172).abs() < 1e-5, "{big:?}");
        assert!(Threshold::for_identification(f64::NAN, 1).value() >= Threshold::for_fmr(1e-7).value());
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
