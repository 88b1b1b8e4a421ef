//! From the Elasticsearch-style aggregation JSON a user sends to the request Tantivy runs.
//!
//! Tantivy's aggregation request is close to Elasticsearch's; what differs is rewritten
//! here, before anything runs, so that every shard gets the same request:
//! - field names resolve as in the query language (`user_id` = `fields.user_id`);
//! - `date_histogram` takes `fixed_interval`, `calendar_interval` for units of fixed
//!   length (minute … week), an automatic interval (`"fixed_interval": "auto"` with
//!   `buckets`, or `auto_date_histogram`), fixed-offset `time_zone`s, and bounds as
//!   dates as well as epoch milliseconds;
//! - `terms` keeps every term in the per-shard results unless `shard_size` is given, so
//!   merging shards gives exact counts rather than Elasticsearch's estimates.

use super::forecast::{self, Season};
use super::interval::{self, Interval};
use super::AggregateError;
use serde_json::{Map, Value};
use skein_indexer::schema::names;
use skein_model::Timestamp;

/// Aggregation types that run as sent (after field resolution).
const PASS_THROUGH: &[&str] = &[
    "terms",
    "histogram",
    "range",
    "avg",
    "min",
    "max",
    "sum",
    "stats",
    "extended_stats",
    "value_count",
    "percentiles",
    "cardinality",
];

/// Aggregation types that compute on numbers (or times), which keyword fields do not
/// hold.
const NUMERIC_ONLY: &[&str] = &[
    "avg",
    "min",
    "max",
    "sum",
    "stats",
    "extended_stats",
    "percentiles",
    "histogram",
    "range",
];

/// Whether a resolved field is text kept as one keyword (never a number).
fn is_keyword(resolved: &str) -> bool {
    names::KEYWORDS.contains(&resolved)
        || resolved == names::SOURCE_ID
        || resolved.starts_with("labels.")
}

/// Every aggregation type accepted, for error messages.
const SUPPORTED: &str = "date_histogram, auto_date_histogram, terms, histogram, range, avg, \
                         min, max, sum, stats, extended_stats, value_count, percentiles, \
                         cardinality";

/// The options each aggregation type takes (after the rewrites above); anything else
/// is refused rather than silently ignored.
fn options(kind: &str) -> &'static [&'static str] {
    match kind {
        "terms" => &[
            "field",
            "size",
            "segment_size",
            "show_term_doc_count_error",
            "min_doc_count",
            "order",
            "missing",
            "include",
            "exclude",
        ],
        "date_histogram" => &[
            "field",
            "fixed_interval",
            "offset",
            "min_doc_count",
            "hard_bounds",
            "extended_bounds",
            "keyed",
        ],
        "histogram" => &[
            "field",
            "interval",
            "offset",
            "min_doc_count",
            "hard_bounds",
            "extended_bounds",
            "keyed",
        ],
        "range" => &["field", "ranges", "keyed"],
        "extended_stats" => &["field", "missing", "sigma"],
        "percentiles" => &["field", "percents", "keyed", "missing"],
        _ => &["field", "missing"],
    }
}

/// A per-shard term limit high enough to keep every term: exact merges.
pub const ALL_TERMS: u64 = u32::MAX as u64;

/// An automatic interval that was chosen, to report in the answer as Elasticsearch's
/// `auto_date_histogram` does.
#[derive(Debug, Clone, PartialEq)]
pub struct ChosenInterval {
    /// Names of the aggregations from the top down to the histogram.
    pub path: Vec<String>,
    /// The interval, e.g. `5m`.
    pub interval: String,
}

/// A forecast asked of a date histogram.
#[derive(Debug, Clone, PartialEq)]
pub struct ForecastRequest {
    /// Names of the aggregations from the top down to the histogram.
    pub path: Vec<String>,
    /// What to forecast.
    pub spec: forecast::Spec,
    /// The histogram's interval.
    pub interval_ms: i64,
}

