//! `bench/follow`: live follow latency end to end, and what idle followers cost ingest.
//!
//! - **latency**: a writer appends json-file lines, as dockerd writes them, at a fixed
//!   rate (1,000 lines/s by default), each carrying its send time; the real `skein agent`
//!   ships them to the real `skein server`, and the real `skein logs NAME -f` prints them.
//!   Prints p50/p99/max from write to print, and lines lost or repeated.
//! - **idle followers**: the generated corpus ingested over HTTP (as `bench/ingest`
//!   does) with no follower and with 100 idle followers attached to `/api/v1/tail`,
//!   alternating; prints records/s until searchable for each run.

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;
use skein_bench::agent::AgentProcess;
use skein_bench::corpus::{build_batches, ensure_corpus, ContainerBatches};
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

fn latency(a: &Args, work: &Path) -> Result<()> {
    let id = "f011086e6c4b0a2c9d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8";
    let name = &id[..12];
    let dir = fresh(&work.join("containers"))?.join(id);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{id}-json.log"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let line = |file: &mut std::fs::File, text: &str| -> Result<()> {
        let t = skein_model::Timestamp(now_ns()).to_rfc3339();
        writeln!(
            file,
            "{{\"log\":\"{text}\\n\",\"stream\":\"stdout\",\"time\":\"{t}\"}}"
        )?;
        Ok(())
    };
    let server = ServerProcess::start(&fresh(&work.join("data"))?, &[])?;
    let agent = AgentProcess::start(
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
    let mut logs = Command::new(built_skein_binary()?)
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
    println!(
        "== latency: {} lines/s for {} s, json-file → skein agent → skein server → skein logs -f (default settings)",
        a.rate, a.seconds
    );
    println!(
        "write → print: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; lost {lost} of {total}, repeated {repeated}",
        percentile(&ms, 50.0),
        percentile(&ms, 99.0),
        ms[ms.len() - 1]
    );
    Ok(())
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
