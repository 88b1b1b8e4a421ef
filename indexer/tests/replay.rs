//! A crash after a partition committed but before the checkpoint was written: replay
//! must skip what the partition holds and still remember its `_seq` high-water marks,
//! so that a client resending its unanswered batch later is recognised, even after
//! further commits and restarts.

mod common;

use common::{docs, seq_batch as batch, small_config};
use skein_indexer::Engine;
use std::path::Path;

fn open(dir: &Path) -> Engine {
    Engine::open(small_config(dir)).unwrap()
}

#[tokio::test]
async fn stale_checkpoint_keeps_seq_marks_across_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let cp = tmp.path().join("checkpoint.json");
    let engine = open(tmp.path());
    assert_eq!(
        engine.ingest(batch("s", 1..=10)).await.unwrap().accepted,
        10
    );
    engine.shutdown();
    drop(engine);
    let old_checkpoint = std::fs::read(&cp).unwrap();

    let engine = open(tmp.path());
    assert_eq!(
        engine.ingest(batch("s", 11..=20)).await.unwrap().accepted,
        10
    );
    engine.shutdown();
    drop(engine);
    // As if the process died after the partition's commit but before this checkpoint.
    std::fs::write(&cp, &old_checkpoint).unwrap();

    let engine = open(tmp.path());
    assert_eq!(docs(&engine), 20, "replay adds nothing the partition holds");
    // Another source commits, so a new checkpoint is written.
    assert_eq!(engine.ingest(batch("t", 1..=5)).await.unwrap().accepted, 5);
    engine.shutdown();
    drop(engine);

    let engine = open(tmp.path());
    let again = engine.ingest(batch("s", 11..=20)).await.unwrap();
    assert_eq!((again.accepted, again.duplicates), (0, 10));
    engine.shutdown();
    assert_eq!(docs(&engine), 25);
}
