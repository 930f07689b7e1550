//! An 8-bit greyscale image with its resolution.

use std::fmt;

/// Templates compare alike when images are brought to one resolution first (500 and 512 dpi sensors).
pub const TARGET_DPI: u16 = 500;
/// Larger than any fingerprint or palm sensor image; refuses decompression bombs.
const MAX_SIDE: u32 = 4096;

#[derive(Clone, PartialEq, Eq)]
pub struct GrayImage {
    pub width: u32,
    pub height: u32,
    pub dpi: u16,
    pub pixels: Vec<u8>,
}

/// Never prints pixels: an image is biometric data.
impl fmt::Debug for GrayImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GrayImage({}x{} @{} dpi)", self.width, self.height, self.dpi)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    #[error("image of {width}x{height} pixels is too small to hold a print")]
    TooSmall { width: u32, height: u32 },
    #[error("image of {width}x{height} pixels is larger than any sensor's (at its resolution)")]
    TooLarge { width: u32, height: u32 },
    #[error("buffer holds {len} bytes, {width}x{height} needs {need}")]
    BufferSize { width: u32, height: u32, len: usize, need: usize },
    #[error("resolution {0} dpi is not plausible for a biometric sensor (100..=2000)")]
    Resolution(u16),
    #[error("cannot decode the image: {0}")]
    Decode(String),
}

impl GrayImage {
    /// A raw 8-bit buffer as a sensor delivers it, checked.
    pub fn from_raw(width: u32, height: u32, dpi: u16, pixels: Vec<u8>) -> Result<GrayImage, ImageError> {
        if width < 32 || height < 32 {
            return Err(ImageError::TooSmall { width, height });
        }
        if width > MAX_SIDE || height > MAX_SIDE {
            return Err(ImageError::TooLarge { width, height });
        }
        if !(100..=2000).contains(&dpi) {
            return Err(ImageError::Resolution(dpi));
        }
        // Extraction first brings the image to TARGET_DPI ([`GrayImage::normalised`]): a 4096-pixel side
        // declared at 100 dpi would become a 20,480-pixel side (420 MB, and the enhancement's buffers are
        // several times that), so the size that counts is the one at TARGET_DPI.
        let at_target = |side: u32| u64::from(side) * u64::from(TARGET_DPI) / u64::from(dpi);
        if at_target(width) > u64::from(MAX_SIDE) || at_target(height) > u64::from(MAX_SIDE) {
            return Err(ImageError::TooLarge { width, height });
        }
        let need = width as usize * height as usize;
        if pixels.len() != need {
            return Err(ImageError::BufferSize { width, height, len: pixels.len(), need });
        }
        Ok(GrayImage { width, height, dpi, pixels })
    }

