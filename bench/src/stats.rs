//! Percentiles over measured durations.

use std::time::Duration;

pub struct Summary {
    pub n: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

pub fn summarize(mut v: Vec<Duration>) -> Summary {
    v.sort_unstable();
    let n = v.len();
    let at = |q: f64| {
        if n == 0 { Duration::ZERO } else { v[((n as f64 - 1.0) * q).round() as usize] }
    };
    Summary { n, p50: at(0.5), p99: at(0.99), max: at(1.0) }
}

pub fn fmt(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}
