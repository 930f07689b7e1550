//! A private PostgreSQL instance for tests (feature `testing`): initdb as `postgres` on a spare port, TLS
//! with a throw-away CA, `hostssl … cert` for nodes, so the shared server's settings are never touched.
#![allow(clippy::unwrap_used)]

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};
use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = "/usr/lib/postgresql/15/bin";

pub struct Pg {
    pub dir: tempfile::TempDir,
    pub port: u16,
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "stop", "-m", "immediate", "-D"])
            .arg(self.data())
            .output();
    }
}

impl Pg {
    /// The centre goes away (as a power cut would take it).
    pub fn stop_server(&self) {
        run(Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "stop", "-m", "immediate", "-D"])
            .arg(self.data()));
    }

    pub fn start_server(&self) {
        run(Command::new("runuser")
            .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "start", "-w", "-l"])
            .arg(self.dir.path().join("pg.log"))
            .arg("-D")
            .arg(self.data()));
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("pg")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub async fn admin(&self, db: &str) -> PgPool {
        let opts = PgConnectOptions::new()
            .host(self.dir.path().to_str().unwrap())
            .port(self.port)
            .username("postgres")
            .database(db);
        PgPoolOptions::new().max_connections(2).connect_with(opts).await.unwrap()
    }

    pub fn node_opts(&self, user: &str, cert: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .host("127.0.0.1")
            .port(self.port)
            .username(user)
            .database("tobira")
            .ssl_mode(PgSslMode::VerifyFull)
            .ssl_root_cert(self.file("ca.crt"))
            .ssl_client_cert(self.file(&format!("{cert}.crt")))
            .ssl_client_key(self.file(&format!("{cert}.key")))
    }
}

fn spare_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A CA, a server certificate for 127.0.0.1/localhost, and client certificates whose CN is the role, in
/// `dir`: `ca.crt`, `server.crt`, `server.key` (0600), `CN.crt`, `CN.key` (also for the peer witness's tests).
pub fn certificates(dir: &Path, clients: &[&str]) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "tobira test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    std::fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    server.subject_alt_names.push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
    server.distinguished_name.push(DnType::CommonName, "tobira-central");
    let server_key = KeyPair::generate().unwrap();
    let server_cert = server.signed_by(&server_key, &ca_cert, &ca_key).unwrap();
    std::fs::write(dir.join("server.crt"), server_cert.pem()).unwrap();
    write_private(&dir.join("server.key"), &server_key.serialize_pem());
    for c in clients {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(DnType::CommonName, *c);
        let k = KeyPair::generate().unwrap();
        let cert = p.signed_by(&k, &ca_cert, &ca_key).unwrap();
        std::fs::write(dir.join(format!("{c}.crt")), cert.pem()).unwrap();
        write_private(&dir.join(format!("{c}.key")), &k.serialize_pem());
    }
}

fn run(cmd: &mut Command) {
    let o = cmd.output().unwrap();
    assert!(
        o.status.success(),
        "{:?}: {}{}",
        cmd,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Starts a private PostgreSQL 15 with TLS and client-certificate auth for `clients` (role names = CNs),
/// and a database `tobira` with the central schema. `None` (and a loud message) without server binaries.
pub async fn start(clients: &[&str]) -> Option<Pg> {
    start_with(clients, false).await
}

/// As [`start`]; `durable` keeps PostgreSQL's fsync on (benchmarks), otherwise off (tests run faster).
pub async fn start_with(clients: &[&str], durable: bool) -> Option<Pg> {
    if !Path::new(BIN).join("initdb").exists() {
        assert!(std::env::var("CI").is_err(), "PostgreSQL 15 server binaries are needed in {BIN}");
        eprintln!("SKIPPED: no PostgreSQL server binaries in {BIN}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let pg = Pg { port: spare_port(), dir };
    certificates(pg.dir.path(), clients);
    run(Command::new("chown").args(["-R", "postgres"]).arg(pg.dir.path()));
    run(Command::new("runuser")
        .args(["-u", "postgres", "--", &format!("{BIN}/initdb"), "--no-sync", "-A", "trust", "-U", "postgres", "-D"])
        .arg(pg.data()));
    let d = pg.dir.path().display();
    let conf = format!(
        "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{d}'\nssl = on\nssl_cert_file = '{d}/server.crt'\nssl_key_file = '{d}/server.key'\nssl_ca_file = '{d}/ca.crt'\nfsync = {}\n",
        pg.port,
        if durable { "on" } else { "off" }
    );
    let mut c = std::fs::read_to_string(pg.data().join("postgresql.conf")).unwrap();
    c.push_str(&conf);
    std::fs::write(pg.data().join("postgresql.conf"), c).unwrap();
    // Only the database owner over the local socket; nodes only over TLS with a certificate whose CN is their role.
    std::fs::write(pg.data().join("pg_hba.conf"), "local all postgres trust\nhostssl tobira all 127.0.0.1/32 cert\n")
        .unwrap();
    run(Command::new("runuser")
        .args(["-u", "postgres", "--", &format!("{BIN}/pg_ctl"), "start", "-w", "-l"])
        .arg(pg.dir.path().join("pg.log"))
        .arg("-D")
        .arg(pg.data()));
    let admin = pg.admin("postgres").await;
    sqlx::query("CREATE DATABASE tobira").execute(&admin).await.ok()?;
    admin.close().await;
    Some(pg)
}
