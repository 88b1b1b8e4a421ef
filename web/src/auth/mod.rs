//! Who may ask what: tokens with scopes, dashboard sessions, and the checks every route
//! passes.
//!
//! - [`scope`]: the scopes (`ingest`, `query`, `admin`) and what a route needs
//!   ([`Access`]).
//! - [`tokens`]: the token file `skein token` edits and the server's [`Keyring`].
//! - [`session`]: dashboard login, a cookie per session, and its routes.
//! - [`limiter`]: failed attempts per client address.
//! - [`guard`]: the middleware that applies all of it to every routed request.
//!
//! Auth is on when the server was told so (`always_on`: it listens beyond loopback),
//! or as soon as the data directory or an `--accept-token-file` holds a token, and never
//! with `--insecure`.

pub mod guard;
pub mod limiter;
pub mod scope;
pub mod session;
pub mod tokens;

pub use scope::{Access, Scope, Scopes};
pub use tokens::{Keyring, TokenFile};

use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap};
use axum::serve::IncomingStream;
use base64::Engine as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokens::{Key, Refusal};

/// Default of [`AuthConfig::max_failures_per_minute`]: a person mistyping never gets
/// near it; a guesser gets 30 tries a minute at 256-bit tokens.
pub const DEFAULT_FAILURES_PER_MINUTE: u32 = 30;

/// How the server authenticates.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Auth off, whatever tokens exist (`--insecure`).
    pub insecure: bool,
    /// Auth on even with no token (the server listens beyond loopback).
    pub always_on: bool,
    /// Host names a request without a token may name in `Host` (lowercase, no port);
    /// `*` allows any. IP literals are always allowed: DNS rebinding needs a name.
    pub allowed_hosts: Vec<String>,
    /// The server speaks TLS (session cookies get `Secure`).
    pub tls: bool,
    /// How long a dashboard session lasts.
    pub session_ttl: Duration,
    /// Failed attempts one address may make per minute.
    pub max_failures_per_minute: u32,
    /// Origins (`https://grafana.example`) whose pages may call the API from a browser
    /// with a token (CORS); none by default.
    pub cors_origins: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            insecure: false,
            always_on: false,
            allowed_hosts: vec!["localhost".into()],
            tls: false,
            session_ttl: Duration::from_secs(12 * 3600),
            max_failures_per_minute: DEFAULT_FAILURES_PER_MINUTE,
            cors_origins: Vec::new(),
        }
    }
}

/// The server's authentication state.
pub struct Auth {
    /// Settings.
    pub config: AuthConfig,
    /// The accepted tokens.
    pub keyring: Keyring,
    /// Dashboard sessions.
    pub sessions: session::Sessions,
    /// Failed attempts per address.
    pub limiter: limiter::Limiter,
}

/// Who made a request, as the guard found it (a token's name), for handlers that log
/// who asked; absent when auth is off.
#[derive(Debug, Clone)]
pub struct Caller(pub String);

impl Caller {
    /// Who asked, for the log: `token "ops"`, or that auth is off.
    pub fn describe(caller: Option<&Caller>) -> String {
        caller.map_or_else(
            || "anyone (auth is off)".to_string(),
            |c| format!("token {:?}", c.0),
        )
    }
}

/// What a request presents.
pub enum Credential {
    /// A secret from `Authorization` (Bearer, ApiKey or Basic).
    Secret(String),
    /// A session cookie.
    Session(String),
}

impl Credential {
    /// The request's credential: `Authorization` first, else the session cookie.
    /// A malformed `Authorization` is an error, not "no credential".
    pub fn of(headers: &HeaderMap) -> Result<Option<Credential>, String> {
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let v = v
                .to_str()
                .map_err(|_| "the Authorization header is not readable text".to_string())?;
            return parse_authorization(v).map(|s| Some(Credential::Secret(s)));
        }
        Ok(session::cookie(headers).map(|s| Credential::Session(s.to_string())))
    }
}

/// The token in an `Authorization` value: `Bearer T`, `ApiKey T` or `ApiKey
/// base64(id:T)` (Elasticsearch's form), or `Basic base64(user:T)` (any user name).
fn parse_authorization(value: &str) -> Result<String, String> {
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    let b64 = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let secret = match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(rest.to_string()),
        "apikey" => {
            if rest.starts_with(tokens::PREFIX) {
                Some(rest.to_string())
            } else {
                b64(rest).map(|d| match d.split_once(':') {
                    Some((_, t)) => t.to_string(),
                    None => d,
                })
            }
        }
        "basic" => b64(rest).and_then(|d| d.split_once(':').map(|(_, p)| p.to_string())),
        _ => {
            return Err(
                "unsupported Authorization scheme; send `Bearer TOKEN`, `ApiKey TOKEN` or \
                 Basic with the token as the password"
                    .into(),
            )
        }
    };
    match secret {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(format!(
            "the Authorization header's {scheme} value is malformed; send the token \
             `skein token create` printed"
        )),
    }
}

/// The client's address, which failed attempts are counted by: serve the router with
/// `into_make_service_with_connect_info::<ClientAddr>()`, over TCP or TLS.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, tokio::net::TcpListener>) -> ClientAddr {
        ClientAddr(*stream.remote_addr())
    }
}

