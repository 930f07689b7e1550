//! The simulated devices a `--simulation` daemon runs its flows against: which simulated reader, controller
//! and R30x module is which. The `tobira sim …` commands that drive them are `admin::sim`.

use crate::refusal::Refusal;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tobira_core::ids::{ControllerId, DoorId, ReaderId};
use tobira_core::site::{ControllerConfig, ReaderConfig};
use tobira_drivers::sim::{SimDoor, SimDoorHandle, SimReader, SimReaderHandle, population::SimPopulation};
use tobira_drivers::{DoorController, Modality, Reader};

#[derive(Default)]
pub struct SimDevices {
    pub readers: HashMap<ReaderId, SimReaderHandle>,
    /// Fingerprint readers on the protocol level (kind `sim-r30x`): R30x modules on pseudo-terminals.
    pub r30x: HashMap<ReaderId, crate::sim::r30x::R30xSim>,
    pub controllers: HashMap<ControllerId, SimDoorHandle>,
    pub door_controller: HashMap<DoorId, ControllerId>,
    pub population: SimPopulation,
    /// Each presentation is a fresh impression: the attempt number seeds its noise.
    pub attempts: AtomicU64,
}

impl SimDevices {
    pub fn add_reader(&mut self, r: &ReaderConfig) -> Arc<dyn Reader> {
        let modality = if r.kind == "sim-palm" { Modality::Palm } else { Modality::Finger };
        let (dev, handle) = SimReader::new(r.id.as_str(), modality);
        self.readers.insert(r.id.clone(), handle);
        dev
    }

    /// An R30x module simulated on a PTY and the real driver on it (kind `sim-r30x`), the module keeping its
    /// line rate in real time when the site says `[simulation] line_rate = "kept"`.
    pub fn add_r30x(&mut self, r: &ReaderConfig, keep_line_rate: bool) -> std::io::Result<Arc<dyn Reader>> {
        let sim = crate::sim::r30x::R30xSim::start(r.id.as_str(), r.baud, keep_line_rate)?;
        let dev = sim.reader();
        self.r30x.insert(r.id.clone(), sim);
        Ok(dev)
    }

    pub fn add_controller(&mut self, c: &ControllerConfig) -> Arc<dyn DoorController> {
        let (dev, handle) = SimDoor::new(c.id.as_str());
        self.controllers.insert(c.id.clone(), handle);
        dev
    }

    pub fn map_door(&mut self, door: &DoorId, controller: &ControllerId) {
        self.door_controller.insert(door.clone(), controller.clone());
    }

    pub(crate) fn door(&self, door: &str) -> Result<&SimDoorHandle, Refusal> {
        self.door_controller
            .get(&DoorId::new(door))
            .and_then(|c| self.controllers.get(c))
            .ok_or_else(|| Refusal::not_found(format!("no simulated door {door:?}")))
    }

    pub(crate) fn reader(&self, reader: &str) -> Result<&SimReaderHandle, Refusal> {
        self.readers
            .get(&ReaderId::new(reader))
            .ok_or_else(|| Refusal::not_found(format!("no simulated reader {reader:?}")))
    }
}
