//! The OSDP control panel (our driver) against libosdp's peripheral-device mode over a real pseudo-terminal,
//! with Secure Channel enforced: strike pulse, LED and buzzer, door contact, exit button, tamper and card
//! events; a device with another key never comes online; a device that dies is reported offline once and
//! found again when it returns.

use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};
use tobira_drivers::osdp::{OsdpConfig, OsdpController, sim};
use tobira_drivers::{DoorController, DoorInput, Feedback};

const KEY: [u8; 16] = [0x94, 0x4b, 0x8e, 0xdd, 0xcb, 0xaa, 0x2b, 0x5f, 0xe2, 0xb0, 0x14, 0x8d, 0x1b, 0x2f, 0x95, 0xc9];

fn pd(link: &std::path::Path, key: [u8; 16]) -> (sim::SimOsdpHandle, std::os::fd::OwnedFd) {
    let (master, slave, path) = tobira_drivers::pty::open_pty().unwrap();
    let _ = std::fs::remove_file(link);
    symlink(&path, link).unwrap();
    (sim::spawn(std::fs::File::from(master), 1, key).unwrap(), slave)
}

async fn expect(c: &OsdpController, want: DoorInput, within: Duration) -> Duration {
    expect_that(c, |i| i == &want, &format!("{want:?}"), within).await
}

