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

/// The image pipeline on synthetic prints (issue 3 §5): reported apart from the real sets, never mixed.
#[derive(Debug, Clone)]
pub struct PrintFigures {
    pub fingers: usize,
    pub impressions: usize,
    /// All unordered pairs: EER, FMR100, FMR1000, ZeroFMR.
    pub rates: Option<crate::eval::Rates>,
    /// The daemon's threshold (FMR 1e-4, calibrated on real sensors) and how the synthetic pairs fare at it.
    pub threshold: f32,
    pub genuine_accepted: usize,
    pub impostors_over: usize,
    pub genuine_min: f32,
    pub impostor_max: f32,
    /// Impressions with fewer minutiae than the daemon enrols with.
    pub fte: usize,
    pub minutiae_median: usize,
}

/// Every unordered pair of `impressions` impressions of each of `fingers` synthetic prints (master seeds
/// `first..first + fingers`), through the extractor and matcher as a reader's image would go.
pub fn measure_prints(first: u64, fingers: usize, impressions: usize) -> PrintFigures {
    use crate::image::extract_minutiae;
    use crate::synthetic::{PrintNoise, SyntheticPrint};
    let noise = PrintNoise::default();
    let mut items: Vec<(u64, Option<Prepared>)> = Vec::with_capacity(fingers * impressions);
    let mut counts = Vec::with_capacity(fingers * impressions);
    let mut fte = 0;
    for f in first..first + fingers as u64 {
        let print = SyntheticPrint::new(f);
        for i in 0..impressions as u64 {
            let (t, _) = extract_minutiae(&print.impression(i, &noise));
            counts.push(t.minutiae.len());
            let ok = t.minutiae.len() >= crate::sample::MIN_MINUTIAE;
            fte += usize::from(!ok);
            items.push((f, ok.then(|| Prepared::new(&t))));
        }
    }
    let t = Threshold::default();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for a in 0..items.len() {
        for b in a + 1..items.len() {
            // A failure to enrol takes part with the lowest score, as the FVC protocol counts it.
            let s = match (&items[a].1, &items[b].1) {
                (Some(p), Some(r)) => compare(p, r).0,
                _ => 0.0,
            };
            if items[a].0 == items[b].0 { genuine.push(s) } else { impostor.push(s) }
        }
    }
    counts.sort_unstable();
    let wide = |v: &[f32]| v.iter().map(|&s| f64::from(s)).collect::<Vec<f64>>();
    PrintFigures {
        fingers,
        impressions,
        rates: crate::eval::rates(&wide(&genuine), &wide(&impostor)),
        threshold: t.value(),
        genuine_accepted: genuine.iter().filter(|&&s| t.accepts(crate::Score(s))).count(),
        impostors_over: impostor.iter().filter(|&&s| t.accepts(crate::Score(s))).count(),
        genuine_min: genuine.iter().copied().fold(f32::INFINITY, f32::min),
        impostor_max: impostor.iter().copied().fold(0.0, f32::max),
        fte,
        minutiae_median: counts.get(counts.len() / 2).copied().unwrap_or(0),
    }
}

impl PrintFigures {
    pub fn genuine_pairs(&self) -> usize {
        self.fingers * self.impressions * self.impressions.saturating_sub(1) / 2
    }

    pub fn impostor_pairs(&self) -> usize {
        let n = self.fingers * self.impressions;
        n * n.saturating_sub(1) / 2 - self.genuine_pairs()
    }
}
