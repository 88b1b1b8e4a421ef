//! `bench/fuzz`: every parser a user can reach, fed generated and mutated inputs, with
//! panics, crashes, the slowest input and peak memory reported per target.
//!
//! Each target runs in a child process (this binary with `--child`), so a stack
//! overflow or abort ends only that child: before each input the child writes the
//! input's index into a shared mapped file, and since input `i` is a pure function of
//! the seed and `i`, the parent makes the crashing input again, saves it and goes on
//! with a new child after it. The peak RSS of a target is its child's VmHWM.

use anyhow::{bail, Context, Result};
use clap::Parser;
use skein_bench::fuzz::targets::{input, Ctx, Target, TARGETS};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Parser, Debug)]
#[command(about = "Fuzz the parsers: generated and mutated inputs, panics, slowest, peak RSS")]
struct Args {
    /// Inputs per target.
    #[arg(long, default_value_t = 1_000_000)]
    iterations: u64,
    /// Run only this target (see --list).
    #[arg(long)]
    target: Option<String>,
    /// Where panicking, crashing and slowest inputs are saved.
    #[arg(long, default_value = "/tmp/skein-fuzz")]
    out: PathBuf,
    /// Seed of the run: the same seed makes the same inputs.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The repository, where seed inputs are read from.
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// Crashes (aborts) after which a target is given up.
    #[arg(long, default_value_t = 2000)]
    max_crashes: usize,
    /// List the targets and exit.
    #[arg(long)]
    list: bool,
    /// Run one input from a file through --target and exit (to reproduce a finding).
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    #[arg(long, hide = true)]
    child: bool,
    #[arg(long, hide = true, default_value_t = 0)]
    from: u64,
    #[arg(long, hide = true)]
    progress: Option<PathBuf>,
}

/// What a child reports after each chunk of inputs (one `REPORT` line on stdout), so
/// what a crashing child measured before it died is not lost.
#[derive(serde::Serialize, serde::Deserialize, Default, Debug)]
struct Report {
    /// The chunk's slowest input's time: the best of three runs after the first timing.
    slowest_ns: u64,
    slowest_index: u64,
    /// The child's VmHWM so far.
    peak_rss: u64,
}

/// Inputs between two reports of a child.
const CHUNK: u64 = 10_000;

/// How many of a chunk's slowest inputs are timed again before its report.
const SLOW_KEPT: usize = 16;

/// The last panic's location and message, for the report.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

