//! Scroll (`_search?scroll=`, `_search/scroll`) and point in time (`_pit`, `_search`
//! with `pit`) under `/es`: pages over a snapshot of the index that later writes do not
//! change.
//!
//! **The snapshot.** A context pins a Tantivy searcher of every partition it may read
//! when it opens ([`PartitionShard::pinned`]) and keeps that list of partitions. Every
//! page reads through those searchers, so it sees exactly the segments and deletes
//! committed at opening: records committed later are not seen, whatever their
//! timestamp (a late record with an old time lands in a segment, or a partition, the
//! pinned searchers do not hold), and records a retention or delete by query removes
//! later are still seen. A bound on time or on ingest order would not be consistent:
//! late records carry old times, and records accepted before opening but committed
//! after it would appear between pages. (Partitions are pinned one after the other, so
//! a commit that lands while a context opens may be seen in one partition and not in
//! another, as Elasticsearch's shards refresh on their own.)
//!
//! **Memory.** A context holds the translated request (bounded by the request size
//! limit), the position after its last page (a [`Cursor`]) and the pinned searchers;
//! never the hits. The pinned segments stay on disk until the context is gone, as
//! Elasticsearch's do, which is why contexts expire and their number is limited
//! ([`Contexts::new`], the server's `--max-open-scrolls`).
//!
//! **Expiry.** Each use renews a context for its `scroll` / `keep_alive`; a reaper
//! thread drops expired ones every second, and an expired context is never served even
//! before the reaper gets to it. Contexts live in memory: a restart forgets them, and
//! their ids then answer 404 as expired ones do.

use super::error::EsError;
use super::search::{body_object, internal, SearchSpec};
use super::EsState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use skein_indexer::Catalog;
use skein_model::Timestamp;
use skein_query::PartitionShard;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// Default of the server's `--max-open-scrolls`, as Elasticsearch's
/// `search.max_open_scroll_context`.
pub const DEFAULT_MAX_OPEN: usize = 500;

/// Longest keep-alive accepted, as Elasticsearch's `search.max_keep_alive`.
const MAX_KEEP_ALIVE: Duration = Duration::from_secs(24 * 3600);

/// How often the reaper looks for expired contexts.
const REAP_EVERY: Duration = Duration::from_secs(1);

/// What kind of context an id names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Scroll,
    Pit,
}

/// A scroll's position: the search it pages through and where the next page starts.
struct ScrollState {
    /// The search of the opening request; `from` and `aggs` cleared after the first
    /// page, `after` moved along with every page.
    spec: SearchSpec,
    /// What `now` meant when the scroll opened, so date math means the same on every page.
    now: Timestamp,
    /// Set once a page came back short: every later page is empty.
    done: bool,
    /// `hits.total` of the first page, repeated on every later one: the snapshot does
    /// not change, so later pages do not count again ([`PartitionShard::uncounted`]).
    total: Option<Value>,
}

/// One open scroll or point in time.
struct Context {
    kind: Kind,
    /// The index pattern a point in time was opened on (empty for a scroll, whose
    /// spec already holds it).
    index: String,
    /// The partitions as they were at opening.
    shards: Vec<PartitionShard>,
    /// A scroll's position; locked while a page is read, so two requests on one scroll
    /// get consecutive pages.
    scroll: Option<Mutex<ScrollState>>,
}

struct Entry {
    context: Arc<Context>,
    keep_alive: Duration,
    expires: Instant,
}

/// The open scroll and point-in-time contexts of a server (shared by `/es` and
/// `--es-listen`).
pub struct Contexts {
    open: Mutex<HashMap<String, Entry>>,
    max_open: usize,
}

impl Contexts {
    /// An empty set holding at most `max_open` contexts at once (scrolls and points in
    /// time together), with its reaper thread, which ends when the set is dropped.
    pub fn new(max_open: usize) -> Arc<Contexts> {
        let contexts = Arc::new(Contexts {
            open: Mutex::default(),
            max_open,
        });
        let weak: Weak<Contexts> = Arc::downgrade(&contexts);
        let spawned = std::thread::Builder::new()
            .name("es-scroll-reaper".into())
            .spawn(move || loop {
                std::thread::sleep(REAP_EVERY);
                match weak.upgrade() {
                    Some(c) => c.reap(),
                    None => break,
                }
            });
        if let Err(e) = spawned {
            // Expired contexts are still never served, and are swept when one opens.
            tracing::warn!("cannot start the scroll reaper thread: {e}");
        }
        contexts
    }

