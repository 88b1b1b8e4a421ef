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
use crate::parse::{parse_query_at, QueryError};
use crate::search::{Order, SearchError};
use crate::stop::{collect_segment, count_segment, Stop, CANCELLED};
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
use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::EnableScoring;
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::schema::Schema;
use tantivy::Executor;
use tantivy::{DateTime, DocAddress, Searcher, Term};

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
    /// Whether to count all matches (ignoring `after`).
    pub count: bool,
    /// When to stop scanning.
    pub stop: &'a Stop,
}

/// What a shard answers.
#[derive(Debug, Default)]
pub struct ShardResult {
    /// Matches in the shard (0 when not asked to count).
    pub total: u64,
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
        let ts = schema.get_field(names::TIMESTAMP).expect("schema");
        let ord = schema.get_field(names::ORD).expect("schema");
        let base = filtered_query(&schema, req.q, req.now, req.start, req.end)?;
        let searcher = self.searcher();
        let counting = req.count && self.counts;
        if req.limit == 0 {
            let total = if counting {
                let weight = base.weight(EnableScoring::disabled_from_searcher(&searcher))?;
                executor()
                    .map(
                        |reader| count_segment(weight.as_ref(), reader, req.stop),
                        searcher.segment_readers().iter(),
                    )?
                    .into_iter()
                    .sum()
            } else {
                0
            };
            return Ok(ShardResult {
                total,
                hits: Vec::new(),
            });
        }
        // A later page counts over the whole query but collects after the cursor.
        let count = match (counting, req.after) {
            (false, _) => Counting::No,
            (true, None) => Counting::Page,
            (true, Some(_)) => Counting::Other(base.clone()),
        };
        let page: Box<dyn Query> = match req.after {
            None => Box::new(base),
            Some(k) => {
                let (before_ts, same_ts_ord) = match req.order {
                    Order::Desc => (
                        RangeQuery::new(
                            Bound::Unbounded,
                            Bound::Excluded(date_term(ts, k.timestamp)),
                        ),
                        RangeQuery::new(
                            Bound::Unbounded,
                            Bound::Excluded(Term::from_field_u64(ord, k.ord)),
                        ),
                    ),
                    Order::Asc => (
                        RangeQuery::new(
                            Bound::Excluded(date_term(ts, k.timestamp)),
                            Bound::Unbounded,
                        ),
                        RangeQuery::new(
                            Bound::Excluded(Term::from_field_u64(ord, k.ord)),
                            Bound::Unbounded,
                        ),
                    ),
                };
                let at_ts = RangeQuery::new(
                    Bound::Included(date_term(ts, k.timestamp)),
                    Bound::Included(date_term(ts, k.timestamp)),
                );
                let tie: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(at_ts) as Box<dyn Query>),
                    (Occur::Must, Box::new(same_ts_ord)),
                ]));
                let after: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
                    (Occur::Should, Box::new(before_ts) as Box<dyn Query>),
                    (Occur::Should, tie),
                ]));
                Box::new(BooleanQuery::new(vec![
                    (Occur::Must, Box::new(base) as Box<dyn Query>),
                    (Occur::Must, after),
                ]))
            }
        };
        let (total, top) = newest_first(
            &searcher,
            page.as_ref(),
            count,
            req.limit,
            req.order,
            req.stop,
        )?;
        let mut loader = RecordLoader::new(&searcher);
        let mut hits = Vec::with_capacity(top.len());
        for ((t, o), addr) in top {
            let record = loader.load(addr)?;
            let key = SortKey {
                timestamp: t.map_or(record.timestamp.0, |t| t.into_timestamp_nanos()),
                ord: o.unwrap_or(0),
            };
            hits.push((key, record));
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

/// Hits as the top collector gives them: (time, ingest order) and address.
type Hits = Vec<((Option<DateTime>, Option<u64>), DocAddress)>;

/// Whether a search counts its matches, and with which query.
enum Counting {
    No,
    /// The page's own query: one pass counts and collects.
    Page,
    /// Another query (the page's without the cursor).
    Other(BooleanQuery),
}

/// Top hits by (time, ingest order), newest or oldest first.
fn top_collector(limit: usize, order: Order) -> impl Collector<Fruit = Hits> {
    let order = order.tantivy();
    TopDocs::with_limit(limit).order_by((
        (
            SortByStaticFastValue::<DateTime>::for_field(names::TIMESTAMP),
            order,
        ),
        (SortByStaticFastValue::<u64>::for_field(names::ORD), order),
    ))
}

/// The count and the top `limit` hits of `page`.
///
/// Segments are visited from the side the order starts at, as many at a time as the
/// query pool has threads. Once `limit` hits are held, a segment whose whole time span
/// sorts after the last of them cannot hold a hit: it is only counted, which for a term
/// needs no scan at all. Ingest fills segments roughly in time order, so the newest
/// hits of a common term usually come from the newest segment or two. A segment that
/// can hold hits is counted and collected in the same pass.
fn newest_first(
    searcher: &Searcher,
    page: &dyn Query,
    count: Counting,
    limit: usize,
    order: Order,
    stop: &Stop,
) -> tantivy::Result<(u64, Hits)> {
    let scoring = EnableScoring::disabled_from_searcher(searcher);
    let page_weight = page.weight(scoring)?;
    let other_weight = match &count {
        Counting::Other(q) => Some(q.weight(scoring)?),
        _ => None,
    };
    let top = top_collector(limit, order);
    let both = (Count, top_collector(limit, order));
    let mut segments = Vec::new();
    for (ord, reader) in searcher.segment_readers().iter().enumerate() {
        let ts = reader.fast_fields().date(names::TIMESTAMP)?;
        let (lo, hi) = (
            ts.min_value().into_timestamp_nanos(),
            ts.max_value().into_timestamp_nanos(),
        );
        segments.push((ord as u32, reader, lo, hi));
    }
    match order {
        Order::Desc => segments.sort_by_key(|s| std::cmp::Reverse(s.3)),
        Order::Asc => segments.sort_by_key(|s| s.2),
    }
    let mut total = 0u64;
    let mut held: Hits = Vec::new();
    for chunk in segments.chunks(pool_threads()) {
        if stop.should_stop() {
            break;
        }
        let last = (held.len() >= limit).then(|| {
            held[limit - 1]
                .0
                 .0
                .map_or(i64::MIN, |t| t.into_timestamp_nanos())
        });
        // A hit at the same time as the last one held could still win on ingest order.
        let can_hold = |lo: i64, hi: i64| match (last, order) {
            (None, _) => true,
            (Some(last), Order::Desc) => hi >= last,
            (Some(last), Order::Asc) => lo <= last,
        };
        let jobs: Vec<_> = chunk
            .iter()
            .map(|&(ord, reader, lo, hi)| (ord, reader, can_hold(lo, hi)))
            .collect();
        if matches!(count, Counting::No) && !jobs.iter().any(|j| j.2) {
            break;
        }
        let results = executor().map(
            |(ord, reader, collect)| -> tantivy::Result<(u64, Hits)> {
                let page_weight = page_weight.as_ref();
                let mut n = match &other_weight {
                    Some(w) => count_segment(w.as_ref(), reader, stop)?,
                    None => 0,
                };
                let hits = match (&count, collect) {
                    (Counting::Page, true) => {
                        let fruit = collect_segment(&both, page_weight, ord, reader, stop)?;
                        let (c, hits) = both.merge_fruits(vec![fruit])?;
                        n = c as u64;
                        hits
                    }
                    (Counting::Page, false) => {
                        n = count_segment(page_weight, reader, stop)?;
                        Vec::new()
                    }
                    (_, true) => {
                        let fruit = collect_segment(&top, page_weight, ord, reader, stop)?;
                        top.merge_fruits(vec![fruit])?
                    }
                    (_, false) => Vec::new(),
                };
                Ok((n, hits))
            },
            jobs.into_iter(),
        )?;
        for (n, hits) in results {
            total += n;
            held.extend(hits);
        }
        match order {
            Order::Desc => held.sort_unstable_by_key(|h| std::cmp::Reverse(h.0)),
            Order::Asc => held.sort_unstable_by_key(|h| h.0),
        }
        held.truncate(limit);
    }
    Ok((total, held))
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
