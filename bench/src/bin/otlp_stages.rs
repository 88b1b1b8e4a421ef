//! `bench/otlp-stages`: where the server's CPU goes per record for OTLP against
//! `/api/v1/ingest`, stage by stage, on one thread (issue 22).
//!
//! The requests are `bench/otlp`'s (the same corpus, cut at the same records): every
//! stage the server runs on a request before the WAL thread, and the Tantivy document
//! the indexer builds for each record, timed in this thread's CPU time, so the figures
//! hold on a machine others keep busy, which the rates of `bench/otlp` do not. Each
//! stage calls the server's own code ([`skein_web::otlp`], [`PreparedBatch`],
//! [`Patterns::assign`], [`Fields::document`]); inflating a body mirrors
//! `web::ingest::decode_body`, which is not public.
//!
//! ```sh
//! bench/otlp-stages --lines 200000 --rounds 3
//! ```

use anyhow::{Context, Result};
use clap::Parser;
use skein_bench::corpus::{build_batches_with, CorpusArgs};
use skein_bench::otlp::OtlpBatcher;
use skein_indexer::patterns::Patterns;
use skein_indexer::{schema, Catalog, PreparedBatch};
use skein_model::compact::Form;
use skein_model::{Record, Timestamp};
use skein_web::otlp::{map, Encoding};
use std::io::Read;
use std::time::Duration;

/// Per-record CPU of each ingest stage, OTLP/protobuf against zstd NDJSON.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Records per request.
    #[arg(long, default_value_t = 5000)]
    batch: usize,
    /// Rounds over every request; each round's figures are printed.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// This thread's CPU time: on a busy machine, wall time measures the others too.
