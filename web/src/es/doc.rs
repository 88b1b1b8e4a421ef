//! Single documents: `POST /es/{index}/_doc`, `PUT|POST /es/{index}/_doc/{id}`,
//! `PUT|POST /es/{index}/_create/{id}`, and `GET|HEAD /es/{index}/_doc/{id}`.
//!
//! A write is a one-document bulk: the same mapping ([`super::mapping`]), budget, WAL
//! and group commit ([`super::bulk::store`]), answered once durable. A document with an
//! `_id` that exists replaces it for every read (the indexer deletes the earlier one,
//! `skein_indexer::ids`); with `op_type=create` (and `_create`) it is refused with 409
//! instead, decided in WAL order so that of concurrent creates exactly one is stored.
//! A read waits, as Elasticsearch's real-time get answers from its translog, until what
//! was acknowledged before it is searchable (at most the commit interval).

use super::bulk::{conflict_reason, read_documents, store};
use super::error::EsError;
use super::mapping::map_document;
use super::search::{and_index, internal, source_of};
use super::source::SourceFilter;
use super::EsState;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use skein_indexer::ids;
use skein_model::Timestamp;
use skein_query::lang::print::to_query_string;
use skein_query::{Order, SearchRequest, Stop, Total};
use std::collections::HashMap;

/// Query parameters of a single-document write.
#[derive(Debug, Default, serde::Deserialize)]
pub struct WriteParams {
    /// `true` or `wait_for`: answer once the document is searchable.
    pub refresh: Option<String>,
    /// `index` (the default: replace a document with the id) or `create` (refuse).
    pub op_type: Option<String>,
    /// Accepted and ignored: skein answers once durable.
    pub timeout: Option<String>,
    /// Accepted and ignored: there is one copy.
    pub wait_for_active_shards: Option<String>,
    /// Accepted and ignored.
    pub pretty: Option<String>,
    /// Accepted and ignored.
    pub error_trace: Option<String>,
    /// Accepted and ignored.
    pub filter_path: Option<String>,
    /// Accepted and ignored.
    pub human: Option<String>,
    /// Only `false` is supported.
    pub require_alias: Option<String>,
    /// Not supported.
    pub pipeline: Option<String>,
    /// Not supported.
    pub routing: Option<String>,
    /// Not supported: skein keeps no versions.
    pub if_seq_no: Option<String>,
    /// Not supported: skein keeps no versions.
    pub if_primary_term: Option<String>,
    /// Not supported: skein keeps no versions.
    pub version: Option<String>,
    /// Not supported: skein keeps no versions.
    pub version_type: Option<String>,
}

