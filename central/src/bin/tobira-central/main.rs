//! `tobira-central`: the centre's commands (see `cli.rs`).

mod cli;

use clap::Parser;

fn main() {
    let cli = cli::CentralCli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOBIRA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tobira-central: cannot start the runtime: {e}");
            std::process::exit(70);
        }
    };
    match rt.block_on(cli::run(cli)) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("tobira-central: {e:#}");
            std::process::exit(1);
        }
    }
}
