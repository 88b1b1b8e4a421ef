//! A partition's first pages and counts, at the cost of the page rather than of every
//! match.
//!
//! - [`top_hits`]: the newest (or oldest) `limit` matches. Blocks of documents
//!   ([`crate::time_blocks`]) are read from the side the order starts at, a few more
//!   each round, and reading stops once no unread block can hold a hit that beats the
//!   page: for a common term that is one block of 4,096 documents out of a segment's
//!   millions. The time range and the paging cursor are checked on each match's
//!   timestamp, and blocks wholly outside them are never read.
//! - [`count`]: the exact number of matches in a time range. A segment wholly inside
//!   the range is counted by the query alone (a term's count is then its document
//!   frequency while nothing is deleted, an empty query's the live documents); in a
//!   segment the range cuts, blocks wholly inside it are counted without reading a
//!   timestamp.

use crate::search::Order;
use crate::shard::SortKey;
use crate::stop::{Stop, CANCELLED};
use crate::time_blocks::{self, Block};
use skein_indexer::schema::names;
use std::collections::BinaryHeap;
use std::ops::Range;
use std::sync::Arc;
use tantivy::columnar::ColumnValues;
use tantivy::fastfield::AliveBitSet;
use tantivy::query::{AllQuery, Query, Scorer, TermQuery, Weight};
use tantivy::{DateTime, DocAddress, DocId, DocSet, Executor, Searcher, SegmentReader, TERMINATED};

/// Inclusive time bounds, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Earliest time wanted.
    pub lo: i64,
    /// Latest time wanted.
    pub hi: i64,
}

impl Bounds {
    /// Everything.
    pub const ALL: Bounds = Bounds {
        lo: i64::MIN,
        hi: i64::MAX,
    };

    fn contains(&self, t: i64) -> bool {
        self.lo <= t && t <= self.hi
    }

    fn covers(&self, lo: i64, hi: i64) -> bool {
        self.lo <= lo && hi <= self.hi
    }

    fn misses(&self, lo: i64, hi: i64) -> bool {
        hi < self.lo || self.hi < lo
    }
}

/// How far a count goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMode {
    /// Every match.
    Exact,
    /// Matches up to this many; past it, the count says at least as many.
    UpTo(u64),
    /// Only what needs no scan of the matches (a term's document frequency, a
    /// segment's live documents); anything else is left uncounted.
    Free,
}

/// A position in one order: smaller is earlier in the page. Times are mapped so that
/// unsigned order is signed order, and the descending order is the bitwise negation.
fn rank(key: SortKey, order: Order) -> u128 {
    let k = (u128::from((key.timestamp as u64) ^ (1 << 63)) << 64) | u128::from(key.ord);
    match order {
        Order::Asc => k,
        Order::Desc => !k,
    }
}

/// The best rank any document of `b` can have.
fn best_in(b: &Block, order: Order) -> u128 {
    match order {
        Order::Desc => rank(
            SortKey {
                timestamp: b.hi,
                ord: u64::MAX,
            },
            order,
        ),
        Order::Asc => rank(
            SortKey {
                timestamp: b.lo,
                ord: 0,
            },
            order,
        ),
    }
}

/// The columns a page reads per match.
struct Columns {
    time: Arc<dyn ColumnValues<DateTime>>,
    ord: Arc<dyn ColumnValues<u64>>,
}

impl Columns {
    fn of(reader: &SegmentReader) -> tantivy::Result<Columns> {
        let ff = reader.fast_fields();
        Ok(Columns {
            time: ff
                .date(names::TIMESTAMP)?
                .first_or_default_col(DateTime::from_timestamp_nanos(0)),
            ord: ff.u64(names::ORD)?.first_or_default_col(0),
        })
    }

    fn time(&self, doc: DocId) -> i64 {
        self.time.get_val(doc).into_timestamp_nanos()
    }
}

