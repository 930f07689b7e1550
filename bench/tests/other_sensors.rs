//! The development sets seen through other sensors (issue 17: the sets that judge the project come from
//! other sensors; README "Small sensors"):
//! - a smaller one: FVC2000 DB1 and DB2 through a 260×260 px window around each print (about 13×13 mm at
//!   500 dpi, an R30x module's window; `tobira-bench fingerprint --crop 260` prints the full figures beside
//!   NIST's). Nearly every window must enrol (`sample::MIN_MINUTIAE`, lowered from 12 to 10 in session 21
//!   because the floor, not the matcher, refused 4 and 2 of these 80), no stranger's window reach the 1:1
//!   threshold (`Threshold::default()`, the daemon's FMR 1e-4 point), and most genuine pairs do;
//! - one that pads its window with black: FVC2000 DB1 inside a 6 px black band (`--frame 6`), which until
//!   session 21 left no minutia on any of its 80 images. The print must give the minutiae it gives alone;
//! - a fainter one: FVC2000 DB1, already the faintest shared set, at 0.35 of its contrast (`--contrast
//!   0.35`), which until session 22 (the segmentation's absolute floor at 6 grey levels) refused 38 of its 80
//!   prints. Nearly every print must enrol, at most one stranger's comparison in a thousand reach the 1:1
//!   threshold, and most genuine pairs do;
//! - one lit unevenly: FVC2000 DB1 darkened towards its corners to half their brightness (`--vignette
//!   0.5`), the same three demands.
//!
//! Needs the real FVC images (../shared/datasets): loud when missing, a failure in CI. Cost: 340
//! extractions and 12,640 comparisons.

mod common;

use tobira_biometrics::Minutia;
use tobira_biometrics::image::{GrayImage, extract_minutiae};
use tobira_biometrics::sample::MIN_MINUTIAE;
use tobira_biometrics::{Prepared, Threshold, compare};

/// The window's side in pixels.
const SIDE: u32 = 260;

struct Figures {
    refused: usize,
    genuine: usize,
    genuine_accepted: usize,
    impostor: usize,
    impostor_over: usize,
    highest_impostor: f32,
}

/// Every image of `set` as `view` changes it (`seen` says how, for the report); every unordered pair scored;
/// a refused print takes part in its pairs with score 0, as the bench counts a failure to enrol.
fn figures(set: &str, seen: &str, view: impl Fn(&GrayImage) -> GrayImage) -> Option<Figures> {
    let dir = common::shared("datasets", "TOBIRA_DATASETS", "other sensors' enrolment and thresholds are")?
        .join("fingerprint")
        .join(set);
    let threshold = Threshold::default().value();
    let mut prints: Vec<(u32, Option<Prepared>)> = Vec::new();
    for f in 101..=110 {
        for i in 1..=8 {
            let (t, _) = extract_minutiae(&view(&common::fvc_image(&dir.join(format!("{f}_{i}.tif")))));
            prints.push((f, (t.minutiae.len() >= MIN_MINUTIAE).then(|| Prepared::new(&t))));
        }
    }
    let mut out = Figures {
        refused: prints.iter().filter(|p| p.1.is_none()).count(),
        genuine: 0,
        genuine_accepted: 0,
        impostor: 0,
        impostor_over: 0,
        highest_impostor: 0.0,
    };
    for (a, (fa, pa)) in prints.iter().enumerate() {
        for (fb, pb) in &prints[a + 1..] {
            let s = match (pa, pb) {
                (Some(x), Some(y)) => compare(x, y).0,
                _ => 0.0,
            };
            if fa == fb {
                out.genuine += 1;
                out.genuine_accepted += usize::from(s >= threshold);
            } else {
                out.impostor += 1;
                out.impostor_over += usize::from(s >= threshold);
                out.highest_impostor = out.highest_impostor.max(s);
            }
        }
    }
    eprintln!(
        "{set}, {seen}: {} of 80 refused (fewer than {MIN_MINUTIAE} minutiae); at the 1:1 threshold {threshold:.3}: \
         genuine accepted {}/{}, impostors over it {}/{} (highest {:.3})",
        out.refused, out.genuine_accepted, out.genuine, out.impostor_over, out.impostor, out.highest_impostor
    );
    Some(out)
}

