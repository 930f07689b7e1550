//! A finger enrolled on one sensor and presented on another (issue 17: robustness across sensors).
//!
//! FVC2000's DB1 (KeyTronic optical) and DB2 (ST TouchChip capacitive) "B" sets hold the same ten fingers
//! under the same numbers. The FVC pages do not say so; the prints do. Measured in session 20 (release, the
//! daemon's extractor and matcher at 500 dpi, every impression of DB1 against every impression of DB2): the
//! 640 pairs with the same finger number score a median 0.188 (510 of them 0.1 or more), the 5,760 with
//! different numbers a median 0.017 and at most 0.085 — genuine and impostor scores, as within one set.
//! No other pair of the shared sets does this (DB1 or DB2 against DB3, FVC2000 DB1 against FVC2002 DB1:
//! same-number medians 0.014–0.020, as their impostors).
//!
//! Two consequences: the 1:N bench counts a probe found through its finger's enrolment on the other sensor
//! as found (until session 20 it counted it as a miss "below another real finger"), and the pair gives an
//! interoperability figure on real prints — enrolled on an optical reader, presented at a capacitive one and
//! the other way — which [`run`] prints beside NIST's on the same pairs. Both sensors are development sets:
//! the matcher was tuned on each of them, never on the pair.

use crate::fvc_image::Item;
use crate::interrupt;
use anyhow::{Context, bail};
use std::io::Write;
use std::path::Path;
use tobira_biometrics::eval::{Rates, rates};
use tobira_biometrics::score::{Score, fused, subsets};
use tobira_biometrics::{Prepared, Threshold, compare};

/// Sets that hold the same physical fingers under the same numbers (measured: the module's doc).
pub const SAME_FINGERS: &[(&str, &str)] = &[("FVC2000_DB1_B", "FVC2000_DB2_B")];

/// Whether two sets hold the same fingers, in either order.
pub fn same_fingers(a: &str, b: &str) -> bool {
    SAME_FINGERS.iter().any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b))
}

/// Impressions enrolled per finger in the fused figures: the daemon's default `enrollment_samples`.
const ENROLLED: usize = 5;

/// Every pair of loaded sets that share their fingers: the cross-sensor figures; with `scores_dir`, the
/// single-impression scores to `OUTDIR/cross/A__B.csv` and `OUTDIR/cross/nbis/A__B.csv` for
/// `shared/tools/eval_scores.py` (whose all-pairs figures must agree: it takes the finger number as the
/// identity, which these two sets share).
pub fn run(loaded: &[(String, Vec<Item>)], scores_dir: Option<&Path>) -> anyhow::Result<()> {
    for (i, (a, ia)) in loaded.iter().enumerate() {
        for (b, ib) in &loaded[i + 1..] {
            if same_fingers(a, b) {
                let rows = cross(a, ia, b, ib)?;
                if let Some(out) = scores_dir {
                    let name = format!("{a}__{b}.csv");
                    write_csv(&out.join("cross").join(&name), rows.iter().map(|r| (&r.0, &r.1, r.2)))?;
                    write_csv(&out.join("cross").join("nbis").join(&name), rows.iter().map(|r| (&r.0, &r.1, r.3)))?;
                }
            }
        }
    }
    Ok(())
}

fn write_csv<'a>(path: &Path, rows: impl Iterator<Item = (&'a String, &'a String, f64)>) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let file = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut f = std::io::BufWriter::new(file);
    writeln!(f, "probe,reference,score")?;
    for (p, r, s) in rows {
        writeln!(f, "{p},{r},{}", s as f32)?;
    }
    f.flush().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// One single-impression pair across the sensors: probe name, reference name, our score, NIST's.
type Row = (String, String, f64, f64);

/// Scores of both matchers, genuine and impostor, for one protocol.
#[derive(Default)]
struct Scores {
    ours: (Vec<f64>, Vec<f64>),
    nist: (Vec<f64>, Vec<f64>),
}

impl Scores {
    fn push(&mut self, genuine: bool, ours: f64, nist: f64) {
        let side = |s: &mut (Vec<f64>, Vec<f64>), v| if genuine { s.0.push(v) } else { s.1.push(v) };
        side(&mut self.ours, ours);
        side(&mut self.nist, nist);
    }

    fn print(&self, label: &str) {
        let (Some(o), Some(n)) = (rates(&self.ours.0, &self.ours.1), rates(&self.nist.0, &self.nist.1)) else {
            println!("    {label}: not enough pairs");
            return;
        };
        let line = |name: &str, f: fn(&Rates) -> f64| {
            format!("{name} {:.2} / {:.2} (×{:.2})", f(&o), f(&n), f(&o) / f(&n).max(1e-9))
        };
        println!(
            "    {label} ({} genuine, {} impostor), ours / NIST %: {}, {}, {}, {}",
            o.genuine,
            o.impostor,
            line("EER", |r| r.eer),
            line("FMR100", |r| r.fmr100),
            line("FMR1000", |r| r.fmr1000),
            line("ZeroFMR", |r| r.zero_fmr),
        );
    }
}

