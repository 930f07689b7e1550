//! Fingerprint readers on the protocol level (issue 5, issue 3 §5): R30x modules simulated in this test
//! process on pseudo-terminals, named in the site file by their port exactly as /dev/ttyUSB0 would be, and
//! driven by the daemon's real R30x driver. Every touch is a fresh synthetic image of a simulated person's
//! finger, uploaded 4-bit packed as the real module does; the daemon's image pipeline extracts and matches
//! it — enrolment, a login (004 §2(9)) and a server-room door (003 §13) — and someone else's finger is
//! refused at both.

use crate::common::*;
use std::time::{Duration, Instant};
use tobira_drivers::r30x::ModuleConfig;
use tobira_drivers::r30x::sim::{SimR30x, SimR30xHandle};
use tobira_drivers::sim::population::SimPopulation;

/// Names the module's PTY as the reader's port: the stanza a real site would have with /dev/ttyUSB0.
fn wire(site: &str, reader: &str, sim: &SimR30x) -> String {
    let stanza = format!("id = \"{reader}\"\nkind = \"sim-r30x\"");
    assert!(site.contains(&stanza), "the demo site's {reader} stanza changed; update this test");
    site.replacen(&stanza, &format!("id = \"{reader}\"\nkind = \"r30x\"\nport = \"{}\"", sim.path().display()), 1)
}

struct Person {
    pop: SimPopulation,
    attempt: std::cell::Cell<u64>,
}

impl Person {
    /// `body` touches `module` once with a new impression of finger 2.
    fn touch(&self, module: &SimR30xHandle, body: &str) {
        self.attempt.set(self.attempt.get() + 1);
        assert!(module.touch(self.pop.image(body, 2, self.attempt.get())));
    }
}

fn json(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_str(String::from_utf8_lossy(&o.stdout).trim()).unwrap_or_else(|_| panic!("{}", text(o)))
}

fn pulses(d: &Running) -> u64 {
    json(&d.tobira(&["--json", "sim", "door", "server-door"]))["pulses"].as_u64().unwrap_or(0)
}

#[test]
fn images_from_r30x_modules_enrol_log_in_and_open_a_door_and_a_stranger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (t01, t01_module) = SimR30x::start("t01-reader", ModuleConfig::default()).unwrap();
    let (door, door_module) = SimR30x::start("server-in", ModuleConfig::default()).unwrap();
    let site = wire(&wire(demo_site(), "t01-reader", &t01), "server-in", &door);
    let d = Running::start_with(dir.path(), &site, &[]);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    let people = Person { pop: SimPopulation::default(), attempt: 0.into() };
    d.bootstrap();
    for _ in 0..3 {
        people.touch(&t01_module, "takahashi");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "takahashi", "--reader", "t01-reader"]);
    assert!(o.status.success(), "enrolment from three uploaded images: {}", text(&o));
    for (id, role) in [("suzuki", "data-manager"), ("tanaka", "operator")] {
        let o = d
            .act("takahashi", &["person", "add", id, "--name", id, "--roles", role, "--appointment-end", "2027-03-31"]);
        assert!(o.status.success(), "{}", text(&o));
        for _ in 0..3 {
            people.touch(&t01_module, id);
        }
        let o = d.act("takahashi", &["--json", "enroll", id, "--reader", "t01-reader"]);
        assert!(o.status.success(), "{}", text(&o));
        let minutiae = json(&o)["minutiae"].as_u64().unwrap_or(0);
        assert!(minutiae >= 12, "{id}: a template extracted from the images ({minutiae} minutiae)");
        // Issue 17: the three captures are stored fused, every one compared at the door, not the best alone.
        assert_eq!(json(&o)["impressions"].as_u64(), Some(3), "{id}: enrolment fusion");
    }
    assert!(d.act("takahashi", &["grant", "add", "tanaka", "--place", "terminal:t-01"]).status.success());
    assert!(d.act("suzuki", &["grant", "add", "tanaka", "--place", "zone:server-room"]).status.success());

    // Login: tanaka's own finger, then a stranger's under tanaka's ID (1:1 against tanaka's templates).
    people.touch(&t01_module, "tanaka");
    let v = json(&d.tobira(&["--json", "login", "t-01", "tanaka"]));
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(true), Some("GRANT_VALID")), "{v}");
    people.touch(&t01_module, "stranger");
    let v = json(&d.tobira(&["--json", "login", "t-01", "tanaka"]));
    assert_eq!((v["granted"].as_bool(), v["reason"].as_str()), (Some(false), Some("NOT_IDENTIFIED")), "{v}");

    // Door: identified 1:N from the uploaded image, the strike pulses; a stranger's finger leaves it locked.
    assert_eq!(pulses(&d), 0);
    people.touch(&door_module, "tanaka");
    let deadline = Instant::now() + Duration::from_secs(20);
    while pulses(&d) == 0 {
        assert!(Instant::now() < deadline, "the door never opened for tanaka's image");
        std::thread::sleep(Duration::from_millis(50));
    }
    people.touch(&door_module, "stranger");
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let events = text(&d.act("takahashi", &["--json", "audit", "show", "--kind", "door.enter"]));
        if events.lines().filter(|l| l.contains("door.enter")).count() >= 2 {
            break events;
        }
        assert!(Instant::now() < deadline, "no decision on the stranger's image: {events}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(refused.contains("NOT_IDENTIFIED"), "{refused}");
    assert_eq!(pulses(&d), 1, "the stranger did not open the door");
    assert!(d.stop().success());
}

