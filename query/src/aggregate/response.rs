//! The merged result in Elasticsearch's shape: date histogram keys as integer epoch
//! milliseconds, metrics of `@timestamp` in milliseconds with their text form, and the
//! interval an automatic histogram chose, and the forecasts asked for.

use super::forecast::{self, Band};
use super::request::{ForecastRequest, Prepared, FILLER_KEY};
use serde_json::{json, Value};
use skein_indexer::schema::names;
use skein_model::Timestamp;
use std::collections::BTreeMap;

/// The request's time frame, to tell complete buckets from partial ones.
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    /// The request's lower bound.
    pub start: Option<Timestamp>,
    /// The request's `now`.
    pub now: Timestamp,
}

/// Walks the request and the result together and adjusts the result in place.
pub fn shape(prepared: &Prepared, result: &mut Value, frame: Frame) {
    walk(&prepared.aggs, result, &mut Vec::new(), prepared, frame);
}

fn walk(
    request: &Value,
    result: &mut Value,
    path: &mut Vec<String>,
    prepared: &Prepared,
    frame: Frame,
) {
    let (Some(request), Some(result)) = (request.as_object(), result.as_object_mut()) else {
        return;
    };
    for (name, agg) in request {
        let Some(out) = result.get_mut(name) else {
            continue;
        };
        path.push(name.clone());
        if let Some((_, meta)) = prepared.metas.iter().find(|(p, _)| p == path) {
            out["meta"] = meta.clone();
        }
        if on_timestamp(agg) {
            date_metric(out);
        }
        let is_date = agg.get("date_histogram").is_some();
        if is_date {
            if let Some(chosen) = prepared.chosen.iter().find(|c| c.path == *path) {
                out["interval"] = Value::String(chosen.interval.clone());
            }
        }
        if agg.get("range").is_some() {
            drop_fillers(out);
        }
        let subs = agg.get("aggs");
        for bucket in buckets(out) {
            if is_date {
                integer_key(bucket);
            }
            if let Some(subs) = subs {
                walk(subs, bucket, path, prepared, frame);
            }
        }
        if let Some(f) = prepared.forecasts.iter().find(|f| f.path == *path) {
            let answer = forecast_of(out, f, frame);
            out["forecast"] = answer;
        }
        path.pop();
    }
}

/// The forecast of one merged histogram: its complete buckets as the history (a
/// bucket cut by the request's start or still filling up at `now` would read as a drop),
/// missing buckets counted as 0.
fn forecast_of(histogram: &Value, req: &ForecastRequest, frame: Frame) -> Value {
    let step = req.interval_ms;
    let now_ms = frame.now.0.div_euclid(1_000_000);
    let start_ms = frame.start.map(|s| s.0.div_euclid(1_000_000));
    let counts: BTreeMap<i64, u64> = match histogram.get("buckets") {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|b| Some((b["key"].as_i64()?, b["doc_count"].as_u64()?)))
            .filter(|(k, _)| k + step <= now_ms && start_ms.is_none_or(|s| *k >= s))
            .collect(),
        _ => BTreeMap::new(),
    };
    let (Some(first), Some(last)) = (counts.keys().next().copied(), counts.keys().last().copied())
    else {
        return no_forecast("no complete bucket to learn from");
    };
    let keys: Vec<i64> = (0..=(last - first) / step)
        .map(|i| first + i * step)
        .collect();
    let history: Vec<f64> = keys
        .iter()
        .map(|k| counts.get(k).copied().unwrap_or(0) as f64)
        .collect();
    let Some(f) = forecast::forecast(&history, step, &req.spec) else {
        return no_forecast("needs at least 4 complete buckets");
    };
    let at = |key: i64| json!({"key": key, "key_as_string": key_as_string(key)});
    let with = |mut v: Value, b: &Band| {
        v["value"] = json!(b.value);
        v["lower"] = json!(b.lower);
        v["upper"] = json!(b.upper);
        v
    };
    let ahead: Vec<Value> = f
        .ahead
        .iter()
        .enumerate()
        .map(|(h, b)| with(at(last + (h as i64 + 1) * step), b))
        .collect();
    let mut fitted = Vec::new();
    let mut anomalies = Vec::new();
    for ((key, y), band) in keys.iter().zip(&history).zip(&f.fitted) {
        let Some(band) = band else { continue };
        fitted.push(with(at(*key), band));
        if *y < band.lower || *y > band.upper {
            let mut a = at(*key);
            a["doc_count"] = json!(*y as u64);
            a["expected"] = json!(band.value);
            a["lower"] = json!(band.lower);
            a["upper"] = json!(band.upper);
            anomalies.push(a);
        }
    }
    json!({
        "model": f.model,
        "season_buckets": f.season_buckets,
        "confidence": req.spec.confidence,
        "sigma": f.sigma,
        "buckets": ahead,
        "fitted": fitted,
        "anomalies": anomalies,
    })
}

fn no_forecast(reason: &str) -> Value {
    json!({"model": "none", "reason": reason, "buckets": [], "fitted": [], "anomalies": []})
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

/// Removes the buckets of the ranges added to cover every value
/// ([`super::request::FILLER_KEY`]).
fn drop_fillers(out: &mut Value) {
    match out.get_mut("buckets") {
        Some(Value::Array(list)) => list.retain(|b| b["key"] != FILLER_KEY),
        Some(Value::Object(keyed)) => {
            keyed.shift_remove(FILLER_KEY);
        }
        _ => {}
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

/// Epoch milliseconds as Tantivy writes `key_as_string`: RFC 3339, fraction only when
/// there is one.
fn key_as_string(epoch_ms: i64) -> String {
    Timestamp(epoch_ms.saturating_mul(1_000_000))
        .to_datetime()
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}
