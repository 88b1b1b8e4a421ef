//! `bench/patterns`: grouping accuracy of skein-patterns over the Loghub 2k samples, side
//! by side with drain3's (computed by `bench/patterns_drain3.py` in the same run), and
//! the miner's speed on already-seen lines.
//!
//! Grouping accuracy (Loghub's GA): the share of lines whose predicted group holds exactly
//! the lines of their ground-truth event (`EventId`). Each dataset is one group; a line's
//! prediction is the id `assign` gave it when it arrived, resolved at the end (a query for
//! a pattern also finds the records stored under the ids merged into it).

use anyhow::{bail, Context, Result};
use clap::Parser;
use skein_bench::stats::machine;
use skein_patterns::{Config, Miner};
use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Kept out of tuning, chosen before it (the last three by name), reported apart.
const HELD_OUT: [&str; 3] = ["Spark", "Windows", "Zookeeper"];

#[derive(Parser)]
struct Args {
    /// Folder of `<System>_2k.log_structured.csv` files.
    #[arg(long, default_value = "bench/data/loghub")]
    data: PathBuf,
    /// drain3's assignments (`bench/patterns_drain3.py`'s output); without it, only skein's column.
    #[arg(long)]
    drain3: Option<PathBuf>,
    /// Print each dataset's wrongly grouped events (for looking, not for the figures).
    #[arg(long)]
    explain: Option<String>,
    /// Seconds of timed assignment for the speed figure.
    #[arg(long, default_value_t = 2.0)]
    speed_secs: f64,
}

struct Dataset {
    name: String,
    contents: Vec<String>,
    events: Vec<String>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let sets = load(&a.data)?;
    let drain3: HashMap<String, Vec<i64>> = match &a.drain3 {
        Some(p) => {
            serde_json::from_slice(&std::fs::read(p).with_context(|| p.display().to_string())?)?
        }
        None => HashMap::new(),
    };
    println!("bench/patterns — {}", machine());
    println!(
        "Loghub 2k samples ({} systems, Content column, one group per system); grouping accuracy",
        sets.len()
    );
    println!(
        "{:<12} {:>8} {:>8} {:>9} {:>9}",
        "system", "skein", "drain3", "events", "patterns"
    );
    let mut rows = Vec::new();
    for set in &sets {
        let mut miner = Miner::new(Config::default());
        let ids: Vec<_> = set
            .contents
            .iter()
            .map(|c| miner.assign(&set.name, c))
            .collect();
        let ids: Vec<_> = ids.into_iter().map(|id| miner.resolve(id)).collect();
        let ours = grouping_accuracy(&ids, &set.events);
        let theirs = drain3
            .get(&set.name)
            .map(|d| grouping_accuracy(d, &set.events));
        let events = set
            .events
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        rows.push((set.name.clone(), ours, theirs));
        println!(
            "{:<12} {:>8.3} {:>8} {:>9} {:>9}{}",
            set.name,
            ours,
            theirs.map_or("-".into(), |t| format!("{t:.3}")),
            events,
            miner.patterns().count(),
            if HELD_OUT.contains(&set.name.as_str()) {
                "  (held out)"
            } else {
                ""
            }
        );
        if a.explain.as_deref() == Some(set.name.as_str()) {
            explain(&miner, &ids, set);
        }
    }
    let avg = |f: &dyn Fn(&str) -> bool, drain: bool| -> Option<f64> {
        let v: Vec<f64> = rows
            .iter()
            .filter(|r| f(&r.0))
            .map(|r| if drain { r.2 } else { Some(r.1) })
            .collect::<Option<Vec<f64>>>()?;
        Some(v.iter().sum::<f64>() / v.len() as f64)
    };
    let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
    for (label, f) in [
        ("average", &(|_: &str| true) as &dyn Fn(&str) -> bool),
        ("tuned on", &|n: &str| !HELD_OUT.contains(&n)),
        ("held out", &|n: &str| HELD_OUT.contains(&n)),
    ] {
        println!(
            "{:<12} {:>8} {:>8}",
            label,
            show(avg(f, false)),
            show(avg(f, true))
        );
    }
    let min = rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    println!("lowest skein: {min:.3}");
    speed(&sets, a.speed_secs);
    Ok(())
}

