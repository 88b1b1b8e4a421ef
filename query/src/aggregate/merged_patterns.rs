//! `terms` on `pattern` with ids the miner merged: their buckets become one, under the
//! surviving id, as `pattern:ID` and the patterns view count them.
//!
//! Buckets are merged after Tantivy's answer, so only where the result stays exact: the
//! counts, `min`, `max`, `sum` and `value_count` under them, and bucket aggregations
//! under them (merged by key, recursively). Buckets holding anything else (averages,
//! percentiles, cardinality, …) are left apart rather than merged approximately. Nothing
//! is done while no id was ever merged, which is nearly always.

use serde_json::{Map, Value};
use skein_indexer::patterns::{any_merged, canonical};
use skein_model::PatternId;

/// Merges the buckets of merged ids in every `terms` on `pattern` of `resp`, the answer
/// to the request's `aggs`.
pub fn merge(aggs: &Value, resp: &mut Value) {
    if any_merged() {
        walk(aggs, resp);
    }
}

/// The sub-aggregations of a request object.
fn subs(spec: &Value) -> Option<&Map<String, Value>> {
    spec.get("aggs")
        .or_else(|| spec.get("aggregations"))
        .and_then(Value::as_object)
}

fn walk(aggs: &Value, resp: &mut Value) {
    let Some(aggs) = aggs.as_object() else {
        return;
    };
    for (name, spec) in aggs {
        let Some(out) = resp.get_mut(name) else {
            continue;
        };
        let on_pattern = spec["terms"]["field"].as_str() == Some("pattern");
        if let Some(buckets) = out.get_mut("buckets").and_then(Value::as_array_mut) {
            if let Some(sub) = subs(spec) {
                for b in buckets.iter_mut() {
                    walk(&Value::Object(sub.clone()), b);
                }
            }
            if on_pattern && mergeable(spec) {
                let merged = merge_buckets(std::mem::take(buckets), spec);
                *buckets = merged;
            }
        }
    }
}

/// Whether buckets of `spec` can be added together exactly.
fn mergeable(spec: &Value) -> bool {
    subs(spec).is_none_or(|subs| {
        subs.values().all(|s| {
            let Some(obj) = s.as_object() else {
                return false;
            };
            obj.keys().all(|k| {
                matches!(
                    k.as_str(),
                    "min" | "max" | "sum" | "value_count" | "meta" | "aggs" | "aggregations"
                ) || (matches!(k.as_str(), "terms" | "date_histogram" | "histogram")
                    && mergeable(s))
            })
        })
    })
}

fn merge_buckets(buckets: Vec<Value>, spec: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(buckets.len());
    for mut b in buckets {
        let key = b["key"]
            .as_str()
            .and_then(|k| k.parse::<PatternId>().ok())
            .map(canonical);
        if let Some(k) = key {
            b["key"] = Value::String(k.to_string());
        }
        match out
            .iter_mut()
            .find(|o| key.is_some() && o["key"] == b["key"])
        {
            Some(have) => add(have, &b, spec),
            None => out.push(b),
        }
    }
    // Most records first again, then by key, as `terms` orders by default.
    out.sort_by(|a, b| {
        b["doc_count"]
            .as_u64()
            .cmp(&a["doc_count"].as_u64())
            .then_with(|| a["key"].as_str().cmp(&b["key"].as_str()))
    });
    out
}

