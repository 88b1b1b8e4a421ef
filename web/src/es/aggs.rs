//! `aggs` / `aggregations` of `_search`: run by `skein_query::aggregate` over the same
//! query and time range as the hits, after the field names users sent are resolved as
//! in queries ([`super::mapping::alias`]).

use super::error::EsError;
use super::mapping::alias;
use axum::http::StatusCode;
use serde_json::Value;
use skein_query::{AggregateError, AggregateRequest};

/// The `aggregations` object of the answer to `req`, whose `aggs` are as the client
/// named them.
pub fn run(catalog: &skein_indexer::Catalog, mut req: AggregateRequest) -> Result<Value, EsError> {
    rename_fields(&mut req.aggs);
    match skein_query::aggregate(catalog, &req) {
        Ok(r) => Ok(r.aggregations),
        Err(AggregateError::Index(e)) => Err(EsError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "exception",
            reason: format!("index read failed: {e}"),
            retry_after: None,
        }),
        Err(AggregateError::Cancelled) => Err(crate::search::cancelled().into()),
        Err(e @ AggregateError::TooManyBuckets { .. }) => Err(EsError::bad_request(
            "too_many_buckets_exception",
            e.to_string(),
        )),
        Err(e @ AggregateError::MemoryExceeded { .. }) => Err(EsError::bad_request(
            "circuit_breaking_exception",
            e.to_string(),
        )),
        Err(e) => Err(EsError::bad_request(
            "illegal_argument_exception",
            e.to_string(),
        )),
    }
}

/// Resolves every `"field": "<name>"` of the aggregation tree.
fn rename_fields(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, inner) in o.iter_mut() {
                match inner {
                    Value::String(s) if k == "field" => *s = alias(s),
                    other => rename_fields(other),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(rename_fields),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_names_resolve_at_every_level() {
        let mut v = json!({"by_pod": {"terms": {"field": "kubernetes.pod_name.keyword"},
            "aggs": {"lat": {"avg": {"field": "latency_ms"}},
                     "host": {"terms": {"field": "host.name"}}}}});
        rename_fields(&mut v);
        assert_eq!(
            v["by_pod"]["terms"]["field"],
            "labels.io.kubernetes.pod.name"
        );
        assert_eq!(v["by_pod"]["aggs"]["lat"]["avg"]["field"], "latency_ms");
        assert_eq!(v["by_pod"]["aggs"]["host"]["terms"]["field"], "host");
    }
}
