//! Helpers shared by the engine's integration tests.

#![allow(dead_code)]

use skein_indexer::{Engine, EngineConfig, PreparedBatch};
use skein_model::{Record, Timestamp};
use std::path::Path;
use std::time::{Duration, Instant};

/// A small, fast-committing engine configuration for `dir`.
pub fn small_config(dir: &Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.indexer.commit_interval = Duration::from_millis(50);
    c.indexer.writer_threads = 1;
    c.indexer.writer_memory = 20 << 20;
    c
}

/// Records of source `src` with the given `_seq`s, messages `"{src} {seq}"`, on 2026-11-20.
pub fn seq_batch(src: &str, seqs: std::ops::RangeInclusive<u64>) -> PreparedBatch {
    let t = Timestamp::parse_rfc3339("2026-11-20T10:00:00Z").unwrap();
    let records = seqs
        .map(|s| {
            let mut r = Record::new(Timestamp(t.0 + s as i64), format!("{src} {s}"));
            r.source_id = Some(src.into());
            r.seq = Some(s);
            r
        })
        .collect();
    PreparedBatch::new(records, None)
}

/// Committed documents over all partitions.
pub fn docs(engine: &Engine) -> u64 {
    engine
        .catalog()
        .all()
        .iter()
        .map(|p| p.searcher().num_docs())
        .sum()
}

/// Polls `ok` until it holds, failing after 15 s.
pub fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
