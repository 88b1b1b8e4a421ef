//! Time partitions: one Tantivy index per UTC day.
//!
//! A partition lives in `partitions/<YYYY-MM-DD>` (or `<YYYY-MM-DD>~N` when an earlier
//! index for that day could not be opened and was left untouched for repair). Each
//! commit carries the WAL position it is complete up to as its Tantivy commit payload,
//! so replay after a crash can skip what a partition already holds and nothing is
//! indexed twice.

use crate::schema::{self, Fields};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use skein_model::Timestamp;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use tantivy::directory::MmapDirectory;
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::{Index, IndexReader, IndexSettings, ReloadPolicy, Searcher};
use thiserror::Error;

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// Where dropped partitions wait for their last reader, under the partitions root.
const DROPPED_DIR: &str = ".dropped";

/// The file in each partition that says which skein format wrote it.
pub const FORMAT_FILE: &str = "skein-partition.json";

/// The partition format this build writes and reads. A partition without the file is
/// format 1 (written before the file existed). Raise it when the schema or the stored
/// record form changes incompatibly, and open older formats here.
///
/// - 1: the first.
/// - 2: the `pattern` keyword field, last in the schema. A format 1 partition is
///   upgraded when opened ([`upgrade_schema`]).
pub const FORMAT: u32 = 2;

#[derive(Serialize, Deserialize)]
struct FormatFile {
    format: u32,
    written_by: String,
}

