//! Reading a follower's records back from the index: the last `n` before the live
//! part starts, the rest of an interrupted history, and everything past an ingest
//! position when a follower catches up after falling behind or reconnecting.
//!
//! Every scan is bounded by ingest order (`_ord` = `lsn << 24 | position`), which is
//! what makes the seam with the live feed exact: the scan covers the WAL positions up
//! to a bound the index is known to hold, the feed everything after it.

use crate::parse::parse_query_at;
use crate::search::SearchError;
use crate::shard::SortKey;
use skein_indexer::schema::{names, to_tantivy_time, RecordLoader};
use skein_indexer::Catalog;
use skein_model::{Record, Timestamp};
use std::ops::Bound;
use tantivy::collector::sort_key::SortByStaticFastValue;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery};
use tantivy::{DateTime, Order, Term};

/// The largest position within one WAL entry.
const ORD_IN_ENTRY: u64 = (1 << 24) - 1;

/// The ingest order of the last record a WAL entry `lsn` can hold.
pub fn last_ord_of(lsn: u64) -> u64 {
    (lsn << 24) | ORD_IN_ENTRY
}

/// The ingest order of record `i` of WAL entry `lsn`, as the indexer assigns it.
pub fn ord_of(lsn: u64, i: usize) -> u64 {
    (lsn << 24) | i as u64
}

/// What every scan of one follower shares: the query and the time window.
#[derive(Debug, Clone)]
pub struct Filter {
    /// Query string.
    pub q: String,
    /// Anchor of the query's date math.
    pub now: Timestamp,
    /// Inclusive lower time bound.
    pub since: Option<Timestamp>,
    /// Inclusive upper time bound.
    pub until: Option<Timestamp>,
}

/// Which records a scan returns, and in what order.
#[derive(Debug, Clone, Copy)]
pub enum Scan {
    /// The newest `limit` records with `_ord` at most `max_ord`, oldest first.
    Last {
        /// Records wanted.
        limit: usize,
        /// Highest ingest order included.
        max_ord: u64,
    },
    /// Up to `limit` records after `after` in time order, `_ord` at most `max_ord`.
    TimeAfter {
        /// Start strictly after this key (`None`: from the start).
        after: Option<SortKey>,
        /// Highest ingest order included.
        max_ord: u64,
        /// Records wanted.
        limit: usize,
    },
    /// Up to `limit` records with `_ord` in `(after_ord, max_ord]`, in ingest order.
    OrdAfter {
        /// Lowest ingest order excluded.
        after_ord: u64,
        /// Highest ingest order included.
        max_ord: u64,
        /// Records wanted.
        limit: usize,
    },
}

fn date_term(field: tantivy::schema::Field, t: i64) -> Term {
    Term::from_field_date(field, to_tantivy_time(Timestamp(t)))
}

/// The query of `filter` restricted to the ingest orders `(lo, hi]` and, when `after`
/// is given, to keys strictly after it in time order.
fn build(
    schema: &tantivy::schema::Schema,
    filter: &Filter,
    lo: Option<u64>,
    hi: u64,
    after: Option<SortKey>,
) -> Result<Box<dyn Query>, SearchError> {
    let ts = schema.get_field(names::TIMESTAMP).expect("schema");
    let ord = schema.get_field(names::ORD).expect("schema");
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
        (Occur::Must, parse_query_at(schema, &filter.q, filter.now)?),
        (
            Occur::Must,
            Box::new(RangeQuery::new(
                lo.map_or(Bound::Unbounded, |l| {
                    Bound::Excluded(Term::from_field_u64(ord, l))
                }),
                Bound::Included(Term::from_field_u64(ord, hi)),
            )),
        ),
    ];
    if filter.since.is_some() || filter.until.is_some() {
        let lower = filter
            .since
            .map_or(Bound::Unbounded, |s| Bound::Included(date_term(ts, s.0)));
        let upper = filter
            .until
            .map_or(Bound::Unbounded, |e| Bound::Included(date_term(ts, e.0)));
        clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
    }
    if let Some(k) = after {
        let later: Box<dyn Query> = Box::new(RangeQuery::new(
            Bound::Excluded(date_term(ts, k.timestamp)),
            Bound::Unbounded,
        ));
        let tie: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(date_term(ts, k.timestamp)),
                    Bound::Included(date_term(ts, k.timestamp)),
                )) as Box<dyn Query>,
            ),
            (
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Excluded(Term::from_field_u64(ord, k.ord)),
                    Bound::Unbounded,
                )),
            ),
        ]));
        clauses.push((
            Occur::Must,
            Box::new(BooleanQuery::new(vec![
                (Occur::Should, later),
                (Occur::Should, tie),
            ])),
        ));
    }
    Ok(Box::new(BooleanQuery::new(clauses)))
}

