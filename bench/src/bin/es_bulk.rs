//! `bench/es_bulk`: bulk ingest through `/es/_bulk` against `/api/v1/ingest`, same
//! records, same request size, same connections, one fresh server each.
//!
//! The corpus is the one `bench/ingest` uses, parsed as the agent does. For
//! `/api/v1/ingest` each record goes as its JSON line; for `/es/_bulk` the same record
//! goes as the document Vector's docker_logs source would send (`timestamp`, `message`,
//! `host`, `container_name`, `container_id`, `image`, `label`, `stream`, `level`, the
//! payload fields at the top level) after a `{"create":{"_index":"logs"}}` line. Bodies
//! are cut at 5 MB, uncompressed, and sent over 4 connections; a 429 is retried after
//! 50 ms. Prints, for each path, records/s acknowledged and searchable, and the ratio.

use anyhow::{ensure, Result};
use clap::Parser;
use serde_json::{Map, Value};
use skein_bench::corpus::{source_meta, CorpusArgs};
use skein_bench::send::post_retrying;
use skein_bench::server::{dir_bytes, ServerProcess};
use skein_bench::stats::machine;
use skein_collector::json_file_reader::{records_from_json_file, JsonFileOptions};
use skein_model::Record;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bulk ingest through /es/_bulk against /api/v1/ingest, same records, fresh servers.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Server data directories, one per phase (emptied before it).
    #[arg(long, default_value = "bench/corpus/es-data")]
    data_dir: PathBuf,
    /// Request body size in bytes.
    #[arg(long, default_value_t = 5_000_000)]
    request_bytes: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

/// The document Vector's docker_logs source would send for `r`.
fn es_doc(r: &Record) -> Value {
    let mut d = Map::new();
    d.insert("timestamp".into(), Value::String(r.timestamp.to_rfc3339()));
    d.insert("message".into(), Value::String(r.message.clone()));
    d.insert("host".into(), Value::String(r.host.clone()));
    d.insert("container_name".into(), Value::String(r.container.clone()));
    d.insert("container_id".into(), Value::String(r.container_id.clone()));
    d.insert("image".into(), Value::String(r.image.clone()));
    d.insert(
        "label".into(),
        serde_json::to_value(&r.labels).expect("labels"),
    );
    d.insert("stream".into(), Value::String(r.stream.clone()));
    d.insert("source_type".into(), Value::String("docker_logs".into()));
    if let Some(l) = r.level {
        d.insert("level".into(), Value::String(l.as_str().into()));
    }
    for (k, v) in &r.fields {
        d.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(d)
}

/// Both bodies, cut at `limit` bytes: (records per request, ingest body, bulk body).
type Bodies = (Vec<(u64, Vec<u8>)>, Vec<(u64, Vec<u8>)>);

fn bodies(a: &Args) -> Result<(Bodies, u64, u64)> {
    let manifest = a.corpus.ensure()?;
    let (mut ingest, mut bulk) = (Vec::new(), Vec::new());
    let (mut ib, mut bb) = (Vec::new(), Vec::new());
    let (mut in_n, mut bn) = (0u64, 0u64);
    let mut total = 0u64;
    for (i, (id, file)) in manifest.files.iter().enumerate() {
        let meta = source_meta(id, &file.service, i);
        let path = a.corpus.corpus.join(id).join(format!("{id}-json.log"));
        let f = std::fs::File::open(&path)?;
        for mut rec in records_from_json_file(BufReader::new(f), &meta, JsonFileOptions::default())
        {
            // Bulk documents have no delivery identity; neither do these records.
            rec.source_id = None;
            rec.seq = None;
            total += 1;
            let line = serde_json::to_vec(&rec)?;
            if ib.len() + line.len() + 1 > a.request_bytes {
                ingest.push((in_n, std::mem::take(&mut ib)));
                in_n = 0;
            }
            ib.extend_from_slice(&line);
            ib.push(b'\n');
            in_n += 1;
            let doc = serde_json::to_vec(&es_doc(&rec))?;
            let action = br#"{"create":{"_index":"logs"}}"#;
            if bb.len() + action.len() + doc.len() + 2 > a.request_bytes {
                bulk.push((bn, std::mem::take(&mut bb)));
                bn = 0;
            }
            bb.extend_from_slice(action);
            bb.push(b'\n');
            bb.extend_from_slice(&doc);
            bb.push(b'\n');
            bn += 1;
        }
    }
    ingest.push((in_n, ib));
    bulk.push((bn, bb));
    Ok(((ingest, bulk), total, manifest.bytes))
}

struct Phase {
    acked: f64,
    searchable: f64,
    throttled: u64,
    requests: usize,
    /// Server CPU seconds from start until every record was searchable.
    cpu: f64,
    /// Bytes of the partitions once the server has stopped (merges finished).
    index_bytes: u64,
    /// The server's peak resident memory (VmHWM), bytes.
    peak_rss: u64,
}

fn run(a: &Args, path: &str, reqs: Vec<(u64, Vec<u8>)>, records: u64) -> Result<Phase> {
    // One directory per phase, so both indexes can be looked at afterwards.
    let data_dir = a
        .data_dir
        .join(path.trim_start_matches('/').replace('/', "_"));
    if data_dir.exists() {
        std::fs::remove_dir_all(&data_dir)?;
    }
    let server = ServerProcess::start(&data_dir, &[])?;
    let requests = reqs.len();
    // `Bytes`: a retry resends the body without copying 5 MB on the client.
    let queue = Arc::new(Mutex::new(
        reqs.into_iter()
            .rev()
            .map(|(n, body)| (n, bytes::Bytes::from(body)))
            .collect::<Vec<_>>(),
    ));
    let throttled = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..a.connections)
        .map(|_| {
            let (queue, throttled) = (queue.clone(), throttled.clone());
            let url = format!("{}{path}", server.url);
            std::thread::spawn(move || -> Result<u64> {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(120))
                    .build()?;
                let mut stored = 0;
                loop {
                    let Some((n, body)) = queue.lock().unwrap().pop() else {
                        return Ok(stored);
                    };
                    let (r, retried) = post_retrying(|| {
                        client
                            .post(&url)
                            .header("Content-Type", "application/x-ndjson")
                            .body(body.clone())
                    })?;
                    throttled.fetch_add(retried, Ordering::Relaxed);
                    // As Fluent Bit's es output does: look for `"errors":false` at the
                    // head of the answer instead of parsing its per-item results (2 MB
                    // per request here), which would take CPU from the server on a
                    // two-core machine. The ingest answer holds no such key.
                    let answer = r.bytes()?;
                    let head = &answer[..answer.len().min(64)];
                    let failed = head.windows(14).any(|w| w == b"\"errors\":true,");
                    ensure!(!failed, "bulk item errors");
                    stored += n;
                }
            })
        })
        .collect();
    let mut stored = 0;
    for h in handles {
        stored += h.join().expect("sender thread")?;
    }
    let acked = started.elapsed().as_secs_f64();
    ensure!(stored == records, "stored {stored} of {records}");
    while server.total("*")? < records {
        std::thread::sleep(Duration::from_millis(20));
    }
    let searchable = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds();
    let peak_rss = server.peak_rss();
    server.stop()?;
    Ok(Phase {
        acked,
        searchable,
        throttled: throttled.load(Ordering::Relaxed),
        requests,
        cpu,
        index_bytes: dir_bytes(&data_dir.join("partitions")),
        peak_rss,
    })
}

