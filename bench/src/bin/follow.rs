//! `bench/follow`: live follow latency end to end, and what idle followers cost ingest.
//!
//! - **latency**: a writer appends json-file lines, as dockerd writes them, at a fixed
//!   rate (1,000 lines/s by default), each carrying its send time; the real `skein agent`
//!   ships them to the real `skein server`, and the real `skein logs NAME -f` prints them.
//!   Prints p50/p99/max from write to print, and lines lost or repeated; the agent's
//!   own stage metrics (file → read, read → cut, cut → ack, POST → ack) from its
//!   `/metrics`; and what other processes used of the CPU and wrote to the disks
//!   meanwhile. `--baseline PATH` runs another build the same way, interleaved.
//! - **idle followers**: the generated corpus ingested over HTTP (as `bench/ingest`
//!   does) with no follower and with 100 idle followers attached to `/api/v1/tail`,
//!   alternating; prints records/s until searchable for each run.

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use skein_bench::agent::{scrape_text, AgentProcess, Summary};
use skein_bench::corpus::{build_batches, ensure_corpus, ContainerBatches};
use skein_bench::procfs::{self, OtherLoad};
use skein_bench::send::post_retrying;
use skein_bench::server::{built_skein_binary, ServerProcess};
use skein_bench::stats::{machine, percentile};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
struct Args {
    /// Lines per second written.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Seconds of writing.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Corpus lines for the idle-followers comparison.
    #[arg(long, default_value_t = 300_000)]
    lines: u64,
    /// Idle followers attached in the comparison.
    #[arg(long, default_value_t = 100)]
    followers: usize,
    /// Runs of each kind in the comparison.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Work directory (emptied first).
    #[arg(long, default_value = "bench/corpus/follow")]
    work: PathBuf,
    /// Skip a part: latency or idle.
    #[arg(long)]
    skip: Option<String>,
    /// Latency runs (with `--baseline`, of each build).
    #[arg(long, default_value_t = 1)]
    runs: usize,
    /// Another `skein` binary (e.g. the previous main, built elsewhere) whose server,
    /// agent and CLI are measured in the same invocation, runs interleaved with this
    /// build's.
    #[arg(long, value_name = "PATH")]
    baseline: Option<PathBuf>,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as i64
}

fn fresh(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(dir.to_path_buf())
}

fn main() -> Result<()> {
    let a = Args::parse();
    let work = fresh(&a.work)?;
    println!("bench/follow — {}", machine());
    if a.skip.as_deref() != Some("latency") {
        latency(&a, &work)?;
    }
    if a.skip.as_deref() != Some("idle") {
        idle(&a, &work)?;
    }
    Ok(())
}

/// What one latency run measured.
struct Run {
    /// Write → print of every line received, sorted, in ms.
    ms: Vec<f64>,
    lost: usize,
    repeated: usize,
    total: u64,
    /// The agent's stage metrics, as scraped before and after the writing.
    stages: Vec<Stage>,
    /// CPU seconds of every other process during the writing, and as cores.
    other_cpu: (f64, f64),
    /// Bytes written to the disks during the writing, and of those by our processes.
    disk_written: u64,
    ours_written: u64,
    seconds: f64,
    loadavg: String,
}

/// One of the agent's per-stage histograms over a run.
struct Stage {
    label: &'static str,
    /// Quantiles over the exporter's last minute; `None` if the build has no such metric.
    summary: Option<Summary>,
    /// Mean over the writing alone (running sums and counts, before and after).
    mean: Option<f64>,
}

/// The agent's stage metrics, in path order: `(metric, label)`.
const STAGES: [(&str, &str); 4] = [
    (
        "skein_agent_read_delay_seconds",
        "file → agent read (oldest line of each read)",
    ),
    (
        "skein_agent_batch_age_seconds",
        "read → cut (age of each batch when cut)",
    ),
    (
        "skein_agent_batch_ack_seconds",
        "cut → ack (each batch, from its cut)",
    ),
    (
        "skein_agent_post_seconds",
        "  of which POST → ack (each request)",
    ),
];

