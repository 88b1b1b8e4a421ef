//! `bench/agent`: the real `skein agent` following Docker json-file logs.
//!
//! Four scenarios, each with a fresh agent state directory and `--no-docker` (files are
//! found by `--path` glob):
//!
//! - **sink**: the generated corpus (1,000,000 lines, 32 containers, seed 42) into a
//!   counting sink inside this process, which isolates the agent. Measured from the
//!   agent's spawn until the sink holds every line: lines/s, MB/s of json-file, agent
//!   CPU seconds per GB, agent peak RSS, lost and duplicated lines.
//! - **server**: the same corpus into a real `skein server`, until all of it is
//!   searchable; the same figures plus the server's CPU.
//! - **live**: a writer appending 10,000 lines/s over 8 containers (with json-file
//!   rotation) while the agent follows into the sink: agent CPU as % of one core over a
//!   steady window, write→acknowledge latency (sink receive time − record
//!   `@timestamp`), lost lines.
//! - **idle**: 100 containers with a small log each and no writes: agent CPU as % of one
//!   core once the initial read is shipped.
//!
//! `--baseline PATH` runs every scenario with a second `skein` binary too (e.g. the
//! previous main built in a worktree), interleaved with this one round by round, and
//! ends with the ratio of each scenario's CPU figure. With `FLUENT_BIT=PATH` set, the
//! sink scenario also runs Fluent Bit (tail → http, json_lines) on the same corpus into
//! the same sink, counted by lines received (its records carry no delivery identity).
//!
//! `--redact-compare N` runs the sink scenario 2N times instead, alternating an agent
//! without `--redact` and one with the four built-ins (bearer, url-password, card,
//! email), and prints the CPU per GB of each run and the medians: the cost of
//! redaction, measured on the same machine in the same minutes.

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use skein_bench::agent::{scrape, AgentProcess};
use skein_bench::corpus::ensure_corpus;
use skein_bench::procfs::OtherLoad;
use skein_bench::server::ServerProcess;
use skein_bench::sink::{now_ns, Sink, SinkCounts};
use skein_bench::stats::{machine, percentile};
use skein_gen::{GenConfig, LiveConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Sink,
    Server,
    Live,
    Idle,
}

