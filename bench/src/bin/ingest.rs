//! `bench/ingest`: the HTTP ingest path end to end with the generated corpus.
//!
//! Each container's records go in `_seq` order, one batch in flight per container (as
//! the agent ships them), over several connections. Prints records/s (acknowledged and
//! searchable), MB/s of json-file, server CPU seconds per GB (until searchable), peak
//! RSS (including the compaction that follows), and index bytes per json-file byte when
//! searchable and once the idle partition is compacted (its day is over, so the server
//! compacts it 30 s after the last write), and what of it the next start's orphan
//! cleanup removes.
//!
//! With `--tls-compare` it measures what auth and TLS cost instead (issue 15): the same
//! batches go, in alternating order over `--rounds` rounds, to a plain-HTTP server with
//! auth off and to a `--tls-self-signed` server with an ingest token made by `skein token
//! create` (the senders present `Authorization: Bearer` and trust only `DATA/tls/ca.pem`);
//! it prints each arm's acknowledged and searchable rates, CPU, and the ratio.

use anyhow::{ensure, Context, Result};
use clap::Parser;
use skein_bench::compare::{self, Outcome};
use skein_bench::corpus::{build_batches, ContainerBatches, CorpusArgs};
use skein_bench::send::{send_all, send_all_with};
use skein_bench::server::{built_skein_binary, create_token, dir_bytes, ServerProcess};
use skein_bench::stats::machine;
use std::path::{Path, PathBuf};
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
    /// Instead of the figures above: the corpus against a plain-HTTP server with auth off
    /// and a `--tls-self-signed` server with an ingest token, in the same run (issue 15).
    #[arg(long)]
    tls_compare: bool,
    /// Rounds of --tls-compare; each runs every arm once, in reversed order every other
    /// round, so drift of a noisy machine falls on both.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Arms of --tls-compare, comma-separated: plain (HTTP, auth off), tls-token (HTTPS
    /// with a Bearer ingest token), token (HTTP with the token), tls (HTTPS, auth off),
    /// baseline (plain, with the --baseline binary).
    #[arg(long, value_delimiter = ',', default_value = "plain,tls-token")]
    arms: Vec<Arm>,
    /// Whether --tls-compare first runs its first arm once without counting it.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    warmup: bool,
    /// Another build of the server for the `baseline` arm (e.g. the previous main), so
    /// that its plain rate is measured in the same run, interleaved with the others.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Where --tls-compare's servers keep their data (a subdirectory per arm, emptied
    /// first).
    #[arg(long, default_value = "bench/corpus/tls-compare")]
    compare_dir: PathBuf,
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
    if a.tls_compare {
        return tls_compare(&a, &manifest, containers, records);
    }
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
    // What the next start would remove: files no `meta.json` names (a merge's output
    // never published, superseded deletes files, temporary files).
    let (orphan_files, orphan_bytes) = std::fs::read_dir(&partitions)?
        .flatten()
        .map(|d| skein_indexer::partition::remove_orphans(&d.path()))
        .fold((0, 0), |t, (n, b)| (t.0 + n, t.1 + b));
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
    println!(
        "orphan files the next start removes: {orphan_files} ({:.1} MB); index after that cleanup: {:.1} MB",
        orphan_bytes as f64 / 1e6,
        (index - orphan_bytes) as f64 / 1e6
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

/// One server set-up of `--tls-compare`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Arm {
    /// HTTP, auth off (no token exists, loopback).
    Plain,
    /// HTTPS (`--tls-self-signed`), every request with an ingest token.
    TlsToken,
    /// HTTP, every request with an ingest token (auth on).
    Token,
    /// HTTPS, auth off.
    Tls,
    /// HTTP, auth off, with the `--baseline` binary.
    Baseline,
    /// HTTP, auth off, `--no-patterns`: what mining patterns at ingest costs.
    NoPatterns,
}

impl Arm {
    fn name(self) -> &'static str {
        match self {
            Arm::Plain => "plain",
            Arm::TlsToken => "tls-token",
            Arm::Token => "token",
            Arm::Tls => "tls",
            Arm::Baseline => "baseline",
            Arm::NoPatterns => "no-patterns",
        }
    }

    fn tls(self) -> bool {
        matches!(self, Arm::TlsToken | Arm::Tls)
    }

    fn token(self) -> bool {
        matches!(self, Arm::TlsToken | Arm::Token)
    }
}

