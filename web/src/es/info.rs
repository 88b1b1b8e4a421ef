//! Cluster and index endpoints that shippers and clients call before they send anything:
//! answered so they start, without pretending to more than skein does. Index creation
//! and templates are accepted and remembered, never applied: skein has one schema.

use super::error::EsError;
use super::{EsState, ES_VERSION};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use skein_indexer::Severity;
use std::time::Duration;

/// `GET /es/`: cluster info with the version clients check.
pub async fn root() -> Json<Value> {
    Json(json!({
        "name": "skein",
        "cluster_name": "skein",
        "cluster_uuid": "skein-cluster",
        "version": {
            "number": ES_VERSION,
            "build_flavor": "default",
            "build_type": "skein",
            "build_hash": env!("CARGO_PKG_VERSION"),
            "build_date": "2026-01-01T00:00:00.000Z",
            "build_snapshot": false,
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    }))
}

/// `HEAD /es/`: the clients' ping.
pub async fn ping() -> StatusCode {
    StatusCode::OK
}

/// `GET /es/_cluster/health`: green while ingest works, red when the WAL cannot be
/// written, yellow with other known problems.
pub async fn health(State(s): State<EsState>) -> Json<Value> {
    let status = cluster_status(&s);
    let shards = s.app.engine.catalog().len();
    Json(json!({
        "cluster_name": "skein",
        "status": status,
        "timed_out": false,
        "number_of_nodes": 1,
        "number_of_data_nodes": 1,
        "active_primary_shards": shards,
        "active_shards": shards,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": 0,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": 100.0
    }))
}

/// `red` when the WAL cannot be written (nothing can be acknowledged), `yellow` with
/// any other problem, else `green`.
fn cluster_status(s: &EsState) -> &'static str {
    let problems = s.app.engine.health().problems();
    if problems
        .iter()
        .any(|p| p.component == "wal" && p.severity == Severity::Error)
    {
        "red"
    } else if problems.is_empty() {
        "green"
    } else {
        "yellow"
    }
}

/// `GET /es/_cat/health`: one line (rsyslog's health check), or JSON with
/// `format=json`, with the columns of Elasticsearch's.
pub async fn cat_health(State(s): State<EsState>, Query(p): Query<CatParams>) -> Response {
    let status = cluster_status(&s);
    let shards = s.app.engine.catalog().len();
    let now = chrono::Utc::now();
    let epoch = now.timestamp().to_string();
    let time = now.format("%H:%M:%S").to_string();
    if p.format.as_deref() == Some("json") {
        return Json(json!([{
            "epoch": epoch, "timestamp": time, "cluster": "skein", "status": status,
            "node.total": "1", "node.data": "1", "shards": shards.to_string(),
            "pri": shards.to_string(), "relo": "0", "init": "0", "unassign": "0",
            "unassign.pri": "0", "pending_tasks": "0", "max_task_wait_time": "-",
            "active_shards_percent": "100.0%",
        }]))
        .into_response();
    }
    let header = if p.v.is_some() {
        "epoch      timestamp cluster status node.total node.data shards pri relo init unassign unassign.pri pending_tasks max_task_wait_time active_shards_percent\n"
    } else {
        ""
    };
    format!("{header}{epoch} {time} skein {status} 1 1 {shards} {shards} 0 0 0 0 0 - 100.0%\n")
        .into_response()
}

/// `GET /es/_cluster/settings`: what was put, as Elasticsearch answers it.
pub async fn get_cluster_settings(State(s): State<EsState>) -> Json<Value> {
    Json(cluster_settings(&s))
}