async fn expect_that(c: &OsdpController, ok: impl Fn(&DoorInput) -> bool, want: &str, within: Duration) -> Duration {
    let t = Instant::now();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, c.next_input()).await {
            Ok(Ok(i)) if ok(&i) => return t.elapsed(),
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => panic!("driver error while waiting for {want}: {e}"),
            Err(_) => panic!("no {want} within {within:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_panel_drives_a_secure_peripheral() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("rs485");
    let (door, _slave) = pd(&link, KEY);
    let mut cfg = OsdpConfig::new(&link, 1, Some(KEY));
    cfg.offline_after = Duration::from_secs(2);
    let c = OsdpController::spawn("server-ctl", cfg).unwrap();
    expect(&c, DoorInput::Online, Duration::from_secs(10)).await;
    assert!(door.state().secure, "the session is under Secure Channel");

    // Strike pulse: the device times it.
    let t = Instant::now();
    c.pulse(Duration::from_millis(1500)).await.unwrap();
    let mut energised_after = None;
    while t.elapsed() < Duration::from_secs(2) {
        if door.state().relay_energised(Instant::now()) {
            energised_after = Some(t.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let lag = energised_after.expect("the strike relay energised");
    assert!(lag < Duration::from_millis(500), "strike energised {lag:?} after the command");
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert!(!door.state().relay_energised(Instant::now()), "the pulse ended by itself");

    c.feedback(Feedback::Denied).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = door.state().seen;
    assert!(seen.iter().any(|s| s.contains("led Red")), "{seen:?}");
    assert!(seen.iter().any(|s| s.starts_with("buzzer")), "{seen:?}");

    door.open_door();
    expect(&c, DoorInput::ContactOpened, Duration::from_secs(3)).await;
    door.close_door();
    expect(&c, DoorInput::ContactClosed, Duration::from_secs(3)).await;
    door.rex();
    expect(&c, DoorInput::Rex, Duration::from_secs(3)).await;
    door.card(vec![0x12, 0x34, 0x56]);
    expect_that(
        &c,
        |i| matches!(i, DoorInput::CardRead { bits: 24, data } if data.0 == [0x12, 0x34, 0x56]),
        "a 24-bit card read",
        Duration::from_secs(3),
    )
    .await;
    door.tamper();
    expect(&c, DoorInput::Tamper, Duration::from_secs(3)).await;

    // The device dies: offline once; a new one on the same port path comes back online.
    door.stop();
    // libosdp retries a silent device for several seconds before it declares it offline.
    let t = expect(&c, DoorInput::Offline, Duration::from_secs(30)).await;
    eprintln!("offline reported {t:?} after the device died");
    let (door2, _slave2) = pd(&link, KEY);
    expect(&c, DoorInput::Online, Duration::from_secs(15)).await;
    c.pulse(Duration::from_millis(500)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(door2.state().last_pulse.is_some(), "commands reach the new device");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_with_another_key_never_comes_online() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("rs485");
    let (door, _slave) = pd(&link, [0x11; 16]);
    let mut cfg = OsdpConfig::new(&link, 1, Some(KEY));
    cfg.offline_after = Duration::from_secs(2);
    let c = OsdpController::spawn("media-ctl", cfg).unwrap();
    expect(&c, DoorInput::Offline, Duration::from_secs(10)).await;
    // The pulse is refused to the caller (the door task audits it), and nothing reaches the device.
    assert!(matches!(c.pulse(Duration::from_millis(500)).await, Err(tobira_drivers::DeviceError::Offline { .. })));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(door.state().last_pulse.is_none(), "no command reaches a device that failed the handshake");
    assert!(!door.state().secure);
}

#[test]
fn a_controller_without_key_or_install_mode_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = OsdpController::spawn("x", OsdpConfig::new(dir.path().join("none"), 1, None)).unwrap();
        expect(&c, DoorInput::Offline, Duration::from_secs(10)).await;
    });
}

/// The PyPI `libosdp` package (Python bindings; `.ci/run` installs it) plays the peripheral device in
/// another process: Secure Channel, the strike pulse and LED arrive there, its contact and card events here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_libosdp_peripheral_is_driven_by_our_control_panel() {
    use std::process::{Command, Stdio};
    let ok = Command::new("python3").args(["-c", "import osdp"]).status().is_ok_and(|s| s.success());
    assert!(ok, "python3 with the PyPI package libosdp is needed (.ci/run installs it)");
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("rs485-py");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/osdp_peer.py");
    let py = Command::new("python3")
        .arg(script)
        .arg(&link)
        .arg("944b8eddcbaa2b5fe2b0148d1b2f95c9")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !link.exists() {
        assert!(Instant::now() < deadline, "the Python PD did not open its port");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The PyPI bindings cannot answer osdp_OSTAT from Python (their PD NAKs it), so this peer acknowledges
    // a strike only by answering osdp_OUT.
    let mut cfg = OsdpConfig::new(&link, 1, Some(KEY));
    cfg.strike_ack = tobira_drivers::osdp::StrikeAck::Reply;
    let c = OsdpController::spawn("py-ctl", cfg).unwrap();
    expect(&c, DoorInput::Online, Duration::from_secs(20)).await;
    if let Err(e) = c.pulse(Duration::from_millis(3000)).await {
        let mut py = py;
        let _ = py.kill();
        let out = py.wait_with_output().unwrap();
        panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    expect(&c, DoorInput::ContactOpened, Duration::from_secs(20)).await;
    expect_that(
        &c,
        |i| matches!(i, DoorInput::CardRead { bits: 32, .. }),
        "a 32-bit card read",
        Duration::from_secs(10),
    )
    .await;
    c.feedback(Feedback::Granted).await.unwrap();
    let out = tokio::task::spawn_blocking(move || py.wait_with_output()).await.unwrap().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("output 0 timer 30"), "{text}");
    assert!(text.contains("\nok"), "{text}");
}

/// Install mode against a device without Secure Channel: the session comes up unsecured, and that is
/// reported as an alarm (`SecureChannelDown`) the moment it is online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsecured_session_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("rs485");
    let (master, _slave, path) = tobira_drivers::pty::open_pty().unwrap();
    symlink(&path, &link).unwrap();
    let door = sim::spawn_with(std::fs::File::from(master), 1, None).unwrap();
    let mut cfg = OsdpConfig::new(&link, 1, None);
    cfg.install_mode = true;
    let c = OsdpController::spawn("old-ctl", cfg).unwrap();
    expect(&c, DoorInput::Online, Duration::from_secs(20)).await;
    expect(&c, DoorInput::SecureChannelDown, Duration::from_secs(2)).await;
    assert!(!door.state().secure);
}

/// A device that refuses osdp_OSTAT (osdp_NAK) cannot say whether its strike pulled in. libosdp takes a
/// device that NAKs a command offline at once (`cp_check_online_response`), so the strike waiting for that
/// report fails as the device goes offline (reported once), nothing queues behind it, and the device is
/// trusted with strikes again only once it reports its output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_refuses_to_report_its_output_fails_the_strike_and_goes_offline() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("rs485");
    let (door, _slave) = pd(&link, KEY);
    let c = OsdpController::spawn("office-ctl", OsdpConfig::new(&link, 1, Some(KEY))).unwrap();
    expect(&c, DoorInput::Online, Duration::from_secs(10)).await;
    door.refuse_output_status(true);
    let e = c.pulse(Duration::from_millis(500)).await.unwrap_err();
    assert!(
        matches!(e, tobira_drivers::DeviceError::Offline { .. } | tobira_drivers::DeviceError::NoAnswer { .. }),
        "{e}"
    );
    expect(&c, DoorInput::Offline, Duration::from_secs(10)).await;
    assert_ne!(c.healthy(), Some(true), "not trusted with the next strike");
    door.refuse_output_status(false);
    expect(&c, DoorInput::Online, Duration::from_secs(20)).await;
    c.pulse(Duration::from_millis(500)).await.unwrap();
}