fn main() -> Result<()> {
    let a = Args::parse();
    eprintln!("building request bodies…");
    let ((ingest, bulk), records, raw) = bodies(&a)?;
    let ingest_bytes: usize = ingest.iter().map(|b| b.1.len()).sum();
    let bulk_bytes: usize = bulk.iter().map(|b| b.1.len()).sum();
    eprintln!("/api/v1/ingest…");
    let i = run(&a, "/api/v1/ingest", ingest, records)?;
    eprintln!("/es/_bulk…");
    let e = run(&a, "/es/_bulk", bulk, records)?;
    println!("bench/es_bulk — {}", machine());
    println!(
        "corpus: {records} records from {} json-file lines ({:.1} MB), {} connections, requests up to {} bytes, uncompressed",
        a.corpus.lines,
        raw as f64 / 1e6,
        a.connections,
        a.request_bytes
    );
    for (name, p, bytes) in [
        ("/api/v1/ingest", &i, ingest_bytes),
        ("/es/_bulk", &e, bulk_bytes),
    ] {
        println!(
            "{name:<15} {} requests, {:.0} MB sent, {} answered 429 and were retried",
            p.requests,
            bytes as f64 / 1e6,
            p.throttled
        );
        println!(
            "{name:<15} acknowledged: {:>9.0} records/s in {:.2} s; searchable: {:>9.0} records/s in {:.2} s",
            records as f64 / p.acked,
            p.acked,
            records as f64 / p.searchable,
            p.searchable
        );
        println!(
            "{name:<15} server CPU until searchable: {:.1} s ({:.1} µs per record); index {:.0} MB; peak RSS {} MiB",
            p.cpu,
            p.cpu * 1e6 / records as f64,
            p.index_bytes as f64 / 1e6,
            p.peak_rss >> 20
        );
    }
    println!(
        "/es/_bulk vs /api/v1/ingest: acknowledged {:.2}x, searchable {:.2}x (target ≥ 0.80x)",
        i.acked / e.acked,
        i.searchable / e.searchable
    );
    println!(
        "/es/_bulk vs /api/v1/ingest: server CPU per record {:.2}x, index size {:.2}x",
        e.cpu / i.cpu,
        e.index_bytes as f64 / i.index_bytes as f64
    );
    Ok(())
}
