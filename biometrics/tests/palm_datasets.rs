//! The palm pipeline on real sensors' images (../shared/datasets, never copied into the repository): region
//! extraction on every CASIA whole-hand image, and an accuracy guard on PolyU's cross-session pairs with the
//! CompCode baseline's figures beside ours. Prints the figures. Missing data is loud: a warning on a
//! developer machine, a failure in CI.

use std::path::{Path, PathBuf};
use tobira_biometrics::palm::baseline::{compcode_compare, compcode_extract};
use tobira_biometrics::palm::degrade::{self, CONDITIONS, Condition};
use tobira_biometrics::palm::eval::rates;
use tobira_biometrics::palm::matcher::{MAX_SHIFT, calibrate, calibration, compare_raw};
use tobira_biometrics::palm::texture::{looks_like_fingerprint, ridge_evidence};
use tobira_biometrics::palm::{
    PalmError, PalmTemplate, PalmThreshold, compare, extract_file_bytes, extract_image, extract_region,
};

mod common;

fn datasets() -> Option<PathBuf> {
    common::datasets("palm", "the palm checks are")
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        walk(dir).into_iter().filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext)).collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

#[test]
fn casia_whole_hands_give_a_palm_region() {
    let Some(root) = datasets() else { return };
    let images = files(&root.join("palm/CASIA_MS_940_fullhand"), "jpg");
    assert_eq!(images.len(), 18, "3 subjects × 6 samples");
    let mut found = 0;
    for p in &images {
        match extract_file_bytes(&std::fs::read(p).unwrap()) {
            Ok(x) => {
                assert!(x.roi.is_some(), "{}: a whole hand goes through the region step", p.display());
                found += 1;
            }
            Err(e) => eprintln!("{}: {e}", p.display()),
        }
    }
    println!("CASIA_MS_940_fullhand: ROI found on {found}/{} images", images.len());
    assert_eq!(found, images.len());
}

/// PolyU identity and session from `PPP/S_NN_s.bmp`.
fn polyu_id(p: &Path) -> (String, u8) {
    let palm = p.parent().and_then(|d| d.file_name()).and_then(|n| n.to_str()).unwrap_or("").to_string();
    let session = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.bytes().next()).unwrap_or(b'0') - b'0';
    (palm, session)
}