/// `POST /es/{index}/_doc`: a new document, its `_id` generated.
pub async fn post_new(
    State(s): State<EsState>,
    Path(index): Path<String>,
    Query(q): Query<WriteParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, EsError> {
    let create = op_type_create(&q)?;
    write(s, index, None, create, q, headers, body).await
}

/// `PUT|POST /es/{index}/_doc/{id}`: the document with this id, replacing one stored
/// (or, with `op_type=create`, refused when one is).
pub async fn put(
    State(s): State<EsState>,
    Path((index, id)): Path<(String, String)>,
    Query(q): Query<WriteParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, EsError> {
    let create = op_type_create(&q)?;
    write(s, index, Some(id), create, q, headers, body).await
}

/// `PUT|POST /es/{index}/_create/{id}`: the document with this id, refused with 409
/// when one is stored.
pub async fn create(
    State(s): State<EsState>,
    Path((index, id)): Path<(String, String)>,
    Query(q): Query<WriteParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, EsError> {
    if q.op_type.as_deref().is_some_and(|o| o != "create") {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            "_create takes op_type=create only; use /{index}/_doc/{id} to replace a document",
        ));
    }
    write(s, index, Some(id), true, q, headers, body).await
}

fn op_type_create(q: &WriteParams) -> Result<bool, EsError> {
    match q.op_type.as_deref() {
        None | Some("index") => Ok(false),
        Some("create") => Ok(true),
        Some(other) => Err(EsError::bad_request(
            "illegal_argument_exception",
            format!("opType must be 'create' or 'index', found: [{other}]"),
        )),
    }
}

/// The 409 of a create whose `_id` is stored, in Elasticsearch's shape.
fn conflict(id: &str) -> EsError {
    EsError {
        status: StatusCode::CONFLICT,
        kind: "version_conflict_engine_exception",
        reason: conflict_reason(id),
        retry_after: None,
    }
}

async fn write(
    s: EsState,
    index: String,
    id: Option<String>,
    create: bool,
    q: WriteParams,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, EsError> {
    for (given, what) in [
        (&q.pipeline, "the `pipeline` parameter"),
        (&q.routing, "the `routing` parameter"),
        (
            &q.if_seq_no,
            "`if_seq_no` (skein keeps no versions; use op_type=create to store an id once)",
        ),
        (
            &q.if_primary_term,
            "`if_primary_term` (skein keeps no versions)",
        ),
        (&q.version, "`version` (skein keeps no versions)"),
        (&q.version_type, "`version_type` (skein keeps no versions)"),
    ] {
        if given.is_some() {
            return Err(EsError::unsupported(what));
        }
    }
    if q.require_alias.as_deref().is_some_and(|v| v != "false") {
        return Err(EsError::unsupported(
            "`require_alias=true` (skein has no aliases)",
        ));
    }
    let refresh = match q.refresh.as_deref() {
        None | Some("false") => false,
        Some("" | "true" | "wait_for") => true,
        Some(other) => {
            return Err(EsError::bad_request(
                "illegal_argument_exception",
                format!("unknown value for refresh: [{other}]; use true, false or wait_for"),
            ))
        }
    };
    if id.as_deref() == Some("") {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            "if _id is specified it must not be empty",
        ));
    }
    if index.is_empty() || index.starts_with('_') || index.contains(['*', ',', '/']) {
        return Err(EsError::bad_request(
            "invalid_index_name_exception",
            format!("Invalid index name [{index}]: name one index, not starting with `_`"),
        ));
    }
    let (mapped, permit) = {
        let (index, id) = (index.clone(), id.clone());
        read_documents(&s, &headers, body, move |decoded, horizon| {
            let doc = std::str::from_utf8(decoded).map_err(|_| {
                EsError::bad_request("document_parsing_exception", "the document is not UTF-8")
            })?;
            let record = map_document(doc.trim(), &index, id.as_deref(), Timestamp::now())
                .map_err(|e| EsError::bad_request("document_parsing_exception", e.0))?;
            if let Some(h) = horizon.filter(|h| record.timestamp < *h) {
                return Err(EsError::bad_request(
                    "illegal_argument_exception",
                    format!(
                        "@timestamp {} is older than the server keeps records (--retention, \
                         {}): it would be deleted at once",
                        record.timestamp.to_rfc3339(),
                        h.to_rfc3339()
                    ),
                ));
            }
            Ok(record)
        })
        .await?
    };
    // Whether this replaces a stored document: said in the answer only (`updated`), so
    // a document still on its way to the index counts as new here.
    let replaces = match (&id, create) {
        (Some(id), false) => {
            let (catalog, index, id) = (s.app.engine.catalog().clone(), index.clone(), id.clone());
            tokio::task::spawn_blocking(move || ids::any_holds(&catalog.all(), &index, &id))
                .await
                .map_err(internal)?
                .unwrap_or(false)
        }
        _ => false,
    };
    let outcome = store(&s, vec![mapped], vec![create && id.is_some()], permit).await?;
    if !outcome.conflicts.is_empty() {
        return Err(conflict(id.as_deref().unwrap_or_default()));
    }
    let id = match id {
        Some(id) => id,
        None => ids::generated_id(ids::ord_of(outcome.lsn.unwrap_or_default(), 0)),
    };
    s.remember(&index);
    if refresh {
        super::info::wait_searchable(&s).await?;
    }
    let (status, result) = if replaces {
        (StatusCode::OK, "updated")
    } else {
        (StatusCode::CREATED, "created")
    };
    Ok((
        status,
        Json(json!({
            "_index": index,
            "_id": id,
            "_version": 1,
            "result": result,
            "_shards": {"total": 1, "successful": 1, "failed": 0},
            "_seq_no": 0,
            "_primary_term": 1,
        })),
    )
        .into_response())
}

