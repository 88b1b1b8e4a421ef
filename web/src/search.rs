//! `GET /api/v1/search`.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use skein_model::Timestamp;
use skein_query::{Order, SearchError, SearchRequest, SearchResponse, Stop, Total};

/// Query-string parameters.
#[derive(Debug, Deserialize)]
pub struct SearchParams {
    /// Query string.
    #[serde(default)]
    pub q: String,
    /// RFC 3339 or date math.
    pub start: Option<String>,
    /// RFC 3339 or date math.
    pub end: Option<String>,
    /// Hits per page (default 100, at most 10,000).
    pub limit: Option<usize>,
    /// `desc` (default) or `asc`.
    pub order: Option<String>,
    /// From the previous page.
    pub cursor: Option<String>,
    /// Time limit (`500ms`, `30s`; default `--query-timeout`).
    pub timeout: Option<String>,
    /// `exact` (default): the answer's `total` counts every match. `later`: the page
    /// comes first, and `total` is `null` with `total_pending` true unless counting
    /// needed no scan; a search with `limit=0` then counts.
    pub total: Option<String>,
}

/// Largest page.
pub const MAX_LIMIT: usize = 10_000;

/// Reads a time parameter (RFC 3339 or date math relative to `now`); empty means none.
pub fn time_param(
    name: &str,
    v: Option<&str>,
    now: Timestamp,
) -> Result<Option<Timestamp>, ApiError> {
    match v.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => Timestamp::parse_expr(s, now)
            .map(Some)
            .map_err(|e| ApiError::bad_request("invalid_time", format!("`{name}`: {e}"))),
    }
}

/// The [`Stop`] of a request: its `timeout` parameter, else the server's
/// `--query-timeout`. The handler holds [`Stop::on_drop`] so that a client that hangs
/// up cancels the work.
pub fn stop_param(timeout: Option<&str>, limits: &crate::Limits) -> Result<Stop, ApiError> {
    Stop::parse_timeout(timeout, limits.query_timeout)
        .map(Stop::after)
        .map_err(|e| ApiError::bad_request("invalid_timeout", e))
}

/// The answer to a request whose client went away (nobody reads it; logs and metrics
/// see it as nginx's 499).
pub fn cancelled() -> ApiError {
    ApiError::new(
        StatusCode::from_u16(499).expect("a valid status"),
        "cancelled",
        "the client closed the connection before the answer",
    )
}

/// Turns parameters into a request, or says which one is wrong.
pub fn request_from_params(
    p: SearchParams,
    now: Timestamp,
    limits: &crate::Limits,
) -> Result<SearchRequest, ApiError> {
    let time = |name: &str, v: Option<String>| time_param(name, v.as_deref(), now);
    let limit = p.limit.unwrap_or(100);
    if limit > MAX_LIMIT {
        return Err(ApiError::bad_request(
            "invalid_limit",
            format!("`limit` is {limit}; at most {MAX_LIMIT}, use `cursor` for more"),
        ));
    }
    let order = match p.order.as_deref() {
        None | Some("desc") => Order::Desc,
        Some("asc") => Order::Asc,
        Some(o) => {
            return Err(ApiError::bad_request(
                "invalid_order",
                format!("`order` is {o:?}; use desc or asc"),
            ))
        }
    };
    let total = match p.total.as_deref() {
        None | Some("exact") => Total::Exact,
        // A page of nothing asks for the count alone.
        Some("later") if limit == 0 => Total::Exact,
        Some("later") => Total::Later,
        Some(t) => {
            return Err(ApiError::bad_request(
                "invalid_total",
                format!(
                    "`total` is {t:?}; use exact (count every match) or later (the page first)"
                ),
            ))
        }
    };
    let cursor = match p.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(
            c.parse()
                .map_err(|e: String| ApiError::bad_request("invalid_cursor", e))?,
        ),
    };
    Ok(SearchRequest {
        q: p.q,
        start: time("start", p.start)?,
        end: time("end", p.end)?,
        limit,
        order,
        total,
        cursor,
        now: Some(now),
        stop: stop_param(p.timeout.as_deref(), limits)?,
    })
}

/// Handles a search.
pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchResponse>, ApiError> {
    let req = request_from_params(params, Timestamp::now(), &state.limits)?;
    let _cancel_on_disconnect = req.stop.on_drop();
    let engine = state.engine.clone();
    let res = tokio::task::spawn_blocking(move || skein_query::search(engine.catalog(), &req))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    match res {
        Ok(r) => Ok(Json(r)),
        Err(SearchError::Query(e)) => {
            Err(ApiError::bad_request("query_parse_error", e.to_string()))
        }
        Err(SearchError::Cancelled) => Err(cancelled()),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "search_failed",
            e.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(limit: usize, total: Option<&str>) -> SearchParams {
        serde_json::from_value(serde_json::json!({
            "limit": limit,
            "total": total,
        }))
        .expect("valid parameters")
    }

    #[test]
    fn total_is_exact_later_or_a_named_400() {
        let limits = crate::Limits::default();
        let total = |limit, t| {
            request_from_params(params(limit, t), Timestamp::now(), &limits).map(|r| r.total)
        };
        assert_eq!(total(100, None).unwrap(), Total::Exact);
        assert_eq!(total(100, Some("exact")).unwrap(), Total::Exact);
        assert_eq!(total(100, Some("later")).unwrap(), Total::Later);
        // A page of nothing is the count itself.
        assert_eq!(total(0, Some("later")).unwrap(), Total::Exact);
        let err = total(100, Some("eventually")).unwrap_err();
        assert!(format!("{err:?}").contains("invalid_total"), "{err:?}");
    }
}
