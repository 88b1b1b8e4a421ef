//! `bench/otlp`: OpenTelemetry logs ingest against `/api/v1/ingest`, in the same run.
//!
//! The corpus of `bench/ingest` is parsed once as the agent does; every record goes
//! into the zstd NDJSON batch `bench/ingest` sends and into an OTLP export request
//! ([`skein_bench::otlp`]: a Kubernetes resource per container, the fields as log
//! attributes, gzip as exporters send it), cut at the same records. Three arms, each
//! to a fresh server with the same flags, alternating over rounds:
//! - `ingest`: `POST /api/v1/ingest`, as `bench/ingest`;
//! - `otlp-http`: `POST /v1/logs`, `application/x-protobuf`, gzip;
//! - `otlp-grpc`: `LogsService/Export` on `--otlp-grpc-listen`, gzip.
//!
//! Same batches, same connections, one batch in flight per container. Prints each arm's
//! acknowledged and searchable records/s and the ratios of the OTLP arms to `ingest`
//! (target ≥ 0.8, issue 22).

use anyhow::{Context, Result};
use clap::Parser;
use skein_bench::compare::{self, median, Outcome};
use skein_bench::corpus::{build_batches_with, ContainerBatches, CorpusArgs};
use skein_bench::otlp::{OtlpBatcher, OtlpGrpc, OtlpHttp};
use skein_bench::send::{send_each, Ingest};
use skein_bench::server::{built_skein_binary, free_port, ServerProcess};
use skein_bench::stats::machine;
use std::path::{Path, PathBuf};

/// OTLP/HTTP and OTLP/gRPC ingest against `/api/v1/ingest`, same corpus, same run.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Records per request (per ingest batch and per export request).
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Concurrent connections of every arm.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Rounds; each runs every arm once, in reversed order every other round.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Arms, comma-separated: ingest, otlp-http, otlp-grpc.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ingest,otlp-http,otlp-grpc"
    )]
    arms: Vec<Arm>,
    /// Whether the first arm runs once, uncounted, first.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    warmup: bool,
    /// Where the servers keep their data (a subdirectory per arm, emptied first).
    #[arg(long, default_value = "bench/corpus/otlp")]
    compare_dir: PathBuf,
}

/// How an arm delivers the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Arm {
    /// `POST /api/v1/ingest`, zstd NDJSON.
    Ingest,
    /// `POST /v1/logs`, protobuf, gzip.
    OtlpHttp,
    /// gRPC `LogsService/Export`, gzip.
    OtlpGrpc,
}

impl Arm {
    fn name(self) -> &'static str {
        match self {
            Arm::Ingest => "ingest",
            Arm::OtlpHttp => "otlp-http",
            Arm::OtlpGrpc => "otlp-grpc",
        }
    }
}

fn main() -> Result<()> {
    let a = Args::parse();
    let manifest = a.corpus.ensure()?;
    let bin = built_skein_binary()?;
    eprintln!("building batches (parse + zstd NDJSON, and OTLP export requests + gzip)…");
    let mut otlp = OtlpBatcher::new(a.batch);
    let ingest = build_batches_with(&a.corpus.corpus, &manifest, a.batch, &mut |r| otlp.push(r))?;
    let (otlp, otlp_encoded) = otlp.finish()?;
    let records: u64 = ingest
        .iter()
        .flat_map(|c| &c.batches)
        .map(|b| b.records)
        .sum();
    let bytes = |cs: &[ContainerBatches]| -> usize {
        cs.iter()
            .flat_map(|c| &c.batches)
            .map(|b| b.body.len())
            .sum()
    };
    let requests: usize = ingest.iter().map(|c| c.batches.len()).sum();
    let raw = manifest.bytes as f64;

    let names: Vec<&str> = a.arms.iter().map(|arm| arm.name()).collect();
    let results = compare::rounds(&names, a.rounds, a.warmup, records, |i| {
        let arm = a.arms[i];
        let batches = match arm {
            Arm::Ingest => ingest.clone(),
            Arm::OtlpHttp | Arm::OtlpGrpc => otlp.clone(),
        };
        run_arm(
            &bin,
            arm,
            &a.compare_dir.join(arm.name()),
            batches,
            a.connections,
            records,
        )
        .with_context(|| arm.name())
    })?;

    println!("bench/otlp — {}", machine());
    println!("server: {}", bin.display());
    println!("corpus: {} json-file lines, {} containers, seed {}, {:.1} MB; {records} records after partial-line merge", manifest.lines, manifest.containers, manifest.seed, raw / 1e6);
    println!(
        "requests: {requests} of {} records each per arm, {} connections; {} rounds{}, arm order reversed every other round",
        a.batch,
        a.connections,
        a.rounds,
        if a.warmup { " after an uncounted warm-up run" } else { "" }
    );
    println!(
        "bodies: ingest {:.1} MB zstd NDJSON; OTLP {:.1} MB of protobuf, {:.1} MB gzip-compressed (HTTP and gRPC alike)",
        bytes(&ingest) as f64 / 1e6,
        otlp_encoded as f64 / 1e6,
        bytes(&otlp) as f64 / 1e6
    );
    println!("arms: ingest = POST /api/v1/ingest (zstd NDJSON, as the agent); otlp-http = POST /v1/logs (application/x-protobuf, gzip); otlp-grpc = LogsService/Export on --otlp-grpc-listen (h2c, grpc-encoding gzip)");
    compare::print_arms(&names, &results, records, raw);
    if let Some(p) = a.arms.iter().position(|&x| x == Arm::Ingest) {
        for (i, &arm) in a.arms.iter().enumerate() {
            if arm != Arm::Ingest {
                compare::print_ratio(&names, &results, i, p, records);
                let r = |xs: &[Outcome]| median(xs.iter().map(|o| records as f64 / o.searchable));
                let ratio = r(&results[i]) / r(&results[p]);
                println!(
                    "  target: searchable {} ≥ 0.8 x ingest: {}",
                    arm.name(),
                    if ratio >= 0.8 { "met" } else { "missed" }
                );
            }
        }
    }
    Ok(())
}

/// Sends `batches` over `arm` to a fresh server in `dir` and waits until searchable.
fn run_arm(
    bin: &Path,
    arm: Arm,
    dir: &Path,
    batches: Vec<ContainerBatches>,
    connections: usize,
    records: u64,
) -> Result<Outcome> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    // Every arm's server listens for gRPC too, so that all run with the same flags.
    let grpc = format!("127.0.0.1:{}", free_port()?);
    let server = ServerProcess::start_bin(bin, dir, &["--otlp-grpc-listen", &grpc])?;
    let poll = reqwest::blocking::Client::new();
    let outcome = compare::measure(&server, &poll, records, || match arm {
        Arm::Ingest => send_each(batches, connections, || {
            Ingest::connect(&server.url, None, None)
        }),
        Arm::OtlpHttp => send_each(batches, connections, || OtlpHttp::connect(&server.url)),
        Arm::OtlpGrpc => send_each(batches, connections, || OtlpGrpc::connect(&grpc)),
    });
    server.stop()?;
    outcome
}
