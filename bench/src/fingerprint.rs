//! `tobira-bench fingerprint DIR...`: our image pipeline and matcher against the NIST reference (mindtct +
//! bozorth3, fed as NIST's own loader feeds it: [`crate::nist`]) on the same FVC-named images and the same
//! pairs, plus 1:N identification over a 10,000-template gallery. Scores go to CSV for
//! `shared/tools/eval_scores.py`, which must agree; NIST's reproduce `shared/baselines` pair for pair
//! (`tests/nist_reference.rs`).
//!
//! Protocol (issue 17 §2): every set is either development — parameters may be chosen on it — or evaluation,
//! never tuned on; [`role`] says which, and the bench prints it beside every figure.
//!
//! Failure to enrol: an image whose extraction fails or finds fewer minutiae than the daemon enrols with
//! ([`tobira_biometrics::sample::MIN_MINUTIAE`]) takes part in every pair with the lowest score (0), as the
//! FVC protocol counts such a pair as a rejection. The NIST side is treated alike (an extraction error or
//! fewer minutiae than bozorth3 computes a score from, [`nist::BOZORTH_MIN_MINUTIAE`]; bozorth3 itself
//! scores such a pair 0).

use crate::cross_sensor;
use crate::fvc_image::Item;
use crate::interrupt;
use crate::nist::{self, NistTemplate};
use anyhow::{Context, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tobira_biometrics::eval::{Rates, rates};
use tobira_biometrics::fingerprint::enrolled::agreeing;
use tobira_biometrics::image::{GrayImage, extract_minutiae};
use tobira_biometrics::iso19794_2::MAX_VIEWS;
use tobira_biometrics::sample::MIN_MINUTIAE;
use tobira_biometrics::score::{Score, fused};
use tobira_biometrics::synthetic::{ImpressionNoise, SyntheticFinger};
use tobira_biometrics::{FingerTemplate, Gallery, MinutiaeTemplate, Prepared, compare};

/// Scores of one matcher over the set's pairs, in the order of [`pairs`].
struct Side {
    scores: Vec<f64>,
    extract: Vec<Duration>,
    compare: Vec<Duration>,
    fte: usize,
}

fn fvc_images(dir: &Path) -> anyhow::Result<Vec<(PathBuf, u32, u32)>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        let Some(stem) = p.file_stem().and_then(|s| s.to_str()) else { continue };
        let ext = p.extension().and_then(|s| s.to_str()).unwrap_or("").to_ascii_lowercase();
        if !matches!(ext.as_str(), "tif" | "tiff" | "png" | "bmp" | "pgm") {
            continue;
        }
        let Some((f, i)) = stem.split_once('_') else { continue };
        let (Ok(f), Ok(i)) = (f.parse::<u32>(), i.parse::<u32>()) else { continue };
        out.push((p, f, i));
    }
    out.sort_by_key(|x| (x.1, x.2));
    if out.is_empty() {
        bail!("{}: no FVC-named images (F_I.tif)", dir.display());
    }
    Ok(out)
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort_unstable();
    if v.is_empty() { Duration::ZERO } else { v[v.len() / 2] }
}

fn pairs(n: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n).flat_map(move |a| (a + 1..n).map(move |b| (a, b)))
}

/// How each image is seen: as it is, or through another sensor (`--crop`, `--contrast`, `--vignette`,
/// `--frame`, in that order). The window is chosen on the image as captured: it stands for where the finger
/// lay on a smaller glass, which a fainter or unevenly lit sensor does not move (chosen on a faint image,
/// `GrayImage::print_window` takes the whole frame for ink and cuts around the middle, not the print).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct View {
    /// Cut to the `side`×`side` window around the print ([`GrayImage::print_window`]).
    pub crop: Option<u32>,
    /// Then the contrast times this around mid-grey (a fainter sensor).
    pub contrast: Option<f32>,
    /// Then darkened towards its corners, which end at 1 − this of their brightness
    /// ([`GrayImage::vignetted`]: an optical sensor's uneven illumination).
    pub vignette: Option<f32>,
    /// Then surrounded by a black band this many pixels wide (a sensor or driver that pads its window).
    pub frame: Option<u32>,
}