#[test]
fn polyu_cross_session_accuracy_guard() {
    let Some(root) = datasets() else { return };
    let images = files(&root.join("palm/PolyU_MS_NIR_ROI"), "bmp");
    assert_eq!(images.len(), 72, "6 palms × 2 sessions × 6 samples");
    let mut ours = Vec::new();
    let mut cc = Vec::new();
    for p in &images {
        let img = image::load_from_memory(&std::fs::read(p).unwrap()).unwrap().into_luma8();
        let (w, h) = (img.width() as usize, img.height() as usize);
        ours.push(extract_region(img.as_raw(), w, h).ok());
        cc.push(compcode_extract(img.as_raw(), w, h).ok());
    }
    let fte = ours.iter().filter(|t| t.is_none()).count();
    let (mut gx, mut gx_cc, mut imp, mut imp_cc) = (vec![], vec![], vec![], vec![]);
    for i in 0..images.len() {
        for j in i + 1..images.len() {
            let (a, b) = (polyu_id(&images[i]), polyu_id(&images[j]));
            let s = match (&ours[i], &ours[j]) {
                (Some(x), Some(y)) => compare(x, y).0,
                _ => 0.0,
            };
            let c = match (&cc[i], &cc[j]) {
                (Some(x), Some(y)) => compcode_compare(x, y).0,
                _ => 0.0,
            };
            if a.0 == b.0 {
                if a.1 != b.1 {
                    gx.push(s);
                    gx_cc.push(c);
                }
            } else {
                imp.push(s);
                imp_cc.push(c);
            }
        }
    }
    let (mut gx_raw, mut imp_raw) = (vec![], vec![]);
    for i in 0..images.len() {
        for j in i + 1..images.len() {
            let (a, b) = (polyu_id(&images[i]), polyu_id(&images[j]));
            let (Some(x), Some(y)) = (&ours[i], &ours[j]) else { continue };
            let s = compare_raw(x, y, MAX_SHIFT).0;
            if a.0 != b.0 {
                imp_raw.push(s);
            } else if a.1 != b.1 {
                gx_raw.push(s);
            }
        }
    }
    let (r, rc) = (rates(&gx, &imp), rates(&gx_cc, &imp_cc));
    let margin =
        |g: &[f32], i: &[f32]| g.iter().copied().fold(1.0f32, f32::min) - i.iter().copied().fold(0.0f32, f32::max);
    println!(
        "PolyU_MS_NIR_ROI cross-session ({} genuine, {} impostor), failure to enrol {fte}/72:\n  ours     EER {:.3} % FMR1000 {:.3} % margin {:.3}\n  CompCode EER {:.3} % FMR1000 {:.3} % margin {:.3}",
        r.genuine,
        r.impostor,
        r.eer,
        r.fmr1000,
        margin(&gx, &imp),
        rc.eer,
        rc.fmr1000,
        margin(&gx_cc, &imp_cc)
    );
    println!("  ours before normalisation (raw similarity): margin {:.3}", margin(&gx_raw, &imp_raw));
    // Measured at 0.000 % with a margin of 0.156 between the lowest genuine and highest impostor score
    // (0.327 before normalisation; CompCode: 0.000 %, 0.226). The guard leaves room for platform float
    // differences, not for a regression.
    assert_eq!(fte, 0);
    assert!(r.eer <= 0.5, "cross-session EER {:.3} %", r.eer);
    assert!(margin(&gx, &imp) > 0.1, "genuine and impostor scores now overlap or nearly do");
    assert!(margin(&gx_raw, &imp_raw) > 0.2, "raw similarity: genuine and impostor scores now overlap or nearly do");
}

/// Centre crop of a `w`×`h` image (`side` no larger than either).
fn crop(px: &[u8], w: usize, h: usize, side: usize) -> Vec<u8> {
    let (x0, y0) = ((w - side) / 2, (h - side) / 2);
    (y0..y0 + side).flat_map(|y| px[y * w + x0..y * w + x0 + side].to_vec()).collect()
}

/// Issue 4's bad input on real sensors' prints: every FVC image, whole and as 128² and 256² centre crops
/// (the size of a palm region) is refused — never a template, so never a match. Before the ridge check 726
/// of these 1,120 became palm templates: every crop, and 6 whole prints whose outline passed for a hand.
/// And no real palm is taken for a fingerprint: the highest ridge evidence of the PolyU crops and CASIA
/// hands is printed beside.
#[test]
fn real_fingerprints_are_refused_as_palms_and_no_palm_is_taken_for_one() {
    let Some(root) = datasets() else { return };
    let fp = root.join("fingerprint");
    let mut sets = 0;
    for set in ["FVC2000_DB1_B", "FVC2000_DB2_B", "FVC2000_DB3_B", "FVC2000_DB4_B_synthetic", "FVC2002_DB1_B"] {
        let dir = fp.join(set);
        if !dir.is_dir() {
            let msg = format!("!!! fingerprint set {} missing: not checked as bad palm input", dir.display());
            assert!(std::env::var_os("CI").is_none(), "{msg}");
            eprintln!("{msg}");
            continue;
        }
        sets += 1;
        let (mut tried, mut as_fingerprint) = (0, 0);
        for p in files(&dir, "tif") {
            let img = image::load_from_memory(&std::fs::read(&p).unwrap()).unwrap().into_luma8();
            let (w, h) = (img.width() as usize, img.height() as usize);
            let px = img.as_raw();
            let mut inputs = vec![(px.clone(), w, h), (crop(px, w, h, 128), 128, 128)];
            if w >= 256 && h >= 256 {
                inputs.push((crop(px, w, h, 256), 256, 256));
            }
            for (q, qw, qh) in inputs {
                tried += 1;
                match extract_image(&q, qw, qh) {
                    Ok(_) => panic!("{} ({qw}x{qh}) became a palm template", p.display()),
                    Err(PalmError::Fingerprint { .. }) => as_fingerprint += 1,
                    Err(_) => {}
                }
            }
        }
        println!("{set}: {tried} images and crops offered as palms, all refused ({as_fingerprint} as fingerprints)");
    }
    assert!(sets > 0, "no fingerprint set found under {}", fp.display());
    let mut worst = (0.0f32, f32::MIN);
    let mut palms = 0;
    for p in files(&root.join("palm/PolyU_MS_NIR_ROI"), "bmp")
        .iter()
        .chain(&files(&root.join("palm/CASIA_MS_940_fullhand"), "jpg"))
    {
        let img = image::load_from_memory(&std::fs::read(p).unwrap()).unwrap().into_luma8();
        let e = ridge_evidence(img.as_raw(), img.width() as usize, img.height() as usize);
        assert!(!looks_like_fingerprint(&e), "{} taken for a fingerprint: {e:?}", p.display());
        worst = (worst.0.max(e.ridge_share), worst.1.max(e.periodicity));
        palms += 1;
    }
    println!("{palms} real palms: highest ridge share {:.3}, highest median periodicity {:.3}", worst.0, worst.1);
    assert_eq!(palms, 90);
}

