//! `tobira-bench palm`: the palm-vein pipeline on image folders (PolyU crops, CASIA whole hands), beside the
//! CompCode baseline on the same images and the same pairs, and 1:N over synthetic templates.
//!
//! Scores go to `OUTDIR/<DIRNAME>.csv` (ours) and `OUTDIR/<DIRNAME>_CompCode.csv` (the baseline), header
//! `probe,reference,score`, every unordered pair once, names relative to DIR's parent, so
//! `python3 shared/tools/eval_scores.py OUTDIR/*.csv` recomputes every printed error rate independently
//! (same definitions: `tobira_biometrics::palm::eval`). An image that fails to enrol scores 0 against
//! everything (and is counted as failure to enrol).

use anyhow::Context;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tobira_biometrics::palm::baseline::{compcode_compare, compcode_extract};
use tobira_biometrics::palm::cohort::{self, MIN_COHORT, Z_TABLE, calibrate_z, z_for_fmr};
use tobira_biometrics::palm::degrade::{self, CONDITIONS};
use tobira_biometrics::palm::eval::{Rates, rates};
use tobira_biometrics::palm::matcher::{
    CALIBRATION_FMRS, CALIBRATION_SET, MAX_SHIFT, calibrate, calibration, compare_raw,
};
use tobira_biometrics::palm::quality::{MAX_BLOCKINESS, MIN_CONTRAST};
use tobira_biometrics::palm::synthetic::{PalmNoise, SyntheticPalm};
use tobira_biometrics::palm::{
    PalmError, PalmGallery, PalmTemplate, PalmThreshold, QualityReport, ROI_SIDE, assess, compare, extract_image,
    extract_region, is_region, roi,
};

use crate::stats::{fmt, summarize};

/// Identity and (for PolyU) session, parsed like eval_scores.py does.
fn identity(name: &str) -> Option<(String, Option<u8>)> {
    let base = name.replace('\\', "/");
    let file = base.rsplit('/').next()?;
    let stem = file.rsplit_once('.')?.0;
    let parts: Vec<&str> = stem.split('_').collect();
    // PolyU: PPP/S_NN_s
    if parts.len() == 3 && parts[2] == "s" && parts[0].len() == 1 {
        let dir = base.rsplit('/').nth(1)?;
        if dir.bytes().all(|b| b.is_ascii_digit()) {
            return Some((dir.to_string(), parts[0].parse().ok()));
        }
    }
    // CASIA: SSS_l_940_NN
    if parts.len() == 4 && parts[2] == "940" {
        return Some((parts[0].to_string(), None));
    }
    // FVC: F_I
    if parts.len() == 2 {
        return Some((parts[0].to_string(), None));
    }
    None
}

fn images(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
                Some("bmp" | "jpg" | "jpeg" | "png" | "tif" | "tiff" | "pgm")
            ) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn write_png(path: &Path, w: usize, h: usize, rgb: Option<Vec<u8>>, gray: Option<Vec<u8>>) -> anyhow::Result<()> {
    if let Some(rgb) = rgb {
        image::RgbImage::from_raw(w as u32, h as u32, rgb).context("debug image size")?.save(path)?;
    } else if let Some(g) = gray {
        image::GrayImage::from_raw(w as u32, h as u32, g).context("debug image size")?.save(path)?;
    }
    Ok(())
}

fn print_rates(label: &str, r: &Rates) {
    println!(
        "  {label:<34} EER {:>7.3} %  FMR100 {:>7.3} %  FMR1000 {:>7.3} %  ZeroFMR {:>7.3} %  ({} genuine / {} impostor)",
        r.eer, r.fmr100, r.fmr1000, r.zero_fmr, r.genuine, r.impostor
    );
}

fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        if a == 0.0 { "— (both 0)".into() } else { "∞ (baseline 0)".into() }
    } else {
        format!("{:.2}", a / b)
    }
}

/// What the daemon does with these scores (issue 17 §3): the error rates at the configured 1:1 threshold
/// ([`PalmThreshold::default`], FMR 1e-4, calibrated on [`CALIBRATION_SET`]), beside the EER, which no
/// deployed threshold delivers. A set from another sensor shows here whether that calibration holds.
fn print_at_threshold(label: &str, genuine: &[f32], impostor: &[f32]) {
    let th = PalmThreshold::default();
    print_at(&format!("{label} at the 1:1 threshold {:.3}", th.value()), th.value(), th.fmr(), genuine, impostor);
}

/// The same for the raw similarity at the threshold the pipeline had before normalisation (0.33 for FMR
/// 1e-4, calibrated on PolyU as recorded): the before/after figure.
fn print_at_raw_threshold(genuine: &[f32], impostor: &[f32]) {
    print_at(&format!("raw at the old threshold {RAW_THRESHOLD:.3}"), RAW_THRESHOLD, 1e-4, genuine, impostor);
}

/// The raw similarity's 1:1 threshold before issue 17 §3 (PolyU as recorded, normal fit, FMR 1e-4).
const RAW_THRESHOLD: f32 = 0.33;

fn print_at(label: &str, value: f32, fmr: f64, genuine: &[f32], impostor: &[f32]) {
    let rejected = genuine.iter().filter(|s| **s < value).count();
    let accepted = impostor.iter().filter(|s| **s >= value).count();
    let pc = |k: usize, n: usize| if n == 0 { 0.0 } else { 100.0 * k as f64 / n as f64 };
    println!(
        "  {label:<34} FMR {:.3} % ({accepted}/{}; target {:.3} %)  FNMR {:.3} % ({rejected}/{})",
        pc(accepted, impostor.len()),
        impostor.len(),
        100.0 * fmr,
        pc(rejected, genuine.len()),
        genuine.len()
    );
}

fn print_ratios(label: &str, ours: &Rates, cc: &Rates) {
    println!(
        "  {label:<34} EER {}  FMR100 {}  FMR1000 {}  ZeroFMR {}",
        ratio(ours.eer, cc.eer),
        ratio(ours.fmr100, cc.fmr100),
        ratio(ours.fmr1000, cc.fmr1000),
        ratio(ours.zero_fmr, cc.zero_fmr)
    );
}