    /// Decodes TIFF, PNG, BMP, PGM or JPEG bytes. Files rarely carry a trustworthy resolution (the FVC
    /// TIFFs carry none), so the caller states it.
    pub fn decode(bytes: &[u8], dpi: u16) -> Result<GrayImage, ImageError> {
        let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| ImageError::Decode(e.to_string()))?;
        let (w, h) = reader.into_dimensions().map_err(|e| ImageError::Decode(e.to_string()))?;
        if w > MAX_SIDE || h > MAX_SIDE {
            return Err(ImageError::TooLarge { width: w, height: h });
        }
        let img = image::load_from_memory(bytes).map_err(|e| ImageError::Decode(e.to_string()))?.into_luma8();
        let (w, h) = img.dimensions();
        GrayImage::from_raw(w, h, dpi, img.into_raw())
    }

    pub fn at(&self, x: u32, y: u32) -> u8 {
        self.pixels[(y * self.width + x) as usize]
    }

    /// Resamples (bilinear) to [`TARGET_DPI`] when the resolution differs by more than 1 %.
    pub fn normalised(&self) -> GrayImage {
        let scale = f64::from(TARGET_DPI) / f64::from(self.dpi);
        if (scale - 1.0).abs() < 0.01 {
            return self.clone();
        }
        GrayImage { dpi: TARGET_DPI, ..self.resampled(scale) }
    }

    /// Resamples (bilinear) by `scale` (> 1 enlarges), the resolution scaled with it. The output's size is
    /// the caller's to bound: [`GrayImage::from_raw`] keeps [`GrayImage::normalised`] within `MAX_SIDE`,
    /// and the extraction trials enlarge by at most 1.5 beyond that.
    pub fn resampled(&self, scale: f64) -> GrayImage {
        let w = ((f64::from(self.width) * scale).round() as u32).max(1);
        let h = ((f64::from(self.height) * scale).round() as u32).max(1);
        let mut out = Vec::with_capacity((w * h) as usize);
        for y in 0..h {
            let sy = (f64::from(y) / scale).min(f64::from(self.height - 1));
            let (y0, fy) = (sy.floor() as u32, sy.fract());
            let y1 = (y0 + 1).min(self.height - 1);
            for x in 0..w {
                let sx = (f64::from(x) / scale).min(f64::from(self.width - 1));
                let (x0, fx) = (sx.floor() as u32, sx.fract());
                let x1 = (x0 + 1).min(self.width - 1);
                let p = |x, y| f64::from(self.at(x, y));
                let v = p(x0, y0) * (1.0 - fx) * (1.0 - fy)
                    + p(x1, y0) * fx * (1.0 - fy)
                    + p(x0, y1) * (1.0 - fx) * fy
                    + p(x1, y1) * fx * fy;
                out.push(v.round().clamp(0.0, 255.0) as u8);
            }
        }
        let dpi = (f64::from(self.dpi) * scale).round().clamp(1.0, f64::from(u16::MAX)) as u16;
        GrayImage { width: w, height: h, dpi, pixels: out }
    }

    /// The `side`×`side` window centred on the print — what a smaller sensor at the same resolution would
    /// have captured of the same touch (issue 17: the unseen sets include sensors of other sizes, and a
    /// development set cut to a small window shows what that does before one is at hand). The print's
    /// centre is the centroid of its ink: darkness below grey 195, weighted by 255 − grey, on every second
    /// pixel and row. A side larger than the image keeps that dimension whole; a blank image is cut around
    /// its middle.
    pub fn print_window(&self, side: u32) -> GrayImage {
        let (mut sx, mut sy, mut n) = (0f64, 0f64, 0f64);
        for y in (0..self.height).step_by(2) {
            for x in (0..self.width).step_by(2) {
                let ink = 255.0 - f64::from(self.at(x, y));
                if ink > 60.0 {
                    sx += f64::from(x) * ink;
                    sy += f64::from(y) * ink;
                    n += ink;
                }
            }
        }
        let (cx, cy) =
            if n > 0.0 { (sx / n, sy / n) } else { (f64::from(self.width) / 2.0, f64::from(self.height) / 2.0) };
        let (w, h) = (side.min(self.width), side.min(self.height));
        let start = |c: f64, len: u32, all: u32| (c - f64::from(len) / 2.0).clamp(0.0, f64::from(all - len)) as u32;
        self.window(start(cx, w, self.width), start(cy, h, self.height), w, h)
    }

    /// The `w`×`h` rectangle whose top-left pixel is (`x0`, `y0`), clipped to the image.
    pub fn window(&self, x0: u32, y0: u32, w: u32, h: u32) -> GrayImage {
        let (x0, y0) = (x0.min(self.width), y0.min(self.height));
        let (w, h) = (w.min(self.width - x0), h.min(self.height - y0));
        let mut pixels = Vec::with_capacity(w as usize * h as usize);
        for y in y0..y0 + h {
            let row = (y * self.width) as usize;
            pixels.extend_from_slice(&self.pixels[row + x0 as usize..row + (x0 + w) as usize]);
        }
        GrayImage { width: w, height: h, dpi: self.dpi, pixels }
    }

    /// The image inside a black band `px` wide on every side: how a sensor or driver that pads its window
    /// delivers it (`tobira-bench fingerprint --frame`; the extractor takes such a band off again).
    pub fn framed(&self, px: u32) -> GrayImage {
        let (w, h) = (self.width + 2 * px, self.height + 2 * px);
        let mut pixels = vec![0u8; w as usize * h as usize];
        for y in 0..self.height {
            let src = (y * self.width) as usize;
            let dst = ((y + px) * w + px) as usize;
            pixels[dst..dst + self.width as usize].copy_from_slice(&self.pixels[src..src + self.width as usize]);
        }
        GrayImage { width: w, height: h, dpi: self.dpi, pixels }
    }

    /// The image darkened towards its corners, each pixel times 1 − `a`·r² where r is its distance from the
    /// centre over the distance of a corner (so the corners at 1 − `a`, the centre untouched): the uneven
    /// illumination of an optical sensor's prism (`tobira-bench fingerprint --vignette`). Ridges and the
    /// glass between them darken together, so the print's contrast falls towards the edges as well.
    pub fn vignetted(&self, a: f32) -> GrayImage {
        let (cx, cy) = (self.width as f32 / 2.0, self.height as f32 / 2.0);
        let corner = cx * cx + cy * cy;
        let mut pixels = Vec::with_capacity(self.pixels.len());
        for y in 0..self.height {
            for x in 0..self.width {
                let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
                let g = 1.0 - a * (dx * dx + dy * dy) / corner;
                pixels.push((f32::from(self.at(x, y)) * g).round().clamp(0.0, 255.0) as u8);
            }
        }
        GrayImage { width: self.width, height: self.height, dpi: self.dpi, pixels }
    }

    /// The image with its contrast times `k` around mid-grey (128), rounded and clamped: how a fainter
    /// (`k` < 1) or harsher sensor would deliver the same touch (`tobira-bench fingerprint --contrast`).
    pub fn with_contrast(&self, k: f32) -> GrayImage {
        let pixels =
            self.pixels.iter().map(|&v| (128.0 + (f32::from(v) - 128.0) * k).round().clamp(0.0, 255.0) as u8).collect();
        GrayImage { width: self.width, height: self.height, dpi: self.dpi, pixels }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_buffers_are_checked() {
        assert!(matches!(GrayImage::from_raw(0, 0, 500, vec![]), Err(ImageError::TooSmall { .. })));
        assert!(matches!(GrayImage::from_raw(1, 1, 500, vec![0]), Err(ImageError::TooSmall { .. })));
        assert!(matches!(GrayImage::from_raw(64, 64, 500, vec![0; 10]), Err(ImageError::BufferSize { .. })));
        assert!(matches!(GrayImage::from_raw(64, 64, 5, vec![0; 4096]), Err(ImageError::Resolution(5))));
        assert!(GrayImage::from_raw(64, 64, 500, vec![0; 4096]).is_ok());
    }

    /// A capture that declares a low resolution is refused for the size it would have at 500 dpi, not let
    /// through to be enlarged: 2,048 pixels at 100 dpi would be 10,240 at 500 (100 MB before the
    /// enhancement's buffers), a memory exhaustion one sample long.
    #[test]
    fn a_low_declared_resolution_cannot_blow_the_image_up() {
        let side = 2048u32;
        let pixels = vec![0; (side * side) as usize];
        assert!(matches!(
            GrayImage::from_raw(side, side, 100, pixels.clone()),
            Err(ImageError::TooLarge { width: 2048, height: 2048 })
        ));
        // The same pixels at a resolution that keeps them within a sensor's size are accepted, and the
        // largest accepted image normalises to at most MAX_SIDE.
        let ok = GrayImage::from_raw(side, side, 250, pixels).unwrap();
        let n = ok.normalised();
        assert_eq!((n.width, n.height), (4096, 4096));
        // One side alone is enough: 819 pixels at 100 dpi are 4,095 at 500, 820 would be 4,100.
        assert_eq!(GrayImage::from_raw(40, 819, 100, vec![0; 40 * 819]).unwrap().normalised().height, 4095);
        assert!(matches!(GrayImage::from_raw(40, 820, 100, vec![0; 40 * 820]), Err(ImageError::TooLarge { .. })));
    }

    #[test]
    fn decodes_png_and_pgm_and_refuses_garbage() {
        let img = image::GrayImage::from_fn(40, 50, |x, y| image::Luma([((x * 3 + y) % 256) as u8]));
        for fmt in [image::ImageFormat::Png, image::ImageFormat::Pnm, image::ImageFormat::Bmp, image::ImageFormat::Tiff]
        {
            let mut bytes = Vec::new();
            image::DynamicImage::ImageLuma8(img.clone()).write_to(&mut std::io::Cursor::new(&mut bytes), fmt).unwrap();
            let g = GrayImage::decode(&bytes, 500).unwrap();
            assert_eq!((g.width, g.height), (40, 50), "{fmt:?}");
            assert_eq!(g.at(7, 9), 30, "{fmt:?}");
            assert!(
                matches!(GrayImage::decode(&bytes[..bytes.len() / 2], 500), Err(ImageError::Decode(_))),
                "truncated {fmt:?}"
            );
        }
        assert!(matches!(GrayImage::decode(b"not an image", 500), Err(ImageError::Decode(_))));
        assert!(matches!(GrayImage::decode(&[], 500), Err(ImageError::Decode(_))));
    }

    #[test]
    fn a_print_window_is_cut_around_the_ink() {
        // White 300×200 with a dark 40×40 square whose centre is at (220, 60).
        let mut px = vec![255u8; 300 * 200];
        for y in 40..80 {
            for x in 200..240 {
                px[y * 300 + x] = 0;
            }
        }
        let img = GrayImage::from_raw(300, 200, 500, px).unwrap();
        let w = img.print_window(100);
        assert_eq!((w.width, w.height, w.dpi), (100, 100, 500));
        // Centred on the square: its 40 dark columns and rows sit in the middle of the window.
        assert_eq!(w.at(50, 50), 0);
        assert_eq!((0..100).filter(|&x| w.at(x, 50) == 0).count(), 40);
        // Within a pixel of the middle (the centroid is taken on every second column).
        let first = (0..100).position(|x| w.at(x, 50) == 0);
        assert!(matches!(first, Some(30 | 31)), "{first:?}");
        // Near the image's edge the window stays inside the image.
        let w = img.print_window(180);
        assert_eq!((w.width, w.height), (180, 180));
        // Shifted left and up to the image's edges (x from 120, y from 0): the square at x 80–119, y 40–79.
        assert_eq!((w.at(79, 40), w.at(80, 40), w.at(119, 79), w.at(119, 80)), (255, 0, 0, 255));
        // Larger than the image: that dimension whole.
        let w = img.print_window(250);
        assert_eq!((w.width, w.height), (250, 200));
        // Blank: around the middle.
        let blank = GrayImage::from_raw(300, 200, 500, vec![255; 300 * 200]).unwrap();
        assert_eq!(blank.print_window(100).pixels.len(), 100 * 100);
    }

    #[test]
    fn a_window_is_clipped_and_a_frame_is_black_around_the_image() {
        let img = GrayImage::from_raw(40, 36, 500, (0..40 * 36).map(|i| 100 + (i % 50) as u8).collect()).unwrap();
        let w = img.window(30, 5, 20, 10);
        assert_eq!((w.width, w.height, w.dpi), (10, 10, 500), "clipped at the right edge");
        assert_eq!((w.at(0, 0), w.at(9, 9)), (img.at(30, 5), img.at(39, 14)));
        let f = img.framed(3);
        assert_eq!((f.width, f.height, f.dpi), (46, 42, 500));
        for y in 0..f.height {
            for x in 0..f.width {
                let inside = (3..43).contains(&x) && (3..39).contains(&y);
                let want = if inside { img.at(x - 3, y - 3) } else { 0 };
                assert_eq!(f.at(x, y), want, "({x}, {y})");
            }
        }
        assert_eq!(f.window(3, 3, 40, 36), img, "the frame taken off gives the image back");
    }

    #[test]
    fn contrast_scales_around_mid_grey_and_clamps() {
        let img = GrayImage::from_raw(32, 32, 500, [0u8, 64, 128, 200, 255].repeat(205)[..1024].to_vec()).unwrap();
        assert_eq!(&img.with_contrast(0.5).pixels[..5], &[64, 96, 128, 164, 192]);
        assert_eq!(&img.with_contrast(2.0).pixels[..5], &[0, 0, 128, 255, 255]);
        assert_eq!(img.with_contrast(1.0), img);
    }

    #[test]
    fn vignetting_darkens_the_corners_and_leaves_the_centre() {
        let img = GrayImage::from_raw(100, 60, 500, vec![200; 6000]).unwrap();
        let v = img.vignetted(0.5);
        assert_eq!((v.width, v.height, v.dpi), (100, 60, 500));
        assert_eq!(v.at(50, 30), 200, "the centre");
        assert!((100..=103).contains(&v.at(0, 0)) && (100..=103).contains(&v.at(99, 59)), "corners at half");
        assert!(v.at(0, 30) > v.at(0, 0) && v.at(0, 30) < 200, "an edge's middle between");
        assert_eq!(img.vignetted(0.0), img);
    }

    #[test]
    fn resolution_is_normalised() {
        let g = GrayImage::from_raw(512, 512, 512, vec![100; 512 * 512]).unwrap();
        let n = g.normalised();
        assert_eq!((n.width, n.height, n.dpi), (500, 500, 500));
        assert!(n.pixels.iter().all(|p| *p == 100));
        let same = GrayImage::from_raw(300, 300, 500, vec![7; 90_000]).unwrap();
        assert_eq!(same.normalised(), same);
    }
}
