//! Palm-vein templates arrive from enrollment stations and, later, the central store.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tobira_biometrics::palm::{PalmTemplate, compare};

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = PalmTemplate::decode(data) {
        // Whatever decodes re-encodes to the same bytes and compares with itself without panicking.
        assert_eq!(t.encode(), data);
        let _ = compare(&t, &t);
    }
    // The vascular image record that carries palm images.
    if let Ok(img) = tobira_biometrics::palm::iso19794_9::decode(data) {
        assert_eq!(img.pixels.len(), usize::from(img.width) * usize::from(img.height));
    }
});
