//! `tobira-sim`: simulated devices on pseudo-terminals, speaking their real protocols byte for byte.
//!
//! `tobira-sim r30x --link /tmp/r30x [--password N] [--finger ridges|none] [--quiet-on-garbage]` opens a PTY,
//! links PATH to its slave side and plays an R307-class fingerprint module on it until killed. Open PATH at
//! 57600 8N1 as you would /dev/ttyUSB0. `--finger ridges` (the default) rests a stand-in pattern on the glass;
//! standard input scripts people: `present BODY [FINGER]` touches the sensor once with a fresh synthetic
//! impression of that simulated person's finger (default 2, an image the daemon's pipeline matches),
//! `clear`, `unplug`, `replug`, `garble`, `state`.
//!
//! `tobira-sim palm-bridge --socket PATH [--body NAME] [--hand left|right]` runs the reference palm-reader
//! bridge (drivers/src/palm_bridge/PROTOCOL.md) on a UNIX socket. With `--body` every capture gets that
//! simulated person's hand; otherwise lines on standard input script it: `present BODY [left|right]`,
//! `fingerprint SEED` (a synthetic fingerprint image held to the sensor, issue 4's bad input: the daemon
//! must refuse it as a fingerprint), `fail timeout|busy|sensor|spoof`, `garble`, `disconnect`.
//!
//! `tobira-sim osdp --link PATH --key-file FILE [--address N]` plays an OSDP door controller (libosdp's
//! peripheral mode, Secure Channel with the key in FILE) on a PTY linked at PATH. Standard input scripts the
//! door: `open`, `close`, `rex`, `tamper`, `card HEX`, `state`, `stop`.

use std::io::Write;
use tobira_drivers::r30x::{IMAGE_HEIGHT, IMAGE_WIDTH, ModuleConfig};

fn usage() -> ! {
    eprintln!(
        "usage: tobira-sim r30x --link PATH [--password N] [--finger ridges|none] [--quiet-on-garbage] [--keep-time]"
    );
    eprintln!(
        "                       [--baud-at-power-up]   (keep the line rate; follow SetSysPara's baud only after `replug`)"
    );
    eprintln!("       tobira-sim palm-bridge --socket PATH [--body NAME] [--hand left|right]");
    eprintln!("       tobira-sim osdp --link PATH --key-file FILE [--address N] [--keep-time BAUD]");
    std::process::exit(2)
}

/// A fresh pseudo-terminal whose slave side is linked at `link` (the path a site file names as its port).
fn linked_pty(link: &str) -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd, std::path::PathBuf) {
    let (master, slave, path) = tobira_drivers::pty::open_pty().unwrap_or_else(|e| {
        eprintln!("tobira-sim: cannot open a pseudo-terminal: {e}");
        std::process::exit(1)
    });
    let _ = std::fs::remove_file(link);
    if let Err(e) = std::os::unix::fs::symlink(&path, link) {
        eprintln!("tobira-sim: cannot link {link} to {}: {e}", path.display());
        std::process::exit(1)
    }
    (master, slave, path)
}

fn osdp(args: &[String]) -> ! {
    let (mut link, mut key_file, mut address, mut line_rate) = (None, None, 1i32, None);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--link" => link = it.next().cloned(),
            "--key-file" => key_file = it.next().cloned(),
            "--address" => address = it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "--keep-time" => line_rate = Some(it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let (Some(link), Some(key_file)) = (link, key_file) else { usage() };
    let key = tobira_drivers::osdp::load_key(std::path::Path::new(&key_file)).unwrap_or_else(|e| {
        eprintln!("tobira-sim: {e}");
        std::process::exit(1)
    });
    let (master, _slave, path) = linked_pty(&link);
    let door = tobira_drivers::osdp::sim::spawn_at(std::fs::File::from(master), address, Some(key), line_rate)
        .unwrap_or_else(|e| {
            eprintln!("tobira-sim: {e}");
            std::process::exit(1)
        });
    println!("{}", path.display());
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    loop {
        line.clear();
        match std::io::stdin().read_line(&mut line) {
            // Standard input closed: keep serving until killed.
            Ok(0) => std::thread::park(),
            Ok(_) => {}
            Err(_) => break,
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["open"] => door.open_door(),
            ["close"] => door.close_door(),
            ["rex"] => door.rex(),
            ["tamper"] => door.tamper(),
            ["card", hex] => door
                .card((0..hex.len() / 2).filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()).collect()),
            ["state"] => {
                let s = door.state();
                println!(
                    "online={} secure={} relay={} contact_open={} commands={}",
                    s.online,
                    s.secure,
                    s.relay_energised(std::time::Instant::now()),
                    s.contact_open,
                    s.seen.len()
                );
                let _ = std::io::stdout().flush();
            }
            ["stop"] => break,
            [] => {}
            _ => eprintln!("tobira-sim: unknown command {:?}", line.trim()),
        }
    }
    door.stop();
    let _ = std::fs::remove_file(&link);
    std::process::exit(0)
}

