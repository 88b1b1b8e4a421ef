//! The indexer thread: adds durable batches to their day's partition and commits on a
//! short interval.
//!
//! Every commit stamps each written partition with the WAL position it is complete up
//! to, then stores the [`Checkpoint`] and lets the WAL drop what is committed. When
//! anything fails (a partition cannot be created, a commit fails because the disk is
//! full), the thread discards its uncommitted work, reports the problem on `/healthz`,
//! and rebuilds it from the WAL on the next tick; acknowledged records stay in the WAL
//! until a commit holds them.
//!
//! A partition that received nothing for a whole commit interval gives up its writer
//! (an arena and threads each) and is compacted into one segment in the background: a
//! day that is over, or a backfill that is done, then takes less space and is searched
//! in one pass. A write to it waits for the compaction first.

use crate::batch::FeedBatch;
use crate::budget::Permit;
use crate::health::{Health, Severity};
use crate::merge_priority::MergePriority;
use crate::partition::{Catalog, Partition, PartitionKey};
use crate::state::{Checkpoint, CheckpointFile};
use crate::wal::{self, WalEntry};
use skein_model::{Record, Timestamp};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tantivy::indexer::IndexWriterOptions;
use tantivy::merge_policy::NoMergePolicy;
use tantivy::IndexWriter;

/// Messages to the indexer thread.
pub(crate) enum IndexMsg {
    /// A durable batch.
    Batch {
        lsn: u64,
        batch: Arc<FeedBatch>,
        permit: Option<Permit>,
    },
}

/// WAL positions the ingest and indexer threads share.
#[derive(Debug, Clone)]
pub(crate) struct WalMarks {
    /// Every entry at or below is committed; the WAL may drop them.
    pub committed: Arc<AtomicU64>,
    /// Highest LSN made durable; recovery reads no further, so it never picks up a group
    /// whose fsync may still fail.
    pub durable: Arc<AtomicU64>,
}

/// Tuning of the indexer.
#[derive(Debug, Clone)]
pub struct IndexerConfig {
    /// How often new records are committed (and become searchable).
    pub commit_interval: Duration,
    /// Tantivy indexing threads per partition writer.
    pub writer_threads: usize,
    /// Tantivy memory arena per partition writer, in bytes.
    pub writer_memory: usize,
    /// A partition's writer is closed (its memory given back) once nothing has been
    /// written to it for this long; a partition whose day is over is then merged into
    /// one segment.
    pub retire_after: Duration,
}

pub(crate) struct Indexer {
    pub catalog: Arc<Catalog>,
    pub checkpoint_file: CheckpointFile,
    pub committed: Checkpoint,
    pub marks: WalMarks,
    pub health: Arc<Health>,
    pub wal_dir: PathBuf,
    pub config: IndexerConfig,
    writers: HashMap<PartitionKey, OpenWriter>,
    /// Highest LSN added to the writers.
    last_lsn: u64,
    /// Highest `_seq` per source as of `last_lsn`.
    seqs: HashMap<String, u64>,
    failing: bool,
    compacting: HashMap<PartitionKey, JoinHandle<()>>,
    merge_priority: MergePriority,
}

/// A partition's writer while records arrive for it.
struct OpenWriter {
    partition: Arc<Partition>,
    writer: IndexWriter,
    /// Written since the last commit.
    dirty: bool,
    /// When a record last went in.
    last_write: Instant,
}

#[derive(Debug, thiserror::Error)]
enum IndexError {
    #[error(transparent)]
    Partition(#[from] crate::partition::PartitionError),
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] std::io::Error),
    #[error(transparent)]
    Wal(#[from] crate::wal::WalError),
}

impl Indexer {
    pub fn new(
        catalog: Arc<Catalog>,
        checkpoint_file: CheckpointFile,
        committed: Checkpoint,
        marks: WalMarks,
        health: Arc<Health>,
        wal_dir: PathBuf,
        config: IndexerConfig,
    ) -> Indexer {
        Indexer {
            marks,
            last_lsn: committed.lsn,
            seqs: committed.seqs.clone(),
            catalog,
            checkpoint_file,
            committed,
            health,
            wal_dir,
            config,
            writers: HashMap::new(),
            failing: false,
            compacting: HashMap::new(),
            merge_priority: MergePriority::default(),
        }
    }

