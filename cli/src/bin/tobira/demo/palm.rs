//! The demo's palm-vein scenarios (手のひら静脈, the matching data 000 §8–§9 registers for every operator):
//! enrollment by palm at terminal t-03's palm reader — directly by the system administrator and as a site
//! administrator's request — login and the terminal room's door by palm, someone else's palm and a
//! fingerprint at the palm reader refused.

use crate::demo::session::Demo;
use anyhow::Context as _;
use tobira_proto::{DecisionReport, GrantAdd, Request, SimCommand};

/// Terminal t-03's palm reader: palms are enrolled and verified here.
const PALM_READER: &str = "t03-palm";
/// The terminal room's entrance reader (door `office-door`).
const DOOR_READER: &str = "office-palm";

fn hold(d: &Demo, reader: &str, body: &str) -> anyhow::Result<serde_json::Value> {
    d.sim(SimCommand::PresentPalm { reader: reader.into(), body: body.into(), hand: "right".into() })
}

fn enroll_palm(person: &str) -> Request {
    Request::Enroll {
        person: person.into(),
        reader: PALM_READER.into(),
        finger: 2,
        palm: Some("right".into()),
        samples: None,
    }
}

fn grant(holder: &str, place: &str) -> Request {
    Request::GrantAdd(GrantAdd { holder: holder.into(), place: place.into(), from: None, until: None, schedule: None })
}

/// A login at t-03 after `present` put something on its palm reader.
fn login(d: &mut Demo, user: &str, want_granted: bool, want_reason: &str) -> anyhow::Result<()> {
    let v = d.call(Request::Login { terminal: "t-03".into(), user: user.into(), remote: false })?;
    let r: DecisionReport = serde_json::from_value(v).context("decision report")?;
    d.show(&r, want_granted, want_reason);
    Ok(())
}

pub(crate) fn play(d: &mut Demo) -> anyhow::Result<()> {
    d.heading("Palm vein (手のひら静脈, 000 §8): the system administrator enrolls tanaka's right palm at t03-palm");
    for _ in 0..3 {
        hold(d, PALM_READER, "tanaka")?;
    }
    let v = d.act("takahashi", enroll_palm("tanaka"))?;
    println!(
        "    tanaka     right palm enrolled ({}), quality {}, template {}",
        v["status"].as_str().unwrap_or(""),
        v["quality"],
        v["template"].as_str().unwrap_or("")
    );
    d.heading("A site administrator's palm enrollment is a request until the system administrator approves (003 §7)");
    for _ in 0..3 {
        hold(d, PALM_READER, "sato")?;
    }
    let v = d.act("ito", enroll_palm("sato"))?;
    let req = v["request"].as_str().unwrap_or("").to_string();
    println!("    sato       right palm captured by ito → pending, request {req}");
    d.act("takahashi", Request::RequestApprove { id: req, note: Some("本人確認済".into()) })?;
    println!("               approved by takahashi → the palm matches from now on");
    d.heading("tanaka's palm enrolled under another name: duplicate identity, refused and alarmed (003 §15)");
    for _ in 0..3 {
        hold(d, PALM_READER, "tanaka")?;
    }
    d.refused("ito", enroll_palm("morita"), "duplicate identity")?;
    d.sim(SimCommand::Clear { reader: PALM_READER.into() })?;

    for (holder, place) in [("tanaka", "terminal:t-03"), ("tanaka", "zone:office"), ("sato", "zone:office")] {
        d.act("takahashi", grant(holder, place))?;
        println!("    {holder:<10} {place:<18} issued by takahashi");
    }
    d.heading("Operator login by palm at t-03: user ID + palm vein (004 §2(9), 000 §9)");
    hold(d, PALM_READER, "tanaka")?;
    login(d, "tanaka", true, "GRANT_VALID")?;
    d.heading("Someone else's palm under tanaka's ID: 1:1 against tanaka's own palm only");
    hold(d, PALM_READER, "sato")?;
    login(d, "tanaka", false, "NOT_IDENTIFIED")?;
    d.heading("A finger placed on the palm reader: refused as the wrong kind of sample, never matched");
    d.sim(SimCommand::Present { reader: PALM_READER.into(), body: "tanaka".into(), finger: 2 })?;
    login(d, "tanaka", false, "NOT_IDENTIFIED")?;

    d.heading("The terminal room's door identifies by palm among the people allowed in (003 §13(1))");
    for (body, granted, reason) in [("tanaka", true, "GRANT_VALID"), ("sato", true, "GRANT_VALID")] {
        let v = hold(d, DOOR_READER, body)?;
        let r: DecisionReport = serde_json::from_value(v).context("decision report")?;
        d.show(&r, granted, reason);
    }
    d.heading("A stranger's palm at the terminal room's door");
    let v = hold(d, DOOR_READER, "stranger")?;
    let r: DecisionReport = serde_json::from_value(v).context("decision report")?;
    d.show(&r, false, "NOT_IDENTIFIED");
    Ok(())
}