/// The request ready for Tantivy.
#[derive(Debug)]
pub struct Prepared {
    /// The rewritten aggregations object.
    pub aggs: Value,
    /// Automatic intervals chosen, by aggregation path.
    pub chosen: Vec<ChosenInterval>,
    /// Forecasts to compute on the merged histograms.
    pub forecasts: Vec<ForecastRequest>,
    /// The `meta` objects given, by aggregation path, echoed back as Elasticsearch
    /// does.
    pub metas: Vec<(Vec<String>, Value)>,
}

/// Whether some date histogram needs the time range to pick its interval.
pub fn needs_range(aggs: &Value) -> bool {
    let Some(obj) = aggs.as_object() else {
        return false;
    };
    obj.values().any(|agg| {
        let Some(agg) = agg.as_object() else {
            return false;
        };
        let auto = agg.contains_key("auto_date_histogram")
            || agg
                .get("date_histogram")
                .and_then(|h| h.as_object())
                .is_some_and(|h| {
                    h.get("fixed_interval").and_then(Value::as_str) == Some("auto")
                        || (!h.contains_key("fixed_interval")
                            && !h.contains_key("calendar_interval")
                            && !h.contains_key("interval"))
                });
        auto || sub_aggs(agg).is_some_and(needs_range)
    })
}

/// Whether some aggregation of the tree is a date histogram, whose buckets depend on
/// the time range.
pub fn has_date_histogram(aggs: &Value) -> bool {
    let Some(obj) = aggs.as_object() else {
        return false;
    };
    obj.values().any(|agg| {
        let Some(agg) = agg.as_object() else {
            return false;
        };
        agg.contains_key("date_histogram")
            || agg.contains_key("auto_date_histogram")
            || sub_aggs(agg).is_some_and(has_date_histogram)
    })
}

fn sub_aggs(agg: &Map<String, Value>) -> Option<&Value> {
    agg.get("aggs").or_else(|| agg.get("aggregations"))
}

/// Rewrites `aggs`. `range` is the `[first, last]` time the histograms cover: the
/// request's bounds, or the data's when the request has none; `None` when nothing
/// matches.
pub fn prepare(
    aggs: &Value,
    range: Option<(Timestamp, Timestamp)>,
) -> Result<Prepared, AggregateError> {
    let mut out = Prepared {
        aggs: Value::Null,
        chosen: Vec::new(),
        forecasts: Vec::new(),
        metas: Vec::new(),
    };
    out.aggs = rewrite_level(aggs, &mut Vec::new(), range, &mut out)?;
    Ok(out)
}

fn bad(path: &[String], reason: impl Into<String>) -> AggregateError {
    AggregateError::Request {
        path: path.join(" > "),
        reason: reason.into(),
    }
}

fn rewrite_level(
    aggs: &Value,
    path: &mut Vec<String>,
    range: Option<(Timestamp, Timestamp)>,
    prep: &mut Prepared,
) -> Result<Value, AggregateError> {
    let obj = aggs.as_object().ok_or_else(|| {
        bad(
            path,
            "`aggs` must be an object of named aggregations, as in \
             {\"per_level\":{\"terms\":{\"field\":\"level\"}}}",
        )
    })?;
    let mut out = Map::new();
    for (name, agg) in obj {
        path.push(name.clone());
        out.insert(name.clone(), rewrite_agg(agg, path, range, prep)?);
        path.pop();
    }
    Ok(Value::Object(out))
}

