//! Decoding a U.are.U 4000/4500 image from its bulk transfer: a pure function over the bytes and the key
//! the device hands out, so it is tested on the recorded traffic without any USB (STYLE §1). The layout,
//! the encryption test, the keystream and the block walk are in ../shared/protocols/uru4000.md; the
//! original is libfprint's `drivers/uru4000.c` (LGPL), read, not copied.

pub const WIDTH: usize = 384;
pub const HEIGHT: usize = 290;
pub const HEADER: usize = 64;
/// The bulk read the driver submits: header plus 290 rows (the device sends up to 289).
pub const BULK_LEN: usize = HEADER + HEIGHT * WIDTH;
/// The sensor's resolution (U.are.U 4000B/4500: 512 dpi).
pub const DPI: u16 = 512;

/// How a block of rows was sent.
const FLAG_CHANGE_KEY: u8 = 0x80;
const FLAG_ENCRYPTED: u8 = 0x02;
const FLAG_NO_KEY_UPDATE: u8 = 0x04;
const FLAG_NOT_PRESENT: u8 = 0x01;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("image transfer of {0} bytes is shorter than its header")]
    Short(usize),
    #[error("header says {num_lines} lines, which does not fit {len} bytes (or exceeds {HEIGHT})")]
    Lines { num_lines: usize, len: usize },
    #[error("the device asked for a key change more than 15 times in one image")]
    KeyChanges,
    #[error("key exchange failed: {0}")]
    Key(KeyExchangeError),
}

/// Why the key exchange behind an encrypted image failed (the caller performs it with the device).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyExchangeError {
    /// The register write or read failed; the device's error as it prints (kept as text so an image error
    /// stays comparable and this module does not name the USB layer above it).
    #[error("{0}")]
    Transfer(String),
    /// The device answered with fewer than the key's 4 bytes.
    #[error("short key")]
    ShortKey,
    /// Only in tests: an image that should not have asked for a key.
    #[error("no key needed")]
    NotExpected,
}

/// The header fields the decoder needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub num_lines: usize,
    pub key_number: u8,
    /// (flags, lines) pairs, ending at the first pair with 0 lines.
    pub blocks: Vec<(u8, usize)>,
}

impl Header {
    pub fn parse(data: &[u8]) -> Result<Header, ImageError> {
        if data.len() < HEADER {
            return Err(ImageError::Short(data.len()));
        }
        let num_lines = usize::from(u16::from_le_bytes([data[4], data[5]]));
        if num_lines >= HEIGHT || data.len() < HEADER + num_lines * WIDTH {
            return Err(ImageError::Lines { num_lines, len: data.len() });
        }
        let blocks = (0..15).map(|i| (data[16 + 2 * i], usize::from(data[17 + 2 * i]))).collect();
        Ok(Header { num_lines, key_number: data[6], blocks })
    }
}

/// Whether the first two rows look encrypted: plain rows are smooth, ciphertext is noise.
pub fn looks_encrypted(rows: &[u8]) -> bool {
    if rows.len() < 2 * WIDTH {
        return false;
    }
    let s: Vec<i64> = (0..WIDTH).map(|i| i64::from(rows[i]) + i64::from(rows[WIDTH + i])).collect();
    let m = s.iter().sum::<i64>() / WIDTH as i64;
    let dev2 = s.iter().map(|v| (v - m) * (v - m)).sum::<i64>() / WIDTH as i64;
    dev2 >= 5000
}

/// One step of the device's keystream generator (a 32-bit LFSR).
pub fn step(k: u32) -> u32 {
    (((k & 0x9248_144d).count_ones() & 1) << 31) | (k >> 1)
}

/// The keystream byte for key state `k`: bit j is key bit TAPS[j].
pub fn ks_byte(k: u32) -> u8 {
    const TAPS: [u32; 8] = [4, 8, 11, 14, 18, 21, 24, 29];
    TAPS.iter().enumerate().fold(0u8, |b, (j, t)| b | ((((k >> t) & 1) as u8) << j))
}

/// Decrypts `buf` in place (shifted one byte left, the last byte zero); returns the key state after it.
pub fn decrypt(buf: &mut [u8], mut k: u32) -> u32 {
    let n = buf.len();
    if n == 0 {
        return k;
    }
    for i in 0..n - 1 {
        buf[i] = buf[i + 1] ^ ks_byte(k);
        k = step(k);
    }
    buf[n - 1] = 0;
    step(k)
}

fn skip(mut k: u32, n: usize) -> u32 {
    for _ in 0..n {
        k = step(k);
    }
    k
}

/// Which way the sensor is mounted: the 4000B/4500 (05ba:000a) delivers the image turned 180°.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    Upright,
    Rotated180,
}

