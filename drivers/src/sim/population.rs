//! Simulated human bodies for the simulator and the demo. Each body key (any string, e.g. "tanaka") and
//! finger number has a synthetic master finger, seeded by FNV-1a of "key/finger"; each body and hand a
//! synthetic master palm (`palm::synthetic`), seeded by FNV-1a of "key/palm-left" or "key/palm-right". The
//! daemon only ever receives the [`Sample`] a reader produces; the key never travels with it.
//!
//! Each finger has two forms: a minutiae-level [`SyntheticFinger`] (in-process readers, scale tests) and a
//! master print, an image-level [`SyntheticPrint`] whose impressions a protocol-level reader uploads.

use crate::Sample;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tobira_sample::ROI_SIDE;
use tobira_sample::synthetic::{ImpressionNoise, PrintNoise, SyntheticFinger, SyntheticPrint};
use tobira_sample::synthetic_palm::{PalmNoise, SyntheticPalm};

/// The simulated palm readers' near-infrared band (the reference bridge's too).
pub const PALM_WAVELENGTH_NM: u16 = 850;
/// Resolution the simulated palm regions are stated at (a palm-vein sensor's typical 100 dpi).
pub const PALM_DPI: u16 = 100;

#[derive(Debug, Default, Clone)]
pub struct SimPopulation {
    noise: ImpressionNoise,
    print_noise: PrintNoise,
    /// Master prints grown so far (growing one takes tens of milliseconds; a person presents many times).
    prints: Arc<Mutex<HashMap<u64, Arc<SyntheticPrint>>>>,
}

/// Master prints kept grown at once (the demo's staff fit; a bench's crowd is regrown as it comes).
const PRINT_CACHE: usize = 32;

/// FNV-1a, 64 bit: stable across runs and platforms, so a body's finger is the same every time.
pub fn body_seed(key: &str, finger: u8) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes().iter().chain(b"/").chain(finger.to_string().as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// FNV-1a of "key/palm-HAND": a body's palm is the same every run, and differs from their other palm.
pub fn palm_seed(key: &str, hand: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes().iter().chain(b"/palm-").chain(hand.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

impl SimPopulation {
    /// The master palm of `key`'s `hand` (`left` or `right`).
    pub fn palm(&self, key: &str, hand: &str) -> SyntheticPalm {
        SyntheticPalm::new(palm_seed(key, hand))
    }

    /// The pixels of a fresh palm impression: a [`ROI_SIDE`]² near-infrared palm region, as a sensor that
    /// crops on the device delivers it; `attempt` seeds pose, illumination and noise.
    pub fn palm_pixels(&self, key: &str, hand: &str, attempt: u64) -> Vec<u8> {
        self.palm(key, hand).impression(attempt, &PalmNoise::default())
    }

    /// [`palm_pixels`](Self::palm_pixels) as the sample a palm reader delivers.
    pub fn palm_impression(&self, key: &str, hand: &str, attempt: u64) -> Sample {
        Sample::PalmNir {
            width: ROI_SIDE as u32,
            height: ROI_SIDE as u32,
            dpi: PALM_DPI,
            wavelength_nm: PALM_WAVELENGTH_NM,
            pixels: self.palm_pixels(key, hand, attempt),
        }
    }

    pub fn finger(&self, key: &str, finger: u8) -> SyntheticFinger {
        SyntheticFinger::new(body_seed(key, finger))
    }

    /// A fresh impression: `attempt` seeds the placement noise, so no two presentations are identical.
    pub fn impression(&self, key: &str, finger: u8, attempt: u64) -> Sample {
        let seed = body_seed(key, finger) ^ attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
        Sample::Minutiae(self.finger(key, finger).impression(seed, &self.noise))
    }

    /// The finger's master print: the same ridges every time for the same body and finger.
    pub fn print(&self, key: &str, finger: u8) -> Arc<SyntheticPrint> {
        let seed = body_seed(key, finger);
        let mut cache = self.prints.lock().unwrap_or_else(|p| p.into_inner());
        // Each master is ~0.5 MB; a bench presenting hundreds of people must not grow the daemon by that.
        if cache.len() >= PRINT_CACHE && !cache.contains_key(&seed) {
            cache.clear();
        }
        cache.entry(seed).or_insert_with(|| Arc::new(SyntheticPrint::new(seed))).clone()
    }

    /// A fresh image impression (8-bit, 256×288 at 500 dpi, as an R30x module captures it): `attempt`
    /// seeds the placement, distortion, pressure and noise, so no two presentations are identical.
    pub fn image(&self, key: &str, finger: u8, attempt: u64) -> Vec<u8> {
        let seed = body_seed(key, finger) ^ attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
        self.print(key, finger).impression(seed, &self.print_noise).pixels
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

    #[test]
    fn images_are_fresh_impressions_of_one_master() {
        let p = SimPopulation::default();
        let (a, b) = (p.image("tanaka", 2, 1), p.image("tanaka", 2, 2));
        assert_eq!(a.len(), 256 * 288);
        assert_ne!(a, b, "each presentation is a new impression");
        assert_eq!(a, p.image("tanaka", 2, 1), "deterministic");
        assert!(Arc::ptr_eq(&p.print("tanaka", 2), &p.clone().print("tanaka", 2)), "one master per finger");
    }
}
