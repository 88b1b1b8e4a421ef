//! Ingest and storage for the skein server: everything between "a batch arrived" and
//! "it can be searched".
//!
//! - [`Engine`]: opens a data directory, replays the WAL, and runs the two ingest
//!   threads; the one entry point for any batch source (HTTP today, a JetStream
//!   consumer later) is [`Engine::ingest`].
//! - [`wal`]: the segmented write-ahead log, group-committed and fsynced before an ack.
//! - [`dedupe`]: the highest `_seq` per `_source_id`, for exactly-once delivery.
//! - `ingest` (private): the thread that owns the WAL (dedupe, append, fsync, hand-off).
//! - `indexing` (private): the thread that adds records to Tantivy and commits.
//! - [`partition`]: one Tantivy index per UTC day, and the [`Catalog`] of them.
//! - [`patterns`]: the pattern (message template) id each record gets at ingest, the
//!   miner's saved state, and the ids merged into others.
//! - [`schema`]: the Tantivy schema and the record ↔ document mapping.
//! - `es_source` (private): the stored form of a record that came through `/es`, its
//!   document with the values the columns hold cut out, and its rebuilding on read.
//! - `merge_priority` (private): segment merges at the lowest CPU priority, so ingest
//!   goes first when the CPU is short.
//! - `field_budget` (private): how many `fields`/`labels` paths become columns, per
//!   record and per partition.
//! - `json_value` (private): a record's `fields` and `labels` lent to Tantivy without
//!   copying them.
//! - [`state`]: the checkpoint (committed WAL position and `_seq` map) written atomically.
//! - [`budget`]: back-pressure on the memory batches in flight hold.
//! - [`text_buffers`]: request and WAL-line buffers reused between requests.
//! - [`health`]: known problems, for `/healthz`.
//! - [`ids`]: documents' `_id`s: generated ones (the ingest order), and finding a
//!   client's for latest-wins replacement and `op_type=create` conflicts.
//! - [`snapshot`]: a consistent copy of the committed state (hard links).
//! - [`retention`]: dropping partitions past `--retention` or over `--max-disk`, and
//!   measuring the disk.
//! - [`batch`]: the batch, outcome and live-feed types, the WAL lines of a batch (records,
//!   or Elasticsearch documents mapped again on replay).
//! - `redact` (private): `--redact` rules applied to every batch in [`Engine::ingest`],
//!   before the WAL ([`PreparedBatch::redact`]).

pub mod batch;
pub mod budget;
pub mod dedupe;
mod es_source;
mod field_budget;
pub mod health;
pub mod ids;
mod indexing;
mod ingest;
mod json_value;
mod merge_priority;
pub mod partition;
pub mod patterns;
mod redact;
pub mod retention;
pub mod schema;
pub mod snapshot;
pub mod state;
pub mod text_buffers;
pub mod wal;

pub use batch::{FeedBatch, IngestOutcome, PreparedBatch};
pub use budget::{Budget, Permit};
pub use health::{Health, Problem, Severity};
pub use indexing::IndexerConfig;
pub use partition::{Catalog, Partition};

use dedupe::SeqTracker;
use health::Severity as Sev;
use indexing::{Indexer, WalMarks};
use ingest::{IngestThread, WalMsg, WalRequest};
use state::CheckpointFile;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{broadcast, oneshot};

/// Why the engine could not start.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The data directory is not usable.
    #[error(
        "data directory {path}: {source}; check that it exists, is writable and has free space"
    )]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The WAL could not be opened.
    #[error(transparent)]
    Wal(#[from] wal::WalError),
    /// The partition directory could not be opened.
    #[error(transparent)]
    Partition(#[from] partition::PartitionError),
}

/// Why a batch was not accepted.
#[derive(Debug, Error, Clone)]
pub enum IngestError {
    /// The WAL cannot be written (disk full, I/O error): nothing was acknowledged.
    #[error("cannot make the batch durable: {0}; retry later")]
    Unavailable(String),
    /// The server is shutting down.
    #[error("the server is shutting down; retry against the restarted server")]
    ShuttingDown,
}

/// Settings of an [`Engine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Root of all state (`wal/`, `partitions/`, `checkpoint.json`).
    pub data_dir: PathBuf,
    /// Indexer tuning.
    pub indexer: IndexerConfig,
    /// A WAL segment is closed when it reaches this size.
    pub wal_segment_bytes: u64,
    /// Memory that batches accepted but not yet indexed may hold (their text until it is
    /// in the WAL, their parsed records until indexed) before ingest answers 429.
    pub inflight_bytes: usize,
    /// `--redact` rules applied to every batch before it is written; none by default.
    pub redact: Option<Arc<skein_model::redact::Redactor>>,
    /// Whether records get a pattern id at ingest (on by default; `--no-patterns`).
    pub patterns: bool,
}

