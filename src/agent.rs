//! `skein agent`: the per-node collector, and the agent half of `skein up`.

use anyhow::{Context, Result};
use skein_collector::agent::{Agent, AgentConfig};
use skein_collector::discover::SourceSpec;
use skein_collector::redact::Redaction;
use skein_collector::{MultilineConfig, PayloadConfig};
use skein_model::redact::Redactor;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

mod kubernetes;
pub use kubernetes::KubernetesArgs;

/// Options of `skein agent` (the collection options are shared with `skein up`).
#[derive(clap::Args, Debug, Clone)]
pub struct AgentArgs {
    /// The server to ship to.
    #[arg(long, env = "SKEIN_SERVER", default_value = "http://127.0.0.1:9280")]
    pub server: String,
    #[command(flatten)]
    pub connect: crate::client::ConnectArgs,
    /// Where the checkpoint and the spool live.
    #[arg(
        long,
        env = "SKEIN_AGENT_STATE_DIR",
        default_value = "skein-agent-state"
    )]
    pub state_dir: PathBuf,
    /// Local address of the agent's Prometheus `/metrics`.
    #[arg(long, env = "SKEIN_AGENT_METRICS", default_value = "127.0.0.1:9281")]
    pub metrics_listen: SocketAddr,
    #[command(flatten)]
    pub collect: CollectArgs,
}

/// What to collect and how.
#[derive(clap::Args, Debug, Clone)]
pub struct CollectArgs {
    /// Node name records carry (default: this machine's host name; in a container, the
    /// Docker engine's, so records name the host and not the container).
    #[arg(long, env = "SKEIN_HOST")]
    pub host: Option<String>,
    /// Docker's containers directory as this agent sees it.
    #[arg(
        long,
        env = "SKEIN_DOCKER_ROOT",
        default_value = "/var/lib/docker/containers"
    )]
    pub docker_root: PathBuf,
    /// Do not ask the Docker engine for containers (follow --path files only).
    #[arg(long)]
    pub no_docker: bool,
    /// Follow only containers with this label (`KEY=VALUE`, or `KEY` for any value);
    /// repeat to require several.
    #[arg(long = "include-label", value_name = "KEY[=VALUE]")]
    pub include_labels: Vec<String>,
    /// Also follow files matching this glob (repeatable). `*-json.log` files are read
    /// as Docker json-file, files under /var/log/containers or /var/log/pods as CRI,
    /// others as plain lines.
    #[arg(long = "path", value_name = "GLOB")]
    pub paths: Vec<String>,
    #[command(flatten)]
    pub kubernetes: KubernetesArgs,
    /// Join lines into one record until a line matches this regex (e.g. '^\S' or
    /// '^\d{4}-\d{2}-\d{2}'), for stack traces.
    #[arg(long, value_name = "REGEX")]
    pub multiline_start: Option<String>,
    /// How long a multiline record waits for more lines.
    #[arg(long, default_value_t = 1000)]
    pub multiline_timeout_ms: u64,
    /// Take record times from a time key of JSON/logfmt payloads when present.
    #[arg(long)]
    pub time_from_payload: bool,
    /// Most bytes kept of one log line: a longer line is one record of its first bytes,
    /// with its original length in `fields.skein_truncated_from_bytes`.
    #[arg(long, default_value_t = skein_collector::parse::partial::DEFAULT_MAX_LINE_BYTES)]
    pub max_line_bytes: usize,
    /// Uncompressed size at which a batch is shipped.
    #[arg(long, default_value_t = 1 << 20)]
    pub batch_bytes: usize,
    /// Longest a batch waits while the reader is busy.
    #[arg(long, default_value_t = 1000)]
    pub batch_wait_ms: u64,
    /// Disk spool cap while the server is away; past it the agent stops reading.
    #[arg(long, default_value_t = 256 << 20)]
    pub spool_max_bytes: u64,
    /// How often every file is checked even without a file notification.
    #[arg(long, default_value_t = 1000)]
    pub poll_interval_ms: u64,
    /// Replace secrets in messages and field values before they leave this host
    /// (repeatable): a built-in (bearer, url-password, card, email) or
    /// NAME=REGEX[=REPLACEMENT].
    ///
    /// Built-ins, turned on by name: `bearer` (the token after `Bearer `), `url-password`
    /// (the password of `scheme://user:PASSWORD@host`), `card` (13-19 digit card numbers
    /// that pass the Luhn check), `email`. A rule of your own is NAME=REGEX or
    /// NAME=REGEX=REPLACEMENT: the name ends at the first `=`, the regex at the next `=`
    /// that is not written `\=` (so write every `=` inside the regex as `\=`), and the
    /// rest, `=` included, is the replacement (default `[REDACTED:NAME]`; `$1` or
    /// `${group}` insert a group, `$$` is a `$`). Rules apply in the order given (put
    /// url-password before email) to the message and the string values of fields;
    /// labels, host and container names are left alone. Counted per rule as
    /// skein_agent_redactions_total{rule}. In SKEIN_REDACT, one rule per line.
    #[arg(
        long = "redact",
        value_name = "RULE",
        env = "SKEIN_REDACT",
        value_delimiter = '\n'
    )]
    pub redact: Vec<String>,
}

