//! Experiment (issue 17): which half of the pipeline loses — extractor or matcher? Every all-pairs EER of a set
//! four ways: our extractor + our matcher, mindtct + our matcher, our extractor + bozorth3, mindtct + bozorth3.
//! `cargo run -p tobira-bench --example cross -- DIR...` (writes mindtct's minutiae as ISO records under
//! $CROSS_CACHE/mindtct/SET_F_I.iso and ours under $CROSS_CACHE/ours/…, for the fvc example's FVC_CACHE).
#[allow(dead_code)]
#[path = "../src/nist.rs"]
mod nist;

use nist::{LfsMinutia, NistTemplate};
use tobira_biometrics::eval::rates;
use tobira_biometrics::image::{GrayImage, extract_minutiae};
use tobira_biometrics::{Minutia, MinutiaKind, MinutiaeTemplate, Prepared, compare};

fn to_lfs(t: &MinutiaeTemplate) -> Vec<LfsMinutia> {
    t.minutiae
        .iter()
        .map(|m| {
            let deg = f64::from(m.angle) * 360.0 / 256.0;
            LfsMinutia {
                x: i32::from(m.x),
                y: i32::from(m.y),
                direction: ((90.0 - deg) / 11.25).round().rem_euclid(32.0) as i32,
                reliability: f64::from(m.quality) / 100.0,
            }
        })
        .collect()
}

fn main() {
    let cache = std::env::var("CROSS_CACHE").ok();
    for dir in std::env::args().skip(1) {
        let set = std::path::Path::new(&dir).file_name().unwrap().to_str().unwrap().to_string();
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("tif"))
            .collect();
        names.sort();
        let mut items = Vec::new();
        let (mut n_ours, mut n_m) = (Vec::new(), Vec::new());
        for p in &names {
            let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
            let (f, _) = stem.split_once('_').unwrap();
            let bytes = std::fs::read(p).unwrap();
            let img = GrayImage::decode(&bytes, 500).unwrap();
            let (ours, _) = extract_minutiae(&img);
            let m = nbis::extract_minutiae(&bytes, Some(500.0)).unwrap();
            let mind = MinutiaeTemplate {
                width: img.width as u16,
                height: img.height as u16,
                resolution_dpi: 500,
                minutiae: m
                    .get()
                    .iter()
                    .map(|q| Minutia {
                        x: q.x() as u16,
                        y: q.y() as u16,
                        angle: ((q.angle() / 360.0 * 256.0).round() as i64).rem_euclid(256) as u8,
                        kind: MinutiaKind::Ending,
                        quality: ((q.reliability() * 100.0).round() as u8).clamp(1, 100),
                    })
                    .collect(),
            };
            if let Some(c) = &cache {
                for (k, t) in [("ours", &ours), ("mindtct", &mind)] {
                    let d = std::path::Path::new(c).join(k);
                    std::fs::create_dir_all(&d).unwrap();
                    std::fs::write(d.join(format!("{set}_{stem}.iso")), tobira_biometrics::iso19794_2::encode(t))
                        .unwrap();
                }
            }
            n_ours.push(ours.minutiae.len());
            n_m.push(mind.minutiae.len());
            let h = img.height as i32;
            let bz_ours = NistTemplate::load(&to_lfs(&ours), h);
            let bz_m = NistTemplate::from_mindtct(&m, h);
            items.push((f.parse::<u32>().unwrap(), Prepared::new(&ours), Prepared::new(&mind), bz_ours, bz_m));
        }
        n_ours.sort();
        n_m.sort();
        let mut s = vec![(Vec::new(), Vec::new()); 4];
        for a in 0..items.len() {
            for b in a + 1..items.len() {
                let (x, y) = (&items[a], &items[b]);
                let v = [
                    f64::from(compare(&x.1, &y.1).0),
                    f64::from(compare(&x.2, &y.2).0),
                    f64::from(x.3.compare(&y.3)),
                    f64::from(x.4.compare(&y.4)),
                ];
                for (k, v) in v.into_iter().enumerate() {
                    if x.0 == y.0 { s[k].0.push(v) } else { s[k].1.push(v) }
                }
            }
        }
        let names = ["ours+ours", "mindtct+ours", "ours+bozorth3", "mindtct+bozorth3"];
        println!("{set}: minutiae median ours {} mindtct {}", n_ours[n_ours.len() / 2], n_m[n_m.len() / 2]);
        for (k, (g, i)) in s.iter().enumerate() {
            let r = rates(g, i).unwrap();
            println!("  {:18} EER {:6.2} FMR100 {:6.2} FMR1000 {:6.2}", names[k], r.eer, r.fmr100, r.fmr1000);
        }
    }
}
