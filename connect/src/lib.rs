//! How a skein client (the agent, `skein logs`, `search`, `agg`) reaches a server: the
//! token it presents and which certificate it trusts under `https://`.
//!
//! - [`Connect`]: the settings, turned into a configured `reqwest` client builder
//!   ([`Connect::async_builder`], [`Connect::blocking_builder`]).
//! - [`Trust`]: the system's roots plus an optional CA file, or a pinned CA fingerprint
//!   (what `--tls-self-signed` prints), checked by [`pinned`]'s verifier.
//! - [`explain`]: turns a failed request into a message that says what to do, since a
//!   certificate error deep in a source chain otherwise reads as "error sending request".

mod pinned;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Errors setting up a client.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The token file cannot be read.
    #[error(
        "cannot read the token file {path}: {source}; check --token-file (or SKEIN_TOKEN_FILE)"
    )]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token holds characters a header cannot carry, or is empty.
    #[error(
        "the token {0} is empty or not printable text; pass the line `skein token create` printed"
    )]
    BadToken(&'static str),
    /// The CA file cannot be read or holds no certificate.
    #[error("cannot use {path} as the CA certificate: {reason}; pass the PEM file the server's --tls-self-signed wrote (DATA/tls/ca.pem) or your CA's")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The fingerprint is not 32 bytes of hex.
    #[error("--ca-fingerprint must be the CA certificate's SHA-256 as 64 hex digits (colons allowed), as the server printed at its first start")]
    BadFingerprint,
    /// The HTTP client cannot be built.
    #[error("cannot set up the HTTP client: {0}")]
    Client(#[from] reqwest::Error),
}

/// Which server certificates a client accepts.
#[derive(Debug, Clone, Default)]
pub enum Trust {
    /// The system's root certificates.
    #[default]
    System,
    /// The system's roots and this CA (PEM).
    CaFile(PathBuf),
    /// Only a chain holding a CA certificate with this SHA-256, which signed the server's.
    Fingerprint([u8; 32]),
}

impl Trust {
    /// Parses a fingerprint as printed by the server (hex, colons optional, any case).
    pub fn fingerprint(text: &str) -> Result<Trust, ConnectError> {
        let hex: String = text.chars().filter(|c| *c != ':').collect();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConnectError::BadFingerprint);
        }
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| ConnectError::BadFingerprint)?;
        }
        Ok(Trust::Fingerprint(out))
    }
}

/// A client's way to a server.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    /// The secret presented as `Authorization: Bearer`; none when auth is off.
    pub token: Option<String>,
    /// Which certificates are accepted under `https://`.
    pub trust: Trust,
}

impl Connect {
    /// Settings from the usual sources, first found wins: `token`, then the contents of
    /// `token_file` (one line; surrounding whitespace ignored).
    pub fn new(
        token: Option<String>,
        token_file: Option<&Path>,
        trust: Trust,
    ) -> Result<Connect, ConnectError> {
        let token = match (token, token_file) {
            (Some(t), _) => Some(t.trim().to_string()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|source| ConnectError::TokenFile {
                        path: path.to_owned(),
                        source,
                    })?
                    .trim()
                    .to_string(),
            ),
            (None, None) => None,
        };
        if let Some(t) = &token {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConnectError::BadToken("given"));
            }
        }
        Ok(Connect { token, trust })
    }

    /// The headers every request carries (the token).
    fn headers(&self) -> Result<HeaderMap, ConnectError> {
        let mut h = HeaderMap::new();
        if let Some(t) = &self.token {
            let mut v = HeaderValue::from_str(&format!("Bearer {t}"))
                .map_err(|_| ConnectError::BadToken("given"))?;
            // Keeps the secret out of debug output of the client and its requests.
            v.set_sensitive(true);
            h.insert(AUTHORIZATION, v);
        }
        Ok(h)
    }

    /// A `reqwest` async client builder that presents the token and trusts what
    /// [`Trust`] says.
    pub fn async_builder(&self) -> Result<reqwest::ClientBuilder, ConnectError> {
        let b = reqwest::Client::builder().default_headers(self.headers()?);
        Ok(match self.tls()? {
            Tls::System => b.use_rustls_tls(),
            Tls::Root(c) => b.use_rustls_tls().add_root_certificate(c),
            Tls::Config(c) => b.use_preconfigured_tls(*c),
        })
    }

    /// The blocking counterpart of [`Connect::async_builder`].
    pub fn blocking_builder(&self) -> Result<reqwest::blocking::ClientBuilder, ConnectError> {
        let b = reqwest::blocking::Client::builder().default_headers(self.headers()?);
        Ok(match self.tls()? {
            Tls::System => b.use_rustls_tls(),
            Tls::Root(c) => b.use_rustls_tls().add_root_certificate(c),
            Tls::Config(c) => b.use_preconfigured_tls(*c),
        })
    }

    fn tls(&self) -> Result<Tls, ConnectError> {
        Ok(match &self.trust {
            Trust::System => Tls::System,
            Trust::CaFile(path) => {
                let bad = |reason: String| ConnectError::CaFile {
                    path: path.clone(),
                    reason,
                };
                let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
                let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| bad(e.to_string()))?;
                Tls::Root(cert)
            }
            Trust::Fingerprint(fp) => Tls::Config(Box::new(pinned::client_config(*fp))),
        })
    }
}

enum Tls {
    System,
    Root(reqwest::Certificate),
    Config(Box<rustls::ClientConfig>),
}

/// Says what to do about a failed request to `server`: for a certificate the client
/// does not trust, how to trust it; otherwise that the server is not reachable.
pub fn explain(server: &str, err: &(dyn std::error::Error + 'static)) -> String {
    let mut chain = String::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if !chain.is_empty() {
            chain.push_str(": ");
        }
        chain.push_str(&e.to_string());
        cur = e.source();
    }
    let lower = chain.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("tls") {
        format!(
            "the server at {server} presented a certificate this client does not trust \
             ({chain}); pass the server's CA with --ca-cert FILE (SKEIN_CA_CERT; for \
             --tls-self-signed it is DATA/tls/ca.pem) or --ca-fingerprint (printed at the \
             server's first start), and check the address names the server"
        )
    } else {
        format!(
            "cannot reach the skein server at {server} ({chain}); start one with `skein up` \
             or point --server (or SKEIN_SERVER) at it"
        )
    }
}

/// `Arc`-wrapped verifier type, for the pinned module.
pub(crate) type Verifier = Arc<dyn rustls::client::danger::ServerCertVerifier>;
