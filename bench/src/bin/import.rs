//! `bench/import`: `skein import` of the generated json-file corpus against the agent
//! following the same files, in the same run.
//!
//! Two scenarios, each run for the import and then for the agent (a fresh state
//! directory, `--no-docker`, the files found by `--path` glob, as `bench/agent`):
//!
//! - **sink**: into the counting sink of `bench/agent` inside this process, which
//!   isolates the client: records/s from the spawn until the sink holds every line,
//!   CPU seconds of the client per GB of json-file.
//! - **server**: into a fresh `skein server` each: records/s until every record is
//!   acknowledged (the import has exited; the agent's shipped-records metric reaches the
//!   corpus) and until all are searchable.

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use skein_bench::agent::{scrape, AgentProcess};
use skein_bench::corpus::ensure_corpus;
use skein_bench::procfs::{cpu_seconds, OtherLoad};
use skein_bench::server::{built_skein_binary, ServerProcess};
use skein_bench::sink::Sink;
use skein_bench::stats::machine;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Sink,
    Server,
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
    /// default corpus, shared with bench/ingest and bench/agent].
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// State directories and server data (emptied).
    #[arg(long, default_value = "bench/corpus/import")]
    work_dir: PathBuf,
    /// Smoke run: 50,000 lines.
    #[arg(long)]
    quick: bool,
    /// Scenarios to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "sink,server")]
    only: Vec<Scenario>,
    /// Extra argument for `skein import` (repeatable), e.g. --import-arg=--jobs=1.
    #[arg(long = "import-arg", allow_hyphen_values = true)]
    import_args: Vec<String>,
    /// Extra argument for `skein agent` (repeatable).
    #[arg(long = "agent-arg", allow_hyphen_values = true)]
    agent_args: Vec<String>,
    /// Give up waiting when nothing new has arrived for this many seconds.
    #[arg(long, default_value_t = 60)]
    stall_seconds: u64,
}

struct Corpus {
    dir: PathBuf,
    lines: u64,
    bytes: u64,
}

/// One client's figures in one scenario.
struct Figures {
    /// Until the sink holds everything, or the server acknowledged everything.
    delivered: f64,
    /// Until all is searchable (server only).
    searchable: Option<f64>,
    cpu: f64,
    got: u64,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let lines = a.lines.unwrap_or(if a.quick { 50_000 } else { 1_000_000 });
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
    println!("bench/import — {}", machine());
    let manifest = ensure_corpus(&corpus, lines, a.containers, a.seed)?;
    let c = Corpus {
        dir: std::fs::canonicalize(&corpus)?,
        lines: manifest.lines,
        bytes: manifest.bytes,
    };
    println!(
        "corpus: {} json-file lines, {} containers, seed {}, {:.1} MB ({})",
        manifest.lines,
        manifest.containers,
        manifest.seed,
        manifest.bytes as f64 / 1e6,
        c.dir.display()
    );
    if !a.import_args.is_empty() {
        println!("import arguments: {}", a.import_args.join(" "));
    }
    if !a.agent_args.is_empty() {
        println!("agent arguments: {}", a.agent_args.join(" "));
    }
    let gb = c.bytes as f64 / 1e9;
    let stall = Duration::from_secs(a.stall_seconds);
    for scenario in &a.only {
        let (import, agent) = match scenario {
            Scenario::Sink => {
                let sink = Sink::start()?;
                let import = timed(
                    &c,
                    stall,
                    || {
                        let child = spawn_import(&sink.url, &c, &a.import_args)?;
                        Ok(Client::Import(child))
                    },
                    |_| Ok(sink.distinct()),
                    None,
                )?;
                let sink = Sink::start()?;
                let state = fresh(&work.join("state-sink"))?;
                let agent = timed(
                    &c,
                    stall,
                    || {
                        Ok(Client::Agent(AgentProcess::start(
                            &sink.url,
                            &state,
                            &[glob(&c)],
                            &a.agent_args,
                        )?))
                    },
                    |_| Ok(sink.distinct()),
                    None,
                )?;
                println!();
                println!("== sink: corpus → client → counting sink");
                (import, agent)
            }
            Scenario::Server => {
                let server = ServerProcess::start(&fresh(&work.join("data-import"))?, &[])?;
                let import = timed(
                    &c,
                    stall,
                    || {
                        Ok(Client::Import(spawn_import(
                            &server.url,
                            &c,
                            &a.import_args,
                        )?))
                    },
                    |_| Ok(0),
                    Some(&server),
                )?;
                server.stop()?;
                let server = ServerProcess::start(&fresh(&work.join("data-agent"))?, &[])?;
                let state = fresh(&work.join("state-server"))?;
                let agent = timed(
                    &c,
                    stall,
                    || {
                        Ok(Client::Agent(AgentProcess::start(
                            &server.url,
                            &state,
                            &[glob(&c)],
                            &a.agent_args,
                        )?))
                    },
                    |metrics| {
                        Ok(
                            scrape(metrics, "skein_agent_records_shipped_total").unwrap_or(0.0)
                                as u64,
                        )
                    },
                    Some(&server),
                )?;
                server.stop()?;
                println!();
                println!("== server: corpus → client → skein server (a fresh one each)");
                (import, agent)
            }
        };
        for (name, f) in [("import", &import), ("agent ", &agent)] {
            let searchable = f.searchable.map_or(String::new(), |s| {
                format!(
                    ", searchable in {s:.2} s ({:.0} records/s)",
                    c.lines as f64 / s
                )
            });
            println!(
                "{name}: {} of {} records in {:.2} s: {:.0} records/s, {:.1} MB/s of json-file{searchable}; client CPU {:.2} s = {:.2} CPU-s per GB",
                f.got,
                c.lines,
                f.delivered,
                f.got as f64 / f.delivered,
                c.bytes as f64 / 1e6 / f.delivered,
                f.cpu,
                f.cpu / gb
            );
        }
        println!(
            "import / agent records/s: {:.2}x{}",
            agent.delivered / import.delivered,
            match (import.searchable, agent.searchable) {
                (Some(i), Some(g)) => format!(" (searchable: {:.2}x)", g / i),
                _ => String::new(),
            }
        );
    }
    Ok(())
}

