//! The shard seam: one unit a search scatters to.
//!
//! Today a shard is a local daily partition ([`PartitionShard`]). The contract is what a
//! remote indexer would also answer: for a query, a time range, an order and an optional
//! position to start after, the shard's exact matching count and its own top `limit` hits
//! with their sort keys, so the gatherer can merge without re-running anything.

use crate::aggregate::distinct::{self, DistinctCollector, Hll};
use crate::aggregate::top_terms::{CountCollector, SegmentCounts};
use crate::aggregate::trend::{Buckets, TrendCollector, Trends};
use crate::aggregate::AggregateError;
use crate::page::{self, Bounds, CountMode};
use crate::parse::{parse_query_at, QueryError};
use crate::search::{Order, SearchError};
use crate::stop::{collect_segment, Stop, CANCELLED};
use skein_indexer::schema::{names, to_tantivy_time, RecordLoader};
use skein_indexer::{Catalog, Partition};
use skein_model::{Record, Timestamp};
use std::ops::Bound;
use std::sync::{Arc, OnceLock};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{
    AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector,
};
use tantivy::collector::Count;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::EnableScoring;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::schema::Schema;
use tantivy::Executor;
use tantivy::{Searcher, Term};

/// Total order of hits: time first, then ingest order, which is unique per record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SortKey {
    /// `@timestamp` in nanoseconds.
    pub timestamp: i64,
    /// Ingest order.
    pub ord: u64,
}

/// What a shard is asked.
#[derive(Debug, Clone)]
pub struct ShardRequest<'a> {
    /// Query string.
    pub q: &'a str,
    /// What `now` means in the query's date math.
    pub now: Timestamp,
    /// Inclusive lower time bound.
    pub start: Option<Timestamp>,
    /// Inclusive upper time bound.
    pub end: Option<Timestamp>,
    /// Hits wanted.
    pub limit: usize,
    /// Newest or oldest first.
    pub order: Order,
    /// Only hits strictly after this key in `order`.
    pub after: Option<SortKey>,
    /// Whether and how far to count the matches (all of them, ignoring `after`).
    pub count: Option<CountMode>,
    /// When to stop scanning.
    pub stop: &'a Stop,
}

/// What a shard answers.
#[derive(Debug, Default)]
pub struct ShardResult {
    /// Matches in the shard: `None` when not asked to count, or when a
    /// [`CountMode::Free`] count would have needed a scan.
    pub total: Option<u64>,
    /// Its top hits in `order`.
    pub hits: Vec<(SortKey, Record)>,
}

/// A unit of scatter-gather search.
pub trait Shard: Send + Sync {
    /// `[start, end)` of the times the shard can hold.
    fn time_range(&self) -> (Timestamp, Timestamp);
    /// Runs the request on this shard.
    fn search(&self, req: &ShardRequest<'_>) -> Result<ShardResult, SearchError>;
    /// Runs aggregations on this shard: its matching count and its partial results,
    /// which merge exactly with other shards'.
    fn aggregate(
        &self,
        req: &ShardAggRequest<'_>,
    ) -> Result<(u64, IntermediateAggregationResults), AggregateError>;
    /// Counts the values of one keyword field among the matching records, per segment,
    /// for exact top values ([`crate::aggregate::top_terms`]); `None` when some segment
    /// holds other than strings in it. (A remote shard would answer the same rounds:
    /// its top `k'` values with the `k'`-th count, then exact counts of candidates.)
    fn term_counts(
        &self,
        req: &ShardAggRequest<'_>,
        field: &str,
    ) -> Result<Option<Vec<SegmentCounts>>, AggregateError>;
    /// A sketch of the distinct values of one field among the matching records
    /// ([`crate::aggregate::distinct`]).
    fn distinct(&self, req: &ShardAggRequest<'_>, field: &str) -> Result<Hll, AggregateError>;
    /// Count, time span and counts per bucket of every value of one keyword field among
    /// the matching records ([`crate::aggregate::trend`]); `req.aggs` is not used.
    fn trends(
        &self,
        req: &ShardAggRequest<'_>,
        field: &str,
        buckets: Buckets,
    ) -> Result<Trends, AggregateError>;
    /// Runs a page sorted on fields other than time ([`crate::sort_by_field`]).
    fn search_by_field(
        &self,
        req: &crate::sort_by_field::FieldRequest<'_>,
    ) -> Result<crate::sort_by_field::FieldResult, SearchError>;
}

/// What a shard is asked to aggregate.
#[derive(Debug, Clone)]
pub struct ShardAggRequest<'a> {
    /// Query string.
    pub q: &'a str,
    /// What `now` means in the query's date math.
    pub now: Timestamp,
    /// Inclusive lower time bound.
    pub start: Option<Timestamp>,
    /// Inclusive upper time bound.
    pub end: Option<Timestamp>,
    /// The aggregations, already prepared for Tantivy.
    pub aggs: &'a Aggregations,
    /// When to stop scanning.
    pub stop: &'a Stop,
    /// Tantivy's bucket and memory guard.
    pub limits: crate::aggregate::AggLimits,
}

/// A local daily partition as a shard: its latest committed state, or the state it had
/// at one moment ([`PartitionShard::pinned`]).
#[derive(Clone)]
pub struct PartitionShard {
    /// The partition.
    pub partition: Arc<Partition>,
    /// The searcher every request reads through, when pinned; else each request takes
    /// the partition's newest.
    pinned: Option<Searcher>,
    /// Whether a request asking for the count gets it ([`PartitionShard::uncounted`]).
    counts: bool,
}

impl std::fmt::Debug for PartitionShard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionShard")
            .field("key", &self.partition.key)
            .field("pinned", &self.pinned.is_some())
            .finish()
    }
}

