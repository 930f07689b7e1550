//! Line timing of an asynchronous serial line (UART, RS-485): how long bytes take on the wire at a baud
//! rate, and the schedule on which a simulated device hands its bytes to a pseudo-terminal so the host
//! waits what it would wait at a real door (issue 15, "the simulator keeps real time"). Pure arithmetic: no
//! clock, no port (STYLE §2.1); `sim` modules sleep until the offsets this returns.

use std::time::Duration;

/// Bits on the line per byte with 8N1 framing (R30x.md §1 "UART 8N1"; OSDP's RS-485 line is 8N1 too): a
/// start bit, eight data bits, a stop bit.
pub const BITS_PER_BYTE_8N1: u32 = 10;

/// Line rates both a Linux serial port (the standard termios speeds) and the modules offer. R30x modules
/// take 9600×N; the R503 allows only N ∈ {1, 2, 4, 6, 12} (R30x.md §1), which are exactly these.
pub const STANDARD_BAUDS: [u32; 5] = [9600, 19200, 38400, 57600, 115_200];

/// How long `bytes` take on the wire at `baud`, 8N1.
pub fn line_time(bytes: usize, baud: u32) -> Duration {
    let baud = u64::from(baud.max(1));
    let bits = bytes as u64 * u64::from(BITS_PER_BYTE_8N1);
    Duration::from_nanos(bits.saturating_mul(1_000_000_000) / baud)
}

/// The slices in which a simulated device writes `len` bytes at `baud`: each slice is about `tick` of line
/// time, and comes with the offset from the first byte at which its last byte has left the wire (the
/// writer sleeps until then before the next slice). The last offset is [`line_time`] of the whole.
pub fn paced_slices(len: usize, baud: u32, tick: Duration) -> Vec<(std::ops::Range<usize>, Duration)> {
    let per_tick = (u128::from(baud) * tick.as_nanos() / (u128::from(BITS_PER_BYTE_8N1) * 1_000_000_000)).max(1);
    let step = usize::try_from(per_tick).unwrap_or(usize::MAX);
    (0..len)
        .step_by(step)
        .map(|start| {
            let end = start.saturating_add(step).min(len);
            (start..end, line_time(end, baud))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figures: an R30x image upload, 36,864 bytes of 4-bit pixels in 288 packets of 128 bytes
    /// with 11 bytes of framing each (R30x.md §4: "139 B each on the wire"), plus the 12-byte ack.
    #[test]
    fn an_r30x_image_takes_about_six_and_a_half_seconds_at_57600_and_half_that_at_115200() {
        let upload = 12 + 288 * (128 + 11);
        assert_eq!(upload, 40_044);
        let slow = line_time(upload, 57_600);
        let fast = line_time(upload, 115_200);
        assert!((6.9..7.0).contains(&slow.as_secs_f64()), "{slow:?}");
        assert!((3.45..3.5).contains(&fast.as_secs_f64()), "{fast:?}");
        assert_eq!(line_time(1, 9600), Duration::from_nanos(1_041_666));
        assert_eq!(line_time(0, 57_600), Duration::ZERO);
    }

    #[test]
    fn slices_cover_every_byte_once_and_end_at_the_line_time() {
        for (len, baud) in [(40_044, 57_600), (12, 115_200), (1, 9600), (7_000, 9600)] {
            let s = paced_slices(len, baud, Duration::from_millis(5));
            assert_eq!(s.first().map(|x| x.0.start), Some(0));
            assert!(s.windows(2).all(|w| w[0].0.end == w[1].0.start && w[0].1 < w[1].1), "contiguous, increasing");
            let last = s.last().unwrap();
            assert_eq!((last.0.end, last.1), (len, line_time(len, baud)));
        }
        // 5 ms at 57,600 baud is 28 bytes; a slice is never empty, even at a tick shorter than a byte.
        assert_eq!(paced_slices(100, 57_600, Duration::from_millis(5))[0].0, 0..28);
        assert_eq!(paced_slices(3, 9600, Duration::from_micros(1)).len(), 3);
        assert!(paced_slices(0, 9600, Duration::from_millis(5)).is_empty());
    }
}
