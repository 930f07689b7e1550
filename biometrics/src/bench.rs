//! Figures for the benchmark command (`tobira-bench match`): computed here, printed there.

use crate::fingerprint::matcher::{Prepared, compare};
use crate::gallery::Gallery;
use crate::score::Threshold;
use crate::synthetic::{ImpressionNoise, SyntheticFinger};
use std::time::{Duration, Instant};

pub struct CompareFigures {
    pub median_ns: u128,
    pub genuine_median: f32,
    pub impostor_max: f32,
}

pub struct IdentifyFigures {
    pub p50_us: u128,
    pub p99_us: u128,
    pub rank1: f64,
    pub bytes_per_template: usize,
}

fn pct(v: &mut [Duration], q: f64) -> Duration {
    v.sort_unstable();
    if v.is_empty() { Duration::ZERO } else { v[((v.len() as f64 - 1.0) * q).round() as usize] }
}

pub fn measure_compare(pairs: usize) -> CompareFigures {
    let noise = ImpressionNoise::default();
    let mut times = Vec::with_capacity(pairs * 2);
    let mut genuine = Vec::new();
    let mut imp_max = 0.0f32;
    for i in 0..pairs as u64 {
        let a = Prepared::new(&SyntheticFinger::new(i).impression(1, &noise));
        let b = Prepared::new(&SyntheticFinger::new(i).impression(2, &noise));
        let c = Prepared::new(&SyntheticFinger::new(i + 1_000_000).impression(1, &noise));
        let t = Instant::now();
        let s = compare(&a, &b);
        times.push(t.elapsed());
        genuine.push(s.0);
        let t = Instant::now();
        let s = compare(&a, &c);
        times.push(t.elapsed());
        imp_max = imp_max.max(s.0);
    }
    genuine.sort_by(|a, b| a.total_cmp(b));
    CompareFigures {
        median_ns: pct(&mut times, 0.5).as_nanos(),
        genuine_median: genuine.get(genuine.len() / 2).copied().unwrap_or(0.0),
        impostor_max: imp_max,
    }
}

pub fn measure_identify(n: usize, probes: usize) -> IdentifyFigures {
    let noise = ImpressionNoise::default();
    let mut g = Gallery::new();
    for f in 0..n as u64 {
        g.insert(f, &SyntheticFinger::new(f).impression(0, &noise));
    }
    let t = Threshold::default();
    let mut times = Vec::with_capacity(probes);
    let mut hits = 0usize;
    for i in 0..probes as u64 {
        let f = (i * 7919) % n as u64;
        let probe = SyntheticFinger::new(f).impression(1000 + i, &noise);
        let start = Instant::now();
        let r = g.identify(&probe, None, &t);
        times.push(start.elapsed());
        if r.map(|x| x.0) == Some(f) {
            hits += 1;
        }
    }
    IdentifyFigures {
        p50_us: pct(&mut times, 0.5).as_micros(),
        p99_us: pct(&mut times, 0.99).as_micros(),
        rank1: hits as f64 / probes.max(1) as f64,
        bytes_per_template: g.bytes_per_template(),
    }
}
