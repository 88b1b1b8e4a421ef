//! The `skein` binary: the command line, and the wiring of the library crates.
//!
//! - `skein server`: ingest, storage, search and dashboard on one port.
//! - `skein up`: the same with a default data dir, for one machine.
//! - `skein gen`: writes a realistic Docker json-file corpus for tests and benchmarks.

mod serve;

// Ingest allocates and frees millions of small strings per second across threads;
// mimalloc does that with far less time in the allocator than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "skein",
    version,
    about = "Container logs: collect, index, search, follow"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: ingest API, search API and dashboard on one port.
    Server(serve::ServerArgs),
    /// Run everything this machine needs with defaults (data in ./skein-data,
    /// dashboard on http://127.0.0.1:9280).
    Up {
        /// Where data is kept.
        #[arg(long, env = "SKEIN_DATA_DIR", default_value = "skein-data")]
        data_dir: PathBuf,
        /// Address of the API and dashboard.
        #[arg(long, env = "SKEIN_LISTEN", default_value = "127.0.0.1:9280")]
        listen: SocketAddr,
    },
    /// Write a realistic Docker json-file corpus (DIR/<id>/<id>-json.log): a fixed batch,
    /// or live appending with --rate (and rotation with --rotate-bytes).
    Gen(skein_gen::GenArgs),
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKEIN_LOG")
                .unwrap_or_else(|_| "info,tantivy=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => serve::run(args),
        Command::Up { data_dir, listen } => {
            eprintln!(
                "skein up: dashboard on http://{listen}/ , data in {}",
                data_dir.display()
            );
            serve::run(serve::ServerArgs::with_defaults(data_dir, listen))
        }
        Command::Gen(args) => gen(args),
    }
}

fn gen(args: skein_gen::GenArgs) -> Result<()> {
    let stop = std::sync::atomic::AtomicBool::new(false);
    match args.run(&stop)? {
        skein_gen::GenOutcome::Batch(m) => eprintln!(
            "wrote {} lines ({} bytes) for {} containers; {} needles; manifest.json has the details",
            m.lines, m.bytes, m.containers, m.needle_count
        ),
        skein_gen::GenOutcome::Live(s) => eprintln!(
            "appended {} lines ({} bytes) in {:.1}s, {} rotations",
            s.lines,
            s.bytes,
            s.elapsed.as_secs_f64(),
            s.rotations
        ),
    }
    Ok(())
}
