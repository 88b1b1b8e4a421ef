//! How large an aggregation's answer may get, checked before anything runs.
//!
//! Bucket aggregations multiply down the tree: a `terms` of 100 values with a
//! `percentiles` of 100,000 percents under it answers 10 million values, and builds them
//! per segment before merging. As Elasticsearch's `search.max_buckets`, the worst-case
//! size of the answer is estimated from the request alone (and the time range, for date
//! histograms) and a request over [`AggLimits::max_buckets`] is refused with the path of
//! the aggregation that crossed the limit. What cannot be bounded ahead (a numeric
//! histogram without bounds, every term of a segment before the top ones are picked) is
//! left to Tantivy's own guard, which counts buckets and memory as they are made
//! ([`AggLimits::max_memory_bytes`]).

use super::request::FILLER_KEY;
use serde_json::Value;
use skein_model::Timestamp;

/// Bounds on one aggregation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggLimits {
    /// Largest estimated answer, in buckets plus metric values (Elasticsearch's
    /// `search.max_buckets`).
    pub max_buckets: u64,
    /// Memory the aggregation of one partition may take while it runs.
    pub max_memory_bytes: u64,
    /// Whether to refuse a request whose worst case exceeds `max_buckets` before it runs.
    /// Off for requests whose sizes are caps rather than expectations (the source
    /// list's nested `terms`); Tantivy's guard still counts the buckets actually made.
    pub worst_case: bool,
}

/// Elasticsearch's default `search.max_buckets`.
pub const DEFAULT_MAX_BUCKETS: u64 = 65_536;
/// Default of [`AggLimits::max_memory_bytes`]: 1 GiB.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 1 << 30;

impl Default for AggLimits {
    fn default() -> AggLimits {
        AggLimits {
            max_buckets: DEFAULT_MAX_BUCKETS,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            worst_case: true,
        }
    }
}

impl AggLimits {
    /// The limit for Tantivy's count of buckets made. Twice ours and one: a `range`
    /// aggregation answering `n` ranges makes up to `2n + 1` buckets, with the gaps
    /// between them filled ([`super::request`]), and the answer's size is already
    /// checked by [`check`].
    pub fn tantivy_buckets(&self) -> u32 {
        u32::try_from(self.max_buckets.saturating_mul(2).saturating_add(1)).unwrap_or(u32::MAX)
    }
}

/// A request over the limit: where, how large, and what to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverLimit {
    /// Aggregation names from the top down to the one whose buckets or values crossed
    /// the limit, joined by ` > `.
    pub path: String,
    /// The worst-case size of the whole answer (saturating).
    pub estimate: u64,
    /// What to change.
    pub advice: String,
}

/// The worst-case size of the answer to `aggs` (prepared, as [`super::request::prepare`]
/// gives them): each bucket counts one, each metric its values (one, or one per
/// percent for `percentiles`), multiplied by the buckets above it. `range` is the time
/// span date histograms cover when the request does not bound them.
pub fn estimate(aggs: &Value, range: Option<(Timestamp, Timestamp)>) -> u64 {
    let mut walk = Walk {
        range,
        limit: u64::MAX,
        total: 0,
        over: None,
        path: Vec::new(),
    };
    walk.level(aggs, 1);
    walk.total
}

/// Refuses `aggs` when their worst-case answer exceeds `limits.max_buckets`.
pub fn check(
    aggs: &Value,
    range: Option<(Timestamp, Timestamp)>,
    limits: &AggLimits,
) -> Result<(), OverLimit> {
    if !limits.worst_case {
        return Ok(());
    }
    let mut walk = Walk {
        range,
        limit: limits.max_buckets,
        total: 0,
        over: None,
        path: Vec::new(),
    };
    walk.level(aggs, 1);
    match walk.over {
        Some((path, advice)) => Err(OverLimit {
            path,
            estimate: walk.total,
            advice,
        }),
        None => Ok(()),
    }
}

struct Walk {
    range: Option<(Timestamp, Timestamp)>,
    limit: u64,
    total: u64,
    /// The first aggregation to cross the limit, and what to change there.
    over: Option<(String, String)>,
    path: Vec<String>,
}

impl Walk {
    /// Adds the aggregations of one level, each under `parents` buckets.
    fn level(&mut self, aggs: &Value, parents: u64) {
        let Some(obj) = aggs.as_object() else { return };
        for (name, agg) in obj {
            self.path.push(name.clone());
            self.agg(agg, parents);
            self.path.pop();
        }
    }

