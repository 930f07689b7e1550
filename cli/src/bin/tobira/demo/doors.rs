//! The demo's door controllers on the protocol level: each is libosdp's peripheral device on a
//! pseudo-terminal in the demo process, and `tobirad` drives it as it would an RS-485 controller — OSDP with
//! Secure Channel through its real control panel. The person at the door (walk through, force, hold) acts
//! on the simulated device's contact input; the strike is what the daemon's pulse energised.

use anyhow::{Context as _, bail};
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};
use tobira_drivers::osdp::sim::SimOsdpHandle;

/// The demo site's doors and the controllers that drive them.
const DOORS: [(&str, &str); 2] = [("server-door", "server-ctl"), ("media-door", "media-ctl")];
/// Each controller's Secure Channel key (demo only; a real site keeps one per device in a 0600 file).
const KEYS: [(&str, &str); 2] =
    [("server-ctl", "944b8eddcbaa2b5fe2b0148d1b2f95c9"), ("media-ctl", "0f1e2d3c4b5a69788796a5b4c3d2e1f0")];

/// Comfortably more than the control panel's poll interval, so the demo narrates what the daemon has seen.
const EVENT_LATENCY: Duration = Duration::from_millis(250);

pub struct OsdpDoors {
    doors: BTreeMap<String, SimOsdpHandle>,
    _slaves: Vec<OwnedFd>,
}

impl OsdpDoors {
    /// Starts the simulated controllers in `dir` and returns the site text that names their ports and keys.
    pub fn start(dir: &Path, site: &str) -> anyhow::Result<(OsdpDoors, String)> {
        let mut site = site.to_string();
        let mut doors = BTreeMap::new();
        let mut slaves = Vec::new();
        for (ctl, key_hex) in KEYS {
            let key_file = dir.join(format!("{ctl}.key"));
            std::fs::write(&key_file, format!("{key_hex}\n"))?;
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600))?;
            let key = tobira_drivers::osdp::load_key(&key_file).map_err(anyhow::Error::msg)?;
            let (master, slave, path) = tobira_drivers::pty::open_pty().context("opening a pseudo-terminal")?;
            let link = dir.join(format!("tty-{ctl}"));
            std::os::unix::fs::symlink(&path, &link)?;
            let pd =
                tobira_drivers::osdp::sim::spawn(std::fs::File::from(master), 1, key).map_err(anyhow::Error::msg)?;
            let stanza = format!("id = \"{ctl}\"\nkind = \"sim\"");
            let Some(at) = site.find(&stanza) else { bail!("the demo site has no controller {ctl}") };
            let end = site[at..].find('\n').map(|e| at + e + 1).unwrap_or(site.len());
            let end = site[end..].find('\n').map(|e| end + e).unwrap_or(site.len());
            site.replace_range(
                at..end,
                &format!(
                    "id = \"{ctl}\"\nkind = \"osdp\"\nport = \"{}\"\naddress = 1\nkey_file = \"{}\"",
                    link.display(),
                    key_file.display()
                ),
            );
            let door = DOORS.iter().find(|(_, c)| *c == ctl).map(|(d, _)| d.to_string()).unwrap_or_default();
            doors.insert(door, pd);
            slaves.push(slave);
        }
        Ok((OsdpDoors { doors, _slaves: slaves }, site))
    }

    fn door(&self, door: &str) -> anyhow::Result<&SimOsdpHandle> {
        self.doors.get(door).with_context(|| format!("no door {door}"))
    }

    /// Waits until every controller runs a Secure Channel session with the daemon.
    pub fn wait_secure(&self, within: Duration) -> anyhow::Result<()> {
        let t = Instant::now();
        while !self.doors.values().all(|d| d.state().online && d.state().secure) {
            if t.elapsed() > within {
                bail!("the OSDP door controllers did not come online under Secure Channel");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The daemon's control panel marks them online on its next refresh.
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }

    /// Whether the strike is energised now (or becomes so within `within`: the pulse follows the decision).
    pub fn energised_within(&self, door: &str, within: Duration) -> anyhow::Result<bool> {
        let d = self.door(door)?;
        let t = Instant::now();
        loop {
            if d.state().relay_energised(Instant::now()) {
                return Ok(true);
            }
            if t.elapsed() >= within {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The contact opens; returns once the daemon has had time to hear it (one OSDP poll is ~60 ms).
    pub fn open(&self, door: &str) -> anyhow::Result<()> {
        self.door(door)?.open_door();
        std::thread::sleep(EVENT_LATENCY);
        Ok(())
    }

    pub fn close(&self, door: &str) -> anyhow::Result<()> {
        self.door(door)?.close_door();
        std::thread::sleep(EVENT_LATENCY);
        Ok(())
    }
}
