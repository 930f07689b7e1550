//! The simulator's palms as the matcher sees them: a simulated body's palm matches its own later impressions
//! and not their other hand or other people, in-process and through the reference palm bridge. Here rather
//! than in tobira-drivers' tests so the drivers never link the matcher (issue 20: `cargo tree -p
//! tobira-drivers` shows no `tobira-biometrics`).

use std::time::Duration;
use tobira_biometrics::palm::{PalmTemplate, PalmThreshold, compare, extract_palm};
use tobira_drivers::palm_bridge::codec::Hand;
use tobira_drivers::palm_bridge::sim::{Presentation, SIDE, SimBridge};
use tobira_drivers::palm_bridge::{PalmBridgeConfig, PalmBridgeReader};
use tobira_drivers::sim::population::SimPopulation;
use tobira_drivers::{Reader, Sample};

#[test]
fn a_palm_matches_its_own_body_and_hand_only() {
    let p = SimPopulation::default();
    let t = |key: &str, hand: &str, attempt: u64| extract_palm(&p.palm_impression(key, hand, attempt)).unwrap();
    assert_ne!(p.palm_pixels("tanaka", "right", 1), p.palm_pixels("tanaka", "right", 2), "fresh impressions");
    let th = PalmThreshold::default();
    let reference = t("tanaka", "right", 1);
    for attempt in 2..6 {
        assert!(th.accepts(compare(&reference, &t("tanaka", "right", attempt))), "own palm, attempt {attempt}");
    }
    for (key, hand) in [("tanaka", "left"), ("sato", "right"), ("ito", "right"), ("sato", "left")] {
        let s = compare(&reference, &t(key, hand, 1));
        assert!(!th.accepts(s), "{key}'s {hand} palm matched tanaka's right: {s:?}");
    }
}

/// One capture of `body`'s right palm through the bridge, as a template.
async fn capture(bridge: &SimBridge, r: &PalmBridgeReader, body: &str) -> PalmTemplate {
    bridge.present(Presentation::Hand { body: body.into(), hand: Hand::Right });
    let Sample::PalmNir { pixels, .. } = r.next_sample().await.unwrap() else { panic!("not a palm image") };
    let s = Sample::PalmNir { width: SIDE, height: SIDE, dpi: 100, wavelength_nm: 850, pixels };
    extract_palm(&s).unwrap()
}

#[tokio::test]
async fn the_palm_bridge_delivers_veins_that_match_their_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("palm.sock");
    let bridge = SimBridge::new();
    let server = tokio::spawn(bridge.clone().serve(tokio::net::UnixListener::bind(&sock).unwrap()));
    let mut cfg = PalmBridgeConfig::new(&sock);
    cfg.capture_timeout = Duration::from_secs(2);
    let r = PalmBridgeReader::new("palm-1", cfg);
    let (a, b, c) = (
        capture(&bridge, &r, "tanaka").await,
        capture(&bridge, &r, "tanaka").await,
        capture(&bridge, &r, "sato").await,
    );
    let th = PalmThreshold::default();
    assert!(th.accepts(compare(&a, &b)), "the same veins match");
    assert!(!th.accepts(compare(&a, &c)), "other veins do not");
    server.abort();
}