/// `view`: each image changed before either side sees it, NIST through a PNG of the result.
fn load(dir: &Path, set: &str, view: View) -> anyhow::Result<(Vec<Item>, Side, Side)> {
    let files = fvc_images(dir)?;
    let mut items = Vec::with_capacity(files.len());
    let (mut ours_t, mut nist_t) = (Vec::new(), Vec::new());
    let (mut ours_fte, mut nist_fte) = (0, 0);
    for (k, (path, finger, impression)) in files.iter().enumerate() {
        if interrupt::requested() {
            bail!("interrupted");
        }
        eprint!("\r  {set}: extracting {}/{}", k + 1, files.len());
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let mut img = GrayImage::decode(&bytes, 500).with_context(|| format!("{}", path.display()))?;
        if let Some(side) = view.crop {
            img = img.print_window(side);
        }
        if let Some(k) = view.contrast {
            img = img.with_contrast(k);
        }
        if let Some(a) = view.vignette {
            img = img.vignetted(a);
        }
        if let Some(px) = view.frame {
            img = img.framed(px);
        }
        let bytes = if view != View::default() {
            png(&img).with_context(|| format!("{}: the image as seen", path.display()))?
        } else {
            bytes
        };
        let t = Instant::now();
        let (tpl, _) = extract_minutiae(&img);
        let prepared = Prepared::new(&tpl);
        ours_t.push(t.elapsed());
        let ours = if tpl.minutiae.len() >= MIN_MINUTIAE {
            Some((tpl, prepared))
        } else {
            ours_fte += 1;
            None
        };
        // mindtct, then NIST's loader (quality cut to 150, x-then-y order): both are what a NIST user pays.
        let t = Instant::now();
        let nist = NistTemplate::extract(&bytes, 500.0).ok();
        nist_t.push(t.elapsed());
        let nist = nist.filter(|m| m.found >= nist::BOZORTH_MIN_MINUTIAE);
        if nist.is_none() {
            nist_fte += 1;
        }
        let name = format!("{set}/{}", path.file_name().and_then(|s| s.to_str()).unwrap_or_default());
        items.push(Item { name, finger: *finger, impression: *impression, ours, nist });
    }
    eprintln!();
    let side = |extract, fte| Side { scores: Vec::new(), extract, compare: Vec::new(), fte };
    Ok((items, side(ours_t, ours_fte), side(nist_t, nist_fte)))
}

fn score_pairs(items: &[Item], ours: &mut Side, nist: &mut Side, set: &str) -> anyhow::Result<()> {
    let total = items.len() * (items.len() - 1) / 2;
    for (k, (a, b)) in pairs(items.len()).enumerate() {
        if k % 200 == 0 {
            if interrupt::requested() {
                bail!("interrupted");
            }
            eprint!("\r  {set}: comparing {k}/{total}");
        }
        let (x, y) = (&items[a], &items[b]);
        ours.scores.push(match (&x.ours, &y.ours) {
            (Some((_, p)), Some((_, r))) => {
                let t = Instant::now();
                let s = compare(p, r).0;
                ours.compare.push(t.elapsed());
                f64::from(s)
            }
            _ => 0.0,
        });
        nist.scores.push(match (&x.nist, &y.nist) {
            (Some(p), Some(r)) => {
                let t = Instant::now();
                // One-directional, the lower index (probe) against the higher, as shared/baselines.
                let s = p.compare(r);
                nist.compare.push(t.elapsed());
                f64::from(s)
            }
            _ => 0.0,
        });
    }
    eprintln!("\r  {set}: compared {total} pairs          ");
    Ok(())
}

/// (all pairs, FVC protocol) rates.
fn evaluate(items: &[Item], scores: &[f64]) -> (Option<Rates>, Option<Rates>) {
    let (mut gen_s, mut imp, mut imp_fvc) = (Vec::new(), Vec::new(), Vec::new());
    for ((a, b), s) in pairs(items.len()).zip(scores) {
        let (x, y) = (&items[a], &items[b]);
        if x.finger == y.finger {
            gen_s.push(*s);
        } else {
            imp.push(*s);
            if x.impression == 1 && y.impression == 1 {
                imp_fvc.push(*s);
            }
        }
    }
    (rates(&gen_s, &imp), rates(&gen_s, &imp_fvc))
}

fn write_csv(path: &Path, items: &[Item], scores: &[f64]) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    writeln!(f, "probe,reference,score")?;
    for ((a, b), s) in pairs(items.len()).zip(scores) {
        // f32 scores print in their shortest round-trip form: the evaluator sees the same order and ties.
        writeln!(f, "{},{},{}", items[a].name, items[b].name, *s as f32)?;
    }
    f.flush()?;
    Ok(())
}

fn ratio(a: f64, b: f64) -> String {
    match (a, b) {
        (a, 0.0) => {
            if a == 0.0 {
                "=".into()
            } else {
                "∞".into()
            }
        }
        // Small ratios (comparison times against bozorth3) keep two significant digits.
        (a, b) if a / b < 0.1 => format!("×{:.3}", a / b),
        (a, b) => format!("×{:.2}", a / b),
    }
}

fn print_rates(label: &str, ours: Option<Rates>, nist: Option<Rates>) {
    let (Some(o), Some(n)) = (ours, nist) else {
        println!("    {label}: not enough pairs");
        return;
    };
    println!("    {label} ({} genuine, {} impostor pairs)", o.genuine, o.impostor);
    for (name, a, b) in [
        ("EER", o.eer, n.eer),
        ("FMR100", o.fmr100, n.fmr100),
        ("FMR1000", o.fmr1000, n.fmr1000),
        ("ZeroFMR", o.zero_fmr, n.zero_fmr),
    ] {
        println!("      {name:<8} ours {a:>7.3} %   NIST {b:>7.3} %   ours/NIST {}", ratio(a, b));
    }
}

fn fmt_d(d: Duration) -> String {
    crate::stats::fmt(d)
}

/// The development/evaluation protocol (issue 17 §2). Parameters — the matcher's tolerances, the
/// extractor's, the threshold table — are chosen on development sets only; evaluation sets are run and
/// reported, never tuned on, and every parameter change is judged on development and reported on evaluation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Role {
    /// FVC2000 DB1–DB3 and synthetic prints (FVC2000 DB4, SFinGe; our own generator).
    Development,
    /// FVC2002 DB1: never tuned on.
    Evaluation,
    /// A set the protocol does not name: reported apart, in neither split.
    Unassigned,
}

