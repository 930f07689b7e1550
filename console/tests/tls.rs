//! The console on the office LAN (issue 18): HTTPS with the site's certificate (here one issued by a test CA
//! made with rcgen), session cookies `Secure`, plain HTTP on that port answered with nothing, a key that is
//! not the certificate's refused at start, and the binary refusing to serve a LAN address without TLS.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Site {
    ca: rcgen::Certificate,
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
    Site { ca, dir }
}

async fn serve(dir: &Path) -> u16 {
    let tls = tobira_console::tls::server_config(&dir.join("console.crt"), &dir.join("console.key")).unwrap();
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