fn main() -> Result<()> {
    let args = Args::parse();
    if args.list {
        for t in TARGETS {
            println!("{:<16} {}", t.name, t.entry);
        }
        return Ok(());
    }
    let chosen: Vec<&Target> = match &args.target {
        Some(name) => match TARGETS.iter().find(|t| t.name == name) {
            Some(t) => vec![t],
            None => bail!("no target {name:?}; --list shows them"),
        },
        None => TARGETS.iter().collect(),
    };
    if let Some(file) = &args.replay {
        let [t] = chosen[..] else {
            bail!("--replay needs --target NAME");
        };
        let bytes = std::fs::read(file).with_context(|| format!("cannot read {file:?}"))?;
        let start = Instant::now();
        (t.run)(&Ctx::new(), &bytes);
        println!("{}: no panic, {:.3} ms", t.name, ms(start.elapsed()));
        return Ok(());
    }
    if args.child {
        return child(&args, chosen[0]);
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create --out {:?}", args.out))?;
    println!(
        "bench/fuzz: {} inputs per target, seed {}, findings in {}",
        args.iterations,
        args.seed,
        args.out.display()
    );
    let mut rows = Vec::new();
    for t in chosen {
        rows.push(parent(&args, t)?);
    }
    println!();
    println!(
        "| target | inputs | panics | crashes | slowest input (ms) | peak RSS (MiB) | inputs/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!("{r}");
    }
    Ok(())
}

/// Runs one target to the end across as many children as crashes need; returns its
/// table row.
fn parent(args: &Args, t: &Target) -> Result<String> {
    println!("\n== {} ({})", t.name, t.entry);
    let exe = std::env::current_exe()?;
    let progress = args.out.join(format!("{}.progress", t.name));
    let seeds = (t.seeds)(&args.repo);
    let mut from = 0;
    let mut inputs = 0;
    let mut slowest = Report::default();
    let mut panics: Vec<String> = Vec::new();
    let mut crashes = Vec::new();
    let start = Instant::now();
    while from < args.iterations {
        std::fs::write(&progress, from.to_le_bytes())?;
        let out = Command::new(&exe)
            .args(["--child", "--target", t.name])
            .arg("--iterations")
            .arg(args.iterations.to_string())
            .arg("--from")
            .arg(from.to_string())
            .arg("--seed")
            .arg(args.seed.to_string())
            .arg("--repo")
            .arg(&args.repo)
            .arg("--out")
            .arg(&args.out)
            .arg("--progress")
            .arg(&progress)
            .stdin(Stdio::null())
            .output()
            .context("cannot start the fuzz child")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut done = false;
        for line in stdout.lines() {
            if let Some(r) = line.strip_prefix("REPORT ") {
                let r: Report = serde_json::from_str(r)?;
                if r.slowest_ns >= slowest.slowest_ns {
                    slowest.slowest_ns = r.slowest_ns;
                    slowest.slowest_index = r.slowest_index;
                }
                slowest.peak_rss = slowest.peak_rss.max(r.peak_rss);
            } else if let Some(p) = line.strip_prefix("PANIC ") {
                panics.push(p.to_string());
            } else if line == "DONE" {
                done = true;
            }
        }
        if done {
            inputs += args.iterations - from;
            break;
        }
        // The child died: the progress file holds the index it was running.
        let bytes = std::fs::read(&progress)?;
        let at = u64::from_le_bytes(bytes[..8].try_into()?);
        let crashing = input(t, &seeds, args.seed, at);
        let file = args.out.join(format!("{}-crash-{at}.bin", t.name));
        std::fs::write(&file, &crashing)?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if crashes.len() < 3 {
            println!(
                "  CRASH at input {at} ({}; {why}): {} -> {}",
                out.status,
                preview(&crashing, 120),
                file.display()
            );
        }
        crashes.push(at);
        inputs += at + 1 - from;
        from = at + 1;
        if crashes.len() >= args.max_crashes {
            println!("  gave up after {} crashes", crashes.len());
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let rate = inputs as f64 / seconds.max(1e-9);
    let slow_input = input(t, &seeds, args.seed, slowest.slowest_index);
    let slow_file = args.out.join(format!("{}-slowest.bin", t.name));
    std::fs::write(&slow_file, &slow_input)?;
    println!(
        "  inputs {inputs}  panics {}  crashes {}  {rate:.0} inputs/s  peak RSS {:.1} MiB",
        panics.len(),
        crashes.len(),
        slowest.peak_rss as f64 / 1048576.0
    );
    for p in panics.iter().take(3) {
        println!("  PANIC {p}");
    }
    // Where they panicked, most frequent first: one line per bug rather than per input.
    let mut sites: std::collections::BTreeMap<&str, (usize, &str)> = Default::default();
    for p in &panics {
        let site = p
            .split_once(" at ")
            .and_then(|(_, rest)| rest.split_once(": "))
            .map_or("?", |(site, _)| site);
        let first = p.split_whitespace().nth(1).unwrap_or("?");
        sites.entry(site).or_insert((0, first)).0 += 1;
    }
    let mut sites: Vec<_> = sites.into_iter().collect();
    sites.sort_by_key(|(_, (n, _))| std::cmp::Reverse(*n));
    for (site, (n, first)) in sites {
        println!("  panic site: {n} x {site} (first: input {first})");
    }
    println!(
        "  slowest: input {} in {:.3} ms: {} -> {}",
        slowest.slowest_index,
        slowest.slowest_ns as f64 / 1e6,
        preview(&slow_input, 120),
        slow_file.display()
    );
    if !crashes.is_empty() {
        println!(
            "  crashing inputs (first 10 of {}): {:?}",
            crashes.len(),
            &crashes[..crashes.len().min(10)]
        );
    }
    Ok(format!(
        "| {} | {inputs} | {} | {} | {:.2} | {:.1} | {rate:.0} |",
        t.name,
        panics.len(),
        crashes.len(),
        slowest.slowest_ns as f64 / 1e6,
        slowest.peak_rss as f64 / 1048576.0,
    ))
}

/// The shared progress word: the index of the input being run.
struct Progress(&'static AtomicU64);

impl Progress {
    fn map(path: &Path) -> Result<Progress> {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)?;
        // SAFETY: an 8-byte shared mapping of a file we own, kept for the whole process;
        // only this process writes it, the parent reads it after we are gone.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                f.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            bail!("cannot map {path:?}: {}", std::io::Error::last_os_error());
        }
        // SAFETY: page-aligned, 8 bytes, valid for the life of the process.
        Ok(Progress(unsafe { &*(p as *const AtomicU64) }))
    }
}

/// Runs inputs `from..iterations` of one target and prints its report.
fn child(args: &Args, t: &Target) -> Result<()> {
    let progress = match &args.progress {
        Some(p) => Some(Progress::map(p)?),
        None => None,
    };
    let ctx = Ctx::new();
    let seeds = (t.seeds)(&args.repo);
    // Panics are counted, not printed: a million inputs may panic thousands of times.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = format!("{at}: {msg}");
    }));
    let mut out = std::io::stdout().lock();
    let mut saved = 0;
    let mut i = args.from;
    while i < args.iterations {
        let end = (i - i % CHUNK + CHUNK).min(args.iterations);
        // The chunk's slowest inputs by their first timing; timed again before the
        // report, because on a shared machine one preemption makes any input look slow.
        let mut slow: Vec<(u64, u64)> = Vec::with_capacity(SLOW_KEPT);
        for i in i..end {
            let bytes = input(t, &seeds, args.seed, i);
            if let Some(p) = &progress {
                p.0.store(i, Ordering::Relaxed);
            }
            let t0 = Instant::now();
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (t.run)(&ctx, &bytes)));
            let took = t0.elapsed().as_nanos() as u64;
            if slow.len() < SLOW_KEPT {
                slow.push((took, i));
            } else if let Some(min) = slow.iter_mut().min().filter(|m| m.0 < took) {
                *min = (took, i);
            }
            if outcome.is_err() {
                let why = LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let mut file = String::from("(not saved)");
                if saved < 100 {
                    saved += 1;
                    let path = args.out.join(format!("{}-panic-{i}.bin", t.name));
                    std::fs::write(&path, &bytes)?;
                    file = path.display().to_string();
                }
                let why = why.replace('\n', " ");
                writeln!(
                    out,
                    "PANIC input {i} at {why}: {} -> {file}",
                    preview(&bytes, 120)
                )?;
            }
        }
        let mut r = Report::default();
        for &(_, i) in &slow {
            let bytes = input(t, &seeds, args.seed, i);
            let best = (0..3)
                .map(|_| {
                    let t0 = Instant::now();
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        (t.run)(&ctx, &bytes)
                    }));
                    t0.elapsed().as_nanos() as u64
                })
                .min()
                .unwrap_or(0);
            if best >= r.slowest_ns {
                r.slowest_ns = best;
                r.slowest_index = i;
            }
        }
        r.peak_rss = skein_bench::procfs::peak_rss(std::process::id());
        writeln!(out, "REPORT {}", serde_json::to_string(&r)?)?;
        i = end;
    }
    writeln!(out, "DONE")?;
    Ok(())
}

/// The first `max` characters of an input, control characters and invalid UTF-8
/// escaped, with its length.
fn preview(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut s = String::new();
    for c in text.chars().take(max) {
        if c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
        {
            let _ = write!(s, "\\u{{{:x}}}", c as u32);
        } else {
            s.push(c);
        }
    }
    let more = if text.chars().count() > max {
        "…"
    } else {
        ""
    };
    format!("{s:?}{more} ({} bytes)", bytes.len())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
