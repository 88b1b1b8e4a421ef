//! The hosts and containers the index has seen: `GET /api/v1/sources`.
//!
//! One aggregation (host → container → container id, with first and last time and
//! image) over the shards of the time range, so it is exact and as fast as any other.

use crate::aggregate::{aggregate, AggLimits, AggregateError, AggregateRequest};
use serde::Serialize;
use serde_json::{json, Value};
use skein_indexer::Catalog;
use skein_model::Timestamp;
use std::time::Instant;

/// One container on one host.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Source {
    /// Host it ran on.
    pub host: String,
    /// Container name (the short id for files without Docker metadata).
    pub container: String,
    /// Full container id.
    pub container_id: String,
    /// Image, empty when unknown.
    pub image: String,
    /// Time of its first record in the range.
    pub first: Timestamp,
    /// Time of its last record in the range.
    pub last: Timestamp,
    /// Records in the range.
    pub count: u64,
}

/// The answer of `GET /api/v1/sources`.
#[derive(Debug, Serialize)]
pub struct SourcesResponse {
    /// By host, container name, then first time.
    pub sources: Vec<Source>,
    /// Time spent.
    pub took_ms: u64,
}

/// Distinct values kept per level; the bucket limit of one aggregation caps the product.
const MAX_PER_LEVEL: u64 = 20_000;

/// Lists the sources of records matching `q` in `[start, end]`.
pub fn sources(
    catalog: &Catalog,
    q: &str,
    start: Option<Timestamp>,
    end: Option<Timestamp>,
    now: Option<Timestamp>,
    stop: crate::Stop,
) -> Result<SourcesResponse, AggregateError> {
    let started = Instant::now();
    let terms = |field: &str| json!({"field": field, "size": MAX_PER_LEVEL, "missing": ""});
    let aggs = json!({"host": {"terms": terms("host"), "aggs": {
        "container": {"terms": terms("container"), "aggs": {
            "id": {"terms": terms("container_id"), "aggs": {
                "first": {"min": {"field": "@timestamp"}},
                "last": {"max": {"field": "@timestamp"}},
                "image": {"terms": {"field": "image", "size": 1}},
            }},
        }},
    }}});
    let res = aggregate(
        catalog,
        &AggregateRequest {
            q: q.to_string(),
            start,
            end,
            aggs,
            now,
            stop,
            limits: AggLimits {
                worst_case: false,
                ..AggLimits::default()
            },
        },
    )?;
    let mut out = Vec::new();
    for host in buckets(&res.aggregations["host"]) {
        for container in buckets(&host["container"]) {
            for id in buckets(&container["id"]) {
                out.push(Source {
                    host: key(host),
                    container: key(container),
                    container_id: key(id),
                    image: buckets(&id["image"]).first().map(key).unwrap_or_default(),
                    first: time(&id["first"]),
                    last: time(&id["last"]),
                    count: id["doc_count"].as_u64().unwrap_or(0),
                });
            }
        }
    }
    out.sort_by(|a, b| (&a.host, &a.container, a.first).cmp(&(&b.host, &b.container, b.first)));
    Ok(SourcesResponse {
        sources: out,
        took_ms: started.elapsed().as_millis() as u64,
    })
}

fn buckets(v: &Value) -> &[Value] {
    v["buckets"].as_array().map_or(&[], Vec::as_slice)
}

fn key(bucket: &Value) -> String {
    match &bucket["key"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Min and max of `@timestamp`, to within the 256 ns an f64 holds of today's times.
fn time(metric: &Value) -> Timestamp {
    metric["value_as_string"]
        .as_str()
        .and_then(|s| Timestamp::parse_rfc3339(s).ok())
        .unwrap_or(Timestamp(0))
}