/// Loghub's GA: a predicted group counts (all its lines correct) when its lines all have
/// one event and that event has no other lines.
fn grouping_accuracy<P: Hash + Eq>(predicted: &[P], events: &[String]) -> f64 {
    let mut groups: HashMap<&P, Vec<usize>> = HashMap::new();
    for (i, p) in predicted.iter().enumerate() {
        groups.entry(p).or_default().push(i);
    }
    let mut event_size: HashMap<&str, usize> = HashMap::new();
    for e in events {
        *event_size.entry(e).or_default() += 1;
    }
    let mut correct = 0;
    for lines in groups.values() {
        let e = &events[lines[0]];
        if lines.iter().all(|&i| &events[i] == e) && event_size[e.as_str()] == lines.len() {
            correct += lines.len();
        }
    }
    correct as f64 / events.len() as f64
}

/// For tuning: each ground-truth event split over several patterns, and each pattern
/// holding several events.
fn explain(miner: &Miner, ids: &[skein_patterns::PatternId], set: &Dataset) {
    let mut by_event: HashMap<&str, HashMap<skein_patterns::PatternId, usize>> = HashMap::new();
    let mut by_id: HashMap<skein_patterns::PatternId, HashMap<&str, usize>> = HashMap::new();
    for (id, e) in ids.iter().zip(&set.events) {
        *by_event.entry(e).or_default().entry(*id).or_default() += 1;
        *by_id.entry(*id).or_default().entry(e).or_default() += 1;
    }
    let sample = |e: &str| {
        set.events
            .iter()
            .position(|x| x == e)
            .map(|i| set.contents[i].clone())
            .unwrap_or_default()
    };
    println!("-- events split over patterns:");
    for (e, ps) in &by_event {
        if ps.len() > 1 {
            println!(
                "{e} ({} lines) e.g. {}",
                ps.values().sum::<usize>(),
                sample(e)
            );
            for (p, n) in ps {
                println!("    {n:>5} {}", miner.template(*p).unwrap_or_default());
            }
        }
    }
    println!("-- patterns holding several events:");
    for (p, es) in &by_id {
        if es.len() > 1 {
            println!("{}", miner.template(*p).unwrap_or_default());
            for (e, n) in es {
                println!("    {n:>5} {e}: {}", sample(e));
            }
        }
    }
}

/// ns per already-seen line: every dataset's lines assigned once to learn, then again in a
/// loop, timed.
fn speed(sets: &[Dataset], secs: f64) {
    let mut miner = Miner::new(Config::default());
    let lines: Vec<(&str, &str)> = sets
        .iter()
        .flat_map(|s| {
            s.contents
                .iter()
                .map(move |c| (s.name.as_str(), c.as_str()))
        })
        .collect();
    let typical: Vec<(&str, &str)> = lines
        .iter()
        .copied()
        .filter(|(_, l)| (80..=200).contains(&l.len()))
        .collect();
    for (g, l) in &lines {
        miner.assign(g, l);
    }
    for (label, set) in [("all lines", &lines), ("80-200 byte lines", &typical)] {
        let bytes: usize = set.iter().map(|(_, l)| l.len()).sum();
        let cpu0 = thread_cpu_ns();
        let start = Instant::now();
        let mut n = 0u64;
        let mut sink = 0u64;
        while start.elapsed().as_secs_f64() < secs {
            for (g, l) in set.iter() {
                sink ^= miner.assign(g, l).0;
            }
            n += set.len() as u64;
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        let cpu = (thread_cpu_ns() - cpu0) / n as f64;
        println!(
            "speed, {label} ({} lines, mean {} bytes, learned already): {cpu:.0} ns/line of CPU time \
             ({ns:.0} ns/line wall clock){}",
            set.len(),
            bytes / set.len().max(1),
            if sink == 42 { " " } else { "" }
        );
    }
}

/// This thread's CPU time: on a shared machine the wall clock also counts the time other
/// processes had the core.
fn thread_cpu_ns() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e9 + ts.tv_nsec as f64
}

fn load(dir: &Path) -> Result<Vec<Dataset>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| dir.display().to_string())?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with("_2k.log_structured.csv"))
        .collect();
    names.sort();
    if names.is_empty() {
        bail!("no *_2k.log_structured.csv in {}", dir.display());
    }
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(dir.join(&n))?;
            let rows = parse_csv(&text);
            let header = &rows[0];
            let col = |name: &str| {
                header
                    .iter()
                    .position(|h| h == name)
                    .with_context(|| format!("{n}: no {name} column"))
            };
            let (c, e) = (col("Content")?, col("EventId")?);
            let body = &rows[1..];
            Ok(Dataset {
                name: n.trim_end_matches("_2k.log_structured.csv").to_string(),
                contents: body.iter().map(|r| r[c].clone()).collect(),
                events: body.iter().map(|r| r[e].clone()).collect(),
            })
        })
        .collect()
}

/// RFC 4180 CSV: quoted fields may hold commas, doubled quotes and newlines.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}
