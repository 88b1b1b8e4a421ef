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
use crate::aggregate::{interval, AggLimits, AggregateError, AggregateRequest};
use crate::stop::Stop;
use serde::Serialize;
use serde_json::json;
use skein_indexer::partition::Catalog;
use skein_indexer::patterns::{canonical, Patterns};
use skein_model::{PatternId, Timestamp};
use std::collections::HashMap;
use std::time::Instant;

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

/// Per pattern: count, first and last (ms), counts by bucket start (ms).
#[derive(Default)]
struct Tally {
    count: u64,
    first: Option<f64>,
    last: Option<f64>,
    trend: HashMap<i64, u64>,
}

/// Distinct patterns the first pass ranks; beyond them the least frequent are not
/// listed (their records count in `other`).
const RANKED: usize = 10_000;

/// Runs `aggs` (a `terms` on `pattern` named `p`) over `[start, end]` for `q`, and
/// tallies its buckets by live id.
fn tally(
    catalog: &Catalog,
    req: &PatternsRequest,
    q: String,
    (start, end): (Timestamp, Timestamp),
    aggs: serde_json::Value,
) -> Result<(u64, HashMap<PatternId, Tally>, bool), AggregateError> {
    let res = crate::aggregate::aggregate(
        catalog,
        &AggregateRequest {
            q,
            start: Some(start),
            end: Some(end),
            aggs: json!({ "p": aggs }),
            now: Some(req.now),
            stop: req.stop.clone(),
            limits: req.limits,
        },
    )?;
    let mut out: HashMap<PatternId, Tally> = HashMap::new();
    let buckets = res.aggregations["p"]["buckets"].as_array().cloned();
    for b in buckets.unwrap_or_default() {
        let Some(id) = b["key"].as_str().and_then(|k| k.parse::<PatternId>().ok()) else {
            continue;
        };
        let t = out.entry(canonical(id)).or_default();
        t.count += b["doc_count"].as_u64().unwrap_or(0);
        if let Some(f) = b["first"]["value"].as_f64() {
            t.first = Some(t.first.map_or(f, |x| x.min(f)));
        }
        if let Some(l) = b["last"]["value"].as_f64() {
            t.last = Some(t.last.map_or(l, |x| x.max(l)));
        }
        for h in b["trend"]["buckets"].as_array().into_iter().flatten() {
            if let (Some(k), Some(n)) = (h["key"].as_i64(), h["doc_count"].as_u64()) {
                *t.trend.entry(k).or_default() += n;
            }
        }
    }
    Ok((res.total, out, res.timed_out))
}

/// `q` narrowed to the records of `ids` (and of the ids merged with them), and how
/// many ids that is (the terms a `terms` aggregation then finds at most).
fn only(q: &str, ids: &[PatternId]) -> (String, usize) {
    let all: Vec<String> = ids
        .iter()
        .flat_map(|id| skein_indexer::patterns::equivalents(*id).map_or(vec![*id], |e| e.to_vec()))
        .map(|id| id.to_string())
        .collect();
    let list = all.join(" OR ");
    let q = match q.trim() {
        "" | "*" => format!("pattern:({list})"),
        q => format!("({q}) AND pattern:({list})"),
    };
    (q, all.len())
}

/// A `terms` on `pattern` of `size` with a date histogram of `interval` under it.
fn trend_aggs(size: usize, interval: String) -> serde_json::Value {
    json!({"terms": {"field": "pattern", "size": size}, "aggs": {
        "trend": {"date_histogram": {"field": "@timestamp", "fixed_interval": interval,
                                     "min_doc_count": 1}},
    }})
}

/// Bucket starts (ms) of `step_ms` from the one holding `start` to the one holding `end`.
fn bucket_starts(start: Timestamp, end: Timestamp, step_ms: i64) -> Vec<i64> {
    let first = start.0.div_euclid(1_000_000).div_euclid(step_ms) * step_ms;
    let last = end.0.div_euclid(1_000_000).div_euclid(step_ms) * step_ms;
    (0..)
        .map(|i| first + i * step_ms)
        .take_while(|b| *b <= last)
        .collect()
}