/// `GET /es/{index}/_doc/{id}`: the document, or 404 `found: false`.
pub async fn get(
    State(s): State<EsState>,
    Path((index, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, EsError> {
    let source = match params.get("_source").map(String::as_str) {
        None | Some("true") => SourceFilter::default(),
        Some("false") => SourceFilter::parse(&Value::Bool(false))?,
        Some(list) => SourceFilter::parse(&Value::String(list.to_string()))?,
    };
    let mut source = source;
    let split = |s: &String| s.split(',').map(|p| p.trim().to_string()).collect();
    if let Some(i) = params.get("_source_includes") {
        source.includes = split(i);
    }
    if let Some(e) = params.get("_source_excludes") {
        source.excludes = split(e);
    }
    if params.contains_key("routing") {
        return Err(EsError::unsupported("the `routing` parameter"));
    }
    match find(&s, &index, &id, &params).await? {
        Some((record_index, record)) => {
            let mut answer = json!({
                "_index": record_index,
                "_id": id,
                "_version": 1,
                "_seq_no": 0,
                "_primary_term": 1,
                "found": true,
            });
            if let Some(src) = source.apply(source_of(&record)) {
                answer["_source"] = src;
            }
            Ok(Json(answer).into_response())
        }
        None => Ok((
            StatusCode::NOT_FOUND,
            Json(json!({"_index": index, "_id": id, "found": false})),
        )
            .into_response()),
    }
}

/// `HEAD /es/{index}/_doc/{id}`: 200 when the document exists, else 404.
pub async fn exists(
    State(s): State<EsState>,
    Path((index, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<StatusCode, EsError> {
    Ok(match find(&s, &index, &id, &params).await? {
        Some(_) => StatusCode::OK,
        None => StatusCode::NOT_FOUND,
    })
}

/// The document `id` of `index` (its index as stored, and the record), after what was
/// acknowledged before the call is searchable (unless `realtime=false`).
async fn find(
    s: &EsState,
    index: &str,
    id: &str,
    params: &HashMap<String, String>,
) -> Result<Option<(String, skein_model::Record)>, EsError> {
    let realtime = params.get("realtime").map(String::as_str) != Some("false");
    let refresh = matches!(params.get("refresh").map(String::as_str), Some("" | "true"));
    if realtime || refresh {
        super::info::wait_searchable(s).await?;
    }
    if index.contains(['*', ',']) {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            format!("get takes one index name, not [{index}]"),
        ));
    }
    let node = and_index(index, super::dsl::id_node(id))?;
    let req = SearchRequest {
        q: to_query_string(&node),
        start: None,
        end: None,
        limit: 1,
        order: Order::Desc,
        // Whether it exists, not how many.
        total: Total::UpTo(0),
        cursor: None,
        now: Some(Timestamp::now()),
        stop: Stop::never(),
    };
    let engine = s.app.engine.clone();
    let res = tokio::task::spawn_blocking(move || skein_query::search(engine.catalog(), &req))
        .await
        .map_err(internal)?
        .map_err(internal)?;
    Ok(res.hits.into_iter().next().map(|r| {
        let index = match r.fields.get("_index") {
            Some(Value::String(s)) => s.clone(),
            _ => "skein".to_string(),
        };
        (index, r)
    }))
}
