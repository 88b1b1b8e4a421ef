//! Operator actions: `POST /api/v1/admin/reset-seq`.

use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

/// The body of a reset.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetSeqBody {
    /// The `_source_id` whose high-water mark to forget.
    pub source_id: String,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct ResetSeqResponse {
    /// The source reset.
    pub source_id: String,
    /// Its high-water mark before the reset (`null`: the server knew no such source).
    pub previous_seq: Option<u64>,
}

/// Forgets a source's `_seq` high-water mark, so a source silenced by one record with a
/// huge `_seq` (sent before 2^53 was enforced, or by a client that restarted its
/// numbering) is accepted again. Durable before the answer.
pub async fn reset_seq(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<ResetSeqResponse>, ApiError> {
    let body: ResetSeqBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_request",
            format!("the body must be JSON like {{\"source_id\":\"node-1/web/stdout\"}}: {e}"),
        )
    })?;
    if body.source_id.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`source_id` is empty; give the `_source_id` whose records are refused",
        ));
    }
    let previous_seq = state.engine.reset_seq(&body.source_id).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        )
        .retry_after(5)
    })?;
    tracing::info!(
        "admin reset-seq of {:?} (previous {previous_seq:?})",
        body.source_id
    );
    Ok(Json(ResetSeqResponse {
        source_id: body.source_id,
        previous_seq,
    }))
}
