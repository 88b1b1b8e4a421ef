//! Arms measured in the same run: each arm sends the same batches to a fresh server,
//! arms alternate over rounds (order reversed every other round, so drift of a noisy
//! machine falls on all), and the medians and per-round ratios are printed. Used by
//! `bench/ingest --tls-compare` and `bench/otlp`.

use crate::procfs::{cpu_seconds, OtherLoad};
use crate::send::Sent;
use crate::server::ServerProcess;
use anyhow::{ensure, Result};
use std::time::{Duration, Instant};

/// What one arm of one round measured.
pub struct Outcome {
    /// Seconds until every record was acknowledged, and until searchable.
    pub acked: f64,
    pub searchable: f64,
    /// CPU seconds of the server and of this process (the senders and the poller) until
    /// searchable, and of every other process on the machine meanwhile.
    pub server_cpu: f64,
    pub client_cpu: f64,
    pub other_cpu: f64,
    /// Requests the server answered "no room" and that were retried.
    pub throttled: u64,
}

/// Sends with `send` to `server` (fresh, empty) and waits until `records` are
/// searchable, polling through `poll`; an error unless every record was accepted.
pub fn measure(
    server: &ServerProcess,
    poll: &reqwest::blocking::Client,
    records: u64,
    send: impl FnOnce() -> Result<Sent>,
) -> Result<Outcome> {
    let me = std::process::id();
    let cpu0 = server.cpu_seconds();
    let client0 = cpu_seconds(me);
    let load = OtherLoad::start();
    let started = Instant::now();
    let sent = send()?;
    let acked = started.elapsed().as_secs_f64();
    while server.total_with(poll, "*")? < records {
        std::thread::sleep(Duration::from_millis(20));
    }
    let searchable = started.elapsed().as_secs_f64();
    let server_cpu = server.cpu_seconds() - cpu0;
    let client_cpu = cpu_seconds(me) - client0;
    let (other_cpu, _) = load.other(server_cpu + client_cpu);
    ensure!(
        sent.accepted == records,
        "accepted {} of {records}",
        sent.accepted
    );
    Ok(Outcome {
        acked,
        searchable,
        server_cpu,
        client_cpu,
        other_cpu,
        throttled: sent.throttled,
    })
}

/// Runs every arm (named by `names`) once per round through `run`, the order reversed
/// every other round, after one uncounted run of the first arm when `warmup` (the
/// first server a run starts came out slower than the same arm later in five of six
/// runs of `bench/ingest --tls-compare`, by 5% and 15% on a quiet machine). Prints each
/// run to stderr; answers the outcomes per arm.
pub fn rounds(
    names: &[&str],
    rounds: usize,
    warmup: bool,
    records: u64,
    mut run: impl FnMut(usize) -> Result<Outcome>,
) -> Result<Vec<Vec<Outcome>>> {
    ensure!(rounds > 0 && !names.is_empty(), "need a round and an arm");
    let mut results: Vec<Vec<Outcome>> = names.iter().map(|_| Vec::new()).collect();
    if warmup {
        let o = run(0)?;
        eprintln!(
            "warm-up {:<9} searchable {:>7.0}/s (not counted)",
            names[0],
            records as f64 / o.searchable
        );
    }
    for round in 0..rounds {
        let mut order: Vec<usize> = (0..names.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let o = run(i)?;
            eprintln!(
                "round {} {:<9} acknowledged {:>7.0}/s  searchable {:>7.0}/s  server CPU {:.1} s  client CPU {:.1} s  other CPU {:.1} s",
                round + 1,
                names[i],
                records as f64 / o.acked,
                records as f64 / o.searchable,
                o.server_cpu,
                o.client_cpu,
                o.other_cpu
            );
            results[i].push(o);
        }
    }
    Ok(results)
}

/// Prints each arm's medians and runs; `raw` is the corpus's json-file bytes.
pub fn print_arms(names: &[&str], results: &[Vec<Outcome>], records: u64, raw: f64) {
    for (name, rs) in names.iter().zip(results) {
        let list = |f: &dyn Fn(&Outcome) -> f64| {
            rs.iter()
                .map(|o| format!("{:.0}", f(o)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!("{name}:");
        println!(
            "  acknowledged records/s: median {:>7.0}  (runs: {})",
            median(rs.iter().map(|o| records as f64 / o.acked)),
            list(&|o| records as f64 / o.acked)
        );
        println!(
            "  searchable records/s:   median {:>7.0}  (runs: {})",
            median(rs.iter().map(|o| records as f64 / o.searchable)),
            list(&|o| records as f64 / o.searchable)
        );
        println!(
            "  server CPU until searchable: median {:.1} s = {:.1} CPU-s/GB; bench client CPU median {:.1} s; other processes median {:.1} s; 429s retried: {}",
            median(rs.iter().map(|o| o.server_cpu)),
            median(rs.iter().map(|o| o.server_cpu)) / (raw / 1e9),
            median(rs.iter().map(|o| o.client_cpu)),
            median(rs.iter().map(|o| o.other_cpu)),
            rs.iter().map(|o| o.throttled).sum::<u64>()
        );
    }
}

/// Prints the ratios of arm `i` to arm `p`: of the medians, and per round.
pub fn print_ratio(names: &[&str], results: &[Vec<Outcome>], i: usize, p: usize, records: u64) {
    let ratio = |f: &dyn Fn(&Outcome) -> f64| {
        let paired: Vec<String> = results[i]
            .iter()
            .zip(&results[p])
            .map(|(x, y)| format!("{:.3}", f(x) / f(y)))
            .collect();
        let of_medians = median(results[i].iter().map(f)) / median(results[p].iter().map(f));
        format!("{of_medians:.3} (per round: {})", paired.join(" "))
    };
    println!(
        "{} / {}: searchable {}; acknowledged {}; server CPU {}",
        names[i],
        names[p],
        ratio(&|o| records as f64 / o.searchable),
        ratio(&|o| records as f64 / o.acked),
        ratio(&|o| o.server_cpu),
    );
}

/// The median of `xs` (the mean of the middle two for an even count).
pub fn median(xs: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = xs.collect();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
