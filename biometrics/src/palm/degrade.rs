//! Poor captures made on purpose from good ones (issue 17 §3): blur, contrast squeezed towards flat grey,
//! heavy JPEG compression, and a whole hand cropped until a fingertip touches the frame. The quality gate
//! ([`super::quality`]) and the region step ([`super::roi`]) are tested and benchmarked on these, because
//! the development sets hold almost no bad captures of their own while a contact-free reader delivers
//! them every day. Pure functions over pixel buffers; the JPEG round trip is in memory.

use super::PalmError;

/// Gaussian blur of standard deviation `sigma` pixels (separable, edges replicated): a hand out of focus or
/// moving.
pub fn blur(px: &[u8], w: usize, h: usize, sigma: f32) -> Vec<u8> {
    if sigma <= 0.0 || px.len() != w * h || w == 0 || h == 0 {
        return px.to_vec();
    }
    let r = (3.0 * sigma).ceil() as i64;
    let k: Vec<f32> = (-r..=r).map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp()).collect();
    let norm: f32 = k.iter().sum();
    let pass = |src: &[f32], horizontal: bool| -> Vec<f32> {
        let mut out = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0f32;
                for (j, kv) in k.iter().enumerate() {
                    let d = j as i64 - r;
                    let (sx, sy) = if horizontal {
                        ((x as i64 + d).clamp(0, w as i64 - 1) as usize, y)
                    } else {
                        (x, (y as i64 + d).clamp(0, h as i64 - 1) as usize)
                    };
                    acc += kv * src[sy * w + sx];
                }
                out[y * w + x] = acc / norm;
            }
        }
        out
    };
    let f: Vec<f32> = px.iter().map(|v| f32::from(*v)).collect();
    pass(&pass(&f, true), false).iter().map(|v| v.round().clamp(0.0, 255.0) as u8).collect()
}

/// Contrast multiplied by `factor` around the mean grey level (0.1: a nearly flat grey frame, as from an
/// under-exposed or badly lit reader). Rounded to 8 bits like a sensor's output, so the weak structure that
/// is left is also quantised.
pub fn flatten(px: &[u8], factor: f32) -> Vec<u8> {
    let mean = px.iter().map(|v| f32::from(*v)).sum::<f32>() / px.len().max(1) as f32;
    px.iter().map(|v| (mean + (f32::from(*v) - mean) * factor).round().clamp(0.0, 255.0) as u8).collect()
}

/// The texture (everything finer than a Gaussian of `sigma` pixels) multiplied by `factor`, the slow
/// illumination and the hand's outline kept: a palm whose veins barely show, though the frame is well
/// exposed — the low-contrast captures of a contact-free reader, which the blank-frame check lets through.
pub fn flatten_texture(px: &[u8], w: usize, h: usize, sigma: f32, factor: f32) -> Vec<u8> {
    let low = blur(px, w, h, sigma);
    px.iter()
        .zip(&low)
        .map(|(v, l)| (f32::from(*l) + (f32::from(*v) - f32::from(*l)) * factor).round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// A JPEG round trip at `quality` (1–100; 5–10 leaves the 8×8 block marks the issue saw).
pub fn jpeg(px: &[u8], w: usize, h: usize, quality: u8) -> Result<Vec<u8>, PalmError> {
    let (wu, hu) = (u32::try_from(w), u32::try_from(h));
    let (Ok(wu), Ok(hu)) = (wu, hu) else {
        return Err(PalmError::Invalid(format!("{w}x{h} image")));
    };
    if px.len() != w * h {
        return Err(PalmError::Invalid(format!("{} bytes for {w}x{h}", px.len())));
    }
    let mut buf = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, quality.clamp(1, 100))
        .encode(px, wu, hu, image::ExtendedColorType::L8)
        .map_err(|e| PalmError::Decode(e.to_string()))?;
    let back = image::load_from_memory_with_format(&buf, image::ImageFormat::Jpeg)
        .map_err(|e| PalmError::Decode(e.to_string()))?
        .into_luma8();
    Ok(back.into_raw())
}

/// One way a capture can be poor, applied to a development image: what the benchmark and the tests measure
/// the quality gate and the score normalisation on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// The image as the development set has it.
    AsRecorded,
    /// [`blur`] with this σ (pixels of the image as it arrived).
    Blur(f32),
    /// [`flatten_texture`] (σ 8 px) with this factor: veins barely above the grey.
    Texture(f32),
    /// [`flatten`] with this factor: the whole frame nearly flat grey.
    Flat(f32),
    /// [`jpeg`] at this quality.
    Jpeg(u8),
    /// [`flatten_texture`] then [`jpeg`]: a nearly flat region with JPEG block marks (the captures that
    /// scored up to 0.51 against strangers on the unseen sensor).
    TextureJpeg(f32, u8),
}