fn latency(a: &Args, work: &Path) -> Result<()> {
    let mut arms: Vec<(&str, PathBuf)> = vec![("this build", built_skein_binary()?)];
    if let Some(b) = &a.baseline {
        ensure!(b.is_file(), "--baseline {}: no such file", b.display());
        arms.push(("baseline", b.clone()));
    }
    println!(
        "== latency: {} lines/s for {} s, json-file → skein agent → skein server → skein logs -f (default settings), {} run(s){}",
        a.rate,
        a.seconds,
        a.runs,
        if arms.len() > 1 {
            " of each build, interleaved"
        } else {
            ""
        }
    );
    for (name, bin) in &arms {
        println!("{name}: {}", bin.display());
    }
    let mut results: Vec<Vec<Run>> = arms.iter().map(|_| Vec::new()).collect();
    for run in 0..a.runs {
        // Alternate which build goes first, so neither always gets the quieter slot.
        let mut order: Vec<usize> = (0..arms.len()).collect();
        if run % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let r = latency_once(a, &work.join(format!("arm{i}")), &arms[i].1)?;
            print_run(run + 1, arms[i].0, &r);
            results[i].push(r);
        }
    }
    if a.runs > 1 || arms.len() > 1 {
        println!("== summary (write → print, per run)");
        for ((name, _), runs) in arms.iter().zip(&results) {
            let list = |p: f64| {
                runs.iter()
                    .map(|r| format!("{:.1}", percentile(&r.ms, p)))
                    .collect::<Vec<_>>()
                    .join(" / ")
            };
            println!(
                "{name}: p50 {} ms; p99 {} ms; max {} ms; lost {}, repeated {}",
                list(50.0),
                list(99.0),
                list(100.0),
                runs.iter().map(|r| r.lost).sum::<usize>(),
                runs.iter().map(|r| r.repeated).sum::<usize>(),
            );
        }
    }
    Ok(())
}

fn print_run(n: usize, name: &str, r: &Run) {
    println!(
        "run {n}, {name}: write → print p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; lost {} of {}, repeated {}",
        percentile(&r.ms, 50.0),
        percentile(&r.ms, 99.0),
        r.ms[r.ms.len() - 1],
        r.lost,
        r.total,
        r.repeated
    );
    let ms = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{:.1}", v * 1e3));
    for st in &r.stages {
        match &st.summary {
            Some(s) => println!(
                "  {:<46} p50 {:>6} ms, p99 {:>6} ms, max {:>6} ms; mean {:>6} ms",
                st.label,
                ms(s.quantile(0.5)),
                ms(s.quantile(0.99)),
                ms(s.quantile(1.0)),
                ms(st.mean)
            ),
            None => println!("  {:<46} (not measured by this build)", st.label),
        }
    }
    // The agent's stages are per read and per batch, of their oldest line, so their
    // means overstate a line's share and what is left is a lower bound.
    let means: Option<Vec<f64>> = r.stages[..3].iter().map(|s| s.mean).collect();
    if let Some(means) = means {
        let line_mean = r.ms.iter().sum::<f64>() / r.ms.len() as f64;
        println!(
            "  {:<46} mean ≥ {:.1} ms (write → print mean {:.1} ms minus the three stage means)",
            "ack → print (server feed, CLI)",
            line_mean - means.iter().sum::<f64>() * 1e3,
            line_mean
        );
    }
    let others = r.disk_written.saturating_sub(r.ours_written);
    println!(
        "  meanwhile ({:.0} s): other processes used {:.1} CPU s ({:.2} cores of {}); disks written {:.1} MB, {:.1} MB of it by this run's processes, so ~{:.1} MB ({:.2} MB/s) by others (journal commits of our fsyncs count as others); load average {}",
        r.seconds,
        r.other_cpu.0,
        r.other_cpu.1,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        r.disk_written as f64 / 1e6,
        r.ours_written as f64 / 1e6,
        others as f64 / 1e6,
        others as f64 / 1e6 / r.seconds,
        r.loadavg
    );
}

