//! UpImage data: 256×288 pixels at 4 bits per pixel over UART, high nibble first (R30x.md §4).

pub const IMAGE_WIDTH: usize = 256;
pub const IMAGE_HEIGHT: usize = 288;
pub const IMAGE_BYTES_4BPP: usize = IMAGE_WIDTH * IMAGE_HEIGHT / 2;

/// Expands 4-bit pixels to 8 bits (nibble × 17), rows top down; `None` if the length is not a whole image.
pub fn unpack_4bpp(data: &[u8], width: usize, height: usize) -> Option<Vec<u8>> {
    if width == 0 || height == 0 || !width.is_multiple_of(2) || data.len() != width * height / 2 {
        return None;
    }
    let mut out = Vec::with_capacity(width * height);
    for b in data {
        out.push((b >> 4) * 17);
        out.push((b & 0x0f) * 17);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nibbles_expand_high_first() {
        assert_eq!(unpack_4bpp(&[0xF0, 0x1E], 4, 1), Some(vec![255, 0, 17, 238]));
        assert_eq!(
            unpack_4bpp(&[0; IMAGE_BYTES_4BPP], IMAGE_WIDTH, IMAGE_HEIGHT).map(|v| v.len()),
            Some(IMAGE_WIDTH * IMAGE_HEIGHT)
        );
        assert_eq!(unpack_4bpp(&[0; 10], IMAGE_WIDTH, IMAGE_HEIGHT), None, "a truncated upload is refused");
    }
}