// ---- Issue 17 §3: quality gate, score normalisation, calibration across sets, fingertips at the edge ----

/// A development image with its identity.
struct Img {
    id: String,
    px: Vec<u8>,
    w: usize,
    h: usize,
}

fn load_set(root: &Path, set: &str) -> Vec<Img> {
    let dir = root.join("palm").join(set);
    let ext = if set.starts_with("PolyU") { "bmp" } else { "jpg" };
    files(&dir, ext)
        .into_iter()
        .map(|p| {
            let img = image::load_from_memory(&std::fs::read(&p).unwrap()).unwrap().into_luma8();
            let id = if ext == "bmp" {
                polyu_id(&p).0
            } else {
                p.file_name().and_then(|n| n.to_str()).unwrap_or("")[..3].to_string()
            };
            Img { id, w: img.width() as usize, h: img.height() as usize, px: img.into_raw() }
        })
        .collect()
}

fn templates(set: &[Img], c: Condition) -> Vec<Result<PalmTemplate, PalmError>> {
    set.iter()
        .map(|i| c.apply(&i.px, i.w, i.h).and_then(|px| extract_image(&px, i.w, i.h)).map(|x| x.template))
        .collect()
}

/// Impostor and genuine scores (normalised, raw) of the pairs of enrolled templates.
#[derive(Default)]
struct Scores {
    imp: Vec<f32>,
    gen_s: Vec<f32>,
    imp_raw: Vec<f32>,
}

fn scores(set: &[Img], t: &[Result<PalmTemplate, PalmError>]) -> Scores {
    let mut s = Scores::default();
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            let (Ok(a), Ok(b)) = (&t[i], &t[j]) else { continue };
            if set[i].id == set[j].id {
                s.gen_s.push(compare(a, b).0);
            } else {
                s.imp.push(compare(a, b).0);
                s.imp_raw.push(compare_raw(a, b, MAX_SHIFT).0);
            }
        }
    }
    s
}

/// The false-match rate a normal fit of `imp` gives at `t`.
fn normal_fit(imp: &[f32], t: f32) -> f64 {
    let n = imp.len().max(1) as f64;
    let m = imp.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
    let sd = (imp.iter().map(|v| (f64::from(*v) - m).powi(2)).sum::<f64>() / n).sqrt().max(1e-9);
    // Upper tail by the complementary error function (Abramowitz–Stegun 7.1.26; ample for a ratio).
    let z = (f64::from(t) - m) / sd / std::f64::consts::SQRT_2;
    let u = 1.0 / (1.0 + 0.327_591_1 * z.abs());
    let e = u
        * (0.254_829_592 + u * (-0.284_496_736 + u * (1.421_413_741 + u * (-1.453_152_027 + u * 1.061_405_429))))
        * (-z * z).exp();
    0.5 * if z >= 0.0 { e } else { 2.0 - e }
}

