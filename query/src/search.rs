//! Scatter-gather search over the shards overlapping a time range.

use crate::cursor::Cursor;
use crate::page::CountMode;
use crate::parse::QueryError;
use crate::shard::{PartitionShard, Shard, ShardRequest, SortKey};
use crate::stop::Stop;
use serde::Serialize;
use skein_indexer::Catalog;
use skein_model::{Record, Timestamp};
use std::time::Instant;
use thiserror::Error;

/// Hit order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Newest first (the default, as in Kibana's Discover).
    #[default]
    Desc,
    /// Oldest first.
    Asc,
}

/// Why a search failed.
#[derive(Debug, Error)]
pub enum SearchError {
    /// The query string is invalid (a client error).
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The index could not be read.
    #[error("index read failed: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    /// The client went away; nobody reads the answer.
    #[error("the request was cancelled: its client disconnected")]
    Cancelled,
}

/// How a search counts its matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Total {
    /// Every match, exactly (the default).
    #[default]
    Exact,
    /// Exactly up to this many; from there on the total says "at least" (Elasticsearch's
    /// `track_total_hits`).
    UpTo(u64),
    /// Only when counting needs no scan of the matches (a term over whole days, no
    /// query at all); otherwise the answer says the total is still to be counted, and a
    /// search with `limit` 0 counts it. The first page then costs what the page costs.
    Later,
}

/// A search.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    /// Query string; empty or `*` matches everything.
    pub q: String,
    /// Inclusive lower bound.
    pub start: Option<Timestamp>,
    /// Inclusive upper bound.
    pub end: Option<Timestamp>,
    /// Maximum hits to return.
    pub limit: usize,
    /// Hit order.
    pub order: Order,
    /// How far to count the matches.
    pub total: Total,
    /// Continue after the previous page.
    pub cursor: Option<Cursor>,
    /// What `now` means in the query's date math (`@timestamp:>now-1h`); the current
    /// time when unset. One value for every shard, so they all see the same range.
    pub now: Option<Timestamp>,
    /// When to stop: the client gone, or the time limit reached (the answer is then
    /// partial and says `timed_out`).
    pub stop: Stop,
}

/// Hits and totals, as `GET /api/v1/search` answers them.
#[derive(Debug, Serialize)]
pub struct SearchResponse {
    /// Records matching the query and time range (all pages); `null` while still to be
    /// counted ([`Total::Later`]).
    pub total: Option<u64>,
    /// Whether the total is still to be counted: ask again with `limit` 0 for it.
    pub total_pending: bool,
    /// Whether `total` is a lower bound: the count stopped at [`Total::UpTo`]'s bound.
    #[serde(skip)]
    pub total_capped: bool,
    /// This page.
    pub hits: Vec<Record>,
    /// The sort key of each hit of `hits` (its time and ingest order, `_ord`).
    #[serde(skip)]
    pub keys: Vec<SortKey>,
    /// Pass back to get the next page; `null` once fewer than `limit` hits came back,
    /// or when the search timed out (its hits may skip some matches).
    pub cursor: Option<String>,
    /// Whether the time limit cut the search short: `total` and `hits` then hold what
    /// was found in time.
    pub timed_out: bool,
    /// Time spent.
    pub took_ms: u64,
}

/// Runs `req` over the partitions of `catalog`.
pub fn search(catalog: &Catalog, req: &SearchRequest) -> Result<SearchResponse, SearchError> {
    let shards = PartitionShard::overlapping(catalog, req.start, req.end);
    search_over(catalog, &shards, req)
}