    /// Contexts open now (expired ones the reaper has not dropped yet included).
    pub fn len(&self) -> usize {
        self.open.lock().expect("lock").len()
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the expired contexts (their pinned searchers with them).
    fn reap(&self) {
        let now = Instant::now();
        let expired: Vec<Entry> = {
            let mut open = self.open.lock().expect("lock");
            let ids: Vec<String> = open
                .iter()
                .filter(|(_, e)| e.expires <= now)
                .map(|(id, _)| id.clone())
                .collect();
            ids.iter().filter_map(|id| open.remove(id)).collect()
        };
        // Dropped outside the lock: a searcher's last reference may release files.
        drop(expired);
    }

    /// Refuses up front, before any work, a context that could not be kept.
    fn check_room(&self, kind: Kind) -> Result<(), EsError> {
        self.reap();
        match self.len() >= self.max_open {
            true => Err(self.too_many(kind)),
            false => Ok(()),
        }
    }

    /// Elasticsearch's answer past the limit, naming the flag that sets it.
    fn too_many(&self, kind: Kind) -> EsError {
        let what = match kind {
            Kind::Scroll => "scroll contexts",
            Kind::Pit => "point in time contexts",
        };
        EsError {
            status: StatusCode::TOO_MANY_REQUESTS,
            kind: "too_many_scroll_contexts_exception",
            reason: format!(
                "Trying to create too many {what}. Must be less than or equal to: [{}]. \
                 This limit can be set by changing the [--max-open-scrolls] setting. \
                 Clear the scrolls and points in time you no longer need \
                 (DELETE /_search/scroll, DELETE /_pit) or let them expire.",
                self.max_open
            ),
            retry_after: Some(1),
        }
    }

    /// Adds a context, or refuses it when `max_open` are open (checked again here: other
    /// requests may have opened some since [`Contexts::check_room`]).
    fn insert(&self, context: Context, keep_alive: Duration) -> Result<String, EsError> {
        self.reap();
        let mut open = self.open.lock().expect("lock");
        if open.len() >= self.max_open {
            return Err(self.too_many(context.kind));
        }
        let bytes: [u8; 18] = rand::random();
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        open.insert(
            id.clone(),
            Entry {
                context: Arc::new(context),
                keep_alive,
                expires: Instant::now() + keep_alive,
            },
        );
        Ok(id)
    }

    /// The live context `id` of `kind`, renewed for `keep_alive` (else for the one it
    /// had); a 404 in Elasticsearch's words when there is none.
    fn get(
        &self,
        id: &str,
        kind: Kind,
        keep_alive: Option<Duration>,
    ) -> Result<Arc<Context>, EsError> {
        let mut open = self.open.lock().expect("lock");
        let now = Instant::now();
        match open.get_mut(id) {
            Some(e) if e.context.kind == kind && e.expires > now => {
                if let Some(k) = keep_alive {
                    e.keep_alive = k;
                }
                e.expires = now + e.keep_alive;
                Ok(e.context.clone())
            }
            _ => Err(missing(id)),
        }
    }

    /// Removes the contexts named (of `kind`); how many there were.
    fn remove(&self, ids: &[String], kind: Kind) -> usize {
        let now = Instant::now();
        let mut open = self.open.lock().expect("lock");
        let mut freed = Vec::new();
        for id in ids {
            if open
                .get(id)
                .is_some_and(|e| e.context.kind == kind && e.expires > now)
            {
                freed.extend(open.remove(id));
            }
        }
        let n = freed.len();
        drop(open);
        drop(freed);
        n
    }

    /// Removes every context of `kind`; how many there were.
    fn remove_all(&self, kind: Kind) -> usize {
        let ids: Vec<String> = {
            let open = self.open.lock().expect("lock");
            open.iter()
                .filter(|(_, e)| e.context.kind == kind)
                .map(|(id, _)| id.clone())
                .collect()
        };
        self.remove(&ids, kind)
    }
}

fn missing(id: &str) -> EsError {
    EsError {
        status: StatusCode::NOT_FOUND,
        kind: "search_context_missing_exception",
        reason: format!(
            "No search context found for id [{id}]: it expired (its keep-alive passed without \
             a request), was cleared, or the server restarted; open a new scroll or point in time"
        ),
        retry_after: None,
    }
}

fn validation(reason: impl Into<String>) -> EsError {
    EsError::bad_request(
        "action_request_validation_exception",
        format!("Validation Failed: 1: {};", reason.into()),
    )
}

/// A keep-alive such as `1m`, `30s` or `500ms`, at most [`MAX_KEEP_ALIVE`].
fn keep_alive(name: &str, v: &Value) -> Result<Duration, EsError> {
    let text = match v {
        Value::String(s) => s.trim().to_string(),
        other => other.to_string(),
    };
    let bad = || {
        EsError::bad_request(
            "illegal_argument_exception",
            format!("`{name}` is {text:?}; give a duration such as 1m, 30s or 500ms"),
        )
    };
    let d = match skein_query::Stop::parse_timeout(Some(&text), None) {
        Ok(Some(d)) if !d.is_zero() => d,
        _ => return Err(bad()),
    };
    if d > MAX_KEEP_ALIVE {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            format!(
                "Keep alive for request ({text}) is too large. It must be less than (24h). \
                 Ask for a shorter `{name}`; each request renews it"
            ),
        ));
    }
    Ok(d)
}