/// The top `limit` matches of `weight` in `order`, within `bounds` and strictly after
/// `after`, over the segments of `searcher`, best first. Once `stop` says stop, the
/// page found so far is returned (a cancelled search is an error).
pub fn top_hits(
    searcher: &Searcher,
    weight: &dyn Weight,
    bounds: Bounds,
    limit: usize,
    order: Order,
    after: Option<SortKey>,
    stop: &Stop,
) -> tantivy::Result<Vec<(SortKey, DocAddress)>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let after = after.map(|k| rank(k, order));
    // Every block that can hold a hit, best first.
    let mut blocks: Vec<(u128, u32, Block)> = Vec::new();
    for (seg, reader) in searcher.segment_readers().iter().enumerate() {
        for b in &time_blocks::of(reader)?.blocks {
            if bounds.misses(b.lo, b.hi) {
                continue;
            }
            let best = best_in(b, order);
            // The worst rank in the block: nothing in it can come after the cursor.
            let worst = match order {
                Order::Desc => rank(
                    SortKey {
                        timestamp: b.lo,
                        ord: 0,
                    },
                    order,
                ),
                Order::Asc => rank(
                    SortKey {
                        timestamp: b.hi,
                        ord: u64::MAX,
                    },
                    order,
                ),
            };
            if after.is_some_and(|a| worst <= a) {
                continue;
            }
            blocks.push((best, seg as u32, *b));
        }
    }
    blocks.sort_unstable_by_key(|b| (b.0, b.1, b.2.first));

    // The page so far: a max-heap on rank, so its top is the hit to drop first.
    let mut page: BinaryHeap<(u128, u32, DocId, SortKey)> = BinaryHeap::with_capacity(limit + 1);
    let mut columns: Vec<Option<Columns>> = (0..searcher.segment_readers().len())
        .map(|_| None)
        .collect();
    let mut next = 0;
    let mut round = 1;
    'rounds: while next < blocks.len() {
        let mut this: Vec<(u32, Block)> = Vec::with_capacity(round);
        while next < blocks.len() && this.len() < round {
            let (best, seg, b) = blocks[next];
            if page.len() >= limit && page.peek().is_some_and(|w| best >= w.0) {
                // Blocks are in order of their best rank: none after this one can
                // beat the page either.
                if this.is_empty() {
                    break 'rounds;
                }
                next = blocks.len();
                break;
            }
            this.push((seg, b));
            next += 1;
        }
        this.sort_unstable_by_key(|(seg, b)| (*seg, b.first));
        let mut i = 0;
        while i < this.len() {
            let seg = this[i].0;
            let reader = searcher.segment_reader(seg);
            let cols = match &mut columns[seg as usize] {
                Some(c) => &*c,
                slot => &*slot.insert(Columns::of(reader)?),
            };
            let alive = reader.alive_bitset();
            let mut scorer = weight.scorer(reader, 1.0)?;
            while i < this.len() && this[i].0 == seg {
                if stop.should_stop() {
                    if stop.is_cancelled() {
                        return Err(tantivy::TantivyError::InternalError(CANCELLED.into()));
                    }
                    break 'rounds;
                }
                let b = this[i].1;
                let whole = bounds.covers(b.lo, b.hi);
                for_each_in(scorer.as_mut(), b.docs(), alive, |doc| {
                    let timestamp = cols.time(doc);
                    if !whole && !bounds.contains(timestamp) {
                        return;
                    }
                    // The time alone rules most matches out; the ingest order is read
                    // only for those it does not.
                    let (best, worst) = match order {
                        Order::Desc => (u64::MAX, 0),
                        Order::Asc => (0, u64::MAX),
                    };
                    if page.len() >= limit
                        && page.peek().is_some_and(|w| {
                            rank(
                                SortKey {
                                    timestamp,
                                    ord: best,
                                },
                                order,
                            ) >= w.0
                        })
                    {
                        return;
                    }
                    if after.is_some_and(|a| {
                        rank(
                            SortKey {
                                timestamp,
                                ord: worst,
                            },
                            order,
                        ) <= a
                    }) {
                        return;
                    }
                    let key = SortKey {
                        timestamp,
                        ord: cols.ord.get_val(doc),
                    };
                    let r = rank(key, order);
                    if after.is_some_and(|a| r <= a) {
                        return;
                    }
                    if page.len() < limit {
                        page.push((r, seg, doc, key));
                    } else if page.peek().is_some_and(|w| r < w.0) {
                        page.pop();
                        page.push((r, seg, doc, key));
                    }
                });
                i += 1;
            }
        }
        round *= 2;
    }
    let mut hits: Vec<(u128, SortKey, DocAddress)> = page
        .into_iter()
        .map(|(r, seg, doc, key)| (r, key, DocAddress::new(seg, doc)))
        .collect();
    hits.sort_unstable_by_key(|h| h.0);
    Ok(hits.into_iter().map(|(_, k, a)| (k, a)).collect())
}

