//! The agent: discovery, reader and shipper threads around the spool and checkpoint.
//!
//! - The **reader** thread owns every [`Source`]. It sleeps until a file changes (or the
//!   poll timer fires), reads what changed, writes records into the open batch and cuts
//!   the batch when it is full, old enough, or the reader has caught up while the
//!   shipper is idle (so a quiet system ships each line at once and a busy one ships
//!   big batches). A cut batch is compressed and appended to the [`Spool`]; when the
//!   spool is at its cap the reader waits, so a long outage stops reading instead of
//!   dropping or growing memory.
//! - The **shipper** thread sends the oldest unacknowledged batch, retrying with
//!   jittered backoff, and only after the server's acknowledgement applies the batch's
//!   position updates to the [`Checkpoint`] and hands it to the saver. One batch is in
//!   flight at a time, which keeps every source's `_seq` in order.
//! - The **checkpoint** thread saves the newest acknowledged checkpoint (at most every
//!   200 ms) and only then frees the spool space of the batches it covers. Its fsyncs
//!   stay off the path from file to server: under disk contention one fsync can take
//!   hundreds of milliseconds, and saving between every two batches put two of them
//!   (plus the server's WAL fsync) in front of every line.
//! - **Discovery** (Docker events and `--path` globs) runs on its own small runtime and
//!   hands [`SourceSpec`]s to the reader.
//!
//! A restart resumes from the checkpoint, resends spooled batches after it, and reads on
//! from the positions of the newest spooled batch: nothing acknowledged is lost and
//! nothing is sent twice (the server's `_seq` dedupe is a second guard).