/// `--tls-compare`: every arm in every round, then the medians and the ratios to `plain`.
fn tls_compare(
    a: &Args,
    manifest: &skein_gen::Manifest,
    containers: Vec<ContainerBatches>,
    records: u64,
) -> Result<()> {
    ensure!(
        a.rounds > 0 && !a.arms.is_empty(),
        "need a round and an arm"
    );
    let bin = built_skein_binary()?;
    ensure!(
        a.baseline.is_some() == a.arms.contains(&Arm::Baseline),
        "--baseline BIN and the baseline arm go together"
    );
    let raw = manifest.bytes as f64;
    let body_bytes: usize = containers
        .iter()
        .flat_map(|c| &c.batches)
        .map(|b| b.body.len())
        .sum();
    let requests: usize = containers.iter().map(|c| c.batches.len()).sum();
    let names: Vec<&str> = a.arms.iter().map(|arm| arm.name()).collect();
    let results = compare::rounds(&names, a.rounds, a.warmup, records, |i| {
        let arm = a.arms[i];
        let arm_bin = match (arm, &a.baseline) {
            (Arm::Baseline, Some(b)) => b.as_path(),
            _ => bin.as_path(),
        };
        let dir = a.compare_dir.join(arm.name());
        run_arm(
            arm_bin,
            arm,
            &dir,
            containers.clone(),
            a.connections,
            records,
        )
    })?;

    println!("bench/ingest --tls-compare — {}", machine());
    println!("server: {}", bin.display());
    if let Some(b) = &a.baseline {
        println!("baseline server: {}", b.display());
    }
    println!("corpus: {} json-file lines, {} containers, seed {}, {:.1} MB; {records} records after partial-line merge", manifest.lines, manifest.containers, manifest.seed, raw / 1e6);
    println!(
        "requests: {requests} of {} records each, {:.1} MB of zstd bodies in all, {} connections; {} rounds{}, arm order reversed every other round",
        a.batch,
        body_bytes as f64 / 1e6,
        a.connections,
        a.rounds,
        if a.warmup { " after an uncounted warm-up run" } else { "" }
    );
    println!("arms: plain = HTTP, auth off; tls-token = --tls-self-signed, Bearer ingest token, client trusts DATA/tls/ca.pem only; token = HTTP with the token; tls = HTTPS, auth off; baseline = plain with the baseline server");
    compare::print_arms(&names, &results, records, raw);
    // Each arm against plain, and plain (this build) against the baseline build.
    let position = |arm: Arm| a.arms.iter().position(|&x| x == arm);
    let mut pairs = Vec::new();
    if let Some(p) = position(Arm::Plain) {
        for (i, &arm) in a.arms.iter().enumerate() {
            if arm != Arm::Plain && arm != Arm::Baseline {
                pairs.push((i, p));
            }
        }
        if let Some(b) = position(Arm::Baseline) {
            pairs.push((p, b));
        }
    }
    for (i, p) in pairs {
        compare::print_ratio(&names, &results, i, p, records);
    }
    Ok(())
}

/// Sends the corpus to a fresh server of `arm` in `dir` and waits until it is searchable.
fn run_arm(
    bin: &Path,
    arm: Arm,
    dir: &Path,
    containers: Vec<ContainerBatches>,
    connections: usize,
    records: u64,
) -> Result<Outcome> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    let (ingest_token, query_token) = if arm.token() {
        (
            Some(create_token(bin, dir, "bench-ingest", "ingest")?),
            Some(create_token(bin, dir, "bench-query", "query")?),
        )
    } else {
        (None, None)
    };
    let mut server = if arm.tls() {
        ServerProcess::start_tls_bin(bin, dir, &[])?
    } else if arm == Arm::NoPatterns {
        ServerProcess::start_bin(bin, dir, &["--no-patterns"])?
    } else {
        ServerProcess::start_bin(bin, dir, &[])?
    };
    server.query_token = query_token;
    let poll = server.client_builder()?.build()?;
    // Auth must be on exactly when the arm has a token.
    let anonymous = server
        .client_builder()?
        .build()?
        .get(format!("{}/api/v1/search?q=*&limit=0", server.url))
        .send()?
        .status();
    ensure!(
        (anonymous == 401) == arm.token(),
        "{}: a search without a token answered {anonymous}",
        arm.name()
    );
    let outcome = compare::measure(&server, &poll, records, || {
        send_all_with(
            &server.url,
            containers,
            connections,
            server.ca_pem.as_deref(),
            ingest_token.as_deref(),
        )
    })
    .with_context(|| arm.name());
    server.stop()?;
    outcome
}