/// Runs `scan` over every partition the time window touches and merges the answers.
pub fn scan(
    catalog: &Catalog,
    filter: &Filter,
    scan: Scan,
) -> Result<Vec<(SortKey, Record)>, SearchError> {
    let (lo, hi, after, limit) = match scan {
        Scan::Last { limit, max_ord } => (None, max_ord, None, limit),
        Scan::TimeAfter {
            after,
            max_ord,
            limit,
        } => (None, max_ord, after, limit),
        Scan::OrdAfter {
            after_ord,
            max_ord,
            limit,
        } => (Some(after_ord), max_ord, None, limit),
    };
    let mut hits: Vec<(SortKey, Record)> = Vec::new();
    if limit == 0 || lo.is_some_and(|l| l >= hi) {
        return Ok(hits);
    }
    let start = filter.since.unwrap_or(Timestamp(i64::MIN));
    let end = filter
        .until
        .map_or(Timestamp(i64::MAX), |e| Timestamp(e.0.saturating_add(1)));
    for p in catalog.overlapping(start, end) {
        let query = build(&p.index.schema(), filter, lo, hi, after)?;
        let searcher = p.searcher();
        let found: Vec<(SortKey, tantivy::DocAddress)> = match scan {
            Scan::OrdAfter { .. } => searcher
                .search(
                    &query,
                    &TopDocs::with_limit(limit).order_by_u64_field(names::ORD, Order::Asc),
                )?
                .into_iter()
                .map(|(o, a)| {
                    (
                        SortKey {
                            timestamp: 0,
                            ord: o.unwrap_or(0),
                        },
                        a,
                    )
                })
                .collect(),
            _ => {
                let order = if matches!(scan, Scan::Last { .. }) {
                    Order::Desc
                } else {
                    Order::Asc
                };
                let collector = TopDocs::with_limit(limit).order_by((
                    (
                        SortByStaticFastValue::<DateTime>::for_field(names::TIMESTAMP),
                        order,
                    ),
                    (SortByStaticFastValue::<u64>::for_field(names::ORD), order),
                ));
                searcher
                    .search(&query, &collector)?
                    .into_iter()
                    .map(|((t, o), a)| {
                        (
                            SortKey {
                                timestamp: t.map_or(0, |t| t.into_timestamp_nanos()),
                                ord: o.unwrap_or(0),
                            },
                            a,
                        )
                    })
                    .collect()
            }
        };
        let mut loader = RecordLoader::new(&searcher);
        for (mut key, addr) in found {
            let record = loader.load(addr)?;
            key.timestamp = record.timestamp.0;
            hits.push((key, record));
        }
    }
    match scan {
        Scan::OrdAfter { .. } => hits.sort_by_key(|h| h.0.ord),
        Scan::Last { .. } => {
            hits.sort_by_key(|h| std::cmp::Reverse(h.0));
            hits.truncate(limit);
            hits.reverse();
        }
        Scan::TimeAfter { .. } => hits.sort_by_key(|h| h.0),
    }
    hits.truncate(limit);
    Ok(hits)
}

/// How many records match `filter` with `_ord` in `(after_ord, max_ord]`.
pub fn count_after(
    catalog: &Catalog,
    filter: &Filter,
    after_ord: u64,
    max_ord: u64,
) -> Result<u64, SearchError> {
    if after_ord >= max_ord {
        return Ok(0);
    }
    let start = filter.since.unwrap_or(Timestamp(i64::MIN));
    let end = filter
        .until
        .map_or(Timestamp(i64::MAX), |e| Timestamp(e.0.saturating_add(1)));
    let mut total = 0;
    for p in catalog.overlapping(start, end) {
        let query = build(&p.index.schema(), filter, Some(after_ord), max_ord, None)?;
        total += p.searcher().search(&query, &Count)? as u64;
    }
    Ok(total)
}
