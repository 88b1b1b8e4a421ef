//! What the query crate's engine tests share.

#![allow(dead_code)]

use skein_indexer::{Engine, EngineConfig};
use skein_query::{search, SearchRequest};
use std::path::Path;
use std::time::{Duration, Instant};

/// An engine configuration for tests: quick commits, small writers, idle writers
/// retired (and past days compacted) at the next commit.
pub fn config(dir: &Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.indexer.commit_interval = Duration::from_millis(100);
    c.indexer.retire_after = Duration::ZERO;
    c.indexer.writer_memory = 30 << 20;
    c.indexer.writer_threads = 1;
    c
}

/// Waits until `q` has `want` matches: what was ingested has been committed.
pub fn wait_total(engine: &Engine, q: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let req = SearchRequest {
            q: q.into(),
            limit: 0,
            ..Default::default()
        };
        let got = search(engine.catalog(), &req)
            .unwrap()
            .total
            .expect("counted");
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "total for {q:?} stuck at {got}, want {want}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
