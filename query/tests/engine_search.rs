//! The engine and search together: ingest, commit, search across partitions, page,
//! restart, dedupe.

mod common;

use common::{config, wait_total};
use skein_indexer::{Engine, PreparedBatch};
use skein_model::{Level, Record, Timestamp};
use skein_query::{search, Cursor, Order, SearchRequest};
use std::time::{Duration, Instant};

const DAY: i64 = 86_400_000_000_000;

fn rec(i: usize, t: i64) -> Record {
    let mut r = Record::new(
        Timestamp(t),
        format!(
            "request {i} {}",
            if i.is_multiple_of(10) {
                "failed timeout"
            } else {
                "ok"
            }
        ),
    );
    r.container = if i.is_multiple_of(2) {
        "web".into()
    } else {
        "api-1".into()
    };
    r.host = "node-1".into();
    r.level = Some(if i.is_multiple_of(10) {
        Level::Error
    } else {
        Level::Info
    });
    r.fields.insert("i".into(), serde_json::json!(i));
    r.fields.insert(
        "path".into(),
        serde_json::json!(format!("/api/v1/items/{}", i % 3)),
    );
    // One source per day, so that days can be sent newest first with `_seq` in order.
    r.source_id = Some(format!("node-1/day-{}", r.timestamp.day_number()));
    r.seq = Some(i as u64 + 1);
    r
}

/// 300 records over three days, several sharing each timestamp.
fn corpus() -> Vec<Record> {
    let base = Timestamp::parse_rfc3339("2026-11-19T22:00:00Z").unwrap().0;
    (0..300)
        .map(|i| rec(i, base + (i as i64 / 3) * (DAY / 40)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_search_page_restart_dedupe() {
    let tmp = tempfile::tempdir().unwrap();
    let records = corpus();
    {
        let engine = Engine::open(config(tmp.path())).unwrap();
        // Older days arrive after newer ones: each still lands in its own day.
        // Several batches per day, so that days get several segments.
        let mut most_segments = 0;
        for day in records
            .chunk_by(|a, b| a.timestamp.day_number() == b.timestamp.day_number())
            .rev()
        {
            for chunk in day.chunks(40) {
                let out = engine
                    .ingest(PreparedBatch::new(chunk.to_vec(), None))
                    .await
                    .unwrap();
                assert_eq!(out.accepted, chunk.len());
                // Let a commit happen between batches: one more segment each time.
                tokio::time::sleep(Duration::from_millis(120)).await;
                for p in engine.catalog().all() {
                    most_segments = most_segments.max(p.searcher().segment_readers().len());
                }
            }
        }
        assert!(
            most_segments > 1,
            "the test needs partitions of several segments"
        );
        wait_total(&engine, "*", 300);
        assert!(
            engine.catalog().len() >= 3,
            "records span at least three days"
        );
        for p in engine.catalog().all() {
            let n = p.searcher().num_docs();
            let inside = records.iter().filter(|r| p.covers(r.timestamp)).count() as u64;
            assert_eq!(n, inside, "partition {:?} holds exactly its day", p.key);
        }

        // Newest first, paging with a cursor through equal timestamps and partitions.
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let req = SearchRequest {
                q: String::new(),
                limit: 7,
                cursor,
                ..Default::default()
            };
            let page = search(engine.catalog(), &req).unwrap();
            assert_eq!(page.total, Some(300));
            seen.extend(page.hits.iter().map(|h| h.fields["i"].as_u64().unwrap()));
            match page.cursor {
                Some(c) => cursor = Some(c.parse().unwrap()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 300, "every record exactly once");
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 300);
        let times: Vec<_> = seen
            .iter()
            .map(|&i| records[i as usize].timestamp)
            .collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

        // Filters, full text, time range, ascending order.
        let errors = records
            .iter()
            .filter(|r| r.level == Some(Level::Error))
            .count() as u64;
        let q = |q: &str| SearchRequest {
            q: q.into(),
            limit: 1000,
            ..Default::default()
        };
        assert_eq!(
            search(engine.catalog(), &q("level:error"))
                .unwrap()
                .total
                .unwrap(),
            errors
        );
        assert_eq!(
            search(engine.catalog(), &q("timeout"))
                .unwrap()
                .total
                .unwrap(),
            errors
        );
        assert_eq!(
            search(engine.catalog(), &q("\"failed timeout\" AND container:web"))
                .unwrap()
                .total
                .unwrap(),
            errors
        );
        assert_eq!(
            search(engine.catalog(), &q("container:api-1"))
                .unwrap()
                .total
                .unwrap(),
            150
        );
        // `fields` values: exact matches on strings and numbers, and ranges.
        let total = |query: &str| search(engine.catalog(), &q(query)).unwrap().total.unwrap();
        assert_eq!(total("fields.path:\"/api/v1/items/1\""), 100);
        assert_eq!(total("fields.i:42"), 1);
        assert_eq!(
            search(engine.catalog(), &q("fields.i:42")).unwrap().hits[0].fields["i"],
            42
        );
        assert_eq!(total("fields.i:[10 TO 19] AND container:web"), 5);
        assert_eq!(total("fields.i:>=290"), 10);
        assert_eq!(total("fields.path:\"/api/v1/items/1\" AND -fields.i:1"), 99);
        let start = records[30].timestamp;
        let end = records[59].timestamp;
        let req = SearchRequest {
            q: "*".into(),
            start: Some(start),
            end: Some(end),
            limit: 5,
            order: Order::Asc,
            ..Default::default()
        };
        let r = search(engine.catalog(), &req).unwrap();
        assert_eq!(r.total, Some(30));
        assert_eq!(r.hits[0].timestamp, start);
        assert!(search(engine.catalog(), &q("container:(")).is_err());

        // Idle partitions are compacted into one segment and lose nothing.
        let deadline = Instant::now() + Duration::from_secs(20);
        while engine
            .catalog()
            .all()
            .iter()
            .any(|p| p.searcher().segment_readers().len() > 1)
        {
            assert!(
                Instant::now() < deadline,
                "idle partitions were not compacted"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        wait_total(&engine, "*", 300);

        // A retry of an acknowledged batch is recognised.
        let out = engine
            .ingest(PreparedBatch::new(records[..50].to_vec(), None))
            .await
            .unwrap();
        assert_eq!((out.accepted, out.duplicates), (0, 50));
        engine.shutdown();
    }
    // After a restart: same data, same dedupe state.
    let engine = Engine::open(config(tmp.path())).unwrap();
    wait_total(&engine, "*", 300);
    let out = engine
        .ingest(PreparedBatch::new(records.clone(), None))
        .await
        .unwrap();
    assert_eq!(out.duplicates, 300);
    let mut fresh = rec(1000, records[299].timestamp.0);
    fresh.source_id = records[299].source_id.clone();
    fresh.seq = Some(10_000);
    let out = engine
        .ingest(PreparedBatch::new(vec![fresh], None))
        .await
        .unwrap();
    assert_eq!(out.accepted, 1);
    wait_total(&engine, "*", 301);
}
