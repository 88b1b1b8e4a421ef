//! What the query crate's engine tests share.

use skein_indexer::EngineConfig;
use std::path::Path;
use std::time::Duration;

/// An engine configuration for tests: quick commits, small writers.
pub fn config(dir: &Path) -> EngineConfig {
    let mut c = EngineConfig::new(dir);
    c.indexer.commit_interval = Duration::from_millis(100);
    c.indexer.writer_memory = 30 << 20;
    c.indexer.writer_threads = 1;
    c
}
