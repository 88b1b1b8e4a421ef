//! `POST /v1/logs`: OpenTelemetry logs over OTLP/HTTP, protobuf or JSON, gzip or not.
//!
//! The body is read, decompressed and budgeted as `/api/v1/ingest` does
//! ([`crate::ingest::read_body`], [`crate::ingest::decode_body`]), mapped by [`map`],
//! and goes through the same WAL and group commit: the answer comes once the records
//! are durable. The answers are the OTLP spec's: 200 with an `ExportLogsServiceResponse`
//! in the request's encoding (its `partial_success` counting the records refused and
//! why), 400 for a body that is not an export request, 413 over the body limits, 429 or
//! 503 with `Retry-After` when the server has no room or cannot write; an error's body
//! is a `google.rpc.Status`, in the request's encoding too.

pub mod grpc;
mod line;
pub mod map;

use crate::error::ApiError;
use crate::ingest::{decode_body, no_room, read_body, BodyRead};
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message;
use skein_indexer::{text_buffers, IngestError, PreparedBatch};
use skein_model::Timestamp;

/// Bytes held per byte of a (decompressed) export request until its batch is built and
/// its share settled: protobuf is denser than the records made from it, which take
/// about six times its size, and their WAL lines about twice again.
pub(crate) const EXPANSION: usize = 8;

/// The two encodings of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json` (OTLP/JSON: proto3's JSON mapping, ids as hex).
    Json,
}

impl Encoding {
    /// The encoding a `Content-Type` names; a 415 for any other.
    pub fn of(headers: &HeaderMap) -> Result<Encoding, ApiError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match essence.as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "Content-Type {content_type:?} is not an OTLP/HTTP encoding; send \
                     application/x-protobuf or application/json"
                ),
            )),
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }

    /// Decodes an export request; a 400 that says what is wrong otherwise.
    pub fn decode(self, body: &[u8]) -> Result<ExportLogsServiceRequest, ApiError> {
        match self {
            Encoding::Protobuf => ExportLogsServiceRequest::decode(body).map_err(|e| {
                ApiError::bad_request(
                    "invalid_body",
                    format!("the body is not a protobuf ExportLogsServiceRequest: {e}"),
                )
            }),
            Encoding::Json => {
                let bad = |e: serde_json::Error| {
                    ApiError::bad_request(
                        "invalid_body",
                        format!("the body is not an OTLP/JSON ExportLogsServiceRequest: {e}"),
                    )
                };
                // Through a `Value`: the crate's serde requires fields that proto3's JSON
                // mapping lets a sender leave out, which are filled in first.
                let mut value: serde_json::Value = serde_json::from_slice(body).map_err(bad)?;
                fill_defaults(&mut value);
                serde_json::from_value(value).map_err(bad)
            }
        }
    }
}

