//! A partition whose day is over and that goes idle is compacted into one segment in the
//! background, even
//! when Tantivy's merge policy is already merging some of its segments: afterwards the
//! partition directory holds only the files `meta.json` refers to (no output of a merge
//! that lost the race), and every record is searchable exactly once. Records that arrive
//! for a partition while it is being compacted wait for the compaction, and the partition
//! ends up compacted and clean all the same. Today's partition is never compacted that
//! way: a lull in ingest must not rewrite the whole day.

mod common;

use common::{small_config, wait_for};
use skein_indexer::{Engine, Partition, PreparedBatch};
use skein_model::{Record, Timestamp};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tantivy::collector::Count;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::Term;

/// Segments the indexer's merge policy merges at once (`set_min_num_segments`).
const POLICY_MERGE: usize = 12;
const PER_COMMIT: u64 = 400;
const DAY_A: &str = "2026-11-20";
const DAY_B: &str = "2026-11-21";

/// `PER_COMMIT` records of `day`, source `c`, with `_seq`s from `first`.
fn records(day: &str, first: u64) -> Vec<Record> {
    let t = Timestamp::parse_rfc3339(&format!("{day}T10:00:00Z")).unwrap();
    (first..first + PER_COMMIT)
        .map(|s| {
            let mut r = Record::new(
                Timestamp(t.0 + s as i64),
                format!(
                    "compacted line {s} user{} path /api/v{}/items",
                    s % 97,
                    s % 13
                ),
            );
            r.source_id = Some("c".into());
            r.seq = Some(s);
            r
        })
        .collect()
}

/// Files of the partition directory that are neither a file of a segment `meta.json`
/// lists nor Tantivy's bookkeeping.
fn unreferenced_files(dir: &Path) -> Vec<String> {
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
    let live: BTreeSet<String> = meta["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["segment_id"].as_str().unwrap().replace('-', ""))
        .collect();
    let mut stray = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let bookkeeping = name == "meta.json"
            || name == ".managed.json"
            || name == skein_indexer::partition::FORMAT_FILE
            || name.starts_with(".tantivy-");
        let segment = name.split('.').next().unwrap_or_default();
        if !bookkeeping && !live.contains(segment) {
            stray.push(name);
        }
    }
    stray
}

fn segments(p: &Partition) -> usize {
    p.searcher().segment_readers().len()
}

/// Every `_seq` of every live document, and how many documents hold the word `compacted`.
fn contents(p: &Partition) -> (Vec<u64>, usize) {
    let searcher = p.searcher();
    let mut seqs = Vec::new();
    for reader in searcher.segment_readers() {
        let col = reader.fast_fields().u64("_seq").unwrap();
        for doc in reader.doc_ids_alive() {
            seqs.push(col.first(doc).unwrap());
        }
    }
    seqs.sort_unstable();
    let message = p.index.schema().get_field("message").unwrap();
    let q = TermQuery::new(
        Term::from_field_text(message, "compacted"),
        IndexRecordOption::Basic,
    );
    (seqs, searcher.search(&q, &Count).unwrap())
}

/// A data directory whose day A holds one segment short of a policy merge and whose
/// day B holds a few segments, and the records each should hold.
struct Fixture {
    tmp: tempfile::TempDir,
    next_seq: u64,
    expected_a: Vec<u64>,
    expected_b: Vec<u64>,
}

impl Fixture {
    /// One commit per engine run: a commit interval that never elapses, then shutdown.
    async fn new() -> Fixture {
        let mut f = Fixture {
            tmp: tempfile::tempdir().unwrap(),
            next_seq: 1,
            expected_a: Vec::new(),
            expected_b: Vec::new(),
        };
        let mut slow = small_config(f.tmp.path());
        slow.indexer.commit_interval = Duration::from_secs(3600);
        for run in 0..POLICY_MERGE - 1 {
            let engine = Engine::open(slow.clone()).unwrap();
            f.send(&engine, true, run < 4).await;
            engine.shutdown();
        }
        f
    }

    /// Sends one batch to day A, day B or both and waits until it is durable.
    async fn send(&mut self, engine: &Engine, to_a: bool, to_b: bool) {
        let mut batch = Vec::new();
        for (day, yes, expected) in [
            (DAY_A, to_a, &mut self.expected_a),
            (DAY_B, to_b, &mut self.expected_b),
        ] {
            if yes {
                batch.extend(records(day, self.next_seq));
                expected.extend(self.next_seq..self.next_seq + PER_COMMIT);
                self.next_seq += PER_COMMIT;
            }
        }
        let n = batch.len();
        let out = engine
            .ingest(PreparedBatch::new(batch, None))
            .await
            .unwrap();
        assert_eq!(out.accepted, n);
    }