impl Role {
    fn short(self) -> &'static str {
        match self {
            Role::Development => "real development",
            Role::Evaluation => "real evaluation",
            Role::Unassigned => "real unassigned",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Role::Development => "development",
            Role::Evaluation => "evaluation (never tuned on)",
            Role::Unassigned => "not in the protocol (reported apart)",
        }
    }
}

/// The role of a set by its directory name (the shared sets' names).
pub fn role(set: &str) -> Role {
    match set {
        "FVC2000_DB1_B" | "FVC2000_DB2_B" | "FVC2000_DB3_B" => Role::Development,
        "FVC2002_DB1_B" => Role::Evaluation,
        s if s.to_ascii_lowercase().contains("synthetic") => Role::Development,
        _ => Role::Unassigned,
    }
}

/// One set's figures for the closing summary.
struct SetSummary {
    set: String,
    role: Role,
    images: usize,
    ours: Option<Rates>,
    nist: Option<Rates>,
    ours_fte: usize,
    nist_fte: usize,
    fusion: Fusion,
    /// All pairs T-normalised (`tnorm`), ours and NIST's: measured, not the daemon's score.
    tnorm: (Option<Rates>, Option<Rates>),
}

/// The image as seen, as PNG bytes for mindtct (which reads image files).
fn png(img: &GrayImage) -> anyhow::Result<Vec<u8>> {
    let buf = ::image::GrayImage::from_raw(img.width, img.height, img.pixels.clone()).context("image buffer size")?;
    let mut out = std::io::Cursor::new(Vec::new());
    buf.write_to(&mut out, ::image::ImageFormat::Png)?;
    Ok(out.into_inner())
}

/// `view`: every set seen through another sensor ([`View`]).
pub fn run(
    dirs: &[PathBuf],
    scores_dir: Option<&Path>,
    gallery: usize,
    probes: usize,
    shortlists: &[usize],
    view: View,
) -> anyhow::Result<()> {
    interrupt::install();
    let mut real: Vec<RealFinger> = Vec::new();
    let mut loaded: Vec<(String, Vec<Item>)> = Vec::new();
    let mut summary = Vec::new();
    let (mut all_oe, mut all_ne, mut all_oc, mut all_nc) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (d, dir) in dirs.iter().enumerate() {
        let set = dir
            .file_name()
            .and_then(|s| s.to_str())
            .with_context(|| format!("{}: not a set directory", dir.display()))?
            .to_string();
        let (items, mut ours, mut nist) = load(dir, &set, view)?;
        score_pairs(&items, &mut ours, &mut nist, &set)?;
        if let Some(out) = scores_dir {
            write_csv(&out.join(format!("{set}.csv")), &items, &ours.scores)?;
            write_csv(&out.join("nbis").join(format!("{set}.csv")), &items, &nist.scores)?;
        }
        let (oa, of) = evaluate(&items, &ours.scores);
        let (na, nf) = evaluate(&items, &nist.scores);
        let r = role(&set);
        let mut seen = String::new();
        if let Some(side) = view.crop {
            let mm = f64::from(side) * 25.4 / 500.0;
            seen += &format!(
                "; each cut to the {side}×{side} px around its print (a sensor of about {mm:.0}×{mm:.0} mm at 500 dpi)"
            );
        }
        if let Some(k) = view.contrast {
            seen += &format!("; its contrast ×{k} around mid-grey");
        }
        if let Some(a) = view.vignette {
            seen += &format!("; each darkened towards its corners, to ×{:.2} there", 1.0 - a);
        }
        if let Some(px) = view.frame {
            seen += &format!("; each inside a black frame {px} px wide");
        }
        println!("fingerprint: {set} ({} images) — {}{seen}", items.len(), r.label());
        print_rates("all pairs", oa, na);
        print_rates("FVC protocol", of, nf);
        println!("    failure to enrol: ours {}/{}, NIST {}/{}", ours.fte, items.len(), nist.fte, items.len());
        // Measured, not the daemon's score: each pair against the set's other fingers (`tnorm`).
        let fingers: Vec<u32> = items.iter().map(|i| i.finger).collect();
        let tnormed = |usable: Vec<bool>, scores: &[f64]| {
            evaluate(&items, &crate::tnorm::normalised(&fingers, &usable, scores)).0
        };
        let (ot, nt) = (
            tnormed(items.iter().map(|i| i.ours.is_some()).collect(), &ours.scores),
            tnormed(items.iter().map(|i| i.nist.is_some()).collect(), &nist.scores),
        );
        print_rates(
            "T-norm against the set's other fingers, both sides (not the daemon's score), ours and NIST",
            ot,
            nt,
        );
        let fusion = fusion(&items, &ours.scores, &nist.scores, &set)?;
        fusion.print();
        door_thresholds(
            "enrolled with 3 captures (fused as the daemon fuses: best2), probe against the enrolled finger",
            &fusion.daemon_genuine,
            &fusion.daemon_impostor,
        );
        for e in &fusion.enrolled_as_the_daemon {
            door_thresholds(
                &format!(
                    "enrolled as the daemon enrols from {} captures (the agreeing ones kept, at most {MAX_VIEWS}; \
                     {}/{} enrolments refused as inconsistent), probes the other {}",
                    e.captures,
                    e.refused,
                    e.enrolments,
                    8 - e.captures
                ),
                &e.genuine,
                &e.impostor,
            );
        }
        all_oe.extend_from_slice(&ours.extract);
        all_ne.extend_from_slice(&nist.extract);
        all_oc.extend_from_slice(&ours.compare);
        all_nc.extend_from_slice(&nist.compare);
        print_times("median", &mut ours.extract, &mut nist.extract, &mut ours.compare, &mut nist.compare);
        summary.push(SetSummary {
            set: set.clone(),
            role: r,
            images: items.len(),
            ours: oa,
            nist: na,
            ours_fte: ours.fte,
            nist_fte: nist.fte,
            fusion,
            tnorm: (ot, nt),
        });
        // 1:N: each real finger's impressions in order, the usable ones. A finger an earlier set holds too
        // (the same finger on another sensor, [`cross_sensor::SAME_FINGERS`]) shares that one's identity, and
        // [`identify`] sets the twin aside for its probes.
        let shared = loaded.iter().position(|(other, _)| cross_sensor::same_fingers(other, &set));
        for it in &items {
            let Some((t, _)) = &it.ours else { continue };
            let key = REAL_KEYS + (d as u64) * 1_000_000 + u64::from(it.finger);
            let identity = shared.map_or(key, |d0| REAL_KEYS + (d0 as u64) * 1_000_000 + u64::from(it.finger));
            match real.iter_mut().find(|f| f.key == key) {
                Some(f) => f.impressions.push(t.clone()),
                None => real.push(RealFinger { key, identity, role: r, impressions: vec![t.clone()] }),
            }
        }
        loaded.push((set, items));
    }
    print_summary(&summary);
    print_times("all sets, median", &mut all_oe, &mut all_ne, &mut all_oc, &mut all_nc);
    cross_sensor::run(&loaded, scores_dir)?;
    identify(gallery, probes, &real, shortlists)
}

