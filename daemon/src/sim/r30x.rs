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
    _device: SimR30x,
}

impl R30xSim {
    /// Starts the module on a fresh PTY and the real driver on its slave path.
    pub fn start(id: &str) -> std::io::Result<R30xSim> {
        let (device, module) = SimR30x::start(id, ModuleConfig::default())?;
        let driver = Arc::new(R30xReader::spawn(id, R30xConfig::new(device.path())));
        Ok(R30xSim { module, driver, _device: device })
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
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while self.module.busy() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        n += self.driver.discard_pending();
        n
    }
}
