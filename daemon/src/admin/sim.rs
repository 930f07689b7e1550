//! The `tobira sim …` commands (which simulated device is which is `sim::devices`). Refused entirely unless
//! the daemon was started with `--simulation`.

use crate::admin::range::parse_time;
use crate::node::daemon::Daemon;
use crate::refusal::Refusal;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tobira_core::ids::{ControllerId, ReaderId};
use tobira_drivers::sim::SimReaderHandle;
use tobira_proto::{ErrorCode, SimCommand};

/// Waits for the decision a door reader's presentation produced.
async fn await_decision(
    rx: &mut tokio::sync::broadcast::Receiver<tobira_proto::DecisionReport>,
    place: &str,
    within: Duration,
) -> Option<tobira_proto::DecisionReport> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(r)) if r.place == place => return Some(r),
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            _ => return None,
        }
    }
}

pub async fn command(d: &Daemon, cmd: SimCommand) -> Result<serde_json::Value, Refusal> {
    let Some(sim) = d.devices.sim.as_ref() else {
        return Err(Refusal {
            code: ErrorCode::Denied,
            message: "simulator commands need a daemon started with --simulation".into(),
        });
    };
    match cmd {
        SimCommand::Present { reader, body, finger } => {
            let attempt = sim.attempts.fetch_add(1, Ordering::Relaxed);
            let r30x = sim.r30x.get(&ReaderId::new(&reader));
            let h = if r30x.is_some() { None } else { Some(sim.reader(&reader)?) };
            let present = async || match (r30x, h) {
                (Some(m), _) => m.present(&sim.population, &body, finger, attempt).await,
                (None, Some(h)) => {
                    // A person's first presentation grows their master print and extracts it (issue 22 §5):
                    // off the runtime's threads, as for an R30x module's image.
                    let (population, body) = (sim.population.clone(), body.clone());
                    let sample =
                        tokio::task::spawn_blocking(move || population.impression(&body, finger, attempt)).await;
                    if let Ok(sample) = sample {
                        h.present(sample);
                    }
                }
                (None, None) => {}
            };
            // A door reader answers through its door task; wait for that decision so the caller sees it.
            let door = d.site.doors.iter().find(|x| {
                x.entry_reader.as_str() == reader || x.exit_reader.as_ref().is_some_and(|e| e.as_str() == reader)
            });
            // A module keeping its line rate takes its image's time on the line before the door can decide.
            let within = Duration::from_secs(10) + r30x.map_or(Duration::ZERO, |m| m.upload_time());
            match door {
                Some(door) => {
                    let mut rx = d.recorder.decisions.subscribe();
                    present().await;
                    match await_decision(&mut rx, door.id.as_str(), within).await {
                        Some(r) => Ok(serde_json::to_value(r).unwrap_or_default()),
                        None => Err(Refusal {
                            code: ErrorCode::Unavailable,
                            message: format!("door {} gave no decision within {} s", door.id, within.as_secs()),
                        }),
                    }
                }
                None => {
                    present().await;
                    Ok(serde_json::json!({"presented": reader}))
                }
            }
        }
        SimCommand::PresentPalm { reader, body, hand } => {
            if hand != "left" && hand != "right" {
                return Err(Refusal::bad(format!("hand {hand:?}: say left or right")));
            }
            let h = sim.reader(&reader)?;
            let attempt = sim.attempts.fetch_add(1, Ordering::Relaxed);
            present_palm(d, h, &reader, sim.population.palm_impression(&body, &hand, attempt)).await
        }
        SimCommand::Walk { door, hold_ms } => {
            let walked = sim.door(&door)?.walk_through(Duration::from_millis(hold_ms));
            Ok(serde_json::json!({"walked_through": walked}))
        }
        SimCommand::Open { door } => {
            sim.door(&door)?.open();
            Ok(serde_json::json!({"open": door}))
        }
        SimCommand::Close { door } => {
            sim.door(&door)?.close();
            Ok(serde_json::json!({"closed": door}))
        }
        SimCommand::Force { door } => {
            sim.door(&door)?.force_open();
            Ok(serde_json::json!({"forced": door}))
        }
        SimCommand::Card { door, number } => {
            let n: u64 = number.trim().parse().map_err(|_| {
                Refusal::bad(format!("card number {number:?}: the decimal number printed on the card (カード番号)"))
            })?;
            let h = sim.door(&door)?;
            if d.site.doors.iter().find(|x| x.id.as_str() == door).map(|x| x.auth)
                != Some(tobira_core::authmode::AuthMode::CardAndBiometric)
            {
                return Err(Refusal::bad(format!(
                    "door {door} does not take cards: its auth (認証方式) is not \"card+biometric\""
                )));
            }
            let mut rx = d.recorder.decisions.subscribe();
            h.present_card(n);
            // The door answers: CARD_ACCEPTED (the holder's finger is next), or a refusal (UNKNOWN_CARD).
            match await_decision(&mut rx, &door, Duration::from_secs(10)).await {
                Some(r) => Ok(serde_json::to_value(r).unwrap_or_default()),
                None => Err(Refusal {
                    code: ErrorCode::Unavailable,
                    message: format!("door {door} did not answer the card within 10 s (is it a card+biometric door?)"),
                }),
            }
        }
        SimCommand::Rex { door } => {
            sim.door(&door)?.press_rex();
            Ok(serde_json::json!({"rex": door}))
        }
        SimCommand::Unplug { device } => {
            if let Some(m) = sim.r30x.get(&ReaderId::new(&device)) {
                m.module().unplug();
            } else if let Ok(h) = sim.reader(&device) {
                h.unplug();
            } else {
                sim.controllers
                    .get(&ControllerId::new(&device))
                    .ok_or_else(|| Refusal::not_found(format!("no simulated device {device:?}")))?
                    .unplug();
            }
            Ok(serde_json::json!({"unplugged": device}))
        }
        SimCommand::Replug { device } => {
            if let Some(m) = sim.r30x.get(&ReaderId::new(&device)) {
                m.module().replug();
            } else if let Ok(h) = sim.reader(&device) {
                h.replug();
            } else {
                sim.controllers
                    .get(&ControllerId::new(&device))
                    .ok_or_else(|| Refusal::not_found(format!("no simulated device {device:?}")))?
                    .replug();
            }
            Ok(serde_json::json!({"replugged": device}))
        }
        SimCommand::Clear { reader } => match sim.r30x.get(&ReaderId::new(&reader)) {
            Some(m) => Ok(serde_json::json!({"cleared": m.clear().await})),
            None => Ok(serde_json::json!({"cleared": sim.reader(&reader)?.clear()})),
        },
        SimCommand::Garble { reader } => {
            if let Some(m) = sim.r30x.get(&ReaderId::new(&reader)) {
                m.module().garble_next();
            } else if let Ok(h) = sim.reader(&reader) {
                h.garble_next();
            } else {
                sim.controllers
                    .get(&ControllerId::new(&reader))
                    .ok_or_else(|| Refusal::not_found(format!("no simulated device {reader:?}")))?
                    .garble_next();
            }
            Ok(serde_json::json!({"garbled": reader}))
        }
        SimCommand::Silence { device } => {
            if let Some(m) = sim.r30x.get(&ReaderId::new(&device)) {
                // On the line a silent module and a pulled cable look the same: nothing comes back.
                m.module().unplug();
            } else if let Ok(h) = sim.reader(&device) {
                h.silence();
            } else {
                sim.controllers
                    .get(&ControllerId::new(&device))
                    .ok_or_else(|| Refusal::not_found(format!("no simulated device {device:?}")))?
                    .silence();
            }
            Ok(serde_json::json!({"silenced": device}))
        }
        SimCommand::Late { device, ms } => {
            let late = (ms > 0).then(|| Duration::from_millis(ms));
            if let Some(m) = sim.r30x.get(&ReaderId::new(&device)) {
                m.module().answer_late(late);
            } else if let Some(c) = sim.controllers.get(&ControllerId::new(&device)) {
                c.answer_late(late);
            } else {
                sim.reader(&device)?.answer_late(late.is_some());
            }
            Ok(serde_json::json!({"late_ms": ms, "device": device}))
        }
        SimCommand::AuditUnwritable { on } => {
            d.stores
                .writer
                .set_unwritable(on)
                .await
                .map_err(|e| Refusal { code: ErrorCode::Internal, message: e.to_string() })?;
            Ok(serde_json::json!({"audit_unwritable": on}))
        }
        SimCommand::Clock { at } => {
            let t = at.as_deref().map(|s| parse_time(d, "at", s)).transpose()?;
            d.clock.set(t);
            Ok(serde_json::json!({"now": d.now()}))
        }
        SimCommand::Tick => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(serde_json::json!({"now": d.now()}))
        }
        SimCommand::Door { door } => {
            let h = sim.door(&door)?;
            Ok(
                serde_json::json!({"door": door, "relay_energised": h.relay_energised(), "pulses": h.pulses(), "relocks": h.relocks(), "feedback": format!("{:?}", h.feedback_log().last())}),
            )
        }
        _ => Err(Refusal::bad("unknown simulator command")),
    }
}

