//! Errors in Elasticsearch's shape: `{"error":{"root_cause":[…],"type":…,"reason":…},"status":N}`,
//! which the official clients turn into their typed exceptions.

use crate::error::ApiError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// An error answer of the Elasticsearch-compatible API.
#[derive(Debug)]
pub struct EsError {
    /// HTTP status.
    pub status: StatusCode,
    /// Elasticsearch-style error type, e.g. `parsing_exception`.
    pub kind: &'static str,
    /// What happened and what to do.
    pub reason: String,
    /// Seconds after which to retry, for 429 and 503.
    pub retry_after: Option<u32>,
}

impl EsError {
    /// A 400 of `kind`.
    pub fn bad_request(kind: &'static str, reason: impl Into<String>) -> EsError {
        EsError {
            status: StatusCode::BAD_REQUEST,
            kind,
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// A 400 naming a part of the request skein does not support.
    pub fn unsupported(what: impl std::fmt::Display) -> EsError {
        EsError::bad_request(
            "unsupported_operation_exception",
            format!(
                "{what} is not supported by skein's Elasticsearch-compatible API; \
                 see \"Elasticsearch-compatible API\" in the README for what is"
            ),
        )
    }

    /// The error as a JSON value (also used for one failed `_msearch` response).
    pub fn body(&self) -> Value {
        let cause = json!({"type": self.kind, "reason": self.reason});
        json!({
            "error": {"root_cause": [cause], "type": self.kind, "reason": self.reason},
            "status": self.status.as_u16(),
        })
    }
}

impl From<ApiError> for EsError {
    fn from(e: ApiError) -> EsError {
        let kind = match e.status {
            StatusCode::TOO_MANY_REQUESTS => "es_rejected_execution_exception",
            StatusCode::PAYLOAD_TOO_LARGE => "content_too_long_exception",
            StatusCode::SERVICE_UNAVAILABLE => "unavailable_shards_exception",
            s if s.is_client_error() => "illegal_argument_exception",
            _ => "exception",
        };
        EsError {
            status: e.status,
            kind,
            reason: e.reason,
            retry_after: e.retry_after,
        }
    }
}

impl IntoResponse for EsError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}
