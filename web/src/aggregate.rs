//! `POST /api/v1/aggregate`: Elasticsearch-style aggregations over a query and a time
//! range.

use crate::error::ApiError;
use crate::search::time_param;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use skein_model::Timestamp;
use skein_query::{AggregateError, AggregateRequest, AggregateResponse};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateBody {
    /// Query string; empty or `*` matches everything.
    #[serde(default)]
    pub q: String,
    /// RFC 3339 or date math.
    pub start: Option<String>,
    /// RFC 3339 or date math.
    pub end: Option<String>,
    /// Named aggregations (Elasticsearch's `aggs`).
    #[serde(alias = "aggregations")]
    pub aggs: Option<serde_json::Value>,
    /// Time limit (`500ms`, `30s`; default `--query-timeout`).
    pub timeout: Option<String>,
}

/// Maps an aggregation failure to the API's error answer.
pub fn api_error(e: AggregateError) -> ApiError {
    match e {
        AggregateError::Query(e) => ApiError::bad_request("query_parse_error", e.to_string()),
        e @ (AggregateError::Request { .. } | AggregateError::Invalid(_)) => {
            ApiError::bad_request("aggregation_error", e.to_string())
        }
        AggregateError::Cancelled => crate::search::cancelled(),
        e @ AggregateError::TooManyBuckets { .. } => {
            ApiError::bad_request("too_many_buckets_exception", e.to_string())
        }
        e @ AggregateError::MemoryExceeded { .. } => {
            ApiError::bad_request("circuit_breaking_exception", e.to_string())
        }
        e @ AggregateError::Index(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "aggregation_failed",
            e.to_string(),
        ),
    }
}

/// Handles an aggregation request.
pub async fn aggregate(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<AggregateResponse>, ApiError> {
    let body: AggregateBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!(
                "the body must be JSON like {{\"q\":\"level:error\",\"start\":\"now-1h\",\
                 \"aggs\":{{…}}}}: {e}"
            ),
        )
    })?;
    let now = Timestamp::now();
    let stop = crate::search::stop_param(body.timeout.as_deref(), &state.limits)?;
    let _cancel_on_disconnect = stop.on_drop();
    let req = AggregateRequest {
        q: body.q,
        start: time_param("start", body.start.as_deref(), now)?,
        end: time_param("end", body.end.as_deref(), now)?,
        aggs: body.aggs.ok_or_else(|| {
            ApiError::bad_request(
                "invalid_request",
                "`aggs` is missing; give named aggregations such as \
                 {\"per_level\":{\"terms\":{\"field\":\"level\"}}}",
            )
        })?,
        now: Some(now),
        stop,
        limits: state.limits.agg,
    };
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || skein_query::aggregate(engine.catalog(), &req))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map(Json)
        .map_err(api_error)
}