impl EngineConfig {
    /// Defaults for `data_dir`: commit every second, writers closed after 30 s without
    /// records, 64 MiB WAL segments, 256 MiB in flight.
    pub fn new(data_dir: impl Into<PathBuf>) -> EngineConfig {
        EngineConfig {
            data_dir: data_dir.into(),
            indexer: IndexerConfig {
                commit_interval: Duration::from_secs(1),
                writer_threads: 2,
                writer_memory: 192 << 20,
                retire_after: Duration::from_secs(30),
                max_open_writers: 8,
                max_fields_per_record: 1_000,
                max_fields_per_partition: 10_000,
                retention: retention::RetentionConfig::default(),
            },
            wal_segment_bytes: 64 << 20,
            inflight_bytes: 256 << 20,
            redact: None,
            patterns: true,
        }
    }
}

/// The running ingest and storage engine of one data directory.
pub struct Engine {
    catalog: Arc<Catalog>,
    health: Arc<Health>,
    budget: Budget,
    feed: broadcast::Sender<Arc<FeedBatch>>,
    durable_lsn: Arc<AtomicU64>,
    committed_lsn: Arc<AtomicU64>,
    wal_tx: Mutex<Option<mpsc::Sender<WalMsg>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// The WAL positions made durable and committed, for [`Engine::wait_searchable`].
    marks: WalMarks,
    retention: retention::RetentionConfig,
    wal_dir: PathBuf,
    redaction: Option<Arc<redact::Redaction>>,
    patterns: Arc<patterns::Patterns>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

/// Batches kept for slow live followers before they are told they lagged.
const FEED_CAPACITY: usize = 64;

impl Engine {
    /// Opens (or creates) the data directory, replays the WAL past the last checkpoint
    /// into the partitions, and starts the ingest and indexer threads.
    pub fn open(config: EngineConfig) -> Result<Engine, EngineError> {
        let dir = &config.data_dir;
        std::fs::create_dir_all(dir).map_err(|source| EngineError::DataDir {
            path: dir.clone(),
            source,
        })?;
        let health = Arc::new(Health::default());
        let catalog = Arc::new(Catalog::open(&dir.join("partitions"))?);
        for f in catalog.failed() {
            health.report(
                &format!("partition:{}", f.path.display()),
                Sev::Error,
                format!(
                    "cannot open partition: {}; its records are not searchable until it is \
                     repaired or moved out of the data directory",
                    f.error
                ),
            );
        }
        metrics::gauge!("skein_partitions").set(catalog.len() as f64);
        let checkpoint_file = CheckpointFile::new(dir.join("checkpoint.json"));
        let checkpoint = checkpoint_file
            .load()
            .map_err(|source| EngineError::DataDir {
                path: checkpoint_file.path().to_path_buf(),
                source,
            })?;
        let committed_lsn = Arc::new(AtomicU64::new(checkpoint.lsn));
        // Everything on disk at start counts as durable; the ingest thread moves it on.
        let durable_lsn = Arc::new(AtomicU64::new(u64::MAX));
        let wal_dir = dir.join("wal");
        let marks = WalMarks {
            committed: committed_lsn.clone(),
            durable: durable_lsn.clone(),
        };
        let mut seqs = SeqTracker::new(checkpoint.seqs.clone());
        let patterns = Arc::new(if config.patterns {
            patterns::Patterns::open(dir, &catalog)
        } else {
            patterns::Patterns::off()
        });
        let retention = config.indexer.retention.clone();
        let mut indexer = Indexer::new(
            catalog.clone(),
            checkpoint_file,
            checkpoint.clone(),
            marks.clone(),
            health.clone(),
            wal_dir.clone(),
            config.indexer.clone(),
            patterns.clone(),
        );
        let mut replayed = 0usize;
        let (wal, report) =
            wal::Wal::open(&wal_dir, checkpoint.lsn, config.wal_segment_bytes, |e| {
                if let Some(batch::Control::ResetSeq(source)) = batch::Control::decode(&e.payload) {
                    seqs.reset(&source);
                }
                for r in batch::decode_payload(&e.payload).flatten() {
                    seqs.observe(&r);
                    replayed += 1;
                }
                indexer.add_entry(&e);
            })?;
        for (path, offset, bytes) in &report.damaged {
            health.report(
                &format!("wal:{}", path.display()),
                Sev::Warning,
                format!(
                    "WAL segment ends in {bytes} unreadable bytes at offset {offset} (a write \
                     torn by a crash is normal and was never acknowledged; anything else means \
                     disk damage); the segment is dropped once everything before it is committed"
                ),
            );
        }
        durable_lsn.store(wal.next_lsn() - 1, Ordering::Release);
        if replayed > 0 {
            tracing::info!("replayed {replayed} records from the WAL");
            indexer.commit();
        }
        let wal_dir_kept = wal_dir.clone();
        let (wal_tx, wal_rx) = mpsc::channel();
        let (index_tx, index_rx) = mpsc::channel();
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let ingest = IngestThread {
            wal,
            seqs,
            rx: wal_rx,
            index_tx,
            feed: feed.clone(),
            committed_lsn: committed_lsn.clone(),
            durable_lsn: durable_lsn.clone(),
            health: health.clone(),
            payload: Vec::new(),
            catalog: catalog.clone(),
            ids: Default::default(),
        };
        let threads = vec![
            std::thread::Builder::new()
                .name("skein-wal".into())
                .spawn(move || ingest.run())
                .map_err(|source| EngineError::DataDir {
                    path: dir.clone(),
                    source,
                })?,
            std::thread::Builder::new()
                .name("skein-indexer".into())
                .spawn(move || indexer.run(index_rx))
                .map_err(|source| EngineError::DataDir {
                    path: dir.clone(),
                    source,
                })?,
        ];
        Ok(Engine {
            catalog,
            health,
            budget: Budget::new(config.inflight_bytes),
            feed,
            durable_lsn,
            committed_lsn,
            wal_tx: Mutex::new(Some(wal_tx)),
            threads: Mutex::new(threads),
            marks,
            retention,
            wal_dir: wal_dir_kept,
            redaction: config.redact.map(|r| Arc::new(redact::Redaction::new(r))),
            patterns,
        })
    }