/// The conditions the benchmark runs, in its order.
pub const CONDITIONS: [Condition; 9] = [
    Condition::AsRecorded,
    Condition::Blur(3.0),
    Condition::Texture(0.2),
    Condition::Texture(0.1),
    Condition::Flat(0.1),
    Condition::Jpeg(30),
    Condition::Jpeg(10),
    Condition::Jpeg(5),
    Condition::TextureJpeg(0.2, 10),
];

impl Condition {
    pub fn apply(&self, px: &[u8], w: usize, h: usize) -> Result<Vec<u8>, PalmError> {
        Ok(match *self {
            Condition::AsRecorded => px.to_vec(),
            Condition::Blur(s) => blur(px, w, h, s),
            Condition::Texture(f) => flatten_texture(px, w, h, 8.0, f),
            Condition::Flat(f) => flatten(px, f),
            Condition::Jpeg(q) => jpeg(px, w, h, q)?,
            Condition::TextureJpeg(f, q) => jpeg(&flatten_texture(px, w, h, 8.0, f), w, h, q)?,
        })
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Condition::AsRecorded => write!(f, "as recorded"),
            Condition::Blur(s) => write!(f, "blurred, σ {s} px"),
            Condition::Texture(x) => write!(f, "vein contrast ×{x}"),
            Condition::Flat(x) => write!(f, "whole frame contrast ×{x}"),
            Condition::Jpeg(q) => write!(f, "JPEG quality {q}"),
            Condition::TextureJpeg(x, q) => write!(f, "vein contrast ×{x}, JPEG quality {q}"),
        }
    }
}

/// A whole hand cropped so that the tip of the finger pointing most directly away from the palm centre just
/// touches the frame's edge (the crop cuts `bite` pixels into the fingertip), everything else kept: the
/// capture a contact-free reader gives when the hand is held a little too close. Returns the cropped image
/// and its size, or `None` when the hand's key points are not found in the original.
pub fn crop_to_fingertip(px: &[u8], w: usize, h: usize, bite: usize) -> Option<(Vec<u8>, usize, usize)> {
    let roi = super::roi::locate(px, w, h).ok()?;
    let k = &roi.key;
    let mid = ((k.valleys[0].0 + k.valleys[2].0) / 2.0, (k.valleys[0].1 + k.valleys[2].1) / 2.0);
    let (dx, dy) = (mid.0 - k.centre.0, mid.1 - k.centre.1);
    let mask = super::roi::segment_hand(px, w, h).ok()?;
    // The fingertip: the hand pixel farthest along the fingers' direction.
    let n = (dx * dx + dy * dy).sqrt().max(1e-3);
    let (ux, uy) = (dx / n, dy / n);
    let mut tip = (0usize, 0usize, f32::MIN);
    for y in 0..h {
        for x in 0..w {
            if mask[y * w + x] {
                let t = x as f32 * ux + y as f32 * uy;
                if t > tip.2 {
                    tip = (x, y, t);
                }
            }
        }
    }
    // Crop on the side the fingers point to.
    let (mut x0, mut x1, mut y0, mut y1) = (0usize, w, 0usize, h);
    if ux.abs() >= uy.abs() {
        if ux < 0.0 {
            x0 = (tip.0 + bite).min(w - 1);
        } else {
            x1 = (tip.0 + 1).saturating_sub(bite).max(1);
        }
    } else if uy < 0.0 {
        y0 = (tip.1 + bite).min(h - 1);
    } else {
        y1 = (tip.1 + 1).saturating_sub(bite).max(1);
    }
    let (cw, ch) = (x1 - x0, y1 - y0);
    let out: Vec<u8> = (y0..y1).flat_map(|y| px[y * w + x0..y * w + x1].iter().copied()).collect();
    Some((out, cw, ch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_squeezes_the_spread_and_keeps_the_mean() {
        let px: Vec<u8> = (0..=255u8).collect();
        let f = flatten(&px, 0.1);
        let (lo, hi) = (*f.iter().min().unwrap_or(&0), *f.iter().max().unwrap_or(&0));
        assert!(hi - lo <= 26, "{lo}..{hi}");
        assert!((i32::from(lo) + i32::from(hi)) / 2 - 127 <= 1);
    }

    #[test]
    fn blur_removes_a_step_and_jpeg_keeps_the_size() {
        let px: Vec<u8> = (0..64 * 64).map(|i| if (i % 64) < 32 { 50 } else { 200 }).collect();
        let b = blur(&px, 64, 64, 2.0);
        assert!(b[10 * 64 + 32] > 60 && b[10 * 64 + 32] < 190, "{}", b[10 * 64 + 32]);
        assert_eq!(jpeg(&px, 64, 64, 5).map(|j| j.len()).ok(), Some(64 * 64));
        assert!(jpeg(&px, 64, 63, 5).is_err());
    }
}
