//! `bench/limits` (aggregation part): the requests of issue 14 against a real release
//! server holding `--records` records (default 1,000,000) whose `fields.user` has
//! 50,000 distinct values, and, with `--baseline PATH`, against another build on the
//! same data in the same run.
//!
//! Prints, per request and binary, the status, the median and max latency over the
//! runs, and the server's peak RSS at the end. Requests known to take the old server
//! past 10 GB (percentiles under terms, the 2,000-search `_msearch`) are not sent to
//! the baseline.

use anyhow::{Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use skein_bench::send::post_retrying;
use skein_bench::server::{built_skein_binary, ServerProcess};
use skein_bench::stats::{machine, percentile};
use skein_model::Timestamp;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Records to ingest.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Distinct values of `fields.user`.
    #[arg(long, default_value_t = 50_000)]
    users: u64,
    /// Another `skein` binary (e.g. built from `main`) to time on the same data.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Timed runs per request (after one warm-up).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Timed runs per request on the baseline, which can take minutes per request.
    #[arg(long, default_value_t = 2)]
    baseline_runs: usize,
    /// Longest wait for one answer; a request still running is reported as a timeout.
    #[arg(long, default_value_t = 120)]
    timeout_s: u64,
    /// Where the server's data directory is made (removed at the end).
    #[arg(long, env = "SKEIN_BENCH_DATA", default_value = "/tmp")]
    dir: PathBuf,
}

/// One request of the bench.
struct Case {
    name: &'static str,
    path: &'static str,
    body: String,
    /// Whether to send it to the baseline.
    on_baseline: bool,
}

fn aggregate(aggs: Value) -> String {
    json!({ "aggs": aggs }).to_string()
}

fn cases() -> Vec<Case> {
    let percents: Vec<f64> = (0..100_000).map(|i| f64::from(i) / 1000.0).collect();
    let ranges = |n: u64, step: u64| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"from": i * step, "to": i * step + 1}))
            .collect()
    };
    let msearch: String = (0..2_000)
        .map(|i| {
            format!(
                "{{}}\n{}\n",
                json!({"size": 10, "query": {"term": {"user": format!("user-{i:05}")}}})
            )
        })
        .collect();
    let msearch_100: String = msearch
        .lines()
        .take(200)
        .map(|l| format!("{l}\n"))
        .collect();
    vec![
        Case {
            name: "terms fields.user size 10",
            path: "/api/v1/aggregate",
            body: aggregate(json!({"u": {"terms": {"field": "fields.user", "size": 10}}})),
            on_baseline: true,
        },
        Case {
            name: "terms fields.user size 10000",
            path: "/api/v1/aggregate",
            body: aggregate(json!({"u": {"terms": {"field": "fields.user", "size": 10_000}}})),
            on_baseline: true,
        },
        Case {
            name: "range, 1000 contiguous ranges",
            path: "/api/v1/aggregate",
            body: aggregate(
                json!({"r": {"range": {"field": "latency_ms", "ranges": ranges(1_000, 1)}}}),
            ),
            on_baseline: true,
        },
        Case {
            name: "range, 60000 ranges with gaps",
            path: "/api/v1/aggregate",
            body: aggregate(
                json!({"r": {"range": {"field": "latency_ms", "ranges": ranges(60_000, 2)}}}),
            ),
            on_baseline: true,
        },
        Case {
            name: "range, 100000 ranges (refused)",
            path: "/api/v1/aggregate",
            body: aggregate(
                json!({"r": {"range": {"field": "latency_ms", "ranges": ranges(100_000, 1)}}}),
            ),
            on_baseline: true,
        },
        Case {
            name: "percentiles x100000 under terms x100 (refused)",
            path: "/api/v1/aggregate",
            body: aggregate(json!({"u": {"terms": {"field": "user", "size": 100},
                "aggs": {"p": {"percentiles": {"field": "latency_ms", "percents": percents}}}}})),
            on_baseline: false,
        },
        Case {
            name: "_msearch, 100 searches",
            path: "/es/_msearch",
            body: msearch_100,
            on_baseline: true,
        },
        Case {
            name: "_msearch, 2000 searches (refused)",
            path: "/es/_msearch",
            body: msearch,
            on_baseline: false,
        },
    ]
}

/// The records: one every 50 ms, `fields.user` cycling through `users` names,
/// `fields.latency_ms` through 0..1000.
fn ndjson(from: u64, to: u64, users: u64) -> String {
    let t0 = 1_795_132_800_i64 * 1_000_000_000;
    let mut out = String::with_capacity(((to - from) * 260) as usize);
    for i in from..to {
        let container = ["api", "web", "worker", "db"][(i % 4) as usize];
        let level = ["info", "info", "warn", "error"][(i % 4) as usize];
        let r = json!({
            "@timestamp": Timestamp(t0 + i as i64 * 50_000_000).to_string(),
            "host": format!("node-{}", i % 4), "container": container,
            "stream": "stdout", "level": level,
            "message": format!("GET /items/{} done in {} ms", i % 977, i % 1000),
            "fields": {"user": format!("user-{:05}", i % users), "latency_ms": i % 1000},
            "_source_id": "bench/agg", "_seq": i + 1,
        });
        out.push_str(&r.to_string());
        out.push('\n');
    }
    out
}