fn rewrite_agg(
    agg: &Value,
    path: &mut Vec<String>,
    range: Option<(Timestamp, Timestamp)>,
    prep: &mut Prepared,
) -> Result<Value, AggregateError> {
    let obj = agg.as_object().ok_or_else(|| {
        bad(
            path,
            "an aggregation must be an object such as {\"terms\":{\"field\":\"level\"}}",
        )
    })?;
    let mut out = Map::new();
    let mut kind: Option<&str> = None;
    for (key, body) in obj {
        match key.as_str() {
            "aggs" | "aggregations" => {
                out.insert("aggs".into(), rewrite_level(body, path, range, prep)?);
            }
            // Elasticsearch echoes `meta` back; it has no effect on the result.
            "meta" => {
                if !body.is_object() {
                    return Err(bad(path, "`meta` must be an object"));
                }
                prep.metas.push((path.clone(), body.clone()));
            }
            k => {
                if let Some(first) = kind {
                    return Err(bad(
                        path,
                        format!(
                            "has two aggregation types, `{first}` and `{k}`; put the second \
                             in `aggs` or under another name"
                        ),
                    ));
                }
                kind = Some(k);
                let body = body
                    .as_object()
                    .ok_or_else(|| bad(path, format!("the body of `{k}` must be an object")))?;
                let (k, body) = rewrite_body(k, body, path, range, prep)?;
                out.insert(k.to_string(), Value::Object(body));
            }
        }
    }
    if kind.is_none() {
        return Err(bad(
            path,
            format!("names no aggregation type; use one of {SUPPORTED}"),
        ));
    }
    Ok(Value::Object(out))
}

fn rewrite_body(
    kind: &str,
    body: &Map<String, Value>,
    path: &[String],
    range: Option<(Timestamp, Timestamp)>,
    prep: &mut Prepared,
) -> Result<(&'static str, Map<String, Value>), AggregateError> {
    let (kind, body) = rewrite_options(kind, body, path, range, prep)?;
    let allowed = options(kind);
    if let Some(unknown) = body.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(
            path,
            format!(
                "`{kind}` has no option `{unknown}`; it takes {}",
                allowed.join(", ")
            ),
        ));
    }
    Ok((kind, body))
}

fn rewrite_options(
    kind: &str,
    body: &Map<String, Value>,
    path: &[String],
    range: Option<(Timestamp, Timestamp)>,
    prep: &mut Prepared,
) -> Result<(&'static str, Map<String, Value>), AggregateError> {
    let mut body = body.clone();
    if let Some(field) = body.get("field") {
        let name = field
            .as_str()
            .ok_or_else(|| bad(path, "`field` must be a string"))?;
        let resolved = resolve_field(name).map_err(|reason| bad(path, reason))?;
        if NUMERIC_ONLY.contains(&kind) && is_keyword(&resolved) {
            return Err(bad(
                path,
                format!(
                    "Field [{name}] of type [keyword] is not supported for aggregation \
                     [{kind}]; it counts values (terms, cardinality, value_count), or use \
                     a numeric `fields.` path"
                ),
            ));
        }
        body.insert("field".into(), Value::String(resolved));
    }
    match kind {
        "date_histogram" | "auto_date_histogram" => {
            date_histogram(kind, &mut body, path, range, prep)?;
            Ok(("date_histogram", body))
        }
        "terms" => {
            // `shard_size` is Elasticsearch's name; Tantivy calls it `segment_size`.
            if let Some(v) = body.remove("shard_size") {
                body.insert("segment_size".into(), v);
            }
            if !body.contains_key("segment_size") {
                body.insert("segment_size".into(), Value::from(ALL_TERMS));
            }
            Ok(("terms", body))
        }
        "range" => {
            cover_ranges(&mut body, path)?;
            Ok(("range", body))
        }
        "percentiles" => {
            // Elasticsearch's digest settings: exact values while they are few, then
            // skein's one sketch (`super::exact_percentiles`); checked, not applied.
            if let Some(t) = body.remove("tdigest") {
                match t.get("compression").map(Value::as_f64) {
                    None => {}
                    Some(Some(c)) if c >= 0.0 => {}
                    Some(c) => {
                        return Err(bad(
                            path,
                            format!(
                                "[compression] must be greater than or equal to 0. Found \
                                 [{}]; give a number such as 100",
                                c.map_or("not a number".to_string(), |c| format!("{c:?}"))
                            ),
                        ))
                    }
                }
            }
            Ok(("percentiles", body))
        }
        "cardinality" => {
            // A precision hint for Elasticsearch's sketch; ours has one fixed precision.
            body.remove("precision_threshold");
            Ok(("cardinality", body))
        }
        k => match PASS_THROUGH.iter().find(|p| **p == k) {
            Some(p) => Ok((p, body)),
            None => Err(bad(
                path,
                format!("unsupported aggregation type `{k}`; supported: {SUPPORTED}"),
            )),
        },
    }
}

