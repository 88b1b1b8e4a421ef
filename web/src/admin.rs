//! Operator actions: `POST /api/v1/admin/reset-seq`, `POST /api/v1/admin/snapshot` and
//! `POST /api/v1/delete`.

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
    let body: ResetSeqBody = json_body(
        &body,
        "the body must be JSON like {\"source_id\":\"node-1/web/stdout\"}",
    )?;
    if body.source_id.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`source_id` is empty; give the `_source_id` whose records are refused",
        ));
    }
    let previous_seq = state
        .engine
        .reset_seq(&body.source_id)
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    tracing::info!(
        "admin reset-seq of {:?} (previous {previous_seq:?})",
        body.source_id
    );
    Ok(Json(ResetSeqResponse {
        source_id: body.source_id,
        previous_seq,
    }))
}

/// The body of a delete by query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteBody {
    /// What to delete, in the query language.
    pub q: String,
    /// First instant (RFC 3339 or date math), inclusive.
    pub start: String,
    /// Last instant, inclusive.
    pub end: String,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct DeleteResponse {
    /// Records deleted.
    pub deleted: u64,
}

/// `POST /api/v1/delete`: deletes what a query matches in a time range, at once (a
/// leaked secret, an erasure request). The answer comes once no read path returns
/// them; the space is reclaimed by a merge (at once for days that are over). Logged
/// with the token that asked.
pub async fn delete(
    State(state): State<AppState>,
    caller: Option<axum::Extension<crate::auth::Caller>>,
    body: Bytes,
) -> Result<Json<DeleteResponse>, ApiError> {
    let body: DeleteBody = json_body(
        &body,
        "the body must be JSON with `q`, `start` and `end`, e.g. \
                 {\"q\":\"message:sk_live\",\"start\":\"now-7d\",\"end\":\"now\"}",
    )?;
    if body.q.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`q` is empty; a delete names what to delete (use `*` with a time range to \
             delete everything in it)",
        ));
    }
    let now = skein_model::Timestamp::now();
    let start = crate::search::time_param("start", Some(&body.start), now)?;
    let end = crate::search::time_param("end", Some(&body.end), now)?;
    let (Some(start), Some(end)) = (start, end) else {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`start` and `end` are required; give the time range to delete from",
        ));
    };
    let catalog = state.engine.catalog();
    let query =
        skein_query::shard::filtered_query(catalog.schema(), &body.q, now, Some(start), Some(end))
            .map_err(|e| ApiError::bad_request("query_parse_error", e.reason))?;
    let who = crate::auth::Caller::describe(caller.as_deref());
    let deleted = state
        .engine
        .delete(
            Box::new(query),
            start,
            skein_model::Timestamp(end.0.saturating_add(1)),
        )
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    tracing::warn!(
        "delete by query {:?} from {} to {}: {deleted} records deleted, asked by {who}",
        body.q,
        start.to_rfc3339(),
        end.to_rfc3339()
    );
    Ok(Json(DeleteResponse { deleted }))
}

/// The body of a snapshot request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotBody {
    /// Where to put it: a new or empty directory, an absolute path on the server's
    /// machine (on the data directory's filesystem, the files are hard links).
    pub dir: String,
}

/// `POST /api/v1/admin/snapshot`: a consistent copy of the server's data that a server
/// can start from: the committed partitions and checkpoint (as of every batch
/// acknowledged before the call), the tokens, dashboards and TLS files.
pub async fn snapshot(
    State(state): State<AppState>,
    caller: Option<axum::Extension<crate::auth::Caller>>,
    body: Bytes,
) -> Result<Json<skein_indexer::snapshot::SnapshotReport>, ApiError> {
    let body: SnapshotBody = json_body(
        &body,
        "the body must be JSON like {\"dir\":\"/backups/skein-2026-12-07\"}",
    )?;
    let dir = std::path::PathBuf::from(&body.dir);
    if !dir.is_absolute() {
        return Err(ApiError::bad_request(
            "invalid_request",
            "`dir` must be an absolute path on the server's machine",
        ));
    }
    let mut report = state
        .engine
        .snapshot(dir.clone())
        .await
        .map_err(|e| match e {
            skein_indexer::snapshot::SnapshotError::NotEmpty(_) => {
                ApiError::bad_request("invalid_request", e.to_string())
            }
            _ => ApiError::unavailable(e.to_string()),
        })?;
    let data = state.engine.data_dir().to_path_buf();
    let copied = tokio::task::spawn_blocking(move || -> std::io::Result<(usize, u64)> {
        let mut total = (0, 0);
        for sub in ["auth", "dashboards", "tls"] {
            let (n, b) = copy_flat_dir(&data.join(sub), &dir.join(sub))?;
            total = (total.0 + n, total.1 + b);
        }
        Ok(total)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "snapshot_failed",
            format!("the index was copied but the settings files were not: {e}"),
        )
    })?;
    report.files += copied.0;
    report.bytes += copied.1;
    let who = crate::auth::Caller::describe(caller.as_deref());
    tracing::info!(
        "snapshot of {} partitions ({} files) into {}, asked by {who}",
        report.partitions,
        report.files,
        report.dir.display()
    );
    Ok(Json(report))
}

/// Copies the files directly in `from` (if it exists) into `to`, keeping their
/// permissions (tokens and keys stay 0600).
fn copy_flat_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<(usize, u64)> {
    let Ok(entries) = std::fs::read_dir(from) else {
        return Ok((0, 0));
    };
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::metadata(from)?.permissions())?;
    let (mut n, mut bytes) = (0, 0);
    for e in entries.flatten() {
        if e.file_type()?.is_file() {
            bytes += std::fs::copy(e.path(), to.join(e.file_name()))?;
            n += 1;
        }
    }
    Ok((n, bytes))
}

/// The JSON body of an admin call, or a 400 saying what shape it must have
/// (`expected`).
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("invalid_request", format!("{expected}: {e}")))
}