fn palm_bridge(args: &[String]) -> ! {
    use tobira_drivers::palm_bridge::codec::{ErrorCode, Hand};
    use tobira_drivers::palm_bridge::sim::{Presentation, SimBridge};
    let (mut socket, mut body, mut hand) = (None, None, Hand::Right);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--socket" => socket = it.next().cloned(),
            "--body" => body = it.next().cloned(),
            "--hand" => hand = if it.next().map(String::as_str) == Some("left") { Hand::Left } else { Hand::Right },
            _ => usage(),
        }
    }
    let Some(socket) = socket else { usage() };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tobira-sim: cannot start a runtime: {e}");
            std::process::exit(1)
        }
    };
    let code = rt.block_on(async move {
        let _ = std::fs::remove_file(&socket);
        let listener = match tokio::net::UnixListener::bind(&socket) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("tobira-sim: cannot listen on {socket}: {e}");
                return 1;
            }
        };
        let bridge = SimBridge::new();
        if let Some(b) = body {
            bridge.always(Some(Presentation::Hand { body: b, hand }));
        }
        println!("{socket}");
        tokio::spawn(bridge.clone().serve(listener));
        use tokio::io::AsyncBufReadExt;
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        loop {
            tokio::select! {
                line = lines.next_line() => match line {
                    Ok(Some(l)) => {
                        let w: Vec<&str> = l.split_whitespace().collect();
                        match w.as_slice() {
                            ["present", b, rest @ ..] => bridge.present(Presentation::Hand {
                                body: (*b).to_string(),
                                hand: if rest.first() == Some(&"left") { Hand::Left } else { Hand::Right },
                            }),
                            ["fail", c] => bridge.present(Presentation::Fail(match *c {
                                "timeout" => ErrorCode::Timeout,
                                "busy" => ErrorCode::Busy,
                                "spoof" => ErrorCode::Spoof,
                                _ => ErrorCode::Sensor,
                            })),
                            ["fingerprint", seed] => match seed.parse::<u64>() {
                                Ok(seed) => {
                                    let noise = tobira_sample::synthetic::PrintNoise::default();
                                    let g = tobira_sample::synthetic::SyntheticPrint::new(seed).impression(1, &noise);
                                    bridge.present(Presentation::Image { width: g.width, height: g.height, pixels: g.pixels });
                                }
                                Err(_) => eprintln!("tobira-sim: fingerprint SEED takes a number, not {seed:?}"),
                            },
                            ["garble"] => bridge.present(Presentation::Garbage(b"\x00garbage\xffTPB1\x00".to_vec())),
                            ["disconnect"] => bridge.disconnect_all(),
                            [] => {}
                            _ => eprintln!("tobira-sim: unknown command {l:?}"),
                        }
                    }
                    // Standard input closed: keep serving until killed.
                    _ => std::future::pending::<()>().await,
                },
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        let _ = std::fs::remove_file(&socket);
        0
    });
    std::process::exit(code)
}

/// A stand-in finger for protocol tests: diagonal ridges, so every row differs and nibble order shows.
fn ridges() -> Vec<u8> {
    (0..IMAGE_HEIGHT).flat_map(|y| (0..IMAGE_WIDTH).map(move |x| (((x + y) % 16) * 17) as u8)).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("palm-bridge") {
        palm_bridge(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("osdp") {
        osdp(&args[1..]);
    }
    if args.first().map(String::as_str) != Some("r30x") {
        usage();
    }
    let mut cfg = ModuleConfig::default();
    let mut link = None;
    let mut finger = true;
    let mut keep_time = false;
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--link" => link = it.next().cloned(),
            "--password" => cfg.password = it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "--finger" => finger = it.next().map(|v| v == "ridges").unwrap_or_else(|| usage()),
            "--quiet-on-garbage" => cfg.answer_garbage = false,
            "--keep-time" => keep_time = true,
            "--baud-at-power-up" => cfg.baud_change = tobira_drivers::r30x::BaudChange::AtPowerUp,
            _ => usage(),
        }
    }
    let Some(link) = link else { usage() };
    let (sim, module) = tobira_drivers::r30x::sim::SimR30x::start("r30x", cfg).unwrap_or_else(|e| {
        eprintln!("tobira-sim: cannot open a pseudo-terminal: {e}");
        std::process::exit(1)
    });
    let _ = std::fs::remove_file(&link);
    if let Err(e) = std::os::unix::fs::symlink(sim.path(), &link) {
        eprintln!("tobira-sim: cannot link {link} to {}: {e}", sim.path().display());
        std::process::exit(1)
    }
    println!("{}", sim.path().display());
    let _ = std::io::stdout().flush();
    if finger {
        module.set_finger(Some(ridges()));
    }
    module.keep_real_time(keep_time);
    let population = tobira_drivers::sim::population::SimPopulation::default();
    let mut attempt = 0u64;
    let mut line = String::new();
    loop {
        line.clear();
        match std::io::stdin().read_line(&mut line) {
            // Standard input closed: keep serving until killed.
            Ok(0) => std::thread::park(),
            Ok(_) => {}
            Err(_) => break,
        }
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["present", body, rest @ ..] => {
                let finger = rest.first().and_then(|f| f.parse().ok()).unwrap_or(2);
                attempt += 1;
                module.touch(population.image(body, finger, attempt));
            }
            ["clear"] => println!("cleared {}", module.clear()),
            ["unplug"] => module.unplug(),
            ["replug"] => module.replug(),
            ["garble"] => module.garble_next(),
            ["state"] => println!(
                "pending={} led={:?} line_rate={} misheard={}",
                module.pending(),
                module.led(),
                module.line_rate(),
                module.misheard()
            ),
            ["stop"] => break,
            [] => {}
            _ => eprintln!("tobira-sim: unknown command {:?}", line.trim()),
        }
        let _ = std::io::stdout().flush();
    }
    let _ = std::fs::remove_file(&link);
}