/// The key of the ranges [`cover_ranges`] adds; [`super::response`] drops their buckets.
pub const FILLER_KEY: &str = "\u{1}skein-filler";

/// Makes a `range` aggregation's ranges cover every value, in order.
///
/// Tantivy buckets values by binary search over ranges that must tile the whole line,
/// so it adds the missing pieces itself: one range before, one after, and one per gap.
/// It finds each gap by scanning from the first range again and inserts it into the
/// middle of a vector, in every segment: quadratic in the ranges (100,000 ranges with
/// gaps took minutes). Sorted and filled here, once, its scan finds no gap. The pieces
/// added here carry [`FILLER_KEY`], so that the answer lists only the ranges asked for,
/// as Elasticsearch's does.
fn cover_ranges(body: &mut Map<String, Value>, path: &[String]) -> Result<(), AggregateError> {
    let Some(Value::Array(ranges)) = body.get_mut("ranges") else {
        return Err(bad(
            path,
            "`range` needs `ranges`, a list such as [{\"to\":100},{\"from\":100,\"to\":500}]",
        ));
    };
    if ranges.is_empty() {
        return Err(bad(path, "`ranges` is empty; give at least one range"));
    }
    let bound = |r: &Value, side: &str| -> Result<Option<f64>, AggregateError> {
        match r.get(side) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| bad(path, format!("`ranges`: `{side}` is {v}; give a number"))),
        }
    };
    let mut sorted = Vec::with_capacity(ranges.len());
    for r in ranges.drain(..) {
        let from = bound(&r, "from")?;
        let to = bound(&r, "to")?;
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(bad(path, format!("`ranges`: {r} has `from` above `to`")));
            }
        }
        sorted.push((
            from.unwrap_or(f64::NEG_INFINITY),
            to.unwrap_or(f64::INFINITY),
            r,
        ));
    }
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let filler = |from: f64, to: f64| {
        let mut r = Map::new();
        if from.is_finite() {
            r.insert("from".into(), Value::from(from));
        }
        if to.is_finite() {
            r.insert("to".into(), Value::from(to));
        }
        r.insert("key".into(), Value::String(FILLER_KEY.into()));
        Value::Object(r)
    };
    let mut out = Vec::with_capacity(sorted.len() + 2);
    let mut reached = f64::NEG_INFINITY;
    for (from, to, r) in sorted {
        if from < reached {
            return Err(bad(
                path,
                format!(
                    "`ranges` overlap at {from}: skein counts each value in one range only; \
                     make them disjoint, or put overlapping ones in separate `range` \
                     aggregations"
                ),
            ));
        }
        if from > reached {
            out.push(filler(reached, from));
        }
        out.push(r);
        reached = to;
    }
    if reached < f64::INFINITY {
        out.push(filler(reached, f64::INFINITY));
    }
    *ranges = out;
    Ok(())
}

/// Resolves a field name as the query language does, and refuses those no aggregation
/// can read.
pub fn resolve_field(name: &str) -> Result<String, String> {
    if name == "message" || name == names::SOURCE {
        return Err(format!(
            "`{name}` is full text and has no values to aggregate; aggregate on a keyword \
             field (host, container, level, …) or a `fields.` path"
        ));
    }
    if name == "fields" || name == "labels" {
        return Err(format!(
            "expected a path after `{name}.`, as in `{name}.name`"
        ));
    }
    let known = name == names::TIMESTAMP
        || name == names::SOURCE_ID
        || name == names::SEQ
        || names::KEYWORDS.contains(&name)
        || name.starts_with("fields.")
        || name.starts_with("labels.");
    Ok(if known {
        name.to_string()
    } else {
        format!("fields.{name}")
    })
}

