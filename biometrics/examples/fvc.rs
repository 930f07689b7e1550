//! Development harness: extraction and all-pairs figures on FVC-named sets, without the bench's NIST run.
//! `cargo run --release -p tobira-biometrics --example fvc -- DIR...`

use std::time::Instant;
use tobira_biometrics::eval::rates;
use tobira_biometrics::fingerprint::matcher::compare_with;
use tobira_biometrics::image::{GrayImage, extract_minutiae};
use tobira_biometrics::{Prepared, compare};

fn main() {
    if let Ok(n) = std::env::var("FVC_SYNTH") {
        // FVC_SYNTH=fingers[xImpressions][@first]: the synthetic prints' figures (reported apart from real sets).
        let (n, first) = n.split_once('@').map_or((n.as_str(), 0), |(a, b)| (a, b.parse().unwrap()));
        let (f, i) = n.split_once('x').map_or((n, "8"), |x| x);
        let t0 = Instant::now();
        let r = tobira_biometrics::bench::measure_prints(first, f.parse().unwrap(), i.parse().unwrap());
        println!("{r:?} in {:.1} s", t0.elapsed().as_secs_f64());
        return;
    }
    if let Ok(dir) = std::env::var("FVC_SYNTH_OUT") {
        use tobira_biometrics::synthetic::{PrintNoise, SyntheticPrint};
        for f in 0..3u64 {
            let p = SyntheticPrint::new(f);
            for i in 0..2u64 {
                let img = p.impression(i, &PrintNoise::default());
                let g = image::GrayImage::from_raw(img.width, img.height, img.pixels.clone()).unwrap();
                let path = format!("{dir}/{}_{}.png", 101 + f, i + 1);
                g.save(&path).unwrap();
                debug(&path, &format!("{dir}/dbg_{}_{}.png", 101 + f, i + 1));
            }
        }
        return;
    }
    if let Ok(out) = std::env::var("FVC_DEBUG") {
        let path = std::env::args().nth(1).unwrap();
        return debug(&path, &out);
    }
    // FVC_DPI=N declares the images N dpi (default 500), so they are resampled by 500/N before extraction:
    // how a sensor of another resolution read as 500 dpi would look.
    let dpi: u16 = std::env::var("FVC_DPI").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    if std::env::var("FVC_PERIODS").is_ok() {
        // Each set's ridge period: the median over its images of each image's median block period.
        for dir in std::env::args().skip(1) {
            let mut meds = Vec::new();
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.extension().and_then(|e| e.to_str()) != Some("tif") {
                    continue;
                }
                let img = GrayImage::decode(&std::fs::read(&p).unwrap(), dpi).unwrap().normalised();
                let a = tobira_biometrics::image::analyse(&img);
                meds.extend(tobira_biometrics::image::median_period(&a.field));
            }
            meds.sort_by(f32::total_cmp);
            let q = |f: f32| meds[((meds.len() - 1) as f32 * f) as usize];
            println!(
                "{dir}: period p10 {:.2} p25 {:.2} median {:.2} p75 {:.2} p90 {:.2}",
                q(0.1),
                q(0.25),
                q(0.5),
                q(0.75),
                q(0.9)
            );
        }
        return;
    }
    // FVC_MINPERIOD=P, FVC_PORES=N, FVC_EDGE=1: the extraction trials of `image::Trial` (default: the daemon's
    // extractor).
    let daemon = tobira_biometrics::image::Trial::default();
    let trial = tobira_biometrics::image::Trial {
        min_period: std::env::var("FVC_MINPERIOD").ok().and_then(|v| v.parse().ok()).unwrap_or(daemon.min_period),
        pore: std::env::var("FVC_PORES").ok().and_then(|v| v.parse().ok()).unwrap_or(daemon.pore),
        edge_is_print: std::env::var("FVC_EDGE").map_or(daemon.edge_is_print, |v| v == "1"),
    };
    // FVC_CROP=SIDE: each image cut to the SIDE×SIDE px around its print before it is read at FVC_DPI, as
    // `tobira-bench fingerprint --crop` cuts it (a smaller sensor; cached apart).
    let crop: Option<u32> = std::env::var("FVC_CROP").ok().and_then(|v| v.parse().ok());
    // What else the cached templates depend on, in their names.
    let variant = format!(
        "{}{}",
        if trial.edge_is_print { "_edge" } else { "" },
        crop.map_or(String::new(), |side| format!("_crop{side}"))
    );
    for dir in std::env::args().skip(1) {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("tif"))
            .collect();
        names.sort();
        let mut items = Vec::new();
        let mut times = Vec::new();
        let mut counts = Vec::new();
        for p in &names {
            let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
            let (f, i) = stem.split_once('_').unwrap();
            // FVC_CACHE=DIR keeps each image's template as an ISO record, so matcher runs (and callgrind)
            // skip extraction.
            let cached = std::env::var("FVC_CACHE").ok().map(|c| {
                let set = std::path::Path::new(&dir).file_name().unwrap().to_str().unwrap().to_string();
                std::path::Path::new(&c)
                    .join(format!("{set}_{dpi}_{}_{}{variant}_{stem}.iso", trial.min_period, trial.pore))
            });
            let t = match cached.as_ref().and_then(|c| std::fs::read(c).ok()) {
                Some(b) => tobira_biometrics::iso19794_2::decode(&b).unwrap(),
                None => {
                    let img = GrayImage::decode(&std::fs::read(p).unwrap(), dpi).unwrap();
                    let img = match crop {
                        Some(side) => img.print_window(side),
                        None => img,
                    };
                    let t0 = Instant::now();
                    let (t, _q) = tobira_biometrics::image::extract_minutiae_with(&img, &trial);
                    times.push(t0.elapsed().as_secs_f64() * 1e3);
                    if let Some(c) = &cached {
                        std::fs::create_dir_all(c.parent().unwrap()).unwrap();
                        std::fs::write(c, tobira_biometrics::iso19794_2::encode(&t)).unwrap();
                    }
                    t
                }
            };
            // FVC_KEEPSCALE: the template says the resolution the image was declared at, so the matcher
            // compares at the original geometry (only the extractor saw the resampled image).
            let mut t = t;
            if std::env::var("FVC_KEEPSCALE").is_ok() {
                t.resolution_dpi = (250_000 / u32::from(dpi)) as u16;
            }
            counts.push(t.minutiae.len());
            items.push((f.parse::<u32>().unwrap(), i.parse::<u32>().unwrap(), Prepared::new(&t)));
        }
        if let Ok(path) = std::env::var("FVC_MATRIX") {
            // Every ordered pair, "set dpi probe_finger probe_impression ref_finger ref_impression score" a
            // line, appended: enough to study a fusion rule offline (`scripts/fusion-rules`). With FVC_SWEEP
            // its first configuration's tolerances, else the daemon's.
            let pr = std::env::var("FVC_SWEEP").ok().map_or_else(Default::default, |s| sweep_configs(&s)[0]);
            use std::io::Write;
            let set = std::path::Path::new(&dir).file_name().and_then(|n| n.to_str()).unwrap_or(&dir);
            let mut out = String::new();
            for a in &items {
                for b in &items {
                    if (a.0, a.1) != (b.0, b.1) {
                        out += &format!(
                            "{set} {dpi} {} {} {} {} {}\n",
                            a.0,
                            a.1,
                            b.0,
                            b.1,
                            compare_with(&a.2, &b.2, &pr).0
                        );
                    }
                }
            }
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
            f.write_all(out.as_bytes()).unwrap();
            continue;
        }
        if let Ok(sweep) = std::env::var("FVC_SWEEP") {
            let configs = sweep_configs(&sweep);
            for c in configs {
                let (mut g, mut im) = (Vec::new(), Vec::new());
                let t0 = Instant::now();
                for a in 0..items.len() {
                    for b in a + 1..items.len() {
                        let s = f64::from(compare_with(&items[a].2, &items[b].2, &c).0);
                        if items[a].0 == items[b].0 { g.push(s) } else { im.push(s) }
                    }
                }
                let r = rates(&g, &im).unwrap();
                let us = t0.elapsed().as_secs_f64() * 1e6 / (g.len() + im.len()) as f64;
                if std::env::var("FVC_JSON").is_ok() {
                    // One JSON object a line, for scripts (`scripts/fvc-jitter`); `{:?}` of a str escapes
                    // as JSON does for the paths and the parameters' text.
                    let set = std::path::Path::new(&dir).file_name().and_then(|n| n.to_str()).unwrap_or(&dir);
                    println!(
                        "{{\"set\": {set:?}, \"params\": {:?}, \"eer\": {}, \"fmr1000\": {}, \"mean_us\": {us}}}",
                        format!("{c:?}"),
                        r.eer,
                        r.fmr1000
                    );
                    continue;
                }
                println!("{dir} {c:?}: EER {:.2} FMR1000 {:.2} mean {us:.1} µs", r.eer, r.fmr1000);
            }
            continue;
        }
        let repeat: usize = std::env::var("FVC_REPEAT").ok().and_then(|v| v.parse().ok()).unwrap_or(1);
        let t0 = Instant::now();
        let mut ctimes: Vec<u128> = Vec::new();
        for _ in 0..repeat {
            for a in 0..items.len() {
                for b in a + 1..items.len() {
                    let t = Instant::now();
                    std::hint::black_box(compare(&items[a].2, &items[b].2));
                    ctimes.push(t.elapsed().as_nanos());
                }
            }
        }
        ctimes.sort_unstable();
        let median_cmp = ctimes[ctimes.len() / 2] as f64 / 1e3;
        let _ = t0;
        let (mut g, mut im, mut imf) = (Vec::new(), Vec::new(), Vec::new());
        let t0 = Instant::now();
        let mut n = 0;
        for a in 0..items.len() {
            for b in a + 1..items.len() {
                let s = f64::from(compare(&items[a].2, &items[b].2).0);
                n += 1;
                if items[a].0 == items[b].0 {
                    g.push(s)
                } else {
                    im.push(s);
                    if items[a].1 == 1 && items[b].1 == 1 {
                        imf.push(s)
                    }
                }
            }
        }
        let cmp_us = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
        times.sort_by(f64::total_cmp);
        counts.sort();
        if let Ok(path) = std::env::var("FVC_IMPOSTORS") {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
            for s in &im {
                writeln!(f, "{s}").unwrap();
            }
        }
        let all = rates(&g, &im).unwrap();
        let fvc = rates(&g, &imf).unwrap();
        println!(
            "{dir}: all EER {:.2} FMR100 {:.2} FMR1000 {:.2} Zero {:.2} | fvc EER {:.2} | extract {:.1} ms, compare mean {cmp_us:.1} µs median {median_cmp:.1} µs, minutiae median {}",
            all.eer,
            all.fmr100,
            all.fmr1000,
            all.zero_fmr,
            fvc.eer,
            times.get(times.len() / 2).copied().unwrap_or(0.0),
            counts[counts.len() / 2]
        );
    }
}