/// Gallery keys from here up are real fingers (set × 1,000,000 + finger); below, synthetic identities.
const REAL_KEYS: u64 = 1_000_000_000;

/// One real finger for 1:N: its key, its identity (its own key, or the key of the same finger enrolled from
/// an earlier set of another sensor), its set's role, its usable impressions in FVC order.
struct RealFinger {
    key: u64,
    identity: u64,
    role: Role,
    impressions: Vec<MinutiaeTemplate>,
}

fn print_times(label: &str, oe: &mut [Duration], ne: &mut [Duration], oc: &mut [Duration], nc: &mut [Duration]) {
    let (oe, ne, oc, nc) = (median(oe), median(ne), median(oc), median(nc));
    println!(
        "    {label} extraction: ours {}, NIST mindtct + loader {} (ours/NIST {}); comparison: ours {}, NIST \
         bozorth3 on the loader's input {} (ours/NIST {})",
        fmt_d(oe),
        fmt_d(ne),
        ratio(oe.as_secs_f64(), ne.as_secs_f64()),
        fmt_d(oc),
        fmt_d(nc),
        ratio(oc.as_secs_f64(), nc.as_secs_f64()),
    );
}

/// The closing table: every set under its role, ours and the fair NIST side by side (all pairs, percent).
fn print_summary(sets: &[SetSummary]) {
    println!("fingerprint: summary, all pairs, percent — ours / NIST as the NIST tools run it (ratio)");
    println!(
        "    {:<13} {:<24} {:>22} {:>15} {:>22} {:>15} {:>9}",
        "role", "set", "EER", "FMR100", "FMR1000", "ZeroFMR", "FTE"
    );
    for want in [Role::Development, Role::Evaluation, Role::Unassigned] {
        for s in sets.iter().filter(|s| s.role == want) {
            let role = match s.role {
                Role::Development => "development",
                Role::Evaluation => "evaluation",
                Role::Unassigned => "unassigned",
            };
            let (Some(o), Some(n)) = (s.ours, s.nist) else {
                println!("    {role:<13} {:<24} not enough pairs", s.set);
                continue;
            };
            let both = |a: f64, b: f64| format!("{a:.2} / {b:.2}");
            let with_ratio = |a: f64, b: f64| format!("{a:.2} / {b:.2} ({})", ratio(a, b));
            println!(
                "    {role:<13} {:<24} {:>22} {:>15} {:>22} {:>15} {:>9}",
                s.set,
                with_ratio(o.eer, n.eer),
                both(o.fmr100, n.fmr100),
                with_ratio(o.fmr1000, n.fmr1000),
                both(o.zero_fmr, n.zero_fmr),
                format!("{} / {} of {}", s.ours_fte, s.nist_fte, s.images),
            );
        }
    }
    println!(
        "    T-norm against each set's other fingers (session 25; measured, not the daemon's score), EER / FMR1000 %: \
         ours normalised, NIST as the NIST tools run it, NIST normalised"
    );
    for s in sets {
        if let ((Some(o), Some(n)), Some(raw)) = (s.tnorm, s.nist) {
            println!(
                "      {:<24} {:.2} / {:.2}   NIST {:.2} / {:.2} (ours {} / {})   NIST normalised {:.2} / {:.2}",
                s.set,
                o.eer,
                o.fmr1000,
                raw.eer,
                raw.fmr1000,
                ratio(o.eer, raw.eer),
                ratio(o.fmr1000, raw.fmr1000),
                n.eer,
                n.fmr1000
            );
        }
    }
    println!("    enrolment fusion, 3 captures stored (the demo site's number), EER % (FMR1000 %), ours | NIST:");
    for want in [Role::Development, Role::Evaluation, Role::Unassigned] {
        for s in sets.iter().filter(|s| s.role == want) {
            println!("      {:<24} {}", s.set, s.fusion.line());
        }
    }
}