    /// The pattern miner: templates and first-seen times of the ids records carry.
    pub fn patterns(&self) -> &Arc<patterns::Patterns> {
        &self.patterns
    }

    /// Records older than this are past `--retention`: ingest refuses them (they would
    /// be dropped at once). `None` when everything is kept.
    pub fn retention_horizon(&self) -> Option<skein_model::Timestamp> {
        self.retention.horizon(skein_model::Timestamp::now())
    }

    /// Disk use of every partition and the WAL, with the retention settings.
    pub fn usage(&self) -> retention::Usage {
        retention::usage(&self.retention, &self.catalog, &self.wal_dir)
    }

    /// Makes a batch durable and answers once it is; records whose `_seq` is at or below
    /// their source's high-water mark are counted as duplicates and dropped. With
    /// `--redact` rules ([`EngineConfig::redact`]), the batch is redacted first.
    pub async fn ingest(&self, mut batch: PreparedBatch) -> Result<IngestOutcome, IngestError> {
        // Regexes and pattern mining over a whole batch are CPU work: off the async
        // workers. Redaction first, so no template holds a secret.
        let redaction = self.redaction.clone();
        let patterns = self.patterns.clone();
        let prepared = tokio::task::spawn_blocking(move || {
            if let Some(redaction) = redaction {
                redaction.apply(&mut batch);
            }
            patterns.assign(&mut batch.records);
            batch
        });
        batch = match prepared.await {
            Ok(batch) => batch,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Err(IngestError::ShuttingDown),
        };
        let (reply, rx) = oneshot::channel();
        {
            let tx = self.wal_tx.lock().expect("lock");
            let tx = tx.as_ref().ok_or(IngestError::ShuttingDown)?;
            tx.send(WalMsg::Batch(WalRequest { batch, reply }))
                .map_err(|_| IngestError::ShuttingDown)?;
        }
        rx.await.map_err(|_| IngestError::ShuttingDown)?
    }

