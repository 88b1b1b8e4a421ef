//! Aggregations: Elasticsearch-style requests answered over the shards of a time range.
//!
//! - [`request`]: the user's JSON to Tantivy's request (field names, intervals, exact
//!   terms), checked before anything runs.
//! - [`interval`]: date histogram intervals, fixed and automatic.
//! - [`forecast`]: a seasonal forecast of a date histogram, with a band and anomalies.
//! - [`response`]: the merged result in Elasticsearch's shape.
//! - [`distinct`]: the cardinality of a field from its columns, without Tantivy's
//!   per-document mapping.
//! - [`exact_percentiles`]: top-level percentiles exact while their values are few.
//! - [`limits`]: the worst-case size of an answer, refused over the limit before it runs.
//! - [`top_terms`]: exact top values of high-cardinality keyword fields, without
//!   Tantivy's per-segment term maps.
//!
//! Each shard answers with Tantivy's intermediate results, which merge without loss:
//! counts, sums, min/max and term counts add up exactly, and the percentile and
//! cardinality sketches merge into the sketch of the union. So the same request gives
//! the same answer whether the records sit in one partition or in many.

pub mod distinct;
pub mod exact_percentiles;
pub mod forecast;
pub mod interval;
pub mod limits;
mod merged_patterns;
pub mod request;
pub mod response;
pub mod top_terms;
pub mod trend;

use crate::parse::QueryError;
use crate::search::{gather, Order, SearchError, SearchRequest, Total};
use crate::shard::{PartitionShard, Shard, ShardAggRequest};
use crate::stop::Stop;
pub use limits::AggLimits;
use serde::Serialize;
use serde_json::Value;
use skein_indexer::Catalog;
use skein_model::Timestamp;
use std::time::Instant;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::AggregationLimitsGuard;
use tantivy::TantivyError;
use thiserror::Error;

