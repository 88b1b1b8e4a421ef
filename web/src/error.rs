//! The error answer every route uses: `{"error":{"type":…,"reason":…}}` with a status.

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An API error.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable kind, e.g. `query_parse_error`.
    pub kind: &'static str,
    /// What happened and what to do.
    pub reason: String,
    /// Seconds after which to retry, for 429 and 503.
    pub retry_after: Option<u32>,
}

impl ApiError {
    /// A 400 of the given kind.
    pub fn bad_request(kind: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind,
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// Any status.
    pub fn new(status: StatusCode, kind: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, seconds: u32) -> ApiError {
        self.retry_after = Some(seconds);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": {"type": self.kind, "reason": self.reason}}));
        let mut resp = (self.status, body).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// 404 for unknown routes, in the same JSON shape.
pub async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no route {}; see the HTTP API in the README", uri.path()),
    )
}