/// Calls `f` with every live match of `scorer` in `docs`, which must start at or after
/// the scorer's position.
fn for_each_in(
    scorer: &mut dyn Scorer,
    docs: Range<DocId>,
    alive: Option<&AliveBitSet>,
    mut f: impl FnMut(DocId),
) {
    let mut doc = scorer.doc();
    if doc < docs.start {
        doc = scorer.seek(docs.start);
    }
    while doc < docs.end {
        if alive.is_none_or(|a| a.is_alive(doc)) {
            f(doc);
        }
        doc = scorer.advance();
    }
}

/// Whether the query's count in a whole segment needs no scan of its matches.
fn counts_free(query: &dyn Query, reader: &SegmentReader) -> bool {
    query.downcast_ref::<AllQuery>().is_some()
        || (query.downcast_ref::<TermQuery>().is_some() && !reader.has_deletes())
}

/// The matches of `query` (whose weight is `weight`) within `bounds` over the segments
/// of `searcher`, as far as `mode` asks: `None` when [`CountMode::Free`] met a segment
/// that needs a scan. A count cut by `stop` holds what was counted by then (a
/// cancelled one is an error).
pub fn count(
    searcher: &Searcher,
    query: &dyn Query,
    weight: &dyn Weight,
    bounds: Bounds,
    mode: CountMode,
    executor: &Executor,
    stop: &Stop,
) -> tantivy::Result<Option<u64>> {
    let mut total = 0u64;
    if mode == CountMode::Exact {
        // No cap to share between segments: counted side by side.
        let parts = executor.map(
            |reader| count_segment(reader, query, weight, bounds, mode, u64::MAX, stop),
            searcher.segment_readers().iter(),
        )?;
        total = parts.into_iter().flatten().sum();
    } else {
        for reader in searcher.segment_readers() {
            let cap = match mode {
                CountMode::UpTo(n) if total >= n => break,
                CountMode::UpTo(n) => n - total,
                _ => u64::MAX,
            };
            if stop.should_stop() {
                break;
            }
            match count_segment(reader, query, weight, bounds, mode, cap, stop)? {
                Some(n) => total += n,
                None => return Ok(None),
            }
        }
    }
    if stop.is_cancelled() {
        return Err(tantivy::TantivyError::InternalError(CANCELLED.into()));
    }
    Ok(Some(total))
}

/// One segment's part of [`count`], stopping at `cap`.
fn count_segment(
    reader: &SegmentReader,
    query: &dyn Query,
    weight: &dyn Weight,
    bounds: Bounds,
    mode: CountMode,
    cap: u64,
    stop: &Stop,
) -> tantivy::Result<Option<u64>> {
    let blocks = time_blocks::of(reader)?;
    let Some((lo, hi)) = blocks.span() else {
        return Ok(Some(0));
    };
    if bounds.misses(lo, hi) {
        return Ok(Some(0));
    }
    let whole = bounds.covers(lo, hi);
    if whole && counts_free(query, reader) {
        return Ok(Some(
            if query.downcast_ref::<AllQuery>().is_some() {
                u64::from(reader.num_docs())
            } else {
                u64::from(weight.count(reader)?)
            }
            .min(cap),
        ));
    }
    if mode == CountMode::Free {
        return Ok(None);
    }
    let time = Columns::of(reader)?.time;
    let alive = reader.alive_bitset();
    let mut scorer = weight.scorer(reader, 1.0)?;
    let mut n = 0u64;
    for b in &blocks.blocks {
        if bounds.misses(b.lo, b.hi) {
            continue;
        }
        if n >= cap || stop.should_stop() || scorer.doc() == TERMINATED {
            break;
        }
        if bounds.covers(b.lo, b.hi) {
            for_each_in(scorer.as_mut(), b.docs(), alive, |_| n += 1);
        } else {
            for_each_in(scorer.as_mut(), b.docs(), alive, |doc| {
                if bounds.contains(time.get_val(doc).into_timestamp_nanos()) {
                    n += 1;
                }
            });
        }
    }
    Ok(Some(n.min(cap)))
}

#[cfg(test)]
mod tests;
