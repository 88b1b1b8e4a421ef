//! Exact percentiles while the values are few.
//!
//! Tantivy's `percentiles` is a DDSketch: within 1% of the true value, but never exact
//! (1.01 where the values hold 1.0). Elasticsearch keeps every value of a small input
//! and interpolates between them, and its clients and tests expect those numbers. So
//! for a top-level `percentiles`, the field's values are read first, in ascending order,
//! through the shards' field-sorted search, at most [`EXACT_PERCENTILE_VALUES`] of them
//! (memory bounded by that number); when every value fits, the answer is computed from
//! them as Elasticsearch does, else the sketch's answer stands.

use super::AggregateError;
use crate::search::Order;
use crate::shard::{Shard, ShardAggRequest};
use crate::sort_by_field::{FieldRequest, SortField, SortValue};
use serde_json::Value;

/// Most values a percentiles aggregation keeps to answer exactly; past it, the sketch.
pub const EXACT_PERCENTILE_VALUES: usize = 4_096;

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
        let keys = [SortField {
            field: self.field.clone(),
            order: Order::Asc,
        }];
        let limit = EXACT_PERCENTILE_VALUES + 1;
        let mut values = Vec::new();
        for shard in shards {
            let r = shard.search_by_field(&FieldRequest {
                q: base.q,
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