/// The partitions a context may read, pinned as they are now.
fn pin(catalog: &Catalog, start: Option<Timestamp>, end: Option<Timestamp>) -> Vec<PartitionShard> {
    PartitionShard::overlapping(catalog, start, end)
        .into_iter()
        .map(PartitionShard::pinned)
        .collect()
}

/// `_search` with `?scroll=` or a `pit` in the body (called by
/// [`super::search::search`] with the body already parsed).
pub async fn search(
    s: EsState,
    index: String,
    mut params: HashMap<String, String>,
    mut body: Map<String, Value>,
) -> Result<Response, EsError> {
    let scroll = params.remove("scroll");
    let pit = body.remove("pit");
    match (scroll, pit) {
        (Some(_), Some(_)) => Err(validation(
            "using [point in time] is not allowed in a scroll context",
        )),
        (Some(scroll), None) => open_scroll(s, index, params, body, &scroll).await,
        (None, Some(pit)) => pit_search(s, index, params, body, pit).await,
        (None, None) => unreachable!("called for scroll or pit only"),
    }
}

async fn open_scroll(
    s: EsState,
    index: String,
    params: HashMap<String, String>,
    body: Map<String, Value>,
    scroll: &str,
) -> Result<Response, EsError> {
    let keep = keep_alive("scroll", &Value::String(scroll.to_string()))?;
    if body.get("search_after").is_some_and(|v| !v.is_null()) {
        return Err(validation(
            "`search_after` cannot be used in a scroll context",
        ));
    }
    let from = params
        .get("from")
        .cloned()
        .or_else(|| body.get("from").map(|v| v.to_string()));
    if from.is_some_and(|f| f != "0" && f != "null") {
        return Err(validation(
            "using [from] is not allowed in a scroll context",
        ));
    }
    let size = params
        .get("size")
        .cloned()
        .or_else(|| body.get("size").map(|v| v.to_string()));
    if size.as_deref() == Some("0") {
        return Err(validation("[size] cannot be [0] in a scroll context"));
    }
    let now = Timestamp::now();
    let mut spec = SearchSpec::new(&index, body, &params, now)?;
    spec.set_scroll();
    s.app.es_contexts.check_room(Kind::Scroll)?;
    let stop = spec.stop(&s.app.limits)?;
    let _cancel_on_disconnect = stop.on_drop();
    let engine = s.app.engine.clone();
    let agg_limits = s.app.limits.agg;
    let contexts = s.app.es_contexts.clone();
    let out = tokio::task::spawn_blocking(move || {
        let catalog = engine.catalog();
        let (start, end) = spec.time_bounds();
        let shards = pin(catalog, start, end);
        let (out, cursor) = spec.run_page(catalog, Some(&shards), now, &agg_limits, &stop)?;
        if stop.timed_out() {
            return Err(page_timed_out());
        }
        let mut state = ScrollState {
            spec,
            now,
            done: cursor.is_none(),
            total: out["hits"].get("total").cloned(),
        };
        state.spec.next_page(cursor);
        let id = contexts.insert(
            Context {
                kind: Kind::Scroll,
                index: String::new(),
                shards: shards.into_iter().map(PartitionShard::uncounted).collect(),
                scroll: Some(Mutex::new(state)),
            },
            keep,
        )?;
        Ok::<_, EsError>(with_id(out, "_scroll_id", &id))
    })
    .await
    .map_err(internal)??;
    Ok(Json(super::search::with_filter_path(&params, out)).into_response())
}

