//! `tobira-console`: serves the console on 127.0.0.1 (the terminal's own browser) and talks to tobirad over
//! its control socket. See README "Console".

use anyhow::{Context, bail};
use clap::Parser;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "tobira-console", version, about = "tobira's web console: a client of tobirad, like the CLI")]
struct Args {
    /// tobirad's control socket.
    #[arg(long, env = "TOBIRA_SOCKET", default_value = "/var/lib/tobira/control.sock")]
    socket: PathBuf,
    /// The reader of this terminal, where people prove who they are (sign-in and every act).
    #[arg(long, env = "TOBIRA_READER")]
    reader: String,
    /// Address to serve on. Only a loopback address: serving the office LAN needs TLS, which this version
    /// does not offer yet (issue 18).
    #[arg(long, default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
    /// Minutes without activity after which a session ends.
    #[arg(long, default_value_t = 5)]
    idle_minutes: u64,
    /// Seconds instead of minutes (tests).
    #[arg(long, hide = true)]
    idle_seconds: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let a = Args::parse();
    if !a.listen.ip().is_loopback() {
        bail!(
            "--listen {}: the console serves only 127.0.0.1 (or ::1) until it can serve TLS; open it on the terminal itself",
            a.listen
        );
    }
    let idle = Duration::from_secs(a.idle_seconds.unwrap_or(a.idle_minutes.saturating_mul(60)));
    let cfg = tobira_console::Config { socket: a.socket, reader: a.reader, idle, secure_cookies: false };
    let listener =
        tokio::net::TcpListener::bind(a.listen).await.with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    // The URL on standard output, for the demo and the tests (port 0 picks a free one).
    println!("tobira-console: http://{addr}/");
    tracing::info!(%addr, reader = %cfg.reader, "console serving");
    let serve = axum::serve(listener, tobira_console::router(cfg)).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    // An open home page holds its event stream for as long as it stays open: after Ctrl-C, answers in
    // flight get a moment to finish, the streams are then simply cut (the pages say the console is gone).
    tokio::select! {
        r = serve => r?,
        _ = async {
            let _ = tokio::signal::ctrl_c().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        } => {}
    }
    Ok(())
}
