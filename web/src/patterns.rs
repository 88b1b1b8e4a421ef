//! `GET /api/v1/patterns`: the message templates of the records a query matches, with
//! counts, a trend, and which are new or surging ([`skein_query::patterns`]).

use crate::aggregate::api_error;
use crate::error::ApiError;
use crate::search::{stop_param, time_param};
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use skein_model::Timestamp;
use skein_query::patterns::{PatternOrder, PatternsRequest, PatternsResponse, MAX_LIMIT};

/// The query parameters.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternsParams {
    /// Query string; empty matches everything.
    #[serde(default)]
    pub q: String,
    /// RFC 3339 or date math; default `now-1h`.
    pub start: Option<String>,
    /// RFC 3339 or date math; default `now`.
    pub end: Option<String>,
    /// Patterns listed (default 100, at most 1,000).
    pub limit: Option<usize>,
    /// `count` (most records first, the default) or `recent` (latest record first).
    pub sort: Option<String>,
    /// Time limit (`500ms`, `30s`; default `--query-timeout`).
    pub timeout: Option<String>,
}

/// Patterns listed when `limit` is not given.
const DEFAULT_LIMIT: usize = 100;

/// Handles `GET /api/v1/patterns`.
pub async fn patterns(
    State(state): State<AppState>,
    Query(p): Query<PatternsParams>,
) -> Result<Json<PatternsResponse>, ApiError> {
    let now = Timestamp::now();
    let start = time_param("start", p.start.as_deref(), now)?
        .unwrap_or(Timestamp(now.0.saturating_sub(3_600 * 1_000_000_000)));
    let end = time_param("end", p.end.as_deref(), now)?.unwrap_or(now);
    if end < start {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`end` is before `start`; give a range such as start=now-1h&end=now",
        ));
    }
    let order = match p.sort.as_deref() {
        None | Some("count") => PatternOrder::Count,
        Some("recent") => PatternOrder::Recent,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("sort={other:?} is not known; use `count` or `recent`"),
            ))
        }
    };
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad_request(
            "invalid_request",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let stop = stop_param(p.timeout.as_deref(), &state.limits)?;
    let _cancel_on_disconnect = stop.on_drop();
    let req = PatternsRequest {
        q: p.q,
        start,
        end,
        limit,
        order,
        stop,
        limits: state.limits.agg,
        now,
    };
    let engine = state.engine.clone();
    tokio::task::spawn_blocking(move || {
        skein_query::patterns::patterns(engine.catalog(), engine.patterns(), &req)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map(Json)
    .map_err(api_error)
}