#[derive(Parser)]
struct Args {
    /// json-file lines in the corpus [default: 1000000; 50000 with --quick].
    #[arg(long)]
    lines: Option<u64>,
    #[arg(long, default_value_t = 32)]
    containers: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where the corpus is kept between runs [default: bench/corpus/ingest for the
    /// default corpus, shared with bench/ingest; else bench/corpus/agent-LINES-CONTAINERS-SEED].
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Agent state directories, the server's data, the live and idle logs (emptied).
    #[arg(long, default_value = "bench/corpus/agent")]
    work_dir: PathBuf,
    /// Smoke run: 50,000 lines, 5 s live and idle windows.
    #[arg(long)]
    quick: bool,
    /// Scenarios to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "sink,server,live,idle")]
    only: Vec<Scenario>,
    /// Live: lines per second, all containers together.
    #[arg(long, default_value_t = 10_000.0)]
    live_rate: f64,
    /// Live: containers written to.
    #[arg(long, default_value_t = 8)]
    live_containers: usize,
    /// Live: measured window in seconds [default: 20; 5 with --quick].
    #[arg(long)]
    live_seconds: Option<u64>,
    /// Live: seconds of following before the window starts.
    #[arg(long, default_value_t = 3)]
    warmup_seconds: u64,
    /// Live: rotate a file at this size, as json-file's max-size does (0 = never).
    #[arg(long, default_value_t = 10_000_000)]
    live_rotate_bytes: u64,
    /// Idle: containers followed.
    #[arg(long, default_value_t = 100)]
    idle_containers: usize,
    /// Idle: measured window in seconds [default: 20; 5 with --quick].
    #[arg(long)]
    idle_seconds: Option<u64>,
    /// Give up waiting when nothing new has arrived for this many seconds.
    #[arg(long, default_value_t = 60)]
    stall_seconds: u64,
    /// Sink scenario: copy the first 32 MB of NDJSON the agent sends to this file.
    #[arg(long)]
    dump_ndjson: Option<PathBuf>,
    /// Extra argument for `skein agent` (repeatable), e.g. --agent-arg=--batch-bytes=4194304.
    #[arg(long = "agent-arg", allow_hyphen_values = true)]
    agent_args: Vec<String>,
    /// A second `skein` binary to run through the same scenarios, interleaved.
    #[arg(long)]
    baseline: Option<PathBuf>,
    /// Runs of each scenario per binary.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Instead of the scenarios: the sink scenario N times without `--redact` and N
    /// times with the four built-in rules, alternating, and the CPU per GB of both.
    #[arg(long, value_name = "N")]
    redact_compare: Option<usize>,
}

/// One scenario's CPU figure for one binary, for the closing comparison.
struct Figure {
    scenario: &'static str,
    arm: String,
    /// What `value` is.
    unit: &'static str,
    value: f64,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let lines = a.lines.unwrap_or(if a.quick { 50_000 } else { 1_000_000 });
    let live_seconds = a.live_seconds.unwrap_or(if a.quick { 5 } else { 20 });
    let idle_seconds = a.idle_seconds.unwrap_or(if a.quick { 5 } else { 20 });
    let corpus = a.corpus.clone().unwrap_or_else(|| {
        if lines == 1_000_000 && a.containers == 32 && a.seed == 42 {
            PathBuf::from("bench/corpus/ingest")
        } else {
            PathBuf::from(format!(
                "bench/corpus/agent-{lines}-{}-{}",
                a.containers, a.seed
            ))
        }
    });
    if a.work_dir.exists() {
        std::fs::remove_dir_all(&a.work_dir)
            .with_context(|| format!("clearing {}", a.work_dir.display()))?;
    }
    std::fs::create_dir_all(&a.work_dir)?;
    let work = std::fs::canonicalize(&a.work_dir)?;

