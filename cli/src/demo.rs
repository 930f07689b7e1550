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
    /// After the scenarios, keep the demo site up with the web console (`tobira-console`, next to this
    /// binary) on 127.0.0.1:8470 until Enter is pressed (issue 18).
    #[arg(long)]
    pub console: bool,
}
