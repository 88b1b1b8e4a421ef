//! A counting sink: a minimal stand-in for the server's `POST /api/v1/ingest`, so the
//! agent can be measured without the indexer's cost.
//!
//! It takes zstd (or plain) NDJSON, counts lines, tracks the distinct
//! `(_source_id, _seq)` pairs to tell lost and duplicated lines, optionally collects
//! write→receive latencies from each record's `@timestamp`, and answers
//! `{"accepted":N,"duplicates":N,"rejected":[…]}` at once. Every 1,000th line is also
//! decoded in full as a [`skein_model::Record`], so a malformed stream is noticed.

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use skein_model::Timestamp;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// What the sink has received.
#[derive(Debug, Default, Clone)]
pub struct SinkCounts {
    /// Requests answered.
    pub batches: u64,
    /// Compressed request bytes.
    pub body_bytes: u64,
    /// Uncompressed NDJSON bytes.
    pub ndjson_bytes: u64,
    /// Lines received, duplicates included.
    pub lines: u64,
    /// Distinct `(_source_id, _seq)` pairs.
    pub distinct: u64,
    /// Lines whose `(_source_id, _seq)` had been received before.
    pub duplicates: u64,
    /// Lines without a delivery identity (counted, not deduplicated).
    pub no_identity: u64,
    /// Lines that are not valid records (of those checked in full, or without a
    /// readable `@timestamp`).
    pub rejected: u64,
}

#[derive(Default)]
struct Inner {
    counts: SinkCounts,
    seen: HashMap<String, HashSet<u64>>,
    /// Latencies in nanoseconds of records whose `@timestamp` is inside the window.
    latencies: Vec<i64>,
    /// Latencies are kept for records with `@timestamp` in `[from, to)` (ns).
    window: Option<(i64, i64)>,
    /// Where to copy received NDJSON, and how many bytes more.
    dump: Option<(std::fs::File, u64)>,
    /// The last bodies received, uncompressed, to time their compression with.
    samples: std::collections::VecDeque<Vec<u8>>,
}

/// A running sink.
pub struct Sink {
    /// Base URL, e.g. `http://127.0.0.1:PORT`.
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Sink {
    /// Starts the sink on a free port of 127.0.0.1, on its own one-worker runtime.
    pub fn start() -> Result<Sink> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let inner = Arc::new(Mutex::new(Inner::default()));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = inner.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("sink runtime")?;
        let thread = std::thread::Builder::new()
            .name("bench-sink".into())
            .spawn(move || {
                rt.block_on(async move {
                    let app = Router::new()
                        .route("/api/v1/ingest", post(ingest))
                        .layer(DefaultBodyLimit::max(256 << 20))
                        .with_state(state);
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("sink listener");
                    axum::serve(listener, app)
                        .with_graceful_shutdown(async {
                            let _ = rx.await;
                        })
                        .await
                        .expect("sink serves");
                });
            })?;
        Ok(Sink {
            url,
            inner,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The counts so far.
    pub fn counts(&self) -> SinkCounts {
        self.inner.lock().unwrap().counts.clone()
    }

    /// Distinct lines so far.
    pub fn distinct(&self) -> u64 {
        self.inner.lock().unwrap().counts.distinct
    }

    /// Starts keeping the latency of records whose `@timestamp` falls in
    /// `[from_ns, to_ns)`; latencies kept before are dropped.
    pub fn latency_window(&self, from_ns: i64, to_ns: i64) {
        let mut g = self.inner.lock().unwrap();
        g.window = Some((from_ns, to_ns));
        g.latencies.clear();
    }

    /// Ends the latency window at `to_ns`: later records are not counted.
    pub fn end_latency_window(&self, to_ns: i64) {
        let mut g = self.inner.lock().unwrap();
        if let Some(w) = g.window.as_mut() {
            w.1 = to_ns;
        }
    }

    /// Copies the first `limit` bytes of NDJSON received (whole batches) to `path`.
    pub fn dump_to(&self, path: &std::path::Path, limit: u64) -> Result<()> {
        let f =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        self.inner.lock().unwrap().dump = Some((f, limit));
        Ok(())
    }

    /// The last (up to 64) bodies received, uncompressed.
    pub fn samples(&self) -> Vec<Vec<u8>> {
        self.inner.lock().unwrap().samples.iter().cloned().collect()
    }

    /// The latencies collected, in milliseconds, sorted.
    pub fn latencies_ms(&self) -> Vec<f64> {
        let g = self.inner.lock().unwrap();
        let mut v: Vec<f64> = g.latencies.iter().map(|&ns| ns as f64 / 1e6).collect();
        v.sort_by(f64::total_cmp);
        v
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn ingest(
    State(state): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Json<serde_json::Value>) {
    let received = now_ns();
    let zstd = headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"zstd"));
    let ndjson = if zstd {
        match zstd::stream::decode_all(&body[..]) {
            Ok(v) => v,
            Err(e) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(serde_json::json!({"error": {"reason": format!("zstd: {e}")}})),
                )
            }
        }
    } else {
        body.to_vec()
    };
    let mut g = state.lock().unwrap();
    let g = &mut *g;
    g.counts.batches += 1;
    g.counts.body_bytes += body.len() as u64;
    g.counts.ndjson_bytes += ndjson.len() as u64;
    if g.samples.len() == 64 {
        g.samples.pop_front();
    }
    g.samples.push_back(ndjson.clone());
    if let Some((f, left)) = g.dump.as_mut() {
        if *left > 0 {
            use std::io::Write;
            let _ = f.write_all(&ndjson);
            *left = left.saturating_sub(ndjson.len() as u64);
        }
    }
    let (mut accepted, mut duplicates) = (0u64, 0u64);
    let mut rejected = Vec::new();
    // The `_source_ids` of the compact form's `@source` line in force.
    let mut sources: HashMap<String, String> = HashMap::new();
    let mut source_line: &[u8] = b"";
    for (i, line) in ndjson
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        if skein_model::compact::is_source_line(line) {
            sources = serde_json::from_slice::<serde_json::Value>(line)
                .ok()
                .and_then(|v| serde_json::from_value(v["@source"]["_source_ids"].clone()).ok())
                .unwrap_or_default();
            source_line = line;
            continue;
        }
        g.counts.lines += 1;
        let Some(ts) = timestamp(line) else {
            g.counts.rejected += 1;
            rejected.push(serde_json::json!({"line": i + 1, "error": "no @timestamp"}));
            continue;
        };
        if g.counts.lines % 1000 == 0 {
            // Checked as the server reads it: after the `@source` line in force.
            let two = [source_line, b"\n", line].concat();
            if let Some(e) = skein_model::compact::decode(&two).decoded.rejected.first() {
                g.counts.rejected += 1;
                rejected.push(serde_json::json!({"line": i + 1, "error": e.error}));
                continue;
            }
        }
        if let Some((from, to)) = g.window {
            if ts >= from && ts < to {
                g.latencies.push(received - ts);
            }
        }
        let id = identity(line).or_else(|| {
            let stream = stream(line).unwrap_or("");
            Some((sources.get(stream)?.as_str(), seq(line)?))
        });
        match id {
            Some((source, seq)) => {
                let new = match g.seen.get_mut(source) {
                    Some(set) => set.insert(seq),
                    None => {
                        g.seen.insert(source.to_string(), HashSet::from([seq]));
                        true
                    }
                };
                if new {
                    g.counts.distinct += 1;
                    accepted += 1;
                } else {
                    g.counts.duplicates += 1;
                    duplicates += 1;
                }
            }
            None => {
                g.counts.no_identity += 1;
                accepted += 1;
            }
        }
    }
    (
        StatusCode::OK,
        Json(serde_json::json!({
            "accepted": accepted,
            "duplicates": duplicates,
            "rejected": rejected,
        })),
    )
}

