//! Sending the corpus's batches to the server as agents would: one mechanism
//! ([`send_each`]) for every protocol, with what differs per protocol in a [`Post`].

use crate::corpus::{Batch, ContainerBatches};
use anyhow::{ensure, Result};
use std::time::Duration;

/// What the server answered over a whole send.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Records the server acknowledged as accepted.
    pub accepted: u64,
    /// Requests answered 429 (or the protocol's "no room", retried) and retried.
    pub throttled: u64,
}

/// One connection's way of delivering a batch.
pub trait Post {
    /// Sends `batch` until the server takes it, retrying a "no room" answer after 50 ms
    /// as agents back off; the records it accepted and the retries it took.
    fn post(&mut self, batch: &Batch) -> Result<(u64, u64)>;
}

/// Sends the request `build` makes until it is not answered 429 (each 429 retried after
/// 50 ms, as agents back off); the 200 answer and the number of 429s before it. Any
/// other status is an error naming it.
pub fn post_retrying(
    build: impl Fn() -> reqwest::blocking::RequestBuilder,
) -> Result<(reqwest::blocking::Response, u64)> {
    let mut throttled = 0;
    loop {
        let r = build().send()?;
        if r.status() == 429 {
            throttled += 1;
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        ensure!(r.status() == 200, "{} answered {}", r.url(), r.status());
        return Ok((r, throttled));
    }
}

/// Sends every batch over `connections` connections, each delivering with the [`Post`]
/// `connect` makes for it. Each connection owns a fixed set of containers and sends
/// their batches round-robin, one at a time, so a source never has two batches in
/// flight (as an agent ships them).
pub fn send_each<P: Post>(
    containers: Vec<ContainerBatches>,
    connections: usize,
    connect: impl Fn() -> Result<P> + Sync,
) -> Result<Sent> {
    let mut queues: Vec<Vec<ContainerBatches>> = (0..connections).map(|_| Vec::new()).collect();
    for (i, c) in containers.into_iter().enumerate() {
        queues[i % connections].push(c);
    }
    let connect = &connect;
    let done: Vec<Result<(u64, u64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = queues
            .into_iter()
            .map(|mut cs| {
                s.spawn(move || -> Result<(u64, u64)> {
                    let mut poster = connect()?;
                    let (mut accepted, mut throttled) = (0, 0);
                    cs.iter_mut().for_each(|c| c.batches.reverse());
                    while cs.iter().any(|c| !c.batches.is_empty()) {
                        for c in cs.iter_mut() {
                            let Some(b) = c.batches.pop() else { continue };
                            let (a, t) = poster.post(&b)?;
                            accepted += a;
                            throttled += t;
                        }
                    }
                    Ok((accepted, throttled))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sender thread"))
            .collect()
    });
    let mut sent = Sent {
        accepted: 0,
        throttled: 0,
    };
    for d in done {
        let (a, t) = d?;
        sent.accepted += a;
        sent.throttled += t;
    }
    Ok(sent)
}

/// `POST /api/v1/ingest` with a zstd NDJSON body, as the agent ships it.
pub struct Ingest {
    client: reqwest::blocking::Client,
    url: String,
    token: Option<String>,
}

impl Ingest {
    /// A connection to the server at `url` (trusting only `ca_pem` when given),
    /// presenting `Authorization: Bearer token` when given.
    pub fn connect(url: &str, ca_pem: Option<&[u8]>, token: Option<&str>) -> Result<Ingest> {
        Ok(Ingest {
            client: crate::server::client_builder(ca_pem)?.build()?,
            url: format!("{url}/api/v1/ingest"),
            token: token.map(str::to_string),
        })
    }
}

impl Post for Ingest {
    fn post(&mut self, b: &Batch) -> Result<(u64, u64)> {
        let (r, retried) = post_retrying(|| {
            let req = self
                .client
                .post(&self.url)
                .header("Content-Encoding", "zstd")
                .body(b.body.clone());
            match &self.token {
                Some(t) => req.bearer_auth(t),
                None => req,
            }
        })?;
        let v: serde_json::Value = r.json()?;
        Ok((v["accepted"].as_u64().unwrap_or(0), retried))
    }
}

/// Sends every batch to `POST /api/v1/ingest` over `connections` connections
/// ([`send_each`] with [`Ingest`]).
pub fn send_all(url: &str, containers: Vec<ContainerBatches>, connections: usize) -> Result<Sent> {
    send_all_with(url, containers, connections, None, None)
}

/// [`send_all`] to an HTTPS server whose CA is `ca_pem` (trusted alone, by rustls), and
/// with `Authorization: Bearer token` on every request, when given.
pub fn send_all_with(
    url: &str,
    containers: Vec<ContainerBatches>,
    connections: usize,
    ca_pem: Option<&[u8]>,
    token: Option<&str>,
) -> Result<Sent> {
    send_each(containers, connections, || {
        Ingest::connect(url, ca_pem, token)
    })
}
