//! Scores and thresholds calibrated to a false-match rate.
//!
//! The table maps a false-match rate to the score an impostor comparison exceeds that often. It was measured
//! over impostor pairs of synthetic fingers (`cargo test -p tobira-biometrics --release calibrate -- --ignored
//! --nocapture` prints it again) and must be re-measured on real images when the image pipeline lands: the
//! synthetic impostor distribution is a model, not a sensor.

/// Similarity of two templates; higher is more similar, 0 for no evidence.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Score(pub f32);

/// (false-match rate, score threshold), from permissive to strict.
/// Measured on 489,300 impostor pairs of 700 synthetic fingers: 1e-2 → 0.099, 1e-3 → 0.146, 1e-4 → 0.186,
/// 1e-5 → 0.229 (4 scores above). The two strictest points are beyond what that sample can show and are
/// extrapolated on the same slope; genuine pairs of the same set scored 0.40 at their 1st percentile.
pub(crate) const CALIBRATION: [(f64, f32); 6] =
    [(1e-2, 0.100), (1e-3, 0.147), (1e-4, 0.187), (1e-5, 0.230), (1e-6, 0.270), (1e-7, 0.310)];

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
        let fmr = if fmr.is_finite() && fmr > 0.0 { fmr } else { CALIBRATION[CALIBRATION.len() - 1].0 };
        let first = CALIBRATION[0];
        let last = CALIBRATION[CALIBRATION.len() - 1];
        let value = if fmr >= first.0 {
            first.1
        } else if fmr <= last.0 {
            last.1
        } else {
            let mut v = last.1;
            for w in CALIBRATION.windows(2) {
                let ((f0, s0), (f1, s1)) = (w[0], w[1]);
                if fmr <= f0 && fmr >= f1 {
                    let x = (fmr.ln() - f0.ln()) / (f1.ln() - f0.ln());
                    v = s0 + (s1 - s0) * x as f32;
                    break;
                }
            }
            v
        };
        Threshold { value, fmr }
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
}