/// `FVC_DEBUG=out.png` with one image path: writes the enhanced print with its minutiae.
#[allow(dead_code)]
pub fn debug(path: &str, out: &str) {
    let img = GrayImage::decode(&std::fs::read(path).unwrap(), 500).unwrap();
    let e = tobira_biometrics::image::enhance(&img);
    let (t, q) = extract_minutiae(&img);
    let (w, h) = (e.width, e.height);
    let mut rgb = image::RgbImage::new(w as u32 * 2, h as u32);
    for y in 0..h {
        for x in 0..w {
            let v = img.pixels[y * w + x];
            rgb.put_pixel(x as u32, y as u32, image::Rgb([v, v, v]));
            let b = e.field.block_of(x, y);
            let r = e.response[y * w + x];
            let c = if !e.field.fg[b] {
                [0, 0, 90]
            } else if r < 0.0 {
                [0, 0, 0]
            } else {
                [255, 255, 255]
            };
            rgb.put_pixel((w + x) as u32, y as u32, image::Rgb(c));
        }
    }
    for m in &t.minutiae {
        let col = if m.kind == tobira_biometrics::MinutiaKind::Ending { [255, 0, 0] } else { [0, 200, 0] };
        let a = -m.radians();
        for k in 0..10 {
            let (x, y) = (m.x as f32 + k as f32 * a.cos(), m.y as f32 + k as f32 * a.sin());
            if x >= 0.0 && y >= 0.0 && (x as usize) < w && (y as usize) < h {
                rgb.put_pixel(x as u32, y as u32, image::Rgb(col));
                rgb.put_pixel(w as u32 + x as u32, y as u32, image::Rgb(col));
            }
        }
    }
    rgb.save(out).unwrap();
    eprintln!("{} minutiae, quality {q}", t.minutiae.len());
}

/// FVC_SWEEP's configurations: "name=v1,v2;name=..." over the matcher's tolerances, every combination.
fn sweep_configs(sweep: &str) -> Vec<tobira_biometrics::fingerprint::matcher::Params> {
    let mut configs = vec![tobira_biometrics::fingerprint::matcher::Params::default()];
    for part in sweep.split(';') {
        let (k, vs) = part.split_once('=').unwrap();
        let mut next = Vec::new();
        for c in &configs {
            for v in vs.split(',') {
                let v: f32 = v.parse().unwrap();
                let mut c = *c;
                match k {
                    "hyp" => c.hypotheses = v as usize,
                    "whyp" => c.weighted_hypotheses = v as usize,
                    "tol" => c.tol = v,
                    "growth" => c.growth = v,
                    "angle" => c.angle = v,
                    "min" => c.min_count = v,
                    "local" => c.min_local = v,
                    "lambda" => c.lambda = v,
                    "alpha" => c.alpha = v,
                    _ => panic!("{k}"),
                }
                next.push(c);
            }
        }
        configs = next;
    }
    configs
}
