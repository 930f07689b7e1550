//! Error rates from comparison scores, computed exactly as `shared/tools/eval_scores.py` does, so the
//! benchmark's figures and the independent evaluator's agree to the digit.
//!
//! Every candidate threshold is a score that occurred (plus one above the highest); a genuine score below the
//! threshold is a false non-match, an impostor score at or above it a false match.

/// EER, FMR100, FMR1000 and ZeroFMR in percent, with the pair counts they came from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rates {
    pub eer: f64,
    pub fmr100: f64,
    pub fmr1000: f64,
    pub zero_fmr: f64,
    pub genuine: usize,
    pub impostor: usize,
}

/// Rates over one genuine and one impostor score list; `None` when either is empty.
pub fn rates(genuine: &[f64], impostor: &[f64]) -> Option<Rates> {
    if genuine.is_empty() || impostor.is_empty() {
        return None;
    }
    let mut gen_s = genuine.to_vec();
    let mut imp = impostor.to_vec();
    gen_s.sort_by(f64::total_cmp);
    imp.sort_by(f64::total_cmp);
    let mut ths: Vec<f64> = gen_s.iter().chain(imp.iter()).copied().collect();
    ths.sort_by(f64::total_cmp);
    ths.dedup();
    let top = ths[ths.len() - 1];
    ths.push(top + 1e-9);
    let (ng, ni) = (gen_s.len() as f64, imp.len() as f64);
    // Both lists are sorted and the thresholds ascend: walk two cursors instead of bisecting each time.
    let (mut g, mut i) = (0usize, 0usize);
    let mut eer = 0.0;
    let mut gap = 2.0f64;
    let (mut f100, mut f1000, mut f0) = (1.0f64, 1.0f64, 1.0f64);
    for &t in &ths {
        while g < gen_s.len() && gen_s[g] < t {
            g += 1;
        }
        while i < imp.len() && imp[i] < t {
            i += 1;
        }
        let fnmr = g as f64 / ng;
        let fmr = (imp.len() - i) as f64 / ni;
        if (fmr - fnmr).abs() < gap {
            gap = (fmr - fnmr).abs();
            eer = (fmr + fnmr) / 2.0;
        }
        if fmr <= 0.01 {
            f100 = f100.min(fnmr);
        }
        if fmr <= 0.001 {
            f1000 = f1000.min(fnmr);
        }
        if fmr <= 0.0 {
            f0 = f0.min(fnmr);
        }
    }
    let pc = |v: f64| (100_000.0 * v).round() / 1000.0;
    Some(Rates {
        eer: pc(eer),
        fmr100: pc(f100),
        fmr1000: pc(f1000),
        zero_fmr: pc(f0),
        genuine: gen_s.len(),
        impostor: imp.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_scores_have_no_errors() {
        let r = rates(&[0.8, 0.9, 0.7], &[0.1, 0.2, 0.3]).unwrap();
        assert_eq!((r.eer, r.fmr100, r.fmr1000, r.zero_fmr), (0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn overlapping_scores_match_the_python_evaluator() {
        // Worked by hand with eval_scores.py's definitions: thresholds {1,2,3,4,5,5+ε}; at t=3
        // FNMR = 1/3 (genuine 2 below), FMR = 1/3 (impostor 3 at or above) → EER 33.333 %.
        let r = rates(&[2.0, 4.0, 5.0], &[1.0, 3.0, 1.0]).unwrap();
        assert_eq!(r.eer, 33.333);
        // No threshold with FMR ≤ 1 % keeps more than the genuine scores above 3: FNMR 1/3.
        assert_eq!(r.fmr100, 33.333);
        assert_eq!(r.zero_fmr, 33.333);
        assert!(rates(&[], &[1.0]).is_none());
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
        let r = rates(&g, &i).unwrap();
        assert_eq!((r.eer, r.fmr100, r.fmr1000, r.zero_fmr), (7.917, 33.333, 33.333, 33.333));
    }
}
