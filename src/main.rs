//! The `skein` binary: the command line, and the wiring of the library crates.
//!
//! - `skein server`: ingest, storage, search and dashboard on one port.
//! - `skein up`: the same with a default data dir, for one machine.
//! - `skein gen`: writes a realistic Docker json-file corpus for tests and benchmarks.

mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "skein", version, about = "Container logs: collect, index, search, follow")]
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
    /// Write a deterministic Docker json-file corpus (DIR/<id>/<id>-json.log).
    Gen(GenArgs),
}

#[derive(clap::Args)]
struct GenArgs {
    /// Output directory.
    #[arg(long)]
    out: PathBuf,
    /// Total json-file lines.
    #[arg(long, default_value_t = 100_000)]
    lines: u64,
    /// Number of containers.
    #[arg(long, default_value_t = 16)]
    containers: usize,
    /// Random seed (same seed and arguments give the same bytes).
    #[arg(long, default_value_t = 42)]
    seed: u64,
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
            eprintln!("skein up: dashboard on http://{listen}/ , data in {}", data_dir.display());
            serve::run(serve::ServerArgs::with_defaults(data_dir, listen))
        }
        Command::Gen(args) => gen(args),
    }
}

fn gen(args: GenArgs) -> Result<()> {
    let _ = args;
    anyhow::bail!("gen is not wired yet")
}