/// Adds bucket `b` into `have`: its count and, by kind, its sub-aggregations.
fn add(have: &mut Value, b: &Value, spec: &Value) {
    let count = have["doc_count"].as_u64().unwrap_or(0) + b["doc_count"].as_u64().unwrap_or(0);
    have["doc_count"] = count.into();
    let Some(subs) = subs(spec) else {
        return;
    };
    for (name, sub) in subs {
        let (Some(x), Some(y)) = (have.get(name).cloned(), b.get(name)) else {
            continue;
        };
        let value = |v: &Value| v["value"].as_f64();
        // The whole answer of the winning side, `value_as_string` included.
        let better = |wins: fn(f64, f64) -> bool| match (value(&x), value(y)) {
            (Some(a), Some(b)) if wins(b, a) => Some(y.clone()),
            (None, Some(_)) => Some(y.clone()),
            _ => None,
        };
        if sub.get("min").is_some() {
            if let Some(y) = better(|b, a| b < a) {
                have[name] = y;
            }
            continue;
        }
        if sub.get("max").is_some() {
            if let Some(y) = better(|b, a| b > a) {
                have[name] = y;
            }
            continue;
        }
        let merged = if sub.get("sum").is_some() || sub.get("value_count").is_some() {
            Some(value(&x).unwrap_or(0.0) + value(y).unwrap_or(0.0))
        } else {
            // A bucket aggregation: its buckets by key.
            let mut into = x.clone();
            if let (Some(mine), Some(theirs)) = (
                into.get_mut("buckets").and_then(Value::as_array_mut),
                y.get("buckets").and_then(Value::as_array),
            ) {
                for t in theirs {
                    match mine.iter_mut().find(|m| m["key"] == t["key"]) {
                        Some(m) => add(m, t, sub),
                        None => mine.push(t.clone()),
                    }
                }
                // Histograms keep their buckets in key order.
                if mine.iter().all(|m| m["key"].is_number()) {
                    mine.sort_by(|a, b| {
                        let key = |v: &Value| v["key"].as_f64().unwrap_or(0.0);
                        key(a).total_cmp(&key(b))
                    });
                }
            }
            have[name] = into;
            continue;
        };
        if let Some(v) = merged {
            have[name]["value"] = v.into();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use skein_indexer::patterns::Patterns;
    use skein_model::{Record, Timestamp};

    /// Two ids the miner merged answer one bucket: counts, min, max and the histogram
    /// under it added; a `terms` with an average under it is left apart.
    #[test]
    fn buckets_of_merged_ids_become_one() {
        let tmp = tempfile::tempdir().unwrap();
        let catalog = skein_indexer::Catalog::open(&tmp.path().join("partitions")).unwrap();
        let config = skein_patterns::Config {
            max_children: 1,
            similarity: 0.5,
            merge_skeletons: false,
            settled_after: 0,
            ..skein_patterns::Config::default()
        };
        let p = Patterns::with_config(tmp.path(), &catalog, config);
        let mut records: Vec<Record> = ["x p c d", "x q c e", "x r c e", "x s c d"]
            .iter()
            .map(|m| {
                let mut r = Record::new(Timestamp(1), *m);
                r.container = "terms-merge".into();
                r
            })
            .collect();
        p.assign(&mut records);
        let (a, b) = (records[0].pattern.unwrap(), records[1].pattern.unwrap());
        assert_ne!(a, b);
        let survivor = a.min(b).to_string();
        let bucket = |id: PatternId, n: u64, lo: f64, hi: f64, t: &[(i64, u64)]| {
            json!({"key": id.to_string(), "doc_count": n,
                   "first": {"value": lo, "value_as_string": lo.to_string()},
                   "last": {"value": hi},
                   "t": {"buckets": t.iter().map(|(k, c)| json!({"key": k, "doc_count": c}))
                         .collect::<Vec<_>>()}})
        };
        let req = json!({"p": {"terms": {"field": "pattern"}, "aggs": {
            "first": {"min": {"field": "@timestamp"}},
            "last": {"max": {"field": "@timestamp"}},
            "t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}}}}});
        let mut resp = json!({"p": {"buckets": [
            bucket(a, 3, 10.0, 50.0, &[(0, 1), (60, 2)]),
            bucket(b, 2, 5.0, 40.0, &[(60, 1), (120, 1)]),
        ]}});
        merge(&req, &mut resp);
        let buckets = resp["p"]["buckets"].as_array().unwrap();
        assert_eq!(buckets.len(), 1, "{resp}");
        let one = &buckets[0];
        assert_eq!(one["key"], survivor);
        assert_eq!(one["doc_count"], 5);
        assert_eq!(one["first"], json!({"value": 5.0, "value_as_string": "5"}));
        assert_eq!(one["last"]["value"], 50.0);
        let t: Vec<(i64, u64)> = one["t"]["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["key"].as_i64().unwrap(), b["doc_count"].as_u64().unwrap()))
            .collect();
        assert_eq!(t, vec![(0, 1), (60, 3), (120, 1)]);

        // An average cannot be added: the buckets stay apart.
        let req = json!({"p": {"terms": {"field": "pattern"},
                               "aggs": {"m": {"avg": {"field": "fields.ms"}}}}});
        let mut resp = json!({"p": {"buckets": [
            {"key": a.to_string(), "doc_count": 1, "m": {"value": 1.0}},
            {"key": b.to_string(), "doc_count": 1, "m": {"value": 3.0}},
        ]}});
        merge(&req, &mut resp);
        assert_eq!(resp["p"]["buckets"].as_array().unwrap().len(), 2);
    }
}