fn date_term(field: tantivy::schema::Field, t: i64) -> Term {
    Term::from_field_date(field, to_tantivy_time(Timestamp(t)))
}

impl PartitionShard {
    /// The partitions of `catalog` that can hold records in `[start, end]` (inclusive;
    /// an open bound is unlimited).
    pub fn overlapping(
        catalog: &Catalog,
        start: Option<Timestamp>,
        end: Option<Timestamp>,
    ) -> Vec<PartitionShard> {
        let start = start.unwrap_or(Timestamp(i64::MIN));
        let end_excl = end.map_or(Timestamp(i64::MAX), |e| Timestamp(e.0.saturating_add(1)));
        catalog
            .overlapping(start, end_excl)
            .into_iter()
            .map(|partition| PartitionShard {
                partition,
                pinned: None,
                counts: true,
            })
            .collect()
    }

    /// This shard frozen as it is now: every later request reads the segments and
    /// deletes committed at this moment, none committed after. The searcher holds the
    /// segment readers (open files and small per-segment state), not any results, and
    /// Tantivy keeps a living searcher's segment files on disk until it is dropped.
    pub fn pinned(self) -> PartitionShard {
        let searcher = self.partition.searcher();
        PartitionShard {
            pinned: Some(searcher),
            ..self
        }
    }

    /// This shard answering hits only: asked for its count, it answers 0 instead of
    /// counting every match. A scroll's later pages repeat the total of its first (its
    /// pinned snapshot does not change), so counting again on each page would be wasted.
    pub fn uncounted(self) -> PartitionShard {
        PartitionShard {
            counts: false,
            ..self
        }
    }

    fn searcher(&self) -> Searcher {
        match &self.pinned {
            Some(s) => s.clone(),
            None => self.partition.searcher(),
        }
    }
}

/// The query string restricted to `[start, end]` (inclusive bounds), as every read
/// path runs it (and delete by query, so that it removes exactly what a search finds).
pub fn filtered_query(
    schema: &Schema,
    q: &str,
    now: Timestamp,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
) -> Result<BooleanQuery, QueryError> {
    let ts = schema.get_field(names::TIMESTAMP).expect("schema");
    let mut clauses: Vec<(Occur, Box<dyn Query>)> =
        vec![(Occur::Must, parse_query_at(schema, q, now)?)];
    if start.is_some() || end.is_some() {
        let lower = start.map_or(Bound::Unbounded, |s| Bound::Included(date_term(ts, s.0)));
        let upper = end.map_or(Bound::Unbounded, |e| Bound::Included(date_term(ts, e.0)));
        clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
    }
    Ok(BooleanQuery::new(clauses))
}

impl Shard for PartitionShard {
    fn time_range(&self) -> (Timestamp, Timestamp) {
        (self.partition.key.start(), self.partition.key.end())
    }

    fn search(&self, req: &ShardRequest<'_>) -> Result<ShardResult, SearchError> {
        let schema = self.partition.index.schema();
        let query = parse_query_at(&schema, req.q, req.now)?;
        let searcher = self.searcher();
        let weight = query.weight(EnableScoring::disabled_from_searcher(&searcher))?;
        let bounds = Bounds {
            lo: req.start.map_or(i64::MIN, |t| t.0),
            hi: req.end.map_or(i64::MAX, |t| t.0),
        };
        let top = page::top_hits(
            &searcher,
            weight.as_ref(),
            bounds,
            req.limit,
            req.order,
            req.after,
            req.stop,
        )?;
        let total = match req.count {
            None => None,
            Some(_) if !self.counts => Some(0),
            Some(mode) => page::count(
                &searcher,
                query.as_ref(),
                weight.as_ref(),
                bounds,
                mode,
                executor(),
                req.stop,
            )?,
        };
        let mut loader = RecordLoader::new(&searcher);
        let mut hits = Vec::with_capacity(top.len());
        for (key, addr) in top {
            hits.push((key, loader.load(addr)?));
        }
        Ok(ShardResult { total, hits })
    }