    /// An engine that commits every 2 ms, so a partition is retired and compacted
    /// moments after its last commit; and its partitions of day A and day B.
    fn open_fast(&self) -> (Engine, Arc<Partition>, Arc<Partition>) {
        let mut fast = small_config(self.tmp.path());
        fast.indexer.commit_interval = Duration::from_millis(2);
        fast.indexer.retire_after = Duration::ZERO;
        let engine = Engine::open(fast).unwrap();
        let find = |day: &str| {
            let path = self.tmp.path().join("partitions").join(day);
            let all = engine.catalog().all();
            all.into_iter().find(|p| p.path == path).unwrap()
        };
        let (a, b) = (find(DAY_A), find(DAY_B));
        assert_eq!(segments(&a), POLICY_MERGE - 1);
        assert_eq!(segments(&b), 4);
        (engine, a, b)
    }

    /// After shutdown: one segment per partition, no stray file, every record once.
    fn check(&self, a: &Partition, b: &Partition) {
        for (p, expected) in [(a, &self.expected_a), (b, &self.expected_b)] {
            let dir = p.path.display();
            assert_eq!(
                unreferenced_files(&p.path),
                Vec::<String>::new(),
                "{dir}: files of no segment in meta.json"
            );
            assert_eq!(segments(p), 1, "{dir}");
            let (seqs, hits) = contents(p);
            assert_eq!(&seqs, expected, "{dir}: every record exactly once");
            assert_eq!(
                hits,
                expected.len(),
                "{dir}: every record found by a search"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_racing_a_policy_merge_leaves_one_segment_and_no_stray_files() {
    let mut f = Fixture::new().await;
    let (engine, a, b) = f.open_fast();
    // Day A reaches the policy's threshold: a policy merge starts at this commit, and a
    // few milliseconds later, with nothing more arriving, the compaction of both.
    f.send(&engine, true, true).await;
    // The compaction reloads the partition when it is done; nothing else does here.
    wait_for("both partitions compacted", || {
        segments(&a) < POLICY_MERGE && segments(&b) == 1
    });
    // Joins the compaction threads.
    engine.shutdown();
    f.check(&a, &b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arriving_during_compaction_are_indexed_once() {
    let mut f = Fixture::new().await;
    let (engine, a, b) = f.open_fast();
    f.send(&engine, true, true).await;
    assert!(engine.wait_searchable(Duration::from_secs(10)).await);
    // A few commit intervals: both partitions are retired and being compacted (day A's
    // compaction is still waiting for the policy merge) when more records arrive.
    tokio::time::sleep(Duration::from_millis(10)).await;
    f.send(&engine, true, true).await;
    let (want_a, want_b) = (f.expected_a.len() as u64, f.expected_b.len() as u64);
    wait_for("both partitions compacted again", || {
        segments(&a) == 1
            && segments(&b) == 1
            && a.searcher().num_docs() == want_a
            && b.searcher().num_docs() == want_b
    });
    engine.shutdown();
    f.check(&a, &b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn todays_partition_is_left_to_the_merge_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let today = Timestamp::now();
    let batch = |first: u64| {
        (first..first + PER_COMMIT)
            .map(|s| {
                let mut r = Record::new(today, format!("today {s}"));
                r.source_id = Some("t".into());
                r.seq = Some(s);
                r
            })
            .collect::<Vec<_>>()
    };
    let mut slow = small_config(tmp.path());
    slow.indexer.commit_interval = Duration::from_secs(3600);
    for run in 0..3u64 {
        let engine = Engine::open(slow.clone()).unwrap();
        let out = engine
            .ingest(PreparedBatch::new(batch(1 + run * PER_COMMIT), None))
            .await
            .unwrap();
        assert_eq!(out.accepted, PER_COMMIT as usize);
        engine.shutdown();
    }
    let mut fast = small_config(tmp.path());
    fast.indexer.commit_interval = Duration::from_millis(2);
    fast.indexer.retire_after = Duration::ZERO;
    let engine = Engine::open(fast).unwrap();
    engine
        .ingest(PreparedBatch::new(batch(1 + 3 * PER_COMMIT), None))
        .await
        .unwrap();
    assert!(engine.wait_searchable(Duration::from_secs(10)).await);
    // Hundreds of commit intervals with nothing arriving: the writer is retired, and a
    // compaction, had one started, would have merged these four segments by now.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let p = engine.catalog().all().pop().unwrap();
    engine.shutdown();
    assert_eq!(segments(&p), 4, "today's segments are not merged into one");
    assert_eq!(p.searcher().num_docs(), 4 * PER_COMMIT);
}
