//! **Baseline, not the production matcher.** Kong & Zhang's competitive code (CompCode, ICPR 2004): six even
//! Gabor filters, the index of the most negative response per point on a 32×32 grid, three bits per point so
//! that the Hamming distance is the angular distance, compared over small translations. It is the classic
//! palmprint baseline, kept here so the benchmark measures this pipeline against it on the same images and
//! the same pairs (`tobira-bench palm`). Nothing in the daemon uses it.

use super::features::{Bank, CodeSpec};
use super::matcher::distance_at;
use super::template::PalmTemplate;
use super::{PalmError, extract_with};
use crate::score::Score;
use std::sync::OnceLock;

/// Translations searched, in code points of the 32×32 grid (±3 points = ±12 px of the 128 px region, the
/// same physical range as the production matcher).
pub const COMPCODE_SHIFT: i32 = 3;

fn bank() -> &'static Bank {
    static BANK: OnceLock<Bank> = OnceLock::new();
    BANK.get_or_init(|| Bank::new(CodeSpec::compcode()))
}

/// The CompCode of a palm region (any size; resampled to 128×128). Same blank-frame refusal as ours, no
/// quality gate (the published method has none).
pub fn compcode_extract(pixels: &[u8], width: usize, height: usize) -> Result<PalmTemplate, PalmError> {
    match extract_with(bank(), pixels, width, height) {
        Err(PalmError::LowQuality { .. } | PalmError::LowContrast { .. } | PalmError::Blocky { .. }) => {
            let raw = bank().code(pixels, width, height);
            Ok(PalmTemplate::from_raw(&raw, false, 0.0, 0))
        }
        other => other,
    }
}

/// CompCode's angular Hamming distance, minimised over every translation up to [`COMPCODE_SHIFT`], as a
/// similarity (1 − 2·distance).
pub fn compcode_compare(a: &PalmTemplate, b: &PalmTemplate) -> Score {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU supports popcnt (checked just above); the function has no other requirement.
        return unsafe { compare_popcnt(a, b) };
    }
    compare_impl(a, b)
}

/// The same popcount instruction as ours, so the timing comparison is between methods, not instructions.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn compare_popcnt(a: &PalmTemplate, b: &PalmTemplate) -> Score {
    compare_impl(a, b)
}

#[inline(always)]
fn compare_impl(a: &PalmTemplate, b: &PalmTemplate) -> Score {
    let mut best = 1.0f32;
    if a.grid == b.grid && a.planes == b.planes {
        for dy in -COMPCODE_SHIFT..=COMPCODE_SHIFT {
            for dx in -COMPCODE_SHIFT..=COMPCODE_SHIFT {
                if let Some(d) = distance_at(a, b, dx, dy) {
                    best = best.min(d);
                }
            }
        }
    }
    Score((1.0 - 2.0 * best).clamp(0.0, 1.0))
}
