//! ISO/IEC 19794-2:2005 finger minutiae record, one finger view.
//!
//! Layout (big-endian), as in the 2005 standard:
//! ```text
//! header (24 bytes)
//!   "FMR\0"                       format identifier
//!   " 20\0"                       version
//!   u32  record length            whole record, header included
//!   u16  capture equipment        4 bits certification flag, 12 bits device type id
//!   u16  image width, u16 image height   pixels
//!   u16  x resolution, u16 y resolution  pixels per centimetre
//!   u8   number of finger views
//!   u8   reserved (0)
//! finger view header (4 bytes)
//!   u8   finger position (0 unknown, 1–10)
//!   u8   view number (high 4 bits), impression type (low 4 bits)
//!   u8   finger quality (0–100)
//!   u8   number of minutiae
//! minutiae (6 bytes each)
//!   u16  type (top 2 bits: 01 ending, 10 bifurcation, 00 other) | x (14 bits)
//!   u16  reserved (2 bits) | y (14 bits)
//!   u8   angle, units of 360/256 degrees
//!   u8   quality (0–100)
//! u16 extended data block length (0: none)
//! ```
//! A record may hold several views of one finger (the standard's "number of finger views", each view with
//! its own header, minutiae and extended-data length, view numbers 0, 1, 2 …): tobira stores an enrolled
//! finger as up to [`MAX_VIEWS`] impressions this way (enrolment fusion, issue 17; see
//! [`super::enrolled`]). The view count is the stored format's version: every template stored before
//! fusion is a one-view record and loads unchanged as a one-impression finger.
//!
//! Decoding checks every length and range: a record that lies about its length, is truncated, or places
//! minutiae outside its image is refused with a precise error, never a panic.

use super::template::{Minutia, MinutiaKind, MinutiaeTemplate};

const MAGIC: &[u8; 4] = b"FMR\0";
const VERSION: &[u8; 4] = b" 20\0";
const HEADER: usize = 24;
const VIEW_HEADER: usize = 4;
const MINUTIA: usize = 6;
/// The most views tobira reads from or writes to one record: the enrolment captures it fuses (issue 17;
/// five since session 16, the daemon's default number of captures), and the most the fused score's
/// threshold table was calibrated for (`score.rs`: three to five).
pub const MAX_VIEWS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IsoError {
    #[error("record truncated: {have} bytes, need at least {need}")]
    Truncated { have: usize, need: usize },
    #[error("not an ISO/IEC 19794-2 record (format identifier)")]
    BadMagic,
    #[error("unsupported version {0:?} (this reader handles the 2005 version \" 20\")")]
    BadVersion([u8; 4]),
    #[error("record length field says {claimed} bytes, the record has {actual}")]
    LengthMismatch { claimed: u32, actual: usize },
    #[error("record holds {0} finger views; tobira reads one (a single impression) or up to three of one finger")]
    Views(u8),
    #[error("view {view} is of finger position {position}, view 0 of {first}: one record holds one finger")]
    MixedFingers { view: usize, position: u8, first: u8 },
    #[error("image size {width}x{height} is invalid")]
    ImageSize { width: u16, height: u16 },
    #[error("resolution of {0} pixels per cm is invalid")]
    Resolution(u16),
    #[error("minutia {index} at ({x},{y}) lies outside the {width}x{height} image")]
    OutOfRange { index: usize, x: u16, y: u16, width: u16, height: u16 },
    #[error("minutia {index} has quality {quality} above 100")]
    Quality { index: usize, quality: u8 },
    #[error("minutia {index} has the reserved type bits 11")]
    ReservedType { index: usize },
    #[error("extended data of {0} bytes is not supported")]
    ExtendedData(u16),
    #[error("template has {0} minutiae; a record holds at most 255")]
    TooMany(usize),
}

fn dpi_to_ppcm(dpi: u16) -> u16 {
    ((f32::from(dpi) / 2.54).round() as u16).max(1)
}

fn ppcm_to_dpi(ppcm: u16) -> u16 {
    (f32::from(ppcm) * 2.54).round() as u16
}