/// An aggregation request, as `POST /api/v1/aggregate` takes it.
#[derive(Debug, Clone, Default)]
pub struct AggregateRequest {
    /// Query string; empty or `*` matches everything.
    pub q: String,
    /// Inclusive lower bound.
    pub start: Option<Timestamp>,
    /// Inclusive upper bound.
    pub end: Option<Timestamp>,
    /// Named aggregations in Elasticsearch's JSON form.
    pub aggs: serde_json::Value,
    /// What `now` means in date math; the current time when unset.
    pub now: Option<Timestamp>,
    /// When to stop: the client gone, or the time limit reached (the answer then holds
    /// what was aggregated in time and says `timed_out`).
    pub stop: Stop,
    /// How large the answer and the work may get.
    pub limits: AggLimits,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct AggregateResponse {
    /// Records matching the query and time range.
    pub total: u64,
    /// Results by aggregation name, in Elasticsearch's shape.
    pub aggregations: serde_json::Value,
    /// Whether the time limit cut the aggregation short (the counts are then partial).
    pub timed_out: bool,
    /// Time spent.
    pub took_ms: u64,
}

/// Why an aggregation failed.
#[derive(Debug, Error)]
pub enum AggregateError {
    /// The query string is invalid.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// The aggregation request is invalid; `path` names the aggregation at fault.
    #[error("aggregation `{path}`: {reason}")]
    Request {
        /// Aggregation names from the top, joined by ` > `.
        path: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The request is well formed but cannot run on this data (a metric on a text
    /// field, too many buckets, …).
    #[error("{0}")]
    Invalid(String),
    /// The answer could hold more buckets and values than `--max-buckets` allows
    /// (estimated before running, or counted by Tantivy while running).
    #[error("{}", too_many_buckets(path, *estimate, *limit, advice))]
    TooManyBuckets {
        /// The aggregation that crossed the limit; empty when Tantivy found it running.
        path: String,
        /// The worst-case (or counted) size of the answer.
        estimate: u64,
        /// The limit.
        limit: u64,
        /// What to change.
        advice: String,
    },
    /// The aggregation of one partition took more memory than `--agg-memory-bytes` and
    /// was stopped.
    #[error(
        "the aggregation needed more than {limit} bytes of memory (the server's \
         --agg-memory-bytes) and was stopped; narrow the time range or the query, lower \
         `size`, or set `shard_size` on a `terms` over a field with many values"
    )]
    MemoryExceeded {
        /// The limit in bytes.
        limit: u64,
    },
    /// The index could not be read.
    #[error("index read failed: {0}")]
    Index(TantivyError),
    /// The client went away; nobody reads the answer.
    #[error("the request was cancelled: its client disconnected")]
    Cancelled,
}

fn too_many_buckets(path: &str, estimate: u64, limit: u64, advice: &str) -> String {
    let at = if path.is_empty() {
        String::new()
    } else {
        format!("aggregation `{path}`: ")
    };
    format!(
        "{at}the answer could hold {estimate} buckets and values, more than the limit of \
         {limit} (the server's --max-buckets, as Elasticsearch's search.max_buckets); {advice}"
    )
}

impl AggregateError {
    /// Sorts Tantivy's errors into the user's mistakes and the server's failures.
    pub(crate) fn from_tantivy(e: TantivyError) -> AggregateError {
        use tantivy::aggregation::AggregationError as E;
        match e {
            TantivyError::AggregationError(E::MemoryExceeded { limit, .. }) => {
                AggregateError::MemoryExceeded {
                    limit: limit.get_bytes(),
                }
            }
            TantivyError::AggregationError(E::BucketLimitExceeded { limit, current }) => {
                AggregateError::TooManyBuckets {
                    path: String::new(),
                    estimate: u64::from(current),
                    limit: u64::from(limit),
                    advice: "narrow the time range, lower `size`, or widen the interval".into(),
                }
            }
            TantivyError::AggregationError(e) => AggregateError::Invalid(format!(
                "{e}; narrow the time range, lower `size`, or widen the interval"
            )),
            TantivyError::InvalidArgument(m) => AggregateError::Invalid(m),
            TantivyError::FieldNotFound(f) => AggregateError::Invalid(format!(
                "field `{f}` cannot be aggregated; use a keyword field (host, container, \
                 level, …) or a `fields.` path"
            )),
            TantivyError::SchemaError(m) => AggregateError::Invalid(m),
            other => AggregateError::Index(other),
        }
    }
}

impl From<SearchError> for AggregateError {
    fn from(e: SearchError) -> AggregateError {
        match e {
            SearchError::Query(q) => AggregateError::Query(q),
            SearchError::Tantivy(t) => AggregateError::Index(t),
            SearchError::Cancelled => AggregateError::Cancelled,
        }
    }
}

/// Runs `req` over the partitions of `catalog` overlapping its time range.
pub fn aggregate(
    catalog: &Catalog,
    req: &AggregateRequest,
) -> Result<AggregateResponse, AggregateError> {
    let started = Instant::now();
    let mut req = req.clone();
    let now = *req.now.get_or_insert_with(Timestamp::now);
    // Validate once, so a bad query is an error even when no partition overlaps.
    crate::parse::parse_query_at(catalog.schema(), &req.q, now)?;
    let shards = PartitionShard::overlapping(catalog, req.start, req.end);
    let res = gather_aggregations(&shards, &req);
    metrics::histogram!("skein_aggregate_seconds").record(started.elapsed().as_secs_f64());
    let (total, mut aggregations) = res?;
    merged_patterns::merge(&req.aggs, &mut aggregations);
    Ok(AggregateResponse {
        total,
        aggregations,
        timed_out: req.stop.timed_out(),
        took_ms: started.elapsed().as_millis() as u64,
    })
}

/// Asks every shard and merges their partial results: the exact total and the final
/// aggregations.
pub fn gather_aggregations<S: Shard>(
    shards: &[S],
    req: &AggregateRequest,
) -> Result<(u64, serde_json::Value), AggregateError> {
    let now = req.now.unwrap_or_else(Timestamp::now);
    let range = if request::needs_range(&req.aggs) {
        time_range(shards, req, now)?
    } else {
        None
    };
    let prepared = request::prepare(&req.aggs, range)?;
    // A date histogram spans the matching records (and its `extended_bounds`), not the
    // whole requested range.
    let data = if req.limits.worst_case && request::has_date_histogram(&req.aggs) {
        match (
            edge(shards, req, now, Order::Asc)?,
            edge(shards, req, now, Order::Desc)?,
        ) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        }
    } else {
        None
    };
    limits::check(&prepared.aggs, data, &req.limits).map_err(|o| {
        AggregateError::TooManyBuckets {
            path: o.path,
            estimate: o.estimate,
            limit: req.limits.max_buckets,
            advice: o.advice,
        }
    })?;
    let aggs: Aggregations = serde_json::from_value(prepared.aggs.clone())
        .map_err(|e| locate_mistake(&prepared.aggs, e))?;
    let empty = Aggregations::default();
    let base = ShardAggRequest {
        q: &req.q,
        now,
        start: req.start,
        end: req.end,
        aggs: &empty,
        stop: &req.stop,
        limits: req.limits,
    };
    // Top values of keyword fields and cardinalities first, straight from the columns;
    // what cannot be answered so goes to Tantivy with the rest.
    let mut direct = serde_json::Map::new();
    let mut rest = aggs.clone();
    for (name, agg) in prepared.aggs.as_object().into_iter().flatten() {
        let Some(top) = top_terms::TopTerms::eligible(agg) else {
            continue;
        };
        if let Some(answer) = exact_top_terms(shards, &base, &top)? {
            direct.insert(name.clone(), answer);
            rest.remove(name);
        }
    }
    for (name, agg) in prepared.aggs.as_object().into_iter().flatten() {
        let Some(field) = distinct::eligible(agg) else {
            continue;
        };
        let mut sketch = distinct::Hll::default();
        for shard in shards {
            sketch.merge(&shard.distinct(&base, &field)?);
        }
        direct.insert(name.clone(), distinct::answer(&sketch));
        rest.remove(name);
    }
    // A `terms` with sub-aggregations keeps every term per segment (exact counts), and
    // Tantivy builds the sub-aggregations' results of every one of them when it
    // harvests a segment, merges and finishes: hundreds of milliseconds on a field with
    // tens of thousands of values, none of which a disconnect can cut short. The exact
    // top values are found first, from the columns, and Tantivy then aggregates only
    // those (`include`); only the count of the values left out is taken from here.
    let mut others = Vec::new();
    for (name, agg) in prepared.aggs.as_object().into_iter().flatten() {
        let Some(top) = top_terms::TopTerms::eligible_parent(agg) else {
            continue;
        };
        let Some(tantivy::aggregation::agg_req::AggregationVariants::Terms(terms)) =
            rest.get_mut(name).map(|a| &mut a.agg)
        else {
            continue;
        };
        let Some(answer) = exact_top_terms(shards, &base, &top)? else {
            continue;
        };
        let other = answer["sum_other_doc_count"].as_u64().unwrap_or(0);
        if other == 0 {
            // Nothing is cut: Tantivy's answer is the same without the list.
            continue;
        }
        let keys = answer["buckets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|b| b["key"].as_str().map(str::to_string))
            .collect();
        terms.include = Some(tantivy::aggregation::bucket::IncludeExcludeParam::Values(
            keys,
        ));
        others.push((name.clone(), other));
    }
    // Percentiles exact while their values are few; Tantivy's sketch still runs, for
    // when they are not.
    let mut exact = Vec::new();
    for (name, agg) in prepared.aggs.as_object().into_iter().flatten() {
        let Some(p) = exact_percentiles::ExactPercentiles::eligible(agg) else {
            continue;
        };
        if let Some(values) = p.values(shards, &base)? {
            exact.push((name.clone(), values));
        }
    }
    let mut total = None;
    let mut merged = IntermediateAggregationResults::default();
    if !rest.is_empty() || direct.is_empty() {
        let mut count = 0;
        for shard in shards {
            if req.stop.should_stop() {
                break;
            }
            let (n, partial) = shard.aggregate(&ShardAggRequest {
                aggs: &rest,
                ..base.clone()
            })?;
            count += n;
            merged
                .merge_fruits(partial)
                .map_err(AggregateError::from_tantivy)?;
        }
        total = Some(count);
    }
    if req.stop.is_cancelled() {
        return Err(AggregateError::Cancelled);
    }
    let limits = AggregationLimitsGuard::new(None, Some(req.limits.tantivy_buckets()));
    let result = merged
        .into_final_result(rest, limits)
        .map_err(AggregateError::from_tantivy)?;
    let mut value =
        serde_json::to_value(result).map_err(|e| AggregateError::Invalid(e.to_string()))?;
    if let Some(obj) = value.as_object_mut() {
        for (name, other) in others {
            if let Some(v) = obj.get_mut(&name).and_then(Value::as_object_mut) {
                v.insert("sum_other_doc_count".into(), Value::from(other));
            }
        }
        obj.extend(direct);
    }
    let total = match total {
        Some(t) => t,
        None => count(shards, &base)?,
    };
    response::shape(
        &prepared,
        &mut value,
        response::Frame {
            start: req.start,
            now,
        },
    );
    for (name, values) in exact {
        if let Some(answer) = value.get_mut(&name) {
            exact_percentiles::apply(answer, &values);
        }
    }
    if !req.stop.should_stop() {
        exact_percentiles::nested(shards, &base, &prepared.aggs, &mut value, total)?;
    }
    Ok((total, value))
}

/// The exact top values of one field over every segment of every shard; `None` when
/// some segment holds non-string values in it.
fn exact_top_terms<S: Shard>(
    shards: &[S],
    base: &ShardAggRequest<'_>,
    top: &top_terms::TopTerms,
) -> Result<Option<serde_json::Value>, AggregateError> {
    let mut units = Vec::new();
    for shard in shards {
        match shard.term_counts(base, &top.field)? {
            Some(mut u) => units.append(&mut u),
            None => return Ok(None),
        }
    }
    top_terms::exact_top(&mut units, top.size)
        .map(Some)
        .map_err(|e| AggregateError::Index(TantivyError::from(e)))
}

/// Matching records over all shards.
fn count<S: Shard>(shards: &[S], base: &ShardAggRequest<'_>) -> Result<u64, AggregateError> {
    let mut total = 0;
    for shard in shards {
        total += shard.aggregate(base)?.0;
    }
    Ok(total)
}

/// Names the top-level aggregation whose options Tantivy refused (an unknown option,
/// a wrong type), so the error says where to look.
fn locate_mistake(aggs: &serde_json::Value, whole: serde_json::Error) -> AggregateError {
    let culprit = aggs.as_object().and_then(|all| {
        all.iter().find_map(|(name, agg)| {
            let one = serde_json::json!({ name.clone(): agg.clone() });
            serde_json::from_value::<Aggregations>(one)
                .err()
                .map(|e| (name.clone(), e.to_string()))
        })
    });
    let (path, reason) = culprit.unwrap_or_else(|| (String::new(), whole.to_string()));
    AggregateError::Request { path, reason }
}

/// The time span automatic intervals divide: the request's bounds, completed by the
/// first and last matching record where a bound is open. `None` when nothing matches.
fn time_range<S: Shard>(
    shards: &[S],
    req: &AggregateRequest,
    now: Timestamp,
) -> Result<Option<(Timestamp, Timestamp)>, AggregateError> {
    let first = match req.start {
        Some(s) => Some(s),
        None => edge(shards, req, now, Order::Asc)?,
    };
    let last = match req.end {
        Some(e) => Some(e),
        None => edge(shards, req, now, Order::Desc)?,
    };
    Ok(first.zip(last))
}

/// The time of the first (`Asc`) or last (`Desc`) record matching the request.
fn edge<S: Shard>(
    shards: &[S],
    req: &AggregateRequest,
    now: Timestamp,
    order: Order,
) -> Result<Option<Timestamp>, AggregateError> {
    let sreq = SearchRequest {
        q: req.q.clone(),
        start: req.start,
        end: req.end,
        limit: 1,
        order,
        // Only the edge record is wanted, not how many there are.
        total: Total::UpTo(0),
        cursor: None,
        now: Some(now),
        stop: req.stop.clone(),
    };
    let (_, hits, _) = gather(shards, &sreq)?;
    Ok(hits.first().map(|(_, r)| r.timestamp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::aggregation::AggregationError as E;

    #[test]
    fn tantivys_guards_are_named_with_the_flag_to_change() {
        let e = AggregateError::from_tantivy(TantivyError::AggregationError(E::MemoryExceeded {
            limit: 1000u64.into(),
            current: 2000u64.into(),
        }));
        assert!(
            matches!(e, AggregateError::MemoryExceeded { limit: 1000 }),
            "{e:?}"
        );
        assert!(e.to_string().contains("--agg-memory-bytes"), "{e}");
        let e =
            AggregateError::from_tantivy(TantivyError::AggregationError(E::BucketLimitExceeded {
                limit: 10,
                current: 11,
            }));
        let text = e.to_string();
        assert!(matches!(e, AggregateError::TooManyBuckets { .. }), "{e:?}");
        assert!(
            text.contains("limit of 10 ") && text.contains("--max-buckets"),
            "{text}"
        );
    }
}
