//! A witness that needs no PostgreSQL (issue 16 §1(a)): another host (`tobira-central peer-witness`)
//! countersigns a node's signed tree heads over TLS, so a single node without a centre still has its log
//! anchored off the node. The decision is the centre's witness logic ([`tobira_audit::witness::Witness`]):
//! the head must be signed by the node's key as registered here (the fingerprint written on paper at
//! `--init`), and extend the head countersigned before (an RFC 6962 consistency proof); a head that is
//! smaller, forks or does not extend it is refused. Unlike the centre, this witness holds no copy of the
//! events: it vouches for the *sequence of heads*, which is what catches a rewrite or a cut tail later.
//!
//! Its store is one JSON file of every head it countersigned, replaced atomically (write, fsync, rename)
//! before a countersignature is released, so a crash never releases one the store does not hold.
//!
//! Protocol: over TLS (rustls), one JSON request line, one JSON response line ([`PeerRequest`],
//! [`PeerResponse`]). The server authenticates itself with its certificate; the node's identity is its
//! signature on the head, so the client needs no certificate.

use ring::signature::Ed25519KeyPair;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tobira_audit::merkle::Hash;
use tobira_audit::witness::{Countersigned, SignedTreeHead, Witness, WitnessState};

/// The most a request line may hold (a head and a proof of at most 64 hashes fit in far less).
const MAX_LINE: u64 = 64 * 1024;
/// A connection that sends nothing for this long is closed.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    #[error("peer witness store {path}: {detail}")]
    Store { path: PathBuf, detail: String },
    #[error("peer witness TLS: {0}")]
    Tls(String),
    #[error("peer witness {addr}: {detail}")]
    Io { addr: String, detail: String },
    #[error("peer witness {addr} answered something that is not its protocol: {detail}")]
    Protocol { addr: String, detail: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum PeerRequest {
    /// The last head countersigned for `node` (the node builds its consistency proof from it).
    Last { node: String },
    /// Countersign `sth`, with the consistency proof (hex hashes) from the last countersigned head.
    Submit { sth: SignedTreeHead, proof: Vec<String> },
    /// Every head countersigned for `node`, oldest first (for `tobira audit verify --witness`).
    Heads { node: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum PeerResponse {
    Countersigned {
        head: Option<Countersigned>,
    },
    Heads {
        heads: Vec<Countersigned>,
    },
    /// The witness refuses: the head does not extend what it countersigned, or is not the node's.
    Refused {
        why: String,
    },
    Error {
        message: String,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct StoreFile {
    heads: Vec<Countersigned>,
}

/// The witness and its store.
pub struct PeerWitness {
    witness: Witness,
    path: PathBuf,
    all: Vec<Countersigned>,
    /// A countersignature could not be stored: the memory is ahead of the file, so nothing more is answered
    /// until a restart reloads the file (fail secure: never vouch from a state that is not durable).
    failed: bool,
}

impl PeerWitness {
    /// Loads the store at `path` (absent: empty) and the nodes' public keys it may countersign for.
    pub fn open(path: &Path, key: Ed25519KeyPair, nodes: BTreeMap<String, Vec<u8>>) -> Result<Self, PeerError> {
        let store_err = |detail: String| PeerError::Store { path: path.into(), detail };
        let file: StoreFile = match std::fs::read(path) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| store_err(format!("unreadable ({e}); refusing to start")))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => StoreFile::default(),
            Err(e) => return Err(store_err(e.to_string())),
        };
        let mut state = WitnessState::default();
        for c in &file.heads {
            state.heads.insert(c.sth.head.node.clone(), c.clone());
        }
        Ok(PeerWitness { witness: Witness::new(key, nodes, state), path: path.into(), all: file.heads, failed: false })
    }

    pub fn handle(&mut self, req: PeerRequest) -> PeerResponse {
        if self.failed {
            return PeerResponse::Error {
                message: "the witness could not store a countersignature; restart it".into(),
            };
        }
        match req {
            PeerRequest::Last { node } => {
                PeerResponse::Countersigned { head: self.witness.state().heads.get(&node).cloned() }
            }
            PeerRequest::Heads { node } => {
                PeerResponse::Heads { heads: self.all.iter().filter(|c| c.sth.head.node == node).cloned().collect() }
            }
            PeerRequest::Submit { sth, proof } => {
                let Some(proof) = proof
                    .iter()
                    .map(|h| hex::decode(h).ok().and_then(|v| Hash::try_from(v.as_slice()).ok()))
                    .collect::<Option<Vec<Hash>>>()
                else {
                    return PeerResponse::Refused { why: "a proof hash is not 32 bytes of hex".into() };
                };
                if let Err(r) = self.witness.check(&sth, &proof) {
                    tracing::warn!(node = %sth.head.node, size = sth.head.size, refusal = %r, "peer witness refuses a head");
                    return PeerResponse::Refused { why: r.to_string() };
                }
                let c = match self.witness.countersign(&sth, &proof) {
                    Ok(c) => c,
                    Err(r) => return PeerResponse::Refused { why: r.to_string() },
                };
                self.all.push(c.clone());
                if let Err(e) = self.save() {
                    // Not released: the store does not hold it.
                    tracing::error!(error = %e, "peer witness cannot store a countersignature; answering nothing more");
                    self.failed = true;
                    return PeerResponse::Error { message: e.to_string() };
                }
                PeerResponse::Countersigned { head: Some(c) }
            }
        }
    }

    fn save(&self) -> Result<(), PeerError> {
        let err = |e: std::io::Error| PeerError::Store { path: self.path.clone(), detail: e.to_string() };
        let text = serde_json::to_vec_pretty(&StoreFile { heads: self.all.clone() })
            .map_err(|e| PeerError::Store { path: self.path.clone(), detail: e.to_string() })?;
        let tmp = self.path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(err)?;
        f.write_all(&text).map_err(err)?;
        f.sync_all().map_err(err)?;
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        if let Some(dir) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(err)?;
        }
        Ok(())
    }
}

/// Server TLS configuration from a PEM certificate chain and its PEM private key.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, PeerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let tls = |e: String| PeerError::Tls(e);
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| tls(format!("{}: {e}", cert.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls(format!("{}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| tls(format!("{}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map(Arc::new)
        .map_err(|e| tls(e.to_string()))
}

/// Client TLS configuration trusting only the CA in `ca` (PEM).
pub fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, PeerError> {
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| PeerError::Tls(e.to_string()))?
            .with_root_certificates(roots_from(ca)?)
            .with_no_client_auth(),
    ))
}

fn roots_from(ca: &Path) -> Result<rustls::RootCertStore, PeerError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let tls = |e: String| PeerError::Tls(e);
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).map_err(|e| tls(format!("{}: {e}", ca.display())))? {
        roots.add(c.map_err(|e| tls(format!("{}: {e}", ca.display())))?).map_err(|e| tls(e.to_string()))?;
    }
    Ok(roots)
}

