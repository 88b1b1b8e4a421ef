//! A Tantivy commit that fails (here: `meta.json` cannot be replaced) is reported, the
//! acknowledged records wait in the WAL, and once the fault is gone the indexer rebuilds
//! them from the WAL: each found exactly once.

use skein_indexer::{Engine, EngineConfig, PreparedBatch};
use skein_model::{Record, Timestamp};
use std::time::{Duration, Instant};

fn batch(tag: &str, n: u64) -> PreparedBatch {
    let t = Timestamp::parse_rfc3339("2026-11-20T10:00:00Z").unwrap();
    let records = (1..=n)
        .map(|s| {
            let mut r = Record::new(Timestamp(t.0 + s as i64), format!("{tag} {s}"));
            r.source_id = Some(tag.into());
            r.seq = Some(s);
            r
        })
        .collect();
    PreparedBatch::new(records, None)
}

fn docs(engine: &Engine) -> u64 {
    engine
        .catalog()
        .all()
        .iter()
        .map(|p| p.searcher().num_docs())
        .sum()
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commit_is_rebuilt_from_the_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = EngineConfig::new(tmp.path());
    c.indexer.commit_interval = Duration::from_millis(50);
    c.indexer.writer_threads = 1;
    c.indexer.writer_memory = 20 << 20;
    let engine = Engine::open(c).unwrap();
    assert_eq!(engine.ingest(batch("a", 10)).await.unwrap().accepted, 10);
    wait_for("first batch searchable", || docs(&engine) == 10);

    let meta = tmp.path().join("partitions/2026-11-20/meta.json");
    let saved = std::fs::read(&meta).unwrap();
    std::fs::remove_file(&meta).unwrap();
    std::fs::create_dir_all(meta.join("blocker")).unwrap();

    // Still acknowledged: the WAL is fine.
    assert_eq!(engine.ingest(batch("b", 10)).await.unwrap().accepted, 10);
    wait_for("the index problem on the health report", || {
        engine
            .health()
            .problems()
            .iter()
            .any(|p| p.component == "index")
    });
    assert_eq!(docs(&engine), 10, "nothing of the failed commit is visible");

    std::fs::remove_dir_all(&meta).unwrap();
    std::fs::write(&meta, saved).unwrap();
    wait_for("recovery", || {
        engine.health().problems().is_empty() && docs(&engine) == 20
    });
    assert_eq!(engine.ingest(batch("b", 10)).await.unwrap().duplicates, 10);
    engine.shutdown();
    assert_eq!(docs(&engine), 20);
}