/// Separation beyond the error rates (which reach 0 on a set this small): d′ and the gap between the lowest
/// genuine and the highest impostor score.
fn separation(g: &[f32], i: &[f32]) -> String {
    let m = |v: &[f32]| v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len().max(1) as f64;
    let var = |v: &[f32]| {
        let mu = m(v);
        v.iter().map(|x| (f64::from(*x) - mu).powi(2)).sum::<f64>() / v.len().max(1) as f64
    };
    let d = (m(g) - m(i)) / ((var(g) + var(i)) / 2.0).sqrt().max(1e-12);
    let gmin = g.iter().copied().fold(f32::INFINITY, f32::min);
    let imax = i.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    format!(
        "d′ {d:.2}, impostor mean {:.3}, lowest genuine {gmin:.3}, highest impostor {imax:.3}, gap {:.3}",
        m(i),
        gmin - imax
    )
}

fn write_csv(path: &Path, names: &[String], scores: &[(usize, usize, f32)]) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).with_context(|| path.display().to_string())?);
    writeln!(f, "probe,reference,score")?;
    for (i, j, s) in scores {
        // `{}` on f32 prints the shortest decimal that reads back to the same f32: the script's order of
        // scores (all the rates depend on) is ours.
        writeln!(f, "{},{},{}", names[*i], names[*j], s)?;
    }
    f.flush()?;
    Ok(())
}

/// A decoded image of a set.
struct Loaded {
    name: String,
    px: Vec<u8>,
    w: usize,
    h: usize,
}

/// What each set is in issue 17 §3's protocol: the calibration set, the other development set (the check),
/// or data never tuned on.
fn role(dir_name: &str) -> &'static str {
    if dir_name == CALIBRATION_SET {
        "development set; the configured threshold is calibrated on it"
    } else if matches!(dir_name, "CASIA_MS_940_fullhand" | "synthetic") {
        "development set; the check on the calibration (never used to calibrate)"
    } else {
        "not development data: never tuned on"
    }
}

/// A set's pairs by kind.
struct Split {
    genuine: Vec<f32>,
    /// Genuine pairs across sessions (PolyU).
    cross: Vec<f32>,
    impostor: Vec<f32>,
    /// Every unordered pair (index, index, score), for the CSV.
    all: Vec<(usize, usize, f32)>,
}

/// Genuine, cross-session genuine and impostor scores of every unordered pair of `items` (a template that
/// failed to enrol scores 0 against everything), by `score`.
fn split_pairs(
    names: &[String],
    t: &[Option<PalmTemplate>],
    mut score: impl FnMut(&PalmTemplate, &PalmTemplate) -> f32,
) -> Split {
    let ids: Vec<Option<(String, Option<u8>)>> = names.iter().map(|n| identity(n)).collect();
    let (mut g, mut gx, mut imp, mut all) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            let s = match (&t[i], &t[j]) {
                (Some(a), Some(b)) => score(a, b),
                _ => 0.0,
            };
            all.push((i, j, s));
            let (Some(a), Some(b)) = (&ids[i], &ids[j]) else { continue };
            if a.0 == b.0 {
                g.push(s);
                if a.1.is_some() && a.1 != b.1 {
                    gx.push(s);
                }
            } else {
                imp.push(s);
            }
        }
    }
    Split { genuine: g, cross: gx, impostor: imp, all }
}

/// Raw similarities of the impostor pairs where both templates enrolled (the ones a threshold is calibrated
/// on); their normalised scores come with the cohort check ([`cohort_pairs`]), in the same order.
fn enrolled_raw_impostors(names: &[String], t: &[Option<PalmTemplate>]) -> Vec<f32> {
    let ids: Vec<Option<(String, Option<u8>)>> = names.iter().map(|n| identity(n)).collect();
    let mut out = Vec::new();
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            let (Some(a), Some(b), Some(x), Some(y)) = (&t[i], &t[j], &ids[i], &ids[j]) else { continue };
            if x.0 != y.0 {
                out.push(compare_raw(a, b, MAX_SHIFT).0);
            }
        }
    }
    out
}

/// One capture condition's scores of enrolled pairs, normalised and raw, and with the cohort check.
#[derive(Default)]
struct CondScores {
    label: String,
    imp: Vec<f32>,
    gen_s: Vec<f32>,
    imp_raw: Vec<f32>,
    gen_raw: Vec<f32>,
    /// Every impostor and genuine pair with its cohort check.
    imp_c: Vec<Checked>,
    gen_c: Vec<Checked>,
}

/// A pair's score and its cohort z (`None` where the cohort was too small).
type Checked = (f32, Option<f32>);

/// Every enrolled pair's score and cohort z (`palm::cohort`): the first template of each pair is the
/// probe, its cohort the same condition's templates of the set's other people (neither the probe's nor
/// the reference's), round-robin over people up to `COHORT_SIZE` — what a site whose readers give these
/// captures would have enrolled.
fn cohort_pairs(names: &[String], t: &[Option<PalmTemplate>]) -> (Vec<Checked>, Vec<Checked>) {
    let ids: Vec<Option<String>> = names.iter().map(|n| identity(n).map(|x| x.0)).collect();
    let (mut id_of, mut kept) = (Vec::new(), Vec::new());
    for (id, t) in ids.iter().zip(t) {
        if let (Some(id), Some(t)) = (id, t) {
            id_of.push(id.as_str());
            kept.push(t);
        }
    }
    let (mut imp, mut gen_c) = (Vec::new(), Vec::new());
    for (i, j, z) in cohort::pair_z(&id_of, &kept) {
        let pair = (compare(kept[i], kept[j]).0, z);
        if id_of[i] == id_of[j] { gen_c.push(pair) } else { imp.push(pair) }
    }
    (imp, gen_c)
}

