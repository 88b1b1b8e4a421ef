//! `skein import FILE|DIR…`: sends existing logs to a server, once.
//!
//! - [`inputs`]: what the paths hold: json-file sets, CRI, NDJSON and plain files, and
//!   the delivery source of each;
//! - [`read`]: a set read into batches with the collector's decoder and encoder, so
//!   records get the `_source_id` and `_seq` the agent gives them;
//! - [`time`]: the time at the start of a plain line;
//! - [`progress`]: the progress bar, or plain lines when stderr is not a terminal.
//!
//! Batches go out with the collector's [`Shipper`] (zstd NDJSON to
//! `POST /api/v1/ingest`, retried with its backoff). Each set is read and shipped by one
//! worker, one batch in flight at a time, so a source's `_seq`s reach the server in
//! order; `--jobs` workers run side by side on different sets. A re-run (after Ctrl-C,
//! or of an import that finished) sends everything again, and the server drops what it
//! already holds by `_seq`: nothing is stored twice.

pub mod inputs;
pub mod progress;
pub mod read;
pub mod time;

use anyhow::{bail, Context, Result};
use inputs::{ImportSet, Kind, Naming};
use progress::{Counters, Display};
use read::{Batch, Outcome, ReadOptions, SetReport};
use skein_collector::agent::default_host;
use skein_collector::parse::multiline::MultilineConfig;
use skein_collector::ship::{Backoff, ShipError, Shipper};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Options of `skein import`.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    /// Files and directories to import. A directory is searched (recursively) for
    /// `*.log` files and their rotated `.N` siblings, `*.ndjson`, `*.jsonl` and `*.txt`.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub server: crate::client::ServerArg,
    /// How files are framed; `auto` decides by name as the agent does (`*-json.log`,
    /// /var/log/containers, /var/log/pods), else by the first line.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: FormatArg,
    /// Node name the records carry, part of their delivery source: the agent's
    /// `--host` (this machine's name by default, as the agent's) makes records the agent
    /// already shipped count as sent.
    #[arg(long, env = "SKEIN_HOST")]
    pub host: Option<String>,
    /// Container name the records carry (by default: the name in Docker's
    /// config.v2.json beside a json-file log, else the short container id, else the
    /// file name without its extension).
    #[arg(long)]
    pub container: Option<String>,
    /// A label every record carries (repeatable).
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Join continuation lines into one record: a line that starts with a time (any
    /// format below, or --time-format's) begins a record, any other line belongs to the
    /// one before (stack traces).
    #[arg(long)]
    pub multiline: bool,
    /// Join lines into one record until a line matches this regex instead (implies
    /// --multiline), e.g. '^\S' or '^\d{4}-\d{2}-\d{2}'.
    #[arg(long, value_name = "REGEX")]
    pub multiline_start: Option<String>,
    /// How plain lines write their time (chrono strftime, e.g. '%y%m%d %H%M%S'), tried
    /// before the common formats. Without a year in it, the year is found as for syslog.
    #[arg(long, value_name = "FORMAT")]
    pub time_format: Option<String>,
    /// Year of times written without one (syslog's `Nov 20 10:00:00`); by default the
    /// current year, or last year for a month still to come.
    #[arg(long)]
    pub year: Option<i32>,
    /// Zone of times written without one: local, UTC, or an offset such as +05:30.
    #[arg(long, default_value = "local")]
    pub timezone: String,
    /// Sets of files read and shipped side by side (each set's batches go in order).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
    /// Uncompressed size at which a batch is sent.
    #[arg(long, default_value_t = 1 << 20)]
    pub batch_bytes: usize,
    /// Seconds between progress lines when stderr is not a terminal.
    #[arg(long, default_value_t = 5.0)]
    pub progress_every: f64,
}

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// Decide per file.
    Auto,
    /// Docker json-file.
    JsonFile,
    /// CRI (containerd, CRI-O).
    Cri,
    /// One JSON object per line.
    Ndjson,
    /// Plain text.
    Plain,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

/// Ctrl-C and SIGTERM seen so far; the second one ends the process at once.
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    if INTERRUPTS.fetch_add(1, Ordering::SeqCst) >= 1 {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(130) };
    }
}

fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installing a handler that only touches an atomic (and _exit).
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// What the workers share.
struct Shared {
    sets: Vec<ImportSet>,
    queue: Mutex<VecDeque<usize>>,
    options: ReadOptions,
    counters: Counters,
    /// Stop reading and shipping (Ctrl-C, or a failure that retrying cannot fix).
    stop: AtomicBool,
    fatal: Mutex<Option<String>>,
    display: Display,
    reports: Mutex<Vec<(usize, SetReport)>>,
}

