//! The demo's site and arguments. The demo itself (a scenario that starts `tobirad` as a child and prints what
//! happens) is the `tobira` binary's `demo` module: a program, so it reports with `anyhow` like one.

use std::path::PathBuf;

/// The demo site, embedded so the demo needs no files (DESIGN: "the demo site is the embedded default").
pub const DEMO_SITE: &str = include_str!("../../config/demo.toml");

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Keep the temporary data directory (print its path) instead of deleting it.
    #[arg(long)]
    pub keep: bool,
    /// tobirad binary to start (default: next to this tobira binary).
    #[arg(long)]
    pub tobirad: Option<PathBuf>,
}