impl CondScores {
    fn of(label: String, names: &[String], t: &[Option<PalmTemplate>]) -> CondScores {
        let (imp_c, gen_c) = cohort_pairs(names, t);
        CondScores {
            label,
            imp: imp_c.iter().map(|x| x.0).collect(),
            gen_s: gen_c.iter().map(|x| x.0).collect(),
            imp_c,
            gen_c,
            imp_raw: enrolled_raw_impostors(names, t),
            gen_raw: enrolled_raw_genuine(names, t),
        }
    }

    fn scores(&self, raw: bool) -> (&[f32], &[f32]) {
        if raw { (&self.imp_raw, &self.gen_raw) } else { (&self.imp, &self.gen_s) }
    }
}

/// What the cross-calibration needs from a set: every capture condition's scores (the first as recorded).
#[derive(Default)]
struct Pooled {
    name: String,
    conditions: Vec<CondScores>,
}

impl Pooled {
    /// Impostor and genuine scores of every condition together.
    fn pooled(&self, raw: bool) -> (Vec<f32>, Vec<f32>) {
        let (mut i, mut g) = (Vec::new(), Vec::new());
        for c in &self.conditions {
            let (a, b) = c.scores(raw);
            i.extend_from_slice(a);
            g.extend_from_slice(b);
        }
        (i, g)
    }
}

fn mean_of(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len().max(1) as f32
}

fn max_of(v: &[f32]) -> f32 {
    v.iter().copied().fold(0.0, f32::max)
}

fn run_dir(
    dir: &Path,
    scores_dir: Option<&Path>,
    debug_dir: Option<&Path>,
    conditions: bool,
) -> anyhow::Result<Pooled> {
    let dir_name = dir.file_name().and_then(|n| n.to_str()).context("DIR has no name")?.to_string();
    let parent = dir.parent().unwrap_or(Path::new(""));
    let files = images(dir)?;
    println!("palm: {dir_name}: {} images — {}", files.len(), role(&dir_name));
    if let Some(d) = debug_dir {
        std::fs::create_dir_all(d.join(&dir_name))?;
    }
    let mut loaded = Vec::with_capacity(files.len());
    let mut undecodable: Vec<String> = Vec::new();
    for p in &files {
        let name = p.strip_prefix(parent).unwrap_or(p).to_string_lossy().replace('\\', "/");
        let bytes = std::fs::read(p).with_context(|| p.display().to_string())?;
        match tobira_biometrics::image::GrayImage::decode(&bytes, 500) {
            Ok(i) => loaded.push(Loaded { name, w: i.width as usize, h: i.height as usize, px: i.pixels }),
            Err(e) => undecodable.push(format!("{name}: {e}")),
        }
    }
    let mut pooled = Pooled { name: dir_name.clone(), ..Pooled::default() };
    run_images(&dir_name, &loaded, &undecodable, scores_dir, debug_dir, conditions, &mut pooled)?;
    Ok(pooled)
}

