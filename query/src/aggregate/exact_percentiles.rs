//! Exact percentiles while the values are few.
//!
//! Tantivy's `percentiles` is a DDSketch: within 1% of the true value, but never exact
//! (1.01 where the values hold 1.0). Elasticsearch keeps every value of a small input
//! and interpolates between them, and its clients and tests expect those numbers. So
//! for a top-level `percentiles`, the field's values are read first, in ascending order,
//! through the shards' field-sorted search, at most [`EXACT_PERCENTILE_VALUES`] of them
//! (memory bounded by that number); when every value fits, the answer is computed from
//! them as Elasticsearch does, else the sketch's answer stands.
//!
//! Under bucket aggregations (`terms`, `histogram`, `date_histogram`, `range`) the same
//! is done per bucket after Tantivy has answered, for buckets of at most that many
//! records: the query AND the bucket's condition (its term, or its interval or range)
//! is read again, at most [`EXACT_PERCENTILE_BUCKETS`] buckets, and only while the
//! buckets times the request's matching records stay within [`EXACT_PERCENTILE_RECORDS`]
//! (each read scans about that many), so the extra work stays that of a few small
//! searches; the other buckets keep the sketch.

use super::AggregateError;
use crate::lang::ast::{Leaf, Node, Value as V};
use crate::lang::print::to_query_string;
use crate::search::Order;
use crate::shard::{Shard, ShardAggRequest};
use crate::sort_by_field::{FieldRequest, SortField, SortValue};
use serde_json::Value;
use skein_model::Timestamp;
use std::ops::Bound;

/// Most values a percentiles aggregation keeps to answer exactly; past it, the sketch.
pub const EXACT_PERCENTILE_VALUES: usize = 4_096;

/// Most buckets per request whose percentiles are made exact (each one more read of its
/// records); the rest keep the sketch.
pub const EXACT_PERCENTILE_BUCKETS: usize = 1_000;

/// Most records scanned again per request for exact percentiles under buckets, so that
/// a request's extra work is that of a few small searches whatever its buckets.
pub const EXACT_PERCENTILE_RECORDS: u64 = 262_144;

/// What a request may still spend on exact percentiles under buckets.
struct Budget {
    buckets: usize,
    records: u64,
    /// What reading one bucket again costs: its condition is a column scan (a term of a
    /// `fields.` path, a range), so about every record the request matches.
    per_bucket: u64,
}

/// A top-level `percentiles` that can be answered exactly when its values are few.
#[derive(Debug, Clone, PartialEq)]
pub struct ExactPercentiles {
    /// The resolved field.
    pub field: String,
    /// The value of records without one (`missing`), if given.
    pub missing: Option<f64>,
}

impl ExactPercentiles {
    /// The request, when `agg` (a prepared aggregation) is a `percentiles` on a field.
    pub fn eligible(agg: &Value) -> Option<ExactPercentiles> {
        let body = agg.get("percentiles")?.as_object()?;
        Some(ExactPercentiles {
            field: body.get("field")?.as_str()?.to_string(),
            missing: match body.get("missing") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_f64()?),
            },
        })
    }

    /// Every value among the matching records, sorted, or `None` when there are more
    /// than [`EXACT_PERCENTILE_VALUES`] (or some are not numbers).
    pub fn values<S: Shard>(
        &self,
        shards: &[S],
        base: &ShardAggRequest<'_>,
    ) -> Result<Option<Vec<f64>>, AggregateError> {
        self.values_where(shards, base, base.q)
    }

    /// [`values`](Self::values) of the records matching `q` (the request's query with
    /// a bucket's condition).
    fn values_where<S: Shard>(
        &self,
        shards: &[S],
        base: &ShardAggRequest<'_>,
        q: &str,
    ) -> Result<Option<Vec<f64>>, AggregateError> {
        let keys = [SortField {
            field: self.field.clone(),
            order: Order::Asc,
        }];
        let limit = EXACT_PERCENTILE_VALUES + 1;
        let mut values = Vec::new();
        for shard in shards {
            // A shard whose days lie outside the time range holds none of the records.
            let (lo, hi) = shard.time_range();
            if base.start.is_some_and(|s| s >= hi) || base.end.is_some_and(|e| e < lo) {
                continue;
            }
            let r = shard.search_by_field(&FieldRequest {
                q,
                now: base.now,
                start: base.start,
                end: base.end,
                keys: &keys,
                limit,
                after: None,
                ties_only: false,
                before: None,
                count: self.missing.is_some(),
                load: false,
                // Past this many values in one segment they are not few: the sketch
                // answers, and the rest of the segment need not be read.
                enough: Some(EXACT_PERCENTILE_VALUES),
                stop: base.stop,
            })?;
            // Missing values sort last: the shard's values are all here when fewer
            // than `limit` hits came back or the last one has none.
            let complete = r.hits.len() < limit
                || r.hits
                    .last()
                    .is_some_and(|h| h.0.values[0] == SortValue::Missing);
            if !complete {
                return Ok(None);
            }
            let mut present = 0u64;
            for (k, _) in &r.hits {
                match k.values[0] {
                    SortValue::Int(i) => values.push(i as f64),
                    SortValue::UInt(u) => values.push(u as f64),
                    SortValue::Float(f) => values.push(f),
                    SortValue::Missing => continue,
                    SortValue::Str(_) => return Ok(None),
                }
                present += 1;
            }
            if let Some(m) = self.missing {
                let absent = r.total.saturating_sub(present);
                if values.len() as u64 + absent > EXACT_PERCENTILE_VALUES as u64 {
                    return Ok(None);
                }
                values.extend(std::iter::repeat_n(m, absent as usize));
            }
            if values.len() > EXACT_PERCENTILE_VALUES {
                return Ok(None);
            }
        }
        values.sort_by(f64::total_cmp);
        Ok(Some(values))
    }
}

