//! `tobira-bench`: the project's benchmark command. It prints figures; it asserts nothing (speed goals are
//! read by people from these figures, never enforced by timed tests).
//!
//! Run in release: `cargo run --release -p tobira-bench -- all`.

mod audit;
mod central;
mod central_history;
mod central_revocation;
mod console;
mod crash;
mod cross_sensor;
mod door;
mod faults;
mod fingerprint;
mod fvc_image;
mod hostile;
mod interrupt;
mod matching;
mod nist;
mod palm;
mod policy;
mod stats;
mod tnorm;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tobira-bench", about = "tobira benchmarks: print figures for the README's performance section")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Policy decision time (median, p99).
    Policy {
        #[arg(long, default_value_t = 200_000)]
        decisions: usize,
    },
    /// Durable audit appends per second: one writer committing each event, and concurrent writers grouped.
    Audit {
        #[arg(long, default_value_t = 3_000)]
        single: usize,
        #[arg(long, default_value_t = 200_000)]
        grouped: usize,
        #[arg(long, default_value_t = 1024)]
        concurrency: usize,
    },
    /// Matcher figures on synthetic identities: 1:1 compare time, 1:N identification over a gallery.
    Match {
        #[arg(long, default_value_t = 10_000)]
        gallery: usize,
        #[arg(long, default_value_t = 200)]
        probes: usize,
    },
    /// Door decision latency (sample captured → unlock issued, audit commit included) with N enrolled,
    /// and the daemon's resident memory.
    Door {
        #[arg(long, default_value_t = 10_000)]
        enrolled: usize,
        #[arg(long, default_value_t = 200)]
        presentations: usize,
        /// Instead: a stranger attack of N unidentified attempts at the server room's entry reader (issue 16
        /// §2): false admits per attempt, when the reader throttle and the alarm engaged.
        #[arg(long)]
        strangers: Option<usize>,
        /// Also: finger to unlock per reader kind as a person waits, every line rate kept (OSDP at 115,200;
        /// the R30x exit reader raised to each of these rates, e.g. 57600,115200; a card + finger door);
        /// `presentations` each, one daemon life per rate.
        #[arg(long, value_delimiter = ',')]
        line_rate: Vec<u32>,
    },
    /// Central ingest: nodes shipping their audit chains at once to a private PostgreSQL over TLS.
    Central {
        #[arg(long, default_value_t = 10)]
        nodes: usize,
        #[arg(long, default_value_t = 20_000)]
        events: i64,
        #[arg(long, default_value_t = 1000)]
        batch: usize,
    },
    /// An auditor's questions at the centre over a generated history (default: 7 years × 50 nodes).
    CentralHistory {
        #[arg(long, default_value_t = 50)]
        nodes: usize,
        #[arg(long, default_value_t = 7)]
        years: u32,
        /// Events per node per office day.
        #[arg(long, default_value_t = 100)]
        per_day: u32,
        #[arg(long, default_value_t = 5_000)]
        people: u32,
        #[arg(long, default_value_t = 100)]
        queries: usize,
    },
    /// Revocation propagation from the centre to N real tobirad nodes.
    CentralRevocation {
        #[arg(long, default_value_t = 5)]
        nodes: usize,
        #[arg(long, default_value_t = 50)]
        rounds: usize,
    },
    /// Fingerprint images: our extraction and matcher against NIST's mindtct + bozorth3 on FVC-named sets
    /// (every unordered pair), then 1:N identification over a gallery.
    Fingerprint {
        /// Write `OUTDIR/<set>.csv` (ours) and `OUTDIR/nbis/<set>.csv` (NIST) for eval_scores.py.
        #[arg(long, value_name = "OUTDIR")]
        scores: Option<std::path::PathBuf>,
        /// Templates in the 1:N gallery: the real fingers, then synthetic identities up to this many (at most
        /// the real fingers: no synthetic identity, and no synthetic probe).
        #[arg(long, default_value_t = 10_000)]
        gallery: usize,
        /// Synthetic probes (impressions of synthetic identities in the gallery).
        #[arg(long, default_value_t = 200)]
        probes: usize,
        /// 1:N: also measure the fused enrolment with these first-pass shortlists (impressions handed to the
        /// matcher), e.g. `--shortlist 64,128`, for choosing it on the development sets.
        #[arg(long, value_delimiter = ',')]
        shortlist: Vec<usize>,
        /// Also measure N synthetic fingers × 8 impressions (SFinGe-like images through the same pipeline),
        /// printed in a section of their own, never mixed with the real sets.
        #[arg(long, value_name = "N")]
        synthetic: Option<usize>,
        /// See every set through a smaller sensor: each image cut to the SIDE×SIDE pixels around its print
        /// before extraction, ours and NIST's alike (260: about 13×13 mm, the size of an R30x module's
        /// window). Development sets stay development: the crop is chosen from them, never from the
        /// evaluation set.
        #[arg(long, value_name = "SIDE", value_parser = clap::value_parser!(u32).range(64..=1024))]
        crop: Option<u32>,
        /// See every set through a fainter sensor: each image's contrast times K around mid-grey (after
        /// --crop, before --vignette and --frame), ours and NIST's alike.
        #[arg(long, value_name = "K")]
        contrast: Option<f32>,
        /// See every set through a sensor lit unevenly: each image (after --crop, before --frame) darkened
        /// towards its corners, to 1 − A of their brightness there (0.5: half), ours and NIST's alike.
        #[arg(long, value_name = "A")]
        vignette: Option<f32>,
        /// See every set through a sensor that pads its window: each image (after --crop, --contrast and
        /// --vignette) inside a black band PX pixels wide, ours and NIST's alike.
        #[arg(long, value_name = "PX", value_parser = clap::value_parser!(u32).range(1..=64))]
        frame: Option<u32>,
        /// Directories of FVC-named images (F_I.tif).
        #[arg(required_unless_present = "synthetic")]
        dirs: Vec<std::path::PathBuf>,
    },
    /// Palm vein on image folders (PolyU crops, CASIA whole hands) beside the CompCode baseline, and 1:N
    /// over synthetic templates.
    Palm {
        /// Write `OUTDIR/<DIRNAME>.csv` (and `<DIRNAME>_CompCode.csv`) with every pair's score.
        #[arg(long, value_name = "OUTDIR")]
        scores: Option<std::path::PathBuf>,
        /// Write the key points drawn on each whole-hand image and its palm region as PNG.
        #[arg(long, value_name = "DIR")]
        debug_dir: Option<std::path::PathBuf>,
        /// Synthetic templates in the 1:N gallery (0: skip).
        #[arg(long, default_value_t = 10_000)]
        gallery: usize,
        #[arg(long, default_value_t = 200)]
        probes: usize,
        /// Also measure N synthetic palms × 4 impressions as a development set of their own.
        #[arg(long, default_value_t = 0, value_name = "N")]
        synthetic: usize,
        /// Skip the degraded capture conditions and the fingertip crops (issue 17 §3), which take most of
        /// the run.
        #[arg(long)]
        no_conditions: bool,
        /// Image folders.
        dirs: Vec<std::path::PathBuf>,
    },
    /// The crash loop (issue 15): the real tobirad under concurrent door and login decisions, killed with
    /// SIGKILL at random moments (start-up, load, key rotation) and restarted; every acknowledged decision
    /// must be in the store and `tobira audit verify` intact. Ctrl-C stops with the figures so far.
    Crash {
        #[arg(long, default_value_t = 100)]
        runs: usize,
        /// Replays a loop (the seed is printed at the start).
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long, default_value_t = 40)]
        people: usize,
    },
    /// The fault matrix (issue 15): each simulated reader and controller kind at the office door × unplug,
    /// silence, garbage, death mid-pulse, a lying or unauthenticated controller; grants without an
    /// acknowledged strike, faults audited per episode, status under 200 idle connections, SIGTERM time.
    Faults {
        /// Only this reader or controller kind: sim-finger, sim-r30x, palm-bridge, sim, osdp.
        #[arg(long)]
        only: Option<String>,
    },
    /// (The fault matrix's helper, run as another user: holds N idle connections to SOCKET until standard
    /// input closes.)
    #[command(hide = true)]
    HoldIdle { socket: std::path::PathBuf, n: usize, payload: Option<String> },
    /// Hostile local clients (issue 15): the administrator's `status` and a PAM request timed while floods
    /// of idle connections, half-sent frames and rapid connect/close are held on both sockets, by another
    /// user and by the administrator's own; the daemon's resident memory before and after.
    Hostile,
    /// Page timings of the web console (median, p95) with N people and a year of events.
    Console {
        #[arg(long, default_value_t = 10_000)]
        people: usize,
        /// Door events per day in the year of audit history.
        #[arg(long, default_value_t = 100)]
        per_day: usize,
        #[arg(long, default_value_t = 50)]
        rounds: usize,
    },
    /// Everything, with the defaults.
    All,
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Policy { decisions } => policy::run(decisions),
        Cmd::Audit { single, grouped, concurrency } => audit::run(single, grouped, concurrency),
        Cmd::Match { gallery, probes } => matching::run(gallery, probes),
        Cmd::Console { people, per_day, rounds } => console::run(people, per_day, rounds),
        Cmd::Door { enrolled, strangers: Some(n), .. } => door::strangers(enrolled, n),
        Cmd::Door { enrolled, presentations, strangers: None, line_rate } => {
            door::run(enrolled, presentations, &line_rate)
        }
        Cmd::Faults { only } => faults::run(only),
        Cmd::HoldIdle { socket, n, payload } => faults::hold_idle(socket, n, payload),
        Cmd::Hostile => hostile::run(),
        Cmd::Crash { runs, seed, people } => crash::run(runs, seed, people),
        Cmd::Central { nodes, events, batch } => central::run(nodes, events, batch),
        Cmd::CentralRevocation { nodes, rounds } => central_revocation::run(nodes, rounds),
        Cmd::CentralHistory { nodes, years, per_day, people, queries } => {
            central_history::run(nodes, years, per_day, people, queries)
        }
        Cmd::Fingerprint { scores, gallery, probes, shortlist, synthetic, crop, contrast, vignette, frame, dirs } => {
            if let Some(n) = synthetic {
                fingerprint::synthetic(n);
            }
            if dirs.is_empty() {
                Ok(())
            } else {
                if contrast.is_some_and(|k| !(k > 0.0 && k <= 4.0)) {
                    anyhow::bail!("--contrast must be above 0 and at most 4");
                }
                if vignette.is_some_and(|a| !(0.0..1.0).contains(&a)) {
                    anyhow::bail!("--vignette must be at least 0 and below 1");
                }
                let view = fingerprint::View { crop, contrast, vignette, frame };
                fingerprint::run(&dirs, scores.as_deref(), gallery, probes, &shortlist, view)
            }
        }
        Cmd::Palm { scores, debug_dir, gallery, probes, synthetic, no_conditions, dirs } => {
            palm::run(&dirs, scores.as_deref(), debug_dir.as_deref(), gallery, probes, synthetic, !no_conditions)
        }
        Cmd::All => {
            policy::run(200_000)?;
            audit::run(3_000, 200_000, 1024)?;
            matching::run(10_000, 200)?;
            door::run(10_000, 200, &[])
        }
    }
}
