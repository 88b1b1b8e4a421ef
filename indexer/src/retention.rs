//! Keeping the disk in bounds: partitions older than `--retention` are dropped whole,
//! and past `--max-disk` the oldest go first. The indexer thread decides (it owns the
//! writers a dropped partition may still have); the partition leaves the catalog at once
//! and its directory goes when the last search or follower holding it lets go
//! ([`crate::partition::Partition`]'s drop).
//!
//! `--retain QUERY=AGE` rules keep some records longer or shorter than the rest: a
//! partition is dropped whole once past the longest lifetime, and before that each
//! shorter-lived class of records is deleted from it once its day is past that class's
//! lifetime (so retention, like the whole-day drop, works by UTC day).
//!
//! Also measured here: the disk the server's files take and the free space of their
//! filesystem, for `/metrics` and `GET /api/v1/retention`.

use crate::partition::{Catalog, PartitionKey};
use serde::Serialize;
use skein_model::Timestamp;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tantivy::query::{AllQuery, BooleanQuery, Occur, Query};

/// How often retention is checked (and disk use measured). The issue asks for at least
/// hourly; measuring a data directory is a `stat` per file, so more often costs nothing
/// and keeps `/metrics` fresh.
pub const CHECK_EVERY: Duration = Duration::from_secs(10);

/// The operator's bounds.
#[derive(Debug, Clone, Default)]
pub struct RetentionConfig {
    /// Records no rule matches are kept this long (`--retention`); none: forever.
    pub max_age: Option<Duration>,
    /// Past this many bytes (partitions and WAL), the oldest partitions are dropped.
    pub max_disk: Option<u64>,
    /// `--retain QUERY=AGE` rules, first match wins.
    pub rules: Vec<RetainRule>,
}

/// One `--retain` rule: records its query matches (and no earlier rule's) are kept
/// `age`.
#[derive(Debug, Clone)]
pub struct RetainRule {
    /// As the operator wrote it (`level:debug=3d`).
    pub text: String,
    /// How long its records are kept.
    pub age: Duration,
    /// The rule's query (compiled by the caller, who knows the query language).
    pub query: Arc<dyn Query>,
}

/// A class of records with one lifetime: a rule's (its query, minus earlier rules'),
/// or the rest's (`--retention`).
pub(crate) struct Class {
    pub name: String,
    pub age: Duration,
    pub query: Box<dyn Query>,
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

impl RetentionConfig {
    /// The longest any record is kept; `None`: some records are kept forever.
    fn longest(&self) -> Option<Duration> {
        let default = self.max_age?;
        Some(
            self.rules
                .iter()
                .map(|r| r.age)
                .fold(default, Duration::max),
        )
    }

    /// Records older than this are past every retention (`None`: some are kept
    /// forever): ingest refuses them, the indexer skips them.
    pub fn horizon(&self, now: Timestamp) -> Option<Timestamp> {
        self.longest()
            .map(|a| Timestamp(now.0.saturating_sub(nanos(a))))
    }

    /// When a partition is dropped whole for age: once its last instant is past the
    /// longest retention.
    pub fn drop_at(&self, key: &PartitionKey) -> Option<Timestamp> {
        self.longest()
            .map(|a| Timestamp(key.end().0.saturating_add(nanos(a))))
    }

    /// The classes whose lifetime is shorter than the longest (their records go from
    /// partitions that stay), each with the query that picks exactly its records.
    pub(crate) fn classes(&self) -> Vec<Class> {
        let mut out = Vec::new();
        let longest = self.longest();
        for (i, r) in self.rules.iter().enumerate() {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> =
                vec![(Occur::Must, r.query.box_clone())];
            for earlier in &self.rules[..i] {
                clauses.push((Occur::MustNot, earlier.query.box_clone()));
            }
            if longest.is_none_or(|l| r.age < l) {
                out.push(Class {
                    name: format!("--retain {}", r.text),
                    age: r.age,
                    query: Box::new(BooleanQuery::new(clauses)),
                });
            }
        }
        if let Some(age) = self.max_age {
            if !self.rules.is_empty() && longest.is_some_and(|l| age < l) {
                let mut clauses: Vec<(Occur, Box<dyn Query>)> =
                    vec![(Occur::Must, Box::new(AllQuery))];
                for r in &self.rules {
                    clauses.push((Occur::MustNot, r.query.box_clone()));
                }
                out.push(Class {
                    name: "--retention".into(),
                    age,
                    query: Box::new(BooleanQuery::new(clauses)),
                });
            }
        }
        out
    }
}

/// One partition as `GET /api/v1/retention` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionUsage {
    /// Its directory name (`2026-11-20`).
    pub partition: String,
    /// Bytes its files take.
    pub bytes: u64,
    /// Records it holds (committed).
    pub records: u64,
    /// When it is dropped for age (RFC 3339), if `--retention` is set.
    pub drop_at: Option<String>,
}

/// Disk use and the retention settings.
#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    /// `--retention` in seconds.
    pub retention_seconds: Option<u64>,
    /// `--max-disk` in bytes.
    pub max_disk_bytes: Option<u64>,
    /// Bytes of every partition.
    pub index_bytes: u64,
    /// Bytes of the WAL.
    pub wal_bytes: u64,
    /// Free bytes of the data directory's filesystem (for an unprivileged process).
    pub free_bytes: Option<u64>,
    /// Every partition, oldest first.
    pub partitions: Vec<PartitionUsage>,
}

