//! The early-stopping page and the shortcut counts against the full ranking: every
//! match of the query read through Tantivy, sorted, cut after the cursor and at the
//! limit. Blocks are 64 documents in unit tests, so a few thousand records make
//! partitions of several segments of many blocks, with records out of time order,
//! equal timestamps, and deleted records.

use super::*;
use crate::search::{search, SearchRequest, Total};
use crate::shard::filtered_query;
use proptest::prelude::*;
use skein_indexer::{Catalog, Engine, EngineConfig, PreparedBatch};
use skein_model::{Record, Timestamp};
use std::time::Duration;
use tantivy::collector::DocSetCollector;

#[test]
fn ranks_follow_the_order_across_signs() {
    let k = |timestamp, ord| SortKey { timestamp, ord };
    let keys = [
        k(i64::MIN, 0),
        k(-5, 9),
        k(-5, 10),
        k(0, 0),
        k(7, 1),
        k(i64::MAX, u64::MAX),
    ];
    for w in keys.windows(2) {
        assert!(rank(w[0], Order::Asc) < rank(w[1], Order::Asc), "{w:?}");
        assert!(rank(w[0], Order::Desc) > rank(w[1], Order::Desc), "{w:?}");
    }
}

#[test]
fn bounds_cover_contain_and_miss() {
    let b = Bounds { lo: 10, hi: 20 };
    assert!(b.covers(10, 20) && !b.covers(9, 20));
    assert!(b.contains(10) && b.contains(20) && !b.contains(21));
    assert!(b.misses(21, 30) && b.misses(0, 9) && !b.misses(20, 30));
}

const SECOND: i64 = 1_000_000_000;
const WORDS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
const QUERIES: [&str; 9] = [
    "*",
    "alpha",
    "beta",
    "delta",
    "alpha AND beta",
    "\"alpha beta\"",
    "alpha OR gamma",
    "NOT beta",
    "container:c1 AND gamma",
];

/// A small deterministic generator, so the corpus is the same on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// 4,000 records over two days, sent in shuffled batches with a commit between them
/// (so each day has several segments whose time spans overlap), many sharing a second;
/// then the `delta` records of the first three hours deleted.
fn corpus(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (Engine, i64, i64) {
    let mut c = EngineConfig::new(dir);
    c.indexer.commit_interval = Duration::from_millis(50);
    c.indexer.writer_memory = 30 << 20;
    c.indexer.writer_threads = 1;
    let engine = rt.block_on(async { Engine::open(c) }).unwrap();
    let base = Timestamp::parse_rfc3339("2026-11-19T20:00:00Z").unwrap().0;
    let span = 8 * 3600;
    let mut rng = Lcg(7);
    let mut records: Vec<Record> = (0..4000)
        .map(|i| {
            // Whole minutes: about eight records share each time.
            let t = base + (rng.below(span / 60) as i64) * 60 * SECOND;
            let words: Vec<&str> = (0..1 + rng.below(3))
                .map(|_| WORDS[rng.below(4) as usize])
                .collect();
            let mut r = Record::new(Timestamp(t), format!("{} n{i}", words.join(" ")));
            r.container = format!("c{}", rng.below(3));
            r.host = "h".into();
            r
        })
        .collect();
    // Mostly in time order, as ingest sees it, with one batch in ten out of place.
    records.sort_by_key(|r| r.timestamp);
    let mut batches: Vec<Vec<Record>> = records.chunks(200).map(<[Record]>::to_vec).collect();
    for i in (0..batches.len()).step_by(10) {
        let j = rng.below(batches.len() as u64) as usize;
        batches.swap(i, j);
    }
    rt.block_on(async {
        for b in batches {
            engine.ingest(PreparedBatch::new(b, None)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        assert!(engine.wait_searchable(Duration::from_secs(30)).await);
        let schema = engine.catalog().schema().clone();
        let (from, to) = (Timestamp(base), Timestamp(base + 3 * 3600 * SECOND));
        let q = filtered_query(&schema, "delta", Timestamp::now(), Some(from), Some(to)).unwrap();
        let deleted = engine.delete(Box::new(q), from, to).await.unwrap();
        assert!(deleted > 0);
    });
    (engine, base, base + span as i64 * SECOND)
}

/// Every match's key by reading each one: the ranking the page must begin.
fn full_ranking(
    catalog: &Catalog,
    q: &str,
    now: Timestamp,
    start: Option<i64>,
    end: Option<i64>,
) -> Vec<SortKey> {
    let mut keys = Vec::new();
    for p in catalog.all() {
        let searcher = p.searcher();
        let query = filtered_query(
            &p.index.schema(),
            q,
            now,
            start.map(Timestamp),
            end.map(Timestamp),
        )
        .unwrap();
        for addr in searcher.search(&query, &DocSetCollector).unwrap() {
            let cols = Columns::of(searcher.segment_reader(addr.segment_ord)).unwrap();
            keys.push(SortKey {
                timestamp: cols.time(addr.doc_id),
                ord: cols.ord.get_val(addr.doc_id),
            });
        }
    }
    keys
}

#[test]
fn the_early_page_is_the_full_rankings_first_page() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (engine, lo, hi) = corpus(&rt, dir.path());
    let catalog = engine.catalog().clone();
    let segments: usize = catalog
        .all()
        .iter()
        .map(|p| p.searcher().segment_readers().len())
        .sum();
    assert!(
        segments >= 4,
        "the test needs several segments, has {segments}"
    );
    let now = Timestamp::now();
    let time = (lo - 3600 * SECOND)..(hi + 3600 * SECOND);
    let strategy = (
        0..QUERIES.len(),
        any::<bool>(),
        1usize..60,
        proptest::option::of(time.clone()),
        proptest::option::of(time),
        proptest::option::of(0usize..400),
        0u64..3000,
    );
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
    runner
        .run(&strategy, |(qi, asc, limit, start, end, cursor_at, cap)| {
            let q = QUERIES[qi];
            let order = if asc { Order::Asc } else { Order::Desc };
            let mut all = full_ranking(&catalog, q, now, start, end);
            all.sort_unstable_by_key(|k| rank(*k, order));
            let cursor = cursor_at.and_then(|i| all.get(i).copied());
            let want: Vec<SortKey> = all
                .iter()
                .filter(|k| cursor.is_none_or(|c| rank(**k, order) > rank(c, order)))
                .take(limit)
                .copied()
                .collect();
            let req = |total| SearchRequest {
                q: q.to_string(),
                start: start.map(Timestamp),
                end: end.map(Timestamp),
                limit,
                order,
                total,
                cursor: cursor.map(crate::Cursor),
                now: Some(now),
                stop: crate::Stop::never(),
            };
            let exact = search(&catalog, &req(Total::Exact)).unwrap();
            prop_assert_eq!(&exact.keys, &want, "{} {:?} limit {}", q, order, limit);
            prop_assert_eq!(exact.total, Some(all.len() as u64));
            prop_assert!(!exact.total_pending && !exact.total_capped);
            let capped = search(&catalog, &req(Total::UpTo(cap))).unwrap();
            prop_assert_eq!(&capped.keys, &want);
            prop_assert_eq!(capped.total, Some((all.len() as u64).min(cap)));
            prop_assert_eq!(capped.total_capped, all.len() as u64 >= cap);
            let later = search(&catalog, &req(Total::Later)).unwrap();
            prop_assert_eq!(&later.keys, &want);
            match later.total {
                Some(n) => prop_assert_eq!(n, all.len() as u64),
                None => prop_assert!(later.total_pending),
            }
            Ok(())
        })
        .unwrap();
    engine.shutdown();
}