/// Enrolment with several captures (issue 17, "enrolment that uses all its captures"), on one set's real
/// impressions. Eight folds: impressions k, k+1, k+2 (mod 8) are the enrolment captures, the other five
/// probe. Per probe and enrolled finger, the score of each strategy:
/// - `single`: against the first capture only;
/// - `chosen`: against the capture that agrees best with the other two (highest sum of scores), the one
///   template the daemon stores today (daemon/src/flows/enroll.rs);
/// - `max`, `mean` and `best2`: against each of the three, fused by the highest, the mean, or the mean of
///   the two highest (`best2`, the daemon's rule since session 16: `tobira_biometrics::score::fused`).
///
/// Genuine: a probe against its own finger; impostor: against every other finger of the set. Pooled over the
/// folds (10 fingers: 400 genuine, 3,600 impostor comparisons). Comparisons are directed, probe against
/// enrolled capture, for both matchers.
struct Fusion {
    ours: [Option<Rates>; 5],
    nist: [Option<Rates>; 5],
    /// Ours, fused as the daemon fuses (`best2`): the score it decides on, genuine and impostor.
    daemon_genuine: Vec<f64>,
    daemon_impostor: Vec<f64>,
    /// Ours, enrolled as the daemon enrols (`FingerTemplate::fuse`'s rule, `enrolled::agreeing`) from 3 and
    /// from 5 captures.
    enrolled_as_the_daemon: Vec<AsEnrolled>,
}

/// Fused comparisons of fingers enrolled as the daemon enrols them from `captures` captures.
struct AsEnrolled {
    captures: u32,
    genuine: Vec<f64>,
    impostor: Vec<f64>,
    /// Enrolments refused because fewer than two captures agreed, of all attempted.
    refused: usize,
    enrolments: usize,
}

const STRATEGIES: [&str; 5] = ["single", "chosen", "max", "mean", "best2"];
/// The strategy the daemon uses.
const DAEMON: usize = 4;
const CAPTURES: u32 = 3;

impl Fusion {
    fn print(&self) {
        println!("    enrolment with {CAPTURES} captures (8 folds, probe against enrolled; EER / FMR100 / FMR1000 %):");
        for (k, name) in STRATEGIES.iter().enumerate() {
            let f = |r: &Option<Rates>| match r {
                Some(r) => format!("{:.2} / {:.2} / {:.2}", r.eer, r.fmr100, r.fmr1000),
                None => "not enough pairs".into(),
            };
            let n = self.ours[k].map_or((0, 0), |r| (r.genuine, r.impostor));
            println!(
                "      {name:<7} ours {:<22} NIST {:<22} ({} genuine, {} impostor)",
                f(&self.ours[k]),
                f(&self.nist[k]),
                n.0,
                n.1
            );
        }
    }

    fn line(&self) -> String {
        let f = |r: &Option<Rates>| r.map_or("—".into(), |r| format!("{:.2} ({:.2})", r.eer, r.fmr1000));
        let side = |v: &[Option<Rates>; 5]| {
            STRATEGIES.iter().zip(v).map(|(n, r)| format!("{n} {}", f(r))).collect::<Vec<_>>().join(", ")
        };
        format!("{} | {}", side(&self.ours), side(&self.nist))
    }
}

/// Directed score matrices (probe row, reference column) of both matchers: the all-pairs scores for the
/// probe with the lower index, the reverse direction computed here.
fn fusion(items: &[Item], ours_pairs: &[f64], nist_pairs: &[f64], set: &str) -> anyhow::Result<Fusion> {
    let n = items.len();
    let (mut so, mut sn) = (vec![vec![0.0; n]; n], vec![vec![0.0; n]; n]);
    for ((a, b), (o, ni)) in pairs(n).zip(ours_pairs.iter().zip(nist_pairs)) {
        so[a][b] = *o;
        sn[a][b] = *ni;
    }
    for b in 0..n {
        if interrupt::requested() {
            bail!("interrupted");
        }
        eprint!("\r  {set}: reverse direction {}/{n}", b + 1);
        for a in 0..b {
            let (x, y) = (&items[b], &items[a]);
            if let (Some((_, p)), Some((_, r))) = (&x.ours, &y.ours) {
                so[b][a] = f64::from(compare(p, r).0);
            }
            if let (Some(p), Some(r)) = (&x.nist, &y.nist) {
                sn[b][a] = f64::from(p.compare(r));
            }
        }
    }
    eprintln!();
    let (ours, mut gen_s, mut imp) = fuse(items, &so);
    let (nist, _, _) = fuse(items, &sn);
    Ok(Fusion {
        ours,
        nist,
        daemon_genuine: std::mem::take(&mut gen_s[DAEMON]),
        daemon_impostor: std::mem::take(&mut imp[DAEMON]),
        enrolled_as_the_daemon: [3, 5].into_iter().map(|c| as_the_daemon(items, &so, c)).collect(),
    })
}