/// A set's figures: as recorded (ours, at the configured threshold, the raw similarity before normalisation,
/// CompCode), then every degraded capture condition, then whole hands cropped to a fingertip.
fn run_images(
    dir_name: &str,
    loaded: &[Loaded],
    undecodable: &[String],
    scores_dir: Option<&Path>,
    debug_dir: Option<&Path>,
    conditions: bool,
    pooled: &mut Pooled,
) -> anyhow::Result<()> {
    let names: Vec<String> = loaded.iter().map(|l| l.name.clone()).collect();
    let (mut t_ours, mut t_cc) = (Vec::new(), Vec::new());
    let (mut whole, mut roi_found) = (0usize, 0usize);
    let mut reasons: Vec<String> = undecodable.to_vec();
    let mut ours_t: Vec<Option<PalmTemplate>> = Vec::with_capacity(loaded.len());
    let mut cc_t: Vec<Option<PalmTemplate>> = Vec::with_capacity(loaded.len());
    for l in loaded {
        let (w, h) = (l.w, l.h);
        let t = Instant::now();
        let ours = extract_image(&l.px, w, h);
        t_ours.push(t.elapsed());
        let region: Option<Vec<u8>> = if is_region(w, h) {
            Some(l.px.clone())
        } else {
            whole += 1;
            ours.as_ref().ok().and_then(|x| x.roi.as_ref()).map(|r| r.pixels.clone())
        };
        if !is_region(w, h) {
            let located = ours.as_ref().ok().and_then(|x| x.roi.as_ref());
            if located.is_some() {
                roi_found += 1;
            }
            if let Some(d) = debug_dir {
                let stem = l.name.rsplit('/').next().and_then(|f| f.rsplit_once('.')).map_or("image", |x| x.0);
                let out = d.join(dir_name);
                write_png(
                    &out.join(format!("{stem}_keypoints.png")),
                    w,
                    h,
                    Some(roi::draw_debug(&l.px, w, h, located)),
                    None,
                )?;
                if let Some(r) = located {
                    write_png(&out.join(format!("{stem}_roi.png")), ROI_SIDE, ROI_SIDE, None, Some(r.pixels.clone()))?;
                }
            }
        }
        // The baseline sees the same region ours does (for a whole hand: our ROI; CompCode has no ROI step).
        let cc = region.as_ref().and_then(|px| {
            let side = if is_region(w, h) { w } else { ROI_SIDE };
            let t = Instant::now();
            let c = compcode_extract(px, side, side).ok();
            t_cc.push(t.elapsed());
            c
        });
        if let Err(e) = &ours {
            reasons.push(format!("{}: {e}", l.name));
        }
        ours_t.push(ours.ok().map(|x| x.template));
        cc_t.push(cc);
    }
    let n = names.len() + undecodable.len();
    let mut c_ours = Vec::new();
    let Split { genuine: g, cross: gx, impostor: imp, all: s_ours } = split_pairs(&names, &ours_t, |a, b| {
        let t = Instant::now();
        let s = compare(a, b).0;
        c_ours.push(t.elapsed());
        s
    });
    let mut c_cc = Vec::new();
    let Split { genuine: cg, cross: cgx, impostor: cimp, all: s_cc } = split_pairs(&names, &cc_t, |a, b| {
        let t = Instant::now();
        let s = compcode_compare(a, b).0;
        c_cc.push(t.elapsed());
        s
    });
    let mut c_raw = Vec::new();
    let Split { genuine: rg, cross: rgx, impostor: rimp, .. } = split_pairs(&names, &ours_t, |a, b| {
        let t = Instant::now();
        let s = compare_raw(a, b, MAX_SHIFT).0;
        c_raw.push(t.elapsed());
        s
    });
    if let Some(d) = scores_dir {
        std::fs::create_dir_all(d)?;
        write_csv(&d.join(format!("{dir_name}.csv")), &names, &s_ours)?;
        write_csv(&d.join(format!("{dir_name}_CompCode.csv")), &names, &s_cc)?;
        println!("  scores: {}/{dir_name}.csv, {}/{dir_name}_CompCode.csv", d.display(), d.display());
    }
    let fte = ours_t.iter().filter(|t| t.is_none()).count() + undecodable.len();
    let fte_cc = cc_t.iter().filter(|t| t.is_none()).count() + undecodable.len();
    if whole > 0 {
        println!("  ROI found on {roi_found}/{whole} images");
    }
    println!("  failure to enrol: ours {fte}/{n}, CompCode {fte_cc}/{n}");
    let measured: Vec<QualityReport> = loaded.iter().filter_map(|l| assess(&l.px, l.w, l.h).ok()).collect();
    println!(
        "  quality gate: line contrast {} grey levels (refused below {MIN_CONTRAST}), blockiness {} (refused above {MAX_BLOCKINESS}) (min–median–max)",
        spread(measured.iter().map(|q| q.contrast).collect()),
        spread(measured.iter().map(|q| q.blockiness).collect())
    );
    for r in &reasons {
        println!("    refused {r}");
    }
    let (ra, rca) = (rates(&g, &imp), rates(&cg, &cimp));
    println!("  all pairs:");
    print_rates("ours", &ra);
    print_at_threshold("ours", &g, &imp);
    print_rates("ours before normalisation (raw)", &rates(&rg, &rimp));
    print_at_raw_threshold(&rg, &rimp);
    print_rates("CompCode (baseline)", &rca);
    print_ratios("ours / CompCode", &ra, &rca);
    println!("    ours:     {}", separation(&g, &imp));
    println!("    raw:      {}", separation(&rg, &rimp));
    println!("    CompCode: {}", separation(&cg, &cimp));
    if !gx.is_empty() {
        let (rx, rcx) = (rates(&gx, &imp), rates(&cgx, &cimp));
        println!("  cross-session genuine pairs (session 1 against 2), all impostor pairs:");
        print_rates("ours", &rx);
        print_at_threshold("ours", &gx, &imp);
        print_rates("ours before normalisation (raw)", &rates(&rgx, &rimp));
        print_rates("CompCode (baseline)", &rcx);
        print_ratios("ours / CompCode", &rx, &rcx);
        println!("    ours:     {}", separation(&gx, &imp));
        println!("    CompCode: {}", separation(&cgx, &cimp));
    }
    if whole > 0 && gx.is_empty() {
        println!("  (a set this small is for region extraction, not an error rate)");
    }
    let (eo, ec) = (summarize(t_ours), summarize(t_cc));
    let (co, cc, cr) = (summarize(c_ours), summarize(c_cc), summarize(c_raw));
    println!(
        "  extraction median: ours {}{} (p99 {}), CompCode {}",
        fmt(eo.p50),
        if whole > 0 { " incl. ROI" } else { "" },
        fmt(eo.p99),
        fmt(ec.p50)
    );
    println!(
        "  comparison median: ours {} (p99 {}), raw similarity alone {}, CompCode {}",
        fmt(co.p50),
        fmt(co.p99),
        fmt(cr.p50),
        fmt(cc.p50)
    );
    pooled.conditions.push(CondScores::of(CONDITIONS[0].to_string(), &names, &ours_t));
    if conditions {
        run_conditions(loaded, &names, &ours_t, pooled)?;
        if whole > 0 {
            run_fingertips(loaded, &ours_t);
        }
    }
    Ok(())
}

/// Raw similarities of the genuine pairs where both templates enrolled.
fn enrolled_raw_genuine(names: &[String], t: &[Option<PalmTemplate>]) -> Vec<f32> {
    let ids: Vec<Option<(String, Option<u8>)>> = names.iter().map(|n| identity(n)).collect();
    let mut out = Vec::new();
    for i in 0..t.len() {
        for j in i + 1..t.len() {
            let (Some(a), Some(b), Some(x), Some(y)) = (&t[i], &t[j], &ids[i], &ids[j]) else { continue };
            if x.0 == y.0 {
                out.push(compare_raw(a, b, MAX_SHIFT).0);
            }
        }
    }
    out
}

