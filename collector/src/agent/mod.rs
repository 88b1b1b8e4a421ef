//! The agent: discovery, reader, shipper and checkpoint threads around the spool.
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
//! - **Discovery** (Docker events, `--path` and `--cri-path` globs, and the pod labels
//!   of Kubernetes pod logs from the API server) runs on its own small runtime and
//!   hands [`SourceSpec`]s to the reader.
//!
//! A restart resumes from the checkpoint, resends spooled batches after it, and reads on
//! from the positions of the newest spooled batch: nothing acknowledged is lost and
//! nothing is sent twice (the server's `_seq` dedupe is a second guard).
//!
//! Its parts, a module each:
//!
//! - [`discovery`]: the thread that runs Docker discovery and `--path` globs;
//! - [`reader`]: the reader thread, which follows every source into the open batch;
//! - [`batch`]: the open batch, when it is cut, and the wait for spool space;
//! - [`shipper`]: the shipper thread and the quarantine of refused batches;
//! - [`saver`]: the checkpoint thread;
//! - [`queue`]: the spool as the threads share it;
//! - [`metrics`]: what the agent reports on `/metrics`.

mod batch;
mod discovery;
mod metrics;
mod queue;
mod reader;
mod saver;
mod shipper;

pub use self::metrics::describe_metrics;

use crate::checkpoint::{apply, CheckpointError, CheckpointStore, Updates};
use crate::discover::SourceSpec;
use crate::ship::Shipper;
use crate::source::ReadOptions;
use crate::spool::{Spool, SpoolError};
use crate::wake::Wake;
use queue::Queue;
use reader::Reader;
use saver::{Saver, Saves};
use shipper::ShipperLoop;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
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
    /// A `--path` or `--cri-path` pattern is not a valid glob.
    #[error("--path/--cri-path {pattern:?} is not a valid glob: {reason}")]
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
    /// Globs of files read as CRI logs whatever their names (`--cri-path`).
    pub cri_paths: Vec<String>,
    /// The Kubernetes API server asked for the labels of the pods whose logs are
    /// followed; `None` to not ask.
    pub kube_api: Option<crate::kubernetes::KubeApiConfig>,
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
            cri_paths: Vec::new(),
            kube_api: None,
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
                redact: None,
            },
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Flags the threads share.
#[derive(Default)]
pub(crate) struct Flags {
    /// Stop reading; cut what is open.
    pub(crate) stop: AtomicBool,
    /// The reader has cut its last batch.
    pub(crate) reader_done: AtomicBool,
    /// Stop shipping now, even with batches left.
    pub(crate) abandon: AtomicBool,
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
        for pattern in config.paths.iter().chain(&config.cri_paths) {
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
            cut_at: Mutex::default(),
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
        let discovery = discovery::spawn(&config, spec_tx, wake.clone());
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

/// The host name of this machine, for `--host`'s default.
pub fn default_host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_string())
}
