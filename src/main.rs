//! The `skein` binary: the command line, and the wiring of the library crates.
//!
//! - `skein server`: ingest, storage, search and dashboard on one port.
//! - `skein up`: server and agent in one process with a default data dir, for one
//!   machine (`--demo` adds replayed sample containers).
//! - `skein agent`: the per-node collector shipping container logs to a server.
//! - `skein logs`: `docker logs` across every host, from the server (src/logs/).
//! - `skein search`, `skein agg`: ask a server from the terminal (`search_cmd`,
//!   `agg_cmd`, over `client`, printed through `render`, times read by `timearg`; values from
//!   records made safe for the terminal by `escape`).
//! - `skein admin partitions`: partitions, sizes and retention of a server (`admin_cmd`).
//! - `skein token`: tokens of a data directory (`token_cmd`); clients present theirs
//!   and trust the server's certificate through `client::ConnectArgs`.
//! - `skein import`: sends existing log files to a server once (src/import/).
//! - `skein health`: exits 0/1 as a server's `/healthz` says, for container
//!   healthchecks (`health_cmd`).
//! - `skein gen`: writes a realistic Docker json-file corpus for tests and benchmarks.
//! - `--config FILE` of `server`, `agent` and `up`, their `--print-config`, and
//!   `skein config example` (`config`).

mod admin_cmd;
mod agent;
mod agg_cmd;
mod client;
mod config;
mod demo;
mod escape;
mod health_cmd;
mod import;
mod logs;
mod patterns_cmd;
mod render;
mod search_cmd;
mod serve;
mod timearg;
mod token_cmd;

// Ingest allocates and frees millions of small strings per second across threads;
// mimalloc does that with far less time in the allocator than glibc's malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};
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
    /// Run everything this machine needs with defaults: the server (data in
    /// ./skein-data, dashboard on http://127.0.0.1:9280) and an agent collecting this
    /// machine's containers.
    Up {
        /// Where data is kept (the agent's state goes in its `agent/`).
        #[arg(long, env = "SKEIN_DATA_DIR", default_value = "skein-data")]
        data_dir: PathBuf,
        /// Address of the API and dashboard.
        #[arg(long, env = "SKEIN_LISTEN", default_value = "127.0.0.1:9280")]
        listen: SocketAddr,
        /// Also replay the sample logs in samples/demo as a few live containers.
        #[arg(long)]
        demo: bool,
        #[command(flatten)]
        collect: agent::CollectArgs,
    },
    /// Run the per-node agent: follow every container's logs (and --path files) and
    /// ship them to a server.
    Agent(agent::AgentArgs),
    /// Print a container's logs from every host, like `docker logs` (-f to follow).
    Logs(logs::LogsArgs),
    /// Search records: the newest matches of a query as a table or NDJSON.
    Search(search_cmd::SearchArgs),
    /// Count over time, split by a field, top values, or statistics of a numeric field.
    Agg(agg_cmd::AggArgs),
    /// The message templates (patterns) of the matching records, with counts and
    /// trends; new and surging ones marked.
    Patterns(patterns_cmd::PatternsArgs),
    /// Operator views of a running server (`partitions`).
    Admin(admin_cmd::AdminArgs),
    /// Make, list and revoke the tokens of a data directory.
    Token(token_cmd::TokenArgs),
    /// Send existing logs to a server once: Docker json-file (rotated sets too), CRI,
    /// NDJSON and plain files; a re-run adds nothing twice, also after Ctrl-C.
    Import(import::ImportArgs),
    /// Ask a server's /healthz: exit 0 when healthy, 1 (with the reason on stderr) when
    /// not; for container healthchecks.
    Health(health_cmd::HealthArgs),
    /// Write a realistic Docker json-file corpus (DIR/<id>/<id>-json.log): a fixed batch,
    /// or live appending with --rate (and rotation with --rotate-bytes).
    Gen(skein_gen::GenArgs),
    /// The configuration file of `server`, `agent` and `up` (`example` prints one).
    Config(config::ConfigArgs),
}

fn main() -> Result<()> {
    agent::commit_memory_lazily_or_reexec()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SKEIN_LOG")
                .unwrap_or_else(|_| "info,tantivy=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (stderr on a full disk, as a container's
        // log often is) is dropped: tracing's own notice of it goes through
        // `eprintln!`, which panics when stderr fails, and would take the server down
        // exactly when the disk fills.
        .log_internal_errors(false)
        .init();
    // Not `Cli::parse()`: `--config` files and every flag's SKEIN_* variable are added
    // to the command line here (src/config.rs).
    // SAFETY: no thread has started yet (the runtimes, the engine and the agent start
    // from the parsed arguments), so setting environment variables races with nothing.
    let cli: Cli = unsafe { config::parse()? };
    match cli.command {
        Command::Server(args) => serve::run(args, None),
        Command::Up {
            data_dir,
            listen,
            demo,
            collect,
        } => {
            eprintln!(
                "skein up: dashboard on http://{listen}/ , data in {}",
                data_dir.display()
            );
            // The embedded agent redacts what it reads; the server, what other shippers
            // send it.
            let mut server = serve::ServerArgs::with_defaults(data_dir, listen);
            server.redact = collect.redact.clone();
            let up = serve::Up { collect, demo };
            serve::run(server, Some(up))
        }
        Command::Agent(args) => agent::run(args),
        Command::Search(args) => search_cmd::run(args),
        Command::Agg(args) => agg_cmd::run(args),
        Command::Patterns(args) => patterns_cmd::run(args),
        Command::Gen(args) => gen(args),
        Command::Token(args) => token_cmd::run(args),
        Command::Admin(args) => admin_cmd::run(args),
        Command::Logs(args) => logs::run(args),
        Command::Import(args) => import::run(args),
        Command::Config(args) => config::run(args, Cli::command()),
        Command::Health(args) => health_cmd::run(args),
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
