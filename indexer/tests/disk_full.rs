//! A WAL that cannot be written (disk full) refuses to acknowledge, says so on the
//! health report, and recovers by itself once space is back; nothing acknowledged is
//! lost and nothing refused shows up.

mod common;

use common::{small_config, wait_for};
use skein_indexer::{Engine, EngineConfig, IngestError, PreparedBatch};
use skein_model::{Record, Timestamp};

fn batch(tag: &str, n: usize) -> PreparedBatch {
    let t = Timestamp::parse_rfc3339("2026-11-20T10:00:00Z").unwrap();
    let records = (0..n)
        .map(|i| Record::new(Timestamp(t.0 + i as i64), format!("{tag} {i}")))
        .collect();
    PreparedBatch::new(records, None)
}

fn count(engine: &Engine, word: &str) -> usize {
    engine
        .catalog()
        .all()
        .iter()
        .map(|p| {
            let s = p.searcher();
            let q = skein_query_like(p, word);
            s.search(&q, &tantivy::collector::Count).unwrap()
        })
        .sum()
}

fn skein_query_like(p: &skein_indexer::Partition, word: &str) -> tantivy::query::TermQuery {
    let field = p.index.schema().get_field("message").unwrap();
    tantivy::query::TermQuery::new(
        tantivy::Term::from_field_text(field, word),
        tantivy::schema::IndexRecordOption::Basic,
    )
}

#[tokio::test]
async fn disk_full_refuses_then_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = small_config(tmp.path());
    // One entry per segment, so the next write opens a file whose name we know.
    config.wal_segment_bytes = 1;
    let engine = Engine::open(config).unwrap();
    assert_eq!(
        engine.ingest(batch("first", 10)).await.unwrap().accepted,
        10
    );

    let next = tmp.path().join("wal").join(format!("{:020}.wal", 2));
    std::os::unix::fs::symlink("/dev/full", &next).unwrap();
    let err = engine.ingest(batch("second", 10)).await.unwrap_err();
    assert!(matches!(err, IngestError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains("retry later"));
    let problems = engine.health().problems();
    assert!(
        problems
            .iter()
            .any(|p| p.component == "wal" && p.message.contains("not full")),
        "{problems:?}"
    );

    // The refused group's segment is removed, so nothing of it can be replayed later;
    // that also takes the /dev/full link away: space is back.
    assert!(
        std::fs::symlink_metadata(&next).is_err(),
        "the failed group's segment must be gone"
    );
    assert_eq!(
        engine.ingest(batch("third", 10)).await.unwrap().accepted,
        10
    );
    assert!(engine.health().problems().is_empty());
    wait_for("the third batch to be searchable", || {
        count(&engine, "third") == 10
    });
    assert_eq!(count(&engine, "first"), 10);
    assert_eq!(
        count(&engine, "second"),
        0,
        "a refused batch must not appear"
    );
    engine.shutdown();
    drop(engine);

    // And after a restart, the same.
    let engine = Engine::open(EngineConfig::new(tmp.path())).unwrap();
    assert_eq!(count(&engine, "first"), 10);
    assert_eq!(count(&engine, "third"), 10);
    assert_eq!(count(&engine, "second"), 0);
}
