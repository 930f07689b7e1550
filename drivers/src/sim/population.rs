//! Simulated human bodies for the simulator and the demo. Each body key (any string, e.g. "tanaka") and
//! finger number has a synthetic master finger, seeded by FNV-1a of "key/finger"; each body and hand a
//! synthetic master palm (`palm::synthetic`), seeded by FNV-1a of "key/palm-left" or "key/palm-right". The
//! daemon only ever receives the [`Sample`] a reader produces; the key never travels with it.
//!
//! A finger's master is an image-level [`SyntheticPrint`]: a protocol-level reader (`sim-r30x`) uploads fresh
//! impressions of it. A minutiae-level reader (`sim-finger`) presents fresh impressions of a
//! [`SyntheticFinger`]; which finger that is depends on how the population was made (issue 22 §5):
//!
//! - [`with_master_minutiae`](SimPopulation::with_master_minutiae) (the daemon's `--simulation`, the door
//!   benchmark): the minutiae a real extractor finds on a clean impression of the master print, extracted
//!   once per body and finger and kept. One person then has the same fingers on every reader kind: enrolled
//!   at one, identified at the other.
//! - [`default`](SimPopulation::default) (this crate's tests, the benchmarks' gallery of people never
//!   presented): drivers link no extractor (layout rule: drivers never link the matcher), so the
//!   minutiae-level finger is an unrelated `SyntheticFinger::new` of the same seed — fast, but NOT the finger
//!   the images show. (`tobira-sim` uploads images only, so its people are the daemon's.)

use crate::Sample;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tobira_sample::ROI_SIDE;
use tobira_sample::gray::GrayImage;
use tobira_sample::synthetic::{ImpressionNoise, PrintNoise, SyntheticFinger, SyntheticPrint};
use tobira_sample::synthetic_palm::{PalmNoise, SyntheticPalm};
use tobira_sample::template::MinutiaeTemplate;

/// The simulated palm readers' near-infrared band (the reference bridge's too).
pub const PALM_WAVELENGTH_NM: u16 = 850;
/// Resolution the simulated palm regions are stated at (a palm-vein sensor's typical 100 dpi).
pub const PALM_DPI: u16 = 100;

/// Finds the minutiae on an image of a print: the fingerprint extractor, given by whoever links it.
pub type MinutiaeExtractor = Arc<dyn Fn(&GrayImage) -> MinutiaeTemplate + Send + Sync>;

#[derive(Default, Clone)]
pub struct SimPopulation {
    noise: ImpressionNoise,
    print_noise: PrintNoise,
    /// Master prints grown so far (growing one takes tens of milliseconds; a person presents many times).
    prints: Arc<Mutex<HashMap<u64, Arc<SyntheticPrint>>>>,
    /// The extractor that makes minutiae-level fingers of the master prints; `None`: unrelated ones.
    extractor: Option<MinutiaeExtractor>,
    /// Minutiae-level master fingers made so far (with an extractor each costs a print and an extraction).
    fingers: Arc<Mutex<HashMap<u64, Arc<SyntheticFinger>>>>,
}

impl std::fmt::Debug for SimPopulation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimPopulation")
            .field("noise", &self.noise)
            .field("print_noise", &self.print_noise)
            .field("one_finger_per_body", &self.extractor.is_some())
            .finish_non_exhaustive()
    }
}

/// Master prints kept grown at once (the demo's staff fit; a bench's crowd is regrown as it comes).
const PRINT_CACHE: usize = 32;
/// Minutiae-level master fingers kept at once: a few hundred bytes each, so a benchmark's presented crowd
/// fits and is extracted once; beyond it the cache starts again (never unbounded in a long-running daemon).
const FINGER_CACHE: usize = 4096;