fn cross(a: &str, ia: &[Item], b: &str, ib: &[Item]) -> anyhow::Result<Vec<Row>> {
    println!("fingerprint: across sensors, {a} against {b} (the same ten fingers; both development sets)");
    // Single impressions: every impression of the first set (probe) against every one of the second.
    let mut single = Scores::default();
    let mut rows = Vec::with_capacity(ia.len() * ib.len());
    for (k, x) in ia.iter().enumerate() {
        if k % 10 == 0 && interrupt::requested() {
            bail!("interrupted");
        }
        eprint!("\r  across sensors: {a} impression {}/{}", k + 1, ia.len());
        for y in ib {
            let ours = match (&x.ours, &y.ours) {
                (Some((_, p)), Some((_, r))) => f64::from(compare(p, r).0),
                _ => 0.0,
            };
            let nist = match (&x.nist, &y.nist) {
                (Some(p), Some(r)) => f64::from(p.compare(r)),
                _ => 0.0,
            };
            single.push(x.finger == y.finger, ours, nist);
            rows.push((x.name.clone(), y.name.clone(), ours, nist));
        }
    }
    eprintln!();
    single.print("single impressions, all pairs");
    // As the daemon decides: a finger enrolled with its first five impressions on one sensor, fused (the
    // mean of the best two), every impression of the other sensor's fingers as the probe; both ways. From
    // the same single scores, every choice of five enrolled ([`print_table_across`]).
    let door = Threshold::for_identification(1e-4, 1);
    for (enrol_set, enrol, probe_set, probes) in [(a, ia, b, ib), (b, ib, a, ia)] {
        let mut s = Scores::default();
        let (mut every_genuine, mut every_impostor) = (Vec::new(), Vec::new());
        let mut fingers: Vec<u32> = enrol.iter().map(|i| i.finger).collect();
        fingers.dedup();
        for f in fingers {
            let views: Vec<&Item> = enrol.iter().filter(|i| i.finger == f).collect();
            // Ours: the finger's usable impressions, each with whether it is among the first five.
            let ours_views: Vec<(bool, &Prepared)> =
                views.iter().enumerate().filter_map(|(k, v)| v.ours.as_ref().map(|(_, t)| (k < ENROLLED, t))).collect();
            for p in probes {
                if interrupt::requested() {
                    bail!("interrupted");
                }
                let singles: Vec<(bool, Score)> = match &p.ours {
                    Some((_, q)) => ours_views.iter().map(|&(first, v)| (first, compare(q, v))).collect(),
                    None => ours_views.iter().map(|&(first, _)| (first, Score(0.0))).collect(),
                };
                // What `PreparedFinger::compare` gives the finger enrolled with its first five.
                let ours = f64::from(fused(singles.iter().filter(|x| x.0).map(|x| x.1)).0);
                let nist = match &p.nist {
                    Some(q) => f64::from(
                        fused(
                            views
                                .iter()
                                .take(ENROLLED)
                                .filter_map(|v| v.nist.as_ref())
                                .map(|r| Score(q.compare(r) as f32)),
                        )
                        .0,
                    ),
                    None => 0.0,
                };
                s.push(p.finger == f, ours, nist);
                let every = if p.finger == f { &mut every_genuine } else { &mut every_impostor };
                for choice in subsets(singles.len(), ENROLLED) {
                    every.push(fused(choice.iter().map(|&k| singles[k].1)).0);
                }
            }
        }
        s.print(&format!("enrolled on {enrol_set} ({ENROLLED} impressions fused), presented on {probe_set}"));
        let v = f64::from(door.value());
        let rejected = s.ours.0.iter().filter(|x| **x < v).count();
        let over = s.ours.1.iter().filter(|x| **x >= v).count();
        println!(
            "      at a door of one template (threshold {:.3}, FMR 1e-4): genuine rejected {rejected}/{} ({:.1} %), \
             impostors over it {over}/{}",
            door.value(),
            s.ours.0.len(),
            100.0 * rejected as f64 / s.ours.0.len().max(1) as f64,
            s.ours.1.len()
        );
        print_table_across(&every_genuine, &every_impostor);
    }
    Ok(rows)
}

/// Whether the threshold table — calibrated within each development sensor — holds its rates when the
/// enrolled impressions and the probe come from different sensors: every choice of [`ENROLLED`] of a
/// finger's impressions enrolled (as `score::fused_impostors` does within a set), every impression of the
/// other sensor's fingers as the probe, at the table's 1e-2, 1e-3 and 1e-4 points. The comparisons reuse
/// the same single scores, so they are not independent; the highest impostor score says more than a count.
fn print_table_across(genuine: &[f32], impostor: &[f32]) {
    let highest = impostor.iter().copied().fold(0f32, f32::max);
    let mut line = String::new();
    for fmr in [1e-2, 1e-3, 1e-4] {
        let t = Threshold::for_fmr(fmr).value();
        let over = impostor.iter().filter(|s| **s >= t).count();
        let refused = genuine.iter().filter(|s| **s < t).count();
        let rate = if over == 0 { String::new() } else { format!(" ({:.1e})", over as f64 / impostor.len() as f64) };
        line += &format!(
            "; at {fmr:.0e} ({t:.3}): impostors {over}{rate}, genuine refused {:.1} %",
            100.0 * refused as f64 / genuine.len().max(1) as f64
        );
    }
    println!(
        "      every choice of {ENROLLED} enrolled ({} genuine, {} impostor fused comparisons): highest impostor {highest:.3}{line}",
        genuine.len(),
        impostor.len()
    );
}
