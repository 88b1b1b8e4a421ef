//! The error answer every route uses: `{"error":{"type":…,"reason":…}}` with a status.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::middleware::Next;
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

    /// 503: the server cannot take this now (the WAL or index cannot be written, or it
    /// is stopping); retry in 5 s.
    pub fn unavailable(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", reason).retry_after(5)
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

/// Gives axum's own rejections (a body over `--max-request-bytes`, a query string that
/// does not deserialise) the JSON error shape, Elasticsearch's under `/es`, instead of
/// axum's plain text. `max_request_bytes` is the limit the 413 names.
pub async fn json_rejections(
    State(max_request_bytes): State<usize>,
    req: Request,
    next: Next,
) -> Response {
    let es = req.uri().path().starts_with("/es");
    let resp = next.run(req).await;
    let status = resp.status();
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"));
    if !status.is_client_error() || !plain {
        return resp;
    }
    let e = if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            status,
            "body_too_large",
            format!(
                "request body over {max_request_bytes} bytes (the server's \
                 --max-request-bytes); send a smaller request"
            ),
        )
    } else {
        let text = axum::body::to_bytes(resp.into_body(), 64 << 10)
            .await
            .unwrap_or_default();
        ApiError::new(
            status,
            "invalid_request",
            String::from_utf8_lossy(&text).into_owned(),
        )
    };
    if es {
        let mut resp = crate::es::error::EsError::from(e).into_response();
        resp.headers_mut().insert(
            "x-elastic-product",
            HeaderValue::from_static("Elasticsearch"),
        );
        resp
    } else {
        e.into_response()
    }
}
