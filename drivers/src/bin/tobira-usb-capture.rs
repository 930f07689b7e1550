//! `tobira-usb-capture [--seed HEX] [--out FILE.pgm]`: captures one image from the first connected
//! U.are.U 4000/4500 reader and writes it as a PGM. For integrators checking a reader (hil/), and the
//! program the umockdev replay tests run. Exit 0 with an image, 3 when no reader is connected, 1 otherwise.

use tobira_drivers::uru4000::image::{HEIGHT, WIDTH};
use tobira_drivers::uru4000::{UruConfig, UruDevice, UsbError};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = UruConfig::default();
    let mut out = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seed" => {
                cfg.seed = it.next().and_then(|v| u32::from_str_radix(v.trim_start_matches("0x"), 16).ok());
                if cfg.seed.is_none() {
                    eprintln!("--seed needs a hexadecimal value");
                    std::process::exit(2);
                }
            }
            "--out" => out = it.next().cloned(),
            _ => {
                eprintln!("usage: tobira-usb-capture [--seed HEX] [--out FILE.pgm]");
                std::process::exit(2);
            }
        }
    }
    let ctx = match rusb::Context::new() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{} ({e})", UsbError::NoDevice);
            std::process::exit(3);
        }
    };
    let dev = match UruDevice::open(&ctx, cfg) {
        Ok(d) => d,
        Err(e @ UsbError::NoDevice) => {
            eprintln!("{e}");
            std::process::exit(3);
        }
        Err(e) => {
            eprintln!("cannot open the reader: {e}");
            std::process::exit(1);
        }
    };
    eprintln!("{} ({:04x}:{:04x}): place a finger", dev.profile.name, dev.profile.vid, dev.profile.pid);
    match dev.capture() {
        Ok(img) => {
            let mut pgm = format!("P5\n{WIDTH} {HEIGHT}\n255\n").into_bytes();
            pgm.extend_from_slice(&img);
            match out {
                Some(path) => {
                    if let Err(e) = std::fs::write(&path, &pgm) {
                        eprintln!("cannot write {path}: {e}");
                        std::process::exit(1);
                    }
                    eprintln!("wrote {path}");
                }
                None => eprintln!("captured {WIDTH}x{HEIGHT}"),
            }
        }
        Err(e) => {
            eprintln!("capture failed: {e}");
            std::process::exit(1);
        }
    }
}
