//! The console on the office LAN (issue 18): HTTPS with the site's certificate (here one issued by a test CA
//! made with rcgen), session cookies `Secure` and HSTS, plain HTTP on that port answered with nothing, a key
//! that is not the certificate's refused at start, client certificates required when the site names their
//! CA, the site file's `[console]` read (its mistakes named by file, line and field), and the binary
//! refusing to serve a LAN address without TLS.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Site {
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
    dir: tempfile::TempDir,
}

/// A CA, and a certificate for `localhost` issued by it, written as the site's PEM files.
fn site() -> Site {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "仙台市 テスト認証局");
    let ca = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("console.crt"), leaf.pem()).unwrap();
    std::fs::write(dir.path().join("console.key"), key.serialize_pem()).unwrap();
    // Another key, not the certificate's.
    std::fs::write(dir.path().join("other.key"), rcgen::KeyPair::generate().unwrap().serialize_pem()).unwrap();
    std::fs::write(dir.path().join("ca.crt"), ca.pem()).unwrap();
    Site { ca, ca_key, dir }
}

/// A client certificate for a member of staff, issued by the site's CA.
fn staff_cert(s: &Site) -> (rcgen::Certificate, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, "terminal t01");
    p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    (p.signed_by(&key, &s.ca, &s.ca_key).unwrap(), key)
}

async fn serve(dir: &Path) -> u16 {
    serve_for(dir, None).await
}

async fn serve_for(dir: &Path, client_ca: Option<&Path>) -> u16 {
    let tls =
        tobira_console::tls::server_config_for(&dir.join("console.crt"), &dir.join("console.key"), client_ca).unwrap();
    let cfg = tobira_console::Config {
        socket: dir.join("nobody.sock"),
        reader: "t01-reader".into(),
        idle: Duration::from_secs(300),
        secure_cookies: true,
    };
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    let listener = tobira_console::tls::TlsListener::new(tcp, tls).unwrap();
    tokio::spawn(async move { axum::serve(listener, tobira_console::router(cfg)).await });
    port
}