use crate::checkpoint::{
    apply, Checkpoint, CheckpointError, CheckpointStore, SourceState, Updates,
};
use crate::discover::docker::DockerDiscovery;
use crate::discover::{paths, SourceSpec};
use crate::ship::{Backoff, ShipError, Shipper};
use crate::source::{ReadOptions, Scratch, Source};
use crate::spool::{Spool, SpoolError, SpooledBatch};
use crate::wake::{DirWatcher, Wake};
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why the agent could not start.
#[derive(Debug, Error)]
pub enum AgentError {
    /// The state directory cannot be used.
    #[error("agent state directory {path}: {source} (pass a writable --state-dir)")]
    StateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Another agent uses the state directory.
    #[error("another skein agent is using the state directory {0}; stop it or pass a different --state-dir")]
    Locked(PathBuf),
    /// The client cannot be set up (token or CA file).
    #[error(transparent)]
    Connect(#[from] skein_connect::ConnectError),
    /// The checkpoint cannot be read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The spool cannot be read.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// A `--path` pattern is not a valid glob.
    #[error("--path {pattern:?} is not a valid glob: {reason}")]
    Pattern {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The server, e.g. `http://127.0.0.1:9280`.
    pub server: String,
    /// The token presented to it and the certificates trusted.
    pub connect: skein_connect::Connect,
    /// The node name records carry.
    pub host: String,
    /// Where the checkpoint and spool live.
    pub state_dir: PathBuf,
    /// Whether to ask the Docker engine for containers.
    pub docker: bool,
    /// Docker's `containers` directory as this agent sees it.
    pub docker_root: PathBuf,
    /// Only containers with all of these labels (`key=value` or `key`).
    pub include_labels: Vec<String>,
    /// Globs of other files to follow.
    pub paths: Vec<String>,
    /// Sources given directly (demo sources, tests).
    pub sources: Vec<SourceSpec>,
    /// Uncompressed bytes at which a batch is cut.
    pub batch_bytes: usize,
    /// Age at which a batch is cut even if the reader is still busy.
    pub batch_wait: Duration,
    /// Spool size past which reading stops until the server catches up.
    pub spool_max_bytes: u64,
    /// How often every file is checked even without a notification.
    pub poll_interval: Duration,
    /// How often `--path` globs are expanded again.
    pub rescan_interval: Duration,
    /// How lines are parsed.
    pub read: ReadOptions,
    /// Time allowed on shutdown to deliver what is spooled.
    pub shutdown_grace: Duration,
}

impl AgentConfig {
    /// Defaults for an agent shipping to `server` with state in `state_dir`.
    pub fn new(
        server: impl Into<String>,
        state_dir: impl Into<PathBuf>,
        host: impl Into<String>,
    ) -> AgentConfig {
        AgentConfig {
            server: server.into(),
            connect: skein_connect::Connect::default(),
            host: host.into(),
            state_dir: state_dir.into(),
            docker: true,
            docker_root: PathBuf::from("/var/lib/docker/containers"),
            include_labels: Vec::new(),
            paths: Vec::new(),
            sources: Vec::new(),
            batch_bytes: 1 << 20,
            batch_wait: Duration::from_secs(1),
            spool_max_bytes: 256 << 20,
            poll_interval: Duration::from_secs(1),
            rescan_interval: Duration::from_secs(2),
            read: ReadOptions {
                max_line_bytes: crate::parse::partial::DEFAULT_MAX_LINE_BYTES,
                payload: Default::default(),
                multiline: None,
            },
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// The spool shared by reader, shipper and saver, with one condition for "something changed".
struct Queue {
    spool: Mutex<Spool>,
    changed: Condvar,
    /// The newest batch the server acknowledged. Batches up to it stay spooled until a
    /// saved checkpoint covers them, but they are no longer "in flight".
    delivered: AtomicU64,
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Spool> {
        self.spool.lock().expect("spool lock")
    }

    /// Whether every spooled batch has been acknowledged (the shipper is idle).
    fn all_delivered(&self) -> bool {
        let delivered = self.delivered.load(Ordering::SeqCst);
        self.lock().last_no().is_none_or(|n| n <= delivered)
    }
}

/// The newest acknowledged checkpoint, handed from the shipper to the saver.
#[derive(Default)]
struct ToSave {
    checkpoint: Option<Checkpoint>,
    /// The shipper has ended: save what is pending and stop.
    last: bool,
}

/// [`ToSave`] with the condition the saver waits on.
#[derive(Default)]
struct Saves {
    state: Mutex<ToSave>,
    changed: Condvar,
}

impl Saves {
    fn lock(&self) -> std::sync::MutexGuard<'_, ToSave> {
        self.state.lock().expect("checkpoint hand-off lock")
    }

    /// Replaces what is waiting to be saved with a newer checkpoint.
    fn put(&self, checkpoint: Checkpoint) {
        self.lock().checkpoint = Some(checkpoint);
        self.changed.notify_all();
    }

    /// Tells the saver that nothing more comes.
    fn finish(&self) {
        self.lock().last = true;
        self.changed.notify_all();
    }
}

/// Flags the threads share.
#[derive(Default)]
struct Flags {
    /// Stop reading; cut what is open.
    stop: AtomicBool,
    /// The reader has cut its last batch.
    reader_done: AtomicBool,
    /// Stop shipping now, even with batches left.
    abandon: AtomicBool,
}

/// A running agent. Dropping it without [`stop`](Agent::stop) leaves its threads
/// running until the process exits.
pub struct Agent {
    flags: Arc<Flags>,
    wake: Wake,
    queue: Arc<Queue>,
    grace: Duration,
    threads: Vec<JoinHandle<()>>,
    discovery: Option<(tokio::sync::oneshot::Sender<()>, JoinHandle<()>)>,
    _lock: File,
}

impl Agent {
    /// Recovers the checkpoint and spool and starts following.
    pub fn start(config: AgentConfig) -> Result<Agent, AgentError> {
        let state_dir = &config.state_dir;
        let dir_err = |source| AgentError::StateDir {
            path: state_dir.clone(),
            source,
        };
        fs::create_dir_all(state_dir).map_err(dir_err)?;
        let lock = File::create(state_dir.join("lock")).map_err(dir_err)?;
        // SAFETY: flock on a file descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(AgentError::Locked(state_dir.clone()));
        }
        for pattern in &config.paths {
            glob::Pattern::new(pattern).map_err(|e| AgentError::Pattern {
                pattern: pattern.clone(),
                reason: e.to_string(),
            })?;
        }

        let store = CheckpointStore::new(state_dir);
        let checkpoint = store.load()?;
        let (mut spool, mut kept) = Spool::open(&state_dir.join("spool"), checkpoint.acked_batch)?;
        if kept
            .first()
            .is_some_and(|b| b.no != checkpoint.acked_batch + 1)
        {
            tracing::warn!(
                "the agent spool does not continue the checkpoint (batch {} after {}); discarding it and re-reading from the checkpoint",
                kept[0].no,
                checkpoint.acked_batch
            );
            spool.ack(u64::MAX)?;
            kept.clear();
        }
        if checkpoint.acked_batch == 0 && kept.is_empty() && checkpoint.sources.is_empty() {
            tracing::info!("agent starting fresh in {}", state_dir.display());
        }
        let mut resume = checkpoint.sources.clone();
        for batch in &kept {
            match serde_json::from_slice::<Updates>(&batch.positions) {
                Ok(updates) => apply(&mut resume, updates),
                Err(e) => {
                    tracing::warn!("spooled batch {} has unreadable positions: {e}", batch.no)
                }
            }
        }
        let next_no = checkpoint.acked_batch + 1 + kept.len() as u64;
        if !kept.is_empty() {
            tracing::info!("{} spooled batches to resend", kept.len());
        }
        drop(kept);
        // A stale tmp file from a crash mid-save is harmless; remove it for tidiness.
        let _ = fs::remove_file(state_dir.join("checkpoint.json.tmp"));

        let queue = Arc::new(Queue {
            spool: Mutex::new(spool),
            changed: Condvar::new(),
            delivered: AtomicU64::new(checkpoint.acked_batch),
        });
        let saves = Arc::new(Saves::default());
        let flags = Arc::new(Flags::default());
        let wake = Wake::new();
        let (spec_tx, spec_rx) = mpsc::channel();
        for spec in &config.sources {
            let _ = spec_tx.send(spec.clone());
        }

        let mut threads = Vec::new();
        let reader = Reader::new(
            &config,
            resume,
            spec_rx,
            queue.clone(),
            flags.clone(),
            wake.clone(),
            next_no,
        );
        threads.push(
            std::thread::Builder::new()
                .name("skein-agent-reader".into())
                .spawn(move || reader.run())
                .expect("spawning a thread"),
        );
        let shipper = ShipperLoop {
            shipper: Shipper::new(&config.server, &config.connect, Duration::from_secs(60))?,
            quarantine: config.state_dir.join("quarantine"),
            checkpoint,
            queue: queue.clone(),
            flags: flags.clone(),
            wake: wake.clone(),
            saves: saves.clone(),
        };
        threads.push(
            std::thread::Builder::new()
                .name("skein-agent-shipper".into())
                .spawn(move || shipper.run())
                .expect("spawning a thread"),
        );
        let saver = Saver {
            store,
            queue: queue.clone(),
            flags: flags.clone(),
            saves,
        };
        threads.push(
            std::thread::Builder::new()
                .name("skein-agent-checkpoint".into())
                .spawn(move || saver.run())
                .expect("spawning a thread"),
        );
        let discovery = spawn_discovery(&config, spec_tx, wake.clone());
        Ok(Agent {
            flags,
            wake,
            queue,
            grace: config.shutdown_grace,
            threads,
            discovery: Some(discovery),
            _lock: lock,
        })
    }

    /// Stops reading, gives the shipper the configured grace to deliver what is
    /// spooled (the rest waits in the spool for the next start) and joins the threads.
    pub fn stop(mut self) {
        if let Some((tx, handle)) = self.discovery.take() {
            let _ = tx.send(());
            let _ = handle.join();
        }
        self.flags.stop.store(true, Ordering::SeqCst);
        self.wake.poke();
        self.queue.changed.notify_all();
        let deadline = Instant::now() + self.grace;
        let mut threads = std::mem::take(&mut self.threads).into_iter();
        if let Some(reader) = threads.next() {
            let _ = reader.join();
        }
        while Instant::now() < deadline && !self.queue.lock().is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.flags.abandon.store(true, Ordering::SeqCst);
        self.queue.changed.notify_all();
        for t in threads {
            let _ = t.join();
        }
    }
}

fn spawn_discovery(
    config: &AgentConfig,
    specs: Sender<SourceSpec>,
    wake: Wake,
) -> (tokio::sync::oneshot::Sender<()>, JoinHandle<()>) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let docker = config.docker.then(|| DockerDiscovery {
        docker_root: config.docker_root.clone(),
        host: config.host.clone(),
        retry: Duration::from_secs(5),
        include_labels: config.include_labels.clone(),
    });
    let patterns = config.paths.clone();
    let host = config.host.clone();
    let rescan = config.rescan_interval;
    let handle = std::thread::Builder::new()
        .name("skein-agent-discovery".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime");
            rt.block_on(async move {
                let report = {
                    let specs = specs.clone();
                    let wake = wake.clone();
                    move |spec: SourceSpec| {
                        let ok = specs.send(spec).is_ok();
                        wake.poke();
                        ok
                    }
                };
                let docker = async move {
                    match docker {
                        Some(d) => d.run(report).await,
                        None => std::future::pending().await,
                    }
                };
                let globs = async move {
                    if patterns.is_empty() {
                        return std::future::pending().await;
                    }
                    let mut seen = std::collections::HashSet::new();
                    loop {
                        match paths::expand(&patterns) {
                            Ok(found) => {
                                for path in found {
                                    if seen.insert(path.clone()) {
                                        let _ = specs.send(paths::spec_for(&path, &host));
                                        wake.poke();
                                    }
                                }
                            }
                            Err(e) => tracing::warn!("bad --path pattern: {e}"),
                        }
                        // Files that went away may come back; let them be reported again.
                        seen.retain(|p: &PathBuf| p.exists());
                        tokio::time::sleep(rescan).await;
                    }
                };
                tokio::select! {
                    _ = stop_rx => {}
                    _ = docker => {}
                    _ = globs => {}
                }
            });
        })
        .expect("spawning a thread");
    (stop_tx, handle)
}

/// The `source` label of a file's lag: the container name (what people search by),
/// or the path of a plain file.
fn lag_label(source: &Source) -> String {
    let spec = source.spec();
    if spec.meta.container_id == spec.path.display().to_string() {
        spec.key.clone()
    } else {
        spec.meta.container_name().to_string()
    }
}

/// How much one source may read per round, so one busy file cannot starve the rest.
const ROUND_BYTES: usize = 256 << 10;
/// Wait before a source that could not be opened is tried again.
const RETRY_OPEN: Duration = Duration::from_secs(5);
/// Shortest time between checkpoint saves: the longest the saved checkpoint lags the
/// acknowledgements (plus one save).
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);
/// How often sources with recent data are polled without a notification.
const WARM_POLL: Duration = Duration::from_millis(50);
/// How long a source counts as warm after its last data.
const WARM_FOR: Duration = Duration::from_secs(3);
/// How long a source stays finished (file gone, all read) before it is dropped.
const RETIRE_AFTER: Duration = Duration::from_secs(5);
/// Shortest time between rounds woken by file events.
const MIN_ROUND: Duration = Duration::from_millis(10);

