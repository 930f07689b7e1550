//! `tobira-sim`: simulated devices on pseudo-terminals, speaking their real protocols byte for byte.
//!
//! `tobira-sim r30x --link /tmp/r30x [--password N] [--finger ridges|none] [--quiet-on-garbage]` opens a PTY,
//! links PATH to its slave side and plays an R307-class fingerprint module on it until killed. Open PATH at
//! 57600 8N1 as you would /dev/ttyUSB0.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use tobira_drivers::r30x::{IMAGE_HEIGHT, IMAGE_WIDTH, Module, ModuleConfig};

fn usage() -> ! {
    eprintln!("usage: tobira-sim r30x --link PATH [--password N] [--finger ridges|none] [--quiet-on-garbage]");
    std::process::exit(2)
}

/// A stand-in finger for protocol tests: diagonal ridges, so every row differs and nibble order shows.
fn ridges() -> Vec<u8> {
    (0..IMAGE_HEIGHT).flat_map(|y| (0..IMAGE_WIDTH).map(move |x| (((x + y) % 16) * 17) as u8)).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) != Some("r30x") {
        usage();
    }
    let mut cfg = ModuleConfig::default();
    let mut link = None;
    let mut finger = true;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--link" => link = it.next().cloned(),
            "--password" => cfg.password = it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "--finger" => finger = it.next().map(|v| v == "ridges").unwrap_or_else(|| usage()),
            "--quiet-on-garbage" => cfg.answer_garbage = false,
            _ => usage(),
        }
    }
    let Some(link) = link else { usage() };
    let (master, _slave, path) = match tobira_drivers::pty::open_pty() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("tobira-sim: cannot open a pseudo-terminal: {e}");
            std::process::exit(1)
        }
    };
    let _ = std::fs::remove_file(&link);
    if let Err(e) = std::os::unix::fs::symlink(&path, &link) {
        eprintln!("tobira-sim: cannot link {link} to {}: {e}", path.display());
        std::process::exit(1)
    }
    println!("{}", path.display());
    let _ = std::io::stdout().flush();
    let mut module = Module::new(cfg);
    if finger {
        module.set_finger(Some(ridges()));
    }
    let mut port = std::fs::File::from(master);
    let mut buf = [0u8; 4096];
    loop {
        match port.read(&mut buf) {
            Ok(0) => continue,
            Ok(n) => {
                module.handle_input(&buf[..n]);
                let out = module.poll_transmit();
                if !out.is_empty() && port.write_all(&out).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("tobira-sim: port {} closed: {e} (fd {})", path.display(), port.as_raw_fd());
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&link);
}
