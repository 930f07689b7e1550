//! Matcher figures on synthetic identities (real-image accuracy comes with the image pipeline).

pub fn run(gallery: usize, probes: usize) -> anyhow::Result<()> {
    let c = tobira_biometrics::bench::measure_compare(2_000);
    println!("match: 1:1 compare median {:.1} µs (synthetic impressions)", c.median_ns as f64 / 1e3);
    let f = tobira_biometrics::bench::measure_identify(gallery, probes);
    println!(
        "match: 1:N over {gallery} templates: p50 {:.2} ms, p99 {:.2} ms, rank-1 {:.1}%, {} bytes/template",
        f.p50_us as f64 / 1e3,
        f.p99_us as f64 / 1e3,
        f.rank1 * 100.0,
        f.bytes_per_template
    );
    threshold_check(134)
}

/// `tobira threshold-check`'s work at the largest site it checks whole (its comparison budget, 450,000,
/// fits 134 people of five captures): every capture against every other person's finger, fused. On
/// synthetic minutiae, so its time is the synthetic comparison's (real prints of the densest sensor
/// compare about 1.5 times slower, README Performance).
fn threshold_check(people: u64) -> anyhow::Result<()> {
    use tobira_biometrics::synthetic::{ImpressionNoise, SyntheticFinger};
    use tobira_biometrics::{FingerTemplate, PreparedFinger, Threshold};
    let mut fingers: Vec<Vec<PreparedFinger>> = Vec::new();
    for p in 0..people {
        let views: Vec<_> =
            (0..5).map(|k| SyntheticFinger::new(50_000 + p).impression(k + 1, &ImpressionNoise::default())).collect();
        if let Some(Ok(f)) = FingerTemplate::fuse(&views, &Threshold::default()) {
            fingers.push(vec![f.prepare()]);
        }
    }
    let views: usize = fingers.iter().flatten().map(|f| f.views().len()).sum();
    let t = std::time::Instant::now();
    let scores = tobira_biometrics::site_check::finger_impostors(&fingers, &crate::interrupt::requested)
        .ok_or_else(|| anyhow::anyhow!("interrupted"))?;
    let took = t.elapsed();
    let c = tobira_biometrics::site_check::check_rate(&scores, Threshold::default().value(), 1e-4);
    println!(
        "threshold-check: {} people, {views} captures, {} attempts ({} comparisons) in {:.1} s; {} reach the 1:1 threshold ({:?})",
        fingers.len(),
        scores.len(),
        views * (views - views / fingers.len().max(1)),
        took.as_secs_f64(),
        c.reached,
        c.verdict
    );
    // Palms: what a palm comparison costs the check (the daemon's palm budget is set from it).
    use tobira_biometrics::palm::synthetic::{PalmNoise, SyntheticPalm};
    let palms: Vec<Vec<tobira_biometrics::palm::PalmTemplate>> = (0..100u64)
        .filter_map(|p| {
            let img = SyntheticPalm::new(60_000 + p).impression(0, &PalmNoise::default());
            tobira_biometrics::palm::extract_region(
                &img,
                tobira_biometrics::palm::ROI_SIDE,
                tobira_biometrics::palm::ROI_SIDE,
            )
            .ok()
            .map(|t| vec![t])
        })
        .collect();
    let t = std::time::Instant::now();
    let scores = tobira_biometrics::site_check::palm_impostors(&palms, &crate::interrupt::requested)
        .ok_or_else(|| anyhow::anyhow!("interrupted"))?;
    let took = t.elapsed();
    println!(
        "threshold-check: {} palms, {} comparisons in {:.1} s ({:.0} µs each)",
        palms.len(),
        scores.len(),
        took.as_secs_f64(),
        took.as_secs_f64() * 1e6 / scores.len().max(1) as f64
    );
    Ok(())
}