struct Reader {
    config: AgentConfig,
    sources: BTreeMap<String, Source>,
    by_dir: HashMap<PathBuf, Vec<String>>,
    resume: BTreeMap<String, SourceState>,
    specs: Receiver<SourceSpec>,
    queue: Arc<Queue>,
    flags: Arc<Flags>,
    wake: Wake,
    watcher: DirWatcher,
    next_no: u64,
    batch: Vec<u8>,
    records: u32,
    opened: Option<Instant>,
    touched: Vec<String>,
    updates: Updates,
    last_full_poll: Instant,
    /// Sources that could not be opened, with when they were last tried; retried on
    /// the poll timer, since discovery may never name them again.
    failed_opens: HashMap<String, (Instant, SourceSpec)>,
    scratch: Scratch,
    /// Sources that had data lately, with when: polled every [`WARM_POLL`] whatever
    /// notifications say, so a busy file's rotations are seen even when inotify events
    /// are late or lost.
    warm: HashMap<String, Instant>,
    last_warm_poll: Instant,
}

impl Reader {
    fn new(
        config: &AgentConfig,
        resume: BTreeMap<String, SourceState>,
        specs: Receiver<SourceSpec>,
        queue: Arc<Queue>,
        flags: Arc<Flags>,
        wake: Wake,
        next_no: u64,
    ) -> Reader {
        Reader {
            config: config.clone(),
            sources: BTreeMap::new(),
            by_dir: HashMap::new(),
            resume,
            specs,
            queue,
            flags,
            watcher: DirWatcher::new(wake.clone()),
            wake,
            next_no,
            batch: Vec::with_capacity(config.batch_bytes + ROUND_BYTES * 2),
            records: 0,
            opened: None,
            touched: Vec::new(),
            updates: Updates::new(),
            last_full_poll: Instant::now(),
            failed_opens: HashMap::new(),
            scratch: Scratch::default(),
            warm: HashMap::new(),
            last_warm_poll: Instant::now(),
        }
    }