/// Poor captures of real palms (issue 17 §3), made from the development images: heavy JPEG and a nearly flat
/// frame never become templates; what the gate lets through (blurred, veins at a fifth or a tenth of their
/// contrast, JPEG quality 30) never reaches the configured threshold against another person — among
/// themselves or against the recorded captures. Before the gate and the normalisation, PolyU crops at JPEG
/// quality 5 enrolled 41 of 72 and two of them scored 0.58 against each other (threshold then 0.33).
#[test]
fn poor_captures_of_real_palms_are_refused_or_never_match_strangers() {
    let Some(root) = datasets() else { return };
    let th = PalmThreshold::default();
    for set in ["PolyU_MS_NIR_ROI", "CASIA_MS_940_fullhand"] {
        let imgs = load_set(&root, set);
        let recorded = templates(&imgs, Condition::AsRecorded);
        for c in CONDITIONS.iter().skip(1) {
            let t = templates(&imgs, *c);
            let enrolled = t.iter().filter(|x| x.is_ok()).count();
            if matches!(c, Condition::Jpeg(q) | Condition::TextureJpeg(_, q) if *q <= 10)
                || matches!(c, Condition::Flat(_))
            {
                assert_eq!(enrolled, 0, "{set}, {c}: {enrolled} templates");
            }
            for e in t.iter().filter_map(|x| x.as_ref().err()) {
                assert!(
                    matches!(
                        e,
                        PalmError::Blocky { .. }
                            | PalmError::LowContrast { .. }
                            | PalmError::LowQuality { .. }
                            | PalmError::Blank { .. }
                            | PalmError::KeyPoints(_)
                            | PalmError::NoHand(_)
                    ),
                    "{set}, {c}: {e}"
                );
            }
            let mut worst = 0f32;
            for i in 0..t.len() {
                let Ok(a) = &t[i] else { continue };
                for j in 0..t.len() {
                    if imgs[i].id == imgs[j].id {
                        continue;
                    }
                    for b in [&t[j], &recorded[j]].into_iter().flatten() {
                        worst = worst.max(compare(a, b).0);
                    }
                }
            }
            println!("{set}, {c}: enrolled {enrolled}/{}, highest score against another person {worst:.3}", t.len());
            assert!(!th.accepts(tobira_biometrics::Score(worst)), "{set}, {c}: a stranger scored {worst:.3}");
        }
    }
}

/// The configured calibration table is what [`calibrate`] gives on PolyU's impostor pairs over every capture
/// condition (matcher::CALIBRATION's documentation): re-derive it here when the pipeline changes.
#[test]
fn the_palm_calibration_table_is_recomputed_from_polyu() {
    let Some(root) = datasets() else { return };
    let imgs = load_set(&root, "PolyU_MS_NIR_ROI");
    let mut imp = Vec::new();
    for c in CONDITIONS {
        imp.extend(scores(&imgs, &templates(&imgs, c)).imp);
    }
    let fresh = calibrate(&imp);
    println!("PolyU, {} impostor pairs over {} conditions: {fresh:?}", imp.len(), CONDITIONS.len());
    for ((f, a), (_, b)) in fresh.iter().zip(calibration()) {
        assert!((a - b).abs() <= 0.0011, "FMR {f:e}: recomputed {a:.3}, configured {b:.3}");
    }
}