/// Encodes one finger view. Minutiae beyond 255 are dropped by quality (the format's limit); coordinates are
/// clamped to 14 bits.
pub fn encode(t: &MinutiaeTemplate) -> Vec<u8> {
    encode_views(std::slice::from_ref(t))
}

/// Encodes up to [`MAX_VIEWS`] views of one finger (more are dropped; none gives a record [`decode_views`]
/// refuses). The record's image size is the largest of the views' (one reader gives them all the same);
/// the resolution is the first view's.
pub fn encode_views(views: &[MinutiaeTemplate]) -> Vec<u8> {
    let views = &views[..views.len().min(MAX_VIEWS)];
    let kept: Vec<Vec<&Minutia>> = views
        .iter()
        .map(|t| {
            let mut ms: Vec<&Minutia> = t.minutiae.iter().collect();
            if ms.len() > 255 {
                ms.sort_by_key(|m| std::cmp::Reverse(m.quality));
                ms.truncate(255);
            }
            ms
        })
        .collect();
    let len = HEADER + kept.iter().map(|ms| VIEW_HEADER + MINUTIA * ms.len() + 2).sum::<usize>();
    let width = views.iter().map(|t| t.width).max().unwrap_or(0);
    let height = views.iter().map(|t| t.height).max().unwrap_or(0);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(VERSION);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&width.to_be_bytes());
    out.extend_from_slice(&height.to_be_bytes());
    let ppcm = dpi_to_ppcm(views.first().map_or(500, |t| t.resolution_dpi));
    out.extend_from_slice(&ppcm.to_be_bytes());
    out.extend_from_slice(&ppcm.to_be_bytes());
    out.push(views.len() as u8);
    out.push(0);
    for (view, (t, ms)) in views.iter().zip(&kept).enumerate() {
        out.push(0); // finger position unknown
        out.push((view as u8) << 4); // view number, impression type 0 (live-scan plain)
        out.push(t.quality().min(100));
        out.push(ms.len() as u8);
        for m in ms {
            let ty: u16 = match m.kind {
                MinutiaKind::Ending => 0b01,
                MinutiaKind::Bifurcation => 0b10,
                MinutiaKind::Other => 0b00,
            };
            out.extend_from_slice(&((ty << 14) | (m.x & 0x3fff)).to_be_bytes());
            out.extend_from_slice(&(m.y & 0x3fff).to_be_bytes());
            out.push(m.angle);
            out.push(m.quality.min(100));
        }
        out.extend_from_slice(&0u16.to_be_bytes());
    }
    out
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Decodes a one-view record (one impression); a record of several views is refused with
/// [`IsoError::Views`] (read it with [`decode_views`]).
pub fn decode(b: &[u8]) -> Result<MinutiaeTemplate, IsoError> {
    let mut views = decode_views(b)?;
    match views.len() {
        1 => Ok(views.remove(0)),
        n => Err(IsoError::Views(n as u8)),
    }
}