/// Runs `req` over the given shards of `catalog` (for instance partitions pinned as they
/// were when a scroll opened, [`PartitionShard::pinned`]).
pub fn search_over<S: Shard>(
    catalog: &Catalog,
    shards: &[S],
    req: &SearchRequest,
) -> Result<SearchResponse, SearchError> {
    let started = Instant::now();
    let mut req = req.clone();
    let now = *req.now.get_or_insert_with(Timestamp::now);
    let req = &req;
    // Validate once, so a bad query is an error even when no partition overlaps.
    crate::parse::parse_query_at(catalog.schema(), &req.q, now)?;
    let res = gather(shards, req);
    metrics::histogram!("skein_search_seconds").record(started.elapsed().as_secs_f64());
    let (total, hits, cursor) = res?;
    let timed_out = req.stop.timed_out();
    let (keys, hits) = hits.into_iter().unzip();
    Ok(SearchResponse {
        total,
        total_pending: total.is_none(),
        total_capped: matches!((req.total, total), (Total::UpTo(n), Some(t)) if t >= n),
        hits,
        keys,
        cursor: cursor.filter(|_| !timed_out).map(|c| c.to_string()),
        timed_out,
        took_ms: started.elapsed().as_millis() as u64,
    })
}

/// The total (`None` while still to be counted), the hits with their sort keys, and the
/// position after the last hit when the page is full.
pub type Gathered = (Option<u64>, Vec<(SortKey, Record)>, Option<Cursor>);

/// Merges the shards' answers: the total as `req.total` asks, and the global top `limit`
/// by sort key.
///
/// Shards are visited from the side the order starts at; once `limit` hits are held,
/// a shard whose whole time range sorts after the last of them cannot contribute hits,
/// and is only asked for its count (if one is still wanted). Once `req.stop` says stop, no further shard is
/// asked; a cancelled search is an error, a timed-out one answers what it found.
pub fn gather<S: Shard>(shards: &[S], req: &SearchRequest) -> Result<Gathered, SearchError> {
    let limit = req.limit;
    let now = req.now.unwrap_or_else(Timestamp::now);
    let mut order: Vec<&S> = shards.iter().collect();
    order.sort_by_key(|s| s.time_range().0);
    if req.order == Order::Desc {
        order.reverse();
    }
    let mut total = Some(0u64);
    let mut hits: Vec<(SortKey, Record)> = Vec::new();
    for shard in order {
        if req.stop.should_stop() {
            break;
        }
        let (lo, hi) = shard.time_range();
        let full = limit > 0 && hits.len() >= limit;
        let cannot_contribute = full && {
            let last = hits[limit - 1].0.timestamp;
            match req.order {
                Order::Desc => hi.0 <= last,
                Order::Asc => lo.0 > last,
            }
        };
        let count = match (req.total, total) {
            (_, None) => None,
            (Total::Exact, Some(_)) => Some(CountMode::Exact),
            (Total::UpTo(n), Some(t)) => (t < n).then(|| CountMode::UpTo(n - t)),
            (Total::Later, Some(_)) => Some(CountMode::Free),
        };
        if cannot_contribute && count.is_none() {
            continue;
        }
        let sreq = ShardRequest {
            q: &req.q,
            now,
            start: req.start,
            end: req.end,
            limit: if cannot_contribute { 0 } else { limit },
            order: req.order,
            after: req.cursor.map(|c| c.0),
            count,
            stop: &req.stop,
        };
        let mut r = match shard.search(&sreq) {
            Ok(r) => r,
            Err(_) if req.stop.is_cancelled() => return Err(SearchError::Cancelled),
            Err(e) => return Err(e),
        };
        if count.is_some() {
            total = total.zip(r.total).map(|(a, b)| a + b);
        }
        if !cannot_contribute && limit > 0 {
            hits.append(&mut r.hits);
            match req.order {
                Order::Desc => hits.sort_by_key(|h| std::cmp::Reverse(h.0)),
                Order::Asc => hits.sort_by_key(|h| h.0),
            }
            hits.truncate(limit);
        }
    }
    if req.stop.is_cancelled() {
        return Err(SearchError::Cancelled);
    }
    let cursor = if limit > 0 && hits.len() == limit {
        hits.last().map(|h| Cursor(h.0))
    } else {
        None
    };
    Ok((total, hits, cursor))
}