/// `PUT /es/_cluster/settings`: accepted and remembered (`persistent` and
/// `transient`, a `null` value removing its key), never applied.
pub async fn put_cluster_settings(
    State(s): State<EsState>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, EsError> {
    let put: Value = serde_json::from_slice(&body).map_err(|e| {
        EsError::bad_request(
            "parse_exception",
            format!("the body is not a JSON object of persistent and transient settings: {e}"),
        )
    })?;
    let mut settings = s.settings.lock().expect("lock");
    let stored = settings
        .entry(("cluster".into(), "settings".into()))
        .or_insert_with(|| json!({"persistent": {}, "transient": {}}));
    let mut answer = json!({"acknowledged": true, "persistent": {}, "transient": {}});
    for scope in ["persistent", "transient"] {
        let Some(given) = put.get(scope).and_then(Value::as_object) else {
            continue;
        };
        for (k, v) in given {
            if v.is_null() {
                stored[scope].as_object_mut().map(|m| m.remove(k));
            } else {
                stored[scope][k] = v.clone();
            }
            answer[scope][k] = v.clone();
        }
    }
    Ok(Json(answer))
}

fn cluster_settings(s: &EsState) -> Value {
    s.settings
        .lock()
        .expect("lock")
        .get(&("cluster".to_string(), "settings".to_string()))
        .cloned()
        .unwrap_or_else(|| json!({"persistent": {}, "transient": {}}))
}

/// `GET /es/_license`: a basic license, which is what shippers look for.
pub async fn license() -> Json<Value> {
    Json(json!({"license": {
        "status": "active", "uid": "skein", "type": "basic",
        "issue_date": "2026-01-01T00:00:00.000Z", "issue_date_in_millis": 1767225600000u64,
        "max_nodes": 1000, "max_resource_units": null,
        "issued_to": "skein", "issuer": "skein", "start_date_in_millis": -1
    }}))
}

/// `GET /es/_xpack`: no X-Pack features.
pub async fn xpack() -> Json<Value> {
    Json(json!({
        "build": {"hash": env!("CARGO_PKG_VERSION"), "date": "2026-01-01T00:00:00.000Z"},
        "license": {"uid": "skein", "type": "basic", "mode": "basic", "status": "active"},
        "features": {}
    }))
}

/// Query parameters of `_cat/indices`.
#[derive(Debug, Deserialize)]
pub struct CatParams {
    /// `json` for JSON, anything else for text.
    pub format: Option<String>,
    /// Present: a header line over the text.
    pub v: Option<String>,
}

/// `GET /es/_cat/indices`.
pub async fn cat_indices(s: State<EsState>, q: Query<CatParams>) -> Result<Response, EsError> {
    cat(s, q, None).await
}

/// `GET /es/_cat/indices/{index}`.
pub async fn cat_indices_of(
    s: State<EsState>,
    Path(index): Path<String>,
    q: Query<CatParams>,
) -> Result<Response, EsError> {
    cat(s, q, Some(index)).await
}

async fn cat(
    State(s): State<EsState>,
    Query(p): Query<CatParams>,
    pattern: Option<String>,
) -> Result<Response, EsError> {
    let names: Vec<String> = s.indices.lock().expect("lock").iter().cloned().collect();
    let patterns = super::search::index_patterns(pattern.as_deref().unwrap_or("*"));
    let mut rows = Vec::new();
    for name in names {
        if !patterns.is_empty() && !patterns.iter().any(|p| super::source::glob(p, &name)) {
            continue;
        }
        let count = super::search::count_docs(&s, &name).await?;
        rows.push(json!({
            "health": "green", "status": "open", "index": name, "uuid": name,
            "pri": "1", "rep": "0", "docs.count": count.to_string(), "docs.deleted": "0",
        }));
    }
    if p.format.as_deref() == Some("json") {
        return Ok(Json(Value::Array(rows)).into_response());
    }
    let text: String = rows
        .iter()
        .map(|r| {
            format!(
                "green open {} {} 1 0 {} 0\n",
                r["index"].as_str().unwrap_or(""),
                r["uuid"].as_str().unwrap_or(""),
                r["docs.count"].as_str().unwrap_or("0")
            )
        })
        .collect();
    Ok(text.into_response())
}

fn check_index_name(index: &str) -> Result<(), EsError> {
    if index.starts_with('_') {
        return Err(EsError::unsupported(format!("the endpoint /es/{index}")));
    }
    Ok(())
}

fn not_found(index: &str) -> EsError {
    EsError {
        status: StatusCode::NOT_FOUND,
        kind: "index_not_found_exception",
        reason: format!(
            "no such index [{index}]: skein knows the indices created or written to since \
             it started; writing to an index creates it"
        ),
        retry_after: None,
    }
}

/// `HEAD /es/{index}`: 200 when the index was created or written to, else 404.
pub async fn index_exists(State(s): State<EsState>, Path(index): Path<String>) -> StatusCode {
    if s.indices.lock().expect("lock").contains(&index) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

/// `GET /es/{index}`: a minimal description of a known index.
pub async fn get_index(
    State(s): State<EsState>,
    Path(index): Path<String>,
) -> Result<Json<Value>, EsError> {
    check_index_name(&index)?;
    if !s.indices.lock().expect("lock").contains(&index) {
        return Err(not_found(&index));
    }
    Ok(Json(json!({ index.clone(): {
        "aliases": {}, "mappings": {},
        "settings": {"index": {"number_of_shards": "1", "number_of_replicas": "0",
                               "provided_name": index}}
    }})))
}

/// `PUT /es/{index}`: remembers the name; mappings and settings in the body are not
/// applied (skein has one schema for every record).
pub async fn create_index(
    State(s): State<EsState>,
    Path(index): Path<String>,
) -> Result<Json<Value>, EsError> {
    check_index_name(&index)?;
    if !s.indices.lock().expect("lock").insert(index.clone()) {
        return Err(EsError::bad_request(
            "resource_already_exists_exception",
            format!("index [{index}] already exists"),
        ));
    }
    Ok(Json(
        json!({"acknowledged": true, "shards_acknowledged": true, "index": index}),
    ))
}

/// The kind of a setting from its path: `/_ilm/policy/x` → `_ilm/policy`.
fn setting_kind(uri: &Uri) -> String {
    let path = uri.path();
    let path = path.strip_prefix("/es").unwrap_or(path);
    let path = path.trim_start_matches('/');
    path.rsplit_once('/').map_or("", |(k, _)| k).to_string()
}

/// `PUT` of an index template, ILM policy or ingest pipeline: remembered, not applied.
pub async fn put_setting(
    State(s): State<EsState>,
    Path(name): Path<String>,
    uri: Uri,
    body: axum::body::Bytes,
) -> Json<Value> {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.settings
        .lock()
        .expect("lock")
        .insert((setting_kind(&uri), name), v);
    Json(json!({"acknowledged": true}))
}

/// `HEAD` of a template, policy or pipeline: 200 once it was put.
pub async fn setting_exists(
    State(s): State<EsState>,
    Path(name): Path<String>,
    uri: Uri,
) -> StatusCode {
    if s.settings
        .lock()
        .expect("lock")
        .contains_key(&(setting_kind(&uri), name))
    {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    }
}

/// `GET` of a template, policy or pipeline: what was put, or 404.
pub async fn get_setting(
    State(s): State<EsState>,
    Path(name): Path<String>,
    uri: Uri,
) -> Result<Json<Value>, EsError> {
    let kind = setting_kind(&uri);
    match s
        .settings
        .lock()
        .expect("lock")
        .get(&(kind.clone(), name.clone()))
    {
        Some(v) => Ok(Json(json!({ name: v }))),
        None => Err(EsError {
            status: StatusCode::NOT_FOUND,
            kind: "resource_not_found_exception",
            reason: format!("{kind} [{name}] not found"),
            retry_after: None,
        }),
    }
}

/// `POST /es/_refresh`: answers once everything acknowledged before it is searchable.
pub async fn refresh(State(s): State<EsState>) -> Result<Json<Value>, EsError> {
    wait_searchable(&s).await?;
    Ok(Json(
        json!({"_shards": {"total": 1, "successful": 1, "failed": 0}}),
    ))
}

/// `POST /es/{index}/_refresh`: as [`refresh`] (all indices share one store).
pub async fn refresh_index(
    s: State<EsState>,
    Path(_index): Path<String>,
) -> Result<Json<Value>, EsError> {
    refresh(s).await
}

/// Waits for the next commit covering everything acknowledged so far.
pub async fn wait_searchable(s: &EsState) -> Result<(), EsError> {
    if s.app.engine.wait_searchable(Duration::from_secs(30)).await {
        Ok(())
    } else {
        Err(EsError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "timeout_exception",
            reason: "acknowledged records did not become searchable within 30 s; the \
                     indexer is behind or failing, see /healthz"
                .into(),
            retry_after: Some(5),
        })
    }
}
