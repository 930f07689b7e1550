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
    /// The site file whose `[console]` section gives the address, certificate, key and client CA; each flag
    /// below overrides its value.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to serve on (default 127.0.0.1:8470). Any address but loopback (the terminal itself) is
    /// served only over TLS, with --tls-cert and --tls-key (or the site file's).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// The site's certificate chain (PEM): serve HTTPS, session cookies `Secure`, HSTS.
    #[arg(long, env = "TOBIRA_CONSOLE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM), readable by the console's user only.
    #[arg(long, env = "TOBIRA_CONSOLE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require a client certificate issued by this CA (PEM) on every connection (only with TLS).
    #[arg(long, env = "TOBIRA_CONSOLE_CLIENT_CA")]
    tls_client_ca: Option<PathBuf>,
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
    // The site file's `[console]`, then each flag over it.
    let site = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            tobira_core::site::parse_site(&path.display().to_string(), &text)?.console
        }
        None => Default::default(),
    };
    let listen = a.listen.or(site.listen).unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8470)));
    let pair = match (a.tls_cert, a.tls_key) {
        (Some(cert), Some(key)) => Some((cert, key)),
        _ => site.tls,
    };
    let client_ca = a.tls_client_ca.or(site.client_ca);
    let tls = match (&pair, &client_ca) {
        (Some((cert, key)), ca) => Some(tobira_console::tls::server_config_for(cert, key, ca.as_deref())?),
        (None, Some(ca)) => bail!(
            "client certificates ({}) need TLS: give the site's certificate and key (--tls-cert, --tls-key or \
             [console] tls_cert, tls_key)",
            ca.display()
        ),
        (None, None) => None,
    };
    if tls.is_none() && !listen.ip().is_loopback() {
        bail!(
            "--listen {listen}: off the terminal (127.0.0.1, ::1) the console is served only over TLS: give the \
             site's certificate and key with --tls-cert and --tls-key, or tls_cert and tls_key in the site file's \
             [console] (nothing served over plain HTTP on the office LAN)"
        );
    }
    let idle = Duration::from_secs(a.idle_seconds.unwrap_or(a.idle_minutes.saturating_mul(60)));
    let cfg = tobira_console::Config { socket: a.socket, reader: a.reader, idle, secure_cookies: tls.is_some() };
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
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
