//! What a reader delivers, and extraction of a template from it.

use crate::fingerprint::template::MinutiaeTemplate;

/// Fewer minutiae than this cannot support a decision: ask for another capture. 12 from the start until
/// session 21, when the development sets seen through a smaller sensor (`tobira-bench fingerprint --crop
/// 260`: each FVC2000 DB1–DB3 image cut to the 260×260 px around its print, about 13×13 mm, an R30x
/// module's window) showed the floor, not the matcher, losing most of the margin over NIST there: 4, 2 and 2
/// of 80 windows refused, all-pairs EER 11.1 / 8.9 / 17.9 % against NIST's 18.3 / 14.9 / 17.6 %. At 10:
/// 0, 0 and 1 refused, EER 4.9 / 6.1 / 16.4 %. What a lower floor risks is a false match between small
/// templates (the matcher floors its denominators at 12, so four chance pairs of two 10-minutia prints
/// score 0.11, over the 1:1 threshold of 0.100): of the 503 impostor pairs of those windows that involve a template
/// of 10 or 11 minutiae none reaches the 1:1 threshold (nor do any of the other 8,065); in 200 px windows
/// (about 10×10 mm) one of 768 does — where 29 of the 5,520 between templates of 12 or more reach it too: a
/// sensor that small is outside the threshold table whatever the floor (README, "Small sensors"). 8 gains
/// only DB3 (EER 15.0 %) and lets four chance pairs decide between any two such prints; not taken.
pub const MIN_MINUTIAE: usize = 10;

pub use tobira_sample::Sample;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtractError {
    #[error("sample quality too low: {minutiae} minutiae found, at least {MIN_MINUTIAE} needed")]
    LowQuality { minutiae: usize },
    #[error("this kind of sample cannot be turned into a template")]
    Unsupported,
    #[error("sample geometry is invalid: {0}")]
    Invalid(String),
    #[error(
        "sample quality {quality} is below the enrollment minimum {min} (clean the sensor, place the finger flat and still)"
    )]
    BelowEnrolmentQuality { quality: u8, min: u8 },
}

/// Turns a sample into a template, refusing samples too poor to decide on.
pub fn extract(sample: &Sample) -> Result<MinutiaeTemplate, ExtractError> {
    extract_with_quality(sample).map(|(t, _)| t)
}

/// The enrollment path: like [`extract`], and also refuses a sample whose quality (0–100: the image's ridge
/// clarity and print area, or the reader's reported minutia quality) is below `min` — a template enrolled
/// from a poor sample fails its owner at every door afterwards.
pub fn extract_for_enrolment(sample: &Sample, min: u8) -> Result<(MinutiaeTemplate, u8), ExtractError> {
    let (t, quality) = extract_with_quality(sample)?;
    if quality < min {
        return Err(ExtractError::BelowEnrolmentQuality { quality, min });
    }
    Ok((t, quality))
}

/// [`extract`] with the sample's quality.
pub fn extract_with_quality(sample: &Sample) -> Result<(MinutiaeTemplate, u8), ExtractError> {
    match sample {
        Sample::Minutiae(t) => {
            if t.width == 0 || t.height == 0 {
                return Err(ExtractError::Invalid(format!("{}x{} image", t.width, t.height)));
            }
            if let Some(m) = t.minutiae.iter().find(|m| m.x >= t.width || m.y >= t.height) {
                return Err(ExtractError::Invalid(format!(
                    "minutia at ({},{}) outside {}x{}",
                    m.x, m.y, t.width, t.height
                )));
            }
            if t.minutiae.len() < MIN_MINUTIAE {
                return Err(ExtractError::LowQuality { minutiae: t.minutiae.len() });
            }
            Ok((t.clone(), t.quality()))
        }
        Sample::Gray8 { width, height, dpi, pixels } => {
            let img = crate::image::GrayImage::from_raw(*width, *height, *dpi, pixels.clone())
                .map_err(|e| ExtractError::Invalid(e.to_string()))?;
            let (t, quality) = crate::image::extract_minutiae(&img);
            if t.minutiae.len() < MIN_MINUTIAE {
                return Err(ExtractError::LowQuality { minutiae: t.minutiae.len() });
            }
            Ok((t, quality))
        }
        // Palms have their own pipeline and template type (issue 4): `palm::extract_palm`. This fingerprint
        // entry point refuses them, so a palm can never become a minutiae template.
        Sample::PalmNir { .. } => Err(ExtractError::Unsupported),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{ImpressionNoise, SyntheticFinger};

    #[test]
    fn enrolment_refuses_poor_samples_and_says_why() {
        let mut t = SyntheticFinger::new(5).impression(1, &ImpressionNoise::default());
        let (_, q) = extract_for_enrolment(&Sample::Minutiae(t.clone()), 40).unwrap();
        assert!(q >= 40, "{q}");
        for m in &mut t.minutiae {
            m.quality = 12;
        }
        let err = extract_for_enrolment(&Sample::Minutiae(t.clone()), 40).unwrap_err();
        assert_eq!(err, ExtractError::BelowEnrolmentQuality { quality: 12, min: 40 });
        assert!(err.to_string().contains("place the finger"), "{err}");
        // Outside enrollment the same sample still verifies (the door does not re-judge quality).
        assert!(extract(&Sample::Minutiae(t)).is_ok());
    }

    #[test]
    fn flat_tiny_and_lying_images_never_become_templates() {
        for v in [0u8, 255] {
            let s = Sample::Gray8 { width: 200, height: 200, dpi: 500, pixels: vec![v; 40_000] };
            assert!(matches!(extract(&s), Err(ExtractError::LowQuality { .. })), "flat {v}");
        }
        let one = Sample::Gray8 { width: 1, height: 1, dpi: 500, pixels: vec![0] };
        assert!(matches!(extract(&one), Err(ExtractError::Invalid(_))));
        let zero = Sample::Gray8 { width: 0, height: 0, dpi: 500, pixels: vec![] };
        assert!(matches!(extract(&zero), Err(ExtractError::Invalid(_))));
        // A buffer shorter than its stated geometry.
        let lying = Sample::Gray8 { width: 300, height: 300, dpi: 500, pixels: vec![7; 100] };
        assert!(matches!(extract(&lying), Err(ExtractError::Invalid(_))));
        let palm = Sample::PalmNir { width: 64, height: 64, dpi: 500, wavelength_nm: 940, pixels: vec![0; 4096] };
        assert_eq!(extract(&palm).unwrap_err(), ExtractError::Unsupported);
    }
}