fn date_histogram(
    kind: &str,
    body: &mut Map<String, Value>,
    path: &[String],
    range: Option<(Timestamp, Timestamp)>,
    prep: &mut Prepared,
) -> Result<(), AggregateError> {
    let err = |r: String| bad(path, r);
    if !body.contains_key("field") {
        body.insert("field".into(), Value::String(names::TIMESTAMP.into()));
    }
    if body.get("field").and_then(Value::as_str) != Some(names::TIMESTAMP) {
        return Err(err(format!(
            "{kind} works on `@timestamp` only; use `histogram` for numbers"
        )));
    }
    // The answer carries RFC 3339 keys whatever the format; accept the formats that
    // already mean that, refuse the rest rather than ignore them.
    if let Some(f) = body.remove("format") {
        match f.as_str() {
            Some(
                "strict_date_optional_time"
                | "date_optional_time"
                | "strict_date_time"
                | "date_time"
                | "epoch_millis",
            ) => {}
            _ => {
                return Err(err(format!(
                    "`format` {f} is not supported; keys come as epoch milliseconds (`key`) \
                     and RFC 3339 (`key_as_string`)"
                )))
            }
        }
    }
    let auto_buckets = if kind == "auto_date_histogram" {
        Some(body.remove("buckets").unwrap_or(Value::from(10)))
    } else {
        None
    };
    let legacy = body.remove("interval");
    let calendar = body.remove("calendar_interval");
    let fixed = body.remove("fixed_interval");
    let buckets = body.remove("buckets");
    let spec = match (fixed, calendar, legacy) {
        (Some(f), None, None) => f,
        (None, Some(c), None) => c,
        (None, None, Some(l)) => l,
        (None, None, None) => Value::String("auto".into()),
        _ => {
            return Err(err(
                "give one of `fixed_interval`, `calendar_interval`, `interval`".into(),
            ))
        }
    };
    let spec = spec
        .as_str()
        .ok_or_else(|| err("the interval must be a string such as \"1m\"".into()))?;
    let interval = if auto_buckets.is_some() || spec == "auto" {
        let target = auto_buckets.or(buckets).unwrap_or(Value::from(50));
        let target = target
            .as_u64()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| err(format!("`buckets` is {target}; give 1 to 10000")))?;
        let iv = interval::auto(range, target);
        prep.chosen.push(ChosenInterval {
            path: path.to_vec(),
            interval: iv.to_string(),
        });
        // Buckets span the whole requested range, empty ones included, so a chart of
        // them has no holes at its ends.
        if let Some((first, last)) = range {
            if !body.contains_key("extended_bounds") && !body.contains_key("hard_bounds") {
                body.insert(
                    "extended_bounds".into(),
                    serde_json::json!({"min": first.0 / 1_000_000, "max": last.0 / 1_000_000}),
                );
            }
        }
        iv
    } else {
        if buckets.is_some() {
            return Err(err(
                "`buckets` goes with an automatic interval (`\"fixed_interval\":\"auto\"`)".into(),
            ));
        }
        Interval::parse(spec).map_err(err)?
    };
    let mut offset_ms = match body.remove("offset") {
        None => 0,
        Some(o) => interval::parse_offset(
            o.as_str()
                .ok_or_else(|| err("`offset` must be a string such as \"+1h\"".into()))?,
        )
        .map_err(err)?,
    };
    offset_ms += interval.offset_ms();
    if let Some(tz) = body.remove("time_zone") {
        let tz = tz
            .as_str()
            .ok_or_else(|| err("`time_zone` must be a string such as \"+01:00\"".into()))?;
        // Buckets start at local midnight (or hour) of the zone: shift them back by the
        // zone's offset.
        offset_ms -= interval::parse_time_zone(tz).map_err(err)?;
    }
    if let Some(f) = body.remove("forecast") {
        prep.forecasts.push(ForecastRequest {
            path: path.to_vec(),
            spec: forecast_spec(&f, interval.millis()).map_err(err)?,
            interval_ms: interval.millis(),
        });
    }
    body.insert("fixed_interval".into(), Value::String(interval.fixed()));
    if offset_ms != 0 {
        let step = interval.millis();
        body.insert(
            "offset".into(),
            Value::String(format!("+{}ms", offset_ms.rem_euclid(step))),
        );
    }
    for key in ["extended_bounds", "hard_bounds"] {
        if let Some(b) = body.get_mut(key) {
            bounds_to_millis(b, key, path)?;
        }
    }
    Ok(())
}

