//! The merged result in Elasticsearch's shape: date histogram keys as integer epoch
//! milliseconds, metrics of `@timestamp` in milliseconds with their text form, and the
//! interval an automatic histogram chose.

use super::request::Prepared;
use serde_json::Value;
use skein_indexer::schema::names;
use skein_model::Timestamp;

/// Walks the request and the result together and adjusts the result in place.
pub fn shape(prepared: &Prepared, result: &mut Value) {
    walk(&prepared.aggs, result, &mut Vec::new(), prepared);
}

fn walk(request: &Value, result: &mut Value, path: &mut Vec<String>, prepared: &Prepared) {
    let (Some(request), Some(result)) = (request.as_object(), result.as_object_mut()) else {
        return;
    };
    for (name, agg) in request {
        let Some(out) = result.get_mut(name) else {
            continue;
        };
        path.push(name.clone());
        if on_timestamp(agg) {
            date_metric(out);
        }
        let is_date = agg.get("date_histogram").is_some();
        if is_date {
            if let Some(chosen) = prepared.chosen.iter().find(|c| c.path == *path) {
                out["interval"] = Value::String(chosen.interval.clone());
            }
        }
        let subs = agg.get("aggs");
        for bucket in buckets(out) {
            if is_date {
                integer_key(bucket);
            }
            if let Some(subs) = subs {
                walk(subs, bucket, path, prepared);
            }
        }
        path.pop();
    }
}

/// Whether `agg` is a metric over `@timestamp`.
fn on_timestamp(agg: &Value) -> bool {
    ["min", "max", "avg", "stats"]
        .iter()
        .any(|k| agg[k]["field"].as_str() == Some(names::TIMESTAMP))
}

/// Tantivy gives metrics of a date column in nanoseconds; Elasticsearch answers epoch
/// milliseconds and adds the time as text (`value_as_string`, `min_as_string`, …).
fn date_metric(out: &mut Value) {
    let Some(obj) = out.as_object_mut() else {
        return;
    };
    for key in ["value", "min", "max", "avg"] {
        let Some(ns) = obj.get(key).and_then(Value::as_f64) else {
            continue;
        };
        obj.insert(key.into(), Value::from(ns / 1_000_000.0));
        let text = Timestamp(ns.round() as i64).to_string();
        let name = if key == "value" {
            "value_as_string".to_string()
        } else {
            format!("{key}_as_string")
        };
        obj.insert(name, Value::String(text));
    }
}

/// The buckets of a bucket aggregation's result, listed or keyed.
fn buckets(out: &mut Value) -> Vec<&mut Value> {
    match out.get_mut("buckets") {
        Some(Value::Array(list)) => list.iter_mut().collect(),
        Some(Value::Object(keyed)) => keyed.values_mut().collect(),
        _ => Vec::new(),
    }
}

fn integer_key(bucket: &mut Value) {
    if let Some(key) = bucket.get_mut("key") {
        if let Some(f) = key.as_f64() {
            if f.fract() == 0.0 && f.abs() < 9.0e15 {
                *key = Value::from(f as i64);
            }
        }
    }
}