impl CollectArgs {
    /// The agent configuration for shipping to `server` with state in `state_dir`.
    pub fn config(&self, server: String, state_dir: PathBuf) -> Result<AgentConfig> {
        let mut config = AgentConfig::new(
            server,
            state_dir,
            self.host
                .clone()
                .unwrap_or_else(|| skein_collector::node_name::for_agent(!self.no_docker)),
        );
        config.docker = !self.no_docker;
        config.docker_root = self.docker_root.clone();
        config.paths = self.paths.clone();
        self.kubernetes.apply(&mut config);
        config.include_labels = self.include_labels.clone();
        config.batch_bytes = self.batch_bytes.max(1024);
        config.batch_wait = Duration::from_millis(self.batch_wait_ms);
        config.spool_max_bytes = self.spool_max_bytes;
        config.poll_interval = Duration::from_millis(self.poll_interval_ms.max(10));
        config.read.payload = PayloadConfig {
            time_from_payload: self.time_from_payload,
        };
        config.read.max_line_bytes = self.max_line_bytes.max(1);
        if let Some(rules) = redactor(&self.redact)? {
            tracing::info!("the agent redacts {}", rules.rule_names().join(", "));
            config.read.redact = Some(Arc::new(Redaction::new(rules)));
        }
        if let Some(pattern) = &self.multiline_start {
            let mut ml = MultilineConfig::new(pattern)
                .with_context(|| format!("--multiline-start {pattern:?}"))?;
            ml.flush_after = Duration::from_millis(self.multiline_timeout_ms);
            ml.max_bytes = config.read.max_line_bytes;
            config.read.multiline = Some(ml);
        }
        Ok(config)
    }
}

/// The rules of `--redact` arguments (blank ones, as a trailing newline in SKEIN_REDACT
/// gives, skipped); `None` when there are none.
pub fn redactor(args: &[String]) -> Result<Option<Redactor>> {
    let args: Vec<&str> = args
        .iter()
        .map(|a| a.trim_end_matches('\r'))
        .filter(|a| !a.trim().is_empty())
        .collect();
    if args.is_empty() {
        return Ok(None);
    }
    Ok(Some(Redactor::from_args(&args).context("--redact")?))
}

/// Starts an agent, logging what it follows.
pub fn start(config: AgentConfig, extra: Vec<SourceSpec>) -> Result<Agent> {
    let mut config = config;
    config.sources.extend(extra);
    let host = config.host.clone();
    let server = config.server.clone();
    let agent = Agent::start(config).context("cannot start the agent")?;
    tracing::info!("agent for host {host} shipping to {server}");
    Ok(agent)
}

/// For `skein agent`, makes mimalloc commit memory as it is used instead of whole
/// arenas up front (with transparent huge pages those cost megabytes of resident memory
/// each). The agent's working set is a few megabytes and on a node its resident size is
/// what people watch; the server keeps the default, which is faster for its big heaps.
///
/// mimalloc reads the option when the process starts, before `main`, so the agent
/// re-executes itself once with it set.
pub fn commit_memory_lazily_or_reexec() -> Result<()> {
    use std::os::unix::process::CommandExt;
    const OPTION: &str = "MIMALLOC_ARENA_EAGER_COMMIT";
    let is_agent = std::env::args_os().nth(1).is_some_and(|a| a == "agent");
    if !is_agent || std::env::var_os(OPTION).is_some() {
        return Ok(());
    }
    let exe = std::env::current_exe().context("cannot find the skein executable")?;
    let err = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(OPTION, "0")
        .exec();
    Err(err).context("cannot restart the agent with lazy memory commit")
}

/// Runs `skein agent` until SIGINT or SIGTERM.
pub fn run(args: AgentArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(args.metrics_listen)
            .install()
            .with_context(|| {
                format!(
                    "cannot serve agent metrics on {}; pick another address with --metrics-listen",
                    args.metrics_listen
                )
            })
    })?;
    skein_collector::agent::describe_metrics();
    let mut config = args
        .collect
        .config(args.server.clone(), args.state_dir.clone())?;
    config.connect = args.connect.connect()?;
    let agent = start(config, Vec::new())?;
    tracing::info!("agent metrics on http://{}/metrics", args.metrics_listen);
    rt.block_on(crate::serve::shutdown_signal());
    tracing::info!("stopping: shipping what is read (the rest resumes on the next start)");
    agent.stop();
    Ok(())
}