/// A palm held over a simulated reader; at a door reader, waits for the door's decision (as `Present` does for
/// a finger) so the caller sees it.
async fn present_palm(
    d: &Daemon,
    h: &SimReaderHandle,
    reader: &str,
    sample: tobira_drivers::Sample,
) -> Result<serde_json::Value, Refusal> {
    let door =
        d.site.doors.iter().find(|x| {
            x.entry_reader.as_str() == reader || x.exit_reader.as_ref().is_some_and(|e| e.as_str() == reader)
        });
    let Some(door) = door else {
        h.present(sample);
        return Ok(serde_json::json!({"presented": reader, "modality": "palm"}));
    };
    let mut rx = d.recorder.decisions.subscribe();
    h.present(sample);
    match await_decision(&mut rx, door.id.as_str(), Duration::from_secs(10)).await {
        Some(r) => Ok(serde_json::to_value(r).unwrap_or_default()),
        None => Err(Refusal {
            code: ErrorCode::Unavailable,
            message: format!("door {} gave no decision within 10 s", door.id),
        }),
    }
}

/// Simulation only: what was presented at `readers` and not read is taken away, so a refused or timed-out
/// command leaves no touch queued that the next person's proof would read as theirs (issue 22 §5). A real
/// reader has nothing queued: a finger lifted is gone.
pub async fn forget_touches(d: &Daemon, readers: &[String]) {
    if let Some(sim) = &d.devices.sim {
        sim.forget_touches(readers).await;
    }
}