/// A set's fingers in file order, and where a finger's impression is among `items` (`None` when that
/// impression is missing): what the fusion folds look their captures and probes up by.
fn by_finger(items: &[Item]) -> (Vec<u32>, impl Fn(u32, u32) -> Option<usize> + '_) {
    let mut fingers: Vec<u32> = items.iter().map(|i| i.finger).collect();
    fingers.dedup();
    let find =
        |finger: u32, impression: u32| items.iter().position(|i| i.finger == finger && i.impression == impression);
    (fingers, find)
}

/// Enrolment as the daemon does it (issue 17, session 16), on one set's directed score matrix: eight folds,
/// impressions k … k + `captures` − 1 (mod 8) captured, the ones that agree kept at the 1:1 threshold
/// (`enrolled::agreeing`, at most `MAX_VIEWS`), a finger whose captures do not agree refused; every other
/// impression probes every enrolled finger, fused by the daemon's rule.
fn as_the_daemon(items: &[Item], s: &[Vec<f64>], captures: u32) -> AsEnrolled {
    let (fingers, find) = by_finger(items);
    let threshold = tobira_biometrics::Threshold::default().value();
    let (mut genuine, mut impostor, mut refused, mut enrolments) = (Vec::new(), Vec::new(), 0, 0);
    for fold in 0..8u32 {
        let window = window(fold, captures);
        let mut enrolled: Vec<(u32, Vec<usize>)> = Vec::new();
        for &f in &fingers {
            let Some(caps) = window.iter().map(|&i| find(f, i)).collect::<Option<Vec<usize>>>() else { continue };
            enrolments += 1;
            let sub: Vec<Vec<f32>> = caps.iter().map(|&a| caps.iter().map(|&b| s[a][b] as f32).collect()).collect();
            match agreeing(&sub, threshold) {
                Some(Ok(kept)) => enrolled.push((f, kept.into_iter().take(MAX_VIEWS).map(|k| caps[k]).collect())),
                _ => refused += 1,
            }
        }
        for (p, probe) in items.iter().enumerate() {
            if window.contains(&probe.impression) {
                continue;
            }
            for (f, views) in &enrolled {
                let v = f64::from(fused(views.iter().map(|&c| Score(s[p][c] as f32))).0);
                if *f == probe.finger { genuine.push(v) } else { impostor.push(v) }
            }
        }
    }
    AsEnrolled { captures, genuine, impostor, refused, enrolments }
}

/// The impressions (numbered 1 … 8 as in the FVC files) a fusion fold enrols: `captures` in a row from
/// `fold + 1`, wrapping past the eighth.
fn window(fold: u32, captures: u32) -> Vec<u32> {
    (0..captures).map(|k| (fold + k) % 8 + 1).collect()
}

type Lists = [Vec<f64>; 5];

fn fuse(items: &[Item], s: &[Vec<f64>]) -> ([Option<Rates>; 5], Lists, Lists) {
    let (fingers, find) = by_finger(items);
    let mut gen_s: Lists = Default::default();
    let mut imp: Lists = Default::default();
    for fold in 0..8u32 {
        let enrolled_imps = window(fold, CAPTURES);
        // Each finger's captures, and the one the daemon would keep (best sum of scores with the others).
        let enrolled: Vec<(u32, Vec<usize>, usize)> = fingers
            .iter()
            .filter_map(|&f| {
                let caps: Vec<usize> = enrolled_imps.iter().map(|&i| find(f, i)).collect::<Option<_>>()?;
                let chosen = *caps
                    .iter()
                    .max_by(|&&i, &&j| {
                        let sum = |c: usize| caps.iter().filter(|&&o| o != c).map(|&o| s[c][o]).sum::<f64>();
                        sum(i).total_cmp(&sum(j)).then(j.cmp(&i))
                    })
                    .unwrap_or(&caps[0]);
                Some((f, caps, chosen))
            })
            .collect();
        for (p, probe) in items.iter().enumerate() {
            if enrolled_imps.contains(&probe.impression) {
                continue;
            }
            for (f, caps, chosen) in &enrolled {
                let scores: Vec<f64> = caps.iter().map(|&c| s[p][c]).collect();
                let by = [
                    scores[0],
                    s[p][*chosen],
                    scores.iter().copied().fold(f64::MIN, f64::max),
                    scores.iter().sum::<f64>() / scores.len() as f64,
                    // The daemon's rule on the same scores (f32 to f64 and back is exact).
                    f64::from(fused(scores.iter().map(|&v| Score(v as f32))).0),
                ];
                let target = if *f == probe.finger { &mut gen_s } else { &mut imp };
                for (t, v) in target.iter_mut().zip(by) {
                    t.push(v);
                }
            }
        }
    }
    (std::array::from_fn(|k| rates(&gen_s[k], &imp[k])), gen_s, imp)
}