#[tokio::test]
async fn the_console_speaks_https_with_the_sites_certificate_and_secure_cookies() {
    let s = site();
    let port = serve(s.dir.path()).await;

    // A client that trusts the site's CA: the page, and a cookie only ever sent back over TLS.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(s.ca.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.expect("the site's certificate verifies");
    tls.write_all(b"GET /signin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut page = Vec::new();
    let _ = tls.read_to_end(&mut page).await;
    let page = String::from_utf8_lossy(&page);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let cookie = page.lines().find(|l| l.starts_with("set-cookie: ")).unwrap_or_else(|| panic!("{page}"));
    assert!(cookie.ends_with("; HttpOnly; SameSite=Strict; Secure"), "{cookie}");
    assert!(page.contains("strict-transport-security: max-age=31536000\r\n"), "HSTS over HTTPS: {page}");

    // Plain HTTP to the same port: no page, no cookie, only a closed connection.
    let mut plain = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    plain.write_all(b"GET /signin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), plain.read_to_end(&mut got)).await;
    assert!(!String::from_utf8_lossy(&got).contains("HTTP/1.1 200"), "plain HTTP was served");
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_at_start() {
    let s = site();
    let d = s.dir.path();
    let e = tobira_console::tls::server_config(&d.join("console.crt"), &d.join("other.key")).unwrap_err();
    assert!(e.to_string().contains("cannot serve TLS together"), "{e}");
    let e = tobira_console::tls::server_config(&d.join("console.key"), &d.join("console.key")).unwrap_err();
    assert!(e.to_string().contains("--tls-cert") && e.to_string().contains("no certificate"), "{e}");
    let e = tobira_console::tls::server_config(&d.join("console.crt"), &d.join("missing.key")).unwrap_err();
    assert!(e.to_string().contains("--tls-key"), "{e}");
}

#[test]
fn the_office_lan_is_refused_without_tls() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tobira-console"))
        .args(["--socket", "/nonexistent/control.sock", "--reader", "t01-reader", "--listen", "0.0.0.0:0"])
        .env_remove("TOBIRA_CONSOLE_TLS_CERT")
        .env_remove("TOBIRA_CONSOLE_TLS_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "it served the LAN over plain HTTP");
    assert!(o.stdout.is_empty(), "no URL was printed: {}", String::from_utf8_lossy(&o.stdout));
    assert!(err.contains("only over TLS") && err.contains("--tls-cert"), "{err}");
}

/// A TLS client of the site's CA, with a client certificate or without; `GET /signin`'s answer, or `None`
/// when no page came (the handshake or the first read failed).
async fn fetch_signin(s: &Site, port: u16, me: Option<(rcgen::Certificate, rcgen::KeyPair)>) -> Option<String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(s.ca.der().clone()).unwrap();
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let client = match me {
        None => b.with_no_client_auth(),
        Some((cert, key)) => b
            .with_client_auth_cert(
                vec![cert.der().clone()],
                rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
            )
            .unwrap(),
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let mut tls = connector.connect(name, tcp).await.ok()?;
    // TLS 1.3: the server's verdict on the client's certificate comes with the first read.
    tls.write_all(b"GET /signin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.ok()?;
    let mut page = Vec::new();
    let _ = tls.read_to_end(&mut page).await;
    let page = String::from_utf8_lossy(&page).to_string();
    page.starts_with("HTTP/1.1").then_some(page)
}

#[tokio::test]
async fn with_a_client_ca_only_a_client_certificate_it_issued_is_served() {
    let s = site();
    let port = serve_for(s.dir.path(), Some(&s.dir.path().join("ca.crt"))).await;
    assert_eq!(fetch_signin(&s, port, None).await, None, "no client certificate: no page, not even sign-in");
    // A certificate from another CA is refused too.
    let other = site();
    assert_eq!(fetch_signin(&s, port, Some(staff_cert(&other))).await, None, "another CA's certificate");
    let page = fetch_signin(&s, port, Some(staff_cert(&s))).await.expect("the site's client certificate is served");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("strict-transport-security: max-age=31536000"), "{page}");
}

#[tokio::test]
async fn plain_http_on_the_terminal_sends_no_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tobira_console::Config {
        socket: dir.path().join("nobody.sock"),
        reader: "t01-reader".into(),
        idle: Duration::from_secs(300),
        secure_cookies: false,
    };
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = tcp.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(tcp, tobira_console::router(cfg)).await });
    let mut c = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    c.write_all(b"GET /signin HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut page = Vec::new();
    let _ = c.read_to_end(&mut page).await;
    let page = String::from_utf8_lossy(&page);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(!page.to_ascii_lowercase().contains("strict-transport-security"), "HSTS over plain HTTP: {page}");
}

/// The binary with `--config`: the first line it prints (its URL), or its error.
fn console_with(site_file: &Path, extra: &[&str]) -> Result<String, String> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tobira-console"))
        .args(["--socket", "/nonexistent/control.sock", "--reader", "t01-reader", "--config"])
        .arg(site_file)
        .args(extra)
        .env_remove("TOBIRA_CONSOLE_TLS_CERT")
        .env_remove("TOBIRA_CONSOLE_TLS_KEY")
        .env_remove("TOBIRA_CONSOLE_CLIENT_CA")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let _ = std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    if line.is_empty() { Err(String::from_utf8_lossy(&out.stderr).to_string()) } else { Ok(line) }
}

#[test]
fn the_site_files_console_section_serves_tls_and_names_its_mistakes() {
    let s = site();
    let d = s.dir.path();
    let with = |console: &str| {
        let path = d.join("site.toml");
        std::fs::write(&path, format!("{}\n[console]\n{console}", tobira_cli::demo::DEMO_SITE)).unwrap();
        path
    };
    let cert = d.join("console.crt").display().to_string();
    let key = d.join("console.key").display().to_string();
    let ca = d.join("ca.crt").display().to_string();
    // The LAN address, certificate, key and client CA from the site file: served over HTTPS.
    let site =
        with(&format!("listen = \"0.0.0.0:0\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\nclient_ca = \"{ca}\"\n"));
    let url = console_with(&site, &[]).expect("served");
    assert!(url.starts_with("tobira-console: https://0.0.0.0:"), "{url}");
    // A flag overrides the file: loopback instead.
    let url = console_with(&site, &["--listen", "127.0.0.1:0"]).expect("served");
    assert!(url.starts_with("tobira-console: https://127.0.0.1:"), "{url}");
    // A LAN address without TLS is refused, as with the flag.
    let e = console_with(&with("listen = \"0.0.0.0:0\"\n"), &[]).unwrap_err();
    assert!(e.contains("only over TLS"), "{e}");
    // A malformed value names the file, the line and the field.
    let bad = with("listen = \"0.0.0.0\"\n");
    let line = tobira_cli::demo::DEMO_SITE.lines().count() + 3;
    let e = console_with(&bad, &[]).unwrap_err();
    assert!(e.contains(&format!("site.toml:{line}:")) && e.contains("console.listen"), "{e}");
    let e = console_with(&with("tls_cert = \"console.crt\"\ntls_key = \"/x.key\"\n"), &[]).unwrap_err();
    assert!(e.contains("console.tls_cert") && e.contains("absolute"), "{e}");
}