/// Every degraded capture condition (issue 17 §3): what the quality gate refuses and why, and how the
/// captures it lets through score — against each other (both captures poor, the case that fooled the
/// threshold) and against the other people's recorded captures — normalised and raw.
fn run_conditions(
    loaded: &[Loaded],
    names: &[String],
    recorded: &[Option<PalmTemplate>],
    pooled: &mut Pooled,
) -> anyhow::Result<()> {
    let th = PalmThreshold::default();
    let ids: Vec<Option<(String, Option<u8>)>> = names.iter().map(|n| identity(n)).collect();
    println!(
        "  capture conditions (the development images degraded; pairs of enrolled templates; threshold {:.3}):",
        th.value()
    );
    for cond in CONDITIONS.iter().skip(1) {
        let mut t: Vec<Option<PalmTemplate>> = Vec::with_capacity(loaded.len());
        let mut why: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        let (mut contrast, mut block) = (Vec::new(), Vec::new());
        for l in loaded {
            let px = cond.apply(&l.px, l.w, l.h);
            if let Some(q) = px.as_ref().ok().and_then(|px| assess(px, l.w, l.h).ok()) {
                contrast.push(q.contrast);
                block.push(q.blockiness);
            }
            let r = px.and_then(|px| extract_image(&px, l.w, l.h));
            match r {
                Ok(x) => t.push(Some(x.template)),
                Err(e) => {
                    *why.entry(refusal_kind(&e).to_string()).or_default() += 1;
                    t.push(None);
                }
            }
        }
        let enrolled = t.iter().filter(|x| x.is_some()).count();
        let cs = CondScores::of(cond.to_string(), names, &t);
        let (imp, imp_raw, gen_s) = (&cs.imp, &cs.imp_raw, &cs.gen_s);
        let (mut vs_rec, mut vs_rec_raw) = (vec![], vec![]);
        for (i, a) in t.iter().enumerate() {
            let Some(a) = a else { continue };
            for (j, b) in recorded.iter().enumerate() {
                let (Some(x), Some(y), Some(b)) = (&ids[i], &ids[j], b) else { continue };
                if x.0 != y.0 {
                    vs_rec.push(compare(a, b).0);
                    vs_rec_raw.push(compare_raw(a, b, MAX_SHIFT).0);
                }
            }
        }
        let over = |v: &[f32]| v.iter().filter(|s| th.accepts(tobira_biometrics::Score(**s))).count();
        let under = gen_s.iter().filter(|s| !th.accepts(tobira_biometrics::Score(**s))).count();
        let refused: Vec<String> = why.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!(
            "    {:<34} enrolled {enrolled}/{}{}",
            cond.to_string(),
            t.len(),
            if refused.is_empty() { String::new() } else { format!(" (refused: {})", refused.join(", ")) }
        );
        println!("      line contrast {} grey levels, blockiness {} (min–median–max)", spread(contrast), spread(block));
        if enrolled > 0 {
            println!(
                "      among themselves: impostors above the threshold {}/{} (mean {:.3}, highest {:.3}; raw mean {:.3}, highest {:.3}), genuine below {under}/{}",
                over(imp),
                imp.len(),
                mean_of(imp),
                max_of(imp),
                mean_of(imp_raw),
                max_of(imp_raw),
                gen_s.len()
            );
            println!(
                "      against the others' recorded captures: above the threshold {}/{} (highest {:.3}; raw highest {:.3})",
                over(&vs_rec),
                vs_rec.len(),
                max_of(&vs_rec),
                max_of(&vs_rec_raw)
            );
        }
        pooled.conditions.push(cs);
    }
    Ok(())
}

/// min–median–max of measures.
fn spread(mut v: Vec<f32>) -> String {
    v.sort_by(f32::total_cmp);
    match (v.first(), v.get(v.len() / 2), v.last()) {
        (Some(a), Some(m), Some(b)) => format!("{a:.2}–{m:.2}–{b:.2}"),
        _ => "—".into(),
    }
}

/// A refusal's kind, for counting.
fn refusal_kind(e: &PalmError) -> &'static str {
    match e {
        PalmError::Blank { .. } => "blank frame",
        PalmError::LowQuality { .. } => "low clarity",
        PalmError::LowContrast { .. } => "low contrast",
        PalmError::Blocky { .. } => "JPEG blocks",
        PalmError::NoHand(_) => "no hand",
        PalmError::KeyPoints(_) => "key points",
        PalmError::CutOff => "cut off",
        PalmError::RegionOutside => "region outside",
        PalmError::Fingerprint { .. } => "fingerprint",
        _ => "other",
    }
}

/// Whole hands cropped so that a fingertip is cut by the frame (issue 17 §3): is the region still found, and
/// does it give the same template as the uncropped image?
fn run_fingertips(loaded: &[Loaded], recorded: &[Option<PalmTemplate>]) {
    let (mut tried, mut found, mut agree) = (0usize, 0usize, Vec::new());
    let mut why: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (l, rec) in loaded.iter().zip(recorded) {
        if is_region(l.w, l.h) {
            continue;
        }
        let Some((px, w, h)) = degrade::crop_to_fingertip(&l.px, l.w, l.h, FINGERTIP_BITE) else { continue };
        tried += 1;
        match extract_image(&px, w, h) {
            Ok(x) => {
                found += 1;
                if let Some(r) = rec {
                    agree.push(compare(&x.template, r).0);
                }
            }
            Err(e) => *why.entry(refusal_kind(&e).to_string()).or_default() += 1,
        }
    }
    if tried > 0 {
        let refused: Vec<String> = why.iter().map(|(k, v)| format!("{v} {k}")).collect();
        println!(
            "  whole hands cropped so that a fingertip is cut by {FINGERTIP_BITE} px at the frame's edge: region found on {found}/{tried}{}; score against the uncropped capture: lowest {:.3}",
            if refused.is_empty() { String::new() } else { format!(" (refused: {})", refused.join(", ")) },
            agree.iter().copied().fold(f32::INFINITY, f32::min)
        );
    }
}

/// How deep the fingertip crop cuts into the finger, pixels.
const FINGERTIP_BITE: usize = 6;