impl Connected<IncomingStream<'_, crate::tls::TlsListener>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, crate::tls::TlsListener>) -> ClientAddr {
        ClientAddr(*stream.remote_addr())
    }
}

/// The client's address, when the server was started with it.
pub fn client_ip(req: &Request) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<ClientAddr>>()
        .map(|c| c.0 .0.ip())
}

impl Auth {
    /// Auth for `keyring` under `config`.
    pub fn new(config: AuthConfig, keyring: Keyring) -> Auth {
        Auth {
            sessions: session::Sessions::new(config.session_ttl),
            limiter: limiter::Limiter::new(config.max_failures_per_minute, Duration::from_secs(60)),
            config,
            keyring,
        }
    }

    /// Whether requests must authenticate now.
    pub fn enabled(&self) -> bool {
        !self.config.insecure && (self.config.always_on || self.keyring.any())
    }

    /// The key behind a credential; `Err(None)` when there is none.
    fn resolve(&self, c: Option<Credential>) -> Result<Arc<Key>, Option<Refusal>> {
        match c {
            None => Err(None),
            Some(Credential::Secret(s)) => self.keyring.check(&s).map_err(Some),
            Some(Credential::Session(id)) => {
                let d = self.sessions.token_of(&id).ok_or(Some(Refusal::Unknown))?;
                self.keyring.check_digest(&d).map_err(Some)
            }
        }
    }

    /// The key a request's headers present, if any and valid.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Option<Arc<Key>>, Refusal> {
        match Credential::of(headers) {
            Ok(None) | Err(_) => Ok(None),
            Ok(c) => self
                .resolve(c)
                .map(Some)
                .map_err(|r| r.unwrap_or(Refusal::Unknown)),
        }
    }

    /// Records a failed attempt.
    fn failed(&self, ip: Option<IpAddr>, refusal: Option<Refusal>) {
        let reason = match refusal {
            None => "missing",
            Some(Refusal::Unknown) => "unknown",
            Some(Refusal::Expired) => "expired",
        };
        metrics::counter!("skein_auth_failures_total", "reason" => reason).increment(1);
        // A missing token is a client not yet configured, not a guess.
        if refusal.is_some() {
            self.limiter.fail(ip);
        }
    }

    /// Why a request's `Host` is not one this server answers to without a token, if
    /// it is not.
    fn foreign_host(&self, headers: &HeaderMap) -> Option<String> {
        let allowed = &self.config.allowed_hosts;
        if allowed.iter().any(|h| h == "*") {
            return None;
        }
        let host = headers.get(header::HOST)?.to_str().ok()?;
        let name = host_name(host);
        if name.parse::<IpAddr>().is_ok() || allowed.iter().any(|h| h.eq_ignore_ascii_case(name)) {
            return None;
        }
        Some(format!(
            "this server does not answer to the host name {name:?} without a token; \
             add it with --allowed-hosts, or send a token"
        ))
    }

    /// Re-reads token files, drops expired sessions and records last use, forever;
    /// spawn it on the server's runtime.
    pub async fn maintain(self: Arc<Auth>) {
        let mut ticks = 0u32;
        let mut last_error = String::new();
        loop {
            tokio::time::sleep(tokens::RELOAD_EVERY).await;
            ticks = ticks.wrapping_add(1);
            let me = self.clone();
            let outcome = tokio::task::spawn_blocking(move || {
                let was = me.enabled();
                let r = me.keyring.reload();
                if ticks.is_multiple_of(4) {
                    me.sessions.prune();
                    if let Err(e) = me.keyring.flush_last_used() {
                        tracing::warn!("cannot record tokens' last use: {e}");
                    }
                }
                (was, me.enabled(), r)
            })
            .await;
            let Ok((was, now, result)) = outcome else {
                continue;
            };
            match result {
                Ok(true) if was != now => tracing::info!(
                    "auth is now {}",
                    if now {
                        "on (a token exists)"
                    } else {
                        "off (no token left)"
                    }
                ),
                Err(e) if e.to_string() != last_error => {
                    last_error = e.to_string();
                    tracing::warn!("keeping the previous tokens: {e}");
                }
                _ => {}
            }
        }
    }
}

/// The name part of a `Host` value (no port, no IPv6 brackets).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_form_yields_the_token() {
        let t = "skein_abc";
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        assert_eq!(parse_authorization(&format!("Bearer {t}")).unwrap(), t);
        assert_eq!(parse_authorization(&format!("bearer  {t} ")).unwrap(), t);
        assert_eq!(parse_authorization(&format!("ApiKey {t}")).unwrap(), t);
        assert_eq!(
            parse_authorization(&format!("ApiKey {}", b64(&format!("id:{t}")))).unwrap(),
            t
        );
        assert_eq!(
            parse_authorization(&format!("Basic {}", b64(&format!("fluent-bit:{t}")))).unwrap(),
            t
        );
        assert!(parse_authorization("Basic !!!").is_err());
        assert!(parse_authorization("Digest x").is_err());
        assert!(parse_authorization("Bearer").is_err());
    }

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("localhost:9280"), "localhost");
        assert_eq!(host_name("[::1]:9280"), "::1");
        assert_eq!(host_name("example.com"), "example.com");
    }
}
