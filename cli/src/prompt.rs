//! What the CLI tells the person at the reader before an administrative act (issue 22 §4). The control
//! socket answers once, at the end, so the waits are announced before the request is sent: who places
//! which finger (or palm) on which reader, how many captures, and how long each wait lasts. On a simulated
//! site it also says that `tobira sim present` must come first: a simulated reader holds only what was
//! presented before.

use crate::client::Client;
use tobira_proto::Request;

/// Whether the daemon asks the actor for a finger before acting (every administrative act and every
/// reading of the records; the bootstrap's first acts excepted).
pub fn needs_actor_finger(r: &Request) -> bool {
    matches!(
        r,
        Request::PersonAdd(_)
            | Request::PersonDelete { .. }
            | Request::Enroll { .. }
            | Request::GrantAdd(_)
            | Request::GrantRevoke { .. }
            | Request::OffHoursAdd(_)
            | Request::VisitAdd(_)
            | Request::VisitMedia { .. }
            | Request::Media(
                tobira_proto::MediaCommand::TakeOut(_)
                    | tobira_proto::MediaCommand::Consent { .. }
                    | tobira_proto::MediaCommand::Return { .. }
                    | tobira_proto::MediaCommand::Dispose(_)
                    | tobira_proto::MediaCommand::Fault { .. }
            )
            | Request::Unlock { .. }
            | Request::RequestApprove { .. }
            | Request::RequestReject { .. }
            | Request::RequestWithdraw { .. }
            | Request::RequestView { .. }
            | Request::ViewerLend { .. }
            | Request::ViewerReturn { .. }
            | Request::Review { .. }
            | Request::AlarmAck { .. }
            | Request::KeyRotate
            | Request::Backup { .. }
            | Request::AuditAcknowledgeLoss { .. }
            | Request::AuditShow(_)
            | Request::Ledger { .. }
    )
}

/// The lines to print (on stderr) before `req` is sent, given what `tobira status` said.
pub fn lines(actor: Option<&str>, at: Option<&str>, req: &Request, status: &serde_json::Value) -> Vec<String> {
    let secs = status["capture_timeout_s"].as_u64().unwrap_or(15);
    let simulation = status["simulation"].as_bool() == Some(true);
    let bootstrap = status["bootstrap"].as_bool() == Some(true);
    let mut out = Vec::new();
    let mut presents = Vec::new();
    if let (Some(actor), Some(at)) = (actor, at)
        && needs_actor_finger(req)
        && !bootstrap
    {
        out.push(format!("{actor}: place your finger on {at} (1/1), {secs} s — to prove it is you"));
        presents.push(format!("tobira sim present {at} {actor}"));
    }
    if let Request::Enroll { person, reader, finger, palm, samples } = req {
        let n = samples.map(u32::from).or(status["enrollment_samples"].as_u64().map(|n| n as u32)).unwrap_or(5);
        let what = match palm {
            Some(hand) => format!("hold your {hand} palm (手のひら静脈) over"),
            None => format!("place your finger {finger} on"),
        };
        out.push(format!("{person}: {what} {reader} (1/{n} … {n}/{n}), {secs} s each"));
        let present = match palm {
            Some(hand) => format!("tobira sim present {reader} {person} --palm {hand}"),
            None => format!("tobira sim present {reader} {person} --finger {finger}"),
        };
        presents.push(format!("{present}   ({n} times)"));
    }
    if simulation && !presents.is_empty() {
        out.push(format!(
            "simulation: a simulated reader holds only what was presented before this command; run first: {}",
            presents.join("; ")
        ));
    }
    out
}

/// Prints the waits `req` will bring to stderr (asking the daemon for its timeout and mode once).
pub fn announce(c: &Client, actor: Option<&str>, at: Option<&str>, req: &Request) {
    let waits = needs_actor_finger(req) || matches!(req, Request::Enroll { .. });
    if !waits {
        return;
    }
    let Ok(status) = c.call(Request::Status) else { return };
    for l in lines(actor, at, req, &status) {
        eprintln!("{l}");
    }
}

/// One of the daemon's progress frames as the line the CLI prints (issue 18): which capture is awaited,
/// each sample's quality, a refused sample and why, the duplicate-identity check. `None` for a step this
/// CLI does not know.
pub fn progress_line(v: &serde_json::Value) -> Option<String> {
    let (n, of) = (v["n"].as_u64().unwrap_or(0), v["of"].as_u64().unwrap_or(0));
    let person = v["person"].as_str().unwrap_or("");
    Some(match v["step"].as_str()? {
        "proof" => format!(
            "{person}: proving it is you at {} (本人確認), {} s",
            v["reader"].as_str().unwrap_or(""),
            v["timeout_s"].as_u64().unwrap_or(0)
        ),
        "capture" => format!(
            "{person}: capture {n}/{of} (採取) — waiting at {} for {} s",
            v["reader"].as_str().unwrap_or(""),
            v["timeout_s"].as_u64().unwrap_or(0)
        ),
        "sample" => format!(
            "{person}: capture {n}/{of} taken, quality {} (品質){}",
            v["quality"],
            v["minutiae"].as_u64().map(|m| format!(", {m} minutiae (特徴点)")).unwrap_or_default()
        ),
        "refused" => format!("{person}: capture {n}/{of} refused (不採用): {}", v["reason"].as_str().unwrap_or("")),
        "duplicate-check" => {
            format!("{person}: duplicate-identity check (重複登録の検査) against {} enrolled template(s)", v["gallery"])
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enrolment_by_an_administrator_announces_both_waits_and_the_simulators_step() {
        let req = Request::Enroll {
            person: "tanaka".into(),
            reader: "t01-reader".into(),
            finger: 2,
            palm: None,
            samples: None,
        };
        let st = serde_json::json!({"capture_timeout_s": 15, "simulation": true, "bootstrap": false});
        let l = lines(Some("takahashi"), Some("t02-reader"), &req, &st);
        assert_eq!(l[0], "takahashi: place your finger on t02-reader (1/1), 15 s — to prove it is you");
        // The status names no enrollment_samples here: the default, five.
        assert_eq!(l[1], "tanaka: place your finger 2 on t01-reader (1/5 … 5/5), 15 s each");
        assert!(l[2].contains("tobira sim present t02-reader takahashi"), "{}", l[2]);
        assert!(l[2].contains("tobira sim present t01-reader tanaka --finger 2   (5 times)"), "{}", l[2]);
        let real = serde_json::json!({"capture_timeout_s": 15, "simulation": false, "bootstrap": false});
        assert_eq!(lines(Some("takahashi"), Some("t02-reader"), &req, &real).len(), 2, "no simulator advice");
        assert!(lines(Some("a"), Some("r"), &Request::Status, &real).is_empty(), "no wait, no prompt");
    }
}