/// 1:N over `n` synthetic templates: enrolment of impression 0 of each palm (two threads), then `probes`
/// identifications of impression 1 of gallery members.
fn identify(n: usize, probes: usize) -> anyhow::Result<()> {
    let noise = PalmNoise::default();
    let t0 = Instant::now();
    let make = |range: std::ops::Range<u64>| -> Vec<(u64, PalmTemplate)> {
        range
            .filter_map(|s| {
                extract_region(&SyntheticPalm::new(s).impression(0, &noise), ROI_SIDE, ROI_SIDE).ok().map(|t| (s, t))
            })
            .collect()
    };
    let half = n as u64 / 2;
    let parts: Vec<Vec<(u64, PalmTemplate)>> = std::thread::scope(|sc| {
        let a = sc.spawn(|| make(0..half));
        let b = sc.spawn(|| make(half..n as u64));
        vec![a.join().unwrap_or_default(), b.join().unwrap_or_default()]
    });
    let all: Vec<(u64, PalmTemplate)> = parts.into_iter().flatten().collect();
    let mut g = PalmGallery::new();
    for (s, t) in &all {
        g.insert(*s, t.clone());
    }
    let enrolled = g.len();
    println!("palm: 1:N gallery of {enrolled}/{n} synthetic templates built in {:.1} s", t0.elapsed().as_secs_f64());
    // Identification among N compares the probe with N people: for a false-match rate of 1e-4 per
    // identification, each comparison must be N times stricter (the calibration table's strict end clamps).
    let th = PalmThreshold::for_fmr(1e-4 / enrolled.max(1) as f64);
    // The daemon's cohort check on the candidate found (`palm::cohort`): 64 other gallery templates.
    let stands_out = |p: &PalmTemplate, key: u64| {
        let Some(reference) = all.iter().find(|(s, _)| *s == key).map(|(_, t)| t) else { return false };
        let others = all.iter().filter(|(s, _)| *s != key).map(|(_, t)| t);
        cohort::CohortStats::measure(p, others).is_none_or(|st| cohort::check(p, reference, &st, th.fmr()).passes())
    };
    let mut times: Vec<Duration> = Vec::with_capacity(probes);
    let (mut right, mut right_checked) = (0, 0);
    for k in 0..probes {
        let s = (k as u64 * 7919) % n as u64;
        let Ok(p) = extract_region(&SyntheticPalm::new(s).impression(1, &noise), ROI_SIDE, ROI_SIDE) else { continue };
        let t = Instant::now();
        let hit = g.identify(&p, th);
        times.push(t.elapsed());
        right += usize::from(hit.map(|(key, _)| key) == Some(s));
        right_checked += usize::from(hit.is_some_and(|(key, _)| key == s && stands_out(&p, key)));
    }
    let (mut strangers, mut strangers_1to1, mut strangers_checked) = (0, 0, 0);
    for k in 0..probes.min(100) {
        let s = 1_000_000 + k as u64;
        if let Ok(p) = extract_region(&SyntheticPalm::new(s).impression(1, &noise), ROI_SIDE, ROI_SIDE) {
            let hit = g.identify(&p, th);
            strangers += usize::from(hit.is_some());
            strangers_checked += usize::from(hit.is_some_and(|(key, _)| stands_out(&p, key)));
            strangers_1to1 += usize::from(g.identify(&p, PalmThreshold::default()).is_some());
        }
    }
    let sm = summarize(times);
    println!(
        "palm: 1:N over {enrolled} templates: p50 {}, p99 {}, rank-1 {right}/{} at threshold {:.3} (FMR 1e-4 per identification), {strangers}/{} strangers matched ({strangers_1to1} at the 1:1 default {:.3}), {} bytes/template",
        fmt(sm.p50),
        fmt(sm.p99),
        sm.n,
        th.value(),
        probes.min(100),
        PalmThreshold::default().value(),
        g.bytes_per_template()
    );
    println!(
        "palm: 1:N with the cohort check (64 other gallery templates, z ≥ {:.2} at {:.0e} per comparison): rank-1 {right_checked}/{}, {strangers_checked}/{} strangers matched",
        z_for_fmr(th.fmr()),
        th.fmr(),
        sm.n,
        probes.min(100)
    );
    Ok(())
}

/// Synthetic palms as a set of their own (development data; never mixed with the real sets): `n` palms ×
/// four impressions, as 128² regions.
fn synthetic_set(n: usize) -> Vec<Loaded> {
    let noise = PalmNoise::default();
    let mut out = Vec::with_capacity(n * 4);
    for p in 0..n as u64 {
        let palm = SyntheticPalm::new(5_000_000 + p);
        for i in 0..4u64 {
            out.push(Loaded {
                name: format!("synthetic/{:03}/1_{:02}_s.png", p + 1, i + 1),
                px: palm.impression(i, &noise),
                w: ROI_SIDE,
                h: ROI_SIDE,
            });
        }
    }
    out
}