    fn run(mut self) {
        // Sources known from before the restart are followed even if discovery never
        // names them again (a container removed while the agent was down still has
        // its last lines read, if its file is still there).
        let known: Vec<(String, SourceState)> = self
            .resume
            .iter()
            .filter(|(_, s)| s.position.is_some())
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        for (key, state) in known {
            let spec = SourceSpec {
                key,
                format: crate::decode::Format::for_path(&state.path),
                path: state.path.clone(),
                meta: state.meta.clone(),
            };
            self.add(spec);
        }
        let poll_interval = if self.watcher.is_active() {
            self.config.poll_interval
        } else {
            self.config.poll_interval.min(Duration::from_millis(250))
        };
        let mut hot: Vec<String> = self.sources.keys().cloned().collect();
        loop {
            while let Ok(spec) = self.specs.try_recv() {
                if let Some(key) = self.add(spec) {
                    hot.push(key);
                }
            }
            let stopping = self.flags.stop.load(Ordering::SeqCst);
            let now = Instant::now();
            let full = now.duration_since(self.last_full_poll) >= poll_interval;
            let mut to_poll: Vec<String> = std::mem::take(&mut hot);
            if full || stopping {
                self.last_full_poll = now;
                let retry: Vec<SourceSpec> = self
                    .failed_opens
                    .values()
                    .filter(|(at, _)| at.elapsed() >= RETRY_OPEN)
                    .map(|(_, spec)| spec.clone())
                    .collect();
                for spec in retry {
                    self.add(spec);
                }
                to_poll = self.sources.keys().cloned().collect();
            } else if now.duration_since(self.last_warm_poll) >= WARM_POLL {
                self.last_warm_poll = now;
                self.warm.retain(|_, t| now.duration_since(*t) < WARM_FOR);
                to_poll.extend(self.warm.keys().cloned());
            }
            to_poll.sort();
            to_poll.dedup();
            for key in to_poll {
                if self.pump(&key, now) {
                    hot.push(key);
                }
            }
            self.flush_expired(now);
            self.retire_finished(now);
            if full {
                self.record_lag();
            }

            let caught_up = hot.is_empty();
            if stopping {
                // One last round was read; what is still unread waits for the next start.
                self.cut();
                self.flags.reader_done.store(true, Ordering::SeqCst);
                self.queue.changed.notify_all();
                return;
            }
            if self.batch_due(caught_up) {
                self.cut();
            }
            if caught_up {
                let round = now.elapsed();
                let woken = self.wake.wait(self.sleep_for(poll_interval));
                if woken.rescan {
                    self.last_full_poll = now - poll_interval;
                }
                if !woken.dirty.is_empty() && !woken.poked && round < MIN_ROUND {
                    // A busy writer raises an event per line; gathering them for a few
                    // milliseconds turns thousands of tiny reads into a few larger ones.
                    std::thread::sleep(MIN_ROUND - round);
                }
                for dir in woken.dirty {
                    if let Some(keys) = self.by_dir.get(&dir) {
                        hot.extend(keys.iter().cloned());
                    }
                }
            }
        }
    }