/// A scroll's total in the form a request asks for (`rest_total_hits_as_int`).
fn total_as(total: &Value, as_int: bool) -> Value {
    match (total, as_int) {
        (Value::Object(o), true) => o.get("value").cloned().unwrap_or(Value::Null),
        (Value::Number(n), false) => json!({"value": n, "relation": "eq"}),
        (t, _) => t.clone(),
    }
}

/// A page that ran out of time may miss hits; a scroll cannot skip them, so it is not
/// served (the scroll stays where it was).
fn page_timed_out() -> EsError {
    EsError {
        status: StatusCode::GATEWAY_TIMEOUT,
        kind: "search_timeout_exception",
        reason: "this scroll page ran past its time limit (`timeout`, else the server's \
                 --query-timeout) and could have missed hits; the scroll has not moved: ask \
                 for the page again, with a smaller `size` or a longer `timeout`"
            .into(),
        retry_after: None,
    }
}

/// `answer` with `"key": id` first, as Elasticsearch orders it.
fn with_id(answer: Value, key: &str, id: &str) -> Value {
    let mut out = Map::new();
    out.insert(key.to_string(), Value::String(id.to_string()));
    if let Value::Object(o) = answer {
        out.extend(o);
    }
    Value::Object(out)
}

/// `GET|POST /es/_search/scroll` and `/es/_search/scroll/{id}`: the next page.
pub async fn next(
    State(s): State<EsState>,
    id: Option<Path<String>>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, EsError> {
    let body = body_object(&body)?;
    for k in body.keys() {
        if k != "scroll_id" && k != "scroll" {
            return Err(EsError::unsupported(format!("`{k}` in a scroll request")));
        }
    }
    for k in params.keys() {
        if !matches!(
            k.as_str(),
            "scroll_id"
                | "scroll"
                | "rest_total_hits_as_int"
                | "filter_path"
                | "pretty"
                | "human"
                | "error_trace"
        ) {
            return Err(EsError::unsupported(format!(
                "the URL parameter `{k}` of a scroll request"
            )));
        }
    }
    let id = match (body.get("scroll_id"), params.get("scroll_id"), id) {
        (Some(Value::String(i)), _, _) => i.clone(),
        (Some(other), _, _) => {
            return Err(EsError::bad_request(
                "parsing_exception",
                format!("`scroll_id` is the `_scroll_id` string of the previous page, not {other}"),
            ))
        }
        (None, Some(i), _) => i.clone(),
        (None, None, Some(Path(i))) => i,
        (None, None, None) => return Err(validation("scroll id is missing")),
    };
    let keep = match (body.get("scroll"), params.get("scroll")) {
        (Some(v), _) => Some(keep_alive("scroll", v)?),
        (None, Some(p)) => Some(keep_alive("scroll", &Value::String(p.clone()))?),
        (None, None) => None,
    };
    let context = s.app.es_contexts.get(&id, Kind::Scroll, keep)?;
    let total_as_int = params.get("rest_total_hits_as_int").map(String::as_str) == Some("true");
    let engine = s.app.engine.clone();
    let limits = s.app.limits.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut state = context
            .scroll
            .as_ref()
            .expect("a scroll context holds its state")
            .lock()
            .expect("lock");
        state.spec.set_total_as_int(total_as_int);
        let stop = state.spec.stop(&limits)?;
        if state.done {
            let mut hits = json!({"max_score": null, "hits": []});
            if let Some(t) = &state.total {
                hits["total"] = total_as(t, total_as_int);
            }
            return Ok(json!({
                "took": 0,
                "timed_out": false,
                "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                "hits": hits,
            }));
        }
        let (out, cursor) = state.spec.run_page(
            engine.catalog(),
            Some(&context.shards),
            state.now,
            &limits.agg,
            &stop,
        )?;
        if stop.timed_out() {
            return Err(page_timed_out());
        }
        state.done = cursor.is_none();
        state.spec.next_page(cursor);
        let mut out = out;
        if let Some(t) = &state.total {
            out["hits"]["total"] = total_as(t, total_as_int);
        }
        Ok::<_, EsError>(out)
    })
    .await
    .map_err(internal)??;
    Ok(Json(super::search::with_filter_path(
        &params,
        with_id(out, "_scroll_id", &id),
    )))
}

