//! The scenarios, per device kind. Each returns one outcome per check, with how long it took; none of them
//! knows whether a person or the simulator performs the physical steps.

use crate::config::{ControllerCfg, ReaderCfg};
use crate::operator::{Operator, Step};
use serde::Serialize;
use std::time::{Duration, Instant};
use tobira_drivers::{DoorController, DoorInput, Reader, Sample};

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub device: String,
    pub kind: String,
    pub scenario: String,
    pub ok: bool,
    pub ms: u64,
    pub detail: String,
}

struct Recorder<'a> {
    device: &'a str,
    kind: &'a str,
    out: Vec<Outcome>,
}

impl Recorder<'_> {
    fn record(&mut self, scenario: &str, t: Instant, ok: bool, detail: impl Into<String>) {
        let o = Outcome {
            device: self.device.into(),
            kind: self.kind.into(),
            scenario: scenario.into(),
            ok,
            ms: t.elapsed().as_millis() as u64,
            detail: detail.into(),
        };
        println!(
            "{} {:<14} {:<26} {:>6} ms  {}",
            if ok { "PASS" } else { "FAIL" },
            o.device,
            o.scenario,
            o.ms,
            o.detail
        );
        self.out.push(o);
    }
}

const WAIT: Duration = Duration::from_secs(30);

fn describe(s: &Sample) -> (bool, String) {
    match s {
        Sample::Gray8 { width, height, dpi, pixels } | Sample::PalmNir { width, height, dpi, pixels, .. } => {
            let min = pixels.iter().min().copied().unwrap_or(0);
            let max = pixels.iter().max().copied().unwrap_or(0);
            let sized = pixels.len() == (*width as usize) * (*height as usize);
            (sized && max > min, format!("{width}x{height} @{dpi} dpi, grey {min}..{max}"))
        }
        Sample::Minutiae(t) => (!t.minutiae.is_empty(), format!("{} minutiae", t.minutiae.len())),
    }
}

pub async fn image_reader(cfg: &ReaderCfg, reader: &dyn Reader, op: &dyn Operator, palm: bool) -> Vec<Outcome> {
    let mut r = Recorder { device: &cfg.id, kind: &cfg.kind, out: Vec::new() };
    for (n, person) in ["A", "A"].iter().enumerate() {
        let step = if palm {
            Step::PresentPalm { reader: cfg.id.clone(), person: (*person).into() }
        } else {
            Step::PlaceFinger { reader: cfg.id.clone(), finger: 2, person: (*person).into() }
        };
        op.act(&step);
        let t = Instant::now();
        let name = format!("capture {}", n + 1);
        match tokio::time::timeout(WAIT, reader.next_sample()).await {
            Ok(Ok(s)) => {
                let (ok, mut detail) = describe(&s);
                if !palm && let Ok(tpl) = tobira_biometrics::extract(&s) {
                    detail.push_str(&format!(", {} minutiae", tpl.minutiae.len()));
                }
                r.record(&name, t, ok, detail);
            }
            Ok(Err(e)) => r.record(&name, t, false, e.to_string()),
            Err(_) => r.record(&name, t, false, format!("no sample within {} s", WAIT.as_secs())),
        }
        if !palm {
            op.act(&Step::LiftFinger { reader: cfg.id.clone() });
        }
    }
    r.out
}

/// Why the controller did not report the input a scenario waited for.
#[derive(Debug, thiserror::Error)]
enum NotSeen {
    #[error("{0}")]
    Device(#[from] tobira_drivers::DeviceError),
    #[error("no {want:?} within {} s", WAIT.as_secs())]
    Timeout { want: DoorInput },
}

async fn expect(c: &dyn DoorController, want: DoorInput) -> Result<(), NotSeen> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, c.next_input()).await {
            Ok(Ok(i)) if i == want => return Ok(()),
            Ok(Ok(_)) => continue,
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => return Err(NotSeen::Timeout { want }),
        }
    }
}

pub async fn door_controller(cfg: &ControllerCfg, c: &dyn DoorController, op: &dyn Operator) -> Vec<Outcome> {
    let mut r = Recorder { device: &cfg.id, kind: &cfg.kind, out: Vec::new() };
    let t = Instant::now();
    match expect(c, DoorInput::Online).await {
        Ok(()) => r.record("online, Secure Channel", t, true, format!("address {}", cfg.address)),
        Err(e) => {
            r.record("online, Secure Channel", t, false, format!("{e}: check wiring, address and key"));
            return r.out;
        }
    }
    let t = Instant::now();
    let pulsed = c.pulse(Duration::from_secs(2)).await;
    let seen = op.confirm("Did the strike release for about 2 seconds?", &cfg.id);
    match (pulsed, seen) {
        (Err(e), _) => r.record("strike pulse 2 s", t, false, e.to_string()),
        (Ok(()), Some(false)) => r.record("strike pulse 2 s", t, false, "the strike did not release"),
        (Ok(()), _) => r.record("strike pulse 2 s", t, true, "output 0, timed by the device"),
    }
    for (step, want, name) in [
        (Step::OpenDoor { controller: cfg.id.clone() }, DoorInput::ContactOpened, "door contact opens"),
        (Step::CloseDoor { controller: cfg.id.clone() }, DoorInput::ContactClosed, "door contact closes"),
        (Step::PressExit { controller: cfg.id.clone() }, DoorInput::Rex, "exit button"),
    ] {
        op.act(&step);
        let t = Instant::now();
        match expect(c, want.clone()).await {
            Ok(()) => r.record(name, t, true, format!("{want:?}")),
            Err(e) => r.record(name, t, false, e.to_string()),
        }
    }
    r.out
}
