//! Sending batches to the server's `POST /api/v1/ingest`, and the backoff between
//! attempts.

use serde::Deserialize;
use skein_model::compact;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;

/// Why a batch was not acknowledged. Every one of these is retried: the batch stays in
/// the spool until the server takes it.
#[derive(Debug, Error)]
pub enum ShipError {
    /// No answer: the server is down, unreachable or too slow.
    #[error("{}", skein_connect::explain(url, source))]
    Unreachable {
        /// The ingest URL.
        url: String,
        /// The client error.
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("server {url} answered {status}: {reason}")]
    Refused {
        /// The ingest URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The reason from the error body.
        reason: String,
        /// How long the server asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
}

impl ShipError {
    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ShipError::Refused { retry_after, .. } => *retry_after,
            ShipError::Unreachable { .. } => None,
        }
    }
}

/// A line of a batch the server refused, which it reports and does not hold.
#[derive(Debug, Clone, Deserialize)]
pub struct RejectedLine {
    /// 1-based line number in the batch.
    pub line: usize,
    /// Why.
    pub error: String,
}

/// The server's acknowledgement.
#[derive(Debug, Clone, Deserialize)]
pub struct Ack {
    /// Records made durable.
    pub accepted: usize,
    /// Records the server already held (a resend).
    #[serde(default)]
    pub duplicates: usize,
    /// Lines that were not valid records.
    #[serde(default)]
    pub rejected: Vec<RejectedLine>,
}

/// The HTTP client of one server.
#[derive(Debug, Clone)]
pub struct Shipper {
    client: reqwest::Client,
    url: String,
    /// Whether the server reads the compact form; cleared at its first 415.
    compact: Arc<AtomicBool>,
}

impl Shipper {
    /// A client of the server at `server` (e.g. `http://127.0.0.1:9280`), presenting
    /// `connect`'s token and trusting its certificates.
    pub fn new(
        server: &str,
        connect: &skein_connect::Connect,
        timeout: Duration,
    ) -> Result<Shipper, skein_connect::ConnectError> {
        let client = connect
            .async_builder()?
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(Shipper {
            client,
            url: format!("{}/api/v1/ingest", server.trim_end_matches('/')),
            compact: Arc::new(AtomicBool::new(true)),
        })
    }

    /// The ingest URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one zstd-compressed body in the compact form ([`skein_model::compact`],
    /// of which NDJSON is a special case) and waits for the acknowledgement, which the
    /// server gives once the records are durable. A server that does not read the
    /// compact form (415) gets the same records as NDJSON, now and from then on.
    pub async fn send(&self, body: Vec<u8>) -> Result<Ack, ShipError> {
        if self.compact.load(Ordering::Relaxed) {
            let body = bytes::Bytes::from(body);
            match self.post(body.clone(), compact::CONTENT_TYPE).await {
                Err(ShipError::Refused {
                    status: 415,
                    reason,
                    ..
                }) => {
                    if self.compact.swap(false, Ordering::Relaxed) {
                        tracing::warn!(
                            "server {} does not read the compact batch form ({reason}); \
                             sending NDJSON from now on (upgrade the server to save it the bytes)",
                            self.url
                        );
                    }
                    return self.post(as_ndjson(&body), "application/x-ndjson").await;
                }
                sent => return sent,
            }
        }
        let body = bytes::Bytes::from(body);
        self.post(as_ndjson(&body), "application/x-ndjson").await
    }

    async fn post(&self, body: bytes::Bytes, content_type: &str) -> Result<Ack, ShipError> {
        let unreachable = |source| ShipError::Unreachable {
            url: self.url.clone(),
            source,
        };
        let response = self
            .client
            .post(&self.url)
            .header("content-type", content_type)
            .header("content-encoding", "zstd")
            .body(body)
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(unreachable)?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|e| ShipError::Refused {
                url: self.url.clone(),
                status: status.as_u16(),
                reason: format!("not an ingest answer ({e}): {}", clip(&text)),
                retry_after: None,
            });
        }
        let reason = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["error"]["reason"].as_str().map(str::to_string))
            .unwrap_or_else(|| clip(&text).to_string());
        Err(ShipError::Refused {
            url: self.url.clone(),
            status: status.as_u16(),
            reason,
            retry_after,
        })
    }
}

/// A zstd compact body as zstd NDJSON: the same records, each line whole.
fn as_ndjson(body: &[u8]) -> bytes::Bytes {
    // Our own body, made by this agent: it decompresses.
    let plain = zstd::stream::decode_all(body).unwrap_or_default();
    let ndjson = compact::expand(&plain);
    zstd::bulk::compress(&ndjson, 1)
        .expect("zstd compresses into memory")
        .into()
}

fn clip(s: &str) -> &str {
    let end = s.char_indices().nth(200).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

/// Exponential backoff with full jitter: each wait is drawn from zero to a ceiling that
/// doubles per failure, so agents that lost the same server do not return in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    failures: u32,
}

impl Backoff {
    /// Backoff whose ceiling starts at `first` and stops growing at `max`.
    pub fn new(first: Duration, max: Duration) -> Backoff {
        Backoff {
            first,
            max,
            failures: 0,
        }
    }

    /// The wait after one more failure; at least what the server asked for.
    pub fn next(&mut self, asked: Option<Duration>) -> Duration {
        let ceiling = self
            .first
            .saturating_mul(1u32 << self.failures.min(16))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let jittered = ceiling.mul_f64(rand::random::<f64>());
        jittered.max(asked.unwrap_or_default()).max(self.first / 4)
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to the first ceiling after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_jittered_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
        let waits: Vec<Duration> = (0..12).map(|_| b.next(None)).collect();
        assert!(waits.iter().all(|w| *w >= Duration::from_millis(25)));
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(5)));
        assert!(waits[0] <= Duration::from_millis(100));
        assert_eq!(b.failures(), 12);
        // Jitter: twelve draws are not all the same.
        assert!(waits.windows(2).any(|w| w[0] != w[1]));
        assert_eq!(b.next(Some(Duration::from_secs(9))), Duration::from_secs(9));
        b.reset();
        assert!(b.next(None) <= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn an_absent_server_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let s = Shipper::new(
            &format!("http://{addr}/"),
            &skein_connect::Connect::default(),
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(s.url(), format!("http://{addr}/api/v1/ingest"));
        let e = s.send(b"x".to_vec()).await.unwrap_err();
        assert!(matches!(e, ShipError::Unreachable { .. }), "{e}");
        assert!(e.to_string().contains("cannot reach"), "{e}");
    }
}
