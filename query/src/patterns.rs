//! `GET /api/v1/patterns` and `skein patterns`: the message templates of the records a
//! query matches in a time range, with counts, a trend, and which are new or surging.
//!
//! Counts come from the index (a `terms` aggregation on `pattern` with its time span and
//! a date histogram), so they are exact for the query and range; templates, samples and
//! first-seen times come from the miner ([`Patterns`]). Ids merged into another count
//! under the surviving id. A pattern is **new** when its first record ever lies in the
//! range, and **surging** when its count in the range is far above what its own
//! history (the same length of time four times over, before the range) forecasts
//! ([`forecast`]).

use crate::aggregate::forecast::{self, Season, Spec};
use crate::aggregate::trend::{self, Buckets, Trend};
use crate::aggregate::{interval, AggLimits, AggregateError};
use crate::shard::{PartitionShard, Shard, ShardAggRequest};
use crate::stop::Stop;
use serde::Serialize;
use skein_indexer::partition::Catalog;
use skein_indexer::patterns::{canonical, Patterns};
use skein_model::{PatternId, Timestamp};
use std::collections::HashMap;
use std::time::Instant;
use tantivy::aggregation::agg_req::Aggregations;

/// Trend buckets per pattern.
const TREND_BUCKETS: u64 = 24;
/// History looked at for surges, in lengths of the range.
const HISTORY_RANGES: i64 = 4;
/// A surge needs at least this many records in the range, and this many times the
/// forecast: a pattern going from 1 to 3 is noise.
const SURGE_MIN_COUNT: u64 = 10;
const SURGE_MIN_FACTOR: f64 = 3.0;
/// Most patterns one answer lists.
pub const MAX_LIMIT: usize = 1_000;

/// How the patterns are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatternOrder {
    /// Most records first.
    #[default]
    Count,
    /// Latest record first.
    Recent,
}

/// A patterns request.
#[derive(Debug, Clone)]
pub struct PatternsRequest {
    /// The query; empty matches everything.
    pub q: String,
    /// Start of the range (inclusive).
    pub start: Timestamp,
    /// End of the range (inclusive).
    pub end: Timestamp,
    /// At most this many patterns ([`MAX_LIMIT`] at most).
    pub limit: usize,
    /// Their order.
    pub order: PatternOrder,
    /// When to stop.
    pub stop: Stop,
    /// Aggregation limits of the server.
    pub limits: AggLimits,
    /// What `now` means in the query's date math.
    pub now: Timestamp,
}

/// One pattern in the answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PatternRow {
    /// Its id (`pattern:ID` finds its records).
    pub id: PatternId,
    /// The template; variable parts as `<*>` or typed (`<num>`, `<ip>`, …).
    pub template: String,
    /// Records in the range.
    pub count: u64,
    /// The first and last of them.
    pub first: Timestamp,
    /// The last one.
    pub last: Timestamp,
    /// The line that made the pattern.
    pub sample: String,
    /// The container or compose service it was mined in.
    pub group: String,
    /// Records per trend bucket (see the answer's `buckets`).
    pub trend: Vec<u64>,
    /// Its first record ever lies in the range.
    pub new: bool,
    /// Its count is far above what its history forecasts.
    pub surging: bool,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct PatternsResponse {
    /// The patterns.
    pub patterns: Vec<PatternRow>,
    /// Records matching the query and range.
    pub total: u64,
    /// Records of the patterns left out by `limit` (and of records without a pattern).
    pub other: u64,
    /// Start of each trend bucket.
    pub buckets: Vec<Timestamp>,
    /// The trend's bucket width, e.g. `5m`.
    pub interval: String,
    /// Whether the time limit cut the work short (counts then partial).
    pub timed_out: bool,
    /// Time spent.
    pub took_ms: u64,
}

/// The trends of the patterns of `q`'s records in `[start, end]` (bucket `i` starting
/// at `origin_ms + i * width_ms`), merged by live id, with the matching total (records
/// without a pattern, written before patterns existed, included) and whether the time
/// limit cut the scan short.
fn trends(
    catalog: &Catalog,
    req: &PatternsRequest,
    q: &str,
    (start, end): (Timestamp, Timestamp),
    buckets: Buckets,
) -> Result<(u64, HashMap<PatternId, Trend>, bool), AggregateError> {
    crate::parse::parse_query_at(catalog.schema(), q, req.now)?;
    let aggs = Aggregations::default();
    let shard_req = ShardAggRequest {
        q,
        now: req.now,
        start: Some(start),
        end: Some(end),
        aggs: &aggs,
        stop: &req.stop,
        limits: req.limits,
    };
    let mut parts = Vec::new();
    for shard in PartitionShard::overlapping(catalog, Some(start), Some(end)) {
        parts.push(shard.trends(&shard_req, "pattern", buckets)?);
    }
    let mut total = 0;
    let mut out: HashMap<PatternId, Trend> = HashMap::new();
    for (value, t) in trend::merge(parts) {
        total += t.count;
        if let Ok(id) = value.parse::<PatternId>() {
            out.entry(canonical(id)).or_default().merge(&t);
        }
    }
    Ok((total, out, req.stop.timed_out()))
}

