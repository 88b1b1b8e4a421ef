//! Sending the corpus's batches to `POST /api/v1/ingest` as agents would.

use crate::corpus::ContainerBatches;
use anyhow::{ensure, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server answered over a whole send.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Records the server acknowledged as accepted.
    pub accepted: u64,
    /// Requests answered 429 and retried.
    pub throttled: u64,
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

/// Sends every batch over `connections` connections. Each connection owns a fixed set of
/// containers and sends their batches round-robin, one at a time, so a source never has
/// two batches in flight (as an agent ships them); a 429 is retried after 50 ms.
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
    let queues: Vec<Arc<Mutex<Vec<_>>>> = (0..connections)
        .map(|_| Arc::new(Mutex::new(Vec::new())))
        .collect();
    for (i, c) in containers.into_iter().enumerate() {
        queues[i % connections].lock().unwrap().push(c);
    }
    let throttled = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = queues
        .into_iter()
        .map(|q| {
            let url = url.to_string();
            let throttled = throttled.clone();
            let ca_pem = ca_pem.map(<[u8]>::to_vec);
            let token = token.map(str::to_string);
            std::thread::spawn(move || -> Result<u64> {
                let client = crate::server::client_builder(ca_pem.as_deref())?.build()?;
                let mut cs = std::mem::take(&mut *q.lock().unwrap());
                let mut accepted = 0;
                cs.iter_mut().for_each(|c| c.batches.reverse());
                while cs.iter().any(|c| !c.batches.is_empty()) {
                    for c in cs.iter_mut() {
                        let Some(b) = c.batches.pop() else { continue };
                        let (r, retried) = post_retrying(|| {
                            let req = client
                                .post(format!("{url}/api/v1/ingest"))
                                .header("Content-Encoding", "zstd")
                                .body(b.body.clone());
                            match &token {
                                Some(t) => req.bearer_auth(t),
                                None => req,
                            }
                        })?;
                        throttled.fetch_add(retried, Ordering::Relaxed);
                        let v: serde_json::Value = r.json()?;
                        accepted += v["accepted"].as_u64().unwrap_or(0);
                    }
                }
                Ok(accepted)
            })
        })
        .collect();
    let mut accepted = 0;
    for h in handles {
        accepted += h.join().expect("sender thread")?;
    }
    Ok(Sent {
        accepted,
        throttled: throttled.load(Ordering::Relaxed),
    })
}