/// CPU seconds and bytes written to storage of the processes of a run (the bench
/// itself included: it writes the log file).
fn ours(pids: &[u32]) -> (f64, u64) {
    pids.iter().fold((0.0, 0), |(c, w), &p| {
        (c + procfs::cpu_seconds(p), w + procfs::write_bytes(p))
    })
}

fn latency_once(a: &Args, work: &Path, bin: &Path) -> Result<Run> {
    let id = "f011086e6c4b0a2c9d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8";
    let name = &id[..12];
    let dir = fresh(&work.join("containers"))?.join(id);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{id}-json.log"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    // One write per line, as dockerd writes them (`writeln!` on a file writes each
    // formatted piece on its own, so the agent would see partial lines).
    let line = |file: &mut std::fs::File, text: &str| -> Result<()> {
        let t = skein_model::Timestamp(now_ns()).to_rfc3339();
        let l = format!("{{\"log\":\"{text}\\n\",\"stream\":\"stdout\",\"time\":\"{t}\"}}\n");
        file.write_all(l.as_bytes())?;
        Ok(())
    };
    let server = ServerProcess::start_bin(bin, &fresh(&work.join("data"))?, &[])?;
    let agent = AgentProcess::start_bin(
        bin,
        &server.url,
        &fresh(&work.join("agent"))?,
        &[format!(
            "{}/*/*-json.log",
            work.join("containers").display()
        )],
        &[],
    )?;
    line(&mut file, "warm-up")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.total(&format!("container:{name}"))? == 0 {
        if Instant::now() > deadline {
            bail!("the agent did not ship the first line");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut logs = Command::new(bin)
        .args([
            "logs",
            name,
            "-f",
            "-n",
            "0",
            "--output",
            "raw",
            "--server",
            &server.url,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let out = logs.stdout.take().context("stdout")?;
    let reader = std::thread::spawn(move || -> Vec<(u64, i64)> {
        let mut got = Vec::new();
        for l in std::io::BufReader::new(out).lines() {
            let Ok(l) = l else { break };
            let at = now_ns();
            // `seq=N sent=NANOS`
            let mut seq = None;
            let mut sent = None;
            for w in l.split_whitespace() {
                if let Some(v) = w.strip_prefix("seq=") {
                    seq = v.parse().ok();
                } else if let Some(v) = w.strip_prefix("sent=") {
                    sent = v.parse::<i64>().ok();
                }
            }
            if let (Some(s), Some(t)) = (seq, sent) {
                got.push((s, at - t));
            }
        }
        got
    });
    std::thread::sleep(Duration::from_secs(2));
    let pids = [server.pid(), agent.pid(), logs.id(), std::process::id()];
    let metrics_before = scrape_text(&agent.metrics_url).unwrap_or_default();
    let other = OtherLoad::start();
    let (cpu0, written0) = ours(&pids);
    let disk0 = procfs::disk_written_bytes();
    let total = a.rate * a.seconds;
    let started = Instant::now();
    for i in 0..total {
        let due = started + Duration::from_nanos(i * 1_000_000_000 / a.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        line(
            &mut file,
            &format!("follow-bench seq={i} sent={}", now_ns()),
        )?;
    }
    std::thread::sleep(Duration::from_secs(5));
    let (cpu1, written1) = ours(&pids);
    let disk_written = procfs::disk_written_bytes() - disk0;
    let other_cpu = other.other(cpu1 - cpu0);
    let seconds = started.elapsed().as_secs_f64();
    let metrics_after = scrape_text(&agent.metrics_url).unwrap_or_default();
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    logs.kill()?;
    logs.wait()?;
    let got = reader.join().expect("reader thread");
    agent.stop(Duration::from_secs(10))?;
    server.stop()?;
    let mut seen = vec![0u32; total as usize];
    for (s, _) in &got {
        if let Some(c) = seen.get_mut(*s as usize) {
            *c += 1;
        }
    }
    let lost = seen.iter().filter(|&&c| c == 0).count();
    let repeated = seen.iter().filter(|&&c| c > 1).count();
    let mut ms: Vec<f64> = got.iter().map(|(_, l)| *l as f64 / 1e6).collect();
    ms.sort_by(f64::total_cmp);
    ensure!(!ms.is_empty(), "skein logs printed nothing");
    let stages = STAGES
        .iter()
        .map(|&(metric, label)| {
            let summary = Summary::parse(&metrics_after, metric);
            let mean = summary.as_ref().and_then(|after| {
                let before = Summary::parse(&metrics_before, metric).unwrap_or_default();
                let n = after.count - before.count;
                (n > 0.0).then(|| (after.sum - before.sum) / n)
            });
            Stage {
                label,
                summary,
                mean,
            }
        })
        .collect();
    Ok(Run {
        ms,
        lost,
        repeated,
        total,
        stages,
        other_cpu,
        disk_written,
        ours_written: written1.saturating_sub(written0),
        seconds,
        loadavg,
    })
}

/// Sends every batch (one connection per group of containers, one batch in flight
/// per container) and returns records/s until everything is searchable.
fn ingest_once(
    batches: &[ContainerBatches],
    records: u64,
    work: &Path,
    followers: usize,
) -> Result<f64> {
    let server = ServerProcess::start(&fresh(&work.join("ingest-data"))?, &[])?;
    let mut tails = Vec::new();
    for i in 0..followers {
        let r = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()?
            .get(format!("{}/api/v1/tail", server.url))
            .query(&[("q", format!("container:\"idle-{i}\"")), ("n", "0".into())])
            .send()?;
        ensure!(r.status() == 200, "tail answered {}", r.status());
        tails.push(r);
    }
    let started = Instant::now();
    let connections = 4;
    std::thread::scope(|s| -> Result<()> {
        let handles: Vec<_> = (0..connections)
            .map(|c| {
                let url = server.url.clone();
                s.spawn(move || -> Result<()> {
                    let client = reqwest::blocking::Client::builder()
                        .timeout(Duration::from_secs(120))
                        .build()?;
                    let mine: Vec<&ContainerBatches> =
                        batches.iter().skip(c).step_by(connections).collect();
                    let longest = mine.iter().map(|b| b.batches.len()).max().unwrap_or(0);
                    for i in 0..longest {
                        for cb in &mine {
                            let Some(b) = cb.batches.get(i) else { continue };
                            post_retrying(|| {
                                client
                                    .post(format!("{url}/api/v1/ingest"))
                                    .header("Content-Encoding", "zstd")
                                    .body(b.body.clone())
                            })?;
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("sender")?;
        }
        Ok(())
    })?;
    while server.total("*")? < records {
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = started.elapsed().as_secs_f64();
    drop(tails);
    server.stop()?;
    Ok(records as f64 / secs)
}

fn idle(a: &Args, work: &Path) -> Result<()> {
    let corpus = Path::new("bench/corpus").join(format!("follow-{}", a.lines));
    let manifest = ensure_corpus(&corpus, a.lines, 32, 42)?;
    let batches = build_batches(&corpus, &manifest, 5000)?;
    let records: u64 = batches
        .iter()
        .flat_map(|c| &c.batches)
        .map(|b| b.records)
        .sum();
    println!(
        "== ingest with idle followers: {} json-file lines ({records} records, {:.1} MB), 32 containers, 5,000-record zstd batches, 4 connections",
        manifest.lines,
        manifest.bytes as f64 / 1e6
    );
    let (mut none, mut with) = (Vec::new(), Vec::new());
    for round in 0..a.rounds {
        let r0 = ingest_once(&batches, records, work, 0)?;
        let r1 = ingest_once(&batches, records, work, a.followers)?;
        println!(
            "round {}: no follower {r0:.0} records/s, {} idle followers {r1:.0} records/s",
            round + 1,
            a.followers
        );
        none.push(r0);
        with.push(r1);
    }
    none.sort_by(f64::total_cmp);
    with.sort_by(f64::total_cmp);
    let (m0, m1) = (none[none.len() / 2], with[with.len() / 2]);
    println!(
        "median until searchable: no follower {m0:.0} records/s, {} idle followers {m1:.0} records/s ({:+.1}%)",
        a.followers,
        (m1 / m0 - 1.0) * 100.0
    );
    Ok(())
}
