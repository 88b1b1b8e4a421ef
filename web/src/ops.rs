//! Operations endpoints: `/healthz`, `/metrics` and `/api/v1/retention`.

use crate::auth::Scope;
use crate::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use skein_indexer::Severity;
use std::sync::OnceLock;

/// `200 {"status":"ok"|"degraded",…}` while ingest works, `503 {"status":"failing",…}`
/// when the WAL cannot be written. `problems` says what is wrong and what to do. The
/// route is open (load balancers and orchestrators probe it), so with auth on only a
/// request with a `query` token sees more than the status.
pub async fn healthz(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    let problems = state.engine.health().problems();
    let failing = problems
        .iter()
        .any(|p| p.component == "wal" && p.severity == Severity::Error);
    let status = if failing {
        "failing"
    } else if problems.is_empty() {
        "ok"
    } else {
        "degraded"
    };
    let code = if failing {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let auth = &state.auth;
    let detailed = !auth.enabled()
        || auth
            .identify(&headers)
            .ok()
            .flatten()
            .is_some_and(|k| k.scopes.allows(Scope::Query));
    let body = if detailed {
        json!({
            "status": status,
            "partitions": state.engine.catalog().len(),
            "problems": problems,
        })
    } else {
        json!({ "status": status })
    };
    (code, Json(body))
}

/// `GET /api/v1/retention`: the retention settings, the disk the partitions and the WAL
/// take, and each partition's size, record count and when it is dropped for age.
pub async fn retention(State(state): State<AppState>) -> impl IntoResponse {
    let engine = state.engine.clone();
    // A `stat` per file of the data directory: off the async workers.
    match tokio::task::spawn_blocking(move || engine.usage()).await {
        Ok(u) => Json(u).into_response(),
        Err(e) => crate::error::ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        )
        .into_response(),
    }
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// Installs the process-wide Prometheus recorder (once; later calls return the same).
pub fn install_metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("seconds".into()),
                    &[
                        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                        10.0,
                    ],
                )
                .expect("non-empty buckets")
                .install_recorder()
                .expect("no other metrics recorder is installed");
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!("skein_records_ingested_total", "Records made durable");
    describe_counter!(
        "skein_records_rejected_total",
        "Ingest lines rejected as invalid"
    );
    describe_counter!(
        "skein_records_duplicate_total",
        "Records dropped because their _seq was already held"
    );
    describe_counter!(
        "skein_redactions_total",
        "Secrets replaced by --redact rules at ingest, per rule"
    );
    describe_gauge!(
        "skein_wal_bytes",
        Unit::Bytes,
        "Bytes held by the write-ahead log"
    );
    describe_gauge!("skein_partitions", "Open time partitions");
    describe_histogram!(
        "skein_commit_seconds",
        Unit::Seconds,
        "Tantivy commit latency"
    );
    describe_histogram!("skein_search_seconds", Unit::Seconds, "Search latency");
}