/// `q` narrowed to the records of `ids` (and of the ids merged with them).
fn only(q: &str, ids: &[PatternId]) -> String {
    let list = ids
        .iter()
        .flat_map(|id| skein_indexer::patterns::equivalents(*id).map_or(vec![*id], |e| e.to_vec()))
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(" OR ");
    match q.trim() {
        "" | "*" => format!("pattern:({list})"),
        q => format!("({q}) AND pattern:({list})"),
    }
}

/// Buckets of `width_ms` from the one holding `start` to the one holding `end`.
fn buckets_over(start: Timestamp, end: Timestamp, width_ms: i64) -> Buckets {
    let origin_ms = start.0.div_euclid(1_000_000).div_euclid(width_ms) * width_ms;
    let last = end.0.div_euclid(1_000_000).div_euclid(width_ms) * width_ms;
    Buckets {
        origin_ms,
        width_ms,
        count: ((last - origin_ms) / width_ms + 1).max(1) as usize,
    }
}

/// The patterns of `req`'s records, described by `patterns`.
///
/// Two passes over two columns ([`crate::aggregate::trend`]): count, time span and trend
/// of every pattern in the range, then the history of those that could be surging.
pub fn patterns(
    catalog: &Catalog,
    patterns: &Patterns,
    req: &PatternsRequest,
) -> Result<PatternsResponse, AggregateError> {
    let started = Instant::now();
    let (start, end) = (req.start, req.end);
    let step = interval::auto(Some((start, end)), TREND_BUCKETS);
    let buckets = buckets_over(start, end, step.millis().max(1));
    let (total, now, mut timed_out) = trends(catalog, req, &req.q, (start, end), buckets)?;
    // Ordered and cut first: only the listed patterns are described (a day can hold
    // tens of thousands, and each description takes the miner's lock).
    let mut ranked: Vec<(PatternId, Trend)> = now.into_iter().collect();
    match req.order {
        PatternOrder::Count => ranked.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0))),
        PatternOrder::Recent => ranked.sort_by(|a, b| b.1.last.cmp(&a.1.last).then(a.0.cmp(&b.0))),
    }
    ranked.truncate(req.limit.min(MAX_LIMIT));
    let mut first_seen: HashMap<PatternId, Timestamp> = HashMap::new();
    let mut rows: Vec<PatternRow> = ranked
        .into_iter()
        .map(|(id, t)| {
            let d = patterns.describe(id);
            if let Some(f) = d.as_ref().and_then(|d| d.first_seen) {
                first_seen.insert(id, f);
            }
            PatternRow {
                id,
                count: t.count,
                first: Timestamp(t.first),
                last: Timestamp(t.last),
                new: d
                    .as_ref()
                    .and_then(|d| d.first_seen)
                    .is_some_and(|f| f >= start),
                // Not mined by this server's miner (a state lost and rebuilt without
                // it): listed with its id only.
                template: d.as_ref().map(|d| d.template.clone()).unwrap_or_default(),
                sample: d.as_ref().map(|d| d.sample.clone()).unwrap_or_default(),
                group: d.map(|d| d.group).unwrap_or_default(),
                trend: t.buckets,
                surging: false,
            }
        })
        .collect();

    let candidates: Vec<PatternId> = rows
        .iter()
        .filter(|r| !r.new && r.count >= SURGE_MIN_COUNT)
        .map(|r| r.id)
        .collect();
    if !candidates.is_empty() {
        // The history: HISTORY_RANGES lengths of the range before it, in whole buckets
        // ending where the range's first one begins, so that none is cut short.
        let span_ms = (end.0.saturating_sub(start.0) / 1_000_000).max(1);
        let coarse = interval::auto(
            Some((
                start,
                Timestamp(start.0 + (span_ms * HISTORY_RANGES).saturating_mul(1_000_000)),
            )),
            TREND_BUCKETS,
        );
        let coarse_ms = coarse.millis().max(1);
        let history_end = start.0.div_euclid(1_000_000).div_euclid(coarse_ms) * coarse_ms;
        let history_start =
            history_end - (span_ms * HISTORY_RANGES + coarse_ms - 1) / coarse_ms * coarse_ms;
        let history = (
            Timestamp(history_start.saturating_mul(1_000_000)),
            Timestamp(history_end.saturating_mul(1_000_000) - 1),
        );
        let past_buckets = buckets_over(history.0, history.1, coarse_ms);
        let (_, past, cut) = trends(
            catalog,
            req,
            &only(&req.q, &candidates),
            history,
            past_buckets,
        )?;
        timed_out |= cut;
        let ahead = (span_ms as u64).div_ceil(coarse_ms as u64).max(1) as usize;
        for r in rows.iter_mut().filter(|r| candidates.contains(&r.id)) {
            r.surging = surges(
                r.count,
                past.get(&r.id),
                past_buckets,
                ahead,
                first_seen.get(&r.id).copied(),
            );
        }
    }
    let listed: u64 = rows.iter().map(|r| r.count).sum();
    Ok(PatternsResponse {
        other: total.saturating_sub(listed),
        patterns: rows,
        total,
        buckets: (0..buckets.count as i64)
            .map(|i| {
                Timestamp((buckets.origin_ms + i * buckets.width_ms).saturating_mul(1_000_000))
            })
            .collect(),
        interval: step.to_string(),
        timed_out,
        took_ms: started.elapsed().as_millis() as u64,
    })
}

