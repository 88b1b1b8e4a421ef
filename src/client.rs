//! The HTTP client of the commands that ask a server (`search`, `agg`): one place that
//! turns connection failures and the API's error answers into messages saying what to do.

use anyhow::{anyhow, Result};
use serde_json::Value;
use std::time::Duration;

/// Where the server is, for every command that talks to one.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArg {
    /// URL of the skein server.
    #[arg(long, env = "SKEIN_SERVER", default_value = "http://127.0.0.1:9280")]
    pub server: String,
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
            http: reqwest::blocking::Client::builder()
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
        let resp = req.send().map_err(|e| {
            anyhow!(
                "cannot reach the skein server at {}: {e}; start one with `skein up` or point \
                 --server (or SKEIN_SERVER) at it",
                self.base
            )
        })?;
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
