//! The R30x simulator against a peer we did not write: Adafruit's CircuitPython library (PyPI
//! `adafruit-circuitpython-fingerprint`, with pyserial) over a real pseudo-terminal. `.ci/run` installs them.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn adafruit_library_drives_the_simulator() {
    let ok =
        Command::new("python3").args(["-c", "import adafruit_fingerprint, serial"]).status().is_ok_and(|s| s.success());
    assert!(ok, "python3 with adafruit-circuitpython-fingerprint and pyserial is needed (.ci/run installs them)");
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("r30x");
    let mut sim = Command::new(env!("CARGO_BIN_EXE_tobira-sim"))
        .args(["r30x", "--link", link.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !link.exists() {
        assert!(Instant::now() < deadline, "simulator did not create its port");
        std::thread::sleep(Duration::from_millis(20));
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/adafruit_peer.py");
    let out = Command::new("python3").arg(script).arg(&link).output().unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok"), "{text}");
}