#[test]
fn a_small_sensor_enrols_nearly_every_window_and_keeps_strangers_under_the_threshold() {
    for set in ["FVC2000_DB1_B", "FVC2000_DB2_B"] {
        let Some(f) = figures(set, &format!("{SIDE}×{SIDE} px windows"), |img| img.print_window(SIDE)) else {
            return;
        };
        // Session 21, with the floor at 10: 0 refused on both (with 12: 4 and 2).
        assert!(f.refused <= 1, "{set}: {} of 80 windows refused", f.refused);
        // 0 of 2,880 on both (highest 0.087 / 0.080 against 0.100): a stranger's small window is no
        // closer to the threshold than a full print's.
        assert_eq!(f.impostor_over, 0, "{set}: {} impostor pairs at the 1:1 threshold", f.impostor_over);
        // 231 and 231 of 280 (83 %; DB1 234 before session 22's segmentation floor); with the floor at 12,
        // 218 and 223.
        assert!(f.genuine_accepted * 100 >= f.genuine * 80, "{set}: {}/{}", f.genuine_accepted, f.genuine);
    }
}

#[test]
fn a_black_frame_around_the_print_changes_none_of_its_minutiae() {
    let Some(root) = common::shared("datasets", "TOBIRA_DATASETS", "extraction inside a black frame is") else {
        return;
    };
    const PX: u32 = 6;
    for f in 101..=110 {
        let p = root.join("fingerprint").join("FVC2000_DB1_B").join(format!("{f}_1.tif"));
        let img = common::fvc_image(&p);
        let framed = img.framed(PX);
        let (alone, _) = extract_minutiae(&img);
        let (inside, _) = extract_minutiae(&framed);
        let shifted: Vec<Minutia> =
            alone.minutiae.iter().map(|m| Minutia { x: m.x + PX as u16, y: m.y + PX as u16, ..*m }).collect();
        assert!(alone.minutiae.len() >= MIN_MINUTIAE, "{}: {} minutiae", p.display(), alone.minutiae.len());
        assert_eq!(
            inside.minutiae,
            shifted,
            "{}: framed {} against {}",
            p.display(),
            inside.minutiae.len(),
            alone.minutiae.len()
        );
    }
}

/// What a sensor that delivers whole prints differently must still give: at most one print of 80 refused,
/// 80 % of genuine pairs over the 1:1 threshold, and at most one impostor comparison in a thousand over it —
/// single comparisons, where a door decides on five captures fused.
fn assert_usable(f: &Figures, what: &str) {
    assert!(f.refused <= 1, "{what}: {} of 80 prints refused", f.refused);
    assert!(
        f.impostor_over * 1000 <= f.impostor,
        "{what}: {}/{} impostor pairs at the 1:1 threshold",
        f.impostor_over,
        f.impostor
    );
    assert!(f.genuine_accepted * 100 >= f.genuine * 80, "{what}: {}/{}", f.genuine_accepted, f.genuine);
}

#[test]
fn a_faint_sensor_enrols_nearly_every_print_and_keeps_strangers_under_the_threshold() {
    let Some(f) = figures("FVC2000_DB1_B", "contrast ×0.35", |img| img.with_contrast(0.35)) else { return };
    // Session 22, the floor at 2: 0 refused (at 6: 38 of 80, and 8 of 80 at ×0.5); 239 of 280 genuine pairs
    // over the threshold (85 %); 2 of 2,880 impostor pairs at 0.101 against 0.100 (over the five readings
    // of `scripts/fvc-jitter`, 2 of 14,400; five fused at a door of one, 20 of 201,600 attempts, the
    // table's 1e-4 itself).
    assert_usable(&f, "DB1 at contrast ×0.35");
}

#[test]
fn an_unevenly_lit_sensor_enrols_nearly_every_print_and_keeps_strangers_under_the_threshold() {
    let Some(f) = figures("FVC2000_DB1_B", "corners darkened to ×0.5", |img| img.vignetted(0.5)) else {
        return;
    };
    // Session 22: 0 refused, 235 of 280 genuine pairs over the 1:1 threshold, no impostor pair (highest
    // 0.097).
    assert_usable(&f, "DB1 with its corners at ×0.5");
}
