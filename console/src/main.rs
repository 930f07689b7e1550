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
    /// Address to serve on. Any address but loopback (the terminal itself) is served only over TLS, with
    /// --tls-cert and --tls-key.
    #[arg(long, default_value = "127.0.0.1:8470")]
    listen: SocketAddr,
    /// The site's certificate chain (PEM): serve HTTPS, session cookies `Secure`.
    #[arg(long, env = "TOBIRA_CONSOLE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM), readable by the console's user only.
    #[arg(long, env = "TOBIRA_CONSOLE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
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
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => Some(tobira_console::tls::server_config(cert, key)?),
        _ => None,
    };
    if tls.is_none() && !a.listen.ip().is_loopback() {
        bail!(
            "--listen {}: off the terminal (127.0.0.1, ::1) the console is served only over TLS: give the site's \
             certificate and key with --tls-cert and --tls-key (nothing served over plain HTTP on the office LAN)",
            a.listen
        );
    }
    let idle = Duration::from_secs(a.idle_seconds.unwrap_or(a.idle_minutes.saturating_mul(60)));
    let cfg = tobira_console::Config { socket: a.socket, reader: a.reader, idle, secure_cookies: tls.is_some() };
    let listener =
        tokio::net::TcpListener::bind(a.listen).await.with_context(|| format!("cannot listen on {}", a.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // The URL on standard output, for the demo and the tests (port 0 picks a free one).
    println!("tobira-console: {scheme}://{addr}/");
    tracing::info!(%addr, scheme, reader = %cfg.reader, "console serving");
    let app = tobira_console::router(cfg);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let serve = async move {
        match tls {
            Some(tls) => {
                let listener = tobira_console::tls::TlsListener::new(listener, tls)?;
                axum::serve(listener, app).with_graceful_shutdown(shutdown).await
            }
            None => axum::serve(listener, app).with_graceful_shutdown(shutdown).await,
        }
    };
    tokio::select! {
        r = serve => r?,
        _ = async {
            let _ = tokio::signal::ctrl_c().await;
            tokio::time::sleep(Duration::from_secs(2)).await;
        } => {}
    }
    Ok(())
}
