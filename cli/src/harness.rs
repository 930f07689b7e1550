//! Pieces of the fault harness (issue 15) that the end-to-end fault tests (`tests/e2e/faults.rs`) and the
//! fault-matrix benchmark (`tobira-bench faults`) share, so both put the same devices behind the same door:
//! the demo site with its terminal room's door (`office-door`, Level 1, 003 §13(1)) given an entry reader or a
//! controller of the kind under test, and a holder of idle control connections.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The demo site no longer has the stanza a variant rewrites: the harness must follow it.
    #[error("the demo site's stanza {0:?} changed; update cli/src/harness.rs")]
    StanzaChanged(&'static str),
}

const OFFICE_PALM: &str = "id = \"office-palm\"\nkind = \"sim-palm\"\nmodality = \"palm\"";
const T01: &str = "id = \"t01-reader\"\nkind = \"sim-r30x\"";
const OFFICE_CTL: &str = "id = \"office-ctl\"\nkind = \"sim\"";

fn demo() -> &'static str {
    crate::demo::DEMO_SITE
}

/// `site` with `stanza` replaced by `with`, or the error that the site no longer has it.
fn replaced(site: &str, stanza: &'static str, with: &str) -> Result<String, HarnessError> {
    if !site.contains(stanza) {
        return Err(HarnessError::StanzaChanged(stanza));
    }
    Ok(site.replace(stanza, with))
}

/// The demo site with the office door's entry reader (`office-palm`) a fingerprint reader of `kind`, and
/// terminal t-01's reader of the same kind: people are enrolled at t01-reader, and a sample-level reader's
/// impressions are minutiae, an R30x's are images — a template is matched against probes of its own
/// pipeline.
pub fn office_reader_site(kind: &str) -> Result<String, HarnessError> {
    let site =
        replaced(demo(), OFFICE_PALM, &format!("id = \"office-palm\"\nkind = \"{kind}\"\nmodality = \"finger\""))?;
    if !site.contains(T01) {
        return Err(HarnessError::StanzaChanged(T01));
    }
    Ok(site.replacen(T01, &format!("id = \"t01-reader\"\nkind = \"{kind}\""), 1))
}

/// The demo site with the office door's entry reader (`office-palm`) a U.are.U fingerprint reader on USB
/// (`kind = "uru4000"`, `port = "usb"`); the terminals' readers stay simulated.
pub fn uru4000_office_site() -> Result<String, HarnessError> {
    replaced(demo(), OFFICE_PALM, "id = \"office-palm\"\nkind = \"uru4000\"\nport = \"usb\"\nmodality = \"finger\"")
}

/// `site` with the office door's controller an OSDP peripheral at `address` 1 on `port` (a pseudo-terminal's
/// link), its Secure Channel key in `key_file` (0600).
pub fn with_osdp_office_controller(site: &str, port: &Path, key_file: &Path) -> Result<String, HarnessError> {
    replaced(
        site,
        OFFICE_CTL,
        &format!(
            "id = \"office-ctl\"\nkind = \"osdp\"\nport = \"{}\"\naddress = 1\nkey_file = \"{}\"",
            port.display(),
            key_file.display()
        ),
    )
}

/// The demo site with the office door's palm reader behind a palm-reader bridge on `socket`
/// (`drivers/src/palm_bridge/PROTOCOL.md`), and a capture window of 2 s so outages show quickly.
pub fn palm_bridge_office_site(socket: &Path) -> Result<String, HarnessError> {
    let site = replaced(
        demo(),
        OFFICE_PALM,
        &format!("id = \"office-palm\"\nkind = \"palm-bridge\"\nmodality = \"palm\"\nport = \"{}\"", socket.display()),
    )?;
    replaced(&site, "capture_timeout_s = 15", "capture_timeout_s = 2")
}

/// `n` idle connections to a socket, held open by a thread: a connection the daemon drops (its first frame
/// never came within the deadline) is opened again at once, so `n` are waiting whenever the daemon looks.
/// Dropping the holder closes them all.
pub struct IdleConnections {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IdleConnections {
    pub fn hold(socket: PathBuf, n: usize) -> IdleConnections {
        Self::hold_sending(socket, n, Vec::new())
    }

    /// The same, each connection having written `payload` (a half-sent frame, say) and then nothing more.
    pub fn hold_sending(socket: PathBuf, n: usize, payload: Vec<u8>) -> IdleConnections {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held: Vec<Option<UnixStream>> = (0..n).map(|_| None).collect();
            while !s.load(Ordering::Relaxed) {
                for slot in held.iter_mut() {
                    let closed = match slot {
                        Some(c) => {
                            // Nothing to read yet: still open. End of stream, an error, or an answer (a refusal): the
                            // daemon is done with it.
                            let _ = c.set_nonblocking(true);
                            let mut b = [0u8; 64];
                            !matches!(std::io::Read::read(c, &mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
                        }
                        None => true,
                    };
                    if closed {
                        *slot = UnixStream::connect(&socket).ok();
                        if let Some(c) = slot.as_mut()
                            && !payload.is_empty()
                        {
                            let _ = std::io::Write::write_all(c, &payload);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        IdleConnections { stop, thread: Some(thread) }
    }
}

impl Drop for IdleConnections {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
