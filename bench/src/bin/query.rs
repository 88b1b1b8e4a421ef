//! `bench/query`: aggregations and searches over 10,000,000 generated records, answered
//! by a real `skein server` and, in the same run, by ClickHouse (chDB) and DuckDB loaded
//! with the same parsed records; prints latencies, ratios and whether the answers agree.
//!
//! Everything large (corpus, server data directory, CSV table, the two databases) is
//! kept under `--dir` and reused by later runs; each is rebuilt only when missing.

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use skein_bench::corpus::{build_batches_with, ensure_corpus};
use skein_bench::procfs::OtherLoad;
use skein_bench::send::send_all;
use skein_bench::server::{dir_bytes, ServerProcess};
use skein_bench::stats::{machine, percentile};
use skein_bench::table::TableWriter;
use skein_model::Timestamp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// json-file lines in the corpus.
    #[arg(long, default_value_t = 10_000_000)]
    lines: u64,
    #[arg(long, default_value_t = 32)]
    containers: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the corpus, the server's data directory, the CSV table and the chDB and
    /// DuckDB databases are kept between runs (several GB; keep it out of the repository).
    #[arg(long, env = "SKEIN_BENCH_DATA", default_value = "bench/corpus/query")]
    dir: PathBuf,
    /// Rebuild the server's data directory even if a complete one is there.
    #[arg(long)]
    reingest: bool,
    /// Timed repetitions of each aggregation (after 2 warm-ups), every engine.
    #[arg(long, default_value_t = 10)]
    reps: usize,
    /// Timed runs of each search on skein (after 10 warm-ups).
    #[arg(long, default_value_t = 200)]
    search_runs: usize,
    /// Timed runs of each search on chDB and DuckDB (after 1 warm-up); they scan.
    #[arg(long, default_value_t = 5)]
    sql_search_runs: usize,
    /// Python with the `chdb` and `duckdb` packages (bench/query installs them).
    #[arg(long, env = "PYTHON", default_value = "python3")]
    python: String,
}

/// The aggregation questions: name, what is printed, and skein's request body.
fn aggregations() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "per_level_per_minute",
            "count per level per minute",
            json!({"aggs":{"t":{"date_histogram":{"field":"@timestamp","fixed_interval":"1m"},
                "aggs":{"l":{"terms":{"field":"level"}}}}}}),
        ),
        (
            "top_paths",
            "top 10 fields.path",
            json!({"aggs":{"p":{"terms":{"field":"fields.path","size":10}}}}),
        ),
        (
            "percentiles",
            "percentiles fields.latency_ms",
            json!({"aggs":{"p":{"percentiles":{"field":"fields.latency_ms"}}}}),
        ),
        (
            "cardinality",
            "cardinality fields.user_id",
            json!({"aggs":{"c":{"cardinality":{"field":"fields.user_id"}}}}),
        ),
    ]
}

/// The searches: name (as in query_sql.py) and skein's query.
const SEARCHES: &[(&str, &str)] = &[
    ("rare term", "zephyrquux"),
    ("common term", "api"),
    ("phrase", "\"GET /api/v1\""),
    ("field filter + term", "level:error AND timeout"),
];

/// How far a sketch's answer (percentiles, cardinality) may be from the exact value.
const TOLERANCE: f64 = 0.05;

/// The percentiles Elasticsearch (and skein) report by default.
const PERCENTS: [f64; 7] = [1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0];

struct Paths {
    corpus: PathBuf,
    data: PathBuf,
    table: PathBuf,
    chdb: PathBuf,
    duckdb: PathBuf,
    sql_out: PathBuf,
}

/// Written into the data directory once the index holds every record, compacted.
const READY: &str = "bench-query-ready";