/// Whether `count` records in the range are far above what the pattern's history (a
/// count per bucket of `step_ms`) forecasts for the `ahead` buckets of the range.
///
/// Only the history since the pattern's first record counts (`known_from`): before it
/// an empty bucket says nothing (on a server that started ten minutes ago every pattern
/// would otherwise surge), and its first bucket holds only part of its interval (fitted,
/// that reads as a steep rise). With fewer than four buckets left there is nothing to
/// forecast from, and nothing is called a surge.
fn surges(
    count: u64,
    history: Option<&Trend>,
    buckets: Buckets,
    ahead: usize,
    known_from: Option<Timestamp>,
) -> bool {
    let Some(known_from) = known_from else {
        return false;
    };
    if count < SURGE_MIN_COUNT {
        return false;
    }
    let step_ms = buckets.width_ms;
    let first_whole = known_from.0.div_euclid(1_000_000).div_euclid(step_ms) * step_ms + step_ms;
    let series: Vec<f64> = (0..buckets.count)
        .filter(|i| buckets.origin_ms + *i as i64 * step_ms >= first_whole)
        .map(|i| history.and_then(|h| h.buckets.get(i)).copied().unwrap_or(0) as f64)
        .collect();
    let spec = Spec {
        periods: Some(ahead),
        season: Season::Auto,
        confidence: 0.99,
    };
    let Some(f) = forecast::forecast(&series, step_ms, &spec) else {
        return false;
    };
    let (expected, upper) = f
        .ahead
        .iter()
        .fold((0.0, 0.0), |(e, u), b| (e + b.value, u + b.upper));
    let count = count as f64;
    count > upper && count >= SURGE_MIN_FACTOR * expected.max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEN_MINUTES: Buckets = Buckets {
        origin_ms: 0,
        width_ms: 600_000,
        count: 24,
    };

    /// A history with `n` records in each bucket `i` of `per_bucket`.
    fn history(per_bucket: impl Fn(usize) -> u64) -> Trend {
        Trend {
            buckets: (0..TEN_MINUTES.count).map(per_bucket).collect(),
            ..Trend::default()
        }
    }

    #[test]
    fn a_steady_pattern_does_not_surge_and_a_tenfold_one_does() {
        let since_ever = Some(Timestamp(-1));
        let steady = history(|_| 6);
        assert!(!surges(42, Some(&steady), TEN_MINUTES, 7, since_ever));
        assert!(surges(330, Some(&steady), TEN_MINUTES, 7, since_ever));
        // Known for long and silent in the history: waking up is a surge.
        assert!(surges(30, None, TEN_MINUTES, 7, since_ever));
        assert!(!surges(5, None, TEN_MINUTES, 7, since_ever));
        // Unknown to the miner: no judgement.
        assert!(!surges(330, Some(&steady), TEN_MINUTES, 7, None));
    }

    /// Before a pattern's first record its history is unknown, not empty; its first
    /// bucket is partial (4 of 6) and is not read as a rise.
    #[test]
    fn only_history_since_the_first_record_counts() {
        let at = |ms: i64| Some(Timestamp(ms * 1_000_000));
        let born_in = |b: usize| {
            history(move |i| match i.cmp(&b) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => 4,
                std::cmp::Ordering::Greater => 6,
            })
        };
        // Born in bucket 20, steady after: 3 whole buckets, too few to judge.
        let young = born_in(20);
        assert!(!surges(
            60,
            Some(&young),
            TEN_MINUTES,
            7,
            at(20 * 600_000 + 200_000)
        ));
        // Born in bucket 10: 13 whole buckets of 6; 42 is steady, 333 a surge.
        let older = born_in(10);
        let born = at(10 * 600_000 + 200_000);
        assert!(!surges(42, Some(&older), TEN_MINUTES, 7, born));
        assert!(surges(333, Some(&older), TEN_MINUTES, 7, born));
    }
}
