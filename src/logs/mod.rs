//! `skein logs NAME…`: `docker logs` across every host that ships to the server.
//!
//! - [`names`] turns a NAME (container, compose service, regex, or a Kubernetes
//!   `pod/NAME`) into a query, and checks that it names something the server has seen.
//! - [`stream`]: the `GET /api/v1/tail` connection, with reconnect and resume.
//! - [`render`]: a record as a line in the chosen output format.
//! - [`pin`]: the `-p N` live window.

mod names;
mod pin;
mod render;
mod stream;

use anyhow::{bail, Context, Result};
use render::{Output, Style};
use skein_model::{Record, Timestamp};
use std::io::{IsTerminal, Write};
use std::sync::mpsc;

/// Options of `skein logs`.
#[derive(clap::Args, Debug, Clone)]
pub struct LogsArgs {
    /// Container names, compose services or regexes (`'^api-'`), or Kubernetes pods as
    /// `pod/NAME` (a regex too: `'pod/^web-'`); none means every container.
    pub names: Vec<String>,
    /// Keep printing new lines as they arrive.
    #[arg(short, long)]
    pub follow: bool,
    /// Lines to show from the end of the history: a number or `all` (the default).
    #[arg(long = "tail", value_name = "N")]
    pub tail: Option<String>,
    /// With a `pod/NAME`, the namespace (as `kubectl logs -n`); otherwise the lines to
    /// show from the end (`--tail`, as `docker logs -n`).
    #[arg(short = 'n', value_name = "N|NAMESPACE")]
    pub n: Option<String>,
    /// Only pods of this Kubernetes namespace (without it, `pod/NAME` is looked for in
    /// every namespace).
    #[arg(long = "namespace", value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Only this container of the pods (as `kubectl logs -c`).
    #[arg(short = 'c', long = "container", value_name = "NAME")]
    pub container: Option<String>,
    /// Only lines at or after this time: RFC 3339 (no zone = local time), Unix
    /// seconds or a duration back from now (10m, 1h30m).
    #[arg(long)]
    pub since: Option<String>,
    /// Only lines at or before this time (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// Show each line's timestamp.
    #[arg(short, long)]
    pub timestamps: bool,
    /// Keep a live window of the last N lines, redrawn in place (implies --follow).
    #[arg(short = 'p', long = "pin", value_name = "N")]
    pub pin: Option<usize>,
    /// Only lines matching this query (the search query language).
    #[arg(long)]
    pub query: Option<String>,
    /// Only lines from this host.
    #[arg(long)]
    pub host: Option<String>,
    /// Only this stream.
    #[arg(long, value_parser = ["stdout", "stderr"])]
    pub stream: Option<String>,
    /// text (prefixed, coloured on a terminal), json (one record per line) or raw
    /// (the message only).
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    /// Print control characters from the records as sent, escape sequences included;
    /// by default they are shown escaped (`\x1b`) when stdout is a terminal. Not with
    /// -p, whose window must stay one screen line per record.
    #[arg(long, conflicts_with = "pin")]
    pub raw_control: bool,
    /// The skein server.
    #[arg(long, env = "SKEIN_SERVER", default_value = "http://127.0.0.1:9280")]
    pub server: String,
    #[command(flatten)]
    pub connect: crate::client::ConnectArgs,
}