/// Issue 17 §3's honest proxy: a threshold calibrated on one development set, the error rates it gives on
/// another, both ways — for the normalised score and, beside it, for the raw similarity it replaced. Per
/// target set: the pooled rates, and the capture condition where the normal fit of the false-match rate is
/// worst. First, what the old method did: a threshold fitted to a set's clean captures only, on that same
/// sensor's poor captures — the failure the unseen sensor showed.
fn cross_calibration(sets: &[Pooled]) {
    let k = CALIBRATION_FMRS.iter().position(|(f, _)| *f == 1e-4).unwrap_or(2);
    let fit = |imp: &[f32], t: f32| {
        let n = imp.len().max(1) as f64;
        let mean = imp.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
        let sd = (imp.iter().map(|v| (f64::from(*v) - mean).powi(2)).sum::<f64>() / n).sqrt();
        0.5 * erfc((f64::from(t) - mean) / (sd.max(1e-9) * std::f64::consts::SQRT_2))
    };
    let rates_at = |imp: &[f32], gen_s: &[f32], t: f32| {
        let fa = imp.iter().filter(|s| **s >= t).count();
        let fr = gen_s.iter().filter(|s| **s < t).count();
        format!(
            "FMR {fa}/{} (normal fit {:.1e}), FNMR {fr}/{} ({:.2} %)",
            imp.len(),
            fit(imp, t),
            gen_s.len(),
            100.0 * fr as f64 / gen_s.len().max(1) as f64
        )
    };
    let worst = |p: &Pooled, raw: bool, t: f32| {
        p.conditions
            .iter()
            .filter(|c| c.scores(raw).0.len() >= 20)
            .map(|c| (fit(c.scores(raw).0, t), c.label.as_str()))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map_or(String::new(), |(f, l)| format!("; worst condition {l}: normal fit {f:.1e}"))
    };
    println!(
        "palm: thresholds fitted to clean captures (as recorded only; normal fit, FMR 1e-4), on the same set's degraded captures:"
    );
    for p in sets.iter().filter(|p| p.conditions.len() > 1) {
        for (label, raw) in [("ours", false), ("raw similarity (before)", true)] {
            let Some(rec) = p.conditions.first() else { continue };
            let t = calibrate(rec.scores(raw).0)[k].1;
            let per: Vec<String> = p
                .conditions
                .iter()
                .skip(1)
                .filter(|c| c.scores(raw).0.len() >= 20)
                .map(|c| format!("{} {:.1e}", c.label, fit(c.scores(raw).0, t)))
                .collect();
            println!("  {:<22} {label:<24} threshold {t:.3}: {}", p.name, per.join(", "));
        }
    }
    if sets.len() < 2 {
        return;
    }
    println!(
        "palm: calibration across development sets (every capture condition's enrolled pairs pooled; normal fit, FMR 1e-4):"
    );
    for (label, raw) in [("ours", false), ("raw similarity (before)", true)] {
        println!("  {label}:");
        for cal in sets {
            let t = calibrate(&cal.pooled(raw).0)[k].1;
            for other in sets {
                let (imp, gen_s) = other.pooled(raw);
                println!(
                    "    calibrated on {:<22} threshold {t:.3} → on {:<22} {}{}",
                    cal.name,
                    other.name,
                    rates_at(&imp, &gen_s, t),
                    worst(other, raw, t)
                );
            }
        }
    }
    if let Some(cal) = sets.iter().find(|s| s.name == CALIBRATION_SET) {
        let fresh = calibrate(&cal.pooled(false).0);
        let fmt_t =
            |t: [(f64, f32); 6]| t.iter().map(|(f, v)| format!("{f:.0e} {v:.3}")).collect::<Vec<_>>().join(", ");
        println!("  configured table (matcher::CALIBRATION): {}", fmt_t(calibration()));
        println!("  recomputed from {CALIBRATION_SET} now:       {}", fmt_t(fresh));
    }
}

/// Issue 17 §3 with the cohort check (`palm::cohort`): per set and capture condition, the daemon's rule — the
/// score at the configured threshold *and*, where the cohort has at least `MIN_COHORT` templates, z at
/// `z_for_fmr(1e-4)` — beside the score table alone; then the z table recomputed from the synthetic palms
/// (its definition) and what it gives on the real sets.
fn cohort_check(sets: &[Pooled]) {
    let th = PalmThreshold::default();
    let zt = z_for_fmr(1e-4);
    println!(
        "palm: cohort check (each probe against up to {} templates of the set's other people, same condition; a match needs score ≥ {:.3} and, with ≥ {MIN_COHORT} cohort templates, z ≥ {zt:.2}; FMR 1e-4):",
        cohort::COHORT_SIZE,
        th.value()
    );
    for p in sets {
        for c in &p.conditions {
            if c.imp_c.is_empty() {
                continue;
            }
            let with = c.imp_c.iter().filter(|x| x.1.is_some()).count();
            let table = |v: &[Checked]| v.iter().filter(|x| th.accepts(tobira_biometrics::Score(x.0))).count();
            let rule = |v: &[Checked]| {
                v.iter().filter(|x| th.accepts(tobira_biometrics::Score(x.0)) && x.1.is_none_or(|z| z >= zt)).count()
            };
            let z_only = c.imp_c.iter().filter(|x| x.1.is_some_and(|z| z >= zt)).count();
            let (ni, ng) = (c.imp_c.len(), c.gen_c.len().max(1));
            let pct = |k: usize, n: usize| 100.0 * k as f64 / n.max(1) as f64;
            println!(
                "  {:<22} {:<36} impostors {ni} ({with} with a cohort): table alone {} ({:.1e}), z alone {z_only}, both {} ({:.1e}); genuine {}: rejected by the table {:.2} %, by both {:.2} %",
                p.name,
                c.label,
                table(&c.imp_c),
                pct(table(&c.imp_c), ni) / 100.0,
                rule(&c.imp_c),
                pct(rule(&c.imp_c), ni) / 100.0,
                c.gen_c.len(),
                pct(c.gen_c.len() - table(&c.gen_c), ng),
                pct(c.gen_c.len() - rule(&c.gen_c), ng),
            );
            // Separation on the pairs that had a cohort: the score against the cohort's z as a score.
            let (gs, gz): (Vec<f32>, Vec<f32>) = c.gen_c.iter().filter_map(|x| x.1.map(|z| (x.0, z))).unzip();
            let (is, iz): (Vec<f32>, Vec<f32>) = c.imp_c.iter().filter_map(|x| x.1.map(|z| (x.0, z))).unzip();
            if !gs.is_empty() && !is.is_empty() {
                let sep = |g: &[f32], i: &[f32]| {
                    let r = rates(g, i);
                    format!("EER {:.2} %, FMR1000 {:.2} %, d′ {}", r.eer, r.fmr1000, dprime(g, i))
                };
                println!("    {:<59} same pairs ranked by the score: {}; by z: {}", "", sep(&gs, &is), sep(&gz, &iz));
            }
        }
    }
    let fmt_t = |t: [(f64, f32); 6]| t.iter().map(|(f, v)| format!("{f:.0e} {v:.2}")).collect::<Vec<_>>().join(", ");
    println!("  configured z table (cohort::Z_TABLE): {}", fmt_t(Z_TABLE));
    for p in sets {
        let zs: Vec<Vec<f32>> = p.conditions.iter().map(|c| c.imp_c.iter().filter_map(|x| x.1).collect()).collect();
        if zs.iter().all(|z| z.is_empty()) {
            continue;
        }
        match calibrate_z(&zs) {
            Some(t) => println!("  recomputed from {:<22} {}", format!("{}:", p.name), fmt_t(t)),
            None => println!("  recomputed from {:<22} — (too few pairs to measure 1e-4)", format!("{}:", p.name)),
        }
        // Where a condition has the pairs (≥ 500,000: `--synthetic 300`), the rate beyond 1e-4 measured rather
        // than extrapolated: is the table's continued slope on the safe side?
        let beyond: Vec<String> = zs
            .iter()
            .zip(&p.conditions)
            .filter(|(z, _)| z.len() >= 500_000)
            .map(|(z, c)| {
                let mut v = z.clone();
                v.sort_by(|a, b| b.total_cmp(a));
                let q = |f: f64| v[((f * v.len() as f64) as usize).min(v.len() - 1)];
                format!("{} 1e-5 {:.2} (max {:.2})", c.label, q(1e-5), v[0])
            })
            .collect();
        if !beyond.is_empty() {
            println!("    measured beyond 1e-4 (table {:.2}): {}", z_for_fmr(1e-5), beyond.join(", "));
        }
    }
    // The failure the unseen sensor showed, on one sensor: a table fitted to a set's clean captures (as
    // recorded) used on its poor ones, with and without the check.
    let k = CALIBRATION_FMRS.iter().position(|(f, _)| *f == 1e-4).unwrap_or(2);
    for p in sets.iter().filter(|p| p.conditions.len() > 1) {
        let Some(rec) = p.conditions.first() else { continue };
        let t = calibrate(&rec.imp)[k].1;
        let per: Vec<String> = p
            .conditions
            .iter()
            .skip(1)
            .filter(|c| c.imp_c.iter().any(|x| x.1.is_some()))
            .map(|c| {
                let checked: Vec<&Checked> = c.imp_c.iter().filter(|x| x.1.is_some()).collect();
                let a = checked.iter().filter(|x| x.0 >= t).count();
                let b = checked.iter().filter(|x| x.0 >= t && x.1.is_some_and(|z| z >= zt)).count();
                format!("{} {a} → {b} of {}", c.label, checked.len())
            })
            .collect();
        if per.is_empty() {
            continue;
        }
        println!(
            "  table fitted to {}'s clean captures ({t:.3}) on its poor ones (pairs with a cohort; table alone → with the check): {}",
            p.name,
            per.join(", ")
        );
    }
    // What the check adds where the score table is wrong for the sensor: each set under the table fitted to
    // another development set (the cross-calibration above), with and without the check.
    for cal in sets.iter().filter(|s| s.conditions.iter().map(|c| c.imp.len()).sum::<usize>() >= 1000) {
        let t = calibrate(&cal.pooled(false).0)[k].1;
        for other in sets.iter().filter(|o| o.name != cal.name) {
            let imp: Vec<&Checked> = other.conditions.iter().flat_map(|c| c.imp_c.iter()).collect();
            let gen_c: Vec<&Checked> = other.conditions.iter().flat_map(|c| c.gen_c.iter()).collect();
            let by_table = |x: &&&Checked| x.0 >= t;
            let by_both = |x: &&&Checked| x.0 >= t && x.1.is_none_or(|z| z >= zt);
            let (a, b) = (imp.iter().filter(by_table).count(), imp.iter().filter(by_both).count());
            let unchecked = imp.iter().filter(by_both).filter(|x| x.1.is_none()).count();
            let (ga, gb) = (gen_c.iter().filter(by_table).count(), gen_c.iter().filter(by_both).count());
            let pct = |k: usize| 100.0 * (gen_c.len() - k) as f64 / gen_c.len().max(1) as f64;
            println!(
                "  table fitted to {:<22} ({t:.3}) on {:<22} impostors above it {a}/{} ({:.1e}), with the cohort check {b} ({:.1e}; {unchecked} of them without a cohort); genuine rejected {:.2} % → {:.2} %",
                cal.name,
                other.name,
                imp.len(),
                a as f64 / imp.len().max(1) as f64,
                b as f64 / imp.len().max(1) as f64,
                pct(ga),
                pct(gb)
            );
        }
    }
}