    fn updates_pending(&self) -> bool {
        self.records > 0 || !self.touched.is_empty() || !self.updates.is_empty()
    }

    /// Follows a new source or updates a known one; returns its key if it is new.
    fn add(&mut self, spec: SourceSpec) -> Option<String> {
        if let Some(source) = self.sources.get_mut(&spec.key) {
            source.update(spec);
            return None;
        }
        if let Some((at, _)) = self.failed_opens.get(&spec.key) {
            if at.elapsed() < RETRY_OPEN {
                return None;
            }
        }
        let key = spec.key.clone();
        let path = spec.path.clone();
        match Source::open(spec.clone(), self.resume.get(&key), &self.config.read) {
            Ok(source) => {
                self.failed_opens.remove(&key);
                self.watcher.add(source.dir());
                self.by_dir
                    .entry(source.dir().to_path_buf())
                    .or_default()
                    .push(key.clone());
                tracing::debug!("following {} ({})", path.display(), key);
                self.sources.insert(key.clone(), source);
                metrics::gauge!("skein_agent_sources").set(self.sources.len() as f64);
                Some(key)
            }
            Err(e) => {
                if !self.failed_opens.contains_key(&key) {
                    tracing::warn!(
                        "cannot follow {}: {e}; retrying every {RETRY_OPEN:?}",
                        path.display()
                    );
                }
                self.failed_opens.insert(key, (Instant::now(), spec));
                None
            }
        }
    }

    /// Reads one round from a source; returns whether it may have more.
    fn pump(&mut self, key: &str, now: Instant) -> bool {
        let Some(source) = self.sources.get_mut(key) else {
            return false;
        };
        let room = self
            .config
            .batch_bytes
            .saturating_sub(self.batch.len())
            .max(64 << 10);
        match source.pump(
            room.min(ROUND_BYTES),
            now,
            &mut self.scratch,
            &mut self.batch,
        ) {
            Ok(p) => {
                if p.bytes == 0 && p.records == 0 {
                    return false;
                }
                if p.bytes > 0 {
                    self.warm.insert(key.to_string(), now);
                }
                metrics::counter!("skein_agent_bytes_read_total").increment(p.bytes as u64);
                metrics::counter!("skein_agent_lines_read_total").increment(p.lines);
                self.records += p.records as u32;
                self.opened.get_or_insert(now);
                self.touched.push(key.to_string());
                if self.batch.len() >= self.config.batch_bytes {
                    self.cut();
                }
                p.bytes > 0
            }
            Err(e) => {
                tracing::warn!("reading {}: {e}", source.spec().path.display());
                false
            }
        }
    }

