//! A Tantivy commit that fails (here: `meta.json` cannot be replaced) is reported, the
//! acknowledged records wait in the WAL, and once the fault is gone the indexer rebuilds
//! them from the WAL: each found exactly once.

mod common;

use common::{docs, seq_batch, small_config, wait_for};
use skein_indexer::Engine;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_commit_is_rebuilt_from_the_wal() {
    let tmp = tempfile::tempdir().unwrap();
    let engine = Engine::open(small_config(tmp.path())).unwrap();
    assert_eq!(
        engine
            .ingest(seq_batch("a", 1..=10))
            .await
            .unwrap()
            .accepted,
        10
    );
    wait_for("first batch searchable", || docs(&engine) == 10);

    let meta = tmp.path().join("partitions/2026-11-20/meta.json");
    let saved = std::fs::read(&meta).unwrap();
    std::fs::remove_file(&meta).unwrap();
    std::fs::create_dir_all(meta.join("blocker")).unwrap();

    // Still acknowledged: the WAL is fine.
    assert_eq!(
        engine
            .ingest(seq_batch("b", 1..=10))
            .await
            .unwrap()
            .accepted,
        10
    );
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
    assert_eq!(
        engine
            .ingest(seq_batch("b", 1..=10))
            .await
            .unwrap()
            .duplicates,
        10
    );
    engine.shutdown();
    assert_eq!(docs(&engine), 20);
}
