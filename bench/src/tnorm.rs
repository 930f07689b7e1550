//! Test normalisation (T-norm, Auckenthaler et al. 2000) of a set's all-pairs fingerprint scores: a
//! measurement for issue 17 (session 25), **not the daemon's score**. The palm matcher's cohort check
//! (`tobira_biometrics::palm::cohort`) asks the same question of a match — does it stand out from the
//! probe's similarity to other people's enrolments on the same reader? — and this measures what the
//! answer would do to the fingerprint matcher's separation before any of it is built into the daemon.
//!
//! Each pair (a, b) scores the mean of its two standard scores, (s − μₐ) / σₐ and (s − μ_b) / σ_b, where
//! μₐ and σₐ are the mean and standard deviation of a's scores against every usable image of the set's
//! other fingers — neither a's finger nor b's, as the palm check leaves the probe's and the reference's
//! people out. In an FVC B set that is the other eight fingers' 64 impressions; at a site it would be the
//! other people's fingers enrolled on the same readers. The bench scores each unordered pair once (the
//! lower index as the probe), and a's score against c is that one score whichever index is lower.

/// A pair with an image that gave no template: below every normalised score, as its raw 0 is below every
/// raw one.
const UNUSABLE: f64 = -1e9;

/// The pairs' T-normalised scores, in the order of `scores` (every unordered pair (a, b), a < b, a-major:
/// `fingerprint::pairs`). `fingers[i]`: image i's finger; `usable[i]`: whether it gave a template.
pub fn normalised(fingers: &[u32], usable: &[bool], scores: &[f64]) -> Vec<f64> {
    let n = fingers.len();
    let mut m = vec![0f64; n * n];
    let mut k = 0;
    for a in 0..n {
        for b in a + 1..n {
            let s = scores.get(k).copied().unwrap_or(0.0);
            m[a * n + b] = s;
            m[b * n + a] = s;
            k += 1;
        }
    }
    // a's cohort statistics, a's own finger and the finger `other` left out.
    let stats = |a: usize, other: u32| -> Option<(f64, f64)> {
        let cohort = (0..n).filter(|&c| usable[c] && fingers[c] != fingers[a] && fingers[c] != other);
        let (mut sum, mut sq, mut count) = (0.0, 0.0, 0usize);
        for c in cohort {
            let v = m[a * n + c];
            sum += v;
            sq += v * v;
            count += 1;
        }
        if count < 2 {
            return None;
        }
        let mean = sum / count as f64;
        let var = (sq - sum * mean) / (count - 1) as f64;
        // Scores are similarities in 0–1: a spread below 0.001 is a cohort that all scores alike, whose
        // standard scores would be rounding noise blown up.
        (var > 1e-6).then(|| (mean, var.sqrt()))
    };
    let mut out = Vec::with_capacity(scores.len());
    for a in 0..n {
        for b in a + 1..n {
            let s = m[a * n + b];
            if !usable[a] || !usable[b] {
                out.push(UNUSABLE);
                continue;
            }
            out.push(match (stats(a, fingers[b]), stats(b, fingers[a])) {
                (Some((ma, sa)), Some((mb, sb))) => ((s - ma) / sa + (s - mb) / sb) / 2.0,
                // Too few others to tell (a set of two fingers): the raw score, unnormalised.
                _ => s,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All pairs of `fingers` in the bench's order, scored by `f(a, b)`.
    fn scores(n: usize, f: impl Fn(usize, usize) -> f64) -> Vec<f64> {
        (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).map(|(a, b)| f(a, b)).collect()
    }

    /// A sensor that scores every pair higher or more spread out, by any affine change k·s + c (k > 0),
    /// gives the same normalised scores: what T-norm is for (a table in standard scores would not move).
    #[test]
    fn an_affine_change_of_every_score_changes_no_normalised_score() {
        let fingers: Vec<u32> = (0..24).map(|i| i / 4).collect();
        let n = fingers.len();
        let raw = |a: usize, b: usize| {
            if fingers[a] == fingers[b] {
                0.3 + 0.05 * (a % 3) as f64
            } else {
                0.03 + 0.005 * ((a * a * 3 + b * b * 5 + a * b) % 13) as f64
            }
        };
        let s = scores(n, raw);
        let z = normalised(&fingers, &vec![true; n], &s);
        let shifted: Vec<f64> = s.iter().map(|v| 2.5 * v + 0.1).collect();
        let z2 = normalised(&fingers, &vec![true; n], &shifted);
        for (k, (a, b)) in z.iter().zip(&z2).enumerate() {
            assert!((a - b).abs() < 1e-6 * a.abs().max(1.0), "pair {k}: {a} against {b}");
        }
        // And the genuine pairs stand far above the impostors here.
        let pairs: Vec<(usize, usize)> = (0..n).flat_map(|a| (a + 1..n).map(move |b| (a, b))).collect();
        let genuine_low = pairs
            .iter()
            .zip(&z)
            .filter(|((a, b), _)| fingers[*a] == fingers[*b])
            .map(|(_, v)| *v)
            .fold(f64::MAX, f64::min);
        let impostor_high = pairs
            .iter()
            .zip(&z)
            .filter(|((a, b), _)| fingers[*a] != fingers[*b])
            .map(|(_, v)| *v)
            .fold(f64::MIN, f64::max);
        assert!(impostor_high < genuine_low, "{impostor_high} < {genuine_low}");
    }

    /// The formula on a pair by hand: a's cohort leaves out a's finger and b's.
    #[test]
    fn each_side_is_measured_against_the_other_fingers_only() {
        // Fingers 0, 1, 2, 2: pair (0, 1) — 0's cohort is images 2 and 3 (finger 2), so is 1's.
        let fingers = [0, 1, 2, 2];
        // Pairs in order: (0,1) (0,2) (0,3) (1,2) (1,3) (2,3).
        let s = [0.5, 0.1, 0.3, 0.2, 0.4, 0.9];
        let z = normalised(&fingers, &[true; 4], &s);
        // 0's cohort: 0.1, 0.3 (mean 0.2, sd √0.02); 1's: 0.2, 0.4 (mean 0.3, sd √0.02).
        let sd = 0.02f64.sqrt();
        let want = ((0.5 - 0.2) / sd + (0.5 - 0.3) / sd) / 2.0;
        assert!((z[0] - want).abs() < 1e-12, "{} against {want}", z[0]);
        // A pair with an image that gave no template is below everything.
        let z = normalised(&fingers, &[true, false, true, true], &s);
        assert_eq!(z[0], UNUSABLE);
    }
}
