//! ISO/IEC 19794-9:2007 vascular image record holding one uncompressed 8-bit greyscale near-infrared image:
//! how a palm image travels between a reader bridge, an enrollment station and a node when an image, not a
//! template, must move (re-extraction after a template version change, audit of a disputed decision).
//!
//! Layout (big-endian), general header then one image representation:
//! ```text
//! general header (16 bytes)
//!   "VIR\0"                     format identifier
//!   "010\0"                     version 1.0
//!   u32  record length          whole record, header included
//!   u16  capture device id      0 = unspecified
//!   u16  number of images       this codec writes and reads exactly 1
//! image representation header (32 bytes)
//!   u32  representation length  this header + image data
//!   u8   body location          2 = palm (1 finger, 3 back of hand, 0 unspecified)
//!   u8   body location extended 0 unspecified, 1 left, 2 right
//!   u8   image type             1 = greyscale
//!   u8   compression            0 = none (raw, row-major)
//!   u16  width, u16 height      pixels
//!   u8   bit depth              8
//!   u8   reserved (0)
//!   u16  horizontal resolution, u16 vertical resolution   pixels per centimetre
//!   u16  rotation               1/65536 turn, 0xFFFF unspecified
//!   u16  light wavelength       nm (940 for the CASIA-like readers)
//!   u8   quality                0–100, 255 unspecified
//!   u8   reserved (0) ×9
//! image data                    width × height bytes
//! ```
//! The field order follows the 2007 edition's general header and image representation header as this
//! module's author read them; only the variant above (one raw 8-bit image) is implemented.
//!
//! **Not verified against the standard.** Checked on 2026-12-02 against what public sources the project
//! can search (code, documentation pages, issue threads): they name ISO/IEC 19794-9:2007 ("Vascular image
//! data") but none gives its byte layout, no open implementation of the record was found, and the text
//! itself is sold by ISO. What they do say: the part has a successor, ISO/IEC 39794-9:2021 ("Extensible
//! biometric data interchange formats — Part 9: Vascular image data", also INCITS/ISO/IEC 39794-9), a
//! tagged binary format specified in ASN.1 plus an XML schema, not this fixed-offset layout. So a record
//! written here round-trips through this module (tested) but interoperability with a vendor's 19794-9 or
//! 39794-9 records is untested: check this layout against the standard's text, or a vendor's sample
//! record, before exchanging images with another system. Decoding checks
//! every length against the others and against the bytes present — a record that lies about its length, is
//! truncated, or carries a compressed or deeper image is refused with a precise error, never a panic.

const MAGIC: &[u8; 4] = b"VIR\0";
const VERSION: &[u8; 4] = b"010\0";
pub const GENERAL_HEADER: usize = 16;
pub const IMAGE_HEADER: usize = 32;
/// Larger than any palm reader's image; refuses decompression-bomb-like headers before allocating.
const MAX_SIDE: u16 = 4096;

/// Which hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hand {
    Unspecified,
    Left,
    Right,
}

/// One palm image as carried in the record. Never prints pixels.
#[derive(Clone, PartialEq, Eq)]
pub struct VascularImage {
    pub width: u16,
    pub height: u16,
    pub hand: Hand,
    /// Pixels per centimetre (a 100 dpi reader: 39).
    pub ppcm: u16,
    pub wavelength_nm: u16,
    /// 0–100, or 255 unspecified.
    pub quality: u8,
    pub pixels: Vec<u8>,
}

impl std::fmt::Debug for VascularImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VascularImage({}x{}, {:?}, {} nm)", self.width, self.height, self.hand, self.wavelength_nm)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VirError {
    #[error("record truncated: {have} bytes, need at least {need}")]
    Truncated { have: usize, need: usize },
    #[error("not a vascular image record (bad format identifier)")]
    Magic,
    #[error("vascular image record version {0:?} is not supported (only 010)")]
    Version([u8; 4]),
    #[error("record length field says {field} bytes, the record has {have}")]
    RecordLength { field: u32, have: usize },
    #[error("{0} images in the record; this reader takes exactly one")]
    ImageCount(u16),
    #[error("image representation length says {field} bytes, header and {width}x{height} pixels need {need}")]
    RepresentationLength { field: u32, width: u16, height: u16, need: u64 },
    #[error("unsupported image: {0}")]
    Unsupported(&'static str),
    #[error("image of {width}x{height} pixels is outside 1..={MAX_SIDE}")]
    Size { width: u16, height: u16 },
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Encodes one image. The caller's pixel buffer must match its width and height; a mismatch is an error
/// (refusing to write a record that would then be refused on reading).
pub fn encode(img: &VascularImage) -> Result<Vec<u8>, VirError> {
    if img.width == 0 || img.height == 0 || img.width > MAX_SIDE || img.height > MAX_SIDE {
        return Err(VirError::Size { width: img.width, height: img.height });
    }
    let n = usize::from(img.width) * usize::from(img.height);
    if img.pixels.len() != n {
        return Err(VirError::RepresentationLength {
            field: (IMAGE_HEADER + img.pixels.len()) as u32,
            width: img.width,
            height: img.height,
            need: (IMAGE_HEADER + n) as u64,
        });
    }
    let total = GENERAL_HEADER + IMAGE_HEADER + n;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(VERSION);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&((IMAGE_HEADER + n) as u32).to_be_bytes());
    let hand = match img.hand {
        Hand::Unspecified => 0,
        Hand::Left => 1,
        Hand::Right => 2,
    };
    out.extend_from_slice(&[2, hand, 1, 0]);
    out.extend_from_slice(&img.width.to_be_bytes());
    out.extend_from_slice(&img.height.to_be_bytes());
    out.extend_from_slice(&[8, 0]);
    out.extend_from_slice(&img.ppcm.to_be_bytes());
    out.extend_from_slice(&img.ppcm.to_be_bytes());
    out.extend_from_slice(&0xFFFFu16.to_be_bytes());
    out.extend_from_slice(&img.wavelength_nm.to_be_bytes());
    out.push(img.quality);
    out.extend_from_slice(&[0; 9]);
    out.extend_from_slice(&img.pixels);
    Ok(out)
}