    fn agg(&mut self, agg: &Value, parents: u64) {
        let Some(obj) = agg.as_object() else { return };
        let Some((kind, body)) = obj
            .iter()
            .find(|(k, _)| !matches!(k.as_str(), "aggs" | "meta"))
        else {
            return;
        };
        let (own, advice) = size_of(kind, body, self.range);
        let made = parents.saturating_mul(own);
        self.total = self.total.saturating_add(made);
        if self.over.is_none() && self.total > self.limit {
            let advice = if parents > 1 {
                format!("{advice}, or make the aggregations above it smaller")
            } else {
                advice
            };
            self.over = Some((self.path.join(" > "), advice));
        }
        if let Some(subs) = obj.get("aggs") {
            // Sub-aggregations exist only under buckets; a metric has none.
            self.level(subs, made);
        }
    }
}

/// Buckets or values one aggregation answers per parent bucket, and what lowers it.
fn size_of(kind: &str, body: &Value, range: Option<(Timestamp, Timestamp)>) -> (u64, String) {
    let num = |k: &str| body.get(k).and_then(Value::as_u64);
    match kind {
        "terms" => {
            // The answer holds `size` terms. What each shard keeps on the way (every
            // term, or `shard_size` of them) is not answered, as in Elasticsearch's
            // count; Tantivy's memory guard bounds it.
            (num("size").unwrap_or(10).max(1), "lower `size`".into())
        }
        "range" => {
            // The ranges added to cover every value are not answered.
            let n = body
                .get("ranges")
                .and_then(Value::as_array)
                .map_or(0, |r| r.iter().filter(|r| r["key"] != FILLER_KEY).count())
                as u64;
            (n.max(1), "give fewer `ranges`".into())
        }
        "date_histogram" => (
            date_buckets(body, range),
            "widen `fixed_interval` or narrow the time range".into(),
        ),
        "histogram" => (
            histogram_buckets(body),
            "widen `interval` or narrow `extended_bounds` / `hard_bounds`".into(),
        ),
        "percentiles" => {
            let n = body
                .get("percents")
                .and_then(Value::as_array)
                .map_or(7, Vec::len) as u64;
            (n.max(1), "give fewer `percents`".into())
        }
        _ => (1, "remove some aggregations".into()),
    }
}

/// `[min, max]` of a `{"min":…,"max":…}` bounds object, as numbers.
fn bounds(body: &Value, key: &str) -> Option<(f64, f64)> {
    let b = body.get(key)?;
    Some((b.get("min")?.as_f64()?, b.get("max")?.as_f64()?))
}

/// Buckets of width `interval` from `lo` to `hi` (at least one).
fn spanned(lo: f64, hi: f64, interval: f64) -> u64 {
    if interval.is_nan() || interval <= 0.0 || hi < lo {
        return 1;
    }
    let n = ((hi - lo) / interval).floor() + 1.0;
    if n >= u64::MAX as f64 {
        u64::MAX
    } else {
        n as u64
    }
}

/// A date histogram's buckets: over the time range, extended by `extended_bounds` and
/// clipped by `hard_bounds` (all in epoch milliseconds once prepared).
fn date_buckets(body: &Value, range: Option<(Timestamp, Timestamp)>) -> u64 {
    let Some(interval) = body
        .get("fixed_interval")
        .and_then(Value::as_str)
        .and_then(|s| s.strip_suffix("ms"))
        .and_then(|s| s.parse::<f64>().ok())
    else {
        return 1;
    };
    let mut span = range.map(|(a, b)| (a.0 as f64 / 1e6, b.0 as f64 / 1e6));
    if let Some((lo, hi)) = bounds(body, "extended_bounds") {
        span = Some(match span {
            Some((a, b)) => (a.min(lo), b.max(hi)),
            None => (lo, hi),
        });
    }
    if let Some((lo, hi)) = bounds(body, "hard_bounds") {
        span = Some(match span {
            Some((a, b)) => (a.max(lo), b.min(hi)),
            None => (lo, hi),
        });
    }
    // One more for a bucket that an offset splits at either end.
    span.map_or(1, |(lo, hi)| spanned(lo, hi, interval).saturating_add(1))
}

