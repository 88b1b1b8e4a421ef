//! `bench/search`: search latency over the data directory `bench/ingest` leaves behind.
//!
//! For each query: 10 warm-up runs, then `--runs` timed runs of the top 100 newest first
//! over HTTP with `total=later` (the first page as the dashboard and `skein search` ask
//! for it), printing p50/p99/max latency, and the p50 of counting the matches exactly
//! (`limit=0`), which they ask for after the page when the page left it pending. Then the same for
//! `GET /api/v1/patterns` over every record (issue 21: under 200 ms over 10M records),
//! with a tenth of the runs.

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
        "{:<26} {:>9} {:>9} {:>9} {:>9} {:>12}",
        "query", "matches", "p50 ms", "p99 ms", "max ms", "count p50"
    );
    let mut p99s = Vec::new();
    for (name, q) in queries {
        let time = |limit: &str, total: &str, runs: usize| -> Result<(Vec<f64>, u64)> {
            let mut lat = Vec::with_capacity(runs);
            let mut matches = 0;
            for i in 0..runs + 10 {
                let t = Instant::now();
                let r = client
                    .get(format!("{}/api/v1/search", server.url))
                    .query(&[("q", q), ("limit", limit), ("total", total)])
                    .send()?;
                ensure!(r.status() == 200, "{q}: {}", r.status());
                let v: serde_json::Value = r.json()?;
                if i >= 10 {
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                }
                matches = v["total"].as_u64().unwrap_or(matches);
            }
            lat.sort_by(f64::total_cmp);
            Ok((lat, matches))
        };
        let (lat, _) = time("100", "later", a.runs)?;
        let (count, matches) = time("0", "exact", (a.runs / 4).max(5))?;
        p99s.push((name, percentile(&lat, 99.0)));
        println!(
            "{name:<26} {matches:>9} {:>9.2} {:>9.2} {:>9.2} {:>12.2}",
            percentile(&lat, 50.0),
            percentile(&lat, 99.0),
            lat[lat.len() - 1],
            percentile(&count, 50.0),
        );
    }
    // Issue 20's same-run targets: first pages that cost the page, not the matches.
    let rare = p99s[0].1;
    for (name, p99) in &p99s[1..3] {
        println!("{name} p99 / rare term p99: {:.2}", p99 / rare);
    }
    // The patterns of everything, and of one container, over the whole time span.
    let edge = |order: &str| -> Result<String> {
        let v: serde_json::Value = client
            .get(format!("{}/api/v1/search", server.url))
            .query(&[("q", "*"), ("limit", "1"), ("order", order)])
            .send()?
            .json()?;
        Ok(v["hits"][0]["@timestamp"]
            .as_str()
            .unwrap_or("now")
            .to_string())
    };
    let (first, last) = (edge("asc")?, edge("desc")?);
    let container_only = format!("container:{container}");
    let runs = (a.runs / 10).max(5);
    println!(
        "GET /api/v1/patterns from {first} to {last}, limit 100, {runs} runs after 2 warm-ups"
    );
    println!(
        "{:<26} {:>9} {:>9} {:>9} {:>9}",
        "patterns of", "templates", "p50 ms", "p99 ms", "max ms"
    );
    for (name, q) in [
        ("everything", ""),
        ("one container", container_only.as_str()),
    ] {
        let mut lat = Vec::with_capacity(runs);
        let mut templates = 0;
        for i in 0..runs + 2 {
            let t = Instant::now();
            let r = client
                .get(format!("{}/api/v1/patterns", server.url))
                .query(&[
                    ("q", q),
                    ("start", &first),
                    ("end", &last),
                    ("limit", "100"),
                ])
                .send()?;
            ensure!(r.status() == 200, "patterns {q:?}: {}", r.status());
            let v: serde_json::Value = r.json()?;
            if i >= 2 {
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
            templates = v["patterns"].as_array().map_or(0, Vec::len);
        }
        lat.sort_by(f64::total_cmp);
        println!(
            "{name:<26} {templates:>9} {:>9.2} {:>9.2} {:>9.2}",
            percentile(&lat, 50.0),
            percentile(&lat, 99.0),
            lat[lat.len() - 1]
        );
    }
    server.stop()
}
