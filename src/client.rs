//! The HTTP client of the commands that ask a server (`search`, `agg`, `logs`, and the
//! agent's shipper settings): where the server is, the token to present and which
//! certificate to trust, and one place that turns connection failures and the API's
//! error answers into messages saying what to do.

use anyhow::{anyhow, Result};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// The token and trust of every command that talks to a server.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ConnectArgs {
    /// Token presented to the server (made with `skein token create`). Prefer
    /// --token-file or SKEIN_TOKEN: a command line is visible to other users.
    #[arg(long, env = "SKEIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// File holding the token (as Docker and Kubernetes mount secrets).
    #[arg(long, env = "SKEIN_TOKEN_FILE", conflicts_with = "token")]
    pub token_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the server's, for `https://` servers with their
    /// own CA (`--tls-self-signed` writes it as DATA/tls/ca.pem).
    #[arg(long, env = "SKEIN_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
    /// SHA-256 fingerprint of the server's CA certificate, as the server printed it at
    /// first start; trusts that CA only.
    #[arg(long, env = "SKEIN_CA_FINGERPRINT", conflicts_with = "ca_cert")]
    pub ca_fingerprint: Option<String>,
}

impl ConnectArgs {
    /// The settings, checked.
    pub fn connect(&self) -> Result<skein_connect::Connect> {
        let trust = match (&self.ca_cert, &self.ca_fingerprint) {
            (Some(path), _) => skein_connect::Trust::CaFile(path.clone()),
            (None, Some(fp)) => skein_connect::Trust::fingerprint(fp)?,
            (None, None) => skein_connect::Trust::System,
        };
        Ok(skein_connect::Connect::new(
            self.token.clone(),
            self.token_file.as_deref(),
            trust,
        )?)
    }
}

/// Where the server is, for every command that talks to one.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArg {
    /// URL of the skein server.
    #[arg(long, env = "SKEIN_SERVER", default_value = "http://127.0.0.1:9280")]
    pub server: String,
    #[command(flatten)]
    pub connect: ConnectArgs,
}

/// A client of one server's API.
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A client for `server` (a base URL such as `http://127.0.0.1:9280`).
    pub fn new(server: &ServerArg) -> Result<Client> {
        Ok(Client {
            base: server.server.trim_end_matches('/').to_string(),
            http: server
                .connect
                .connect()?
                .blocking_builder()?
                .timeout(Duration::from_secs(120))
                .build()?,
        })
    }

    /// `GET path?query`, answering the JSON body.
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        self.answer(self.http.get(format!("{}{path}", self.base)).query(query))
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.answer(
            self.http
                .post(format!("{}{path}", self.base))
                .header("Content-Type", "application/json")
                .body(body.to_string()),
        )
    }

    fn answer(&self, req: reqwest::blocking::RequestBuilder) -> Result<Value> {
        let resp = req
            .send()
            .map_err(|e| anyhow!(skein_connect::explain(&self.base, &e)))?;
        let status = resp.status();
        let body: Value = resp.json().map_err(|e| {
            anyhow!(
                "the server at {} answered {status} with something other than JSON: {e}",
                self.base
            )
        })?;
        if status.is_success() {
            return Ok(body);
        }
        let reason = body["error"]["reason"]
            .as_str()
            .map_or_else(|| body.to_string(), str::to_string);
        Err(anyhow!("{reason}"))
    }
}