/// Issue 16 §2: the threshold a fingerprint door uses to keep FPIR at the default 1e-4 per decision with N
/// templates allowed, and what it costs the enrolled on this set's real prints. Since enrolment fusion
/// (issue 17) the daemon decides on a fused score over three enrolled impressions (the mean of the best two
/// since session 16), so these are the fused comparisons of [`fuse`] by the daemon's rule: the share of genuine ones below the threshold — the genuine-rejection rate
/// per attempt — and the impostor ones at or above it. Nothing is tuned on these figures; the thresholds come
/// from the calibration table (development sets only).
fn door_thresholds(label: &str, genuine: &[f64], impostor: &[f64]) {
    println!("    doors, {label}:");
    for n in [1usize, 10, 100, 1_000, 10_000] {
        let t = tobira_biometrics::Threshold::for_identification(1e-4, n);
        let v = f64::from(t.value());
        let rejected = genuine.iter().filter(|s| **s < v).count();
        let over = impostor.iter().filter(|s| **s >= v).count();
        println!(
            "      door at FPIR 1e-4 with {n:>6} templates allowed: threshold {:.3} (FMR {:.0e} per comparison): genuine rejected {rejected}/{} ({:.1} %), impostors over it {over}/{}",
            t.value(),
            t.fmr(),
            genuine.len(),
            100.0 * rejected as f64 / genuine.len().max(1) as f64,
            impostor.len()
        );
    }
}

/// Synthetic prints (issue 3 §5): every unordered pair of 8 impressions of `fingers` master prints, through
/// the same extractor and matcher, at the daemon's threshold that real sensors calibrated.
pub fn synthetic(fingers: usize) {
    let t = Instant::now();
    eprint!("  synthetic: {fingers} fingers × 8 impressions…");
    let f = tobira_biometrics::bench::measure_prints(0, fingers, 8);
    eprintln!(" {:.0} s", t.elapsed().as_secs_f64());
    println!(
        "fingerprint: synthetic prints ({} fingers × {} impressions, SFinGe-like; apart from the real sets)",
        f.fingers, f.impressions
    );
    match f.rates {
        Some(r) => println!(
            "    all pairs ({} genuine, {} impostor): EER {:.3} %, FMR100 {:.3} %, FMR1000 {:.3} %, ZeroFMR {:.3} %",
            r.genuine, r.impostor, r.eer, r.fmr100, r.fmr1000, r.zero_fmr
        ),
        None => println!("    not enough pairs"),
    }
    println!(
        "    at the daemon's threshold {:.3} (FMR 1e-4 on real sensors): genuine accepted {}/{} ({:.2} %), impostors \
         over it {}/{} ({:.4} %); lowest genuine {:.3}, highest impostor {:.3}",
        f.threshold,
        f.genuine_accepted,
        f.genuine_pairs(),
        100.0 * f.genuine_accepted as f64 / f.genuine_pairs().max(1) as f64,
        f.impostors_over,
        f.impostor_pairs(),
        100.0 * f.impostors_over as f64 / f.impostor_pairs().max(1) as f64,
        f.genuine_min,
        f.impostor_max
    );
    println!("    failure to enrol {}/{}, median minutiae {}", f.fte, f.fingers * f.impressions, f.minutiae_median);
}