/// Takes `key`'s entry from `cache`, or makes it outside the lock (making one may take a print's growth) and
/// keeps it; a full cache is emptied first.
fn cached<T>(cache: &Mutex<HashMap<u64, Arc<T>>>, bound: usize, key: u64, make: impl FnOnce() -> T) -> Arc<T> {
    if let Some(v) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return v.clone();
    }
    let made = Arc::new(make());
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= bound && !cache.contains_key(&key) {
        cache.clear();
    }
    cache.entry(key).or_insert(made).clone()
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
    /// One finger per body on every reader kind: minutiae-level fingers are made from the master prints by
    /// `extract` (the real fingerprint extractor; the daemon's simulation layer gives it, as drivers may not
    /// link it), run once per body and finger on a clean impression ([`PrintNoise::none`]).
    pub fn with_master_minutiae(mut self, extract: MinutiaeExtractor) -> SimPopulation {
        self.extractor = Some(extract);
        self.fingers = Arc::default();
        self
    }

    /// Whether minutiae-level fingers are made from the master prints (see the module's documentation).
    pub fn one_finger_per_body(&self) -> bool {
        self.extractor.is_some()
    }

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

    /// The minutiae-level master of `key`'s `finger`: with an extractor, the minutiae found on a clean
    /// impression of [`print`](Self::print) (the first call for a body and finger grows the print and extracts
    /// it; later ones are kept); without, `SyntheticFinger::new` of the same seed, unrelated to the print.
    pub fn finger(&self, key: &str, finger: u8) -> Arc<SyntheticFinger> {
        let seed = body_seed(key, finger);
        cached(&self.fingers, FINGER_CACHE, seed, || match &self.extractor {
            Some(extract) => {
                let clean = self.print(key, finger).impression(seed, &PrintNoise::none());
                SyntheticFinger::from_minutiae(&extract(&clean))
            }
            None => SyntheticFinger::new(seed),
        })
    }

    /// A fresh impression: `attempt` seeds the placement noise, so no two presentations are identical. The
    /// first one of a body's finger may take a print's growth and an extraction (see [`finger`](Self::finger)):
    /// call it off an async runtime's threads.
    pub fn impression(&self, key: &str, finger: u8, attempt: u64) -> Sample {
        let seed = body_seed(key, finger) ^ attempt.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
        Sample::Minutiae(self.finger(key, finger).impression(seed, &self.noise))
    }

    /// The finger's master print: the same ridges every time for the same body and finger.
    pub fn print(&self, key: &str, finger: u8) -> Arc<SyntheticPrint> {
        let seed = body_seed(key, finger);
        // Each master is ~0.5 MB; a bench presenting hundreds of people must not grow the daemon by that.
        cached(&self.prints, PRINT_CACHE, seed, || SyntheticPrint::new(seed))
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

    /// Issue 22 §5, the drivers' half (the daemon's `sim::devices` tests run the real extractor): with an
    /// extractor, the minutiae-level finger is made from the clean master print, once per body and finger.
    #[test]
    fn with_an_extractor_minutiae_fingers_come_from_the_clean_master_print_once() {
        use tobira_sample::template::{Minutia, MinutiaKind};
        let seen: Arc<Mutex<Vec<GrayImage>>> = Arc::default();
        let log = seen.clone();
        // A stub extractor: the image it was given is kept; the minutiae are a grid in the image's frame.
        let p = SimPopulation::default().with_master_minutiae(Arc::new(move |img: &GrayImage| {
            log.lock().unwrap().push(img.clone());
            let minutiae = (0..40u16)
                .map(|i| Minutia {
                    x: 20 + (i % 8) * 28,
                    y: 20 + (i / 8) * 50,
                    angle: (i * 6) as u8,
                    kind: MinutiaKind::Ending,
                    quality: 80,
                })
                .collect();
            MinutiaeTemplate { width: img.width as u16, height: img.height as u16, resolution_dpi: 500, minutiae }
        }));
        assert!(p.one_finger_per_body() && !SimPopulation::default().one_finger_per_body());
        let q = p.clone();
        for attempt in 0..5 {
            let Sample::Minutiae(t) = q.impression("tanaka", 2, attempt) else { panic!() };
            assert_eq!((t.width, t.height), (256, 288), "the print's frame, not the generator's 320×400");
        }
        let _ = p.impression("tanaka", 3, 1);
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "extracted once per body and finger, shared by clones");
        assert_eq!(seen[0], p.print("tanaka", 2).impression(0, &PrintNoise::none()), "from the clean impression");
        assert_ne!(seen[0], seen[1]);
        assert_eq!(p.finger("tanaka", 2).master_count(), 40);
    }
}