    fn aggregate(
        &self,
        req: &ShardAggRequest<'_>,
    ) -> Result<(u64, IntermediateAggregationResults), AggregateError> {
        let schema = self.partition.index.schema();
        let query = filtered_query(&schema, req.q, req.now, req.start, req.end)?;
        let collector = DistributedAggregationCollector::from_aggs(
            req.aggs.clone(),
            AggContextParams::new(
                AggregationLimitsGuard::new(
                    Some(req.limits.max_memory_bytes),
                    Some(req.limits.tantivy_buckets()),
                ),
                self.partition.index.tokenizers().clone(),
            ),
        );
        let searcher = self.searcher();
        let weight = query
            .weight(EnableScoring::disabled_from_searcher(&searcher))
            .map_err(AggregateError::from_tantivy)?;
        let both = (Count, collector);
        let fruits = executor()
            .map(
                |(ord, reader)| {
                    collect_segment(&both, weight.as_ref(), ord as u32, reader, req.stop)
                },
                searcher.segment_readers().iter().enumerate(),
            )
            .map_err(|e| cancelled_or(req.stop, e))?;
        // Merged one segment at a time, checking between merges: merging the partial
        // results of many buckets takes hundreds of milliseconds, and a client that is
        // gone must not wait for it.
        let mut count = 0u64;
        let mut merged = IntermediateAggregationResults::default();
        for (n, partial) in fruits {
            if req.stop.is_cancelled() {
                return Err(AggregateError::Cancelled);
            }
            count += n as u64;
            merged
                .merge_fruits(partial.map_err(AggregateError::from_tantivy)?)
                .map_err(AggregateError::from_tantivy)?;
        }
        Ok((count, merged))
    }

    fn distinct(&self, req: &ShardAggRequest<'_>, field: &str) -> Result<Hll, AggregateError> {
        let schema = self.partition.index.schema();
        let query = filtered_query(&schema, req.q, req.now, req.start, req.end)?;
        let searcher = self.searcher();
        let weight = query
            .weight(EnableScoring::disabled_from_schema(&schema))
            .map_err(AggregateError::from_tantivy)?;
        let collector = DistinctCollector {
            field: field.to_string(),
        };
        let no_query = matches!(req.q.trim(), "" | "*");
        let segments = searcher.segment_readers().iter().enumerate();
        let sketches = executor()
            .map(
                |(ord, reader)| -> tantivy::Result<Hll> {
                    // Every record of the segment matches: read the column through.
                    let ts = reader.fast_fields().date(names::TIMESTAMP)?;
                    let (lo, hi) = (
                        ts.min_value().into_timestamp_nanos(),
                        ts.max_value().into_timestamp_nanos(),
                    );
                    let covered =
                        req.start.is_none_or(|s| s.0 <= lo) && req.end.is_none_or(|e| hi <= e.0);
                    if no_query && covered && !reader.has_deletes() {
                        return distinct::sketch_whole_segment(reader, field);
                    }
                    let fruit =
                        collect_segment(&collector, weight.as_ref(), ord as u32, reader, req.stop)?;
                    collector.merge_fruits(vec![fruit])
                },
                segments,
            )
            .map_err(|e| cancelled_or(req.stop, e))?;
        let mut out = Hll::default();
        for s in &sketches {
            out.merge(s);
        }
        Ok(out)
    }

