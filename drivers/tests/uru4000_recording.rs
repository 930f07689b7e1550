//! The U.are.U image decoder on the real recordings in ../shared/datasets/usb-recordings (libfprint's test
//! captures): the bulk transfer and the key exchange are taken from the pcapng, decoded, and compared pixel
//! by pixel with the capture.png libfprint produced from the same traffic.

use std::path::PathBuf;
use tobira_drivers::uru4000::image::{HEIGHT, Orientation, WIDTH, decode};
use tobira_drivers::uru4000::pcap::read_usbmon;

fn datasets() -> PathBuf {
    let p = std::env::var("TOBIRA_DATASETS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/datasets")));
    if !p.join("usb-recordings").exists() {
        let msg = format!("DATASETS MISSING: {} has no usb-recordings (set TOBIRA_DATASETS)", p.display());
        if std::env::var("CI").is_ok() {
            panic!("{msg}");
        }
        eprintln!("{msg}");
    }
    p
}

/// The bulk image and the key the device handed out, from a recording.
fn recorded(name: &str) -> Option<(Vec<u8>, u32, u32)> {
    let dir = datasets().join("usb-recordings").join(name);
    let bytes = std::fs::read(dir.join("capture.pcapng")).ok()?;
    let urbs = read_usbmon(&bytes).unwrap();
    let bulk = urbs.iter().find(|u| u.event == b'C' && u.xfer == 3 && u.endpoint == 0x82).unwrap().data.clone();
    // The seed written to register 0x33 ([key_number, seed LE32]) and the answer read from 0x34.
    let setup_of =
        |u: &tobira_drivers::uru4000::pcap::Urb| u.setup.map(|s| (s[0], s[1], u16::from_le_bytes([s[2], s[3]])));
    let seed_w = urbs.iter().find(|u| u.event == b'S' && setup_of(u) == Some((0x40, 0x04, 0x33))).unwrap();
    let seed = u32::from_le_bytes(seed_w.data[1..5].try_into().unwrap());
    let at = urbs.iter().position(|u| u.event == b'S' && setup_of(u) == Some((0xc0, 0x04, 0x34))).unwrap();
    // URB ids are kernel addresses and get reused: the answer is the next completion with that id.
    let answer = urbs[at..].iter().find(|u| u.event == b'C' && u.id == urbs[at].id).unwrap();
    let r = u32::from_le_bytes(answer.data[..4].try_into().unwrap());
    Some((bulk, seed, r))
}

fn check(name: &str, orientation: Orientation, want_key: u32) {
    let Some((bulk, seed, r)) = recorded(name) else { return };
    assert_eq!(seed, 0x51ea_2124, "libfprint's emulation seed");
    assert_eq!(bulk.len(), 111_040);
    let mut asked = 0;
    let img = decode(&bulk, orientation, |_| {
        asked += 1;
        Ok(r ^ seed)
    })
    .unwrap();
    assert_eq!(r ^ seed, want_key);
    assert_eq!(asked, 1, "one key exchange");
    let png = image::open(datasets().join("usb-recordings").join(name).join("capture.png")).unwrap().to_luma8();
    assert_eq!((png.width() as usize, png.height() as usize), (WIDTH, HEIGHT));
    let same = img.iter().zip(png.as_raw()).filter(|(a, b)| a == b).count();
    assert_eq!(same, WIDTH * HEIGHT, "{name}: {same} of {} pixels equal libfprint's", WIDTH * HEIGHT);
}

#[test]
fn uru4500_recording_decodes_to_libfprints_image() {
    check("uru4000-4500", Orientation::Rotated180, 0x5444_09d6);
}

#[test]
fn microsoft_v2_recording_decodes_to_libfprints_image() {
    check("uru4000-msv2", Orientation::Upright, 0xdb89_6f5f);
}
