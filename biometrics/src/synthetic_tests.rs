//! The matcher on synthetic fingers: genuine pairs match, impostor pairs do not, at the calibrated threshold.

use crate::fingerprint::matcher::{Prepared, compare};
use crate::score::{CALIBRATION, Threshold};
use tobira_sample::synthetic::*;

fn prepared(finger: u64, seed: u64) -> Prepared {
    Prepared::new(&SyntheticFinger::new(finger).impression(seed, &ImpressionNoise::default()))
}

#[test]
fn masters_are_plausible() {
    for s in 0..50 {
        let f = SyntheticFinger::new(s);
        assert!((30..=62).contains(&f.master_count()), "{}", f.master_count());
        let t = f.impression(1, &ImpressionNoise::default());
        assert!(t.minutiae.len() >= 15, "impression with {} minutiae", t.minutiae.len());
        assert!(t.minutiae.iter().all(|m| m.x < t.width && m.y < t.height));
    }
}

#[test]
fn genuine_pairs_match_and_impostors_do_not() {
    let t = Threshold::default();
    let fingers = 120u64;
    let refs: Vec<Prepared> = (0..fingers).map(|f| prepared(f, 1)).collect();
    let mut genuine_ok = 0;
    for f in 0..fingers {
        if t.accepts(compare(&prepared(f, 2), &refs[f as usize])) {
            genuine_ok += 1;
        }
    }
    let mut false_matches = 0;
    let mut impostor = 0;
    for a in 0..fingers {
        let p = prepared(a, 3);
        for b in 0..fingers {
            if a != b {
                impostor += 1;
                if t.accepts(compare(&p, &refs[b as usize])) {
                    false_matches += 1;
                }
            }
        }
    }
    let fnmr = 1.0 - genuine_ok as f64 / fingers as f64;
    let fmr = false_matches as f64 / impostor as f64;
    println!(
        "threshold {:.3}: FNMR {fnmr:.3} over {fingers} genuine, FMR {fmr:.6} over {impostor} impostor pairs",
        t.value()
    );
    assert!(fnmr <= 0.05, "FNMR {fnmr}");
    assert!(fmr <= 1e-3, "FMR {fmr}");
}

/// Re-measures the calibration table: `cargo test -p tobira-biometrics --release calibrate -- --ignored --nocapture`.
#[test]
#[ignore]
fn calibrate() {
    let fingers = 700u64;
    let refs: Vec<Prepared> = (0..fingers).map(|f| prepared(f, 1)).collect();
    let mut scores = Vec::new();
    for a in 0..fingers {
        let p = prepared(a, 3);
        for b in 0..fingers {
            if a != b {
                scores.push(compare(&p, &refs[b as usize]).0);
            }
        }
    }
    scores.sort_by(|a, b| b.total_cmp(a));
    println!("{} impostor scores", scores.len());
    for (fmr, _) in CALIBRATION {
        let k = (fmr * scores.len() as f64) as usize;
        println!("FMR {fmr:e}: score > {:.4} ({} above)", scores.get(k).copied().unwrap_or(0.0), k);
    }
    let mut genuine: Vec<f32> = (0..fingers).map(|f| compare(&prepared(f, 2), &refs[f as usize]).0).collect();
    genuine.sort_by(|a, b| a.total_cmp(b));
    println!(
        "genuine scores: p1 {:.3} p5 {:.3} p50 {:.3}",
        genuine[genuine.len() / 100],
        genuine[genuine.len() / 20],
        genuine[genuine.len() / 2]
    );
}

/// The pipeline on synthetic prints (reported apart from the real sets): every impression yields a
/// usable template, impressions of one finger match at the daemon's threshold (calibrated on real
/// sensors, FMR 1e-4), and no impostor pair of the sample reaches it — the simulator presents these images
/// at doors, where "someone else's finger" must be refused. The figures over 100 fingers × 8 impressions
/// are `tobira-bench fingerprint --synthetic 100`'s.
#[test]
fn impressions_match_their_finger_and_impostors_stay_under_the_threshold() {
    let f = crate::bench::measure_prints(0, 16, 3);
    println!("synthetic prints, 16 fingers × 3: {f:?}");
    assert_eq!(f.fte, 0, "every impression enrols");
    assert!(f.minutiae_median >= crate::sample::MIN_MINUTIAE * 2, "{} minutiae", f.minutiae_median);
    assert!(
        f.genuine_accepted * 100 >= f.genuine_pairs() * 98,
        "genuine {}/{} accepted",
        f.genuine_accepted,
        f.genuine_pairs()
    );
    assert_eq!(f.impostors_over, 0, "impostor pairs at or over {}: highest {}", f.threshold, f.impostor_max);
    assert!(f.genuine_min > f.impostor_max, "genuine {} vs impostor {}", f.genuine_min, f.impostor_max);
}