    fn trends(
        &self,
        req: &ShardAggRequest<'_>,
        field: &str,
        buckets: Buckets,
    ) -> Result<Trends, AggregateError> {
        let schema = self.partition.index.schema();
        let query = filtered_query(&schema, req.q, req.now, req.start, req.end)?;
        let collector = TrendCollector {
            field: field.to_string(),
            buckets,
        };
        let searcher = self.searcher();
        let no_query = matches!(req.q.trim(), "" | "*");
        // Segments every record of which matches (no query, inside the time range, no
        // deletes) are read straight from their columns, in slices on the query pool:
        // a compacted day is one segment, and the range query would only say "all".
        let mut whole = Vec::new();
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            let ts = reader
                .fast_fields()
                .date(names::TIMESTAMP)
                .map_err(AggregateError::from_tantivy)?;
            let (lo, hi) = (
                ts.min_value().into_timestamp_nanos(),
                ts.max_value().into_timestamp_nanos(),
            );
            let covered = req.start.is_none_or(|s| s.0 <= lo) && req.end.is_none_or(|e| hi <= e.0);
            if no_query && covered && !reader.has_deletes() {
                whole.push(ord);
            }
        }
        if whole.len() < searcher.segment_readers().len() {
            // Some segment needs the query: run it over all (simpler than two paths
            // per partition, and only partitions at the range's edges get here).
            return search_segments(&searcher, &query, &collector, req.stop)
                .map_err(|e| cancelled_or(req.stop, e));
        }
        const SLICE: u32 = 1 << 20;
        let slices = whole.iter().flat_map(|&ord| {
            let max = searcher.segment_reader(ord as u32).max_doc();
            (0..max.div_ceil(SLICE)).map(move |i| (ord, i * SLICE, ((i + 1) * SLICE).min(max)))
        });
        let parts = executor()
            .map(
                |(ord, from, to)| -> tantivy::Result<Trends> {
                    let reader = searcher.segment_reader(ord as u32);
                    let mut segment = collector.for_segment(ord as u32, reader)?;
                    let mut block = [0u32; 1024];
                    let mut doc = from;
                    while doc < to {
                        if req.stop.should_stop() {
                            if req.stop.is_cancelled() {
                                return Err(tantivy::TantivyError::InternalError(CANCELLED.into()));
                            }
                            break;
                        }
                        let n = (to - doc).min(block.len() as u32) as usize;
                        for (i, d) in block[..n].iter_mut().enumerate() {
                            *d = doc + i as u32;
                        }
                        segment.collect_block(&block[..n]);
                        doc += n as u32;
                    }
                    Ok(segment.harvest())
                },
                slices,
            )
            .map_err(|e| cancelled_or(req.stop, e))?;
        Ok(crate::aggregate::trend::merge(parts))
    }

    fn term_counts(
        &self,
        req: &ShardAggRequest<'_>,
        field: &str,
    ) -> Result<Option<Vec<SegmentCounts>>, AggregateError> {
        let schema = self.partition.index.schema();
        let query = filtered_query(&schema, req.q, req.now, req.start, req.end)?;
        let collector = CountCollector {
            field: field.to_string(),
        };
        search_segments(&self.searcher(), &query, &collector, req.stop)
            .map_err(|e| cancelled_or(req.stop, e))
    }

    fn search_by_field(
        &self,
        req: &crate::sort_by_field::FieldRequest<'_>,
    ) -> Result<crate::sort_by_field::FieldResult, SearchError> {
        let schema = self.partition.index.schema();
        let query = filtered_query(&schema, req.q, req.now, req.start, req.end)?;
        crate::sort_by_field::search_shard(&self.searcher(), &query, self.counts, req, executor())
    }
}

/// Runs `collector` over every segment on the query pool, as Tantivy's
/// `search_with_executor` does, but checking `stop` while scanning.
fn search_segments<C: Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    collector: &C,
    stop: &Stop,
) -> tantivy::Result<C::Fruit> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let fruits = executor().map(
        |(ord, reader)| collect_segment(collector, weight.as_ref(), ord as u32, reader, stop),
        searcher.segment_readers().iter().enumerate(),
    )?;
    // Merging the segments' results is work of its own (aggregations with many buckets
    // take hundreds of milliseconds): not done for a client that is gone.
    if stop.is_cancelled() {
        return Err(tantivy::TantivyError::InternalError(CANCELLED.into()));
    }
    collector.merge_fruits(fruits)
}

/// [`AggregateError::Cancelled`] when the client is gone, else `e` sorted.
fn cancelled_or(stop: &Stop, e: tantivy::TantivyError) -> AggregateError {
    if stop.is_cancelled() {
        AggregateError::Cancelled
    } else {
        AggregateError::from_tantivy(e)
    }
}

/// Threads of the query pool: one per core.
fn pool_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Segments of a partition are scanned in parallel on one pool shared by every request,
/// so a burst of requests does not start threads per request.
fn executor() -> &'static Executor {
    static POOL: OnceLock<Executor> = OnceLock::new();
    POOL.get_or_init(|| {
        Executor::multi_thread(pool_threads(), "skein-query-").unwrap_or_else(|e| {
            tracing::warn!("cannot start query threads ({e}); searching on one thread");
            Executor::single_thread()
        })
    })
}