/// Decodes a record holding one raw 8-bit palm image.
pub fn decode(b: &[u8]) -> Result<VascularImage, VirError> {
    if b.len() < GENERAL_HEADER + IMAGE_HEADER {
        return Err(VirError::Truncated { have: b.len(), need: GENERAL_HEADER + IMAGE_HEADER });
    }
    if &b[0..4] != MAGIC {
        return Err(VirError::Magic);
    }
    if &b[4..8] != VERSION {
        return Err(VirError::Version([b[4], b[5], b[6], b[7]]));
    }
    let record = be32(b, 8);
    if record as usize != b.len() {
        return Err(VirError::RecordLength { field: record, have: b.len() });
    }
    let count = be16(b, 14);
    if count != 1 {
        return Err(VirError::ImageCount(count));
    }
    let h = &b[GENERAL_HEADER..];
    let rep = be32(h, 0);
    let (location, ext, kind, compression) = (h[4], h[5], h[6], h[7]);
    let (width, height) = (be16(h, 8), be16(h, 10));
    let depth = h[12];
    if location != 2 {
        return Err(VirError::Unsupported("body location is not the palm"));
    }
    if kind != 1 || depth != 8 {
        return Err(VirError::Unsupported("only 8-bit greyscale images"));
    }
    if compression != 0 {
        return Err(VirError::Unsupported("only uncompressed images"));
    }
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(VirError::Size { width, height });
    }
    let need = IMAGE_HEADER as u64 + u64::from(width) * u64::from(height);
    if u64::from(rep) != need {
        return Err(VirError::RepresentationLength { field: rep, width, height, need });
    }
    if (GENERAL_HEADER as u64 + need) != b.len() as u64 {
        return Err(VirError::RecordLength { field: record, have: b.len() });
    }
    let hand = match ext {
        1 => Hand::Left,
        2 => Hand::Right,
        _ => Hand::Unspecified,
    };
    Ok(VascularImage {
        width,
        height,
        hand,
        ppcm: be16(h, 14),
        wavelength_nm: be16(h, 20),
        quality: h[22],
        pixels: h[IMAGE_HEADER..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VascularImage {
        VascularImage {
            width: 40,
            height: 30,
            hand: Hand::Left,
            ppcm: 39,
            wavelength_nm: 940,
            quality: 77,
            pixels: (0..1200).map(|i| (i % 251) as u8).collect(),
        }
    }

    #[test]
    fn round_trip() {
        let img = sample();
        let rec = encode(&img).unwrap();
        assert_eq!(rec.len(), GENERAL_HEADER + IMAGE_HEADER + 1200);
        assert_eq!(decode(&rec).unwrap(), img);
    }

    #[test]
    fn lying_lengths_are_refused() {
        let rec = encode(&sample()).unwrap();
        // Record length larger, smaller than the bytes.
        for delta in [1i64, -1, 1000] {
            let mut r = rec.clone();
            let v = (rec.len() as i64 + delta) as u32;
            r[8..12].copy_from_slice(&v.to_be_bytes());
            assert!(matches!(decode(&r), Err(VirError::RecordLength { .. })), "{delta}");
        }
        // Representation length that disagrees with width × height.
        let mut r = rec.clone();
        r[16..20].copy_from_slice(&(u32::MAX).to_be_bytes());
        assert!(matches!(decode(&r), Err(VirError::RepresentationLength { .. })));
        // Width that promises more pixels than present (record length kept consistent with the bytes).
        let mut r = rec.clone();
        r[24..26].copy_from_slice(&41u16.to_be_bytes());
        assert!(matches!(decode(&r), Err(VirError::RepresentationLength { .. })));
        // Truncated anywhere.
        for cut in [0, 3, 15, 47, rec.len() - 1] {
            assert!(decode(&rec[..cut]).is_err(), "cut at {cut}");
        }
        // Two images, compressed data, 16-bit depth, a finger.
        let mut r = rec.clone();
        r[15] = 2;
        assert_eq!(decode(&r), Err(VirError::ImageCount(2)));
        let mut r = rec.clone();
        r[23] = 3;
        assert!(matches!(decode(&r), Err(VirError::Unsupported(_))));
        let mut r = rec.clone();
        r[28] = 16;
        assert!(matches!(decode(&r), Err(VirError::Unsupported(_))));
        let mut r = rec;
        r[20] = 1;
        assert!(matches!(decode(&r), Err(VirError::Unsupported(_))));
    }

    #[test]
    fn encode_refuses_inconsistent_images() {
        let mut img = sample();
        img.pixels.pop();
        assert!(encode(&img).is_err());
        img.width = 0;
        assert!(matches!(encode(&img), Err(VirError::Size { .. })));
    }
}
