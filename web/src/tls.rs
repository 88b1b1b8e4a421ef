//! HTTPS for the server: a certificate from PEM files (`--tls-cert`, `--tls-key`) or one
//! made at first start under its own CA (`--tls-self-signed`, kept in `DATA/tls/`), and
//! a listener that does the TLS handshake off the accept loop, so a slow or silent
//! client cannot hold up the others.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Errors setting up TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file cannot be read or holds nothing usable.
    #[error("cannot use {path} ({what}): {reason}; pass PEM files with --tls-cert (the certificate chain) and --tls-key (its private key)")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The certificate and key do not form a usable configuration.
    #[error("the certificate and key cannot be used together: {0}; check that --tls-key is the key of --tls-cert")]
    Config(#[from] rustls::Error),
    /// Making the self-signed certificate failed.
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Writing it failed.
    #[error("cannot write {path}: {source}; check that the data directory is writable")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
}

/// The crypto provider of both ends: ring, which reqwest's rustls also uses, so the
/// binary carries one crypto library. rustls deprecates it for lacking post-quantum key
/// exchange, which a self-hosted log server does not need yet.
#[allow(deprecated)]
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration from PEM files: `cert` holds the chain, leaf first.
pub fn from_files(cert: &Path, key: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let pem = |path: &Path, what, reason: String| TlsError::Pem {
        path: path.to_owned(),
        what,
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem(cert, "certificates", e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| pem(cert, "certificates", e.to_string()))?;
    if chain.is_empty() {
        return Err(pem(cert, "certificates", "no CERTIFICATE block".into()));
    }
    let key_der =
        PrivateKeyDer::from_pem_file(key).map_err(|e| pem(key, "a private key", e.to_string()))?;
    config(chain, key_der)
}

fn config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<rustls::ServerConfig, TlsError> {
    let mut c = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(c)
}

/// What `--tls-self-signed` made or found.
pub struct SelfSigned {
    /// The server configuration.
    pub config: rustls::ServerConfig,
    /// The CA certificate clients pass as `--ca-cert`.
    pub ca_path: PathBuf,
    /// The CA's SHA-256, as clients pass it to `--ca-fingerprint` (hex with colons).
    pub fingerprint: String,
    /// Whether it was made just now.
    pub created: bool,
}

/// Loads `DATA/tls/`, or first makes a CA and a server certificate for `names` (host
/// names and addresses) signed by it. The server sends its certificate and the CA, so
/// a client pinning the CA's fingerprint finds it in the chain.
pub fn self_signed(data_dir: &Path, names: &[String]) -> Result<SelfSigned, TlsError> {
    let dir = data_dir.join("tls");
    let ca_path = dir.join("ca.pem");
    let cert_path = dir.join("server.pem");
    let key_path = dir.join("server.key");
    let created = !(ca_path.exists() && cert_path.exists() && key_path.exists());
    if created {
        make(&dir, names)?;
    }
    let config = from_files(&cert_path, &key_path)?;
    let ca = CertificateDer::from_pem_file(&ca_path).map_err(|e| TlsError::Pem {
        path: ca_path.clone(),
        what: "the CA certificate",
        reason: e.to_string(),
    })?;
    Ok(SelfSigned {
        config,
        ca_path,
        fingerprint: fingerprint(&ca),
        created,
    })
}

/// SHA-256 of a certificate as colon-separated hex, as `openssl x509 -fingerprint
/// -sha256` prints it.
pub fn fingerprint(cert: &[u8]) -> String {
    Sha256::digest(cert)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn make(dir: &Path, names: &[String]) -> Result<(), TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let write = |name: &str, data: &str, mode: Option<u32>| {
        let path = dir.join(name);
        skein_model::atomic_file::write_atomic(&path, data.as_bytes(), mode)
            .map_err(|source| TlsError::Write { path, source })
    };
    crate::auth::tokens::create_private_dir(dir).map_err(|source| TlsError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "skein self-signed CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let mut server = CertificateParams::new(names.to_vec())?;
    server
        .distinguished_name
        .push(DnType::CommonName, "skein server");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let key = KeyPair::generate()?;
    let cert = server.signed_by(&key, &ca_cert, &ca_key)?;
    write("ca.key", &ca_key.serialize_pem(), Some(0o600))?;
    write("server.key", &key.serialize_pem(), Some(0o600))?;
    write("ca.pem", &ca_cert.pem(), None)?;
    // The chain: leaf, then the CA (which a fingerprint-pinning client looks for).
    write(
        "server.pem",
        &format!("{}{}", cert.pem(), ca_cert.pem()),
        None,
    )
}

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts TCP connections and hands the ones that complete a TLS handshake to
/// `axum::serve`.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Serves TLS with `config` on `tcp`. Must be called within a Tokio runtime.
    pub fn new(tcp: TcpListener, config: rustls::ServerConfig) -> io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of descriptors, for one: wait rather than spin.
                        tracing::debug!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                if tx.is_closed() {
                    break;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = tx.send((tls, addr)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake with {addr} failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake with {addr} timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}
