//! The simulation mode's fingerprint readers on the protocol level (reader kind `sim-r30x`, issue 5): each
//! is an R30x module simulated on a pseudo-terminal, driven by the daemon's real R30x driver through the
//! PTY's slave path as it would drive /dev/ttyUSB0. A presentation is a fresh synthetic *image* of the
//! simulated person's finger (issue 3 §5), uploaded 4-bit packed as the real module does; the daemon's image
//! pipeline extracts and matches it. The body's name stays on the simulator's side of the line.

use std::sync::Arc;
use std::time::Duration;
use tobira_drivers::r30x::sim::{SimR30x, SimR30xHandle};
use tobira_drivers::r30x::{ModuleConfig, R30xConfig, R30xReader};
use tobira_drivers::sim::population::SimPopulation;

pub struct R30xSim {
    module: SimR30xHandle,
    driver: Arc<R30xReader>,
    /// The module sends at its line rate in real time (`[simulation] line_rate = "kept"`).
    keep_line_rate: bool,
    _device: SimR30x,
}

/// An image upload on the line: the UpImage ack and 288 data packets of 128 bytes with 11 bytes of framing
/// each (R30x.md §4).
const UPLOAD_BYTES: usize = 12 + 288 * (128 + 11);

impl R30xSim {
    /// Starts a factory module (57,600 baud) on a fresh PTY and the real driver on its slave path; the
    /// driver raises the module to `baud` (default the fastest) as it would a real one.
    pub fn start(id: &str, baud: Option<u32>, keep_line_rate: bool) -> std::io::Result<R30xSim> {
        let (device, module) = SimR30x::start(id, ModuleConfig::default())?;
        module.keep_real_time(keep_line_rate);
        let mut cfg = R30xConfig::new(device.path());
        if let Some(b) = baud {
            cfg.baud = b;
        }
        let driver = Arc::new(R30xReader::spawn(id, cfg));
        Ok(R30xSim { module, driver, keep_line_rate, _device: device })
    }

    /// How long an image takes on this module's line now: nothing unless it keeps its line rate.
    pub fn upload_time(&self) -> Duration {
        if self.keep_line_rate {
            tobira_drivers::line::line_time(UPLOAD_BYTES, self.module.line_rate())
        } else {
            Duration::ZERO
        }
    }

    pub fn reader(&self) -> Arc<R30xReader> {
        self.driver.clone()
    }

    pub fn module(&self) -> &SimR30xHandle {
        &self.module
    }

    /// `body` touches the sensor with finger `finger`: a new impression of that finger's master print.
    pub async fn present(&self, population: &SimPopulation, body: &str, finger: u8, attempt: u64) {
        let (population, body) = (population.clone(), body.to_string());
        // Growing a master print takes a while the first time: off the runtime's threads.
        let image = tokio::task::spawn_blocking(move || population.image(&body, finger, attempt)).await;
        if let Ok(image) = image {
            self.module.touch(image);
        }
    }

    /// The person steps away: touches not captured are dropped, a capture under way is let through to the
    /// driver, and what the driver holds unread is discarded, so the next command reads a fresh touch.
    pub async fn clear(&self) -> usize {
        let mut n = self.module.clear();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3) + self.upload_time();
        while self.module.busy() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        n += self.driver.discard_pending();
        n
    }
}