/// Makes the percentiles under the buckets of `result` (the shaped answer to the
/// prepared `aggs`) exact where their buckets hold few records.
/// `total` is the request's count of matching records.
pub fn nested<S: Shard>(
    shards: &[S],
    base: &ShardAggRequest<'_>,
    aggs: &Value,
    result: &mut Value,
    total: u64,
) -> Result<(), AggregateError> {
    let mut budget = Budget {
        buckets: EXACT_PERCENTILE_BUCKETS,
        records: EXACT_PERCENTILE_RECORDS,
        per_bucket: total.max(1),
    };
    walk(shards, base, aggs, result, &[], &mut budget)
}

fn walk<S: Shard>(
    shards: &[S],
    base: &ShardAggRequest<'_>,
    aggs: &Value,
    result: &mut Value,
    conditions: &[Node],
    budget: &mut Budget,
) -> Result<(), AggregateError> {
    let Some(aggs) = aggs.as_object() else {
        return Ok(());
    };
    for (name, agg) in aggs {
        let Some(subs) = agg.get("aggs").filter(|s| s.is_object()) else {
            continue;
        };
        let Some((kind, body)) = agg.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| !matches!(k.as_str(), "aggs" | "meta"))
        }) else {
            continue;
        };
        let Some(field) = body.get("field").and_then(Value::as_str) else {
            continue;
        };
        let Some(answer) = result.get_mut(name) else {
            continue;
        };
        let buckets: Vec<&mut Value> = match answer.get_mut("buckets") {
            Some(Value::Array(a)) => a.iter_mut().collect(),
            Some(Value::Object(o)) => o.values_mut().collect(),
            _ => continue,
        };
        // A histogram's bucket runs to the next one's key; with buckets left out
        // (`min_doc_count` over 1) that would take in records of others.
        let contiguous = body
            .get("min_doc_count")
            .and_then(Value::as_u64)
            .is_none_or(|n| n <= 1);
        let keys: Vec<Option<f64>> = buckets
            .iter()
            .map(|b| b.get("key").and_then(Value::as_f64))
            .collect();
        for (i, bucket) in buckets.into_iter().enumerate() {
            // Past the time limit the sketch's answers stand.
            if budget.buckets == 0 || base.stop.should_stop() {
                return Ok(());
            }
            let count = bucket.get("doc_count").and_then(Value::as_u64).unwrap_or(0);
            if count == 0 {
                continue;
            }
            let next = keys.get(i + 1).copied().flatten();
            let Some(condition) = bucket_condition(kind, field, bucket, next, contiguous) else {
                continue;
            };
            let mut inner = conditions.to_vec();
            inner.push(condition);
            // A time bucket's records lie in its interval: only the shards of those
            // days are read for it and under it.
            let mut narrowed = base.clone();
            if kind == "date_histogram" {
                if let Some(key) = keys[i] {
                    let start = Timestamp((key as i64).saturating_mul(1_000_000));
                    narrowed.start = Some(base.start.map_or(start, |s| s.max(start)));
                    if let Some(n) = next {
                        let end = Timestamp((n as i64).saturating_mul(1_000_000) - 1);
                        narrowed.end = Some(base.end.map_or(end, |e| e.min(end)));
                    }
                }
            }
            let base = &narrowed;
            if count <= EXACT_PERCENTILE_VALUES as u64 {
                for (sub, sub_agg) in subs.as_object().into_iter().flatten() {
                    let Some(p) = ExactPercentiles::eligible(sub_agg) else {
                        continue;
                    };
                    let Some(target) = bucket.get_mut(sub) else {
                        continue;
                    };
                    if budget.buckets == 0 || budget.records < budget.per_bucket {
                        return Ok(());
                    }
                    budget.buckets -= 1;
                    budget.records -= budget.per_bucket;
                    let q = query_with(base.q, &inner);
                    if let Some(values) = p.values_where(shards, base, &q)? {
                        apply(target, &values);
                    }
                }
            }
            walk(shards, base, subs, bucket, &inner, budget)?;
        }
    }
    Ok(())
}

