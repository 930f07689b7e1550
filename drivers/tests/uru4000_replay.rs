//! The U.are.U USB driver (rusb, vendored libusb) against the real USB traffic recorded by libfprint,
//! replayed by Debian's `umockdev` (`.ci/run` installs it): power-up, the MS v2 challenge/response, finger
//! detection, the bulk image, the key exchange — every transfer must match the recording in order, and the
//! decoded image must equal libfprint's capture.png pixel for pixel.

use std::path::{Path, PathBuf};
use std::process::Command;

fn datasets() -> PathBuf {
    std::env::var("TOBIRA_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/datasets")))
}

fn replay(name: &str) {
    let dir = datasets().join("usb-recordings").join(name);
    if !dir.exists() {
        let msg = format!("DATASETS MISSING: {} (set TOBIRA_DATASETS)", dir.display());
        assert!(std::env::var("CI").is_err(), "{msg}");
        eprintln!("{msg}");
        return;
    }
    assert!(
        Command::new("umockdev-run").arg("--version").output().is_ok_and(|o| o.status.success()),
        "umockdev-run is needed (.ci/run installs the Debian package umockdev)"
    );
    let device = std::fs::read_to_string(dir.join("device")).unwrap();
    let sysfs = device.lines().find_map(|l| l.strip_prefix("P: ")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let pgm = out.path().join("capture.pgm");
    let o = Command::new("umockdev-run")
        .arg("-d")
        .arg(dir.join("device"))
        .arg("-p")
        .arg(format!("/sys{sysfs}={}", dir.join("capture.pcapng").display()))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_tobira-usb-capture"))
        .args(["--seed", "51ea2124", "--out"])
        .arg(&pgm)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "{name}: {text}");
    compare(name, &pgm, &dir.join("capture.png"));
}

fn compare(name: &str, pgm: &Path, png: &Path) {
    let bytes = std::fs::read(pgm).unwrap();
    let header = b"P5\n384 290\n255\n";
    assert!(bytes.starts_with(header));
    let ours = &bytes[header.len()..];
    let theirs = image::open(png).unwrap().to_luma8();
    let same = ours.iter().zip(theirs.as_raw()).filter(|(a, b)| a == b).count();
    assert_eq!(same, 384 * 290, "{name}: {same} of {} pixels equal libfprint's image", 384 * 290);
}

#[test]
fn uru4500_replay_captures_libfprints_image() {
    replay("uru4000-4500");
}

#[test]
fn microsoft_v2_replay_does_the_challenge_and_captures_libfprints_image() {
    replay("uru4000-msv2");
}

#[test]
fn no_usb_bus_is_a_clear_no_device() {
    // No replay here: this machine has no USB bus, so the reader is simply absent (exit 3, never a panic).
    let o = Command::new(env!("CARGO_BIN_EXE_tobira-usb-capture")).output().unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    if o.status.code() == Some(3) {
        assert!(text.contains("no U.are.U fingerprint reader is connected"), "{text}");
    } else {
        // A machine with a real reader attached would try to capture; that is for hil/, not this test.
        assert!(!text.contains("panicked"), "{text}");
    }
}