/// Decodes a record of 1 to [`MAX_VIEWS`] views of one finger, each as its own template with the record's
/// image size and resolution.
pub fn decode_views(b: &[u8]) -> Result<Vec<MinutiaeTemplate>, IsoError> {
    let need = HEADER + VIEW_HEADER + 2;
    if b.len() < need {
        return Err(IsoError::Truncated { have: b.len(), need });
    }
    if &b[0..4] != MAGIC {
        return Err(IsoError::BadMagic);
    }
    if &b[4..8] != VERSION {
        return Err(IsoError::BadVersion([b[4], b[5], b[6], b[7]]));
    }
    let claimed = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
    if claimed as usize != b.len() {
        return Err(IsoError::LengthMismatch { claimed, actual: b.len() });
    }
    let width = be16(b, 14);
    let height = be16(b, 16);
    if width == 0 || height == 0 || width > 0x3fff || height > 0x3fff {
        return Err(IsoError::ImageSize { width, height });
    }
    let xres = be16(b, 18);
    if xres == 0 || be16(b, 20) == 0 {
        return Err(IsoError::Resolution(xres));
    }
    let count = b[22];
    if count == 0 || usize::from(count) > MAX_VIEWS {
        return Err(IsoError::Views(count));
    }
    let mut views = Vec::with_capacity(usize::from(count));
    let mut at = HEADER;
    let mut index = 0;
    for view in 0..usize::from(count) {
        if b.len() < at + VIEW_HEADER + 2 {
            return Err(IsoError::Truncated { have: b.len(), need: at + VIEW_HEADER + 2 });
        }
        let (position, first) = (b[at], b[HEADER]);
        if position != first {
            return Err(IsoError::MixedFingers { view, position, first });
        }
        let n = usize::from(b[at + 3]);
        let end = at + VIEW_HEADER + MINUTIA * n + 2;
        if b.len() < end {
            return Err(IsoError::Truncated { have: b.len(), need: end });
        }
        let mut minutiae = Vec::with_capacity(n);
        for k in 0..n {
            let m = at + VIEW_HEADER + MINUTIA * k;
            let tx = be16(b, m);
            let kind = match tx >> 14 {
                0b01 => MinutiaKind::Ending,
                0b10 => MinutiaKind::Bifurcation,
                0b00 => MinutiaKind::Other,
                _ => return Err(IsoError::ReservedType { index }),
            };
            let x = tx & 0x3fff;
            let y = be16(b, m + 2) & 0x3fff;
            if x >= width || y >= height {
                return Err(IsoError::OutOfRange { index, x, y, width, height });
            }
            let quality = b[m + 5];
            if quality > 100 {
                return Err(IsoError::Quality { index, quality });
            }
            minutiae.push(Minutia { x, y, angle: b[m + 4], kind, quality });
            index += 1;
        }
        let ext = be16(b, end - 2);
        if ext != 0 {
            return Err(IsoError::ExtendedData(ext));
        }
        views.push(MinutiaeTemplate { width, height, resolution_dpi: ppcm_to_dpi(xres), minutiae });
        at = end;
    }
    if at != b.len() {
        return Err(IsoError::LengthMismatch { claimed, actual: at });
    }
    Ok(views)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{ImpressionNoise, SyntheticFinger};
    use proptest::prelude::*;

    fn sample() -> MinutiaeTemplate {
        SyntheticFinger::new(7).impression(1, &ImpressionNoise::default())
    }

    #[test]
    fn round_trip_and_known_header_bytes() {
        let t = sample();
        let b = encode(&t);
        assert_eq!(&b[..8], b"FMR\0 20\0");
        assert_eq!(u32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize, b.len());
        assert_eq!(be16(&b, 18), 197, "500 dpi is 197 pixels per cm");
        let back = decode(&b).unwrap();
        assert_eq!(back.minutiae, t.minutiae);
        assert_eq!((back.width, back.height), (t.width, t.height));
        assert_eq!(back.resolution_dpi, 500);
    }

    #[test]
    fn every_error_path() {
        let good = encode(&sample());
        assert!(matches!(decode(&good[..10]), Err(IsoError::Truncated { .. })));
        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(decode(&b), Err(IsoError::BadMagic));
        let mut b = good.clone();
        b[5] = b'3';
        assert!(matches!(decode(&b), Err(IsoError::BadVersion(_))));
        let mut b = good.clone();
        b[11] ^= 1;
        assert!(matches!(decode(&b), Err(IsoError::LengthMismatch { .. })));
        // A minutiae count that lies about the body.
        let mut b = good.clone();
        b[HEADER + 3] += 1;
        assert!(matches!(decode(&b), Err(IsoError::Truncated { .. })));
        // A view count that lies about the body.
        let mut b = good.clone();
        b[22] = 2;
        assert!(matches!(decode(&b), Err(IsoError::Truncated { .. })));
        let mut b = good.clone();
        b[22] = 0;
        assert_eq!(decode(&b), Err(IsoError::Views(0)));
        let mut b = good.clone();
        b[14] = 0;
        b[15] = 0;
        assert!(matches!(decode(&b), Err(IsoError::ImageSize { .. })));
        let mut b = good.clone();
        let at = HEADER + VIEW_HEADER;
        b[at] = 0x3f;
        b[at + 1] = 0xff; // x = 16383, type 00
        assert!(matches!(decode(&b), Err(IsoError::OutOfRange { index: 0, .. })));
        let mut b = good.clone();
        b[at] |= 0xc0;
        assert_eq!(decode(&b), Err(IsoError::ReservedType { index: 0 }));
        let mut b = good.clone();
        b[at + 5] = 101;
        assert_eq!(decode(&b), Err(IsoError::Quality { index: 0, quality: 101 }));
        let mut b = good.clone();
        let n = b.len();
        b[n - 1] = 4;
        assert_eq!(decode(&b), Err(IsoError::ExtendedData(4)));
    }

    /// Issue 17: a template stored before enrolment fusion (one view, these exact bytes: what `encode` wrote
    /// then and writes now for one impression) still loads, as one impression and as a one-view finger.
    #[test]
    fn a_one_view_record_from_before_fusion_still_loads() {
        let old: Vec<u8> = [
            &b"FMR\0 20\0"[..],
            &[0, 0, 0, 42, 0, 0, 1, 44, 1, 44, 0, 197, 0, 197, 1, 0],
            &[0, 0, 60, 2],
            &[0x40, 100, 0, 120, 64, 60, 0x80, 150, 0, 30, 200, 60],
            &[0, 0],
        ]
        .concat();
        assert_eq!(old.len(), 42);
        let t = decode(&old).unwrap();
        assert_eq!((t.width, t.height, t.resolution_dpi, t.minutiae.len()), (300, 300, 500, 2));
        assert_eq!(t.minutiae[1], Minutia { x: 150, y: 30, angle: 200, kind: MinutiaKind::Bifurcation, quality: 60 });
        assert_eq!(decode_views(&old).unwrap(), vec![t.clone()]);
        assert_eq!(encode(&t), old, "one impression is still written as before");
    }

    #[test]
    fn several_views_of_one_finger_round_trip() {
        let f = SyntheticFinger::new(9);
        let views: Vec<MinutiaeTemplate> = (0..3).map(|i| f.impression(i, &ImpressionNoise::default())).collect();
        let b = encode_views(&views);
        assert_eq!(b[22], 3);
        let back = decode_views(&b).unwrap();
        assert_eq!(back.len(), 3);
        for (v, w) in back.iter().zip(&views) {
            assert_eq!(v.minutiae, w.minutiae);
        }
        assert_eq!(decode(&b), Err(IsoError::Views(3)), "the one-impression reader refuses a fused record");
        // More than five are not written; a record that claims six is refused.
        let six: Vec<MinutiaeTemplate> = (0..6).map(|i| f.impression(i, &ImpressionNoise::default())).collect();
        assert_eq!(decode_views(&encode_views(&six)).unwrap().len(), MAX_VIEWS);
        assert_eq!(MAX_VIEWS, 5);
        let mut b6 = b.clone();
        b6[22] = 6;
        assert_eq!(decode_views(&b6), Err(IsoError::Views(6)));
        // Views of different finger positions are not one finger.
        let mut mixed = b.clone();
        let second = HEADER + VIEW_HEADER + MINUTIA * usize::from(b[HEADER + 3]) + 2;
        mixed[second] = 3;
        assert_eq!(decode_views(&mixed), Err(IsoError::MixedFingers { view: 1, position: 3, first: 0 }));
        // Truncated anywhere: an error, never a panic.
        for cut in 0..b.len() {
            assert!(decode_views(&b[..cut]).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = decode(&bytes);
            let _ = decode_views(&bytes);
        }

        #[test]
        fn round_trip_any_valid_template(w in 50u16..1000, h in 50u16..1000, pts in proptest::collection::vec((0u16..1000, 0u16..1000, any::<u8>(), 0u8..3, 0u8..=100), 0..120)) {
            let minutiae: Vec<Minutia> = pts.into_iter().map(|(x, y, angle, k, quality)| Minutia {
                x: x % w, y: y % h, angle,
                kind: [MinutiaKind::Ending, MinutiaKind::Bifurcation, MinutiaKind::Other][usize::from(k)], quality,
            }).collect();
            let t = MinutiaeTemplate { width: w, height: h, resolution_dpi: 500, minutiae };
            let back = decode(&encode(&t)).unwrap();
            prop_assert_eq!(back.minutiae, t.minutiae);
        }
    }
}
