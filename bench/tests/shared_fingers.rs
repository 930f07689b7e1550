//! FVC2000 DB1 and DB2 hold the same ten fingers under the same numbers (`bench/src/cross_sensor.rs`,
//! `SAME_FINGERS`): the 1:N bench counts a probe found through its finger's enrolment on the other sensor as
//! found, and prints cross-sensor figures for the pair. If that stops being true of the images the bench is
//! given — another copy of the sets, renumbered fingers — the bench would call a stranger the right person,
//! so this checks it on the prints themselves, with a control pair of sets that share nothing.
//!
//! Needs the real FVC images (../shared/datasets): loud when missing, a failure in CI. Cost: 50 extractions.

mod common;

use std::path::PathBuf;
use tobira_biometrics::image::extract_minutiae;
use tobira_biometrics::{Prepared, compare};

fn set_dir(set: &str) -> Option<PathBuf> {
    Some(common::shared("datasets", "TOBIRA_DATASETS", "shared fingers are")?.join("fingerprint").join(set))
}

/// Fingers 101–110, the given impressions: (finger, template in the matcher's form).
fn prints(set: &str, impressions: &[u32]) -> Option<Vec<(u32, Prepared)>> {
    let dir = set_dir(set)?;
    let mut out = Vec::new();
    for f in 101..=110 {
        for i in impressions {
            let p = dir.join(format!("{f}_{i}.tif"));
            out.push((f, Prepared::new(&extract_minutiae(&common::fvc_image(&p)).0)));
        }
    }
    Some(out)
}

/// Of the pairs with the same finger number, how many score above every pair with different numbers.
fn same_number_above_all_others(a: &[(u32, Prepared)], b: &[(u32, Prepared)]) -> (usize, usize, f32) {
    let (mut same, mut highest_other) = (Vec::new(), 0f32);
    for (fa, pa) in a {
        for (fb, pb) in b {
            let s = compare(pa, pb).0;
            if fa == fb {
                same.push(s);
            } else {
                highest_other = highest_other.max(s);
            }
        }
    }
    (same.iter().filter(|s| **s > highest_other).count(), same.len(), highest_other)
}

#[test]
fn fvc2000_db1_and_db2_hold_the_same_fingers_and_db3_does_not() {
    let (Some(db1), Some(db2), Some(db3)) =
        (prints("FVC2000_DB1_B", &[1, 2]), prints("FVC2000_DB2_B", &[1, 2]), prints("FVC2000_DB3_B", &[1]))
    else {
        return;
    };
    // Measured when written: 510 of all 640 same-number pairs score 0.1 or more, none of the 5,760 others.
    let (above, of, other) = same_number_above_all_others(&db1, &db2);
    eprintln!("DB1 against DB2: {above} of {of} same-number pairs above every other pair ({other:.3})");
    assert!(
        above * 4 >= of * 3,
        "DB1 against DB2: only {above} of {of} same-number pairs score above every other pair ({other:.3}) — \
         they no longer look like the same fingers, so cross_sensor::SAME_FINGERS is wrong for these images"
    );
    // The control: sets of different people are strangers finger for finger.
    let (above, of, other) = same_number_above_all_others(&db1, &db3);
    eprintln!("DB1 against DB3: {above} of {of} same-number pairs above every other pair ({other:.3})");
    assert!(
        above * 5 <= of,
        "DB1 against DB3: {above} of {of} same-number pairs score above every other pair ({other:.3}) — the test \
         no longer tells shared fingers from strangers"
    );
}