/// The query-language condition of one bucket: its term, or its interval or range.
fn bucket_condition(
    kind: &str,
    field: &str,
    bucket: &Value,
    next: Option<f64>,
    contiguous: bool,
) -> Option<Node> {
    let leaf = |value| {
        Node::Leaf(Leaf {
            field: Some(field.to_string()),
            value,
            pos: 0,
        })
    };
    let number = |v: f64| {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            format!("{}", v as i64)
        } else {
            format!("{v}")
        }
    };
    let time = |ms: f64| Timestamp((ms as i64).saturating_mul(1_000_000)).to_rfc3339();
    match kind {
        "terms" => match bucket.get("key")? {
            Value::String(s) => Some(leaf(V::Phrase(s.clone()))),
            Value::Number(n) => Some(leaf(V::Phrase(number(n.as_f64()?)))),
            _ => None,
        },
        "histogram" | "date_histogram" if contiguous => {
            let key = bucket.get("key")?.as_f64()?;
            let fmt = |v: f64| {
                if kind == "date_histogram" {
                    time(v)
                } else {
                    number(v)
                }
            };
            Some(leaf(V::Range {
                lower: Bound::Included(fmt(key)),
                upper: next.map_or(Bound::Unbounded, |n| Bound::Excluded(fmt(n))),
            }))
        }
        "range" => {
            let from = bucket.get("from").and_then(Value::as_f64);
            let to = bucket.get("to").and_then(Value::as_f64);
            Some(leaf(V::Range {
                lower: from.map_or(Bound::Unbounded, |f| Bound::Included(number(f))),
                upper: to.map_or(Bound::Unbounded, |t| Bound::Excluded(number(t))),
            }))
        }
        _ => None,
    }
}

/// `q` AND every condition, as query text.
fn query_with(q: &str, conditions: &[Node]) -> String {
    let mut text = if q.trim().is_empty() || q.trim() == "*" {
        String::new()
    } else {
        format!("({q})")
    };
    for c in conditions {
        if !text.is_empty() {
            text.push_str(" AND ");
        }
        text.push_str(&to_query_string(c));
    }
    if text.is_empty() {
        "*".into()
    } else {
        text
    }
}

/// The `q`-quantile (0 to 1) of `sorted` as Elasticsearch computes it from every value:
/// each value stands at the middle of its rank (`i + 0.5` of `n`), with linear
/// interpolation between neighbours and the smallest and largest values beyond them.
/// `None` for no values.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    let (first, last) = (*sorted.first()?, *sorted.last()?);
    let index = q * n as f64;
    if index <= 0.5 {
        return Some(first);
    }
    if index >= n as f64 - 0.5 {
        return Some(last);
    }
    let pos = index - 0.5;
    let lo = pos.floor() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + frac * (sorted[lo + 1] - sorted[lo]))
}

/// Puts exact values into a shaped `percentiles` answer (`{"values": {"50.0": v}}`, or
/// `[{"key": 50.0, "value": v}]` when not keyed), keeping its percents and shape.
pub fn apply(answer: &mut Value, sorted: &[f64]) {
    let value = |percent: f64| quantile(sorted, percent / 100.0).map_or(Value::Null, Value::from);
    match answer.get_mut("values") {
        Some(Value::Object(keyed)) => {
            for (k, v) in keyed.iter_mut() {
                if let Ok(p) = k.parse::<f64>() {
                    *v = value(p);
                }
            }
        }
        Some(Value::Array(list)) => {
            for item in list {
                if let Some(p) = item.get("key").and_then(Value::as_f64) {
                    item["value"] = value(p);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The numbers of Elasticsearch's REST test `180_percentiles_tdigest_metric.yml`.
    #[test]
    fn matches_elasticsearchs_rest_test() {
        let four = [1.0, 51.0, 101.0, 151.0];
        let want = [
            (1.0, 1.0),
            (5.0, 1.0),
            (25.0, 26.0),
            (50.0, 76.0),
            (75.0, 126.0),
            (95.0, 151.0),
            (99.0, 151.0),
        ];
        for (p, v) in want {
            assert_eq!(quantile(&four, p / 100.0), Some(v), "{p}");
        }
        let three = [51.0, 101.0, 151.0];
        let want = [
            (1.0, 51.0),
            (5.0, 51.0),
            (25.0, 63.5),
            (50.0, 101.0),
            (75.0, 138.5),
            (95.0, 151.0),
            (99.0, 151.0),
        ];
        for (p, v) in want {
            assert_eq!(quantile(&three, p / 100.0), Some(v), "{p}");
        }
        assert_eq!(quantile(&[7.0], 0.5), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn keeps_the_shape_it_is_given() {
        let mut keyed = json!({"values": {"25.0": 26.01, "50.0": 76.3}});
        apply(&mut keyed, &[1.0, 51.0, 101.0, 151.0]);
        assert_eq!(keyed, json!({"values": {"25.0": 26.0, "50.0": 76.0}}));
        let mut list = json!({"values": [{"key": 5.0, "value": 1.01}]});
        apply(&mut list, &[1.0, 51.0, 101.0, 151.0]);
        assert_eq!(list, json!({"values": [{"key": 5.0, "value": 1.0}]}));
    }
}
