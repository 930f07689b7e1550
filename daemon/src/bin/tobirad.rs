//! `tobirad`: the daemon. Glue only: options, logging, signals, exit codes.

use clap::Parser;
use tobira::node::options::Options;

fn main() {
    let opts = Options::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOBIRA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Under systemd, to the journal with each event's fields as journal fields (DOOR=, REASON=, READER=…,
    // `journalctl -u tobirad REASON=NOT_IDENTIFIED`); no event carries template data.
    let journal = if stderr_is_journal() { tracing_journald::layer().ok() } else { None };
    if let Some(j) = journal {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(filter)
            .with(j.with_syslog_identifier("tobirad".into()).with_field_prefix(None))
            .init();
    } else if opts.log_json {
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

/// Whether systemd connected stderr to the journal: `JOURNAL_STREAM` names stderr's device and inode
/// (systemd.exec(5)); a stderr redirected elsewhere since keeps readable text.
fn stderr_is_journal() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Some((dev, ino)) = std::env::var("JOURNAL_STREAM").ok().and_then(|v| {
        let (d, i) = v.split_once(':')?;
        Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?))
    }) else {
        return false;
    };
    let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() else { return false };
    std::fs::File::from(fd).metadata().is_ok_and(|m| m.dev() == dev && m.ino() == ino)
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