/// d′ of two score lists, two decimals.
fn dprime(g: &[f32], i: &[f32]) -> String {
    let ms = |v: &[f32]| {
        let n = v.len().max(1) as f64;
        let m = v.iter().map(|x| f64::from(*x)).sum::<f64>() / n;
        (m, v.iter().map(|x| (f64::from(*x) - m).powi(2)).sum::<f64>() / n)
    };
    let ((mg, vg), (mi, vi)) = (ms(g), ms(i));
    format!("{:.2}", (mg - mi) / ((vg + vi) / 2.0).sqrt().max(1e-12))
}

/// The complementary error function (Numerical Recipes' erfcc, relative error below 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

pub fn run(
    dirs: &[PathBuf],
    scores: Option<&Path>,
    debug_dir: Option<&Path>,
    gallery: usize,
    probes: usize,
    synthetic: usize,
    conditions: bool,
) -> anyhow::Result<()> {
    let mut pooled = Vec::new();
    for d in dirs {
        pooled.push(run_dir(d, scores, debug_dir, conditions)?);
    }
    if synthetic > 0 {
        let set = synthetic_set(synthetic);
        println!("palm: synthetic: {} images ({synthetic} generated palms × 4) — {}", set.len(), role("synthetic"));
        let mut p = Pooled { name: "synthetic".into(), ..Pooled::default() };
        run_images("synthetic", &set, &[], scores, None, conditions, &mut p)?;
        pooled.push(p);
    }
    cross_calibration(&pooled);
    cohort_check(&pooled);
    if gallery > 0 {
        identify(gallery, probes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::identity;

    #[test]
    fn identities_parse_like_the_evaluator() {
        assert_eq!(identity("PolyU_MS_NIR_ROI/001/1_01_s.bmp"), Some(("001".into(), Some(1))));
        assert_eq!(identity("PolyU_MS_NIR_ROI/006/2_06_s.bmp"), Some(("006".into(), Some(2))));
        assert_eq!(identity("CASIA_MS_940_fullhand/003_l_940_04.jpg"), Some(("003".into(), None)));
        assert_eq!(identity("FVC/101_3.tif"), Some(("101".into(), None)));
        assert_eq!(identity("nonsense.png"), None);
    }
}