fn cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f`, adding its CPU time to `total`.
fn timed<T>(total: &mut Duration, f: impl FnOnce() -> T) -> T {
    let start = cpu();
    let out = f();
    *total += cpu() - start;
    out
}

/// The stages, in the order a request goes through them.
const STAGES: [&str; 6] = [
    "decompress",
    "decode (protobuf; NDJSON: parse)",
    "map to records (OTLP: + WAL lines)",
    "WAL lines (OTLP: take them)",
    "patterns",
    "Tantivy documents",
];

fn main() -> Result<()> {
    let a = Args::parse();
    let manifest = a.corpus.ensure()?;
    eprintln!("building batches (parse + zstd NDJSON, and OTLP export requests + gzip)…");
    let mut otlp = OtlpBatcher::new(a.batch);
    let ingest = build_batches_with(&a.corpus.corpus, &manifest, a.batch, &mut |r| otlp.push(r))?;
    let (otlp, _) = otlp.finish()?;
    let ingest: Vec<Vec<u8>> = ingest
        .into_iter()
        .flat_map(|c| c.batches)
        .map(|b| b.body)
        .collect();
    let otlp: Vec<Vec<u8>> = otlp
        .into_iter()
        .flat_map(|c| c.batches)
        .map(|b| b.body)
        .collect();
    let (_, fields) = schema::build_schema();
    let scratch = tempfile::tempdir()?;
    println!(
        "bench/otlp-stages — {} requests per arm of {} records; CPU ns per record of this thread",
        ingest.len(),
        a.batch
    );
    for round in 1..=a.rounds {
        // A fresh miner per arm and round, as a fresh server has.
        let miner = |name: &str| -> Result<Patterns> {
            let dir = scratch.path().join(format!("{name}-{round}"));
            std::fs::create_dir_all(&dir)?;
            let catalog = Catalog::open(&dir).context("catalog")?;
            Ok(Patterns::open(&dir, &catalog))
        };
        let mut i_time = [Duration::ZERO; STAGES.len()];
        let i_records = run_ingest(&ingest, &miner("ingest")?, &fields, &mut i_time)?;
        let mut o_time = [Duration::ZERO; STAGES.len()];
        let o_records = run_otlp(&otlp, &miner("otlp")?, &fields, &mut o_time)?;
        println!("round {round}: {i_records} ingest records, {o_records} OTLP records");
        println!(
            "  {:<34} {:>10} {:>10} {:>7}",
            "stage", "ingest", "otlp", "ratio"
        );
        let per = |d: Duration, n: usize| d.as_nanos() as f64 / n.max(1) as f64;
        for (s, name) in STAGES.iter().enumerate() {
            let (i, o) = (per(i_time[s], i_records), per(o_time[s], o_records));
            let ratio = if i > 0.0 {
                format!("{:.2}", o / i)
            } else {
                "-".into()
            };
            println!("  {name:<34} {i:>10.0} {o:>10.0} {ratio:>7}");
        }
        let (i, o) = (
            per(i_time.iter().sum(), i_records),
            per(o_time.iter().sum(), o_records),
        );
        println!("  {:<34} {i:>10.0} {o:>10.0} {:>7.2}", "all", o / i);
    }
    Ok(())
}

/// The ingest arm's stages over `bodies` (zstd NDJSON); answers the records seen.
fn run_ingest(
    bodies: &[Vec<u8>],
    patterns: &Patterns,
    fields: &schema::Fields,
    time: &mut [Duration],
) -> Result<usize> {
    let mut n = 0;
    for body in bodies {
        let text = timed(&mut time[0], || -> Result<Vec<u8>> {
            let mut out = Vec::with_capacity(body.len() * 8);
            zstd::stream::read::Decoder::with_buffer(&body[..])?.read_to_end(&mut out)?;
            Ok(out)
        })?;
        // Parsing and keeping the client's lines for the WAL are one step on this path.
        let copy = text.clone();
        let (batch, rejected) = timed(&mut time[1], || {
            PreparedBatch::from_body(copy, Form::Ndjson, None, None)
        });
        anyhow::ensure!(rejected.is_empty(), "the corpus has rejected lines");
        n += batch.len();
        drop(batch);
        // The records again, untimed: the batch does not hand them out.
        let mut records: Vec<Record> =
            skein_indexer::batch::decode_payload(&text).collect::<Result<_, _>>()?;
        timed(&mut time[4], || patterns.assign(&mut records));
        timed(&mut time[5], || documents(fields, &records));
    }
    Ok(n)
}

/// The OTLP arm's stages over `bodies` (gzip protobuf); answers the records seen.
fn run_otlp(
    bodies: &[Vec<u8>],
    patterns: &Patterns,
    fields: &schema::Fields,
    time: &mut [Duration],
) -> Result<usize> {
    let mut n = 0;
    for body in bodies {
        let raw = timed(&mut time[0], || -> Result<Vec<u8>> {
            let mut out = Vec::with_capacity(body.len() * 8);
            flate2::read::MultiGzDecoder::new(&body[..]).read_to_end(&mut out)?;
            Ok(out)
        })?;
        let request = timed(&mut time[1], || Encoding::Protobuf.decode(&raw))
            .map_err(|e| anyhow::anyhow!("{}", e.reason))?;
        let mapped = timed(&mut time[2], || {
            map::map_request(request, Timestamp::now(), None)
        });
        anyhow::ensure!(
            mapped.rejected == 0,
            "records were rejected: {:?}",
            mapped.reason
        );
        let map::Mapped {
            mut records,
            text,
            spans,
            ..
        } = mapped;
        n += records.len();
        // The mapping wrote the WAL lines (timed with it); the batch only takes them.
        // It takes its records too: it is handed copies, and dropped untimed.
        let copy = records.clone();
        let batch = timed(&mut time[3], || {
            PreparedBatch::from_lines(copy, text, spans, None)
        });
        drop(batch);
        timed(&mut time[4], || patterns.assign(&mut records));
        timed(&mut time[5], || documents(fields, &records));
    }
    Ok(n)
}

/// The Tantivy documents of `records`, as the indexer builds them.
fn documents(fields: &schema::Fields, records: &[Record]) -> usize {
    records
        .iter()
        .enumerate()
        .map(|(i, r)| fields.document(r, i as u64).len())
        .sum()
}
