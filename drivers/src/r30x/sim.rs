//! An R30x module on a pseudo-terminal (issue 5, "the simulator"): a thread plays [`Module`] on the PTY's
//! master side, and whoever drives the reader — the daemon's real [`super::R30xReader`], a peer library —
//! opens the slave path exactly as it would open /dev/ttyUSB0. The simulator's side places touches (8-bit
//! 256×288 images) through the handle; the bytes on the line are the real module's, 4-bit packed UpImage
//! included, so the host learns nothing but the image.

use super::module::{Led, Module, ModuleConfig};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct Line {
    /// Unplugged: the module answers nothing (the host times out, as with a pulled cable).
    silent: bool,
    /// The next reply goes out with a broken checksum.
    garble_next: bool,
    /// When the last UpImage data packet went onto the line (the benchmark's "image delivered").
    delivered: Option<Instant>,
    /// Keep real time: the bytes cross the line at the module's rate (8N1, ten bits a byte), as on a real
    /// UART; off (the default, and what most tests use) they go as fast as the PTY takes them.
    keep_time: bool,
    /// Commands the module could not hear because the host spoke at another line rate.
    misheard: u64,
    /// A slow module: each reply leaves this long after the command, and what the host sends meanwhile is
    /// lost (the module's UART is not read while it is busy).
    late: Option<Duration>,
}

/// How often a paced writer hands the PTY its next slice of bytes.
const PACING_TICK: Duration = Duration::from_millis(5);