    /// Forgets `source_id`'s `_seq` high-water mark, durably and in order with the
    /// batches around it: records the source sends next are accepted whatever their
    /// `_seq`. Answers the mark it had (`None`: the source was unknown).
    pub async fn reset_seq(&self, source_id: &str) -> Result<Option<u64>, IngestError> {
        let (reply, rx) = oneshot::channel();
        {
            let tx = self.wal_tx.lock().expect("lock");
            let tx = tx.as_ref().ok_or(IngestError::ShuttingDown)?;
            tx.send(WalMsg::Control {
                control: batch::Control::ResetSeq(source_id.to_string()),
                reply,
            })
            .map_err(|_| IngestError::ShuttingDown)?;
        }
        rx.await.map_err(|_| IngestError::ShuttingDown)?
    }

    /// Deletes the records `query` matches in `[start, end)`, after every batch
    /// acknowledged before the call; answers how many, once no search returns them.
    /// `query` is matched as is: the caller restricts it to the range too.
    pub async fn delete(
        &self,
        query: Box<dyn tantivy::query::Query>,
        start: skein_model::Timestamp,
        end: skein_model::Timestamp,
    ) -> Result<u64, IngestError> {
        let (reply, rx) = oneshot::channel();
        {
            let tx = self.wal_tx.lock().expect("lock");
            let tx = tx.as_ref().ok_or(IngestError::ShuttingDown)?;
            tx.send(WalMsg::Ordered(indexing::IndexMsg::Delete(
                indexing::DeleteRequest {
                    query,
                    start,
                    end,
                    reply,
                },
            )))
            .map_err(|_| IngestError::ShuttingDown)?;
        }
        rx.await.map_err(|_| IngestError::ShuttingDown)?
    }

    /// Copies the committed state, after every batch acknowledged before the call, into
    /// `dir` (new or empty): hard links of the partitions' committed files and the
    /// checkpoint. A server started on `dir` holds every record acknowledged before the
    /// call, once.
    pub async fn snapshot(
        &self,
        dir: PathBuf,
    ) -> Result<snapshot::SnapshotReport, snapshot::SnapshotError> {
        let (reply, rx) = oneshot::channel();
        let closed = || snapshot::SnapshotError::Unavailable("the server is shutting down".into());
        {
            let tx = self.wal_tx.lock().expect("lock");
            let tx = tx.as_ref().ok_or_else(closed)?;
            tx.send(WalMsg::Ordered(indexing::IndexMsg::Snapshot { dir, reply }))
                .map_err(|_| closed())?;
        }
        rx.await.map_err(|_| closed())?
    }

    /// The data directory.
    pub fn data_dir(&self) -> &std::path::Path {
        self.wal_dir.parent().unwrap_or(&self.wal_dir)
    }

    /// Waits until every batch acknowledged before the call is searchable (committed),
    /// or `timeout` passes; returns whether it got there. Backs the Elasticsearch
    /// `refresh` calls that clients make before searching what they just sent.
    pub async fn wait_searchable(&self, timeout: Duration) -> bool {
        use std::sync::atomic::Ordering;
        let target = self.marks.durable.load(Ordering::Acquire);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.marks.committed.load(Ordering::Acquire) >= target {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The back-pressure budget callers take permits from before preparing a batch.
    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// The partitions, for searches.
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Known problems.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Subscribes to records as they become durable.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedBatch>> {
        self.feed.subscribe()
    }

    /// The highest WAL position made durable. Every batch above it that a subscriber
    /// taken before this call will see is published after the call returns: the
    /// position is stored before its batches go on the feed.
    pub fn durable_lsn(&self) -> u64 {
        self.durable_lsn.load(Ordering::Acquire)
    }

    /// The highest WAL position whose records every searcher taken from now on sees:
    /// it moves only after every partition written up to it is committed and reloaded.
    pub fn searchable_lsn(&self) -> u64 {
        self.committed_lsn.load(Ordering::Acquire)
    }

    /// Stops accepting batches, commits what was accepted and waits for the threads.
    pub fn shutdown(&self) {
        self.wal_tx.lock().expect("lock").take();
        for t in self.threads.lock().expect("lock").drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.shutdown();
    }
}
