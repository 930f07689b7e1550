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
    Ok(())
}