/// An image upload on the R30x line: the UpImage ack and 288 data packets of 128 bytes with 11 bytes of
/// framing each (R30x.md §4).
const UPLOAD_BYTES: usize = 12 + 288 * (128 + 11);

/// The line rate the daemon's driver reports for `reader` (the control socket's device list).
fn line_rate(d: &Running, reader: &str) -> Option<u64> {
    let v = tobira_cli::client::Client::new(&d.sock).call(tobira_proto::Request::Devices).ok()?;
    v["readers"].as_array()?.iter().find(|r| r["id"] == reader)?["line_rate"].as_u64()
}

/// Issue 15, "the simulator keeps real time": a simulated site whose serial devices keep their line rates
/// (`[simulation] line_rate = "kept"`). The office door's reader is an R30x module the daemon simulates on a
/// PTY; its driver raises it from the factory 57,600 baud to the 115,200 the site names (SetSysPara, read
/// back), and tanaka's finger opens the door once the image has crossed the line — not sooner. (It was the
/// exit reader's identification among the people inside, not the pacing, that kept the bench's paced
/// exits locked: this door is an entry.)
#[test]
fn a_door_whose_r30x_module_keeps_its_line_rate_unlocks_once_the_image_has_crossed_it() {
    let dir = tempfile::tempdir().unwrap();
    let site = tobira_cli::harness::office_reader_site("sim-r30x").unwrap();
    let stanza = "id = \"office-palm\"\nkind = \"sim-r30x\"";
    assert!(site.contains(stanza), "the harness's office reader stanza changed; update this test");
    let site = format!(
        "{}\n[simulation]\nline_rate = \"kept\"\n",
        site.replacen(stanza, &format!("{stanza}\nbaud = 115200"), 1)
    );
    let d = Running::start_with(dir.path(), &site, &[]);
    let _ = d.tobira(&["sim", "clock", "2026-11-24T10:00:00+09:00"]);
    d.bootstrap();
    let o = d.tobira(&[
        "--actor",
        "takahashi",
        "person",
        "add",
        "tanaka",
        "--name",
        "田中 太郎",
        "--roles",
        "operator",
        "--appointment-end",
        "2027-03-31",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    for _ in 0..3 {
        d.present("t01-reader", "tanaka");
    }
    let o = d.tobira(&["--actor", "takahashi", "enroll", "tanaka", "--reader", "t01-reader"]);
    assert!(o.status.success(), "enrolment from three paced uploads: {}", text(&o));
    let o = d.tobira(&["--actor", "takahashi", "grant", "add", "tanaka", "--place", "zone:office"]);
    assert!(o.status.success(), "grant: {}", text(&o));
    assert_eq!(line_rate(&d, "office-palm"), Some(115_200), "raised from 57,600 and read back");
    assert_eq!(line_rate(&d, "t01-reader"), Some(115_200), "the default: the fastest rate");

    let door_pulses = || json(&d.tobira(&["--json", "sim", "door", "office-door"]))["pulses"].as_u64().unwrap_or(0);
    let before = door_pulses();
    let t = Instant::now();
    let v = json(&d.tobira(&["--json", "sim", "present", "office-palm", "tanaka"]));
    let took = t.elapsed();
    assert_eq!((v["granted"].as_bool(), v["person"].as_str()), (Some(true), Some("tanaka")), "{v}");
    let wire = tobira_drivers::line::line_time(UPLOAD_BYTES, 115_200);
    assert!(took >= wire, "the image needs {wire:?} on a 115,200-baud line; the door decided after {took:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while door_pulses() == before {
        assert!(Instant::now() < deadline, "the strike never pulsed for tanaka");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(d.stop().success());
}