/// The patterns of `req`'s records, described by `patterns`.
///
/// Three passes: counts and time spans of every pattern in the range (to rank them),
/// the trend of the listed ones, and their history before the range (for surges).
pub fn patterns(
    catalog: &Catalog,
    patterns: &Patterns,
    req: &PatternsRequest,
) -> Result<PatternsResponse, AggregateError> {
    let started = Instant::now();
    let (start, end) = (req.start, req.end);
    let (total, ranked, mut timed_out) = tally(
        catalog,
        req,
        req.q.clone(),
        (start, end),
        json!({"terms": {"field": "pattern", "size": RANKED}, "aggs": {
            "first": {"min": {"field": "@timestamp"}},
            "last": {"max": {"field": "@timestamp"}},
        }}),
    )?;
    let mut first_seen: HashMap<PatternId, Timestamp> = HashMap::new();
    let mut rows: Vec<PatternRow> = ranked
        .into_iter()
        .map(|(id, t)| {
            let d = patterns.describe(id);
            if let Some(f) = d.as_ref().and_then(|d| d.first_seen) {
                first_seen.insert(id, f);
            }
            let ms =
                |v: Option<f64>| Timestamp((v.unwrap_or(0.0) as i64).saturating_mul(1_000_000));
            PatternRow {
                id,
                count: t.count,
                first: ms(t.first),
                last: ms(t.last),
                new: d
                    .as_ref()
                    .and_then(|d| d.first_seen)
                    .is_some_and(|f| f >= start),
                // Not mined by this server's miner (a state lost and rebuilt without
                // it): listed with its id only.
                template: d.as_ref().map(|d| d.template.clone()).unwrap_or_default(),
                sample: d.as_ref().map(|d| d.sample.clone()).unwrap_or_default(),
                group: d.map(|d| d.group).unwrap_or_default(),
                trend: Vec::new(),
                surging: false,
            }
        })
        .collect();
    match req.order {
        PatternOrder::Count => rows.sort_by(|a, b| b.count.cmp(&a.count).then(a.id.cmp(&b.id))),
        PatternOrder::Recent => rows.sort_by(|a, b| b.last.cmp(&a.last).then(a.id.cmp(&b.id))),
    }
    rows.truncate(req.limit.min(MAX_LIMIT));

    let step = interval::auto(Some((start, end)), TREND_BUCKETS);
    let step_ms = step.millis().max(1);
    let buckets = bucket_starts(start, end, step_ms);
    if !rows.is_empty() {
        let ids: Vec<PatternId> = rows.iter().map(|r| r.id).collect();
        let (q, size) = only(&req.q, &ids);
        let (_, trends, cut) = tally(
            catalog,
            req,
            q,
            (start, end),
            trend_aggs(size, step.fixed()),
        )?;
        timed_out |= cut;
        for r in &mut rows {
            let t = trends.get(&r.id);
            r.trend = buckets
                .iter()
                .map(|b| t.and_then(|t| t.trend.get(b)).copied().unwrap_or(0))
                .collect();
        }
    }
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
        let (q, size) = only(&req.q, &candidates);
        let (_, past, cut) = tally(catalog, req, q, history, trend_aggs(size, coarse.fixed()))?;
        timed_out |= cut;
        let past_buckets = bucket_starts(history.0, history.1, coarse_ms);
        let ahead = (span_ms as u64).div_ceil(coarse_ms as u64).max(1) as usize;
        for r in rows.iter_mut().filter(|r| candidates.contains(&r.id)) {
            r.surging = surges(
                r.count,
                past.get(&r.id),
                &past_buckets,
                coarse_ms,
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
        buckets: buckets
            .iter()
            .map(|ms| Timestamp(ms.saturating_mul(1_000_000)))
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
    history: Option<&Tally>,
    buckets: &[i64],
    step_ms: i64,
    ahead: usize,
    known_from: Option<Timestamp>,
) -> bool {
    let Some(known_from) = known_from else {
        return false;
    };
    if count < SURGE_MIN_COUNT {
        return false;
    }
    let first_whole = known_from.0.div_euclid(1_000_000).div_euclid(step_ms) * step_ms + step_ms;
    let series: Vec<f64> = buckets
        .iter()
        .filter(|b| **b >= first_whole)
        .map(|b| history.and_then(|h| h.trend.get(b)).copied().unwrap_or(0) as f64)
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

    fn tally(per_bucket: &[(i64, u64)]) -> Tally {
        Tally {
            trend: per_bucket.iter().copied().collect(),
            ..Tally::default()
        }
    }

    #[test]
    fn a_steady_pattern_does_not_surge_and_a_tenfold_one_does() {
        let buckets: Vec<i64> = (0..24).map(|i| i * 600_000).collect();
        let since_ever = Some(Timestamp(-1));
        let steady = tally(&buckets.iter().map(|b| (*b, 6)).collect::<Vec<_>>());
        assert!(!surges(42, Some(&steady), &buckets, 600_000, 7, since_ever));
        assert!(surges(330, Some(&steady), &buckets, 600_000, 7, since_ever));
        // Known for long and silent in the history: waking up is a surge.
        assert!(surges(30, None, &buckets, 600_000, 7, since_ever));
        assert!(!surges(5, None, &buckets, 600_000, 7, since_ever));
        // Unknown to the miner: no judgement.
        assert!(!surges(330, Some(&steady), &buckets, 600_000, 7, None));
    }

    /// Before a pattern's first record its history is unknown, not empty; its first
    /// bucket is partial (4 of 6) and is not read as a rise.
    #[test]
    fn only_history_since_the_first_record_counts() {
        let buckets: Vec<i64> = (0..24).map(|i| i * 600_000).collect();
        let at = |ms: i64| Some(Timestamp(ms * 1_000_000));
        // Born in bucket 20 (4 lines), steady after: 3 whole buckets, too few to judge.
        let young: Vec<(i64, u64)> = (20..24)
            .map(|i| (i * 600_000, if i == 20 { 4 } else { 6 }))
            .collect();
        let young = tally(&young);
        assert!(!surges(
            60,
            Some(&young),
            &buckets,
            600_000,
            7,
            at(20 * 600_000 + 200_000)
        ));
        // Born in bucket 10: 13 whole buckets of 6; 42 is steady, 333 a surge.
        let older: Vec<(i64, u64)> = (10..24)
            .map(|i| (i * 600_000, if i == 10 { 4 } else { 6 }))
            .collect();
        let older = tally(&older);
        let born = at(10 * 600_000 + 200_000);
        assert!(!surges(42, Some(&older), &buckets, 600_000, 7, born));
        assert!(surges(333, Some(&older), &buckets, 600_000, 7, born));
    }
}