/// A numeric histogram's buckets, when its bounds say: `hard_bounds` caps them,
/// `extended_bounds` sets a floor. Without either, the data decides, and Tantivy's
/// bucket guard counts them as they are made.
fn histogram_buckets(body: &Value) -> u64 {
    let Some(interval) = body.get("interval").and_then(Value::as_f64) else {
        return 1;
    };
    match (bounds(body, "hard_bounds"), bounds(body, "extended_bounds")) {
        (Some((lo, hi)), _) | (None, Some((lo, hi))) => spanned(lo, hi, interval).saturating_add(1),
        (None, None) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::request::prepare;
    use serde_json::json;

    fn est(aggs: Value) -> u64 {
        estimate(&prepare(&aggs, None).unwrap().aggs, None)
    }

    #[test]
    fn buckets_multiply_down_the_tree() {
        assert_eq!(est(json!({"l": {"terms": {"field": "level"}}})), 10);
        // 100 terms, each with 7 percentiles (the default percents) and an average.
        assert_eq!(
            est(
                json!({"u": {"terms": {"field": "user", "size": 100}, "aggs": {
                "p": {"percentiles": {"field": "latency_ms"}},
                "a": {"avg": {"field": "latency_ms"}}}}})
            ),
            100 + 100 * 7 + 100
        );
        let percents: Vec<f64> = (0..100_000).map(|i| i as f64 / 1000.0).collect();
        assert_eq!(
            est(
                json!({"u": {"terms": {"field": "user", "size": 100}, "aggs": {
                "p": {"percentiles": {"field": "latency_ms", "percents": percents}}}}})
            ),
            100 + 100 * 100_000
        );
        // With gaps between them, which are filled but not answered.
        let ranges: Vec<Value> = (0..1000)
            .map(|i| json!({"from": 2 * i, "to": 2 * i + 1}))
            .collect();
        assert_eq!(
            est(json!({"r": {"range": {"field": "latency_ms", "ranges": ranges}}})),
            1000
        );
        // What shards keep on the way is not answered.
        assert_eq!(
            est(json!({"l": {"terms": {"field": "level", "size": 5, "shard_size": 500}}})),
            5
        );
    }

    #[test]
    fn histograms_count_their_span() {
        // One day at one minute: 1440 buckets, plus one for an offset split.
        let day = 86_400_000_000_000;
        let p = prepare(
            &json!({"h": {"date_histogram": {"fixed_interval": "1m"}}}),
            None,
        )
        .unwrap();
        assert_eq!(
            estimate(&p.aggs, Some((Timestamp(0), Timestamp(day - 1)))),
            1441
        );
        // `extended_bounds` widens the span past the data.
        let p = prepare(
            &json!({"h": {"date_histogram": {"fixed_interval": "1s",
                "extended_bounds": {"min": 0, "max": 864_000_000}}}}),
            None,
        )
        .unwrap();
        assert_eq!(estimate(&p.aggs, None), 864_002);
        assert_eq!(
            est(json!({"h": {"histogram": {"field": "x", "interval": 10,
                "hard_bounds": {"min": 0, "max": 1000}}}})),
            102
        );
        // Unbounded numeric histograms are left to Tantivy's guard.
        assert_eq!(
            est(json!({"h": {"histogram": {"field": "x", "interval": 10}}})),
            1
        );
    }

    #[test]
    fn the_first_aggregation_over_the_limit_is_named() {
        let limits = AggLimits {
            max_buckets: 1000,
            ..AggLimits::default()
        };
        let aggs = prepare(
            &json!({"a": {"terms": {"field": "level"}},
                "u": {"terms": {"field": "user", "size": 100}, "aggs": {
                    "avg": {"avg": {"field": "x"}},
                    "p": {"percentiles": {"field": "x", "percents": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}}}}}),
            None,
        )
        .unwrap()
        .aggs;
        let over = check(&aggs, None, &limits).unwrap_err();
        assert_eq!(over.path, "u > p");
        assert_eq!(over.estimate, 10 + 100 + 100 + 1000);
        assert!(over.advice.contains("percents"), "{}", over.advice);
        assert!(over.advice.contains("above it"), "{}", over.advice);
        assert!(check(&aggs, None, &AggLimits::default()).is_ok());
        // Absurd sizes saturate rather than wrap around.
        let huge = prepare(
            &json!({"a": {"terms": {"field": "a", "size": u64::MAX}, "aggs": {
                "b": {"terms": {"field": "b", "size": u64::MAX}}}}}),
            None,
        )
        .unwrap()
        .aggs;
        assert_eq!(estimate(&huge, None), u64::MAX);
    }
}
