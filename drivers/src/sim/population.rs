//! Simulated human bodies for the simulator and the demo. Each body key (any string, e.g. "tanaka") and
//! finger number has a synthetic master finger, seeded by FNV-1a of "key/finger". The daemon only ever
//! receives the [`Sample`] a reader produces; the key never travels with it.

use crate::Sample;
use tobira_biometrics::synthetic::{ImpressionNoise, SyntheticFinger};

#[derive(Debug, Default, Clone)]
pub struct SimPopulation {
    noise: ImpressionNoise,
}

/// FNV-1a, 64 bit: stable across runs and platforms, so a body's finger is the same every time.
pub fn body_seed(key: &str, finger: u8) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes().iter().chain(b"/").chain(finger.to_string().as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl SimPopulation {
    pub fn finger(&self, key: &str, finger: u8) -> SyntheticFinger {
        SyntheticFinger::new(body_seed(key, finger))
    }

    /// A fresh impression: `attempt` seeds the placement noise, so no two presentations are identical.
    pub fn impression(&self, key: &str, finger: u8, attempt: u64) -> Sample {
        let seed = body_seed(key, finger) ^ attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
        Sample::Minutiae(self.finger(key, finger).impression(seed, &self.noise))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_stable_and_distinct() {
        assert_eq!(body_seed("tanaka", 2), body_seed("tanaka", 2));
        assert_ne!(body_seed("tanaka", 2), body_seed("tanaka", 3));
        assert_ne!(body_seed("tanaka", 2), body_seed("sato", 2));
    }

    #[test]
    fn impressions_differ_between_attempts() {
        let p = SimPopulation::default();
        let (Sample::Minutiae(a), Sample::Minutiae(b)) = (p.impression("tanaka", 2, 1), p.impression("tanaka", 2, 2))
        else {
            panic!()
        };
        assert_ne!(a.minutiae, b.minutiae);
    }
}