fn ingest(server: &ServerProcess, records: u64, users: u64) -> Result<()> {
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()?;
    let started = Instant::now();
    let batch = 20_000;
    let mut from = 0;
    while from < records {
        let to = (from + batch).min(records);
        let body = ndjson(from, to, users);
        post_retrying(|| {
            c.post(format!("{}/api/v1/ingest", server.url))
                .body(body.clone())
        })?;
        from = to;
    }
    while server.total("*")? < records {
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!(
        "ingested {records} records in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Status, median and max seconds over `runs` timed runs after one warm-up; `None`
/// times when a run timed out (the rest of that case is skipped).
fn time_case(
    c: &reqwest::blocking::Client,
    url: &str,
    case: &Case,
    runs: usize,
) -> (String, Option<(f64, f64)>) {
    let mut times = Vec::new();
    let mut status = String::new();
    for run in 0..=runs {
        let started = Instant::now();
        let r = c
            .post(format!("{url}{}", case.path))
            .header("Content-Type", "application/json")
            .body(case.body.clone())
            .send()
            .and_then(|r| {
                let s = r.status().as_u16();
                r.bytes().map(|_| s)
            });
        let secs = started.elapsed().as_secs_f64();
        match r {
            Ok(s) => status = s.to_string(),
            Err(e) if e.is_timeout() => return ("timeout".into(), None),
            Err(e) => return (format!("error: {e}"), None),
        }
        if run > 0 {
            times.push(secs);
        }
    }
    times.sort_by(f64::total_cmp);
    let max = *times.last().unwrap_or(&0.0);
    (status, Some((percentile(&times, 50.0), max)))
}

struct Row {
    name: &'static str,
    status: String,
    times: Option<(f64, f64)>,
}

fn run_all(bin: &Path, data: &Path, args: &Args, baseline: bool) -> Result<(Vec<Row>, u64)> {
    // The range requests' bodies (up to 3 MB) are over the default --max-request-bytes,
    // which would answer them 413 before the limits timed here; older builds know no
    // such flag and read any body.
    let extra: &[&str] = if baseline {
        &[]
    } else {
        &["--max-request-bytes", "67108864"]
    };
    let server = ServerProcess::start_bin(bin, data, extra)?;
    let c = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(args.timeout_s))
        .build()?;
    let runs = if baseline {
        args.baseline_runs
    } else {
        args.runs
    };
    let mut rows = Vec::new();
    for case in cases() {
        if baseline && !case.on_baseline {
            rows.push(Row {
                name: case.name,
                status: "not sent".into(),
                times: None,
            });
            continue;
        }
        let (status, times) = time_case(&c, &server.url, &case, runs);
        eprintln!("  {}: {status} {times:?}", case.name);
        let timed_out = times.is_none();
        rows.push(Row {
            name: case.name,
            status,
            times,
        });
        if timed_out {
            // The server is still busy with it: later figures would measure that.
            break;
        }
    }
    let peak = server.peak_rss();
    drop(server);
    Ok((rows, peak))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let new_bin = built_skein_binary()?;
    let data = args
        .dir
        .join(format!("skein-agg-limits-{}", std::process::id()));
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    {
        let server = ServerProcess::start_bin(&new_bin, &data, &[])?;
        ingest(&server, args.records, args.users)?;
        // A clean stop commits everything; both binaries then read the same index.
        server.stop()?;
    }
    println!("# Aggregation limits (bench/limits)");
    println!(
        "{} records, fields.user with {} distinct values; {}",
        args.records,
        args.users,
        machine()
    );
    let (new_rows, new_peak) = run_all(&new_bin, &data, &args, false)?;
    let old = match &args.baseline {
        Some(b) => Some(run_all(b, &data, &args, true)?),
        None => None,
    };
    let fmt = |r: &Row| match r.times {
        Some((med, max)) => format!("{} {:.3} s / {:.3} s", r.status, med, max),
        None => r.status.clone(),
    };
    println!(
        "\n| request | new: status median / max ({} runs) | old: status median / max ({} runs) |",
        args.runs, args.baseline_runs
    );
    println!("|---|---|---|");
    for (i, r) in new_rows.iter().enumerate() {
        let old_cell = old
            .as_ref()
            .map(|(rows, _)| {
                rows.get(i)
                    .map_or("not run (an earlier request timed out)".into(), fmt)
            })
            .unwrap_or_else(|| "-".into());
        println!("| {} | {} | {} |", r.name, fmt(r), old_cell);
    }
    println!(
        "\npeak server RSS: new {} MB{}",
        new_peak >> 20,
        old.as_ref()
            .map(|(_, p)| format!(", old {} MB", p >> 20))
            .unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&data);
    Ok(())
}