/// 1:N over `n` templates: synthetic identities and the real fingers. Three enrolments of the real fingers,
/// in turn in the same gallery: the first usable impression alone (probes: the other seven); the first three
/// fused, as the daemon enrolled from issue 17 until session 16 (probes: the other five), with the gallery's
/// shortlist and then each of `shortlists`; the first five fused, the default `enrollment_samples` since
/// session 16 (probes: the other three). Rank-1 per role. Each probe's finger is enrolled once: FVC2000 DB1
/// and DB2 share their fingers ([`cross_sensor::SAME_FINGERS`]), so the same finger's enrolment from the
/// other set is set aside for its probes (until session 20 it took part, and ranking it first — the right
/// finger — was counted as a miss "below another real finger").
fn identify(n: usize, probes: usize, real: &[RealFinger], shortlists: &[usize]) -> anyhow::Result<()> {
    let noise = ImpressionNoise::default();
    let mut g: Gallery<u64> = Gallery::new();
    let synthetic = n.saturating_sub(real.len());
    for f in 0..synthetic as u64 {
        if f % 1000 == 0 {
            if interrupt::requested() {
                bail!("interrupted");
            }
            eprint!("\r  1:N: enrolling {f}/{n}");
        }
        g.insert(f, &SyntheticFinger::new(f).impression(0, &noise));
    }
    // Who outranks a missed probe's finger: a synthetic identity, another real finger, or nobody (the
    // gallery returned no candidate at all).
    #[derive(Default)]
    struct Misses {
        synthetic: usize,
        real: usize,
        none: usize,
    }
    let identity = |k: u64| real.iter().find(|f| f.key == k).map_or(k, |f| f.identity);
    // `across`: the probe's finger is to be found through its enrolment from the other sensor's set (its own
    // set's enrolment set aside) instead of through its own.
    let run = |g: &Gallery<u64>,
               list: &mut dyn Iterator<Item = (u64, &MinutiaeTemplate)>,
               misses: &mut Misses,
               across: bool|
     -> anyhow::Result<(Vec<Duration>, usize, usize)> {
        let (mut times, mut hits, mut total) = (Vec::new(), 0, 0);
        for (key, probe) in list {
            if interrupt::requested() {
                bail!("interrupted");
            }
            // The probe's finger enrolled once: its enrolment from another sensor's set, if any, set aside.
            let twins: Vec<u64> =
                real.iter().filter(|f| f.key != key && f.identity == identity(key)).map(|f| f.key).collect();
            let once = |k: &u64| if across { *k != key } else { !twins.contains(k) };
            let t = Instant::now();
            let top = g.identify_top(probe, Some(&once), 1);
            times.push(t.elapsed());
            total += 1;
            match top.first().map(|x| x.0) {
                Some(k) if (k == key && !across) || (across && twins.contains(&k)) => hits += 1,
                Some(k) if k >= REAL_KEYS => misses.real += 1,
                Some(_) => misses.synthetic += 1,
                None => misses.none += 1,
            }
        }
        Ok((times, hits, total))
    };
    // Synthetic probes only against synthetic identities: with `--gallery` no larger than the real fingers
    // there are none, and a probe of an identity never enrolled would print as a miss.
    let synth_probes = if synthetic == 0 { 0 } else { probes as u64 };
    let synth: Vec<(u64, MinutiaeTemplate)> = (0..synth_probes)
        .map(|i| {
            let f = (i * 7919) % synthetic.max(1) as u64;
            (f, SyntheticFinger::new(f).impression(1000 + i, &noise))
        })
        .collect();
    let pc = |h: usize, n: usize| if n == 0 { 0.0 } else { 100.0 * h as f64 / n as f64 };
    let default = g.shortlist();
    let runs = [(1, default), (3, default)].into_iter().chain(shortlists.iter().map(|&k| (3, k))).chain([(5, default)]);
    for (enrolled, shortlist) in runs {
        g.set_shortlist(shortlist);
        for f in real {
            if f.impressions.len() > enrolled {
                // As enrolled, without the daemon's consistency check (every finger takes part).
                if let Some(t) = FingerTemplate::new(f.impressions[..enrolled].to_vec()) {
                    g.insert_finger(f.key, &t);
                }
            }
        }
        eprintln!("\r  1:N: {} templates enrolled ({} real fingers)   ", g.len(), real.len());
        let (mut st, sh, sn) = run(&g, &mut synth.iter().map(|(k, t)| (*k, t)), &mut Misses::default(), false)?;
        let mut all = st.clone();
        let mut line = String::new();
        let mut missed = Misses::default();
        for role in [Role::Development, Role::Evaluation, Role::Unassigned] {
            let mut list = real
                .iter()
                .filter(|f| f.role == role && f.impressions.len() > enrolled)
                .flat_map(|f| f.impressions[enrolled..].iter().map(move |t| (f.key, t)));
            let (rt, rh, rn) = run(&g, &mut list, &mut missed, false)?;
            if rn > 0 {
                line += &format!(", {} {:.1} % ({rh}/{rn})", role.short(), pc(rh, rn));
            }
            all.extend(rt);
        }
        let s = crate::stats::summarize(all);
        println!(
            "fingerprint: 1:N over {} templates ({} impressions), real fingers enrolled with {enrolled} impression{}, \
             shortlist {shortlist}, {} bytes per gallery template",
            g.len(),
            g.impressions(),
            if enrolled > 1 { "s fused (best2)" } else { "" },
            g.bytes_per_template()
        );
        println!("    latency over {} probes: p50 {}, p99 {}, max {}", s.n, fmt_d(s.p50), fmt_d(s.p99), fmt_d(s.max));
        if sn > 0 {
            println!("    rank-1: synthetic {:.1} % ({sh}/{sn}, median {}){line}", pc(sh, sn), fmt_d(median(&mut st)));
        } else {
            println!("    rank-1 (no synthetic identity in the gallery){line}");
        }
        println!(
            "    real probes missed: {} ranked first a synthetic identity, {} another real finger, {} found no candidate \
             (the same finger enrolled from another sensor's set is set aside: FVC2000 DB1 and DB2 share their fingers)",
            missed.synthetic, missed.real, missed.none
        );
        // Across sensors: the probes of fingers enrolled from two sets, each against its finger's enrolment
        // from the other set — a site that enrols at one reader model and identifies at a door of another.
        let twinned = |f: &&RealFinger| real.iter().any(|o| o.key != f.key && o.identity == f.identity);
        let mut list = real
            .iter()
            .filter(|f| f.impressions.len() > enrolled)
            .filter(twinned)
            .flat_map(|f| f.impressions[enrolled..].iter().map(move |t| (f.key, t)));
        let mut across = Misses::default();
        let (_, h, n) = run(&g, &mut list, &mut across, true)?;
        if n > 0 {
            println!(
                "    across sensors: {n} probes of fingers FVC2000 DB1 and DB2 share, each against its finger enrolled \
                 from the other set (its own set's enrolment set aside): rank-1 {:.1} % ({h}/{n}); missed: {} below a \
                 synthetic identity, {} below another real finger",
                pc(h, n),
                across.synthetic,
                across.real
            );
        }
    }
    Ok(())
}
