//! Adversarial harness (issue 17 §3, session 24): a palm region morphed from k people's regions (their pixel
//! average, contrast stretched), enrolled as one person's palm — do the k people's own palms match it, does
//! the cohort check stop them, and does the duplicate-identity search at enrolment see it when a member is
//! already enrolled? 20 morphs per k of synthetic palms; the cohort is 64 other synthetic palms. The figures
//! are in the README ("Palm vein", not defended). `cargo run --release -p tobira-biometrics --example palm_morph`
use tobira_biometrics::palm::cohort::{CohortStats, check};
use tobira_biometrics::palm::synthetic::{PalmNoise, SyntheticPalm};
use tobira_biometrics::palm::{PalmThreshold, ROI_SIDE, compare, extract_region};
fn main() {
    let n = ROI_SIDE * ROI_SIDE;
    let noise = PalmNoise::default();
    // The daemon's 1:1 threshold (FMR 1e-4) and the duplicate search's.
    let table = PalmThreshold::default();
    let cohort: Vec<_> = (0..64u64)
        .filter_map(|s| extract_region(&SyntheticPalm::new(50_000 + s).impression(0, &noise), ROI_SIDE, ROI_SIDE).ok())
        .collect();
    for k in [2usize, 3, 4, 6] {
        let (mut refused, mut members, mut over, mut passes, mut dup) = (0, 0, 0, 0, 0);
        for g in 0..20u64 {
            let base = 100_000 + g * 100;
            let mut acc = vec![0f32; n];
            for p in 0..k as u64 {
                let im = SyntheticPalm::new(base + p).impression(0, &noise);
                for (a, v) in acc.iter_mut().zip(im) {
                    *a += v as f32;
                }
            }
            let img: Vec<u8> = acc.iter().map(|a| (a / k as f32) as u8).collect();
            let (lo, hi) = img.iter().fold((255u8, 0u8), |(l, h), v| (l.min(*v), h.max(*v)));
            let img: Vec<u8> =
                img.iter().map(|v| (((*v - lo) as f32) * 255.0 / (hi - lo).max(1) as f32) as u8).collect();
            let Ok(l) = extract_region(&img, ROI_SIDE, ROI_SIDE) else {
                refused += 1;
                continue;
            };
            for p in 0..k as u64 {
                // The member's own enrolment (impression 2): would the duplicate search see the morph?
                let Ok(own) = extract_region(&SyntheticPalm::new(base + p).impression(2, &noise), ROI_SIDE, ROI_SIDE)
                else {
                    continue;
                };
                dup += usize::from(table.accepts(compare(&l, &own)));
                let Ok(m) = extract_region(&SyntheticPalm::new(base + p).impression(1, &noise), ROI_SIDE, ROI_SIDE)
                else {
                    continue;
                };
                members += 1;
                if table.accepts(compare(&m, &l)) {
                    over += 1;
                    if CohortStats::measure(&m, cohort.iter()).is_some_and(|st| check(&m, &l, &st, 1e-4).passes()) {
                        passes += 1;
                    }
                }
            }
        }
        println!(
            "k={k}: 20 morphs, {refused} refused by the gate; members {members}: over the table {over}, also through the cohort check {passes}; the morph reaches the member's own enrolment (duplicate search) {dup}"
        );
    }
}