/// Bytes of the files directly in `dir` (a Tantivy index or the WAL is flat).
pub fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Free bytes of the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid C string and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Measures the data directory.
pub fn usage(config: &RetentionConfig, catalog: &Catalog, wal_dir: &Path) -> Usage {
    let partitions: Vec<PartitionUsage> = catalog
        .all()
        .iter()
        .map(|p| PartitionUsage {
            partition: p.key.dir_name(),
            bytes: dir_bytes(&p.path),
            records: p.searcher().num_docs(),
            drop_at: config.drop_at(&p.key).map(|t| t.to_rfc3339()),
        })
        .collect();
    let u = Usage {
        retention_seconds: config.max_age.map(|d| d.as_secs()),
        max_disk_bytes: config.max_disk,
        index_bytes: partitions.iter().map(|p| p.bytes).sum(),
        wal_bytes: dir_bytes(wal_dir),
        free_bytes: free_bytes(wal_dir),
        partitions,
    };
    metrics::gauge!("skein_disk_bytes", "kind" => "index").set(u.index_bytes as f64);
    metrics::gauge!("skein_disk_bytes", "kind" => "wal").set(u.wal_bytes as f64);
    if let Some(f) = u.free_bytes {
        metrics::gauge!("skein_disk_free_bytes").set(f as f64);
    }
    u
}

/// Why a partition is to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Its day ended longer ago than `--retention`.
    Age,
    /// The data directory is over `--max-disk` and it is the oldest.
    Disk,
}

/// The partitions to drop now, oldest first: those past `max_age`, then, while the
/// total is over `max_disk`, the oldest of the rest. The newest partition is never
/// dropped for size: it is where today's records go.
pub fn victims(
    config: &RetentionConfig,
    usage: &Usage,
    keys: &[PartitionKey],
    now: Timestamp,
) -> Vec<(PartitionKey, Reason)> {
    let mut out = Vec::new();
    let mut total = usage.index_bytes + usage.wal_bytes;
    let horizon = config.horizon(now);
    let size_of = |k: &PartitionKey| {
        usage
            .partitions
            .iter()
            .find(|p| p.partition == k.dir_name())
            .map_or(0, |p| p.bytes)
    };
    let mut rest = Vec::new();
    for k in keys {
        if horizon.is_some_and(|h| k.end() <= h) {
            out.push((*k, Reason::Age));
            total = total.saturating_sub(size_of(k));
        } else {
            rest.push(*k);
        }
    }
    if let Some(max) = config.max_disk {
        let newest = rest.last().copied();
        for k in rest {
            if total <= max || Some(k) == newest {
                break;
            }
            out.push((k, Reason::Disk));
            total = total.saturating_sub(size_of(&k));
        }
    }
    out
}

/// Formats bytes for messages (`1.5 GB`).
pub fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(day: i64) -> PartitionKey {
        PartitionKey { day, generation: 0 }
    }

    fn usage_of(sizes: &[(i64, u64)], wal: u64) -> Usage {
        Usage {
            retention_seconds: None,
            max_disk_bytes: None,
            index_bytes: sizes.iter().map(|s| s.1).sum(),
            wal_bytes: wal,
            free_bytes: None,
            partitions: sizes
                .iter()
                .map(|(d, b)| PartitionUsage {
                    partition: key(*d).dir_name(),
                    bytes: *b,
                    records: 0,
                    drop_at: None,
                })
                .collect(),
        }
    }

    #[test]
    fn age_drops_whole_days_past_the_horizon_and_size_the_oldest_but_never_the_newest() {
        let now = key(100).start(); // midnight starting day 100
        let keys: Vec<_> = (90..=100).map(key).collect();
        let sizes: Vec<_> = (90..=100).map(|d| (d, 10)).collect();
        let u = usage_of(&sizes, 5);
        let by_age = RetentionConfig {
            max_age: Some(Duration::from_secs(3 * 86_400)),
            ..RetentionConfig::default()
        };
        // Days 90..=96 ended at or before day 97's start = now - 3 days.
        let v = victims(&by_age, &u, &keys, now);
        assert_eq!(v.len(), 7);
        assert!(v.iter().all(|(k, r)| k.day <= 96 && *r == Reason::Age));
        let by_size = RetentionConfig {
            max_disk: Some(50),
            ..RetentionConfig::default()
        };
        // 115 bytes; dropping 7 oldest days (70) leaves 45.
        let v = victims(&by_size, &u, &keys, now);
        assert_eq!(v.len(), 7);
        assert_eq!(v[0], (key(90), Reason::Disk));
        let tiny = RetentionConfig {
            max_disk: Some(1),
            ..RetentionConfig::default()
        };
        let v = victims(&tiny, &u, &keys, now);
        assert_eq!(v.len(), 10, "all but the newest");
        assert!(v.iter().all(|(k, _)| k.day != 100));
    }

    #[test]
    fn bytes_read_as_people_write_them() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1_500_000_000), "1.5 GB");
    }
}