    fn flush_expired(&mut self, now: Instant) {
        let keys: Vec<String> = self
            .sources
            .iter()
            .filter(|(_, s)| s.next_deadline().is_some_and(|d| d <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            let source = self.sources.get_mut(&key).expect("listed above");
            let n = source.flush_expired(now, &mut self.scratch, &mut self.batch);
            if n > 0 {
                self.records += n as u32;
                self.opened.get_or_insert(now);
            }
            self.touched.push(key);
        }
    }

    /// Drops sources whose file is gone and read to the end. A container's state is
    /// forgotten (its id never returns); a plain file's end is kept, so a file that
    /// reappears at the path continues above it.
    fn retire_finished(&mut self, now: Instant) {
        let done: Vec<String> = self
            .sources
            .iter_mut()
            .filter_map(|(k, s)| (s.finished_for(now)? >= RETIRE_AFTER).then(|| k.clone()))
            .collect();
        for key in done {
            let source = self.sources.remove(&key).expect("listed above");
            tracing::debug!("finished {}", source.spec().path.display());
            self.watcher.remove(source.dir());
            if let Some(keys) = self.by_dir.get_mut(source.dir()) {
                keys.retain(|k| k != &key);
            }
            let container = source.spec().format == crate::decode::Format::JsonFile
                || crate::enrich::container_id_from_path(&source.spec().path).is_some();
            let mut state = source.state();
            state.position = None;
            self.touched.retain(|k| k != &key);
            if container {
                self.resume.remove(&key);
                self.updates.insert(key.clone(), None);
            } else {
                self.resume.insert(key.clone(), state.clone());
                self.updates.insert(key.clone(), Some(state));
            }
            metrics::gauge!("skein_agent_file_lag_bytes", "source" => lag_label(&source)).set(0.0);
            metrics::gauge!("skein_agent_sources").set(self.sources.len() as f64);
        }
    }

    fn record_lag(&self) {
        for s in self.sources.values() {
            metrics::gauge!("skein_agent_file_lag_bytes", "source" => lag_label(s))
                .set(s.lag_bytes() as f64);
        }
    }

    fn batch_due(&self, caught_up: bool) -> bool {
        if !self.updates_pending() {
            return false;
        }
        if self.batch.len() >= self.config.batch_bytes {
            return true;
        }
        if self
            .opened
            .is_some_and(|t| t.elapsed() >= self.config.batch_wait)
        {
            return true;
        }
        // Caught up and nothing in flight: ship now rather than wait for more. Batches
        // acknowledged but not yet covered by a saved checkpoint do not count: waiting
        // for the checkpoint's fsyncs would put them between every two batches.
        caught_up && self.queue.all_delivered()
    }

    /// How long to sleep: until the poll timer, a multiline deadline or the batch
    /// deadline, whichever comes first.
    fn sleep_for(&self, poll_interval: Duration) -> Duration {
        let now = Instant::now();
        let mut until = self.last_full_poll + poll_interval;
        if let Some(d) = self
            .sources
            .values()
            .filter_map(Source::next_deadline)
            .min()
        {
            until = until.min(d);
        }
        if !self.warm.is_empty() {
            until = until.min(self.last_warm_poll + WARM_POLL);
        }
        // An open batch also goes as soon as the shipper is free, which pokes us.
        if let Some(t) = self.opened {
            until = until.min(t + self.config.batch_wait);
        }
        until.saturating_duration_since(now)
    }

    /// Closes the open batch: records the positions of the sources it touched,
    /// compresses it and appends it to the spool, waiting while the spool is full.
    fn cut(&mut self) {
        if !self.updates_pending() {
            return;
        }
        let mut touched = std::mem::take(&mut self.touched);
        touched.sort();
        touched.dedup();
        for key in touched {
            if let Some(source) = self.sources.get(&key) {
                let state = source.state();
                self.resume.insert(key.clone(), state.clone());
                self.updates.insert(key, Some(state));
            }
        }
        let body = zstd::bulk::compress(&self.batch, 1).expect("zstd compresses into memory");
        let batch = SpooledBatch {
            no: self.next_no,
            records: self.records,
            positions: serde_json::to_vec(&self.updates).expect("positions serialize"),
            body,
        };
        let queue = self.queue.clone();
        let mut spool = queue.lock();
        let mut said_full = false;
        loop {
            let full = spool.bytes() >= self.config.spool_max_bytes && !spool.is_empty();
            if !full {
                match spool.append(&batch) {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::error!("{e}; retrying");
                        if self.flags.stop.load(Ordering::SeqCst) {
                            // Not spooled: its lines are read again on the next start.
                            return;
                        }
                        spool = queue
                            .changed
                            .wait_timeout(spool, Duration::from_secs(1))
                            .expect("spool lock")
                            .0;
                        continue;
                    }
                }
            }
            if !said_full {
                tracing::warn!(
                    "agent spool is full ({} bytes, cap {}); reading pauses until the server catches up",
                    spool.bytes(),
                    self.config.spool_max_bytes
                );
                said_full = true;
            }
            if self.flags.stop.load(Ordering::SeqCst) {
                // Stopping with a full spool: this batch is not spooled, so its lines
                // are re-read from the files on the next start.
                return;
            }
            // The lag grows while reading waits; keep its metric current.
            self.record_lag();
            spool = queue
                .changed
                .wait_timeout(spool, Duration::from_millis(200))
                .expect("spool lock")
                .0;
        }
        metrics::gauge!("skein_agent_spool_bytes").set(spool.bytes() as f64);
        metrics::gauge!("skein_agent_spool_batches").set(spool.len() as f64);
        drop(spool);
        queue.changed.notify_all();
        self.next_no += 1;
        self.batch.clear();
        if self.batch.capacity() > 4 * self.config.batch_bytes {
            self.batch
                .shrink_to(self.config.batch_bytes + ROUND_BYTES * 2);
        }
        self.records = 0;
        self.opened = None;
        self.updates.clear();
    }
}

