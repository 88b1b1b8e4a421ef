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

use crate::batch::{Control, FeedBatch};
use crate::budget::Permit;
use crate::field_budget::FieldBudget;
use crate::health::{Health, Severity};
use crate::merge_priority::MergePriority;
use crate::partition::{Catalog, Partition, PartitionKey};
use crate::patterns::Patterns;
use crate::retention::{self, Reason, RetentionConfig};
use crate::snapshot::{self, SnapshotError, SnapshotReport};
use crate::state::{Checkpoint, CheckpointFile};
use crate::wal::{self, WalEntry};
use skein_model::{es_mapping, Record, Timestamp};
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
    /// A durable control entry.
    Control { lsn: u64, control: Control },
    /// Delete by query, after every batch acknowledged before it.
    Delete(DeleteRequest),
    /// Copy the committed state into a directory, after every batch acknowledged
    /// before it.
    Snapshot {
        dir: PathBuf,
        reply: tokio::sync::oneshot::Sender<Result<SnapshotReport, SnapshotError>>,
    },
}

/// Delete the records a query matches in `[start, end)`, now.
pub struct DeleteRequest {
    /// The query (the caller compiles it; the time range is applied here too).
    pub query: Box<dyn tantivy::query::Query>,
    /// First instant of the range.
    pub start: Timestamp,
    /// End of the range (exclusive).
    pub end: Timestamp,
    /// Answers how many records were deleted, once no read path returns them.
    pub reply: tokio::sync::oneshot::Sender<Result<u64, crate::IngestError>>,
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
    /// Partition writers open at once; past it the least recently written one is
    /// committed and closed.
    pub max_open_writers: usize,
    /// Distinct `fields`/`labels` paths of one record that become columns.
    pub max_fields_per_record: usize,
    /// Distinct `fields`/`labels` paths of one partition that become columns.
    pub max_fields_per_partition: usize,
    /// How long partitions are kept and how much disk they may take.
    pub retention: RetentionConfig,
}

/// Arena of a writer opened while the pool is full.
const CROWDED_WRITER_MEMORY: usize = 64 << 20;

/// Writers being closed (merged, compacted) at once.
const MAX_CLOSING: usize = 4;

pub(crate) struct Indexer {
    pub catalog: Arc<Catalog>,
    /// Gives replayed records their pattern ids; saved after commits.
    patterns: Arc<Patterns>,
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
    /// One answer per writer closed with uncommitted records, once it is committed.
    closing_commits: Vec<std::sync::mpsc::Receiver<Result<(), String>>>,
    merge_priority: MergePriority,
    /// When `--max-disk` last made partitions go (its warning stays an hour).
    disk_drop: Option<Instant>,
    /// Records past retention skipped since the last notice.
    expired_skipped: u64,
    /// Partitions each shorter-lived retention class was already deleted from.
    classes_done: std::collections::HashSet<(PartitionKey, usize)>,
    /// Client `(_index, _id)`s added since the last commit, with the partitions they went
    /// to: documents a newer one with the id must delete that searches cannot see yet.
    uncommitted_ids: HashMap<(Box<str>, Box<str>), Vec<PartitionKey>>,
}

/// How long the `/healthz` warning about partitions dropped for `--max-disk` stays.
const DISK_DROP_NOTICE: Duration = Duration::from_secs(3600);

/// A partition's writer while records arrive for it.
struct OpenWriter {
    partition: Arc<Partition>,
    writer: IndexWriter,
    /// Written since the last commit.
    dirty: bool,
    /// When a record last went in.
    last_write: Instant,
    /// The payload paths that have columns in the partition.
    budget: FieldBudget,
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
    #[error("commit of a closed writer: {0}")]
    Closing(String),
}