/// Writes `out` at `baud` in slices of [`PACING_TICK`], sleeping until each slice has left the wire, so a
/// 36,864-byte upload takes what it takes on a real line (≈ 7 s at 57,600 with its packet framing).
fn write_paced(port: &mut std::fs::File, out: &[u8], baud: u32) -> std::io::Result<()> {
    let start = Instant::now();
    for (range, due) in crate::line::paced_slices(out.len(), baud, PACING_TICK) {
        port.write_all(&out[range])?;
        if let Some(wait) = (start + due).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    Ok(())
}

struct Shared {
    module: Mutex<Module>,
    line: Mutex<Line>,
}

/// The simulated module and its PTY. Dropping it does not stop the thread: it serves until the process
/// ends, as a device stays plugged in.
pub struct SimR30x {
    shared: Arc<Shared>,
    path: PathBuf,
    /// Held open so the master never reads EIO while the host reopens the port.
    _slave: OwnedFd,
}

/// What a person (or a test) does at the module.
#[derive(Clone)]
pub struct SimR30xHandle {
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SimR30x {
    /// Opens a PTY and starts the module's thread on it.
    pub fn start(id: &str, cfg: ModuleConfig) -> std::io::Result<(SimR30x, SimR30xHandle)> {
        let (master, slave, path) = crate::pty::open_pty()?;
        let shared = Arc::new(Shared { module: Mutex::new(Module::new(cfg)), line: Mutex::new(Line::default()) });
        let port = std::fs::File::from(master);
        // The host's side of the line: the module reads the rate the host set there (the slave's termios).
        let host = slave.try_clone()?;
        let s = shared.clone();
        std::thread::Builder::new().name(format!("sim-r30x-{id}")).spawn(move || serve(port, &host, &s))?;
        Ok((SimR30x { shared: shared.clone(), path, _slave: slave }, SimR30xHandle { shared }))
    }

    /// The slave side's path: the `port` a site file names.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn handle(&self) -> SimR30xHandle {
        SimR30xHandle { shared: self.shared.clone() }
    }
}

fn serve(mut port: std::fs::File, host: &OwnedFd, s: &Shared) {
    let mut buf = [0u8; 4096];
    loop {
        let n = match port.read(&mut buf) {
            Ok(0) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO while no host has the slave open: wait for the next one.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let keep_time = lock(&s.line).keep_time;
        // The rate the module speaks at until this input is answered: a SetSysPara's ack still leaves at it.
        let rate = lock(&s.module).line_rate();
        if crate::serial::line_rate(host) != Some(rate) {
            // A host at another rate: its bytes arrive as framing errors, and anything the module said would
            // reach it as noise. Nothing the host could use comes back (R30x.md §7: hosts must handle a
            // timeout), and the host must find the module's rate (the driver probes the standard ones).
            lock(&s.line).misheard += 1;
            continue;
        }
        if keep_time {
            // The command's bytes take their time to arrive before the module can act on them.
            std::thread::sleep(crate::line::line_time(n, rate));
        }
        let mut out = {
            let mut m = lock(&s.module);
            m.handle_input(&buf[..n]);
            m.poll_transmit()
        };
        if out.is_empty() {
            continue;
        }
        {
            let mut line = lock(&s.line);
            if line.silent {
                continue;
            }
            if std::mem::take(&mut line.garble_next)
                && let Some(last) = out.last_mut()
            {
                *last ^= 0x5a;
            }
        }
        let late = lock(&s.line).late;
        if let Some(d) = late {
            std::thread::sleep(d);
        }
        if crate::serial::line_rate(host) != Some(rate) {
            // The host has moved to another rate meanwhile: what the module says reaches it as noise (a
            // UART at the wrong rate reads framing errors; 0xFF never makes a header).
            out.iter_mut().for_each(|b| *b = 0xFF);
        }
        // An upload is the only reply longer than one packet of the largest size.
        let upload = out.len() > 300;
        let written = if keep_time { write_paced(&mut port, &out, rate) } else { port.write_all(&out) };
        if written.is_err() {
            std::thread::sleep(Duration::from_millis(20));
            continue;
        }
        if upload {
            lock(&s.line).delivered = Some(Instant::now());
        }
        if late.is_some() {
            // Busy until now: the commands the host sent meanwhile were lost.
            let _ = crate::serial::discard_input(&port);
        }
    }
}

impl SimR30xHandle {
    /// One touch of the sensor with this image (8-bit, 256×288); false if the image has another size.
    pub fn touch(&self, image: Vec<u8>) -> bool {
        lock(&self.shared.module).touch(image)
    }

    /// A finger rests on the glass (every GenImg captures it) or is lifted (`None`).
    pub fn set_finger(&self, image: Option<Vec<u8>>) {
        lock(&self.shared.module).set_finger(image);
    }

    /// Touches not yet captured.
    pub fn pending(&self) -> usize {
        lock(&self.shared.module).pending_touches()
    }

    /// The person steps away: drops the touches not yet captured; returns how many. A touch already
    /// captured may still be on its way to the host until [`SimR30xHandle::busy`] turns false.
    pub fn clear(&self) -> usize {
        lock(&self.shared.module).clear_touches()
    }

    /// A touch has been captured and the host has not polled since (it is uploading or handing it on).
    pub fn busy(&self) -> bool {
        lock(&self.shared.module).touch_in_flight()
    }

    pub fn unplug(&self) {
        lock(&self.shared.line).silent = true;
        lock(&self.shared.module).clear_touches();
    }

    /// The cable is back: the module powers up again (a USB serial adapter powers it), at the baud rate its
    /// flash holds, with the password to verify again.
    pub fn replug(&self) {
        lock(&self.shared.module).power_cycle();
        let mut line = lock(&self.shared.line);
        line.silent = false;
        line.late = None;
    }

    /// Keep real time on the line from now on: the module's bytes cross it at its current rate (and at the
    /// rate a SetSysPara sets, after the ack); `false`: as fast as the PTY takes them.
    pub fn keep_real_time(&self, on: bool) {
        lock(&self.shared.line).keep_time = on;
    }

    /// The rate the module's UART runs at now.
    pub fn line_rate(&self) -> u32 {
        lock(&self.shared.module).line_rate()
    }

    /// Inputs dropped because the host's port was set to another rate than the module's.
    pub fn misheard(&self) -> u64 {
        lock(&self.shared.line).misheard
    }

    /// A slow module (issue 15's fault matrix, "late answers"): from now on each reply leaves `late` after
    /// its command and what the host sends meanwhile is lost; `None`: on time again.
    pub fn answer_late(&self, late: Option<Duration>) {
        lock(&self.shared.line).late = late;
    }

    /// The next reply leaves with a broken checksum.
    pub fn garble_next(&self) {
        lock(&self.shared.line).garble_next = true;
    }

    pub fn led(&self) -> Led {
        lock(&self.shared.module).led
    }

    /// When the last image upload finished going onto the line.
    pub fn delivered_at(&self) -> Option<Instant> {
        lock(&self.shared.line).delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::r30x::{IMAGE_HEIGHT, IMAGE_WIDTH, R30xConfig, R30xReader};
    use crate::{Reader, Sample};

    /// The real driver on the simulated module's PTY: one touch is one 4-bit image, delivered once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_driver_receives_each_touch_once() {
        let (sim, h) = SimR30x::start("t", ModuleConfig::default()).unwrap();
        let mut cfg = R30xConfig::new(sim.path());
        cfg.poll = Duration::from_millis(20);
        let reader = R30xReader::spawn("t", cfg);
        let img: Vec<u8> = (0..IMAGE_WIDTH * IMAGE_HEIGHT).map(|i| ((i / IMAGE_WIDTH) % 256) as u8).collect();
        assert!(h.touch(img.clone()));
        let s = tokio::time::timeout(Duration::from_secs(10), reader.next_sample()).await.unwrap().unwrap();
        let Sample::Gray8 { width, height, pixels, .. } = s else { panic!("not an image") };
        assert_eq!((width, height), (IMAGE_WIDTH as u32, IMAGE_HEIGHT as u32));
        assert!(pixels.iter().zip(&img).all(|(a, b)| a >> 4 == b >> 4), "the touch's image, at 4 bits");
        assert!(h.delivered_at().is_some());
        let again = tokio::time::timeout(Duration::from_millis(300), reader.next_sample()).await;
        assert!(again.is_err(), "one touch, one sample");
        assert!(h.touch(vec![0x80; IMAGE_WIDTH * IMAGE_HEIGHT]));
        let s = tokio::time::timeout(Duration::from_secs(10), reader.next_sample()).await.unwrap().unwrap();
        assert!(matches!(s, Sample::Gray8 { ref pixels, .. } if pixels.iter().all(|&p| p == 0x88)));
    }

    /// Keeping real time: at 57,600 baud an image's 36,864 bytes with their framing (40,044 bytes, ≈ 7 s on
    /// the line) cannot reach a driver told to stay at the factory rate in less than that (issue 15, "the
    /// simulator keeps real time").
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paced_line_takes_the_upload_time_of_its_baud_rate() {
        let (sim, h) = SimR30x::start("t", ModuleConfig::default()).unwrap();
        h.keep_real_time(true);
        let mut cfg = R30xConfig::new(sim.path());
        cfg.poll = Duration::from_millis(20);
        cfg.baud = 57_600;
        let reader = R30xReader::spawn("t", cfg);
        let t = Instant::now();
        assert!(h.touch(vec![0x40; IMAGE_WIDTH * IMAGE_HEIGHT]));
        tokio::time::timeout(Duration::from_secs(30), reader.next_sample()).await.unwrap().unwrap();
        let took = t.elapsed();
        let wire = crate::line::line_time(12 + 288 * 139, 57_600);
        assert!(took >= wire, "40,044 bytes at 57,600 baud cannot arrive in {took:?}");
        assert!(took < wire + Duration::from_secs(3), "{took:?}");
        assert_eq!((reader.line_rate(), h.line_rate()), (Some(57_600), 57_600), "not raised: told to stay");
    }

    /// The driver raises a factory module (57,600) to the fastest rate at start: SetSysPara, acknowledged at
    /// the old rate, then the register read back at the new one; the simulator's line follows after the ack,
    /// so the upload then takes half as long.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_driver_raises_the_module_to_115200_and_the_upload_takes_half_as_long() {
        let (sim, h) = SimR30x::start("t", ModuleConfig::default()).unwrap();
        h.keep_real_time(true);
        let mut cfg = R30xConfig::new(sim.path());
        cfg.poll = Duration::from_millis(20);
        let reader = R30xReader::spawn("t", cfg);
        let deadline = Instant::now() + Duration::from_secs(10);
        while reader.line_rate().is_none() {
            assert!(Instant::now() < deadline, "the driver never finished its handshake");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!((reader.line_rate(), h.line_rate()), (Some(115_200), 115_200));
        let t = Instant::now();
        assert!(h.touch(vec![0x40; IMAGE_WIDTH * IMAGE_HEIGHT]));
        tokio::time::timeout(Duration::from_secs(30), reader.next_sample()).await.unwrap().unwrap();
        let took = t.elapsed();
        let wire = crate::line::line_time(12 + 288 * 139, 115_200);
        assert!(took >= wire && took < wire + Duration::from_secs(2), "{took:?} for {wire:?} on the wire");
    }

    /// A module that follows the baud register only after a power cycle: the driver reads back that it still
    /// answers at 57,600 and captures there; after the module is power-cycled (replugged) it answers only at
    /// 115,200, and the driver finds it there. A host at the wrong rate is never answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_module_that_follows_only_after_a_power_cycle_is_found_at_its_new_rate() {
        let cfg = ModuleConfig { baud_change: crate::r30x::BaudChange::AtPowerUp, ..Default::default() };
        let (sim, h) = SimR30x::start("t", cfg).unwrap();
        let mut cfg = R30xConfig::new(sim.path());
        cfg.poll = Duration::from_millis(20);
        let reader = R30xReader::spawn("t", cfg);
        assert!(h.touch(vec![0x40; IMAGE_WIDTH * IMAGE_HEIGHT]));
        tokio::time::timeout(Duration::from_secs(20), reader.next_sample()).await.unwrap().unwrap();
        assert_eq!((reader.line_rate(), h.line_rate()), (Some(57_600), 57_600));
        assert!(h.misheard() >= 1, "the read-back at 115,200 was noise to a module still at 57,600");
        h.unplug();
        let e = tokio::time::timeout(Duration::from_secs(20), reader.next_sample()).await.unwrap();
        assert!(matches!(e, Err(crate::DeviceError::NoAnswer { .. })), "{e:?}");
        h.replug();
        assert_eq!(h.line_rate(), 115_200, "the power cycle applied the stored register");
        assert!(h.touch(vec![0x80; IMAGE_WIDTH * IMAGE_HEIGHT]));
        let s = tokio::time::timeout(Duration::from_secs(30), reader.next_sample()).await.unwrap();
        assert!(matches!(s, Ok(Sample::Gray8 { .. })), "{s:?}");
        assert_eq!(reader.line_rate(), Some(115_200));
    }

    /// Late answers (issue 15's fault matrix): a module whose replies come 2.5 s after each command, past
    /// the driver's 2 s deadline, is reported once as not answering; none of its late replies completes a
    /// handshake (the driver drops whatever waits on the line before each command, and each reply comes
    /// after its command's deadline); on time again, the driver reconnects by itself and captures.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_module_answering_after_the_deadline_is_reported_once_and_its_late_replies_never_pass() {
        let (sim, h) = SimR30x::start("t", ModuleConfig::default()).unwrap();
        let mut cfg = R30xConfig::new(sim.path());
        cfg.poll = Duration::from_millis(20);
        let reader = R30xReader::spawn("t", cfg);
        let deadline = Instant::now() + Duration::from_secs(10);
        while reader.line_rate().is_none() {
            assert!(Instant::now() < deadline, "the driver never finished its handshake");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        h.answer_late(Some(Duration::from_millis(2500)));
        let e = tokio::time::timeout(Duration::from_secs(10), reader.next_sample()).await.unwrap();
        assert!(matches!(e, Err(crate::DeviceError::NoAnswer { .. })), "{e:?}");
        // Long enough for several late replies to reach the driver while it looks for the module.
        let quiet = tokio::time::timeout(Duration::from_secs(9), reader.next_sample()).await;
        assert!(quiet.is_err(), "one report per outage, nothing else: {quiet:?}");
        assert_eq!(reader.healthy(), Some(false), "never taken for a working module while late");
        h.answer_late(None);
        assert!(h.touch(vec![0x80; IMAGE_WIDTH * IMAGE_HEIGHT]));
        let s = tokio::time::timeout(Duration::from_secs(30), reader.next_sample()).await.unwrap();
        assert!(matches!(s, Ok(Sample::Gray8 { .. })), "{s:?}");
        assert_eq!(reader.healthy(), Some(true));
    }
}
