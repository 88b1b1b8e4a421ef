//! `skein health`: asks a server's `GET /healthz` and exits 0 when it is healthy, 1 when
//! it is not, with one line on stderr saying why. Container healthchecks run it, since
//! the image has no curl or shell.
//!
//! `/healthz` is open (no token needed), answers 200 with `ok` or `degraded` while
//! ingest works and 503 with `failing` when the WAL cannot be written. `degraded` (a
//! partition that cannot be read, a field limit reached) still takes and serves
//! records, so it counts as healthy: restarting the container would not mend it, and
//! the line printed says what is wrong.

use anyhow::Result;
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

/// Options of `skein health`.
#[derive(clap::Args, Debug, Clone)]
pub struct HealthArgs {
    /// The server's base URL. Default: the address of SKEIN_LISTEN, as a server in the
    /// same container listens (0.0.0.0 asked as 127.0.0.1), else http://127.0.0.1:9280.
    #[arg(long, env = "SKEIN_HEALTH_URL")]
    pub url: Option<String>,
    /// Seconds to wait for the answer before calling the server unhealthy.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    #[command(flatten)]
    pub connect: crate::client::ConnectArgs,
}

/// Runs `skein health`: returns when healthy; exits the process with 1 when not.
pub fn run(args: HealthArgs) -> Result<()> {
    let base = args.url.clone().unwrap_or_else(default_url);
    let url = healthz_url(&base);
    match check(&args, &url) {
        Ok(line) => {
            println!("{line}");
            Ok(())
        }
        Err(reason) => {
            eprintln!("unhealthy: {reason}");
            std::process::exit(1);
        }
    }
}

/// The server's answer as one line when healthy, or why it is not.
fn check(args: &HealthArgs, url: &str) -> Result<String, String> {
    let timeout = Duration::from_secs_f64(args.timeout.clamp(0.1, 3600.0));
    let client = args
        .connect
        .connect()
        .and_then(|c| Ok(c.blocking_builder()?.timeout(timeout).build()?))
        .map_err(|e| format!("{e:#}"))?;
    let resp = client.get(url).send().map_err(|e| unreachable(url, &e))?;
    let code = resp.status();
    let body: Value = resp
        .json()
        .map_err(|e| format!("{url} answered {code} with something other than JSON: {e}"))?;
    let status = body["status"].as_str().unwrap_or("");
    let problems = problems(&body);
    match (code.is_success(), status) {
        (true, "ok") => Ok("ok".into()),
        (true, "degraded") => Ok(format!("degraded: {problems}")),
        (_, "") => Err(format!("{url} answered {code} without a status: {body}")),
        _ if problems.is_empty() => Err(format!(
            "{url} answered {code}, status {status}; its log says why (the problems are shown \
             to a query token only: pass --token-file)"
        )),
        _ => Err(format!(
            "{url} answered {code}, status {status}: {problems}"
        )),
    }
}

/// Why `url` could not be asked: the whole error chain, or what to do about a
/// certificate the client does not trust.
fn unreachable(url: &str, err: &reqwest::Error) -> String {
    let mut chain = err.to_string();
    let mut cur = std::error::Error::source(err);
    while let Some(e) = cur {
        chain.push_str(": ");
        chain.push_str(&e.to_string());
        cur = e.source();
    }
    if chain.to_ascii_lowercase().contains("certificate") {
        skein_connect::explain(url, err)
    } else {
        format!("cannot reach {url} ({chain}); is the server up, and listening where --url (SKEIN_HEALTH_URL, else SKEIN_LISTEN) says?")
    }
}

/// The `problems` of a detailed answer as `component: message; …` (empty when the
/// answer has none, or hides them from a caller without a query token).
fn problems(body: &Value) -> String {
    body["problems"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    format!(
                        "{}: {}",
                        p["component"].as_str().unwrap_or("?"),
                        p["message"].as_str().unwrap_or("?")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// Where a server in this container listens (SKEIN_LISTEN, as `skein server` reads it),
/// for the healthcheck that runs beside it.
fn default_url() -> String {
    let listen = std::env::var("SKEIN_LISTEN")
        .ok()
        .and_then(|l| l.trim().parse::<SocketAddr>().ok());
    match listen {
        Some(mut addr) => {
            if addr.ip().is_unspecified() {
                addr.set_ip(if addr.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                });
            }
            format!("http://{addr}")
        }
        None => "http://127.0.0.1:9280".into(),
    }
}

/// `base` with `/healthz` appended, unless it names it already.
fn healthz_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/healthz") {
        base.to_string()
    } else {
        format!("{base}/healthz")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_gets_healthz_once() {
        assert_eq!(
            healthz_url("http://a:9280/"),
            "http://a:9280/healthz".to_string()
        );
        assert_eq!(
            healthz_url("http://a:9280/healthz"),
            "http://a:9280/healthz"
        );
    }

    #[test]
    fn problems_read_as_one_line() {
        let body = serde_json::json!({"status":"failing","problems":[
            {"component":"wal","severity":"error","message":"disk full","since":"x"},
            {"component":"index","severity":"warn","message":"slow","since":"x"}]});
        assert_eq!(problems(&body), "wal: disk full; index: slow");
        assert_eq!(problems(&serde_json::json!({"status":"ok"})), "");
    }
}