/// The normalisation (issue 17 §3): a threshold fitted to clean captures alone — how the old one was made —
/// drifts far less on the same sensor's low-contrast captures with the normalised score than with the raw
/// similarity. Measured (normal fit, target 1e-4): veins at a fifth of their contrast 2.3e-3 against 1.5e-2
/// raw, at a tenth 3.1e-3 against 4.6e-2.
#[test]
fn thresholds_fitted_to_clean_captures_drift_less_on_poor_ones() {
    let Some(root) = datasets() else { return };
    let imgs = load_set(&root, "PolyU_MS_NIR_ROI");
    let clean = scores(&imgs, &templates(&imgs, Condition::AsRecorded));
    let (t, t_raw) = (calibrate(&clean.imp)[2].1, calibrate(&clean.imp_raw)[2].1);
    for c in [Condition::Texture(0.2), Condition::Texture(0.1)] {
        let s = scores(&imgs, &templates(&imgs, c));
        let (ours, raw) = (normal_fit(&s.imp, t), normal_fit(&s.imp_raw, t_raw));
        println!("PolyU, {c}: FMR at the clean-capture threshold (normal fit): ours {ours:.1e}, raw {raw:.1e}");
        assert!(ours * 4.0 <= raw, "{c}: normalised {ours:.1e} is not well below raw {raw:.1e}");
        assert!(ours < 1e-2, "{c}: {ours:.1e}");
    }
}

/// Calibrated on PolyU, checked on CASIA (another sensor, whole hands, never used to calibrate), every
/// capture condition pooled: no impostor reaches the configured threshold and the normal fit stays within
/// twice the target. The reverse (a threshold fitted to CASIA, on PolyU) does not hold — 1.8e-3 — and is
/// printed, not asserted: PolyU's palms agree with each other more than CASIA's (README, palm section).
#[test]
fn the_polyu_threshold_holds_on_casia() {
    let Some(root) = datasets() else { return };
    let th = PalmThreshold::default();
    let pooled = |set: &str| {
        let imgs = load_set(&root, set);
        let mut all = Scores::default();
        for c in CONDITIONS {
            let s = scores(&imgs, &templates(&imgs, c));
            all.imp.extend(s.imp);
            all.gen_s.extend(s.gen_s);
        }
        all
    };
    let casia = pooled("CASIA_MS_940_fullhand");
    let over = casia.imp.iter().filter(|s| th.accepts(tobira_biometrics::Score(**s))).count();
    let under = casia.gen_s.iter().filter(|s| !th.accepts(tobira_biometrics::Score(**s))).count();
    let fit = normal_fit(&casia.imp, th.value());
    println!(
        "CASIA at the PolyU threshold {:.3}: FMR {over}/{} (normal fit {fit:.1e}), FNMR {under}/{}",
        th.value(),
        casia.imp.len(),
        casia.gen_s.len()
    );
    assert_eq!(over, 0);
    assert!(fit <= 2.0 * th.fmr(), "normal fit {fit:.1e}");
    let polyu = pooled("PolyU_MS_NIR_ROI");
    let t_casia = calibrate(&casia.imp)[2].1;
    println!(
        "  reverse: CASIA's threshold {t_casia:.3} on PolyU: normal fit {:.1e} (not asserted)",
        normal_fit(&polyu.imp, t_casia)
    );
}

/// Issue 17 §3: whole hands cropped so that a fingertip is cut by the frame's edge keep their region — the
/// same one: each cropped capture matches its uncropped self. All 18 were refused before (11 as "cut off",
/// 7 because the cut fingertip was taken for the wrist).
#[test]
fn casia_hands_cropped_to_a_fingertip_keep_their_region() {
    let Some(root) = datasets() else { return };
    let th = PalmThreshold::default();
    let imgs = load_set(&root, "CASIA_MS_940_fullhand");
    for (k, i) in imgs.iter().enumerate() {
        let whole = extract_image(&i.px, i.w, i.h).unwrap().template;
        for bite in [2, 6, 20] {
            let (px, w, h) =
                degrade::crop_to_fingertip(&i.px, i.w, i.h, bite).expect("the uncropped hand has key points");
            assert!(w < i.w || h < i.h, "image {k}: nothing cropped");
            let t = extract_image(&px, w, h).unwrap_or_else(|e| panic!("image {k}, bite {bite}: {e}")).template;
            let s = compare(&t, &whole);
            assert!(th.accepts(s), "image {k}, bite {bite}: {:.3} against the uncropped capture", s.0);
        }
    }
}