/// `@timestamp` of an agent record, which the agent writes first:
/// `{"@timestamp":"2026-11-20T10:00:00.123456789Z",…`.
fn timestamp(line: &[u8]) -> Option<i64> {
    let rest = line.strip_prefix(b"{\"@timestamp\":\"")?;
    let end = rest.iter().position(|&b| b == b'"')?;
    let s = std::str::from_utf8(&rest[..end]).ok()?;
    Timestamp::parse_rfc3339(s).ok().map(|t| t.0)
}

/// `(_source_id, _seq)` of an agent record, which the agent writes last:
/// `…,"_source_id":"…","_seq":N}`. Inside a JSON string a quote is escaped, so the
/// last unescaped `,"_source_id":"` is the top-level key.
fn identity(line: &[u8]) -> Option<(&str, u64)> {
    const KEY: &[u8] = b",\"_source_id\":\"";
    const SEQ: &[u8] = b"\",\"_seq\":";
    let at = rfind(line, KEY)? + KEY.len();
    let rest = &line[at..];
    let mid = rfind(rest, SEQ)?;
    let source = std::str::from_utf8(&rest[..mid]).ok()?;
    let digits = rest[mid + SEQ.len()..].strip_suffix(b"}")?;
    let seq = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((source, seq))
}

/// `_seq` of a compact-form agent record, which the agent writes last: `…,"_seq":N}`.
fn seq(line: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b",\"_seq\":";
    let at = rfind(line, KEY)? + KEY.len();
    std::str::from_utf8(line[at..].strip_suffix(b"}")?)
        .ok()?
        .parse()
        .ok()
}

/// The stream of a compact-form agent record, which the agent writes right after the
/// time: `{"@timestamp":"…","stream":"stdout",…`.
fn stream(line: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\",\"stream\":\"";
    let rest = line.strip_prefix(b"{\"@timestamp\":\"")?;
    let at = rest.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = &rest[at..];
    let end = rest.iter().position(|&b| b == b'"')?;
    std::str::from_utf8(&rest[..end]).ok()
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if hay.len() < needle.len() {
        return None;
    }
    (0..=hay.len() - needle.len())
        .rev()
        .find(|&i| &hay[i..i + needle.len()] == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_identity_and_time() {
        let line = br#"{"@timestamp":"2026-11-20T10:00:00.5Z","host":"h","message":"a \",\"_source_id\":\"x","fields":{"_source_id":"y"},"_source_id":"abc:stdout","_seq":1234}"#;
        assert_eq!(identity(line), Some(("abc:stdout", 1234)));
        assert_eq!(timestamp(line), Some(1_795_168_800_500_000_000));
        assert_eq!(identity(br#"{"@timestamp":"x","message":"m"}"#), None);
        let compact =
            br#"{"@timestamp":"2026-11-20T10:00:00.5Z","stream":"stderr","message":"m","_seq":77}"#;
        assert_eq!(stream(compact), Some("stderr"));
        assert_eq!(seq(compact), Some(77));
    }
}