/// What the connection and the terminal tell the printer.
pub enum Event {
    /// A record to print.
    Record(Box<Record>),
    /// Something to say on stderr.
    Notice(String),
    /// The stream is over.
    End,
    /// The user asked to quit (pinned view).
    Quit,
    /// The terminal changed size (pinned view).
    Resize,
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What `-n` means here: with a `pod/NAME` among the NAMEs the namespace, as in
/// `kubectl logs`, else the tail, as in `docker logs`. Answers (tail, namespace).
fn tail_and_namespace(parsed: &[names::Name], args: &LogsArgs) -> Result<(String, Option<String>)> {
    let kubectl = parsed.iter().any(names::Name::is_pod);
    if kubectl {
        if args.n.is_some() && args.namespace.is_some() {
            bail!("-n and --namespace both name the namespace; give one");
        }
        let ns = args.n.clone().or_else(|| args.namespace.clone());
        Ok((args.tail.clone().unwrap_or_else(|| "all".into()), ns))
    } else {
        if args.n.is_some() && args.tail.is_some() {
            bail!("-n and --tail both give the number of lines; give one");
        }
        let tail = args.n.clone().or_else(|| args.tail.clone());
        Ok((tail.unwrap_or_else(|| "all".into()), args.namespace.clone()))
    }
}

/// The query of the field filters, without the NAMEs.
fn filters(args: &LogsArgs, namespace: Option<&str>) -> String {
    let mut parts = Vec::new();
    if let Some(ns) = namespace {
        parts.push(format!("{}:{}", names::NAMESPACE_FIELD, quote(ns)));
    }
    if let Some(c) = &args.container {
        parts.push(format!("{}:{}", names::CONTAINER_FIELD, quote(c)));
    }
    if let Some(h) = &args.host {
        parts.push(format!("host:{}", quote(h)));
    }
    if let Some(s) = &args.stream {
        parts.push(format!("stream:{s}"));
    }
    if let Some(q) = args.query.as_deref().filter(|q| !q.trim().is_empty()) {
        parts.push(format!("({q})"));
    }
    parts.join(" AND ")
}

/// Runs `skein logs`.
pub fn run(args: LogsArgs) -> Result<()> {
    if args.pin == Some(0) {
        bail!("-p needs a window of at least 1 line");
    }
    let server = args.server.trim_end_matches('/').to_string();
    let now = Timestamp::now();
    let since = args
        .since
        .as_deref()
        .map(|s| crate::timearg::parse(s, now).context("--since"))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| crate::timearg::parse(s, now).context("--until"))
        .transpose()?;
    let parsed = args
        .names
        .iter()
        .map(|n| names::Name::parse(n))
        .collect::<Result<Vec<_>>>()?;
    let (tail, namespace) = tail_and_namespace(&parsed, &args)?;
    let n = match tail.trim() {
        "all" | "-1" => None,
        t => Some(t.parse::<usize>().map_err(|_| {
            anyhow::anyhow!(
                "--tail/-n {t:?}: use a number of lines or `all` (-n is the namespace only with a pod/NAME; otherwise use --namespace {t})"
            )
        })?),
    };
    let pin = args.pin;
    let n = match (pin, n) {
        (Some(p), None) => Some(p),
        (Some(p), Some(k)) => Some(k.min(p)),
        (None, n) => n,
    };
    let extra = filters(&args, namespace.as_deref());
    let names_q = parsed
        .iter()
        .map(names::Name::query)
        .collect::<Vec<_>>()
        .join(" OR ");
    let q = match (names_q.is_empty(), extra.is_empty()) {
        (true, _) => extra.clone(),
        (false, true) => names_q.clone(),
        (false, false) => format!("({names_q}) AND {extra}"),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let client = args
        .connect
        .connect()?
        .async_builder()?
        .connect_timeout(std::time::Duration::from_secs(5))
        .build()
        .context("cannot build the HTTP client")?;
    let known = rt.block_on(names::check(
        &client,
        &server,
        &parsed,
        &extra,
        namespace.as_deref(),
    ))?;
    let stdout_tty = std::io::stdout().is_terminal();
    let colour = stdout_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let single = parsed.len() == 1 && !parsed[0].is_regex() && known.containers <= 1;
    let style = Style::new(
        args.output,
        colour,
        !single,
        known.hosts > 1,
        args.timestamps,
        // Files and pipes get the bytes as sent; a terminal would obey them.
        stdout_tty && !args.raw_control,
    );
    let spec = stream::TailSpec {
        server: server.clone(),
        q,
        since: since.map(Timestamp::to_rfc3339),
        until: until.map(Timestamp::to_rfc3339),
        n,
        follow: args.follow || pin.is_some(),
    };
    let (tx, rx) = mpsc::sync_channel::<Event>(4096);
    let net_tx = tx.clone();
    let net = std::thread::spawn(move || {
        let r = rt.block_on(stream::run(&client, &spec, &net_tx));
        if let Err(e) = &r {
            // The printer is waiting for the end either way.
            let _ = net_tx.send(Event::End);
            return Err(anyhow::anyhow!("{e:#}"));
        }
        r
    });
    let printed = match pin {
        Some(p) if stdout_tty => pin::run(p, style, rx, tx),
        _ => {
            drop(tx);
            print(style, rx).map(|()| true)
        }
    };
    match printed {
        // The stream ended: the network thread has its outcome.
        Ok(true) => net.join().expect("network thread does not panic"),
        // Quit from the pinned view: the process exit closes the connection.
        Ok(false) => Ok(()),
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Prints lines as they come, flushing whenever the queue is empty.
fn print(mut style: Style, rx: mpsc::Receiver<Event>) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while let Ok(first) = rx.recv() {
        for ev in std::iter::once(first).chain(rx.try_iter()) {
            match ev {
                Event::Record(r) => writeln!(out, "{}", style.line(&r).render())?,
                Event::Notice(t) => {
                    out.flush()?;
                    eprintln!("skein: {t}");
                }
                Event::End => {
                    out.flush()?;
                    return Ok(());
                }
                Event::Quit | Event::Resize => {}
            }
        }
        out.flush()?;
    }
    Ok(())
}
