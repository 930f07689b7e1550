//! Sliding-window statistics over an image, shared by the fingerprint enhancement and the palm's
//! contrast normalisation.

/// Local mean and variance over a (2r+1)² window around each pixel, by integral images (sums in f64);
/// windows are clipped at the edges.
pub(crate) fn box_mean_var(px: &[f32], w: usize, h: usize, r: usize) -> (Vec<f32>, Vec<f32>) {
    let (iw, ih) = (w + 1, h + 1);
    let mut s = vec![0f64; iw * ih];
    let mut s2 = vec![0f64; iw * ih];
    for y in 0..h {
        let (mut row, mut row2) = (0f64, 0f64);
        for x in 0..w {
            let v = f64::from(px[y * w + x]);
            row += v;
            row2 += v * v;
            s[(y + 1) * iw + x + 1] = s[y * iw + x + 1] + row;
            s2[(y + 1) * iw + x + 1] = s2[y * iw + x + 1] + row2;
        }
    }
    let mut mean = vec![0f32; w * h];
    let mut var = vec![0f32; w * h];
    for y in 0..h {
        let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
        for x in 0..w {
            let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
            let n = ((y1 - y0) * (x1 - x0)) as f64;
            let sum = s[y1 * iw + x1] - s[y0 * iw + x1] - s[y1 * iw + x0] + s[y0 * iw + x0];
            let sum2 = s2[y1 * iw + x1] - s2[y0 * iw + x1] - s2[y1 * iw + x0] + s2[y0 * iw + x0];
            let m = sum / n;
            mean[y * w + x] = m as f32;
            var[y * w + x] = (sum2 / n - m * m).max(0.0) as f32;
        }
    }
    (mean, var)
}