struct ShipperLoop {
    shipper: Shipper,
    /// Where batches the server refuses for good are kept (`STATE/quarantine/`).
    quarantine: std::path::PathBuf,
    /// The checkpoint as acknowledged (saved by the [`Saver`], a little later).
    checkpoint: Checkpoint,
    queue: Arc<Queue>,
    flags: Arc<Flags>,
    wake: Wake,
    saves: Arc<Saves>,
}

impl ShipperLoop {
    fn run(mut self) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime");
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        while let Some(batch) = self.next_batch() {
            if batch.records > 0 && !self.deliver(&rt, &batch, &mut backoff) {
                break;
            }
            let updates: Updates = serde_json::from_slice(&batch.positions).unwrap_or_default();
            self.checkpoint.apply(updates);
            self.checkpoint.acked_batch = batch.no;
            self.queue.delivered.store(batch.no, Ordering::SeqCst);
            // Saving costs fsyncs; the saver does it on its own thread so the next batch
            // need not wait for them. Until it has, the batch stays spooled: a crash
            // resends it and the server drops it as already held.
            self.saves.put(self.checkpoint.clone());
            // The reader may be waiting for the shipper to go idle before cutting.
            self.wake.poke();
        }
        // Stopping: the saver saves what was acknowledged and ends.
        self.saves.finish();
    }

    /// The next batch to send; `None` when the agent is stopping and nothing is left.
    fn next_batch(&self) -> Option<SpooledBatch> {
        let next = self.checkpoint.acked_batch + 1;
        let mut spool = self.queue.lock();
        loop {
            if self.flags.abandon.load(Ordering::SeqCst) {
                return None;
            }
            match spool.read(next) {
                Ok(Some(b)) => return Some(b),
                Ok(None) => {
                    if self.flags.reader_done.load(Ordering::SeqCst) {
                        return None;
                    }
                }
                Err(e) => tracing::error!("{e}"),
            }
            spool = self
                .queue
                .changed
                .wait_timeout(spool, Duration::from_millis(500))
                .expect("spool lock")
                .0;
        }
    }

    /// Sends until acknowledged; `false` if the agent stopped first.
    fn deliver(
        &self,
        rt: &tokio::runtime::Runtime,
        batch: &SpooledBatch,
        backoff: &mut Backoff,
    ) -> bool {
        loop {
            let abandon = async {
                while !self.flags.abandon.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            let sent = rt.block_on(async {
                tokio::select! {
                    r = self.shipper.send(batch.body.clone()) => Some(r),
                    _ = abandon => None,
                }
            });
            // Told to stop mid-request: the batch stays spooled for the next start.
            let Some(sent) = sent else {
                return false;
            };
            match sent {
                Ok(ack) => {
                    if backoff.failures() > 0 {
                        tracing::info!("server {} is taking batches again", self.shipper.url());
                    }
                    backoff.reset();
                    for r in &ack.rejected {
                        tracing::warn!(
                            "server rejected line {} of batch {}: {}",
                            r.line,
                            batch.no,
                            r.error
                        );
                    }
                    metrics::counter!("skein_agent_batches_shipped_total").increment(1);
                    metrics::counter!("skein_agent_records_shipped_total")
                        .increment(ack.accepted as u64);
                    metrics::counter!("skein_agent_lines_rejected_total")
                        .increment(ack.rejected.len() as u64);
                    return true;
                }
                Err(ShipError::Refused {
                    status: status @ (400 | 413),
                    reason,
                    ..
                }) => {
                    // Sending it again gets the same answer: it would block every line
                    // after it for good. Kept aside with the reason; the source goes on.
                    self.quarantine(batch, status, &reason);
                    backoff.reset();
                    return true;
                }
                Err(e) => {
                    metrics::counter!("skein_agent_batches_failed_total").increment(1);
                    let wait = backoff.next(e.retry_after());
                    if backoff.failures() == 1 || backoff.failures().is_multiple_of(10) {
                        tracing::warn!(
                            "batch {} not delivered: {e}; retrying in {wait:?} (spooled meanwhile)",
                            batch.no
                        );
                    }
                    let until = Instant::now() + wait;
                    while Instant::now() < until {
                        if self.flags.abandon.load(Ordering::SeqCst) {
                            return false;
                        }
                        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
                    }
                }
            }
        }
    }
}

