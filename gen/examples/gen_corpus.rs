//! Generates a corpus from the command line with the same flags as `skein gen`, printing
//! the manifest summary (or live totals) and the wall time as one JSON line, e.g.
//!
//! `cargo run --release -p skein-gen --example gen_corpus -- --lines 1000000 --containers 32 --out /tmp/corpus`

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use clap::Parser;
use skein_gen::{GenArgs, GenOutcome};

#[derive(Parser)]
#[command(about = "Generate Docker json-file logs (skein-gen example)")]
struct Cli {
    #[command(flatten)]
    args: GenArgs,
}

fn main() {
    let cli = Cli::parse();
    let stop = AtomicBool::new(false);
    let t0 = Instant::now();
    match cli.args.run(&stop) {
        Ok(GenOutcome::Batch(m)) => println!(
            "{}",
            serde_json::json!({
                "lines": m.lines, "bytes": m.bytes, "needle_count": m.needle_count,
                "event_counts": m.event_counts, "seconds": t0.elapsed().as_secs_f64(),
            })
        ),
        Ok(GenOutcome::Live(s)) => println!(
            "{}",
            serde_json::json!({
                "lines": s.lines, "bytes": s.bytes, "needle_count": s.needle_count,
                "rotations": s.rotations, "seconds": s.elapsed.as_secs_f64(),
            })
        ),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