/// The ids of a clear request: `scroll_id` (or `id`) in the body as a string or a list,
/// else the path's comma-separated ids; `None` for `_all`.
fn ids_of(
    body: &Map<String, Value>,
    key: &str,
    path: Option<String>,
) -> Result<Option<Vec<String>>, EsError> {
    let ids: Vec<String> = match body.get(key) {
        Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    EsError::bad_request(
                        "parsing_exception",
                        format!("`{key}` holds id strings, not {v}"),
                    )
                })
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(EsError::bad_request(
                "parsing_exception",
                format!("`{key}` is an id string or a list of them, not {other}"),
            ))
        }
        None => path
            .map(|p| p.split(',').map(str::to_string).collect())
            .unwrap_or_default(),
    };
    if ids.iter().any(|i| i == "_all") {
        return Ok(None);
    }
    if ids.is_empty() {
        return Err(validation(format!("no `{key}` given")));
    }
    Ok(Some(ids))
}

/// Elasticsearch's answer to a clear: 200 when something was freed, else 404 with the
/// same body.
fn freed(n: usize) -> Response {
    let status = if n > 0 {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    (status, Json(json!({"succeeded": true, "num_freed": n}))).into_response()
}

/// `DELETE /es/_search/scroll` (body `{"scroll_id": …}`) and
/// `/es/_search/scroll/{ids|_all}`.
pub async fn clear(
    State(s): State<EsState>,
    id: Option<Path<String>>,
    body: Bytes,
) -> Result<Response, EsError> {
    let body = body_object(&body)?;
    let n = match ids_of(&body, "scroll_id", id.map(|Path(i)| i))? {
        None => s.app.es_contexts.remove_all(Kind::Scroll),
        Some(ids) => s.app.es_contexts.remove(&ids, Kind::Scroll),
    };
    Ok(freed(n))
}

/// `POST /es/{index}/_pit?keep_alive=1m`: opens a point in time on `index`.
pub async fn open_pit(
    State(s): State<EsState>,
    Path(index): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Value>, EsError> {
    for k in params.keys() {
        if !matches!(
            k.as_str(),
            "keep_alive"
                | "ignore_unavailable"
                | "expand_wildcards"
                | "preference"
                | "routing"
                | "allow_partial_search_results"
                | "pretty"
                | "human"
                | "error_trace"
                | "filter_path"
        ) {
            return Err(EsError::unsupported(format!(
                "the URL parameter `{k}` of _pit"
            )));
        }
    }
    let keep = match params.get("keep_alive") {
        Some(k) => keep_alive("keep_alive", &Value::String(k.clone()))?,
        None => return Err(validation("[keep_alive] is not specified")),
    };
    // Validate the pattern now rather than on every search.
    super::search::index_restriction(&index)?;
    s.app.es_contexts.check_room(Kind::Pit)?;
    let engine = s.app.engine.clone();
    let contexts = s.app.es_contexts.clone();
    let id = tokio::task::spawn_blocking(move || {
        let shards = pin(engine.catalog(), None, None);
        contexts.insert(
            Context {
                kind: Kind::Pit,
                index,
                shards,
                scroll: None,
            },
            keep,
        )
    })
    .await
    .map_err(internal)??;
    Ok(Json(json!({
        "id": id,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
    })))
}

/// `_search` with `{"pit": {"id": …, "keep_alive": …}}`: the search over the point in
/// time's snapshot, on the index it was opened on.
async fn pit_search(
    s: EsState,
    index: String,
    params: HashMap<String, String>,
    body: Map<String, Value>,
    pit: Value,
) -> Result<Response, EsError> {
    if !index.is_empty() {
        return Err(validation(
            "[indices] cannot be used with point in time. Do not specify any index with point \
             in time (search /_search, not /{index}/_search)",
        ));
    }
    let Value::Object(pit) = pit else {
        return Err(EsError::bad_request(
            "parsing_exception",
            format!("`pit` is {{\"id\": …, \"keep_alive\": …}}, not {pit}"),
        ));
    };
    if let Some(k) = pit.keys().find(|k| *k != "id" && *k != "keep_alive") {
        return Err(EsError::unsupported(format!("`pit.{k}`")));
    }
    let id = match pit.get("id") {
        Some(Value::String(i)) => i.clone(),
        _ => {
            return Err(validation(
                "`pit.id` is missing: give the `id` _pit answered",
            ))
        }
    };
    let keep = pit
        .get("keep_alive")
        .map(|k| keep_alive("pit.keep_alive", k))
        .transpose()?;
    if body.contains_key("aggs") || body.contains_key("aggregations") {
        return Err(EsError::unsupported(
            "`aggs` with a point in time (aggregations read the live index; run them without `pit`)",
        ));
    }
    let context = s.app.es_contexts.get(&id, Kind::Pit, keep)?;
    let now = Timestamp::now();
    let mut spec = SearchSpec::new(&context.index, body, &params, now)?;
    spec.set_pit();
    let stop = spec.stop(&s.app.limits)?;
    let _cancel_on_disconnect = stop.on_drop();
    let engine = s.app.engine.clone();
    let agg_limits = s.app.limits.agg;
    let out = tokio::task::spawn_blocking(move || {
        spec.run_page(
            engine.catalog(),
            Some(&context.shards),
            now,
            &agg_limits,
            &stop,
        )
        .map(|(out, _)| out)
    })
    .await
    .map_err(internal)??;
    Ok(Json(super::search::with_filter_path(
        &params,
        with_id(out, "pit_id", &id),
    ))
    .into_response())
}

/// `DELETE /es/_pit` with `{"id": …}`.
pub async fn close_pit(State(s): State<EsState>, body: Bytes) -> Result<Response, EsError> {
    let body = body_object(&body)?;
    let n = match ids_of(&body, "id", None)? {
        None => s.app.es_contexts.remove_all(Kind::Pit),
        Some(ids) => s.app.es_contexts.remove(&ids, Kind::Pit),
    };
    Ok(freed(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(kind: Kind) -> Context {
        Context {
            kind,
            index: String::new(),
            shards: Vec::new(),
            scroll: None,
        }
    }

    #[test]
    fn the_limit_counts_scrolls_and_pits_and_frees_on_clear() {
        let c = Contexts::new(2);
        let a = c
            .insert(context(Kind::Scroll), Duration::from_secs(60))
            .unwrap();
        c.insert(context(Kind::Pit), Duration::from_secs(60))
            .unwrap();
        let e = c
            .insert(context(Kind::Scroll), Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(
            e.reason.contains("less than or equal to: [2]"),
            "{}",
            e.reason
        );
        // A scroll id does not clear a point in time, nor the other way round.
        assert_eq!(c.remove(std::slice::from_ref(&a), Kind::Pit), 0);
        assert_eq!(c.remove(std::slice::from_ref(&a), Kind::Scroll), 1);
        c.insert(context(Kind::Scroll), Duration::from_secs(60))
            .unwrap();
        assert_eq!(c.remove_all(Kind::Pit), 1);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn expired_contexts_are_never_served_and_use_renews() {
        let c = Contexts::new(10);
        let short = c
            .insert(context(Kind::Scroll), Duration::from_millis(300))
            .unwrap();
        let kept = c
            .insert(context(Kind::Pit), Duration::from_millis(300))
            .unwrap();
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(150));
            c.get(&kept, Kind::Pit, None).unwrap();
        }
        let e = c.get(&short, Kind::Scroll, None).err().unwrap();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
        assert_eq!(e.kind, "search_context_missing_exception");
        assert!(
            c.get(&kept, Kind::Scroll, None).is_err(),
            "a PIT id is no scroll id"
        );
        // A renewal may also change the keep-alive.
        c.get(&kept, Kind::Pit, Some(Duration::from_secs(60)))
            .unwrap();
        std::thread::sleep(Duration::from_millis(400));
        c.get(&kept, Kind::Pit, None).unwrap();
        // The reaper (every second) drops the expired one.
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn keep_alives_are_durations_up_to_a_day() {
        let k = |s: &str| keep_alive("scroll", &Value::String(s.into()));
        assert_eq!(k("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(k("500ms").unwrap(), Duration::from_millis(500));
        assert!(k("24h").is_ok());
        assert!(k("25h").unwrap_err().reason.contains("too large"));
        assert!(k("soon").is_err());
        assert!(k("0").is_err());
    }
}