/// Serves until the listener fails: one thread per connection, one request per connection.
pub fn serve(listener: TcpListener, tls: Arc<rustls::ServerConfig>, w: Arc<Mutex<PeerWitness>>) {
    for s in listener.incoming() {
        let Ok(s) = s else { continue };
        let (tls, w) = (tls.clone(), w.clone());
        std::thread::spawn(move || {
            if let Err(e) = serve_one(s, tls, &w) {
                tracing::debug!(error = %e, "peer witness connection ended");
            }
        });
    }
}

/// Why one peer connection ended early (logged at debug: a peer that hangs up is not the witness's fault).
#[derive(Debug, thiserror::Error)]
enum ConnectionError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Tls(#[from] rustls::Error),
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

fn serve_one(s: TcpStream, tls: Arc<rustls::ServerConfig>, w: &Mutex<PeerWitness>) -> Result<(), ConnectionError> {
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    let conn = rustls::ServerConnection::new(tls)?;
    let mut stream = rustls::StreamOwned::new(conn, s);
    let mut line = String::new();
    BufReader::new(std::io::Read::take(&mut stream, MAX_LINE)).read_line(&mut line)?;
    let resp = match serde_json::from_str::<PeerRequest>(line.trim()) {
        Ok(req) => w
            .lock()
            .map(|mut w| w.handle(req))
            .unwrap_or_else(|_| PeerResponse::Error { message: "the witness failed earlier; restart it".into() }),
        Err(e) => PeerResponse::Error { message: format!("not a request: {e}") },
    };
    let mut out = serde_json::to_vec(&resp)?;
    out.push(b'\n');
    stream.write_all(&out)?;
    stream.flush()?;
    stream.conn.send_close_notify();
    let _ = stream.flush();
    Ok(())
}

/// The node's (or the auditor's) side: one request, one answer, over TLS to `addr` as `server_name`.
#[derive(Clone)]
pub struct PeerClient {
    pub addr: String,
    pub server_name: String,
    tls: Arc<rustls::ClientConfig>,
}

impl PeerClient {
    pub fn new(addr: &str, server_name: &str, ca: &Path) -> Result<PeerClient, PeerError> {
        Ok(PeerClient { addr: addr.into(), server_name: server_name.into(), tls: client_config(ca)? })
    }

    /// Blocking: call it from a blocking thread.
    pub fn call(&self, req: &PeerRequest) -> Result<PeerResponse, PeerError> {
        let io = |detail: String| PeerError::Io { addr: self.addr.clone(), detail };
        let name = rustls::pki_types::ServerName::try_from(self.server_name.clone())
            .map_err(|e| PeerError::Tls(format!("server name {}: {e}", self.server_name)))?;
        let s = TcpStream::connect(&self.addr).map_err(|e| io(e.to_string()))?;
        s.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| io(e.to_string()))?;
        s.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| io(e.to_string()))?;
        let conn = rustls::ClientConnection::new(self.tls.clone(), name).map_err(|e| PeerError::Tls(e.to_string()))?;
        let mut stream = rustls::StreamOwned::new(conn, s);
        let mut out = serde_json::to_vec(req).map_err(|e| io(e.to_string()))?;
        out.push(b'\n');
        stream.write_all(&out).map_err(|e| io(e.to_string()))?;
        stream.flush().map_err(|e| io(e.to_string()))?;
        let mut line = String::new();
        BufReader::new(std::io::Read::take(&mut stream, 16 * 1024 * 1024))
            .read_line(&mut line)
            .map_err(|e| io(e.to_string()))?;
        serde_json::from_str(line.trim())
            .map_err(|e| PeerError::Protocol { addr: self.addr.clone(), detail: e.to_string() })
    }
}
