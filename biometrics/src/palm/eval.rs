//! Error-rate figures from genuine and impostor scores, with exactly the definitions of the project's
//! independent evaluator (`shared/tools/eval_scores.py`), so the benchmark's figures and the script's agree
//! to the printed digit: a score at or above the threshold is a match; EER is the mean of FMR and FNMR at the
//! candidate threshold (every observed score, and one above the highest) where they are closest;
//! FMR100/FMR1000/ZeroFMR are the lowest FNMR at a threshold whose FMR is at most 1 %, 0.1 %, 0.

/// Rates in per cent.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rates {
    pub eer: f64,
    pub fmr100: f64,
    pub fmr1000: f64,
    pub zero_fmr: f64,
    pub genuine: usize,
    pub impostor: usize,
}

/// The evaluator's figures. Scores are taken as f64 of the f32 values written to the CSV with enough digits
/// to round-trip, so both sides see the same numbers.
pub fn rates(genuine: &[f32], impostor: &[f32]) -> Rates {
    let mut g: Vec<f64> = genuine.iter().map(|s| f64::from(*s)).collect();
    let mut i: Vec<f64> = impostor.iter().map(|s| f64::from(*s)).collect();
    if g.is_empty() || i.is_empty() {
        return Rates::default();
    }
    g.sort_by(|a, b| a.total_cmp(b));
    i.sort_by(|a, b| a.total_cmp(b));
    let (ng, ni) = (g.len() as f64, i.len() as f64);
    let below = |v: &[f64], t: f64| v.partition_point(|x| *x < t);
    let fnmr = |t: f64| below(&g, t) as f64 / ng;
    let fmr = |t: f64| (i.len() - below(&i, t)) as f64 / ni;
    let mut cands: Vec<f64> = g.iter().chain(&i).copied().collect();
    cands.sort_by(|a, b| a.total_cmp(b));
    cands.dedup();
    let top = cands.last().copied().unwrap_or(0.0);
    cands.push(top + 1e-9);
    let (mut eer, mut gap) = (0.0, 2.0);
    for &t in &cands {
        let (a, b) = (fmr(t), fnmr(t));
        if (a - b).abs() < gap {
            gap = (a - b).abs();
            eer = (a + b) / 2.0;
        }
    }
    let at = |max_fmr: f64| cands.iter().filter(|t| fmr(**t) <= max_fmr).map(|t| fnmr(*t)).fold(1.0f64, f64::min);
    Rates {
        eer: 100.0 * eer,
        fmr100: 100.0 * at(0.01),
        fmr1000: 100.0 * at(0.001),
        zero_fmr: 100.0 * at(0.0),
        genuine: g.len(),
        impostor: i.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_scores_have_no_errors_and_overlap_is_counted() {
        let r = rates(&[0.9, 0.8, 0.7], &[0.1, 0.2, 0.3]);
        assert_eq!((r.eer, r.fmr100, r.zero_fmr), (0.0, 0.0, 0.0));
        let r = rates(&[0.9, 0.2], &[0.1, 0.5]);
        assert!((r.eer - 50.0).abs() < 1e-9, "{r:?}");
        assert_eq!(rates(&[], &[0.1]), Rates::default());
    }

    /// Overlapping scores, with the figures `eval_scores.py` printed for the same pairs (written as an FVC-named
    /// CSV): EER 7.917, FMR100 = FMR1000 = ZeroFMR 33.333.
    #[test]
    fn agrees_with_the_independent_evaluator() {
        let g = [0.606, 0.67, 0.531, 0.653, 0.739, 0.662, 0.834, 0.467, 0.61, 0.494, 0.482, 0.572];
        let i = [
            0.327, 0.35, 0.361, 0.568, 0.404, 0.109, 0.325, 0.225, 0.238, 0.457, 0.273, 0.066, 0.337, 0.265, 0.159,
            0.189, 0.225, 0.297, 0.249, 0.309, 0.52, 0.204, 0.203, 0.27, 0.431, 0.215, 0.472, 0.143, 0.176, 0.293,
            0.196, 0.226, 0.354, 0.387, 0.314, 0.267, 0.461, 0.348, 0.272, 0.446,
        ];
        let r = rates(&g, &i);
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        assert_eq!(
            (round(r.eer), round(r.fmr100), round(r.fmr1000), round(r.zero_fmr)),
            (7.917, 33.333, 33.333, 33.333)
        );
    }
}