/// Checks (or, for a new partition, writes) the partition's format version.
fn check_format(path: &Path, new: bool) -> Result<(), PartitionError> {
    let file = path.join(FORMAT_FILE);
    let io = |source| PartitionError::Io {
        path: file.clone(),
        source,
    };
    match std::fs::read(&file) {
        Ok(b) => {
            let f: FormatFile = serde_json::from_slice(&b).map_err(|e| {
                io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    e.to_string(),
                ))
            })?;
            if f.format < FORMAT && !new {
                upgrade(path)?;
            }
            if f.format > FORMAT {
                return Err(io(std::io::Error::new(
                    std::io::ErrorKind::Unsupported,
                    format!(
                        "written in partition format {} by skein {}, newer than this skein \
                         ({}, format {FORMAT}) reads; run that version or a later one",
                        f.format,
                        f.written_by,
                        env!("CARGO_PKG_VERSION")
                    ),
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if new {
                write_format(path)
            } else {
                upgrade(path)
            }
        }
        Err(e) => Err(io(e)),
    }
}

fn write_format(path: &Path) -> Result<(), PartitionError> {
    let file = path.join(FORMAT_FILE);
    let body = serde_json::to_vec(&FormatFile {
        format: FORMAT,
        written_by: env!("CARGO_PKG_VERSION").into(),
    })
    .expect("serialisable");
    skein_model::atomic_file::write_atomic(&file, &body, None)
        .map_err(|source| PartitionError::Io { path: file, source })
}

/// Brings an older partition to [`FORMAT`]: its schema first, then the format file, so a
/// crash in between leaves a partition the next open upgrades again.
fn upgrade(path: &Path) -> Result<(), PartitionError> {
    upgrade_schema(path)?;
    write_format(path)
}

/// Appends the fields this build's schema has past the end of the partition's (today
/// only `pattern`) to its `meta.json`. Tantivy reads a field that no segment holds as
/// empty (no terms, no column), so the records written before simply have no pattern,
/// and every field keeps its number. Runs before Tantivy opens the partition.
fn upgrade_schema(path: &Path) -> Result<(), PartitionError> {
    let file = path.join("meta.json");
    let invalid = |what: String| PartitionError::Io {
        path: file.clone(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, what),
    };
    let text = std::fs::read(&file).map_err(|source| PartitionError::Io {
        path: file.clone(),
        source,
    })?;
    let mut meta: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let wanted = serde_json::to_value(schema::build_schema().0).expect("a schema serialises");
    let wanted = wanted.as_array().expect("a schema is a list of fields");
    let Some(have) = meta.get_mut("schema").and_then(|s| s.as_array_mut()) else {
        return Err(invalid("no schema list in meta.json".into()));
    };
    if have.len() >= wanted.len() {
        return Ok(());
    }
    // Only a schema that is a prefix of this build's can grow into it.
    if have[..] != wanted[..have.len()] {
        return Err(invalid(format!(
            "its schema is not one skein wrote (fields {:?}); move the partition out of the \
             data directory",
            have.iter()
                .filter_map(|f| f.get("name"))
                .collect::<Vec<_>>()
        )));
    }
    have.extend_from_slice(&wanted[have.len()..]);
    let body = serde_json::to_vec_pretty(&meta).expect("JSON serialises");
    skein_model::atomic_file::write_atomic(&file, &body, None)
        .map_err(|source| PartitionError::Io { path: file, source })
}

/// Errors opening or creating a partition.
#[derive(Debug, Error)]
pub enum PartitionError {
    /// Tantivy could not open or create the index.
    #[error("partition {path}: {source}")]
    Tantivy {
        /// The partition directory.
        path: PathBuf,
        /// The underlying error.
        source: tantivy::TantivyError,
    },
    /// The directory could not be created or listed.
    #[error("partition {path}: {source}; check permissions and free space")]
    Io {
        /// The directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// What a partition's commit payload records.
#[derive(Debug, Default, Serialize, Deserialize)]
struct CommitPayload {
    lsn: u64,
}

/// A partition's key: the UTC day number and a generation (0 unless an earlier index of
/// the same day failed to open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionKey {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// 0 normally; N for `<day>~N`.
    pub generation: u32,
}

impl PartitionKey {
    /// Directory name, e.g. `2026-11-20` or `2026-11-20~1`.
    pub fn dir_name(&self) -> String {
        let date = day_to_date(self.day);
        if self.generation == 0 {
            date.to_string()
        } else {
            format!("{date}~{}", self.generation)
        }
    }

    fn parse(name: &str) -> Option<PartitionKey> {
        let (date, generation) = match name.split_once('~') {
            Some((d, g)) => (d, g.parse().ok()?),
            None => (name, 0),
        };
        let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let day = date.signed_duration_since(NaiveDate::default()).num_days();
        Some(PartitionKey { day, generation })
    }

    /// First instant of the day.
    pub fn start(&self) -> Timestamp {
        // The first and last representable days are partial: saturate at their edges.
        Timestamp(self.day.saturating_mul(NANOS_PER_DAY))
    }

    /// First instant of the next day.
    pub fn end(&self) -> Timestamp {
        Timestamp((self.day + 1).saturating_mul(NANOS_PER_DAY))
    }
}

fn day_to_date(day: i64) -> NaiveDate {
    NaiveDate::default() + chrono::Duration::days(day)
}

/// One open partition: its index and a reader reloaded after every commit.
pub struct Partition {
    /// Which day (and generation) this is.
    pub key: PartitionKey,
    /// Directory of the index.
    pub path: PathBuf,
    /// The Tantivy index.
    pub index: Index,
    reader: IndexReader,
    committed_lsn: AtomicU64,
    /// Set when retention dropped the partition: where its files were moved, removed
    /// when the last search or follower holding the partition lets go.
    dropped: std::sync::Mutex<Option<PathBuf>>,
}

impl Drop for Partition {
    fn drop(&mut self) {
        let dropped = self
            .dropped
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(dir) = dropped {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("cannot remove dropped partition {}: {e}", dir.display());
            }
        }
    }
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("path", &self.path)
            .finish()
    }
}

impl Partition {
    fn open_or_create(key: PartitionKey, path: PathBuf) -> Result<Partition, PartitionError> {
        let terr = |source| PartitionError::Tantivy {
            path: path.clone(),
            source,
        };
        let new = !path.join("meta.json").exists();
        std::fs::create_dir_all(&path).map_err(|source| PartitionError::Io {
            path: path.clone(),
            source,
        })?;
        check_format(&path, new)?;
        let dir = MmapDirectory::open(&path).map_err(|e| terr(tantivy::TantivyError::from(e)))?;
        let (schema, _) = schema::build_schema();
        let settings = IndexSettings {
            // Log text compresses far better in larger blocks; a search reads few blocks
            // since hits of a time range sit together. Level 3 costs a quarter of level
            // 9's CPU (the docstore's compression thread took a tenth of the server's
            // CPU under ingest at 9) for a docstore about 13% larger.
            docstore_compression: Compressor::Zstd(ZstdCompressor {
                compression_level: Some(3),
            }),
            docstore_blocksize: 512 * 1024,
            ..IndexSettings::default()
        };
        let mut index = Index::builder()
            .schema(schema)
            .settings(settings)
            .tokenizers(schema::tokenizers())
            .open_or_create(dir)
            .map_err(terr)?;
        index.set_tokenizers(schema::tokenizers());
        let lsn = index
            .load_metas()
            .map_err(terr)?
            .payload
            .and_then(|p| serde_json::from_str::<CommitPayload>(&p).ok())
            .map_or(0, |p| p.lsn);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(terr)?;
        Ok(Partition {
            key,
            path,
            index,
            reader,
            committed_lsn: AtomicU64::new(lsn),
            dropped: std::sync::Mutex::new(None),
        })
    }

    /// The WAL position this partition's last commit is complete up to.
    pub fn committed_lsn(&self) -> u64 {
        self.committed_lsn.load(Ordering::Acquire)
    }

    /// The commit payload to attach to a commit complete up to `lsn`.
    pub fn commit_payload(lsn: u64) -> String {
        serde_json::to_string(&CommitPayload { lsn }).expect("serialisable")
    }

    /// Records that a commit up to `lsn` succeeded and makes it visible to searches.
    pub fn committed(&self, lsn: u64) -> tantivy::Result<()> {
        self.committed_lsn.store(lsn, Ordering::Release);
        self.reader.reload()
    }

    /// Makes the latest segments (after a merge) visible to searches.
    pub fn reload(&self) -> tantivy::Result<()> {
        self.reader.reload()
    }

    /// A searcher over the last commit.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    /// Whether the partition holds time `t`.
    pub fn covers(&self, t: Timestamp) -> bool {
        self.key.start() <= t && t < self.key.end()
    }
}

/// A partition that could not be opened, left on disk untouched.
#[derive(Debug, Clone, Serialize)]
pub struct FailedPartition {
    /// Its directory.
    pub path: PathBuf,
    /// Why it failed.
    pub error: String,
}

/// Every partition of the data directory, shared by the indexer (which adds) and
/// searches (which read).
#[derive(Debug)]
pub struct Catalog {
    root: PathBuf,
    open: RwLock<BTreeMap<PartitionKey, Arc<Partition>>>,
    failed: RwLock<Vec<FailedPartition>>,
    /// Held while a partition is created: creating takes fsyncs, and searches must not
    /// wait for them behind the write lock of `open`.
    creating: std::sync::Mutex<()>,
    schema: tantivy::schema::Schema,
    fields: Fields,
}

impl Catalog {
    /// Opens every partition under `root` (created if missing). Partitions that fail
    /// to open are reported in [`Catalog::failed`] and skipped; the rest serve.
    pub fn open(root: &Path) -> Result<Catalog, PartitionError> {
        std::fs::create_dir_all(root).map_err(|source| PartitionError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let mut open = BTreeMap::new();
        let mut failed = Vec::new();
        // Partitions dropped by a run that stopped before their last reader let go.
        let _ = std::fs::remove_dir_all(root.join(DROPPED_DIR));
        let entries = std::fs::read_dir(root).map_err(|source| PartitionError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(key) = PartitionKey::parse(&name) else {
                continue;
            };
            let (files, bytes) = remove_orphans(&entry.path());
            if files > 0 {
                tracing::info!(
                    "partition {name}: removed {files} files ({}) no segment refers to, left \
                     by a merge that a crash or a failure cut short",
                    crate::retention::human_bytes(bytes)
                );
            }
            match Partition::open_or_create(key, entry.path()) {
                Ok(p) => {
                    open.insert(key, Arc::new(p));
                }
                Err(e) => {
                    tracing::error!(
                        "cannot open partition {}: {e}; its records are not searchable until \
                         it is repaired or moved away, new records for that day go to a new index",
                        entry.path().display()
                    );
                    failed.push(FailedPartition {
                        path: entry.path(),
                        error: e.to_string(),
                    });
                }
            }
        }
        let (schema, fields) = schema::build_schema();
        Ok(Catalog {
            root: root.to_path_buf(),
            open: RwLock::new(open),
            failed: RwLock::new(failed),
            creating: std::sync::Mutex::new(()),
            schema,
            fields,
        })
    }

    /// The schema every partition has.
    pub fn schema(&self) -> &tantivy::schema::Schema {
        &self.schema
    }

    /// Field handles (the same for every partition).
    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// Partitions that failed to open.
    pub fn failed(&self) -> Vec<FailedPartition> {
        self.failed.read().expect("lock").clone()
    }

    /// All open partitions, oldest first.
    pub fn all(&self) -> Vec<Arc<Partition>> {
        self.open.read().expect("lock").values().cloned().collect()
    }

    /// Open partitions overlapping `[start, end)`, oldest first.
    pub fn overlapping(&self, start: Timestamp, end: Timestamp) -> Vec<Arc<Partition>> {
        self.open
            .read()
            .expect("lock")
            .values()
            .filter(|p| p.key.start() < end && start < p.key.end())
            .cloned()
            .collect()
    }

    /// The partition that receives records of time `t`, opened or created on demand.
    pub fn for_time(&self, t: Timestamp) -> Result<Arc<Partition>, PartitionError> {
        let day = t.day_number();
        {
            let open = self.open.read().expect("lock");
            if let Some(p) = open
                .range(
                    PartitionKey { day, generation: 0 }..=PartitionKey {
                        day,
                        generation: u32::MAX,
                    },
                )
                .next_back()
            {
                return Ok(p.1.clone());
            }
        }
        let _creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        // Skip generations whose directory exists but failed to open.
        let mut key = PartitionKey { day, generation: 0 };
        {
            let failed = self.failed.read().expect("lock");
            while failed
                .iter()
                .any(|f| f.path == self.root.join(key.dir_name()))
            {
                key.generation += 1;
            }
        }
        if let Some(p) = self.open.read().expect("lock").get(&key) {
            return Ok(p.clone());
        }
        let p = Arc::new(Partition::open_or_create(
            key,
            self.root.join(key.dir_name()),
        )?);
        let mut open = self.open.write().expect("lock");
        open.insert(key, p.clone());
        metrics::gauge!("skein_partitions").set(open.len() as f64);
        Ok(p)
    }

    /// Takes a partition out of the catalog: new searches no longer see it, and its
    /// files are moved aside at once (so a new partition of the same day can be made)
    /// and removed when the last search or follower holding it lets go.
    pub fn remove(&self, key: PartitionKey) -> Result<Option<Arc<Partition>>, PartitionError> {
        let _creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        let Some(p) = self.open.write().expect("lock").remove(&key) else {
            return Ok(None);
        };
        metrics::gauge!("skein_partitions").set(self.len() as f64);
        let aside = self.root.join(DROPPED_DIR);
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PartitionError::Io { path, source }
        };
        std::fs::create_dir_all(&aside).map_err(io(&aside))?;
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let to = aside.join(format!("{}.{unique}", key.dir_name()));
        std::fs::rename(&p.path, &to).map_err(io(&p.path))?;
        *p.dropped.lock().unwrap_or_else(|e| e.into_inner()) = Some(to);
        Ok(Some(p))
    }

    /// Takes out of the catalog the partitions whose index vanished from disk (a
    /// directory deleted by hand): their writers cannot commit, and records of their
    /// days must go to a new index rather than stop indexing for every day.
    pub fn forget_missing(&self) -> Vec<Arc<Partition>> {
        let _creating = self.creating.lock().unwrap_or_else(|e| e.into_inner());
        let mut open = self.open.write().expect("lock");
        let gone: Vec<PartitionKey> = open
            .iter()
            .filter(|(_, p)| !p.path.join("meta.json").exists())
            .map(|(k, _)| *k)
            .collect();
        let out: Vec<Arc<Partition>> = gone.iter().filter_map(|k| open.remove(k)).collect();
        if !out.is_empty() {
            metrics::gauge!("skein_partitions").set(open.len() as f64);
        }
        out
    }

    /// Number of open partitions.
    pub fn len(&self) -> usize {
        self.open.read().expect("lock").len()
    }

    /// Whether no partition is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes the files of an index directory that its `meta.json` does not refer to:
/// segments a merge wrote but never published (a crash, a full disk, two merges racing)
/// and deletes files superseded by later ones, and Tantivy's temporary files. Run
/// before the index is opened, when no searcher can hold them. Answers the files and
/// bytes removed; a directory whose `meta.json` cannot be read is left alone.
pub fn remove_orphans(dir: &Path) -> (u64, u64) {
    let Ok(meta) = std::fs::read(dir.join("meta.json")) else {
        return (0, 0);
    };
    let Ok(meta) = serde_json::from_slice::<serde_json::Value>(&meta) else {
        return (0, 0);
    };
    let Some(segments) = meta["segments"].as_array() else {
        return (0, 0);
    };
    // Segment id (32 hex digits) → the opstamp of its live deletes file, if any.
    let live: std::collections::HashMap<String, Option<u64>> = segments
        .iter()
        .filter_map(|s| {
            let id = s["segment_id"].as_str()?.replace('-', "");
            Some((id, s["deletes"]["opstamp"].as_u64()))
        })
        .collect();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let (mut files, mut bytes) = (0, 0);
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut parts = name.split('.');
        let first = parts.next().unwrap_or("");
        let orphan = if first.is_empty() {
            // `.tmpXXXX`: a file Tantivy was writing atomically when it stopped.
            name.starts_with(".tmp")
        } else if first.len() == 32 && first.bytes().all(|b| b.is_ascii_hexdigit()) {
            match (live.get(first), parts.next(), parts.next()) {
                (None, _, _) => true,
                // `<id>.<opstamp>.del`: only the one meta.json names is live.
                (Some(del), Some(opstamp), Some("del")) => opstamp.parse::<u64>().ok() != *del,
                (Some(_), _, _) => false,
            }
        } else {
            false
        };
        if orphan {
            let len = e.metadata().map_or(0, |m| m.len());
            if std::fs::remove_file(e.path()).is_ok() {
                files += 1;
                bytes += len;
            }
        }
    }
    (files, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_roundtrip_through_directory_names() {
        let t = Timestamp::parse_rfc3339("2026-11-20T23:59:59.999999999Z").unwrap();
        let key = PartitionKey {
            day: t.day_number(),
            generation: 0,
        };
        assert_eq!(key.dir_name(), "2026-11-20");
        assert_eq!(PartitionKey::parse("2026-11-20"), Some(key));
        let g2 = PartitionKey {
            generation: 2,
            ..key
        };
        assert_eq!(PartitionKey::parse(&g2.dir_name()), Some(g2));
        assert!(key.start() <= t && t < key.end());
        assert_eq!(PartitionKey::parse("wal"), None);
    }

    #[test]
    fn edge_days_do_not_overflow() {
        for t in [Timestamp(i64::MAX), Timestamp(i64::MIN)] {
            let key = PartitionKey {
                day: t.day_number(),
                generation: 0,
            };
            assert!(key.start() <= t && t <= key.end());
        }
    }

    #[test]
    fn files_no_segment_refers_to_are_removed_and_live_ones_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let live = "17dd7267f33a487db1f9042b5f20dfd6";
        let dead = "0123456789abcdef0123456789abcdef";
        std::fs::write(
            dir.join("meta.json"),
            r#"{"segments":[{"segment_id":"17dd7267-f33a-487d-b1f9-042b5f20dfd6",
                "max_doc":3,"deletes":{"num_deleted_docs":1,"opstamp":7}}]}"#,
        )
        .unwrap();
        let keep = [
            format!("{live}.store"),
            format!("{live}.idx"),
            format!("{live}.7.del"),
            "meta.json".into(),
            ".managed.json".into(),
            ".tantivy-writer.lock".into(),
        ];
        let drop = [
            format!("{dead}.store"),
            format!("{dead}.fast"),
            format!("{live}.5.del"),
            ".tmpAbC123".into(),
        ];
        for f in keep.iter().chain(&drop) {
            if f != "meta.json" {
                std::fs::write(dir.join(f), b"xxxx").unwrap();
            }
        }
        assert_eq!(remove_orphans(dir), (4, 16));
        for f in &keep {
            assert!(dir.join(f).exists(), "{f} kept");
        }
        for f in &drop {
            assert!(!dir.join(f).exists(), "{f} removed");
        }
    }

    /// A partition written before the `pattern` field (format 1: no format file, a
    /// schema without it) opens, gives its records back, and takes new records with a
    /// pattern that `pattern:ID` finds.
    #[test]
    fn a_format_1_partition_is_upgraded_in_place() {
        use crate::schema::RecordLoader;
        use tantivy::collector::DocSetCollector;
        use tantivy::query::TermQuery;
        let tmp = tempfile::tempdir().unwrap();
        let t = Timestamp::parse_rfc3339("2026-11-20T10:00:00Z").unwrap();
        let write = |cat: &Catalog, r: &skein_model::Record, ord: u64| {
            let p = cat.for_time(t).unwrap();
            let mut w: tantivy::IndexWriter =
                p.index.writer_with_num_threads(1, 15_000_000).unwrap();
            w.add_document(cat.fields().document(r, ord)).unwrap();
            w.commit().unwrap();
            p.reload().unwrap();
        };
        {
            let cat = Catalog::open(tmp.path()).unwrap();
            write(&cat, &skein_model::Record::new(t, "written by format 1"), 1);
        }
        // Make it what format 1 wrote: no format file, no `pattern` in the schema.
        let dir = tmp.path().join("2026-11-20");
        std::fs::remove_file(dir.join(FORMAT_FILE)).unwrap();
        let meta_path = dir.join("meta.json");
        let mut meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&meta_path).unwrap()).unwrap();
        let popped = meta["schema"].as_array_mut().unwrap().pop().unwrap();
        assert_eq!(popped["name"], "pattern");
        std::fs::write(&meta_path, serde_json::to_vec(&meta).unwrap()).unwrap();

        let cat = Catalog::open(tmp.path()).unwrap();
        assert!(cat.failed().is_empty(), "{:?}", cat.failed());
        let format: FormatFile =
            serde_json::from_slice(&std::fs::read(dir.join(FORMAT_FILE)).unwrap()).unwrap();
        assert_eq!(format.format, FORMAT);
        let id = skein_model::PatternId::new(0xabcdef);
        let mut r = skein_model::Record::new(t, "written by format 2");
        r.pattern = Some(id);
        write(&cat, &r, 2);
        let searcher = cat.for_time(t).unwrap().searcher();
        let mut loader = RecordLoader::new(&searcher);
        let query = TermQuery::new(
            tantivy::Term::from_field_text(cat.fields().pattern, &id.to_string()),
            tantivy::schema::IndexRecordOption::Basic,
        );
        let hits = searcher.search(&query, &DocSetCollector).unwrap();
        assert_eq!(hits.len(), 1);
        let found = loader.load(*hits.iter().next().unwrap()).unwrap();
        assert_eq!(
            (found.message.as_str(), found.pattern),
            ("written by format 2", Some(id))
        );
        let all = searcher
            .search(&tantivy::query::AllQuery, &DocSetCollector)
            .unwrap();
        let mut patterns: Vec<_> = all
            .iter()
            .map(|a| loader.load(*a).unwrap().pattern)
            .collect();
        patterns.sort();
        assert_eq!(patterns, vec![None, Some(id)]);
    }

    #[test]
    fn unopenable_partition_is_skipped_and_a_new_generation_used() {
        let tmp = tempfile::tempdir().unwrap();
        let bad = tmp.path().join("2026-11-20");
        std::fs::create_dir_all(&bad).unwrap();
        std::fs::write(bad.join("meta.json"), b"{ not json").unwrap();
        let cat = Catalog::open(tmp.path()).unwrap();
        assert_eq!(cat.failed().len(), 1);
        let t = Timestamp::parse_rfc3339("2026-11-20T10:00:00Z").unwrap();
        let p = cat.for_time(t).unwrap();
        assert_eq!(p.path.file_name().unwrap(), "2026-11-20~1");
        // The broken index is left as it was for repair.
        assert_eq!(std::fs::read(bad.join("meta.json")).unwrap(), b"{ not json");
    }
}
