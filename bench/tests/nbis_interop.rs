//! ISO/IEC 19794-2:2005 interoperability with the NIST reference as `nbis-rs` writes and reads it (issue 3
//! §3): its records decode with our reader, ours load into it, and on the same image our minutiae stand
//! where mindtct's do and point the same way (the direction convention the record carries).
//! Needs the real FVC images (../shared/datasets): loud when they are missing, a failure in CI.

use std::path::PathBuf;
use tobira_biometrics::MinutiaKind;
use tobira_biometrics::image::{GrayImage, extract_minutiae};
use tobira_biometrics::iso19794_2;

mod common;

/// Three images of each real set; a missing one inside a present datasets directory is a failure naming it.
fn images() -> Option<Vec<PathBuf>> {
    let root = common::shared("datasets", "TOBIRA_DATASETS", "interop is")?;
    let sets = ["FVC2000_DB1_B", "FVC2000_DB2_B", "FVC2000_DB3_B", "FVC2002_DB1_B"];
    let paths: Vec<PathBuf> = sets
        .iter()
        .flat_map(|s| ["101_1.tif", "104_3.tif", "108_6.tif"].map(|f| root.join("fingerprint").join(s).join(f)))
        .collect();
    if let Some(p) = paths.iter().find(|p| !p.is_file()) {
        panic!("{}: missing from the datasets", p.display());
    }
    Some(paths)
}

fn turn_diff(a: f64, b: f64) -> f64 {
    let d = (a - b).rem_euclid(360.0);
    d.min(360.0 - d)
}

/// NBIS keeps its state in C globals (`bench/src/nist.rs`): the two tests take turns.
static NBIS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn nist_records_decode_with_our_reader() {
    let _turn = NBIS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(paths) = images() else { return };
    for p in paths {
        let bytes = std::fs::read(&p).unwrap();
        let nist = nbis::extract_minutiae(&bytes, Some(500.0)).unwrap();
        let record = nist.to_iso_19794_2_2005();
        let ours = iso19794_2::decode(&record).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let theirs = nist.get();
        assert_eq!(ours.minutiae.len(), theirs.len(), "{}", p.display());
        assert_eq!(ours.resolution_dpi, 500, "197 px/cm is 500 dpi");
        for (a, b) in ours.minutiae.iter().zip(&theirs) {
            assert_eq!((i32::from(a.x), i32::from(a.y)), (b.x(), b.y()), "{}", p.display());
            let deg = f64::from(a.angle) * 360.0 / 256.0;
            assert!(turn_diff(deg, b.angle()) <= 1.0, "{}: {deg} vs {}", p.display(), b.angle());
            let kind =
                if b.kind() == nbis::MinutiaKind::Bifurcation { MinutiaKind::Bifurcation } else { MinutiaKind::Ending };
            assert_eq!(a.kind, kind);
        }
    }
}

#[test]
fn our_records_load_into_nist_and_agree_with_mindtct() {
    let _turn = NBIS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(paths) = images() else { return };
    let (mut paired, mut total, mut diffs) = (0usize, 0usize, Vec::new());
    for p in paths {
        let bytes = std::fs::read(&p).unwrap();
        let img = GrayImage::decode(&bytes, 500).unwrap();
        let (ours, _) = extract_minutiae(&img);
        let loaded = nbis::load_iso_19794_2_2005(&iso19794_2::encode(&ours))
            .unwrap_or_else(|e| panic!("{}: nbis refused our record: {e:?}", p.display()));
        let back = loaded.get();
        assert_eq!(back.len(), ours.minutiae.len(), "{}", p.display());
        for (a, b) in ours.minutiae.iter().zip(&back) {
            assert_eq!((i32::from(a.x), i32::from(a.y)), (b.x(), b.y()), "{}", p.display());
        }
        // Same image through mindtct: where both found a minutia, the directions agree.
        let nist = nbis::extract_minutiae(&bytes, Some(500.0)).unwrap().get();
        for m in &ours.minutiae {
            total += 1;
            let near = nist
                .iter()
                .map(|n| (f64::from(n.x() - i32::from(m.x)).hypot(f64::from(n.y() - i32::from(m.y))), n))
                .filter(|(d, _)| *d <= 6.0)
                .min_by(|a, b| a.0.total_cmp(&b.0));
            if let Some((_, n)) = near {
                paired += 1;
                diffs.push(turn_diff(f64::from(m.angle) * 360.0 / 256.0, n.angle()));
            }
        }
    }
    diffs.sort_by(f64::total_cmp);
    let median = diffs[diffs.len() / 2];
    println!(
        "{paired} of our {total} minutiae within 6 px of one of mindtct's; median direction difference {median:.1}°"
    );
    assert!(paired * 3 >= total, "too few shared minutiae: {paired}/{total}");
    assert!(median < 20.0, "directions disagree (convention?): median {median:.1}°");
}
