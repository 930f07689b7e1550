//! The simulated bench: an R30x module, an OSDP door controller and a palm bridge on pseudo-terminals and a
//! socket, with an operator that performs each step on them. `tobira-hil --simulate` runs the scenarios
//! through exactly the code a hardware run uses; CI runs it so the runner cannot rot.

use crate::config::{ControllerCfg, HilConfig, ReaderCfg};
use crate::operator::{Operator, Step};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tobira_drivers::palm_bridge::codec::Hand;
use tobira_drivers::palm_bridge::sim::{Presentation, SimBridge};
use tobira_drivers::r30x::{IMAGE_HEIGHT, IMAGE_WIDTH, Module, ModuleConfig};

pub const KEY_HEX: &str = "944b8eddcbaa2b5fe2b0148d1b2f95c9";

pub struct SimBench {
    module: Arc<Mutex<Module>>,
    door: tobira_drivers::osdp::sim::SimOsdpHandle,
    palm: SimBridge,
    _slaves: Vec<OwnedFd>,
}

/// A stand-in finger: diagonal ridges, so the image is not blank.
fn ridges() -> Vec<u8> {
    (0..IMAGE_HEIGHT).flat_map(|y| (0..IMAGE_WIDTH).map(move |x| (((x + y) % 16) * 17) as u8)).collect()
}

fn linked_pty(link: &Path) -> anyhow::Result<(OwnedFd, OwnedFd)> {
    let (master, slave, path) = tobira_drivers::pty::open_pty()?;
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(&path, link)?;
    Ok((master, slave))
}

impl SimBench {
    /// Starts the simulated devices in `dir` and returns them with the hil config that names them.
    pub fn start(dir: &Path, rt: &tokio::runtime::Runtime) -> anyhow::Result<(SimBench, HilConfig)> {
        use std::os::unix::fs::PermissionsExt;
        // R30x module on a PTY.
        let (m_master, m_slave) = linked_pty(&dir.join("ttyR30x"))?;
        let module = Arc::new(Mutex::new(Module::new(ModuleConfig::default())));
        let m = module.clone();
        std::thread::spawn(move || {
            let mut port = std::fs::File::from(m_master);
            let mut buf = [0u8; 4096];
            loop {
                match port.read(&mut buf) {
                    Ok(0) => std::thread::sleep(Duration::from_millis(2)),
                    Ok(n) => {
                        let out = match m.lock() {
                            Ok(mut module) => {
                                module.handle_input(&buf[..n]);
                                module.poll_transmit()
                            }
                            Err(_) => return,
                        };
                        if !out.is_empty() && port.write_all(&out).is_err() {
                            return;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        });
        // OSDP door controller on a PTY, with its key file.
        let key_file = dir.join("door.key");
        std::fs::write(&key_file, format!("{KEY_HEX}\n"))?;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
        let key = tobira_drivers::osdp::load_key(&key_file).map_err(anyhow::Error::msg)?;
        let (d_master, d_slave) = linked_pty(&dir.join("ttyRS485"))?;
        let door =
            tobira_drivers::osdp::sim::spawn(std::fs::File::from(d_master), 1, key).map_err(anyhow::Error::msg)?;
        // Palm bridge on a socket.
        let palm = SimBridge::new();
        let sock = dir.join("palm.sock");
        let listener = rt.block_on(async { tokio::net::UnixListener::bind(&sock) })?;
        rt.spawn(palm.clone().serve(listener));
        let config = HilConfig {
            readers: vec![
                ReaderCfg { id: "sim-r30x".into(), kind: "r30x".into(), port: Some(dir.join("ttyR30x")) },
                ReaderCfg { id: "sim-palm".into(), kind: "palm-bridge".into(), port: Some(sock) },
            ],
            controllers: vec![ControllerCfg {
                id: "sim-door".into(),
                kind: "osdp".into(),
                port: dir.join("ttyRS485"),
                address: 1,
                key_file,
            }],
        };
        Ok((SimBench { module, door, palm, _slaves: vec![m_slave, d_slave] }, config))
    }
}

impl Operator for SimBench {
    fn act(&self, step: &Step) {
        println!("    (simulated) {}", step.prompt());
        match step {
            Step::PlaceFinger { .. } => {
                if let Ok(mut m) = self.module.lock() {
                    m.set_finger(Some(ridges()));
                }
            }
            Step::LiftFinger { .. } => {
                if let Ok(mut m) = self.module.lock() {
                    m.set_finger(None);
                }
                // A person takes a moment before the next placement; the driver must see the glass empty.
                std::thread::sleep(Duration::from_millis(500));
            }
            Step::PresentPalm { person, .. } => {
                self.palm.present(Presentation::Hand { body: person.clone(), hand: Hand::Right })
            }
            Step::OpenDoor { .. } => self.door.open_door(),
            Step::CloseDoor { .. } => self.door.close_door(),
            Step::PressExit { .. } => self.door.rex(),
        }
    }

    fn confirm(&self, _question: &str, _controller: &str) -> Option<bool> {
        // The simulated strike relay is observable: did it energise within a second?
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(1) {
            if self.door.state().relay_energised(Instant::now()) {
                return Some(true);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Some(false)
    }
}