impl ShipperLoop {
    /// Keeps a batch the server refused for good in `STATE/quarantine/` (its body as
    /// sent, zstd NDJSON, and the reason beside it), counts it and says so.
    fn quarantine(&self, batch: &SpooledBatch, status: u16, reason: &str) {
        let base = self.quarantine.join(format!(
            "batch-{}-{}",
            batch.no,
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        let body = base.with_extension("ndjson.zst");
        let why = base.with_extension("reason.txt");
        let written = std::fs::create_dir_all(&self.quarantine)
            .and_then(|()| skein_model::atomic_file::write_atomic(&body, &batch.body, Some(0o600)))
            .and_then(|()| {
                let text = format!(
                    "server {} answered {status}: {reason}\nbatch {} of {} records\n",
                    self.shipper.url(),
                    batch.no,
                    batch.records
                );
                skein_model::atomic_file::write_atomic(&why, text.as_bytes(), Some(0o600))
            });
        metrics::counter!("skein_agent_batches_quarantined_total").increment(1);
        metrics::counter!("skein_agent_records_quarantined_total")
            .increment(u64::from(batch.records));
        match written {
            Ok(()) => tracing::error!(
                "the server refused batch {} ({} records) for good ({status}: {reason}); it is \
                 kept in {} and the agent goes on with the next",
                batch.no,
                batch.records,
                body.display()
            ),
            Err(e) => tracing::error!(
                "the server refused batch {} ({} records) for good ({status}: {reason}), and it \
                 could not be kept in {}: {e}; the agent goes on with the next",
                batch.no,
                batch.records,
                self.quarantine.display()
            ),
        }
    }
}

/// Saves the checkpoint the shipper hands over, at most every [`CHECKPOINT_EVERY`], and
/// frees the spool of the batches a saved checkpoint covers.
struct Saver {
    store: CheckpointStore,
    queue: Arc<Queue>,
    flags: Arc<Flags>,
    saves: Arc<Saves>,
}

impl Saver {
    fn run(self) {
        let mut saved: Option<Instant> = None;
        loop {
            let (checkpoint, last) = {
                let mut s = self.saves.lock();
                loop {
                    let stopping = self.flags.stop.load(Ordering::SeqCst);
                    let wait = match saved {
                        Some(t) if !stopping => CHECKPOINT_EVERY.saturating_sub(t.elapsed()),
                        _ => Duration::ZERO,
                    };
                    if s.last || (s.checkpoint.is_some() && wait.is_zero()) {
                        break;
                    }
                    let wait = if s.checkpoint.is_some() {
                        wait
                    } else {
                        Duration::from_millis(500)
                    };
                    s = self
                        .saves
                        .changed
                        .wait_timeout(s, wait)
                        .expect("checkpoint hand-off lock")
                        .0;
                }
                (s.checkpoint.take(), s.last)
            };
            if let Some(checkpoint) = checkpoint {
                if !self.save(&checkpoint) {
                    return;
                }
                saved = Some(Instant::now());
            }
            if last {
                return;
            }
        }
    }

    /// Saves `checkpoint` and frees the spool of what it covers; `false` if the agent
    /// was told to stop while saving kept failing.
    fn save(&self, checkpoint: &Checkpoint) -> bool {
        while let Err(e) = self.store.save(checkpoint) {
            tracing::error!("{e}; retrying");
            if self.flags.abandon.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        // Only batches the saved checkpoint covers leave the spool, so a restart always
        // finds the spool continuing the checkpoint.
        let mut spool = self.queue.lock();
        if let Err(e) = spool.ack(checkpoint.acked_batch) {
            tracing::error!("{e}");
        }
        metrics::gauge!("skein_agent_spool_bytes").set(spool.bytes() as f64);
        metrics::gauge!("skein_agent_spool_batches").set(spool.len() as f64);
        drop(spool);
        self.queue.changed.notify_all();
        true
    }
}

/// Describes the agent's metrics to the installed recorder.
pub fn describe_metrics() {
    use metrics::{describe_counter, describe_gauge, Unit};
    describe_counter!(
        "skein_agent_lines_read_total",
        "Log file lines read by the agent"
    );
    describe_counter!(
        "skein_agent_bytes_read_total",
        Unit::Bytes,
        "Log file bytes read by the agent"
    );
    describe_counter!(
        "skein_agent_batches_shipped_total",
        "Batches the server acknowledged"
    );
    describe_counter!(
        "skein_agent_batches_failed_total",
        "Batch deliveries that failed and were retried"
    );
    describe_counter!(
        "skein_agent_records_shipped_total",
        "Records the server accepted from this agent"
    );
    describe_counter!(
        "skein_agent_lines_rejected_total",
        "Records the server rejected as invalid"
    );
    describe_gauge!(
        "skein_agent_spool_bytes",
        Unit::Bytes,
        "Bytes of batches spooled and not yet acknowledged"
    );
    describe_gauge!(
        "skein_agent_spool_batches",
        "Batches spooled and not yet acknowledged"
    );
    describe_gauge!("skein_agent_sources", "Files followed");
    describe_gauge!(
        "skein_agent_file_lag_bytes",
        Unit::Bytes,
        "Bytes written to a followed file and not read yet"
    );
}

/// The host name of this machine, for `--host`'s default.
pub fn default_host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}