/// Decodes a bulk transfer into a 384×290 greyscale image (dark ridges on white, as libfprint shows it).
/// `key_for(key_number)` performs the key exchange with the device and returns the key; it is called only
/// for encrypted images, and again whenever a block asks for a new key.
pub fn decode(
    data: &[u8],
    orientation: Orientation,
    mut key_for: impl FnMut(u8) -> Result<u32, KeyExchangeError>,
) -> Result<Vec<u8>, ImageError> {
    let h = Header::parse(data)?;
    let mut rows = data[HEADER..HEADER + h.num_lines * WIDTH].to_vec();
    if looks_encrypted(&rows) {
        let mut key_number = h.key_number;
        let mut key = key_for(key_number).map_err(ImageError::Key)?;
        let mut done = 0usize;
        let mut changes = 0;
        let mut blocks = h.blocks.clone();
        let mut i = 0;
        while i < blocks.len() && done < h.num_lines {
            let (flags, lines) = blocks[i];
            if lines == 0 {
                break;
            }
            if flags & FLAG_CHANGE_KEY != 0 {
                changes += 1;
                if changes > 15 {
                    return Err(ImageError::KeyChanges);
                }
                key_number = key_number.wrapping_add(1);
                key = key_for(key_number).map_err(ImageError::Key)?;
                blocks[i].0 &= !FLAG_CHANGE_KEY;
                continue;
            }
            let n = lines * WIDTH;
            match flags & (FLAG_ENCRYPTED | FLAG_NO_KEY_UPDATE) {
                FLAG_ENCRYPTED => {
                    let start = (done * WIDTH).min(rows.len());
                    let end = (start + n).min(rows.len());
                    key = decrypt(&mut rows[start..end], key);
                }
                0 => key = skip(key, n),
                _ => {}
            }
            if flags & FLAG_NOT_PRESENT == 0 {
                done += lines;
            }
            i += 1;
        }
    }
    // Assemble: a block that was not sent repeats the next sent rows.
    let mut img = vec![0u8; WIDTH * HEIGHT];
    let (mut r, mut to) = (0usize, 0usize);
    for (flags, lines) in h.blocks {
        if lines == 0 || r >= h.num_lines {
            break;
        }
        for l in 0..lines {
            let (src, dst) = (r + l, to + l);
            if src >= h.num_lines || dst >= HEIGHT {
                break;
            }
            img[dst * WIDTH..(dst + 1) * WIDTH].copy_from_slice(&rows[src * WIDTH..(src + 1) * WIDTH]);
        }
        if flags & FLAG_NOT_PRESENT == 0 {
            r += lines;
        }
        to += lines;
    }
    let out = match orientation {
        Orientation::Upright => img.iter().map(|v| 255 - v).collect(),
        Orientation::Rotated180 => img.iter().rev().map(|v| 255 - v).collect(),
    };
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keystream_matches_the_documented_taps() {
        // Bit j of the keystream byte is key bit TAPS[j].
        assert_eq!(ks_byte(1 << 4), 0b0000_0001);
        assert_eq!(ks_byte(1 << 29), 0b1000_0000);
        assert_eq!(ks_byte(0xffff_ffff), 0xff);
        // The LFSR shifts right and feeds the parity of the tapped bits into bit 31.
        assert_eq!(step(0x2), 0x1);
        assert_eq!(step(0x1), 0x8000_0000, "bit 0 is a tap");
    }

    #[test]
    fn decryption_is_its_own_inverse_up_to_the_shift() {
        let plain: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 256) as u8).collect();
        let key = 0x5444_09d6;
        // Encrypt as the device would: shifted one byte right.
        let mut k = key;
        let mut wire = vec![0u8; plain.len() + 1];
        for i in 0..plain.len() {
            wire[i + 1] = plain[i] ^ ks_byte(k);
            k = step(k);
        }
        let mut buf = wire.clone();
        decrypt(&mut buf, key);
        assert_eq!(&buf[..plain.len()], &plain[..]);
    }

    #[test]
    fn short_or_lying_headers_are_refused() {
        assert_eq!(Header::parse(&[0; 10]), Err(ImageError::Short(10)));
        let mut d = vec![0u8; HEADER + 10 * WIDTH];
        d[4] = 11;
        assert!(matches!(Header::parse(&d), Err(ImageError::Lines { num_lines: 11, .. })));
        d[4..6].copy_from_slice(&300u16.to_le_bytes());
        assert!(matches!(Header::parse(&d), Err(ImageError::Lines { num_lines: 300, .. })));
    }

    #[test]
    fn a_plain_image_needs_no_key() {
        let mut d = vec![0u8; HEADER + 4 * WIDTH];
        d[4] = 4;
        d[16] = 0;
        d[17] = 4; // one block of 4 plain rows
        for (i, b) in d[HEADER..].iter_mut().enumerate() {
            *b = (i / WIDTH) as u8 * 10;
        }
        let img = decode(&d, Orientation::Upright, |_| Err(KeyExchangeError::NotExpected)).unwrap();
        assert_eq!(img.len(), WIDTH * HEIGHT);
        assert_eq!(img[0], 255);
        assert_eq!(img[3 * WIDTH], 255 - 30);
        let turned = decode(&d, Orientation::Rotated180, |_| Err(KeyExchangeError::NotExpected)).unwrap();
        assert_eq!(turned[WIDTH * HEIGHT - 1], 255);
    }

    proptest! {
        /// Any bytes and any key: an error or a full image, never a panic.
        #[test]
        fn arbitrary_transfers_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..4000), lines in 0u16..12, key in any::<u32>()) {
            if data.len() >= 6 {
                data[4..6].copy_from_slice(&lines.to_le_bytes());
            }
            if let Ok(img) = decode(&data, Orientation::Rotated180, |_| Ok(key)) {
                prop_assert_eq!(img.len(), WIDTH * HEIGHT);
            }
        }
    }
}