enum Client {
    Import(Child),
    Agent(AgentProcess),
}

fn glob(c: &Corpus) -> String {
    format!("{}/*/*-json.log", c.dir.display())
}

fn fresh(dir: &Path) -> Result<PathBuf> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(dir.to_path_buf())
}

fn spawn_import(server: &str, c: &Corpus, extra: &[String]) -> Result<Child> {
    let bin = built_skein_binary()?;
    Command::new(&bin)
        .args(["import", "--server", server, "--host", "bench-node"])
        .arg(&c.dir)
        .args(["--progress-every", "3600"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))
}

/// CPU seconds of the children this process has reaped.
fn children_cpu() -> f64 {
    // SAFETY: getrusage fills the struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Starts a client and waits until it has delivered the corpus: the import until it
/// exits (then everything is acknowledged, or in the sink), the agent until `count`
/// reaches the corpus. With a server, then until everything is searchable.
fn timed(
    c: &Corpus,
    stall: Duration,
    start: impl FnOnce() -> Result<Client>,
    mut count: impl FnMut(&str) -> Result<u64>,
    server: Option<&ServerProcess>,
) -> Result<Figures> {
    let load = OtherLoad::start();
    let own0 = cpu_seconds(std::process::id());
    let server_cpu0 = server.map_or(0.0, |s| s.cpu_seconds());
    let reaped0 = children_cpu();
    let started = Instant::now();
    let mut client = start()?;
    let mut last = (0u64, Instant::now());
    let (delivered, cpu, got) = loop {
        match &mut client {
            Client::Import(child) => {
                if let Some(st) = child.try_wait()? {
                    if !st.success() {
                        bail!("skein import exited with {st}");
                    }
                    let t = started.elapsed().as_secs_f64();
                    let got = match server {
                        Some(_) => c.lines,
                        None => count("")?,
                    };
                    break (t, children_cpu() - reaped0, got);
                }
            }
            Client::Agent(agent) => {
                let n = count(&agent.metrics_url)?;
                if n >= c.lines {
                    let t = started.elapsed().as_secs_f64();
                    break (t, agent.cpu_seconds(), n);
                }
                if agent.exited() {
                    bail!("the agent exited");
                }
                if n != last.0 {
                    last = (n, Instant::now());
                } else if last.1.elapsed() > stall {
                    eprintln!("nothing new for {stall:?}: stopping at {n} of {}", c.lines);
                    break (started.elapsed().as_secs_f64(), agent.cpu_seconds(), n);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let searchable = match server {
        Some(s) => {
            let deadline = Instant::now() + stall;
            loop {
                if s.total("*")? >= c.lines {
                    break Some(started.elapsed().as_secs_f64());
                }
                if Instant::now() > deadline {
                    eprintln!("not all searchable within {stall:?}");
                    break None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        None => None,
    };
    let server_cpu = server.map_or(0.0, |s| s.cpu_seconds() - server_cpu0);
    let own = cpu_seconds(std::process::id()) - own0;
    let (other, share) = load.other(cpu + server_cpu + own);
    if share > 0.1 {
        println!(
            "(other processes used {other:.2} CPU-s = {:.0}% of one core meanwhile — NOT a quiet machine; figures are disturbed)",
            share * 100.0
        );
    }
    if let Client::Agent(agent) = client {
        agent.stop(Duration::from_secs(10))?;
    }
    Ok(Figures {
        delivered,
        searchable,
        cpu,
        got,
    })
}
