//! `bench/limits` (server part): the timing figures of issue 14 on a real release server.
//!
//! - **Backfill across days**: the same `--records` records sent to `/api/v1/ingest`
//!   once all on one day and once spread in time order over 400 days (the writer pool
//!   then opens and closes a writer per day), each until every record is searchable;
//!   prints both rates and their ratio (target ≥ 0.5), with the server's peak RSS and
//!   threads.
//! - **Cancellation**: a heavy aggregation is started, its client disconnects, and the
//!   server's CPU time is sampled every 5 ms until it stops growing; prints how long
//!   after the disconnect the work stopped (target ≤ 100 ms), over several runs.

use anyhow::{ensure, Context, Result};
use clap::Parser;
use serde_json::json;
use skein_bench::send::post_retrying;
use skein_bench::server::ServerProcess;
use skein_bench::stats::{machine, percentile};
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Records per backfill.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Days the spread backfill covers.
    #[arg(long, default_value_t = 400)]
    days: u64,
    /// Records per request.
    #[arg(long, default_value_t = 5_000)]
    batch: u64,
    /// Disconnects timed.
    #[arg(long, default_value_t = 10)]
    cancel_runs: usize,
    /// Time only the cancellation.
    #[arg(long)]
    skip_backfill: bool,
    /// Where data directories are made (removed at the end).
    #[arg(long, env = "SKEIN_BENCH_DATA", default_value = "/tmp")]
    dir: PathBuf,
}

fn record(i: u64, day: u64) -> String {
    let date =
        chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap() + chrono::Duration::days(day as i64);
    let secs = (i * 7) % 86_400;
    json!({
        "@timestamp": format!("{date}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60),
        "host": "node-1", "container": format!("app-{}", i % 20), "level": "info",
        "message": format!("GET /api/v1/items/{} 200 {} ms user={}", i % 10_000, i % 997, i % 5_000),
        "fields": {"user": format!("u{}", i % 50_000), "latency_ms": i % 997},
        "_source_id": format!("backfill/{}", i % 20), "_seq": i + 1,
    })
    .to_string()
}

/// Sends every record (day of record `i` from `day_of`) and waits until all are
/// searchable; answers records per second and the server's peak RSS and threads.
fn backfill(args: &Args, day_of: impl Fn(u64) -> u64) -> Result<(f64, u64, u64)> {
    let data = tempfile::Builder::new()
        .prefix("skein-limits-")
        .tempdir_in(&args.dir)?;
    let server = ServerProcess::start(data.path(), &[])?;
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let bodies: Vec<String> = (0..args.records)
        .step_by(args.batch as usize)
        .map(|start| {
            (start..(start + args.batch).min(args.records))
                .map(|i| record(i, day_of(i)))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    let started = Instant::now();
    let mut threads = 0;
    for body in bodies {
        post_retrying(|| {
            c.post(format!("{}/api/v1/ingest", server.url))
                .body(body.clone())
        })?;
        threads = threads.max(thread_count(server.pid()));
    }
    while server.total("*")? < args.records {
        threads = threads.max(thread_count(server.pid()));
        std::thread::sleep(Duration::from_millis(20));
    }
    let rate = args.records as f64 / started.elapsed().as_secs_f64();
    let rss = server.peak_rss();
    server.stop()?;
    Ok((rate, rss, threads))
}

/// CPU seconds of the threads that run requests and queries: the async workers, the
/// blocking pool (both named `tokio-runtime-w…`) and the query pool (`skein-query-…`).
fn query_cpu_seconds(pid: u32) -> f64 {
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    let mut total = 0.0;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map_or("", |(_, c)| c);
        if !(comm.starts_with("tokio-runtime") || comm.starts_with("skein-query")) {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        let t: f64 = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
        total += t / ticks;
    }
    total
}

fn thread_count(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Milliseconds from disconnect until the server's CPU time stops growing, per run.
fn cancellation(args: &Args) -> Result<Vec<f64>> {
    let data = tempfile::Builder::new()
        .prefix("skein-limits-")
        .tempdir_in(&args.dir)?;
    let server = ServerProcess::start(data.path(), &["--query-timeout", "0"])?;
    let c = reqwest::blocking::Client::new();
    let n = 400_000u64;
    for start in (0..n).step_by(10_000) {
        let body: Vec<String> = (start..start + 10_000).map(|i| record(i, 0)).collect();
        let r = c
            .post(format!("{}/api/v1/ingest", server.url))
            .body(body.join("\n"))
            .send()?;
        ensure!(r.status() == 200, "ingest answered {}", r.status());
    }
    while server.total("*")? < n {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));
    let body = json!({"aggs": {"t": {"terms": {"field": "fields.user", "size": 5000},
        "aggs": {"p": {"percentiles": {"field": "fields.latency_ms"}},
                 "h": {"histogram": {"field": "fields.latency_ms", "interval": 100}}}}}})
    .to_string();
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut stops = Vec::new();
    for _ in 0..args.cancel_runs {
        let mut s = std::net::TcpStream::connect(&addr)?;
        write!(
            s,
            "POST /api/v1/aggregate HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        std::thread::sleep(Duration::from_millis(150));
        drop(s);
        let gone = Instant::now();
        // CPU time grows in clock ticks (10 ms): stopped once it holds for 60 ms. Only
        // the threads that run queries count: merges of the ingest may still run.
        let mut last = query_cpu_seconds(server.pid());
        let mut last_change = gone;
        while last_change.elapsed() < Duration::from_millis(60) {
            std::thread::sleep(Duration::from_millis(5));
            let now = query_cpu_seconds(server.pid());
            if now > last {
                last = now;
                last_change = Instant::now();
            }
            ensure!(
                gone.elapsed() < Duration::from_secs(30),
                "work never stopped"
            );
        }
        stops.push(last_change.duration_since(gone).as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(300));
    }
    server.stop()?;
    Ok(stops)
}

fn main() -> Result<()> {
    let args = Args::parse();
    println!("machine: {}", machine());
    println!(
        "backfill: {} records in requests of {}, one day vs {} days in time order",
        args.records, args.batch, args.days
    );
    if !args.skip_backfill {
        let per_day = args.records.div_ceil(args.days);
        let (one, one_rss, one_threads) = backfill(&args, |_| 0).context("one-day backfill")?;
        let (many, many_rss, many_threads) =
            backfill(&args, |i| i / per_day).context("spread backfill")?;
        println!(
            "  1 day:    {one:>9.0} records/s searchable  peak RSS {:>5} MiB  threads {one_threads}",
            one_rss >> 20
        );
        println!(
            "  {} days: {many:>9.0} records/s searchable  peak RSS {:>5} MiB  threads {many_threads}",
            args.days,
            many_rss >> 20
        );
        println!("  ratio:    {:.2} (target ≥ 0.5)", many / one);
    }
    let mut stops = cancellation(&args).context("cancellation")?;
    stops.sort_by(f64::total_cmp);
    println!(
        "cancellation: work stopped {:.0} ms (median), {:.0} ms (p90), {:.0} ms (max) after \
         the client disconnected, {} runs (target ≤ 100 ms; CPU time is read in 10 ms ticks): \
         {stops:.0?}",
        percentile(&stops, 50.0),
        percentile(&stops, 90.0),
        stops.last().copied().unwrap_or(0.0),
        stops.len()
    );
    Ok(())
}