impl Shared {
    fn fail(&self, why: String) {
        let mut f = self.fatal.lock().expect("fatal lock");
        if f.is_none() {
            *f = Some(why);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Runs `skein import`.
pub fn run(args: ImportArgs) -> Result<()> {
    let started = chrono::Utc::now();
    let zone = time::Zone::parse(&args.timezone)?;
    if let Some(f) = &args.time_format {
        time::LineTimes::check_format(f)?;
    }
    let multiline = match (&args.multiline_start, args.multiline) {
        (Some(p), _) => {
            Some(MultilineConfig::new(p).with_context(|| format!("--multiline-start {p:?}"))?)
        }
        (None, true) => Some(MultilineConfig::new(&multiline_start_pattern(
            args.time_format.as_deref(),
        ))?),
        (None, false) => None,
    };
    let multiline = multiline.map(|mut m| {
        // A file's end flushes every event; no clock is needed while importing.
        m.flush_after = Duration::from_secs(3600);
        m
    });
    let labels: BTreeMap<String, String> = args.labels.iter().cloned().collect();
    let naming = Naming {
        host: args.host.clone().unwrap_or_else(default_host),
        container: args.container.clone(),
        labels: labels.clone(),
    };
    let forced = match args.format {
        FormatArg::Auto => None,
        FormatArg::JsonFile => Some(Kind::JsonFile),
        FormatArg::Cri => Some(Kind::Cri),
        FormatArg::Ndjson => Some(Kind::Ndjson),
        FormatArg::Plain => Some(Kind::Plain),
    };
    let found = inputs::collect(&args.paths, forced, &naming)?;
    let connect = args.server.connect.connect()?;
    let server = args.server.server.trim_end_matches('/').to_string();
    // Checked up front, so a bad CA file or token file is an error before any reading.
    Shipper::new(&server, &connect, Duration::from_secs(60))?;

    let total_bytes: u64 = found.sets.iter().map(|s| s.bytes).sum();
    let files: usize = found.sets.iter().map(|s| s.files.len()).sum();
    let display = Display::new(
        total_bytes,
        Duration::from_secs_f64(args.progress_every.max(0.1)),
    );
    for s in &found.skipped {
        display.notice(s);
    }
    display.notice(&format!(
        "importing {} ({}) from {} in {} to {server}, host {}",
        progress::bytes(total_bytes),
        kinds_summary(&found.sets),
        plural(files, "file"),
        plural(found.sets.len(), "source"),
        naming.host,
    ));
    catch_signals();
    let shared = Arc::new(Shared {
        queue: Mutex::new((0..found.sets.len()).collect()),
        sets: found.sets,
        options: ReadOptions {
            batch_bytes: args.batch_bytes.max(1024),
            multiline,
            time_format: args.time_format.clone(),
            year: args.year,
            zone,
            started,
            max_line_bytes: skein_collector::tail::DEFAULT_MAX_LINE_BYTES,
            host: args.host.clone(),
            container: args.container.clone(),
            labels,
        },
        counters: Counters::default(),
        stop: AtomicBool::new(false),
        fatal: Mutex::new(None),
        display,
        reports: Mutex::new(Vec::new()),
    });

    let clock = Instant::now();
    let mut threads = Vec::new();
    for w in 0..args.jobs.clamp(1, 64) {
        let (tx, rx) = mpsc::sync_channel::<Batch>(2);
        let reader = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name(format!("import-read-{w}"))
                .spawn(move || read_worker(&shared, tx))?
        };
        let shipper = {
            let shared = shared.clone();
            let shipper = Shipper::new(&server, &connect, Duration::from_secs(60))?;
            std::thread::Builder::new()
                .name(format!("import-ship-{w}"))
                .spawn(move || ship_worker(&shared, shipper, rx))?
        };
        threads.push(reader);
        threads.push(shipper);
    }
    while !threads.iter().all(|t| t.is_finished()) {
        if INTERRUPTS.load(Ordering::SeqCst) > 0 && !shared.stop.load(Ordering::SeqCst) {
            shared.stop.store(true, Ordering::SeqCst);
            shared.display.notice(
                "interrupted: finishing the batches in flight (Ctrl-C again to quit at once)",
            );
        }
        shared.display.tick(&shared.counters, clock.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    for t in threads {
        t.join().expect("import thread");
    }
    let elapsed = clock.elapsed();
    shared.display.finish(&shared.counters, elapsed);

    let mut reports = std::mem::take(&mut *shared.reports.lock().expect("reports lock"));
    reports.sort_by_key(|(i, _)| *i);
    for (i, r) in &reports {
        report_notices(
            &shared.display,
            &shared.sets[*i],
            r,
            args.time_format.is_some(),
        );
    }
    let c = shared.counters.snapshot();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let summary = format!(
        "{} records sent in {:.1} s ({} records/s, {}/s of files): {} stored, {} the server held already (sent before), {} rejected",
        progress::count(c.records),
        secs,
        progress::count((c.records as f64 / secs) as u64),
        progress::bytes((c.bytes as f64 / secs) as u64),
        progress::count(c.accepted),
        progress::count(c.duplicates),
        progress::count(c.rejected),
    );
    let busy = shared.counters.busy.load(Ordering::SeqCst);
    let summary = if busy > 0 {
        format!(
            "{summary}; the server asked to wait {} while it indexed",
            plural(busy, "time")
        )
    } else {
        summary
    };
    if let Some(why) = shared.fatal.lock().expect("fatal lock").take() {
        shared.display.notice(&summary);
        bail!("{why}");
    }
    if INTERRUPTS.load(Ordering::SeqCst) > 0 {
        shared.display.notice(&summary);
        shared.display.notice(&format!(
            "interrupted after {} of {}; run the same command again to go on: what the server holds already is not stored twice",
            progress::bytes(c.bytes),
            progress::bytes(total_bytes)
        ));
        std::process::exit(130);
    }
    let failed = shared.counters.failed_sets.load(Ordering::SeqCst);
    if failed > 0 {
        shared.display.notice(&summary);
        bail!(
            "{} could not be read (see above); the rest was imported",
            plural(failed, "source")
        );
    }
    shared.display.notice(&format!(
        "done: {} from {}; {summary}",
        progress::bytes(c.bytes),
        plural(files, "file")
    ));
    Ok(())
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{} {what}s", progress::count(n as u64))
    }
}

/// The regex `--multiline` starts records with: a line beginning with a time in one of
/// the formats read without help (or, with `--time-format`, any digit or a month name,
/// as most formats begin).
fn multiline_start_pattern(time_format: Option<&str>) -> String {
    let months = "(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)";
    let days = "(?i:mon|tue|wed|thu|fri|sat|sun)";
    let mut alternatives = vec![
        // ISO 8601 / RFC 3339, with - or / in the date.
        r"\d{4}[-/]\d{2}[-/]\d{2}[T ]\d{2}:\d{2}:\d{2}".to_string(),
        // syslog.
        format!(r"{months} [ \d]\d \d{{2}}:\d{{2}}:\d{{2}}"),
        // ctime.
        format!(r"{days} {months} [ \d]\d \d{{2}}:\d{{2}}:\d{{2}}"),
        // logcat.
        r"\d{2}-\d{2} \d{2}:\d{2}:\d{2}".to_string(),
        // Unix time.
        r"\d{10}(?:\d{3})?(?:\D|$)".to_string(),
    ];
    if time_format.is_some() {
        alternatives.push(format!(r"\d|{months}"));
    }
    format!(r"^(?:<\d{{1,3}}>(?:1 )?)?\[?(?:{})", alternatives.join("|"))
}

fn kinds_summary(sets: &[ImportSet]) -> String {
    let mut n: BTreeMap<&str, usize> = BTreeMap::new();
    for s in sets {
        *n.entry(s.kind.name()).or_default() += 1;
    }
    n.iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Notices about how a set's records were timed.
fn report_notices(display: &Display, set: &ImportSet, r: &SetReport, has_format: bool) {
    let name = set.key.display();
    if r.malformed > 0 {
        display.notice(&format!(
            "{name}: {} lines were not valid {} frames; they were sent as plain text with fields.skein_decode_error",
            r.malformed,
            set.kind.name()
        ));
    }
    if r.held_back > 0 {
        display.notice(&format!(
            "{name}: the last {} were left out: a line the container was still writing (the file changed in the last minute); the agent sends it once it is finished, or import again later",
            progress::bytes(r.held_back)
        ));
    }
    if let Some(y) = r.guessed_year {
        display.notice(&format!(
            "{name}: times without a year were taken to be in {y} (pass --year to choose)"
        ));
    }
    if r.untimed + r.inherited > 0 {
        let hint = if has_format {
            "check --time-format"
        } else {
            "if they carry one in another format, pass --time-format"
        };
        let mut parts = Vec::new();
        if r.inherited > 0 {
            parts.push(format!(
                "{} were given the time of the record before them",
                progress::count(r.inherited)
            ));
        }
        if r.untimed > 0 {
            parts.push(format!(
                "{} (with no timed record before them) the time of the import",
                progress::count(r.untimed)
            ));
        }
        display.notice(&format!(
            "{name}: {} of {} records carry no time skein can read: {}; {hint}",
            progress::count(r.inherited + r.untimed),
            progress::count(r.records),
            parts.join(", "),
        ));
    }
}

fn read_worker(shared: &Shared, tx: mpsc::SyncSender<Batch>) {
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(i) = shared.queue.lock().expect("queue lock").pop_front() else {
            return;
        };
        let set = &shared.sets[i];
        let mut send = |b: Batch| tx.send(b).is_ok() && !shared.stop.load(Ordering::SeqCst);
        match read::read_set(i, set, &shared.options, &shared.stop, &mut send) {
            Ok(Outcome::Done(report)) => {
                shared
                    .reports
                    .lock()
                    .expect("reports lock")
                    .push((i, report));
            }
            Ok(Outcome::Stopped) => return,
            Err(e) => {
                // One unreadable file does not stop the rest; the run fails at the end.
                shared.counters.failed_sets.fetch_add(1, Ordering::SeqCst);
                shared
                    .display
                    .notice(&format!("{e:#}; going on with the other files"));
            }
        }
    }
}

fn ship_worker(shared: &Shared, shipper: Shipper, rx: mpsc::Receiver<Batch>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
    let mut rejected_shown = 0usize;
    while let Ok(batch) = rx.recv() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if batch.records == 0 {
            shared.counters.add_bytes(batch.bytes);
            continue;
        }
        loop {
            // A request under way is let finish, even after Ctrl-C: its answer says
            // what the server holds; a second Ctrl-C ends the process anyway.
            match rt.block_on(shipper.send(batch.body.clone())) {
                Ok(ack) => {
                    backoff.reset();
                    shared.counters.add_ack(&batch, &ack);
                    for r in &ack.rejected {
                        if rejected_shown < 10 {
                            shared.display.notice(&format!(
                                "the server rejected a record from {}: {} (line {} of its batch)",
                                shared.sets[batch.set].key.display(),
                                r.error,
                                r.line
                            ));
                        }
                        rejected_shown += 1;
                    }
                    break;
                }
                Err(e) => {
                    if let Some(why) = permanent(&e, shared.counters.delivered()) {
                        shared.fail(why);
                        return;
                    }
                    let wait = backoff.next(e.retry_after());
                    let busy = matches!(e, ShipError::Refused { status: 429, .. });
                    if busy {
                        // Back-pressure is the server working as meant: said once a run.
                        if shared.counters.busy.fetch_add(1, Ordering::SeqCst) == 0 {
                            shared.display.notice(&format!(
                                "{e}; waiting as asked (said once; counted in the summary)"
                            ));
                        }
                    } else if backoff.failures() == 1 || backoff.failures().is_multiple_of(10) {
                        shared
                            .display
                            .notice(&format!("{e}; retrying in {:.1} s", wait.as_secs_f64()));
                    }
                    let until = Instant::now() + wait;
                    while Instant::now() < until {
                        if shared.stop.load(Ordering::SeqCst) {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
            }
        }
    }
}

/// Whether a failed send is worth retrying: `Some(reason)` when it is not (the request
/// itself is refused, or the server was never reached at all).
fn permanent(e: &ShipError, delivered_any: bool) -> Option<String> {
    match e {
        ShipError::Refused { status, .. }
            if (400..500).contains(status) && ![408, 429].contains(status) =>
        {
            Some(e.to_string())
        }
        ShipError::Unreachable { .. } if !delivered_any => Some(format!(
            "{e}; nothing was sent (check --server, or start the server first)"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_start_matches_time_starts_only() {
        let re = regex::Regex::new(&multiline_start_pattern(None)).unwrap();
        for starts in [
            "2015-10-18 18:01:47,978 INFO [main] x",
            "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: x",
            "Jul  1 09:00:55 host kernel[0]: x",
            "[Sun Dec 04 04:47:44 2005] [notice] x",
            "03-17 16:13:38.811  1702  2395 D x",
            "<34>Oct 11 22:14:15 mymachine su: x",
            "1763632800 x",
        ] {
            assert!(re.is_match(starts), "{starts}");
        }
        for continues in [
            "\tat org.apache.Foo.bar(Foo.java:12)",
            "java.lang.IllegalStateException: boom",
            "Caused by: java.io.IOException",
            "  ... 12 more",
            "",
        ] {
            assert!(!re.is_match(continues), "{continues}");
        }
        let custom = regex::Regex::new(&multiline_start_pattern(Some("%y%m%d"))).unwrap();
        assert!(custom.is_match("081109 203615 148 INFO"));
        assert!(!custom.is_match("\tat x"));
    }
}
