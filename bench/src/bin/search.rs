//! `bench/search`: search latency over the data directory `bench/ingest` leaves behind.
//!
//! For each query: 10 warm-up runs, then `--runs` timed runs of the top 100 newest first
//! over HTTP, printing p50/p99/max latency and the number of matches.

use anyhow::{ensure, Result};
use clap::Parser;
use skein_bench::server::ServerProcess;
use skein_bench::stats::{machine, percentile};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// Data directory written by bench/ingest.
    #[arg(long, default_value = "bench/corpus/data")]
    data_dir: PathBuf,
    /// Timed runs per query.
    #[arg(long, default_value_t = 200)]
    runs: usize,
}

fn main() -> Result<()> {
    let a = Args::parse();
    ensure!(
        a.data_dir.exists(),
        "{} does not exist; run bench/ingest first",
        a.data_dir.display()
    );
    let server = ServerProcess::start(&a.data_dir, &[])?;
    let client = reqwest::blocking::Client::new();
    let total_docs = server.total("*")?;
    // The container of the newest record: one of the busiest.
    let newest: serde_json::Value = client
        .get(format!("{}/api/v1/search", server.url))
        .query(&[("q", "*"), ("limit", "1")])
        .send()?
        .json()?;
    let container = newest["hits"][0]["container"]
        .as_str()
        .unwrap_or("none")
        .to_string();
    let container_q = format!("container:{container} AND timeout");
    let queries = [
        ("rare term", "zephyrquux"),
        ("common term", "api"),
        ("phrase", "\"GET /api/v1\""),
        ("container filter + term", container_q.as_str()),
        ("everything", "*"),
    ];
    println!("bench/search — {}", machine());
    println!(
        "{total_docs} records; top 100 newest first over HTTP, {} runs after 10 warm-ups",
        a.runs
    );
    println!("container filter: {container_q}");
    println!(
        "{:<26} {:>9} {:>9} {:>9} {:>9}",
        "query", "matches", "p50 ms", "p99 ms", "max ms"
    );
    for (name, q) in queries {
        let mut lat = Vec::with_capacity(a.runs);
        let mut matches = 0;
        for i in 0..a.runs + 10 {
            let t = Instant::now();
            let r = client
                .get(format!("{}/api/v1/search", server.url))
                .query(&[("q", q), ("limit", "100")])
                .send()?;
            ensure!(r.status() == 200, "{q}: {}", r.status());
            let v: serde_json::Value = r.json()?;
            if i >= 10 {
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            matches = v["total"].as_u64().unwrap_or(0);
        }
        lat.sort_by(f64::total_cmp);
        println!(
            "{name:<26} {matches:>9} {:>9.2} {:>9.2} {:>9.2}",
            percentile(&lat, 50.0),
            percentile(&lat, 99.0),
            lat[lat.len() - 1]
        );
    }
    server.stop()
}
