//! `bench/ingest`: the HTTP ingest path end to end with the generated corpus.
//!
//! Each container's records go in `_seq` order, one batch in flight per container (as
//! the agent ships them), over several connections. Prints records/s (acknowledged and
//! searchable), MB/s of json-file, server CPU seconds per GB (until searchable), peak
//! RSS (including the compaction that follows), and index bytes per json-file byte when
//! searchable and once the idle partition is compacted (its day is over, so the server
//! compacts it 30 s after the last write).

use anyhow::{ensure, Result};
use clap::Parser;
use skein_bench::corpus::{build_batches, CorpusArgs};
use skein_bench::send::send_all;
use skein_bench::server::{dir_bytes, ServerProcess};
use skein_bench::stats::machine;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// HTTP ingest of the generated corpus into a fresh server, end to end.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Server data directory (emptied first); kept afterwards for bench/search.
    #[arg(long, default_value = "bench/corpus/data")]
    data_dir: PathBuf,
    /// Records per request.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let manifest = a.corpus.ensure()?;
    eprintln!("building batches (parse + zstd, as the agent would)…");
    let containers = build_batches(&a.corpus.corpus, &manifest, a.batch)?;
    let records: u64 = containers
        .iter()
        .flat_map(|c| &c.batches)
        .map(|b| b.records)
        .sum();
    let raw = manifest.bytes as f64;
    if a.data_dir.exists() {
        std::fs::remove_dir_all(&a.data_dir)?;
    }
    let server = ServerProcess::start(&a.data_dir, &[])?;
    let cpu0 = server.cpu_seconds();
    let started = Instant::now();
    let sent = send_all(&server.url, containers, a.connections)?;
    let accepted = sent.accepted;
    let acked = started.elapsed().as_secs_f64();
    while server.total("*")? < records {
        std::thread::sleep(Duration::from_millis(20));
    }
    let searchable = started.elapsed().as_secs_f64();
    let cpu = server.cpu_seconds() - cpu0;
    let partitions = a.data_dir.join("partitions");
    let index_live = dir_bytes(&partitions);
    // A partition of a day that is over is compacted into one segment once nothing was
    // written to it for 30 s (the indexer's default); wait for that before measuring the
    // settled size.
    let quiet = Instant::now();
    while segments(&partitions) > 1 {
        ensure!(
            quiet.elapsed() < Duration::from_secs(120),
            "the partition was not compacted within 120 s of the last record"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let compacted_after = quiet.elapsed().as_secs_f64();
    let rss = server.peak_rss();
    server.stop()?;
    let index = dir_bytes(&a.data_dir.join("partitions"));
    ensure!(accepted == records, "accepted {accepted} of {records}");

    println!("bench/ingest — {}", machine());
    println!("corpus: {} json-file lines, {} containers, seed {}, {:.1} MB; {records} records after partial-line merge", manifest.lines, manifest.containers, manifest.seed, raw / 1e6);
    println!(
        "requests: {} records each, zstd, {} connections, {} answered 429 and were retried",
        a.batch, a.connections, sent.throttled
    );
    println!(
        "acknowledged (durable): {:>10.0} records/s  {:>7.1} MB/s  in {acked:.2} s",
        records as f64 / acked,
        raw / 1e6 / acked
    );
    println!(
        "searchable (committed): {:>10.0} records/s  {:>7.1} MB/s  in {searchable:.2} s",
        records as f64 / searchable,
        raw / 1e6 / searchable
    );
    println!(
        "server CPU: {cpu:.1} s = {:.1} CPU-seconds per GB of json-file",
        cpu / (raw / 1e9)
    );
    println!("server peak RSS: {:.0} MiB", rss as f64 / (1 << 20) as f64);
    println!(
        "index when searchable: {:.1} MB = {:.3} x the json-file bytes",
        index_live as f64 / 1e6,
        index_live as f64 / raw
    );
    println!(
        "index after compaction: {:.1} MB = {:.3} x the json-file bytes ({compacted_after:.0} s after the last record was searchable)",
        index as f64 / 1e6,
        index as f64 / raw
    );
    Ok(())
}

/// Segments in the partitions under `dir` (one `.store` file each).
fn segments(dir: &std::path::Path) -> usize {
    let Ok(days) = std::fs::read_dir(dir) else {
        return 0;
    };
    days.flatten()
        .filter_map(|d| std::fs::read_dir(d.path()).ok())
        .flat_map(|files| files.flatten())
        .filter(|f| f.path().extension().is_some_and(|e| e == "store"))
        .count()
}