impl Indexer {
    // Each is a separate handle the thread shares with the engine; a struct bundling
    // them would only be unpacked here.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        catalog: Arc<Catalog>,
        checkpoint_file: CheckpointFile,
        committed: Checkpoint,
        marks: WalMarks,
        health: Arc<Health>,
        wal_dir: PathBuf,
        config: IndexerConfig,
        patterns: Arc<Patterns>,
    ) -> Indexer {
        Indexer {
            patterns,
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
            closing_commits: Vec::new(),
            merge_priority: MergePriority::default(),
            disk_drop: None,
            expired_skipped: 0,
            classes_done: Default::default(),
            uncommitted_ids: HashMap::new(),
        }
    }

    /// Adds a WAL entry read back from disk (startup replay or recovery).
    pub fn add_entry(&mut self, entry: &WalEntry) {
        if let Some(control) = Control::decode(&entry.payload) {
            self.apply(entry.lsn, &control);
            return;
        }
        if self.failing || entry.lsn <= self.last_lsn {
            return;
        }
        let mut records = Vec::new();
        for r in crate::batch::decode_payload(&entry.payload) {
            match r {
                Ok(r) => records.push(r),
                // The line was valid when written and its frame passed its checksum.
                Err(e) => {
                    tracing::error!("WAL entry {} holds an unreadable record: {e}", entry.lsn)
                }
            }
        }
        // The WAL keeps the client's lines; the ids are mined again, and come out the
        // same (see `patterns`).
        self.patterns.assign(&mut records);
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
        // Dedupe in WAL order first: grouping below reorders records across sources'
        // days, and `_seq` must be checked in the order it was sent.
        let mut kept: Vec<(PartitionKey, u32)> = Vec::with_capacity(records.len());
        let mut partitions: Vec<Arc<Partition>> = Vec::new();
        let horizon = self.config.retention.horizon(Timestamp::now());
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
            // Past retention (a late record, or a WAL replayed long after): its
            // partition would be dropped again at once.
            if horizon.is_some_and(|h| r.timestamp < h) {
                self.expired_skipped += 1;
                continue;
            }
            let day = r.timestamp.day_number();
            if partitions.last().is_none_or(|p| p.key.day != day) {
                let p = self.catalog.for_time(r.timestamp)?;
                if !partitions.iter().any(|q| q.key == p.key) {
                    partitions.push(p);
                }
            }
            let key = partitions
                .iter()
                .rev()
                .find(|p| p.key.day == day)
                .expect("found or added above")
                .key;
            kept.push((key, i as u32));
        }
        // Latest wins: a record with a client `_id` replaces the stored documents of its
        // index with that id. Within the entry only the last of an id is kept; earlier
        // documents elsewhere are deleted before this entry's records are added, so the
        // deletes (ordered before the adds in each writer) never reach the new ones.
        let mut with_ids: Vec<(&str, &str, u32)> = Vec::new();
        for &(_, i) in &kept {
            if let Some((index, Some(id))) = es_mapping::identity(&records[i as usize].fields) {
                with_ids.push((index, id, i));
            }
        }
        if !with_ids.is_empty() {
            let mut last: HashMap<(&str, &str), u32> = HashMap::with_capacity(with_ids.len());
            for &(index, id, i) in &with_ids {
                last.insert((index, id), i);
            }
            if last.len() < with_ids.len() {
                kept.retain(
                    |&(_, i)| match es_mapping::identity(&records[i as usize].fields) {
                        Some((index, Some(id))) => last[&(index, id)] == i,
                        _ => true,
                    },
                );
            }
            let keys: Vec<PartitionKey> = partitions.iter().map(|p| p.key).collect();
            let mut ids: Vec<((&str, &str), u32)> = last.into_iter().collect();
            ids.sort_unstable_by_key(|&(_, i)| i);
            for ((index, id), i) in ids {
                self.replace_earlier(lsn, index, id, &keys)?;
                let day = records[i as usize].timestamp.day_number();
                let key = keys.iter().find(|k| k.day == day).copied();
                if let Some(key) = key {
                    let at = self
                        .uncommitted_ids
                        .entry((index.into(), id.into()))
                        .or_default();
                    if !at.contains(&key) {
                        at.push(key);
                    }
                }
            }
        }
        // One run per partition, so that a batch spanning many days opens each day's
        // writer once, and a writer closed to make room holds every record of this entry
        // for its day (its commit can then say it is complete up to this entry).
        if partitions.len() > 1 {
            kept.sort_by_key(|&(key, i)| (key, i));
        }
        let mut runs = kept.chunk_by(|a, b| a.0 == b.0);
        while let Some(run) = runs.next() {
            let key = run[0].0;
            let p = partitions
                .iter()
                .find(|p| p.key == key)
                .expect("every kept record's partition")
                .clone();
            if lsn <= p.committed_lsn() {
                continue; // committed before a crash; replay must not add it twice
            }
            let later: Vec<PartitionKey> = runs.clone().map(|r| r[0].0).collect();
            let writer = self.writer_for(&p, lsn, &later)?;
            let now = Instant::now();
            let dropped = writer.budget.dropped;
            for &(_, i) in run {
                let ord = (lsn << 24) | u64::from(i);
                let doc = fields.document_within(&records[i as usize], ord, &mut writer.budget);
                writer.writer.add_document(doc)?;
            }
            writer.dirty = true;
            writer.last_write = now;
            if writer.budget.dropped > dropped {
                let (n, example) = (
                    writer.budget.dropped - dropped,
                    writer.budget.example.clone(),
                );
                self.fields_refused(&p, n, example.as_deref());
            }
        }
        self.last_lsn = lsn;
        Ok(())
    }

    /// Deletes the documents of `index` with client id `id` that entry `lsn` replaces:
    /// uncommitted ones (in open writers) and committed ones in partitions not yet
    /// committed past `lsn` (a partition committed past it already holds the outcome, and
    /// replay must not delete a newer document there). `later` are the partitions still
    /// to get records of the entry.
    fn replace_earlier(
        &mut self,
        lsn: u64,
        index: &str,
        id: &str,
        later: &[PartitionKey],
    ) -> Result<(), IndexError> {
        let mut targets: Vec<Arc<Partition>> = Vec::new();
        let pending = self
            .uncommitted_ids
            .get(&(Box::from(index), Box::from(id)))
            .cloned()
            .unwrap_or_default();
        for p in self.catalog.all() {
            if lsn <= p.committed_lsn() {
                continue;
            }
            if pending.contains(&p.key) || crate::ids::holds(&p.searcher(), index, id)? {
                targets.push(p);
            }
        }
        let fields = self.catalog.fields().fields;
        for p in targets {
            let w = self.writer_for(&p, lsn, later)?;
            w.writer
                .delete_query(crate::ids::id_query(fields, index, id))?;
            w.dirty = true;
            metrics::counter!("skein_documents_replaced_total").increment(1);
        }
        Ok(())
    }

    /// The open writer of `p`, opened if needed. When `--max-open-partitions` writers are
    /// open, the one written least recently is committed and closed first, so a batch
    /// spanning years holds no more writers (arenas and threads) than the pool. `later`
    /// are the partitions still to get records of entry `lsn`.
    fn writer_for(
        &mut self,
        p: &Arc<Partition>,
        lsn: u64,
        later: &[PartitionKey],
    ) -> Result<&mut OpenWriter, IndexError> {
        if !self.writers.contains_key(&p.key) {
            if let Some(done) = self.compacting.remove(&p.key) {
                let _ = done.join();
            }
            let crowded = self.writers.len() >= self.config.max_open_writers.max(1);
            while self.writers.len() >= self.config.max_open_writers.max(1) {
                let lru = *self
                    .writers
                    .iter()
                    .min_by_key(|(_, w)| w.last_write)
                    .expect("the pool is not empty")
                    .0;
                // A partition with records of this entry still to come holds none of
                // them yet: it is complete up to the entry before.
                let complete_to = if later.contains(&lru) {
                    self.last_lsn
                } else {
                    lsn
                };
                let w = self.writers.remove(&lru).expect("chosen from the pool");
                let commit_at = w.dirty.then_some(complete_to);
                metrics::counter!("skein_partition_writers_evicted_total").increment(1);
                self.close(lru, w, commit_at);
            }
            let writer = self.open_writer(p, crowded)?;
            self.writers.insert(p.key, writer);
        }
        Ok(self.writers.get_mut(&p.key).expect("opened above"))
    }

    /// A new writer for `p`. With room in the pool it gets the configured threads and
    /// arena (a backfill of one past day can be as large as today's ingest). One that
    /// had to close another to get its place (records spread over more days than the
    /// pool holds) gets one indexing thread, one merge thread and a smaller arena: such
    /// writers come and go, and starting and stopping threads is most of their cost.
    fn open_writer(&self, p: &Arc<Partition>, crowded: bool) -> Result<OpenWriter, IndexError> {
        let w: IndexWriter = if crowded {
            p.index.writer_with_options(
                IndexWriterOptions::builder()
                    .num_worker_threads(1)
                    .memory_budget_per_thread(CROWDED_WRITER_MEMORY.min(self.config.writer_memory))
                    .num_merge_threads(1)
                    .build(),
            )?
        } else {
            p.index
                .writer_with_num_threads(self.config.writer_threads, self.config.writer_memory)?
        };
        // A commit every second makes many small segments; merging them in larger steps
        // costs less CPU than the default policy under ingest.
        let mut policy = tantivy::merge_policy::LogMergePolicy::default();
        policy.set_min_num_segments(12);
        policy.set_min_layer_size(50_000);
        w.set_merge_policy(Box::new(policy));
        let searcher = p.searcher();
        let mut columns = Vec::new();
        for reader in searcher.segment_readers() {
            columns.extend(
                reader
                    .fields_metadata()?
                    .into_iter()
                    .map(|m| m.field_name)
                    .filter(|n| n.starts_with("fields.") || n.starts_with("labels.")),
            );
        }
        Ok(OpenWriter {
            partition: p.clone(),
            writer: w,
            dirty: false,
            last_write: Instant::now(),
            budget: FieldBudget::new(
                columns.iter().map(String::as_str),
                self.config.max_fields_per_record,
                self.config.max_fields_per_partition,
            ),
        })
    }

    /// The notice for payload paths that got no column.
    fn fields_refused(&self, p: &Partition, n: u64, example: Option<&str>) {
        metrics::counter!("skein_fields_over_limit_total").increment(n);
        let message = format!(
            "records hold more distinct `fields`/`labels` paths than the limits \
             (--max-fields-per-record {}, --max-fields-per-partition {}); {n} more paths \
             (such as `{}`) are kept in the stored records, returned with every hit, but \
             have no column: queries and aggregations on them find nothing. Send fewer \
             distinct keys (put variable names in values), or raise the limits",
            self.config.max_fields_per_record,
            self.config.max_fields_per_partition,
            example.unwrap_or("?"),
        );
        tracing::warn!("partition {}: {message}", p.key.dir_name());
        self.health.report(
            &format!("fields:{}", p.key.dir_name()),
            Severity::Warning,
            message,
        );
    }

    /// Applies a control entry in its place among the batches.
    fn apply(&mut self, lsn: u64, control: &Control) {
        if self.failing || lsn <= self.last_lsn {
            return;
        }
        let Control::ResetSeq(source) = control;
        self.seqs.remove(source);
        self.last_lsn = lsn;
    }

    /// Measures the disk and drops what retention says must go: partitions past
    /// `--retention`, then the oldest while over `--max-disk`. Everything is committed
    /// first, so a dropped partition takes no record the checkpoint has not passed,
    /// and replay cannot bring one back.
    pub fn enforce_retention(&mut self) {
        if self.failing {
            return;
        }
        if self.expired_skipped > 0 {
            metrics::counter!("skein_records_expired_total").increment(self.expired_skipped);
            tracing::info!(
                "{} records older than --retention were not indexed",
                self.expired_skipped
            );
            self.expired_skipped = 0;
        }
        let config = self.config.retention.clone();
        let usage = retention::usage(&config, &self.catalog, &self.wal_dir);
        if self
            .disk_drop
            .is_some_and(|t| t.elapsed() >= DISK_DROP_NOTICE)
        {
            self.disk_drop = None;
            self.health.clear("retention");
        }
        let keys: Vec<PartitionKey> = self.catalog.all().iter().map(|p| p.key).collect();
        let victims = retention::victims(&config, &usage, &keys, Timestamp::now());
        self.expire_classes(&config, &keys, &victims);
        if victims.is_empty() {
            if let Some(max) = config.max_disk {
                let total = usage.index_bytes + usage.wal_bytes;
                if total > max && keys.len() <= 1 {
                    self.health.report(
                        "disk",
                        Severity::Warning,
                        format!(
                            "the data directory takes {} (over --max-disk {}), and only the                              newest partition is left; raise --max-disk or free space",
                            retention::human_bytes(total),
                            retention::human_bytes(max)
                        ),
                    );
                } else {
                    self.health.clear("disk");
                }
            }
            return;
        }
        self.commit();
        if self.failing {
            return;
        }
        let mut by_disk = Vec::new();
        for (key, reason) in victims {
            if let Some(w) = self.writers.remove(&key) {
                drop(w); // committed above: nothing of it is lost
            }
            if let Some(h) = self.compacting.remove(&key) {
                let _ = h.join();
            }
            let bytes = usage
                .partitions
                .iter()
                .find(|p| p.partition == key.dir_name())
                .map_or(0, |p| p.bytes);
            match self.catalog.remove(key) {
                Ok(Some(_)) => {
                    metrics::counter!("skein_partitions_dropped_total",
                        "reason" => if reason == Reason::Age { "age" } else { "disk" })
                    .increment(1);
                    match reason {
                        Reason::Age => tracing::info!(
                            "dropped partition {} ({}): older than --retention",
                            key.dir_name(),
                            retention::human_bytes(bytes)
                        ),
                        Reason::Disk => by_disk.push(format!(
                            "{} ({})",
                            key.dir_name(),
                            retention::human_bytes(bytes)
                        )),
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!("cannot drop partition {}: {e}", key.dir_name()),
            }
        }
        if !by_disk.is_empty() {
            let max = config.max_disk.unwrap_or(0);
            self.disk_drop = Some(Instant::now());
            self.health.report(
                "retention",
                Severity::Warning,
                format!(
                    "the data directory took {} of --max-disk {}: dropped the oldest                      partitions {} to stay under it; raise --max-disk or lower --retention                      to keep more",
                    retention::human_bytes(usage.index_bytes + usage.wal_bytes),
                    retention::human_bytes(max),
                    by_disk.join(", ")
                ),
            );
        }
    }

    /// Commits, then copies the committed state (checkpoint and partitions) into `dir`.
    fn snapshot(&mut self, dir: &std::path::Path) -> Result<SnapshotReport, SnapshotError> {
        snapshot::prepare(dir)?;
        self.commit();
        if self.failing {
            return Err(SnapshotError::Unavailable("indexing is failing".into()));
        }
        // Writers closed by the pool commit on their own threads: the checkpoint just
        // written waited for them, so their partitions are committed too.
        let mut report = SnapshotReport {
            dir: dir.to_path_buf(),
            lsn: self.committed.lsn,
            ..SnapshotReport::default()
        };
        snapshot::partitions(&self.catalog, dir, &mut report)?;
        self.patterns
            .save_into(dir)
            .map_err(|e| SnapshotError::Unavailable(e.to_string()))?;
        CheckpointFile::new(dir.join("checkpoint.json"))
            .store(&self.committed)
            .map_err(|source| SnapshotError::Io {
                path: dir.join("checkpoint.json"),
                source,
            })?;
        Ok(report)
    }

    /// Deletes each shorter-lived class of records (`--retain` rules, and the rest
    /// under `--retention` when a rule keeps some longer) from the partitions whose day
    /// is past that class's lifetime, once per partition and class.
    fn expire_classes(
        &mut self,
        config: &RetentionConfig,
        keys: &[PartitionKey],
        victims: &[(PartitionKey, Reason)],
    ) {
        let classes = config.classes();
        if classes.is_empty() {
            return;
        }
        let now = Timestamp::now();
        for key in keys {
            if victims.iter().any(|(v, _)| v == key) {
                continue;
            }
            for (i, class) in classes.iter().enumerate() {
                let past = key
                    .end()
                    .0
                    .saturating_add(i64::try_from(class.age.as_nanos()).unwrap_or(i64::MAX))
                    <= now.0;
                if !past || self.classes_done.contains(&(*key, i)) {
                    continue;
                }
                match self.delete(class.query.as_ref(), key.start(), key.end()) {
                    Ok(n) => {
                        self.classes_done.insert((*key, i));
                        if n > 0 {
                            metrics::counter!("skein_records_expired_total").increment(n);
                            tracing::info!(
                                "partition {}: deleted {n} records past {} ({}s)",
                                key.dir_name(),
                                class.name,
                                class.age.as_secs()
                            );
                        }
                    }
                    Err(e) => {
                        tracing::warn!("cannot expire {} in {}: {e}", class.name, key.dir_name());
                        return;
                    }
                }
            }
        }
        self.classes_done.retain(|(k, _)| keys.contains(k));
    }

    /// Deletes what `query` matches in `[start, end)`: every batch before it is
    /// committed first (so replay can never bring a deleted record back), then each
    /// partition holding matches gets the delete and is committed and reloaded before
    /// the answer. A partition whose day is over is then compacted, which reclaims the
    /// space; today's is left to the merge policy.
    fn delete(
        &mut self,
        query: &dyn tantivy::query::Query,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<u64, crate::IngestError> {
        let unavailable = |e: String| crate::IngestError::Unavailable(e);
        self.commit();
        if self.failing {
            return Err(unavailable("the index cannot be written now".into()));
        }
        let mut deleted = 0u64;
        let mut touched = Vec::new();
        for p in self.catalog.overlapping(start, end) {
            let n = query
                .count(&p.searcher())
                .map_err(|e| unavailable(e.to_string()))? as u64;
            if n == 0 {
                continue;
            }
            let lsn = self.last_lsn;
            let w = self
                .writer_for(&p, lsn, &[])
                .map_err(|e| unavailable(e.to_string()))?;
            w.writer
                .delete_query(query.box_clone())
                .map_err(|e| unavailable(e.to_string()))?;
            w.dirty = true;
            deleted += n;
            touched.push(p.key);
        }
        if touched.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.try_commit() {
            self.fail(format!("commit of a delete failed: {e}"));
            return Err(unavailable(e.to_string()));
        }
        let now = Timestamp::now();
        for key in touched {
            if key.end() <= now {
                if let Some(w) = self.writers.remove(&key) {
                    self.close(key, w, None);
                }
            }
        }
        Ok(deleted)
    }

    fn fail(&mut self, message: String) {
        // A partition deleted by hand fails every commit; without it the rest goes on.
        for p in self.catalog.forget_missing() {
            self.writers.remove(&p.key);
            if let Some(h) = self.compacting.remove(&p.key) {
                let _ = h.join();
            }
            self.health.report(
                &format!("partition:{}", p.key.dir_name()),
                Severity::Warning,
                format!(
                    "the index of {} vanished from disk (deleted by hand?): the records it \
                     held are gone; records of that day from now on go to a new index",
                    p.key.dir_name()
                ),
            );
        }
        self.health.report(
            "index",
            Severity::Error,
            format!("{message}; new records are kept in the WAL and indexing is retried every commit interval"),
        );
        self.failing = true;
        // Uncommitted documents are dropped with their writers and rebuilt from the WAL;
        // writers being closed finish first, so none holds its partition's lock.
        self.writers.clear();
        let _ = self.await_closing_commits();
        for (_, h) in self.compacting.drain() {
            let _ = h.join();
        }
        self.last_lsn = self.committed.lsn;
        self.seqs = self.committed.seqs.clone();
        self.uncommitted_ids.clear();
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

    /// Saves the miner's state (see [`Patterns::save`]); a failure is a warning on
    /// `/healthz`: the ids can be mined again, nothing is lost.
    fn save_patterns(&mut self, now: bool) {
        match self.patterns.save(now) {
            Ok(()) => self.health.clear("patterns"),
            Err(e) => self
                .health
                .report("patterns", Severity::Warning, e.to_string()),
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
        self.await_closing_commits()?;
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
        // Searches see what was added: lookups of ids find it there.
        self.uncommitted_ids.clear();
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
        for key in idle {
            if let Some(w) = self.writers.remove(&key) {
                self.close(key, w, None);
            }
        }
        self.compacting.retain(|_, h| !h.is_finished());
    }

    /// Closes a writer in the background: first its commit, stamped `commit_at`, when
    /// it holds uncommitted records (the next checkpoint waits for that commit, see
    /// [`Indexer::await_closing_commits`]); then its merges finish, and a partition
    /// whose day is over is compacted into one segment. The indexer goes on with other
    /// days meanwhile: a backfill spanning many days waits for no fsync of the days it
    /// leaves. At most [`MAX_CLOSING`] run at once; past that the indexer waits for one
    /// of them, so a stream of evictions cannot start a thread per partition.
    fn close(&mut self, key: PartitionKey, w: OpenWriter, commit_at: Option<u64>) {
        self.compacting.retain(|_, h| !h.is_finished());
        while self.compacting.len() >= MAX_CLOSING {
            let Some(&oldest) = self.compacting.keys().next() else {
                break;
            };
            if let Some(h) = self.compacting.remove(&oldest) {
                let _ = h.join();
            }
        }
        let OpenWriter {
            partition: p,
            writer: mut w,
            ..
        } = w;
        let committed = commit_at.map(|lsn| {
            let (tx, rx) = std::sync::mpsc::channel();
            self.closing_commits.push(rx);
            (lsn, tx)
        });
        let closed = key.end() <= Timestamp::now();
        let spawned = std::thread::Builder::new()
            .name("skein-compact".into())
            .spawn(move || {
                if let Some((lsn, done)) = committed {
                    let result = commit_stamped(&mut w, &p, lsn);
                    let failed = result.is_err();
                    let _ = done.send(result.map_err(|e| e.to_string()));
                    if failed {
                        return; // the next checkpoint fails and the WAL is replayed
                    }
                }
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

    /// Waits for the commits of writers closed since the last checkpoint: the
    /// checkpoint may only move past records those writers hold once they are committed.
    fn await_closing_commits(&mut self) -> Result<(), IndexError> {
        let mut failure = None;
        for done in self.closing_commits.drain(..) {
            match done.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failure = Some(e),
                Err(_) => failure = Some("the closing thread stopped".into()),
            }
        }
        match failure {
            None => Ok(()),
            Some(e) => Err(IndexError::Closing(e)),
        }
    }

    pub fn run(mut self, rx: Receiver<IndexMsg>) {
        let mut deadline = Instant::now() + self.config.commit_interval;
        self.enforce_retention();
        let mut next_retention = Instant::now() + retention::CHECK_EVERY;
        loop {
            let wait = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(IndexMsg::Batch { lsn, batch, permit }) => {
                    self.add_or_fail(lsn, &batch.records);
                    drop(permit);
                }
                Ok(IndexMsg::Control { lsn, control }) => self.apply(lsn, &control),
                Ok(IndexMsg::Delete(d)) => {
                    let result = self.delete(d.query.as_ref(), d.start, d.end);
                    let _ = d.reply.send(result);
                }
                Ok(IndexMsg::Snapshot { dir, reply }) => {
                    let _ = reply.send(self.snapshot(&dir));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= deadline {
                // Before the commit, `dirty` still tells which writers got nothing during
                // this interval.
                self.retire_idle();
                if self.commit() {
                    self.save_patterns(false);
                }
                // A commit is when the merge policy starts merges; writers opened since
                // the last one (compactions' included) brought their merge threads.
                self.merge_priority.lower_new_merge_threads();
                deadline = Instant::now() + self.config.commit_interval;
            }
            if Instant::now() >= next_retention {
                self.enforce_retention();
                next_retention = Instant::now() + retention::CHECK_EVERY;
            }
        }
        self.commit();
        self.save_patterns(true);
        for (_, w) in self.writers.drain() {
            let _ = w.writer.wait_merging_threads();
        }
        for (_, h) in self.compacting.drain() {
            let _ = h.join();
        }
    }
}

/// Commits `w` with the commit payload saying `p` is complete up to WAL entry `lsn`.
fn commit_stamped(w: &mut IndexWriter, p: &Partition, lsn: u64) -> tantivy::Result<()> {
    let mut prepared = w.prepare_commit()?;
    prepared.set_payload(&Partition::commit_payload(lsn));
    prepared.commit()?;
    p.committed(lsn)
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