    /// Adds a WAL entry read back from disk (startup replay or recovery).
    pub fn add_entry(&mut self, entry: &WalEntry) {
        let mut records = Vec::new();
        for line in entry
            .payload
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
        {
            match crate::batch::decode_line(line) {
                Ok(r) => records.push(r),
                // The line was valid when written and its frame passed its checksum.
                Err(e) => {
                    tracing::error!("WAL entry {} holds an unreadable record: {e}", entry.lsn)
                }
            }
        }
        self.add_or_fail(entry.lsn, &records);
    }

    fn add_or_fail(&mut self, lsn: u64, records: &[Record]) {
        if self.failing || lsn <= self.last_lsn {
            return;
        }
        if let Err(e) = self.add(lsn, records) {
            self.fail(format!("cannot index WAL entry {lsn}: {e}"));
        }
    }

    fn add(&mut self, lsn: u64, records: &[Record]) -> Result<(), IndexError> {
        let fields = self.catalog.fields().clone();
        let now = Instant::now();
        for (i, r) in records.iter().enumerate() {
            // Within a source, `_seq` only grows in WAL order; a record at or below the
            // high-water mark is a leftover of a refused group whose retry is (or will
            // be) indexed itself.
            if let (Some(src), Some(seq)) = (&r.source_id, r.seq) {
                match self.seqs.get_mut(src) {
                    Some(high) if seq <= *high => continue,
                    Some(high) => *high = seq,
                    None => {
                        self.seqs.insert(src.clone(), seq);
                    }
                }
            }
            let p = self.catalog.for_time(r.timestamp)?;
            if lsn <= p.committed_lsn() {
                continue; // committed before a crash; replay must not add it twice
            }
            if let Some(done) = self.compacting.remove(&p.key) {
                let _ = done.join();
            }
            let writer = match self.writers.entry(p.key) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let w: IndexWriter = p.index.writer_with_num_threads(
                        self.config.writer_threads,
                        self.config.writer_memory,
                    )?;
                    // A commit every second makes many small segments; merging them in
                    // larger steps costs less CPU than the default policy under ingest.
                    let mut policy = tantivy::merge_policy::LogMergePolicy::default();
                    policy.set_min_num_segments(12);
                    policy.set_min_layer_size(50_000);
                    w.set_merge_policy(Box::new(policy));
                    e.insert(OpenWriter {
                        partition: p.clone(),
                        writer: w,
                        dirty: false,
                        last_write: now,
                    })
                }
            };
            writer
                .writer
                .add_document(fields.document(r, (lsn << 24) | i as u64))?;
            writer.dirty = true;
            writer.last_write = now;
        }
        self.last_lsn = lsn;
        Ok(())
    }

    fn fail(&mut self, message: String) {
        self.health.report(
            "index",
            Severity::Error,
            format!("{message}; new records are kept in the WAL and indexing is retried every commit interval"),
        );
        self.failing = true;
        // Uncommitted documents are dropped with their writers and rebuilt from the WAL.
        self.writers.clear();
        self.last_lsn = self.committed.lsn;
        self.seqs = self.committed.seqs.clone();
    }

    /// Rebuilds everything past the checkpoint from the WAL.
    fn recover(&mut self) {
        self.failing = false;
        let dir = self.wal_dir.clone();
        let mut entries_err = None;
        let durable = self.marks.durable.load(Ordering::Acquire);
        let res = wal::read_entries(&dir, self.committed.lsn, |e| {
            if entries_err.is_none() && e.lsn <= durable {
                self.add_entry(&e);
                if self.failing {
                    entries_err = Some(());
                }
            }
        });
        if let Err(e) = res {
            self.fail(format!("cannot read the WAL: {e}"));
        }
    }

    /// Commits every written partition; returns whether anything was committed.
    pub fn commit(&mut self) -> bool {
        if self.failing {
            self.recover();
            if self.failing {
                return false;
            }
        }
        if self.last_lsn == self.committed.lsn {
            return false;
        }
        let started = Instant::now();
        match self.try_commit() {
            Ok(()) => {
                metrics::histogram!("skein_commit_seconds").record(started.elapsed().as_secs_f64());
                self.health.clear("index");
                true
            }
            Err(e) => {
                self.fail(format!("commit failed: {e}"));
                false
            }
        }
    }

    fn try_commit(&mut self) -> Result<(), IndexError> {
        let lsn = self.last_lsn;
        let payload = Partition::commit_payload(lsn);
        for w in self.writers.values_mut() {
            if w.dirty {
                let mut prepared = w.writer.prepare_commit()?;
                prepared.set_payload(&payload);
                prepared.commit()?;
                w.partition.committed(lsn)?;
            }
        }
        let cp = Checkpoint {
            lsn,
            seqs: self.seqs.clone(),
        };
        self.checkpoint_file.store(&cp)?;
        self.committed = cp;
        self.marks.committed.store(lsn, Ordering::Release);
        for w in self.writers.values_mut() {
            w.dirty = false;
        }
        Ok(())
    }

    /// Retires the writers of partitions nothing was written to for `retire_after`, and
    /// compacts those whose day is over into one segment. Today's partition is left to the
    /// merge policy: a lull in ingest must not make it rewrite the whole day, and a
    /// record arriving during a compaction waits for it.
    fn retire_idle(&mut self) {
        if self.failing {
            return;
        }
        let now = Instant::now();
        let idle: Vec<PartitionKey> = self
            .writers
            .iter()
            .filter(|(_, w)| {
                !w.dirty && now.duration_since(w.last_write) >= self.config.retire_after
            })
            .map(|(k, _)| *k)
            .collect();
        let day_over = |key: &PartitionKey| key.end() <= Timestamp::now();
        for key in idle {
            let Some(OpenWriter {
                partition: p,
                writer: w,
                ..
            }) = self.writers.remove(&key)
            else {
                continue;
            };
            let closed = day_over(&key);
            let spawned = std::thread::Builder::new()
                .name("skein-compact".into())
                .spawn(move || {
                    if !closed {
                        // Only the writer closes; merges it started finish first.
                        if let Err(e) = w.wait_merging_threads() {
                            tracing::warn!("merge in {} did not finish: {e}", p.path.display());
                        }
                        return;
                    }
                    if let Err(e) = compact(&p, w) {
                        tracing::warn!(
                            "compaction of {} did not finish: {e}; the partition stays \
                             searchable as it is",
                            p.path.display()
                        );
                    }
                    if let Err(e) = p.reload() {
                        tracing::warn!("cannot reload {}: {e}", p.path.display());
                    }
                });
            match spawned {
                Ok(handle) => {
                    self.compacting.insert(key, handle);
                }
                Err(e) => tracing::warn!("cannot start compaction: {e}"),
            }
        }
        self.compacting.retain(|_, h| !h.is_finished());
    }

    pub fn run(mut self, rx: Receiver<IndexMsg>) {
        let mut deadline = Instant::now() + self.config.commit_interval;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(IndexMsg::Batch { lsn, batch, permit }) => {
                    self.add_or_fail(lsn, &batch.records);
                    drop(permit);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= deadline {
                // Before the commit, `dirty` still tells which writers got nothing during
                // this interval.
                self.retire_idle();
                self.commit();
                // A commit is when the merge policy starts merges; writers opened since
                // the last one (compactions' included) brought their merge threads.
                self.merge_priority.lower_new_merge_threads();
                deadline = Instant::now() + self.config.commit_interval;
            }
        }
        self.commit();
        for (_, w) in self.writers.drain() {
            let _ = w.writer.wait_merging_threads();
        }
        for (_, h) in self.compacting.drain() {
            let _ = h.join();
        }
    }
}

