//! Where each stretch of time lies in a segment: the earliest and latest `@timestamp` of
//! every [`BLOCK`] consecutive documents.
//!
//! Ingest appends records roughly in time order and merges keep the order of their
//! inputs, so a segment's newest records mostly sit in its last blocks. A first page
//! ([`crate::page`]) reads the blocks that can hold the newest (or oldest) hits first
//! and stops once no other block can beat the page; a count skips the blocks outside
//! the time range and reads no timestamps in the blocks wholly inside it. Out-of-order
//! records cost only speed: a block's bounds hold whatever order its records came in.
//!
//! Segments never change, so each segment's blocks are computed once (one pass over its
//! timestamp column) and kept while the segment is searched.

use skein_indexer::schema::names;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};
use tantivy::index::SegmentId;
use tantivy::{DocId, SegmentReader};

/// Documents per block: a thousand matches of a common term, read in a fraction of a
/// millisecond, fill a page; a 10M-document segment has 2,442 blocks (59 KB of bounds).
/// Unit tests use small blocks, so that small segments have many.
pub const BLOCK: u32 = if cfg!(test) { 64 } else { 1 << 12 };

/// Segments whose blocks are kept; past it the cache starts again (segments merged
/// away are dropped with it).
const CACHED_SEGMENTS: usize = 4096;

/// The time bounds of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// Its documents.
    pub first: DocId,
    /// One past its last document.
    pub end: DocId,
    /// Earliest `@timestamp` in nanoseconds.
    pub lo: i64,
    /// Latest `@timestamp` in nanoseconds.
    pub hi: i64,
}

impl Block {
    /// Its documents as a range.
    pub fn docs(&self) -> Range<DocId> {
        self.first..self.end
    }
}

/// The blocks of one segment, in document order.
#[derive(Debug)]
pub struct TimeBlocks {
    /// One per [`BLOCK`] documents (the last one shorter).
    pub blocks: Vec<Block>,
}

impl TimeBlocks {
    /// The earliest and latest time in the segment (`None` when it is empty).
    pub fn span(&self) -> Option<(i64, i64)> {
        let lo = self.blocks.iter().map(|b| b.lo).min()?;
        let hi = self.blocks.iter().map(|b| b.hi).max()?;
        Some((lo, hi))
    }
}

/// The blocks of `reader`'s segment, computed on first use.
pub fn of(reader: &SegmentReader) -> tantivy::Result<Arc<TimeBlocks>> {
    static CACHE: OnceLock<Mutex<HashMap<SegmentId, Arc<TimeBlocks>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let id = reader.segment_id();
    if let Some(b) = cache.lock().expect("time blocks cache").get(&id) {
        return Ok(b.clone());
    }
    let blocks = Arc::new(compute(reader)?);
    let mut cache = cache.lock().expect("time blocks cache");
    if cache.len() >= CACHED_SEGMENTS {
        cache.clear();
    }
    cache.insert(id, blocks.clone());
    Ok(blocks)
}

fn compute(reader: &SegmentReader) -> tantivy::Result<TimeBlocks> {
    let column = reader
        .fast_fields()
        .date(names::TIMESTAMP)?
        .first_or_default_col(tantivy::DateTime::from_timestamp_nanos(0));
    let max_doc = reader.max_doc();
    let mut values = vec![tantivy::DateTime::from_timestamp_nanos(0); BLOCK as usize];
    let mut blocks = Vec::with_capacity(max_doc.div_ceil(BLOCK) as usize);
    let mut first = 0;
    while first < max_doc {
        let end = first.saturating_add(BLOCK).min(max_doc);
        let values = &mut values[..(end - first) as usize];
        column.get_range(u64::from(first), values);
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for v in values.iter() {
            let t = v.into_timestamp_nanos();
            lo = lo.min(t);
            hi = hi.max(t);
        }
        blocks.push(Block { first, end, lo, hi });
        first = end;
    }
    Ok(TimeBlocks { blocks })
}
