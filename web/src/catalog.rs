//! `GET /api/v1/fields` and `GET /api/v1/sources`: what the index holds.

use crate::aggregate::api_error;
use crate::error::ApiError;
use crate::search::time_param;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use skein_model::Timestamp;
use skein_query::{FieldsRequest, FieldsResponse, SearchError, SourcesResponse};

/// Query-string parameters of both routes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogParams {
    /// Query string; empty means everything.
    #[serde(default)]
    pub q: String,
    /// RFC 3339 or date math.
    pub start: Option<String>,
    /// RFC 3339 or date math.
    pub end: Option<String>,
    /// `fields` only: newest records to take top values from (default 500).
    pub sample: Option<usize>,
    /// `fields` only: top values per field (default 5).
    pub top: Option<usize>,
    /// Time limit (`500ms`, `30s`; default `--query-timeout`).
    pub timeout: Option<String>,
}

/// Largest sample for top values.
const MAX_SAMPLE: usize = 10_000;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
}

/// Lists field names, types and top values.
pub async fn fields(
    State(state): State<AppState>,
    Query(p): Query<CatalogParams>,
) -> Result<Json<FieldsResponse>, ApiError> {
    let now = Timestamp::now();
    let sample = p.sample.unwrap_or(500);
    if sample > MAX_SAMPLE {
        return Err(ApiError::bad_request(
            "invalid_sample",
            format!("`sample` is {sample}; at most {MAX_SAMPLE}"),
        ));
    }
    let stop = crate::search::stop_param(p.timeout.as_deref(), &state.limits)?;
    let _cancel_on_disconnect = stop.on_drop();
    let req = FieldsRequest {
        q: p.q,
        start: time_param("start", p.start.as_deref(), now)?,
        end: time_param("end", p.end.as_deref(), now)?,
        sample,
        top: p.top.unwrap_or(5).min(100),
        now: Some(now),
        stop,
    };
    let engine = state.engine.clone();
    blocking(move || {
        skein_query::fields(engine.catalog(), &req).map_err(|e| match e {
            SearchError::Query(e) => ApiError::bad_request("query_parse_error", e.to_string()),
            SearchError::Cancelled => crate::search::cancelled(),
            e => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "fields_failed",
                e.to_string(),
            ),
        })
    })
    .await
    .map(Json)
}

/// Lists hosts and containers with their first and last times and counts.
pub async fn sources(
    State(state): State<AppState>,
    Query(p): Query<CatalogParams>,
) -> Result<Json<SourcesResponse>, ApiError> {
    if p.sample.is_some() || p.top.is_some() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`sample` and `top` apply to /api/v1/fields only",
        ));
    }
    let now = Timestamp::now();
    let start = time_param("start", p.start.as_deref(), now)?;
    let end = time_param("end", p.end.as_deref(), now)?;
    let stop = crate::search::stop_param(p.timeout.as_deref(), &state.limits)?;
    let _cancel_on_disconnect = stop.on_drop();
    let engine = state.engine.clone();
    blocking(move || {
        skein_query::sources(engine.catalog(), &p.q, start, end, Some(now), stop).map_err(api_error)
    })
    .await
    .map(Json)
}