    println!("bench/agent — {}", machine());
    let mut arms = vec![(
        "this".to_string(),
        skein_bench::server::built_skein_binary()?,
    )];
    if let Some(b) = &a.baseline {
        arms.push(("baseline".to_string(), b.clone()));
    }
    let mut figures = Vec::new();
    if !a.agent_args.is_empty() {
        println!("agent arguments: {}", a.agent_args.join(" "));
    }
    let needs_corpus = a.only.contains(&Scenario::Sink)
        || a.only.contains(&Scenario::Server)
        || a.redact_compare.is_some();
    if needs_corpus {
        let manifest = ensure_corpus(&corpus, lines, a.containers, a.seed)?;
        let corpus = std::fs::canonicalize(&corpus)?;
        println!(
            "corpus: {} json-file lines, {} containers, seed {}, {:.1} MB ({})",
            manifest.lines,
            manifest.containers,
            manifest.seed,
            manifest.bytes as f64 / 1e6,
            corpus.display()
        );
        let c = Corpus {
            glob: format!("{}/*/*-json.log", corpus.display()),
            lines: manifest.lines,
            bytes: manifest.bytes,
        };
        if let Some(rounds) = a.redact_compare {
            return redact_compare(&a, &work, &c, rounds.max(1));
        }
        for round in 0..a.rounds {
            if a.only.contains(&Scenario::Sink) {
                // Each round starts with the arm the last one ended with (this,
                // baseline, baseline, this, …), so neither always runs first.
                for (arm, bin) in in_turn(&arms, round) {
                    use_binary(arm, bin);
                    figures.push(sink_run(&a, &work, &c, arm)?);
                }
                if let Some(fb) = std::env::var_os("FLUENT_BIT") {
                    figures.push(fluent_bit_sink_run(&a, &work, &c, Path::new(&fb))?);
                }
            }
            if a.only.contains(&Scenario::Server) {
                for (arm, bin) in &arms {
                    use_binary(arm, bin);
                    figures.push(server_run(&a, &work, &c, arm)?);
                }
            }
        }
    }
    for _ in 0..a.rounds {
        if a.only.contains(&Scenario::Live) {
            for (arm, bin) in &arms {
                use_binary(arm, bin);
                figures.push(live_run(&a, &work, live_seconds, arm)?);
            }
        }
        if a.only.contains(&Scenario::Idle) {
            for (arm, bin) in &arms {
                use_binary(arm, bin);
                figures.push(idle_run(&a, &work, idle_seconds, arm)?);
            }
        }
    }
    if arms.len() > 1 || figures.iter().any(|f| f.arm == "fluent-bit") {
        compare(&figures, &arms[0].0);
    }
    Ok(())
}

/// The arms in the order round `round` runs them: reversed every other round.
fn in_turn(arms: &[(String, PathBuf)], round: usize) -> Vec<&(String, PathBuf)> {
    let mut order: Vec<_> = arms.iter().collect();
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

/// Makes the scenarios run `bin` (they start `SKEIN_BIN`).
fn use_binary(arm: &str, bin: &Path) {
    std::env::set_var("SKEIN_BIN", bin);
    println!();
    println!("-- {arm}: {}", bin.display());
}

/// Per scenario, the median figure of each arm and its ratio to `this`.
fn compare(figures: &[Figure], this: &str) {
    println!();
    println!("== comparison (median of the rounds; ratio = arm / {this})");
    let mut scenarios: Vec<&str> = figures.iter().map(|f| f.scenario).collect();
    scenarios.dedup();
    scenarios.sort();
    scenarios.dedup();
    for scenario in scenarios {
        let of = |arm: &str| {
            let mut v: Vec<f64> = figures
                .iter()
                .filter(|f| f.scenario == scenario && f.arm == arm)
                .map(|f| f.value)
                .collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied()
        };
        let Some(mine) = of(this) else { continue };
        let unit = figures
            .iter()
            .find(|f| f.scenario == scenario)
            .map_or("", |f| f.unit);
        let mut arms: Vec<&str> = figures
            .iter()
            .filter(|f| f.scenario == scenario)
            .map(|f| f.arm.as_str())
            .collect();
        arms.sort();
        arms.dedup();
        for arm in arms {
            let v = of(arm).unwrap_or(f64::NAN);
            println!("{scenario}: {arm} {v:.3} {unit}   ratio {:.2}", v / mine);
        }
    }
}

struct Corpus {
    glob: String,
    lines: u64,
    bytes: u64,
}

fn fresh(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(dir.to_path_buf())
}

/// Polls `count` every `every` until it reaches `target`, nothing new has come for
/// `stall`, or the agent exits. Returns the time of the last progress (or of reaching
/// the target) since `since`, and the last count.
fn wait_for(
    since: Instant,
    target: u64,
    stall: Duration,
    every: Duration,
    agent: &mut AgentProcess,
    mut count: impl FnMut() -> Result<u64>,
) -> Result<(f64, u64)> {
    let mut last = count()?;
    let mut last_change = Instant::now();
    let mut at = since.elapsed().as_secs_f64();
    loop {
        let n = count()?;
        if n != last {
            last = n;
            last_change = Instant::now();
            at = since.elapsed().as_secs_f64();
        }
        if n >= target {
            return Ok((at, n));
        }
        if last_change.elapsed() > stall {
            eprintln!("nothing new for {stall:?}: stopping at {n} of {target}");
            return Ok((at, n));
        }
        if agent.exited() {
            bail!("the agent exited");
        }
        std::thread::sleep(every);
    }
}

/// This process's CPU seconds (sink, writer, polling).
fn own_cpu() -> f64 {
    skein_bench::procfs::cpu_seconds(std::process::id())
}

/// The line saying how busy the rest of the machine was.
fn other_line(load: &OtherLoad, measured_cpu: f64) -> String {
    let (cpu, share) = load.other(measured_cpu);
    format!(
        "other processes on the machine meanwhile: {cpu:.2} CPU-s = {:.0}% of one core{}",
        share * 100.0,
        if share > 0.1 {
            " — NOT a quiet machine; figures are disturbed"
        } else {
            ""
        }
    )
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn sink_run(a: &Args, work: &Path, c: &Corpus, arm: &str) -> Result<Figure> {
    let (load, own0) = (OtherLoad::start(), own_cpu());
    let f = sink_once(a, work, c, &a.agent_args, a.dump_ndjson.as_deref())?;
    let SinkFigures {
        wall,
        cpu,
        distinct,
        ..
    } = f;
    let other = other_line(&load, cpu + own_cpu() - own0);
    let k = &f.counts;
    let gb = c.bytes as f64 / 1e9;
    println!();
    println!("== sink: corpus → agent → counting sink");
    println!(
        "all {} lines received in {wall:.2} s: {:.0} lines/s, {:.1} MB/s of json-file",
        c.lines,
        distinct as f64 / wall,
        c.bytes as f64 / 1e6 / wall
    );
    println!(
        "agent CPU: {cpu:.2} s = {:.2} CPU-seconds per GB of json-file ({:.0}% of one core over the run)",
        cpu / gb,
        cpu / wall * 100.0
    );
    println!("agent peak RSS: {:.1} MiB", mib(f.rss));
    println!(
        "lost: {}   duplicates: {}   rejected: {}   without identity: {}   (agent read {:.0} lines)",
        c.lines.saturating_sub(distinct),
        k.duplicates,
        k.rejected,
        k.no_identity,
        f.read
    );
    println!(
        "batches: {}, {:.0} KiB zstd / {:.0} KiB NDJSON each on average ({:.2} bytes of NDJSON per json-file byte)",
        k.batches,
        k.body_bytes as f64 / k.batches.max(1) as f64 / 1024.0,
        k.ndjson_bytes as f64 / k.batches.max(1) as f64 / 1024.0,
        k.ndjson_bytes as f64 / c.bytes as f64
    );
    println!("{other}");
    Ok(Figure {
        scenario: "sink",
        arm: arm.to_string(),
        unit: "agent CPU-s per GB",
        value: cpu / gb,
    })
}

/// The built-in rules, as `skein agent` arguments.
const REDACT_BUILTINS: [&str; 8] = [
    "--redact",
    "bearer",
    "--redact",
    "url-password",
    "--redact",
    "card",
    "--redact",
    "email",
];

/// What one sink run measured.
struct SinkFigures {
    wall: f64,
    cpu: f64,
    rss: u64,
    /// Lines the agent says it read.
    read: f64,
    redactions: f64,
    distinct: u64,
    counts: SinkCounts,
}

/// The corpus into a fresh sink with `extra` agent arguments, the first 32 MB of what
/// the agent sends copied to `dump` if given.
fn sink_once(
    a: &Args,
    work: &Path,
    c: &Corpus,
    extra: &[String],
    dump: Option<&Path>,
) -> Result<SinkFigures> {
    let state = fresh(&work.join("state-sink"))?;
    let sink = Sink::start()?;
    if let Some(path) = dump {
        sink.dump_to(path, 32 << 20)?;
    }
    let started = Instant::now();
    let mut agent = AgentProcess::start(&sink.url, &state, std::slice::from_ref(&c.glob), extra)?;
    let (wall, distinct) = wait_for(
        started,
        c.lines,
        Duration::from_secs(a.stall_seconds),
        Duration::from_millis(5),
        &mut agent,
        || Ok(sink.distinct()),
    )?;
    let cpu = agent.cpu_seconds();
    let rss = agent.peak_rss();
    let read = agent.metric("skein_agent_lines_read_total").unwrap_or(0.0);
    let redactions = agent.metric("skein_agent_redactions_total").unwrap_or(0.0);
    agent.stop(Duration::from_secs(10))?;
    Ok(SinkFigures {
        wall,
        cpu,
        rss,
        read,
        redactions,
        distinct,
        counts: sink.counts(),
    })
}

fn redact_compare(a: &Args, work: &Path, c: &Corpus, rounds: usize) -> Result<()> {
    let gb = c.bytes as f64 / 1e9;
    let plain = a.agent_args.clone();
    let mut redacting = a.agent_args.clone();
    redacting.extend(REDACT_BUILTINS.iter().map(|s| s.to_string()));
    println!();
    println!(
        "== redact: corpus → agent → counting sink, {rounds} runs each, alternating; \
         with = {}",
        REDACT_BUILTINS.join(" ")
    );
    // A first run of each, unmeasured, so both start with the corpus in the page cache.
    for extra in [&plain, &redacting] {
        sink_once(a, work, c, extra, None)?;
    }
    let (load, own0) = (OtherLoad::start(), own_cpu());
    let mut agents_cpu = 0.0;
    let mut per_gb: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=rounds {
        for (i, (label, extra)) in [("without", &plain), ("with", &redacting)]
            .into_iter()
            .enumerate()
        {
            let f = sink_once(a, work, c, extra, None)?;
            agents_cpu += f.cpu;
            per_gb[i].push(f.cpu / gb);
            println!(
                "run {round} {label:>7}: {:.2} s, {:.0} lines/s, agent CPU {:.2} s = {:.2} CPU-s per GB, {} redactions, lost {}",
                f.wall,
                c.lines as f64 / f.wall,
                f.cpu,
                f.cpu / gb,
                f.redactions,
                c.lines.saturating_sub(f.distinct)
            );
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (without, with) = (median(&mut per_gb[0]), median(&mut per_gb[1]));
    println!(
        "median agent CPU-seconds per GB of json-file: without {without:.2}, with {with:.2} \
         ({:+.1}%, {:+.2} CPU-s per GB)",
        (with / without - 1.0) * 100.0,
        with - without
    );
    println!("{}", other_line(&load, agents_cpu + own_cpu() - own0));
    Ok(())
}

fn server_run(a: &Args, work: &Path, c: &Corpus, arm: &str) -> Result<Figure> {
    let state = fresh(&work.join("state-server"))?;
    let data = work.join("server-data");
    let server = ServerProcess::start(&data, &[])?;
    let server_cpu0 = server.cpu_seconds();
    let (load, own0) = (OtherLoad::start(), own_cpu());
    let started = Instant::now();
    let mut agent = AgentProcess::start(
        &server.url,
        &state,
        std::slice::from_ref(&c.glob),
        &a.agent_args,
    )?;
    let stall = Duration::from_secs(a.stall_seconds);
    let metrics = agent.metrics_url.clone();
    let (acked, _) = wait_for(
        started,
        c.lines,
        stall,
        Duration::from_millis(50),
        &mut agent,
        || Ok(scrape(&metrics, "skein_agent_records_shipped_total").unwrap_or(0.0) as u64),
    )?;
    let agent_cpu_acked = agent.cpu_seconds();
    let (searchable, total) = wait_for(
        started,
        c.lines,
        stall,
        Duration::from_millis(20),
        &mut agent,
        || server.total("*"),
    )?;
    let agent_cpu = agent.cpu_seconds();
    let server_cpu = server.cpu_seconds() - server_cpu0;
    let other = other_line(&load, agent_cpu + server_cpu + own_cpu() - own0);
    let agent_rss = agent.peak_rss();
    let server_rss = server.peak_rss();
    agent.stop(Duration::from_secs(10))?;
    server.stop()?;
    let gb = c.bytes as f64 / 1e9;
    println!();
    println!("== server: corpus → agent → skein server");
    println!(
        "acknowledged (durable) in {acked:.2} s: {:.0} lines/s, {:.1} MB/s of json-file",
        c.lines as f64 / acked,
        c.bytes as f64 / 1e6 / acked
    );
    println!(
        "searchable in {searchable:.2} s: {:.0} lines/s, {:.1} MB/s of json-file",
        total as f64 / searchable,
        c.bytes as f64 / 1e6 / searchable
    );
    println!(
        "agent CPU: {agent_cpu:.2} s = {:.2} CPU-seconds per GB ({agent_cpu_acked:.2} s when acknowledged)",
        agent_cpu / gb
    );
    println!("agent peak RSS: {:.1} MiB", mib(agent_rss));
    println!(
        "server CPU: {server_cpu:.2} s = {:.1} CPU-seconds per GB; server peak RSS {:.0} MiB",
        server_cpu / gb,
        mib(server_rss)
    );
    println!(
        "lost: {} (searchable {total} of {})",
        c.lines.saturating_sub(total),
        c.lines
    );
    println!("{other}");
    Ok(Figure {
        scenario: "server",
        arm: arm.to_string(),
        unit: "agent CPU-s per GB",
        value: agent_cpu / (c.bytes as f64 / 1e9),
    })
}

fn live_run(a: &Args, work: &Path, window_s: u64, arm: &str) -> Result<Figure> {
    let dir = fresh(&work.join("live"))?;
    let state = fresh(&work.join("state-live"))?;
    let sink = Sink::start()?;
    let stop = Arc::new(AtomicBool::new(false));
    let cfg = LiveConfig {
        gen: GenConfig {
            lines: 0,
            containers: a.live_containers,
            seed: a.seed,
            ..GenConfig::default()
        },
        rate: a.live_rate,
        duration: None,
        rotate_bytes: a.live_rotate_bytes,
        rotate_keep: 3,
    };
    let writer = {
        let dir = dir.clone();
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("bench-writer".into())
            .spawn(move || skein_gen::generate_live(&cfg, &dir, &stop))?
    };
    let glob = format!("{}/*/*-json.log", dir.display());
    let deadline = Instant::now() + Duration::from_secs(10);
    while skein_collector::discover::paths::expand(std::slice::from_ref(&glob))?.len()
        < a.live_containers
    {
        if Instant::now() > deadline {
            bail!("the live writer did not create its files");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut agent = AgentProcess::start(
        &sink.url,
        &state,
        std::slice::from_ref(&glob),
        &a.agent_args,
    )?;
    std::thread::sleep(Duration::from_secs(a.warmup_seconds));
    if agent.exited() {
        bail!("the agent exited");
    }
    sink.latency_window(now_ns(), i64::MAX);
    let (load, own0) = (OtherLoad::start(), own_cpu());
    let (cpu0, cs0, t0) = (
        agent.cpu_seconds(),
        agent.context_switches(),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(window_s));
    let (cpu1, cs1, t1) = (
        agent.cpu_seconds(),
        agent.context_switches(),
        Instant::now(),
    );
    let other = other_line(&load, cpu1 - cpu0 + own_cpu() - own0);
    sink.end_latency_window(now_ns());
    stop.store(true, Ordering::SeqCst);
    let stats = writer.join().expect("writer thread")?;
    let (_, distinct) = wait_for(
        Instant::now(),
        stats.lines,
        Duration::from_secs(a.stall_seconds.min(30)),
        Duration::from_millis(10),
        &mut agent,
        || Ok(sink.distinct()),
    )?;
    let rss = agent.peak_rss();
    agent.stop(Duration::from_secs(10))?;
    let k = sink.counts();
    let lat = sink.latencies_ms();
    let secs = (t1 - t0).as_secs_f64();
    println!();
    println!(
        "== live: {} lines/s over {} containers (rotation at {} MB) → agent → counting sink",
        a.live_rate,
        a.live_containers,
        a.live_rotate_bytes as f64 / 1e6
    );
    println!(
        "written: {} lines, {:.1} MB in {:.1} s, {} rotations; window {secs:.1} s after {} s of warm-up",
        stats.lines,
        stats.bytes as f64 / 1e6,
        stats.elapsed.as_secs_f64(),
        stats.rotations,
        a.warmup_seconds
    );
    println!(
        "agent CPU over the window: {:.2} s = {:.1}% of one core; {:.0} context switches/s; peak RSS {:.1} MiB",
        cpu1 - cpu0,
        (cpu1 - cpu0) / secs * 100.0,
        (cs1 - cs0) as f64 / secs,
        mib(rss)
    );
    println!(
        "write→ack latency of the {} lines written in the window: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        percentile(&lat, 50.0),
        percentile(&lat, 99.0),
        lat.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "lost: {}   duplicates: {}   rejected: {}   batches: {} ({:.1}/s)",
        stats.lines.saturating_sub(distinct),
        k.duplicates,
        k.rejected,
        k.batches,
        k.batches as f64 / stats.elapsed.as_secs_f64()
    );
    println!(
        "{other} (the writer and the sink run in the bench process and are not counted as other)"
    );
    // What compressing such small batches costs, timed here on the bodies received.
    let samples = sink.samples();
    if !samples.is_empty() {
        let plain: usize = samples.iter().map(Vec::len).sum();
        let t = Instant::now();
        let mut packed = 0;
        for _ in 0..10 {
            packed = samples
                .iter()
                .map(|b| zstd::bulk::compress(b, 1).map_or(0, |z| z.len()))
                .sum::<usize>();
        }
        let per_batch = t.elapsed().as_secs_f64() / 10.0 / samples.len() as f64;
        let rate = k.batches as f64 / stats.elapsed.as_secs_f64();
        println!(
            "zstd level 1 on the last {} batches ({:.1} KiB → {:.1} KiB each on average): {:.0} µs a batch, {:.2}% of one core at {rate:.0} batches/s",
            samples.len(),
            plain as f64 / samples.len() as f64 / 1024.0,
            packed as f64 / samples.len() as f64 / 1024.0,
            per_batch * 1e6,
            per_batch * rate * 100.0
        );
    }
    Ok(Figure {
        scenario: "live",
        arm: arm.to_string(),
        unit: "% of one core",
        value: (cpu1 - cpu0) / secs * 100.0,
    })
}

fn idle_run(a: &Args, work: &Path, window_s: u64, arm: &str) -> Result<Figure> {
    let dir = work.join("idle");
    let manifest = ensure_corpus(
        &dir,
        a.idle_containers as u64 * 20,
        a.idle_containers,
        a.seed,
    )?;
    let dir = std::fs::canonicalize(&dir)?;
    let state = fresh(&work.join("state-idle"))?;
    let sink = Sink::start()?;
    let glob = format!("{}/*/*-json.log", dir.display());
    let files = skein_collector::discover::paths::expand(std::slice::from_ref(&glob))?.len();
    let started = Instant::now();
    let mut agent = AgentProcess::start(
        &sink.url,
        &state,
        std::slice::from_ref(&glob),
        &a.agent_args,
    )?;
    let (initial, distinct) = wait_for(
        started,
        manifest.lines,
        Duration::from_secs(a.stall_seconds.min(30)),
        Duration::from_millis(10),
        &mut agent,
        || Ok(sink.distinct()),
    )?;
    // Let the batch of the initial read be acknowledged and the poll timers settle.
    std::thread::sleep(Duration::from_secs(2));
    let (load, own0) = (OtherLoad::start(), own_cpu());
    let (cpu0, cs0, t0) = (
        agent.cpu_seconds(),
        agent.context_switches(),
        Instant::now(),
    );
    let batches0 = sink.counts().batches;
    std::thread::sleep(Duration::from_secs(window_s));
    let (cpu1, cs1, t1) = (
        agent.cpu_seconds(),
        agent.context_switches(),
        Instant::now(),
    );
    let other = other_line(&load, cpu1 - cpu0 + own_cpu() - own0);
    let batches1 = sink.counts().batches;
    let sources = agent.metric("skein_agent_sources").unwrap_or(0.0);
    let rss = agent.rss();
    agent.stop(Duration::from_secs(10))?;
    let secs = (t1 - t0).as_secs_f64();
    println!();
    println!(
        "== idle: {} containers, {files} log files, no writes → agent → counting sink",
        a.idle_containers
    );
    println!(
        "initial read: {distinct} of {} lines in {initial:.2} s; agent follows {sources:.0} sources",
        manifest.lines
    );
    println!(
        "agent CPU over {secs:.1} s idle: {:.3} s = {:.2}% of one core; {:.1} context switches/s; {} batches sent; RSS {:.1} MiB",
        cpu1 - cpu0,
        (cpu1 - cpu0) / secs * 100.0,
        (cs1 - cs0) as f64 / secs,
        batches1 - batches0,
        mib(rss)
    );
    println!("{other}");
    Ok(Figure {
        scenario: "idle",
        arm: arm.to_string(),
        unit: "% of one core",
        value: (cpu1 - cpu0) / secs * 100.0,
    })
}

/// The sink scenario with Fluent Bit (`FLUENT_BIT=PATH`, 5.x) instead of the agent: the
/// tail input with the docker parser on the same files into the same sink over HTTP as
/// JSON lines, until the sink has received as many lines as the corpus holds.
fn fluent_bit_sink_run(a: &Args, work: &Path, c: &Corpus, bin: &Path) -> Result<Figure> {
    let state = fresh(&work.join("state-fluent-bit"))?;
    let sink = Sink::start()?;
    let port = sink.url.rsplit(':').next().unwrap_or_default().to_string();
    let config = state.join("fluent-bit.yaml");
    std::fs::write(
        &config,
        format!(
            "service:\n  flush: 1\n  log_level: warn\npipeline:\n  inputs:\n    - name: tail\n      \
             path: {glob}\n      read_from_head: true\n      refresh_interval: 1\n      \
             multiline.parser: docker\n      db: {db}\n      mem_buf_limit: 64MB\n  outputs:\n    \
             - name: http\n      match: '*'\n      host: 127.0.0.1\n      port: {port}\n      \
             uri: /api/v1/ingest\n      format: json_lines\n      json_date_key: '@timestamp'\n      \
             json_date_format: iso8601\n",
            glob = c.glob,
            db = state.join("tail.db").display(),
        ),
    )?;
    println!();
    println!("-- fluent-bit: {}", bin.display());
    let (load, own0) = (OtherLoad::start(), own_cpu());
    let started = Instant::now();
    let mut child = std::process::Command::new(bin)
        .arg("-c")
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting Fluent Bit {}", bin.display()))?;
    let pid = child.id();
    let stall = Duration::from_secs(a.stall_seconds);
    let (mut last, mut last_change, mut wall) = (0, Instant::now(), 0.0);
    while sink.counts().lines < c.lines && last_change.elapsed() < stall {
        let n = sink.counts().lines;
        if n != last {
            (last, last_change, wall) = (n, Instant::now(), started.elapsed().as_secs_f64());
        }
        if let Ok(Some(st)) = child.try_wait() {
            bail!("Fluent Bit exited with {st}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if sink.counts().lines >= c.lines {
        wall = started.elapsed().as_secs_f64();
    }
    let cpu = skein_bench::procfs::cpu_seconds(pid);
    let rss = skein_bench::procfs::peak_rss(pid);
    let other = other_line(&load, cpu + own_cpu() - own0);
    let _ = child.kill();
    let _ = child.wait();
    let k = sink.counts();
    let gb = c.bytes as f64 / 1e9;
    println!("== sink: corpus → Fluent Bit → counting sink");
    println!(
        "{} of {} lines received in {wall:.2} s; Fluent Bit CPU {cpu:.2} s = {:.2} CPU-seconds per GB; peak RSS {:.1} MiB",
        k.lines,
        c.lines,
        cpu / gb,
        mib(rss)
    );
    println!("{other}");
    Ok(Figure {
        scenario: "sink",
        arm: "fluent-bit".into(),
        unit: "agent CPU-s per GB",
        value: cpu / gb,
    })
}