/// Reads `{"periods": N, "season": "1d"|"auto"|"none", "confidence": 0.95}`; `true`
/// means all defaults.
fn forecast_spec(v: &Value, interval_ms: i64) -> Result<forecast::Spec, String> {
    let mut spec = forecast::Spec {
        periods: None,
        season: Season::Auto,
        confidence: 0.95,
    };
    let obj =
        match v {
            Value::Bool(true) => return Ok(spec),
            Value::Object(o) => o,
            _ => return Err(
                "`forecast` must be true or an object such as {\"periods\":24,\"season\":\"1d\"}"
                    .into(),
            ),
        };
    for (k, v) in obj {
        match k.as_str() {
            "periods" => {
                let n = v
                    .as_u64()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or_else(|| format!("`forecast.periods` is {v}; give 1 to 10000"))?;
                spec.periods = Some(n as usize);
            }
            "season" => {
                spec.season = match v {
                    Value::Null => Season::None,
                    Value::String(s) if s == "none" => Season::None,
                    Value::String(s) if s == "auto" => Season::Auto,
                    Value::String(s) => {
                        let ms = Interval::parse(s)?.millis();
                        if ms % interval_ms != 0 || ms / interval_ms < 2 {
                            return Err(format!(
                                "`forecast.season` {s} must be at least two whole intervals"
                            ));
                        }
                        Season::Buckets((ms / interval_ms) as usize)
                    }
                    other => {
                        return Err(format!(
                            "`forecast.season` is {other}; give \"auto\", \"none\" or a length such as \"1d\""
                        ))
                    }
                };
            }
            "confidence" => {
                spec.confidence = v
                    .as_f64()
                    .filter(|c| (0.5..1.0).contains(c))
                    .ok_or_else(|| format!("`forecast.confidence` is {v}; give 0.5 to 0.9999"))?;
            }
            other => {
                return Err(format!(
                    "unknown `forecast` option `{other}`; use periods, season, confidence"
                ))
            }
        }
    }
    Ok(spec)
}

