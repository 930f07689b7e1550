//! `tobirad`: the daemon. Glue only: options, logging, signals, exit codes.

use clap::Parser;
use tobira::node::options::Options;

fn main() {
    let opts = Options::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOBIRA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if opts.log_json {
        tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tobirad: cannot start the runtime: {e}");
            std::process::exit(70);
        }
    };
    // The handlers are installed before anything starts: a SIGTERM that arrives while tobirad starts up
    // (as soon as its socket answers) stops it cleanly, with its final checkpoint, instead of killing it.
    let result = rt.block_on(async {
        if opts.init {
            // Creates the site and exits (issue 22 §2): the service is started separately.
            tobira::run::init::init(&opts).await
        } else {
            tobira::run::run(opts, shutdown_signal()).await
        }
    });
    if let Err(e) = result {
        eprintln!("tobirad: {e}");
        std::process::exit(match e {
            tobira::run::StartError::Config(_) | tobira::run::StartError::ConfigRead { .. } => 78, // EX_CONFIG
            _ => 1,
        });
    }
}

/// SIGTERM (systemd) or SIGINT (Ctrl-C). Registered when called (inside the runtime), not when first awaited.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut t), Ok(mut i)) => {
                tokio::select! {
                    _ = t.recv() => {}
                    _ = i.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}
