//! Image bytes from readers and enrolment files (TIFF, PNG, BMP, PGM, JPEG): decoded before any matcher sees
//! them, with a size cap against decompression bombs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tobira_sample::gray::GrayImage;

fuzz_target!(|data: &[u8]| {
    if let Ok(img) = GrayImage::decode(data, 500) {
        assert_eq!(img.pixels.len(), img.width as usize * img.height as usize);
    }
});