fn main() -> Result<()> {
    let a = Args::parse();
    std::fs::create_dir_all(&a.dir)?;
    let dir = std::fs::canonicalize(&a.dir)?;
    let n = a.lines;
    let p = Paths {
        corpus: dir.join(format!("corpus-{n}")),
        data: dir.join(format!("skein-{n}")),
        table: dir.join(format!("table-{n}.csv")),
        chdb: dir.join(format!("chdb-{n}")),
        duckdb: dir.join(format!("duckdb-{n}.duckdb")),
        sql_out: dir.join(format!("sql-{n}.json")),
    };
    let manifest = ensure_corpus(&p.corpus, n, a.containers, a.seed)?;
    let records = prepare(&a, &p, &manifest)?;

    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    eprintln!("SQL engines: {} bench/query_sql.py …", a.python);
    let sql_load = OtherLoad::start();
    let children0 = children_cpu();
    let st = Command::new(&a.python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("query_sql.py"))
        .arg("--csv")
        .arg(&p.table)
        .args(["--rows", &records.to_string()])
        .arg("--chdb")
        .arg(&p.chdb)
        .arg("--duckdb")
        .arg(&p.duckdb)
        .args(["--reps", &a.reps.to_string()])
        .args(["--search-runs", &a.sql_search_runs.to_string()])
        .arg("--out")
        .arg(&p.sql_out)
        .status()
        .with_context(|| format!("running {}", a.python))?;
    ensure!(st.success(), "query_sql.py failed ({st})");
    let sql_other = sql_load.other(children_cpu() - children0 + own_cpu());
    let sql: Value = serde_json::from_slice(&std::fs::read(&p.sql_out)?)?;

    // Open + first query, with the index's files evicted from the page cache (cold) and
    // then as the first run left them (warm).
    evict(&p.data)?;
    let (cold, server) = first_answer(&p.data)?;
    server.stop()?;
    let (warm, server) = first_answer(&p.data)?;

    eprintln!("skein: aggregations and searches…");
    let load = OtherLoad::start();
    let own0 = own_cpu();
    let cpu0 = server.cpu_seconds();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    let mut skein_aggs = BTreeMap::new();
    for (name, _, body) in aggregations() {
        let mut times = Vec::new();
        let mut last = Value::Null;
        for i in 0..a.reps + 2 {
            let t = Instant::now();
            let r = client
                .post(format!("{}/api/v1/aggregate", server.url))
                .json(&body)
                .send()?;
            ensure!(r.status() == 200, "{name}: {} {}", r.status(), r.text()?);
            last = r.json()?;
            if i >= 2 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        eprintln!("skein {name}: median {:.1} ms", median(&times));
        skein_aggs.insert(name, (times, last));
    }
    let mut skein_search = BTreeMap::new();
    for &(name, q) in SEARCHES {
        let mut times = Vec::new();
        let mut last = Value::Null;
        for i in 0..a.search_runs + 10 {
            let t = Instant::now();
            let r = client
                .get(format!("{}/api/v1/search", server.url))
                .query(&[("q", q), ("limit", "100"), ("order", "desc")])
                .send()?;
            ensure!(r.status() == 200, "{q}: {} {}", r.status(), r.text()?);
            last = r.json()?;
            if i >= 10 {
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }
        skein_search.insert(name, (times, last));
    }
    let server_cpu = server.cpu_seconds() - cpu0;
    let skein_other = load.other(server_cpu + own_cpu() - own0);
    let rss = server.peak_rss();
    server.stop()?;

    // The report.
    let mut problems = Vec::new();
    let eng = |e: &str| &sql["engines"][e];
    println!("bench/query — {}", machine());
    println!(
        "load average before the timed part: {}",
        loadavg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "corpus: {} json-file lines, {} containers, seed {}, {:.1} MB; {records} records after partial-line merge",
        manifest.lines,
        manifest.containers,
        manifest.seed,
        manifest.bytes as f64 / 1e6
    );
    let (live, orphaned) = index_bytes(&p.data);
    println!(
        "skein index {:.1} MB in its segments ({}; {:.1} MB more in files no segment refers to); \
         chDB {:.1} MB, DuckDB {:.1} MB",
        live as f64 / 1e6,
        segments_line(&p.data),
        orphaned as f64 / 1e6,
        dir_bytes(&p.chdb) as f64 / 1e6,
        std::fs::metadata(&p.duckdb).map_or(0, |m| m.len()) as f64 / 1e6,
    );
    for e in ["chdb", "duckdb"] {
        if let Some(s) = eng(e)["load_seconds"].as_f64() {
            println!("{e}: loaded from the CSV table in {s:.1} s (this run)");
        }
    }
    println!(
        "open + first query (`zephyrquux`, top 100), from `skein server` spawn to the answer: \
         {cold:.0} ms with the index evicted from the page cache, {warm:.0} ms warm  \
         (target < 2000 ms: {})",
        met(cold.max(warm) < 2000.0)
    );
    println!(
        "skein timed over HTTP (request to parsed JSON answer); chDB and DuckDB in process \
         (query to Python rows). Aggregations: {} runs after 2 warm-ups; skein searches {} \
         runs after 10, SQL searches {} after 1. A skein search answers the top 100 and the \
         exact total; the SQL searches time the top-100 query (their count runs once, untimed).",
        a.reps, a.search_runs, a.sql_search_runs
    );
    println!(
        "{:<32} {:>16} {:>16} {:>16} {:>9} {:>9}",
        "question (ms)", "skein p50/p99", "chDB p50/p99", "DuckDB p50/p99", "sk/chDB", "sk/Duck"
    );
    let row = |label: &str, sk: &[f64], ch: &[f64], du: &[f64]| {
        println!(
            "{label:<32} {:>16} {:>16} {:>16} {:>9.2} {:>9.2}",
            pair(sk),
            pair(ch),
            pair(du),
            median(sk) / median(ch),
            median(sk) / median(du)
        );
    };
    let mut agg_met = true;
    for (name, label, _) in aggregations() {
        let (sk, _) = &skein_aggs[name];
        let ch = times(&eng("chdb")["aggs"][name]);
        let du = times(&eng("duckdb")["aggs"][name]);
        row(label, sk, &ch, &du);
        agg_met &= median(sk) <= median(&ch);
    }
    let mut search_met = true;
    for &(name, _) in SEARCHES {
        let (sk, v) = &skein_search[name];
        let ch = times(&eng("chdb")["searches"][name]);
        let du = times(&eng("duckdb")["searches"][name]);
        let label = format!("search {name} ({})", v["total"]);
        row(&label, sk, &ch, &du);
        search_met &= percentile(&sorted(sk), 99.0) < 50.0;
    }
    println!(
        "targets: every aggregation no slower than chDB (median): {}; every search p99 < 50 ms: {}",
        met(agg_met),
        met(search_met)
    );
    println!(
        "skein searches: {}",
        SEARCHES
            .iter()
            .map(|(n, q)| format!("{n} = {q}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "server during the skein part: {server_cpu:.1} CPU-s, peak RSS {:.0} MiB",
        rss as f64 / (1 << 20) as f64
    );
    println!("{}", other_line("skein part", skein_other));
    println!("{}", other_line("SQL part", sql_other));

    // Do the answers agree?
    check_histogram(&skein_aggs["per_level_per_minute"].1, &sql, &mut problems);
    check_top_paths(&skein_aggs["top_paths"].1, &sql, &mut problems);
    check_percentiles(&skein_aggs["percentiles"].1, &sql, &mut problems);
    check_cardinality(&skein_aggs["cardinality"].1, &sql, &mut problems);
    for &(name, _) in SEARCHES {
        check_search(name, &skein_search[name].1, &sql, &mut problems)?;
    }
    if problems.is_empty() {
        println!("answers agree: counts per minute and level and top-10 paths exactly, percentiles and cardinality within 5% of exact, search totals and top-100 timestamps exactly");
        Ok(())
    } else {
        for pr in &problems {
            println!("!!! DISAGREEMENT: {pr}");
        }
        bail!("{} answers disagree (see above)", problems.len())
    }
}

/// Parses the corpus once if the index or the CSV table is missing, sending it to a
/// fresh server (and waiting until it is searchable and compacted) and writing the table.
/// Returns the number of records.
fn prepare(a: &Args, p: &Paths, manifest: &skein_gen::Manifest) -> Result<u64> {
    let ready = p.data.join(READY);
    let need_index = a.reingest || !ready.exists();
    if !need_index && p.table.exists() {
        return Ok(std::fs::read_to_string(&ready)?.trim().parse()?);
    }
    eprintln!(
        "parsing the corpus as the agent would (batches for the server, rows for the SQL table)…"
    );
    let mut table = if p.table.exists() {
        None
    } else {
        Some(TableWriter::create(&p.table)?)
    };
    let batches = build_batches_with(&p.corpus, manifest, 5000, &mut |r| match table.as_mut() {
        Some(t) => t.write(r),
        None => Ok(()),
    })?;
    let records: u64 = batches
        .iter()
        .flat_map(|c| &c.batches)
        .map(|b| b.records)
        .sum();
    if let Some(t) = table {
        ensure!(t.finish()? == records, "table rows differ from records");
    }
    if !need_index {
        return Ok(records);
    }
    if p.data.exists() {
        std::fs::remove_dir_all(&p.data)?;
    }
    eprintln!(
        "ingesting {records} records into a fresh server at {}…",
        p.data.display()
    );
    let server = ServerProcess::start(&p.data, &[])?;
    let t = Instant::now();
    let sent = send_all(&server.url, batches, 4)?;
    ensure!(
        sent.accepted == records,
        "accepted {} of {records}",
        sent.accepted
    );
    while server.total("*")? < records {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "searchable after {:.1} s; waiting until the segments settle (merges and the idle \
         partition's compaction finish)…",
        t.elapsed().as_secs_f64()
    );
    // The server compacts an idle partition in the background; when that races with a
    // policy merge it leaves several segments, so wait for no change rather than for one.
    let deadline = Instant::now() + Duration::from_secs(1800);
    let (mut last, mut since) = (segment_ids(&p.data), Instant::now());
    while since.elapsed() < Duration::from_secs(15) {
        ensure!(
            Instant::now() < deadline,
            "segments still changing after 30 minutes"
        );
        std::thread::sleep(Duration::from_secs(1));
        let now = segment_ids(&p.data);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    server.stop()?;
    eprintln!(
        "index ready after {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        segments_line(&p.data)
    );
    std::fs::write(&ready, records.to_string())?;
    Ok(records)
}

/// Bytes of the files of committed segments, and of other segment files (left by a
/// merge that did not finish; the server deletes them when it next writes there).
fn index_bytes(data: &Path) -> (u64, u64) {
    let (mut live, mut other) = (0, 0);
    let Ok(rd) = std::fs::read_dir(data.join("partitions")) else {
        return (0, 0);
    };
    for part in rd.flatten() {
        let meta: Value = std::fs::read(part.path().join("meta.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        let ids: Vec<String> = meta["segments"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["segment_id"].as_str())
            .map(|id| id.replace('-', ""))
            .collect();
        for f in std::fs::read_dir(part.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let len = f.metadata().map_or(0, |m| m.len());
            let name = f.file_name().to_string_lossy().into_owned();
            let stem = name.split('.').next().unwrap_or("");
            // Segment files are named by a 32-hex-digit segment id.
            if stem.len() == 32 && !ids.iter().any(|id| id == stem) {
                other += len;
            } else {
                live += len;
            }
        }
    }
    (live, other)
}

/// Every partition's `meta.json`, which lists its committed segments.
fn segment_ids(data: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(data.join("partitions")) {
        for e in rd.flatten() {
            out.push(std::fs::read(e.path().join("meta.json")).unwrap_or_default());
        }
    }
    out.sort();
    out
}

/// Partition directory names and their committed segment counts.
fn segments(data: &Path) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(data.join("partitions")) {
        for e in rd.flatten() {
            let meta: Value = std::fs::read(e.path().join("meta.json"))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null);
            let n = meta["segments"].as_array().map_or(0, Vec::len);
            out.push((e.file_name().to_string_lossy().into_owned(), n));
        }
    }
    out.sort();
    out
}

fn segments_line(data: &Path) -> String {
    segments(data)
        .iter()
        .map(|(p, s)| {
            format!(
                "partition {p}: {s} segment{}",
                if *s == 1 { "" } else { "s" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Asks the kernel to drop the data directory's files from the page cache.
fn evict(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir)?.flatten() {
        let path = e.path();
        if e.file_type()?.is_dir() {
            evict(&path)?;
        } else if let Ok(f) = std::fs::File::open(&path) {
            use std::os::fd::AsRawFd;
            unsafe {
                libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
        }
    }
    Ok(())
}

/// Spawns the server on the existing data directory and asks the first search until it
/// is answered: milliseconds from spawn to the answer, and the running server.
fn first_answer(data: &Path) -> Result<(f64, ServerProcess)> {
    let t = Instant::now();
    let server = ServerProcess::spawn(data, &[])?;
    let client = reqwest::blocking::Client::new();
    loop {
        if let Ok(r) = client
            .get(format!("{}/api/v1/search", server.url))
            .query(&[("q", "zephyrquux"), ("limit", "100")])
            .send()
        {
            ensure!(r.status() == 200, "first search answered {}", r.status());
            let v: Value = r.json()?;
            ensure!(
                v["total"].as_u64().unwrap_or(0) > 0,
                "first search found nothing"
            );
            return Ok((t.elapsed().as_secs_f64() * 1e3, server));
        }
        ensure!(
            t.elapsed() < Duration::from_secs(120),
            "server did not answer within 120 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn own_cpu() -> f64 {
    skein_bench::procfs::cpu_seconds(std::process::id())
}

/// CPU seconds of this process's waited-for children.
fn children_cpu() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn other_line(part: &str, (cpu, share): (f64, f64)) -> String {
    format!(
        "other processes during the {part}: {cpu:.1} CPU-s = {:.0}% of one core{}",
        share * 100.0,
        if share > 0.1 {
            " — NOT a quiet machine; figures are disturbed"
        } else {
            ""
        }
    )
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

fn median(v: &[f64]) -> f64 {
    percentile(&sorted(v), 50.0)
}

fn pair(v: &[f64]) -> String {
    let s = sorted(v);
    format!(
        "{} / {}",
        short(percentile(&s, 50.0)),
        short(percentile(&s, 99.0))
    )
}

fn short(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

fn times(v: &Value) -> Vec<f64> {
    v["times_ms"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

fn check_histogram(sk: &Value, sql: &Value, problems: &mut Vec<String>) {
    // skein: per minute, the total and each level's count.
    let mut want: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for b in sk["aggregations"]["t"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let m = b["key"].as_f64().unwrap_or(f64::NAN) as i64;
        let n = b["doc_count"].as_u64().unwrap_or(0);
        if n == 0 {
            continue;
        }
        want.insert((m, "*".into()), n);
        if b["l"]["sum_other_doc_count"].as_u64().unwrap_or(0) != 0 {
            problems.push(format!("skein: minute {m} has levels beyond the top 10"));
        }
        for l in b["l"]["buckets"].as_array().into_iter().flatten() {
            let key = l["key"].as_str().unwrap_or("?").to_string();
            want.insert((m, key), l["doc_count"].as_u64().unwrap_or(0));
        }
    }
    for e in ["chdb", "duckdb"] {
        let mut got: BTreeMap<(i64, String), u64> = BTreeMap::new();
        let rows = &sql["engines"][e]["aggs"]["per_level_per_minute"]["answer"];
        for r in rows.as_array().into_iter().flatten() {
            let m = r[0].as_i64().unwrap_or(0);
            let n = r[2].as_u64().unwrap_or(0);
            *got.entry((m, "*".into())).or_default() += n;
            if let Some(l) = r[1].as_str() {
                got.insert((m, l.to_string()), n);
            }
        }
        if got != want {
            let diff: Vec<String> = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k:?}: skein {v}, {e} {:?}", got.get(k)))
                .chain(
                    got.iter()
                        .filter(|(k, _)| !want.contains_key(*k))
                        .map(|(k, v)| format!("{k:?}: skein none, {e} {v}")),
                )
                .take(5)
                .collect();
            problems.push(format!(
                "count per level per minute: skein ({} cells) vs {e} ({} cells): {}",
                want.len(),
                got.len(),
                diff.join("; ")
            ));
        }
    }
}

fn check_top_paths(sk: &Value, sql: &Value, problems: &mut Vec<String>) {
    let mine: Vec<(String, u64)> = sk["aggregations"]["p"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|b| {
            (
                b["key"].as_str().unwrap_or("?").to_string(),
                b["doc_count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    if mine.len() != 10 {
        problems.push(format!(
            "top paths: skein gave {} buckets, not 10",
            mine.len()
        ));
    }
    for e in ["chdb", "duckdb"] {
        let theirs: Vec<(String, u64)> = sql["engines"][e]["aggs"]["top_paths"]["answer"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                (
                    r[0].as_str().unwrap_or("?").to_string(),
                    r[1].as_u64().unwrap_or(0),
                )
            })
            .collect();
        // Counts in rank order must be equal; a key may differ only where counts tie at
        // the cut, in which case it must still have the same count in the other's list.
        let counts_ok = theirs
            .iter()
            .take(mine.len())
            .map(|x| x.1)
            .eq(mine.iter().map(|x| x.1));
        let keys_ok = mine
            .iter()
            .all(|(k, c)| theirs.iter().any(|(k2, c2)| k2 == k && c2 == c));
        if !(counts_ok && keys_ok) {
            problems.push(format!(
                "top 10 paths: skein {mine:?} vs {e} {:?}",
                &theirs[..theirs.len().min(10)]
            ));
        }
    }
}

fn within(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1.0)
}

fn check_percentiles(sk: &Value, sql: &Value, problems: &mut Vec<String>) {
    let values = &sk["aggregations"]["p"]["values"];
    let get = |p: f64| -> Option<f64> {
        values
            .as_object()?
            .iter()
            .find_map(|(k, v)| (k.parse::<f64>().ok()? == p).then(|| v.as_f64()).flatten())
    };
    let exact = &sql["exact"]["percentiles"];
    let mut line = Vec::new();
    for p in PERCENTS {
        let key = format!("{}", p as u64);
        let x = exact[&key].as_f64().unwrap_or(f64::NAN);
        let s = get(p).unwrap_or(f64::NAN);
        let c = sql["engines"]["chdb"]["aggs"]["percentiles"]["answer"][&key]
            .as_f64()
            .unwrap_or(f64::NAN);
        let d = sql["engines"]["duckdb"]["aggs"]["percentiles"]["answer"][&key]
            .as_f64()
            .unwrap_or(f64::NAN);
        line.push(format!(
            "p{key} exact {x} skein {s:.1} chDB {c:.1} DuckDB {d:.1}"
        ));
        for (who, v) in [("skein", s), ("chDB", c), ("DuckDB", d)] {
            // Every engine answers from a sketch (skein DDSketch, chDB a reservoir sample,
            // DuckDB a t-digest); latencies are whole milliseconds: allow 5% or 1 ms.
            if (v - x).abs() > (TOLERANCE * x).max(1.0) || v.is_nan() {
                problems.push(format!(
                    "percentile {key} of latency_ms: {who} {v} vs exact {x}"
                ));
            }
        }
    }
    println!("percentiles of fields.latency_ms: {}", line.join("; "));
}

fn check_cardinality(sk: &Value, sql: &Value, problems: &mut Vec<String>) {
    let exact = sql["exact"]["cardinality"].as_f64().unwrap_or(f64::NAN);
    let s = sk["aggregations"]["c"]["value"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let c = sql["engines"]["chdb"]["aggs"]["cardinality"]["answer"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let d = sql["engines"]["duckdb"]["aggs"]["cardinality"]["answer"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let off = |v: f64| 100.0 * (v - exact) / exact;
    println!(
        "cardinality of fields.user_id: exact {exact} skein {s} ({:+.1}%) chDB {c} ({:+.1}%) DuckDB {d} ({:+.1}%)",
        off(s),
        off(c),
        off(d)
    );
    for (who, v) in [("skein", s), ("chDB", c), ("DuckDB", d)] {
        if !within(v, exact, TOLERANCE) {
            problems.push(format!(
                "cardinality of user_id: {who} {v} vs exact {exact}"
            ));
        }
    }
}

fn check_search(name: &str, sk: &Value, sql: &Value, problems: &mut Vec<String>) -> Result<()> {
    let total = sk["total"].as_u64().unwrap_or(0);
    let mut top = Vec::new();
    for h in sk["hits"].as_array().into_iter().flatten() {
        let t: Timestamp = serde_json::from_value(h["@timestamp"].clone())
            .context("a hit without a valid @timestamp")?;
        top.push(t.0);
    }
    for e in ["chdb", "duckdb"] {
        let s = &sql["engines"][e]["searches"][name];
        let t2 = s["total"].as_u64().unwrap_or(0);
        let top2: Vec<i64> = s["top_ns"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_i64)
            .collect();
        if t2 != total {
            problems.push(format!("search {name}: skein {total} matches, {e} {t2}"));
        }
        if top2 != top {
            let first = top.iter().zip(&top2).position(|(a, b)| a != b);
            problems.push(format!(
                "search {name}: top 100 timestamps differ between skein ({} hits) and {e} ({} hits), first at rank {first:?}",
                top.len(),
                top2.len()
            ));
        }
    }
    Ok(())
}