/// Bounds may be dates (`"now-1h"`, RFC 3339) as well as epoch milliseconds.
fn bounds_to_millis(bounds: &mut Value, key: &str, path: &[String]) -> Result<(), AggregateError> {
    let obj = bounds.as_object_mut().ok_or_else(|| {
        bad(
            path,
            format!("`{key}` must be an object with `min` and `max`"),
        )
    })?;
    for side in ["min", "max"] {
        let Some(v) = obj.get_mut(side) else {
            return Err(bad(path, format!("`{key}` needs both `min` and `max`")));
        };
        if let Some(s) = v.as_str() {
            let ms = match s.parse::<i64>() {
                Ok(ms) => ms,
                Err(_) => Timestamp::parse_expr(s, Timestamp::now())
                    .map_err(|e| bad(path, format!("`{key}.{side}`: {e}")))?
                    .0
                    .div_euclid(1_000_000),
            };
            *v = Value::from(ms);
        } else if !v.is_number() {
            return Err(bad(
                path,
                format!("`{key}.{side}` must be a date or epoch milliseconds"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prep(aggs: Value) -> Value {
        prepare(&aggs, None).unwrap().aggs
    }

    #[test]
    fn bare_names_mean_payload_fields() {
        let out = prep(json!({"p": {"terms": {"field": "path"}, "aggs": {
            "l": {"avg": {"field": "latency_ms"}},
            "c": {"cardinality": {"field": "labels.app", "precision_threshold": 100}},
        }}}));
        assert_eq!(out["p"]["terms"]["field"], "fields.path");
        assert_eq!(out["p"]["aggs"]["l"]["avg"]["field"], "fields.latency_ms");
        assert_eq!(
            out["p"]["aggs"]["c"]["cardinality"],
            json!({"field": "labels.app"})
        );
        assert_eq!(out["p"]["terms"]["segment_size"], ALL_TERMS);
        let out = prep(json!({"l": {"terms": {"field": "level", "shard_size": 20}}}));
        assert_eq!(
            out["l"]["terms"],
            json!({"field": "level", "segment_size": 20})
        );
    }

    #[test]
    fn calendar_intervals_and_zones_become_fixed() {
        let out = prep(json!({"h": {"date_histogram": {
            "field": "@timestamp", "calendar_interval": "day", "time_zone": "+02:00",
            "extended_bounds": {"min": "2026-11-20T00:00:00Z", "max": 1_700_000_000_000_i64},
        }}}));
        let h = &out["h"]["date_histogram"];
        assert_eq!(h["fixed_interval"], "86400000ms");
        assert_eq!(h["offset"], format!("+{}ms", 22 * 3_600_000));
        assert_eq!(h["extended_bounds"]["min"], 1_795_132_800_000_i64);
        let out = prep(json!({"w": {"date_histogram": {"calendar_interval": "1w"}}}));
        let w = &out["w"]["date_histogram"];
        assert_eq!(w["field"], "@timestamp");
        // 1970-01-05 was a Monday: weeks start on Mondays as in Elasticsearch.
        assert_eq!(w["offset"], format!("+{}ms", 4 * 86_400_000));
    }

    #[test]
    fn automatic_interval_fits_the_range() {
        let start = Timestamp(0);
        let end = Timestamp(6 * 3_600_000_000_000);
        let p = prepare(
            &json!({"h": {"auto_date_histogram": {"field": "@timestamp", "buckets": 30}}}),
            Some((start, end)),
        )
        .unwrap();
        assert_eq!(p.aggs["h"]["date_histogram"]["fixed_interval"], "900000ms");
        assert_eq!(
            p.chosen,
            vec![ChosenInterval {
                path: vec!["h".into()],
                interval: "15m".into()
            }]
        );
        assert!(needs_range(
            &json!({"a": {"terms": {"field": "x"}, "aggs": {
            "h": {"date_histogram": {"fixed_interval": "auto"}}}}})
        ));
        assert!(!needs_range(
            &json!({"h": {"date_histogram": {"fixed_interval": "1m"}}})
        ));
    }

    #[test]
    fn forecasts_are_taken_out_of_the_histogram() {
        let p = prepare(
            &json!({"h": {"date_histogram": {"fixed_interval": "1h",
                "forecast": {"periods": 12, "season": "1d", "confidence": 0.9}}}}),
            None,
        )
        .unwrap();
        assert!(p.aggs["h"]["date_histogram"].get("forecast").is_none());
        assert_eq!(
            p.forecasts,
            vec![ForecastRequest {
                path: vec!["h".into()],
                spec: forecast::Spec {
                    periods: Some(12),
                    season: Season::Buckets(24),
                    confidence: 0.9
                },
                interval_ms: 3_600_000,
            }]
        );
        let bad = json!({"h": {"date_histogram": {"fixed_interval": "1h", "forecast": {"season": "90m"}}}});
        let e = prepare(&bad, None).unwrap_err().to_string();
        assert!(e.contains("two whole intervals"), "{e}");
    }

    #[test]
    fn ranges_are_sorted_and_cover_every_value() {
        let out = prep(json!({"r": {"range": {"field": "x", "ranges": [
            {"from": 10, "to": 20, "key": "b"}, {"to": 5}, {"from": 30}]}}}));
        let filler = |from: Option<i64>, to: Option<i64>| {
            let mut r = json!({});
            if let Some(f) = from {
                r["from"] = json!(f as f64);
            }
            if let Some(t) = to {
                r["to"] = json!(t as f64);
            }
            r["key"] = json!(FILLER_KEY);
            r
        };
        assert_eq!(
            out["r"]["range"]["ranges"],
            json!([{"to": 5}, filler(Some(5), Some(10)), {"from": 10, "to": 20, "key": "b"},
                filler(Some(20), Some(30)), {"from": 30}])
        );
        let out = prep(json!({"r": {"range": {"field": "x", "ranges": [{"from": 1, "to": 2}]}}}));
        assert_eq!(
            out["r"]["range"]["ranges"],
            json!([filler(None, Some(1)), {"from": 1, "to": 2}, filler(Some(2), None)])
        );
        for (ranges, want) in [
            (
                json!([{"from": 1, "to": 5}, {"from": 4, "to": 6}]),
                "overlap at 4",
            ),
            (json!([]), "empty"),
            (json!([{"from": "a"}]), "give a number"),
            (json!([{"from": 5, "to": 1}]), "above"),
        ] {
            let e = prepare(
                &json!({"r": {"range": {"field": "x", "ranges": ranges}}}),
                None,
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn meta_is_kept_by_path_for_the_answer() {
        let p = prepare(
            &json!({"a": {"terms": {"field": "host"}, "meta": {"x": 1},
                "aggs": {"b": {"max": {"field": "n"}, "meta": {"y": [2]}}}}}),
            None,
        )
        .unwrap();
        assert_eq!(
            p.metas,
            vec![
                (vec!["a".to_string()], json!({"x": 1})),
                (vec!["a".to_string(), "b".to_string()], json!({"y": [2]})),
            ]
        );
        assert!(p.aggs["a"].get("meta").is_none());
    }

    #[test]
    fn mistakes_are_named() {
        for (aggs, path, want) in [
            (
                json!({"a": {"top_metrics": {}}}),
                "a",
                "unsupported aggregation type `top_metrics`",
            ),
            (
                json!({"a": {"terms": {"field": "message"}}}),
                "a",
                "full text",
            ),
            (
                json!({"a": {"terms": {"field": "level"}, "aggs": {"b": {"date_histogram":
                    {"calendar_interval": "month"}}}}}),
                "a > b",
                "month",
            ),
            (
                json!({"a": {"date_histogram": {"fixed_interval": "1m", "time_zone": "Europe/Paris"}}}),
                "a",
                "Europe/Paris",
            ),
            (
                json!({"a": {"terms": {"field": "x"}, "avg": {"field": "y"}}}),
                "a",
                "two aggregation types",
            ),
            (json!({"a": {}}), "a", "names no aggregation type"),
            (
                json!({"a": {"terms": {"field": "host"}, "aggs": {"b": {"avg": {"field": "container"}}}}}),
                "a > b",
                "Field [container] of type [keyword] is not supported for aggregation [avg]",
            ),
            (
                json!({"a": {"sum": {"field": "labels.app"}}}),
                "a",
                "of type [keyword]",
            ),
            (json!([1]), "", "must be an object"),
        ] {
            match prepare(&aggs, None) {
                Err(AggregateError::Request { path: p, reason }) => {
                    assert_eq!(p, path, "{aggs}");
                    assert!(reason.contains(want), "{aggs}: {reason}");
                }
                other => panic!("{aggs}: {other:?}"),
            }
        }
    }
}