/// Merges every segment of an idle partition into one, given the writer it just retired.
///
/// Tantivy starts a merge asked for on segments its merge policy is already merging: both
/// run, and the one that ends second finds its inputs gone ("couldn't find segment in
/// SegmentManager") and fails without the garbage collection that follows a merge. Its
/// output stays on disk, and so do the inputs, which it still held when the first one
/// collected: until a later writer's commit, the partition takes about twice its size.
/// So the policy's merges finish first, with no new ones started, and the compaction runs
/// on a writer of its own whose policy merges nothing.
fn compact(p: &Partition, retired: IndexWriter) -> tantivy::Result<()> {
    retired.set_merge_policy(Box::new(NoMergePolicy));
    retired.wait_merging_threads()?;
    let segments = p.index.searchable_segment_ids()?;
    if segments.len() < 2 {
        return Ok(());
    }
    let mut w: IndexWriter = p
        .index
        .writer_with_options(IndexWriterOptions::builder().num_merge_threads(1).build())?;
    w.set_merge_policy(Box::new(NoMergePolicy));
    let merged = w.merge(&segments).wait();
    // Also removes what a merge that failed (a full disk) or was cut off by a crash left.
    let collected = w.garbage_collect_files().wait();
    w.wait_merging_threads()?;
    merged?;
    collected?;
    Ok(())
}
