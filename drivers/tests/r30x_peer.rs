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
    let mut sim = start_sim(&link);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/adafruit_peer.py");
    let out = Command::new("python3").arg(script).arg(&link).output().unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok"), "{text}");
}

fn start_sim(link: &std::path::Path) -> std::process::Child {
    let _ = std::fs::remove_file(link);
    let sim = Command::new(env!("CARGO_BIN_EXE_tobira-sim"))
        .args(["r30x", "--link", link.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !link.exists() {
        assert!(Instant::now() < deadline, "simulator did not create its port");
        std::thread::sleep(Duration::from_millis(20));
    }
    sim
}

/// Our driver, through the same pseudo-terminal bytes a real module would send: capture, upload, decode;
/// then the port vanishes (an unplugged cable), is reported once, and the driver recovers when it returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_driver_captures_through_the_simulator_and_survives_an_unplug() {
    use tobira_drivers::r30x::{R30xConfig, R30xReader};
    use tobira_drivers::{DeviceError, Reader, Sample};
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("r30x");
    let mut sim = start_sim(&link);
    let reader = R30xReader::spawn("t01-reader", R30xConfig::new(&link));
    let s =
        tokio::time::timeout(Duration::from_secs(20), reader.next_sample()).await.expect("a sample in time").unwrap();
    let Sample::Gray8 { width, height, dpi, pixels } = s else { panic!("an image") };
    assert_eq!((width, height, dpi), (256, 288, 500));
    for y in [0usize, 5, 287] {
        for x in [0usize, 1, 17, 255] {
            assert_eq!(pixels[y * 256 + x], (((x + y) % 16) * 17) as u8, "pixel ({x},{y})");
        }
    }
    reader.feedback(tobira_drivers::Feedback::Granted).await.unwrap();
    // Unplug: the simulator goes away with its port.
    let _ = sim.kill();
    let _ = sim.wait();
    let _ = std::fs::remove_file(&link);
    let e = tokio::time::timeout(Duration::from_secs(20), reader.next_sample()).await.expect("the outage is reported");
    assert!(
        matches!(e, Err(DeviceError::Offline { .. } | DeviceError::Io { .. } | DeviceError::Timeout { .. })),
        "{e:?}"
    );
    // Plug back in: the driver reconnects by itself and captures again.
    let mut sim = start_sim(&link);
    let s = tokio::time::timeout(Duration::from_secs(30), reader.next_sample()).await.expect("recovered in time");
    assert!(matches!(s, Ok(Sample::Gray8 { .. })), "{s:?}");
    let _ = sim.kill();
    let _ = sim.wait();
}