/// Adds what proto3's JSON mapping leaves out at its default and the crate's serde
/// requires: `values` of an `arrayValue` or `kvlistValue` (an empty array or map), and
/// `key` of an attribute (an empty key).
fn fill_defaults(value: &mut serde_json::Value) {
    use serde_json::Value;
    let keyed = |items: &mut Vec<Value>| {
        for item in items {
            if let Value::Object(o) = item {
                o.entry("key")
                    .or_insert_with(|| Value::String(String::new()));
            }
        }
    };
    match value {
        Value::Object(map) => {
            for (name, child) in map.iter_mut() {
                match (name.as_str(), &mut *child) {
                    ("arrayValue" | "kvlistValue", Value::Object(inner)) => {
                        let values = inner
                            .entry("values")
                            .or_insert_with(|| Value::Array(Vec::new()));
                        if let (Value::Array(items), "kvlistValue") = (values, name.as_str()) {
                            keyed(items);
                        }
                    }
                    ("attributes", Value::Array(items)) => keyed(items),
                    _ => {}
                }
                fill_defaults(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(fill_defaults),
        _ => {}
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer.
#[derive(Clone, PartialEq, Message)]
pub struct Status {
    /// The gRPC status code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// What happened and what to do.
    #[prost(string, tag = "2")]
    pub message: String,
}

/// What the records of one request came to.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) rejected: usize,
    pub(crate) reason: Option<String>,
}

/// Handles `POST /v1/logs`.
pub async fn logs(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let encoding = match Encoding::of(&headers) {
        Ok(e) => e,
        // The client's encoding is unknown: answer in the readable one.
        Err(e) => return error(Encoding::Json, e),
    };
    match export(&state, &headers, body, encoding).await {
        Ok(outcome) => success(encoding, outcome),
        Err(e) => error(encoding, e),
    }
}

async fn export(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
) -> Result<Outcome, ApiError> {
    let limits = state.limits.clone();
    let BodyRead {
        raw,
        encoding: content_encoding,
        permit,
    } = read_body(
        body,
        headers,
        state.engine.budget(),
        EXPANSION,
        &limits,
        "export requests (lower the exporter's batch size)",
    )
    .await?;
    // Decompressing and decoding are CPU work: keep them off the async workers.
    let engine = state.engine.clone();
    let (mapped, permit) = tokio::task::spawn_blocking(move || {
        let (decoded, permit) = decode_body(
            &content_encoding,
            raw,
            limits.max_decoded_bytes,
            engine.budget(),
            permit,
            EXPANSION,
        )?;
        let request = encoding.decode(&decoded);
        // The records hold their own copies: the buffer serves the next request.
        text_buffers::give_back(decoded);
        let mapped = map::map_request(request?, Timestamp::now(), engine.retention_horizon());
        Ok::<_, ApiError>((mapped, permit))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    store(state, mapped, permit).await
}

/// Makes the mapped records of one request durable, holding `permit` (the request's
/// budget share) until they are indexed: the step HTTP and gRPC share.
async fn store(
    state: &AppState,
    mapped: map::Mapped,
    permit: skein_indexer::Permit,
) -> Result<Outcome, ApiError> {
    metrics::counter!("skein_records_rejected_total").increment(mapped.rejected as u64);
    if mapped.records.is_empty() {
        text_buffers::give_back(mapped.text);
    } else {
        let mut batch =
            PreparedBatch::from_lines(mapped.records, mapped.text, mapped.spans, Some(permit));
        if !batch.fit_budget() {
            return Err(no_room());
        }
        state.engine.ingest(batch).await.map_err(|e| match e {
            IngestError::Unavailable(_) | IngestError::ShuttingDown => {
                ApiError::unavailable(e.to_string())
            }
        })?;
    }
    Ok(Outcome {
        rejected: mapped.rejected,
        reason: mapped.reason,
    })
}

/// The 200: an `ExportLogsServiceResponse`, with `partial_success` only when records
/// were refused (the spec asks to leave it unset when all were taken).
fn success(encoding: Encoding, outcome: Outcome) -> Response {
    let partial = (outcome.rejected > 0).then(|| ExportLogsPartialSuccess {
        rejected_log_records: outcome.rejected as i64,
        error_message: outcome.reason.unwrap_or_default(),
    });
    let body = match encoding {
        Encoding::Protobuf => ExportLogsServiceResponse {
            partial_success: partial,
        }
        .encode_to_vec(),
        // Written by hand: proto3's JSON mapping writes an int64 as a string, which the
        // crate's serde does not.
        Encoding::Json => match partial {
            None => b"{}".to_vec(),
            Some(p) => serde_json::json!({"partialSuccess": {
                "rejectedLogRecords": p.rejected_log_records.to_string(),
                "errorMessage": p.error_message,
            }})
            .to_string()
            .into_bytes(),
        },
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response()
}

/// An error answer: the status and `Retry-After` of `e`, and a `google.rpc.Status`
/// carrying its reason.
fn error(encoding: Encoding, e: ApiError) -> Response {
    let code = grpc_code(e.status);
    let body = match encoding {
        Encoding::Protobuf => Status {
            code,
            message: e.reason,
        }
        .encode_to_vec(),
        Encoding::Json => serde_json::json!({"code": code, "message": e.reason})
            .to_string()
            .into_bytes(),
    };
    let mut resp = (
        e.status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        body,
    )
        .into_response();
    if let Some(s) = e.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    resp
}

/// The gRPC code that goes with an HTTP status, as OTLP pairs them.
fn grpc_code(status: StatusCode) -> i32 {
    match status.as_u16() {
        400 | 415 => 3, // INVALID_ARGUMENT
        413 | 429 => 8, // RESOURCE_EXHAUSTED
        401 => 16,      // UNAUTHENTICATED
        403 => 7,       // PERMISSION_DENIED
        503 => 14,      // UNAVAILABLE
        _ => 13,        // INTERNAL
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// proto3's JSON mapping leaves out fields at their defaults: every message of an
    /// export request may come empty, and a 64-bit integer may be a string or a number.
    #[test]
    fn json_with_every_default_left_out_decodes() {
        let body = br#"{"resourceLogs":[{}, {"resource":{}, "scopeLogs":[{}, {"scope":{},
            "logRecords":[{}, {"severityNumber":9, "timeUnixNano":1700000000000000000,
            "body":{}, "attributes":[{"key":"e"}, {"value":{"boolValue":true}}, {"key":"a","value":{"arrayValue":{}}},
            {"key":"k","value":{"kvlistValue":{}}}, {"key":"i","value":{"intValue":7}},
            {"key":"d","value":{"doubleValue":1}}]}]}]}]}"#;
        let request = Encoding::Json.decode(body).expect("decodes");
        let mapped = map::map_request(request, Timestamp(1), None);
        assert_eq!(mapped.records.len(), 2);
        let f = &mapped.records[1].fields;
        assert_eq!(f["e"], serde_json::Value::Null);
        assert_eq!(f[""], true);
        assert_eq!(f["a"], serde_json::json!([]));
        assert_eq!(f["k"], serde_json::json!({}));
        assert_eq!(f["i"], 7);
        assert_eq!(f["d"], 1.0);
    }
}
