//! 1:N identification over palm templates held in memory.
//!
//! First pass: the Hamming distance of the codes at nine coarse shifts, on every fourth row, by popcount —
//! the region of interest already aligns palms to within a few points and the code is smooth at that
//! scale, so the true mate is among the nearest by this cheap distance (all rows cost 4× as much for the
//! same ranking). Second pass: the full matcher ([`compare`], the
//! fine shift search) on the [`SHORTLIST`] nearest. The gallery stores templates as they are; 2,056 bytes each
//! in v1 (the bench prints it).

use super::matcher::{PalmThreshold, compare};
use super::template::PalmTemplate;
use crate::score::Score;

/// Candidates the full matcher re-ranks after the first pass.
pub const SHORTLIST: usize = 24;

pub struct PalmGallery<K> {
    entries: Vec<(K, PalmTemplate)>,
}

impl<K> Default for PalmGallery<K> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<K: Clone + PartialEq> PalmGallery<K> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds or replaces the template under `key`.
    pub fn insert(&mut self, key: K, t: PalmTemplate) {
        if let Some(e) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            e.1 = t;
        } else {
            self.entries.push((key, t));
        }
    }

    pub fn remove(&mut self, key: &K) {
        self.entries.retain(|(k, _)| k != key);
    }

    /// Bytes held per template (its encoded size; the in-memory rows are the same words).
    pub fn bytes_per_template(&self) -> usize {
        self.entries.first().map(|(_, t)| t.encoded_len()).unwrap_or(0)
    }

    /// The best match at or above `threshold`, if any.
    pub fn identify(&self, probe: &PalmTemplate, threshold: PalmThreshold) -> Option<(K, Score)> {
        self.identify_among(probe, None, threshold)
    }

    /// [`identify`](Self::identify) over only the templates whose key `among` accepts: a door identifies
    /// among the people allowed in its zone (THREATS.md), never over everyone, so a stranger's false match
    /// elsewhere in the gallery cannot push the right person out of the shortlist or admit anyone.
    pub fn identify_among(
        &self,
        probe: &PalmTemplate,
        among: Option<&dyn Fn(&K) -> bool>,
        threshold: PalmThreshold,
    ) -> Option<(K, Score)> {
        let mut first: Vec<(f32, usize)> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| among.is_none_or(|f| f(k)))
            .map(|(i, (_, t))| (coarse_distance(probe, t), i))
            .collect();
        let k = SHORTLIST.min(first.len());
        if k == 0 {
            return None;
        }
        first.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
        first[..k]
            .iter()
            .map(|(_, i)| (*i, compare(probe, &self.entries[*i].1)))
            .filter(|(_, s)| threshold.accepts(*s))
            .max_by(|a, b| a.1.0.total_cmp(&b.1.0))
            .map(|(i, s)| (self.entries[i].0.clone(), s))
    }
}

fn coarse_distance(a: &PalmTemplate, b: &PalmTemplate) -> f32 {
    if a.grid != b.grid || a.planes != b.planes {
        return 1.0;
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports popcnt (checked just above); the function has no other requirement.
        return unsafe { coarse_popcnt(a, b) };
    }
    coarse_impl(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn coarse_popcnt(a: &PalmTemplate, b: &PalmTemplate) -> f32 {
    coarse_impl(a, b)
}

/// First-pass placements: the 3×3 grid of shifts by 0 and ±3 points (±6 px of the region). Measured on
/// 3,000 synthetic palms: no shift, or a cross of ±2, left 11 % of the mates outside the shortlist (rank-1
/// 177/200, also with a shortlist of 100); this grid 199/200.
const COARSE: [(i32, i32); 9] = [(0, 0), (3, 0), (-3, 0), (0, 3), (0, -3), (3, 3), (3, -3), (-3, 3), (-3, -3)];
/// First-pass row stride: every fourth row carries enough of the code to rank.
const ROW_STEP: usize = 4;

#[inline(always)]
fn coarse_impl(a: &PalmTemplate, b: &PalmTemplate) -> f32 {
    let g = a.mask.len() as i32;
    let planes = usize::from(a.planes);
    let gu = g as usize;
    let mut best = 1.0f32;
    for (dx, dy) in COARSE {
        let (mut diff, mut count) = (0u32, 0u32);
        let mut y = dy.max(0) + 1;
        while y < g.min(g + dy) && y - dy < g {
            let (ya, yb) = (y as usize, (y - dy) as usize);
            let sh = |w: u64| if dx >= 0 { w >> dx } else { w << -dx };
            let m = a.mask[ya] & sh(b.mask[yb]);
            count += m.count_ones();
            for p in 0..planes {
                diff += ((a.bits[p * gu + ya] ^ sh(b.bits[p * gu + yb])) & m).count_ones();
            }
            y += ROW_STEP as i32;
        }
        if count > 0 {
            best = best.min(diff as f32 / count as f32);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::palm::extract_region;
    use crate::palm::synthetic::{PalmNoise, SyntheticPalm};

    fn template(seed: u64, n: u64) -> PalmTemplate {
        let img = SyntheticPalm::new(seed).impression(n, &PalmNoise::default());
        extract_region(&img, crate::palm::ROI_SIDE, crate::palm::ROI_SIDE).unwrap()
    }

    #[test]
    fn identification_among_a_subset_never_names_anyone_outside_it() {
        let mut g = PalmGallery::new();
        for seed in 1..=6u64 {
            g.insert(seed, template(seed, 1));
        }
        let probe = template(4, 2);
        let t = PalmThreshold::default();
        assert_eq!(g.identify(&probe, t).map(|(k, _)| k), Some(4));
        let others = |k: &u64| *k != 4;
        assert_eq!(g.identify_among(&probe, Some(&others), t), None, "the mate is outside the subset");
        let only = |k: &u64| *k == 4 || *k == 1;
        assert_eq!(g.identify_among(&probe, Some(&only), t).map(|(k, _)| k), Some(4));
    }
}
