//! `_search`, `_count` and `_msearch` under `/es`, answered in Elasticsearch's shape.
//!
//! A request becomes one query-language string (the index pattern of the path as a
//! condition on `_index`, AND the translated DSL query), run by `skein_query::search`
//! over the time partitions; hits come newest first unless `sort` says
//! `@timestamp: asc`. `from` + `size` is at most 10,000 (Elasticsearch's default result
//! window); `search_after` with a page's last `sort` value continues exactly after it.
//!
//! Index patterns: `*`, `_all` or none mean every record; `skein` means the records that
//! came in through `/api/v1/ingest` (they have no `_index`); other names match `_index`
//! exactly, or by prefix with one trailing `*`.

use super::dsl;
use super::error::EsError;
use super::source::SourceFilter;
use super::EsState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};
use skein_model::{Record, Timestamp};
use skein_query::lang::ast::{Leaf, Node, Value as V, WildPart};
use skein_query::lang::print::to_query_string;
use skein_query::shard::SortKey;
use skein_query::sort_by_field::{self, FieldKey, FieldSearch, SortField, SortValue};
use skein_query::{Cursor, Order, PartitionShard, SearchError, SearchRequest, Stop, Total};
use std::collections::HashMap;
use std::ops::Bound;
use std::time::Instant;

/// Largest `from + size`, as Elasticsearch's `index.max_result_window`.
pub const MAX_WINDOW: usize = 10_000;
/// Hits per page when `size` is not given, as in Elasticsearch.
const DEFAULT_SIZE: usize = 10;
/// Totals are counted exactly up to here unless `track_total_hits` says otherwise.
const DEFAULT_TRACK: u64 = 10_000;

/// URL parameters every search route accepts. All but `filter_path` (applied to the
/// answer last, [`with_filter_path`]) change nothing in skein's answers.
const IGNORED_PARAMS: &[&str] = &[
    "pretty",
    "human",
    "error_trace",
    "filter_path",
    "ignore_unavailable",
    "allow_no_indices",
    "expand_wildcards",
    "search_type",
    "preference",
    "request_cache",
    "timeout",
    "ccs_minimize_roundtrips",
    "allow_partial_search_results",
    "batched_reduce_size",
    "max_concurrent_shard_requests",
    "pre_filter_shard_size",
    "typed_keys",
    "ignore_throttled",
];

/// `GET|POST /es/_search` and `/es/{index}/_search`.
pub async fn search(
    State(s): State<EsState>,
    index: Option<Path<String>>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, EsError> {
    let index = index.map(|Path(i)| i).unwrap_or_default();
    let body = body_object(&body)?;
    if params.contains_key("scroll") || body.contains_key("pit") {
        return super::scroll::search(s, index, params, body).await;
    }
    let engine = s.app.engine.clone();
    let now = Timestamp::now();
    let req = SearchSpec::new(&index, body, &params, now)?;
    let stop = req.stop(&s.app.limits)?;
    let _cancel_on_disconnect = stop.on_drop();
    let agg_limits = s.app.limits.agg;
    let out =
        tokio::task::spawn_blocking(move || req.run(engine.catalog(), now, &agg_limits, &stop))
            .await
            .map_err(internal)??;
    Ok(Json(with_filter_path(&params, out)).into_response())
}

/// `answer` reduced to what the `filter_path` parameter selects, if one was given.
pub(super) fn with_filter_path(params: &HashMap<String, String>, answer: Value) -> Value {
    match params
        .get("filter_path")
        .and_then(|p| super::filter_path::FilterPath::parse(p))
    {
        Some(filter) => filter.apply(answer),
        None => answer,
    }
}

/// `GET|POST /es/_count` and `/es/{index}/_count`.
pub async fn count(
    State(s): State<EsState>,
    index: Option<Path<String>>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, EsError> {
    let index = index.map(|Path(i)| i).unwrap_or_default();
    let body = body_object(&body)?;
    if let Some(k) = body.keys().find(|k| *k != "query") {
        return Err(EsError::unsupported(format!("`{k}` in a _count request")));
    }
    let mut allowed: Vec<&str> = IGNORED_PARAMS.to_vec();
    allowed.push("q");
    check_params(&params, &allowed)?;
    let now = Timestamp::now();
    let node = and_index(&index, query_node(body.get("query"), params.get("q"), now)?)?;
    let stop = crate::search::stop_param(params.get("timeout").map(String::as_str), &s.app.limits)
        .map_err(EsError::from)?;
    let _cancel_on_disconnect = stop.on_drop();
    let engine = s.app.engine.clone();
    let total = tokio::task::spawn_blocking(move || total_of(engine.catalog(), &node, now, stop))
        .await
        .map_err(internal)??;
    Ok(Json(with_filter_path(
        &params,
        json!({
            "count": total,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
        }),
    )))
}

/// `GET|POST /es/_msearch` and `/es/{index}/_msearch`: the index of the path is the
/// default for headers that name none.
pub async fn msearch(
    State(s): State<EsState>,
    index: Option<Path<String>>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Json<Value>, EsError> {
    let default_index = index.map(|Path(i)| i).unwrap_or_default();
    let started = Instant::now();
    let mut allowed: Vec<&str> = IGNORED_PARAMS.to_vec();
    allowed.extend(["max_concurrent_searches", "rest_total_hits_as_int"]);
    check_params(&params, &allowed)?;
    let limits = &s.app.limits;
    let concurrency = msearch_concurrency(&params, limits.msearch_concurrency)?;
    let lines: Vec<&[u8]> = super::bulk::ndjson_lines(&body)
        .map(|(_, l)| l)
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    if !lines.len().is_multiple_of(2) {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            "an _msearch body is pairs of lines: a header ({} or {\"index\":\"…\"}) and a search body",
        ));
    }
    // Every answer is held until the last search is done: their number bounds the
    // memory one request takes.
    let searches = lines.len() / 2;
    if searches > limits.max_msearch {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            format!(
                "this _msearch holds {searches} searches, more than the limit of {} (the \
                 server's --max-msearch); send them in requests of at most {} searches",
                limits.max_msearch, limits.max_msearch
            ),
        ));
    }
    let now = Timestamp::now();
    // What applies to every search of the request.
    let each: HashMap<String, String> = params
        .iter()
        .filter(|(k, _)| k.as_str() == "rest_total_hits_as_int")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut specs = Vec::new();
    for pair in lines.chunks(2) {
        let spec = (|| {
            let header = body_object(pair[0])?;
            let index = match header.get("index") {
                None => default_index.clone(),
                Some(Value::String(s)) => s.clone(),
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                Some(other) => {
                    return Err(EsError::bad_request(
                        "parsing_exception",
                        format!("_msearch header `index` is a name or a list, not {other}"),
                    ))
                }
            };
            if let Some(k) = header.keys().find(|k| {
                !matches!(
                    k.as_str(),
                    "index"
                        | "ignore_unavailable"
                        | "allow_no_indices"
                        | "expand_wildcards"
                        | "search_type"
                        | "preference"
                        | "request_cache"
                )
            }) {
                return Err(EsError::unsupported(format!("`{k}` in an _msearch header")));
            }
            SearchSpec::new(&index, body_object(pair[1])?, &each, now)
        })();
        specs.push(spec);
    }
    let stop = crate::search::stop_param(params.get("timeout").map(String::as_str), &s.app.limits)
        .map_err(EsError::from)?;
    let _cancel_on_disconnect = stop.on_drop();
    let engine = s.app.engine.clone();
    let agg_limits = limits.agg;
    let responses = tokio::task::spawn_blocking(move || {
        run_bounded(specs, concurrency, |spec| {
            match spec.and_then(|s| s.run(engine.catalog(), now, &agg_limits, &stop)) {
                Ok(mut v) => {
                    v["status"] = json!(200);
                    v
                }
                Err(e) => e.body(),
            }
        })
    })
    .await
    .map_err(internal)?;
    Ok(Json(with_filter_path(
        &params,
        json!({
            "took": started.elapsed().as_millis() as u64,
            "responses": responses,
        }),
    )))
}

/// How many searches of one `_msearch` run at once: the `max_concurrent_searches` URL
/// parameter, capped at `cap`.
fn msearch_concurrency(params: &HashMap<String, String>, cap: usize) -> Result<usize, EsError> {
    let cap = cap.max(1);
    match params.get("max_concurrent_searches") {
        None => Ok(cap),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n.min(cap)),
            _ => Err(EsError::bad_request(
                "illegal_argument_exception",
                format!("`max_concurrent_searches` is {v:?}; give a whole number of at least 1"),
            )),
        },
    }
}

/// `run` over `items` on at most `threads` threads at once, answers in `items`' order.
fn run_bounded<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    run: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.into_iter().map(run).collect();
    }
    let n = items.len();
    let queue = std::sync::Mutex::new(items.into_iter().enumerate());
    let mut out: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let next = queue.lock().expect("lock").next();
                        let Some((i, item)) = next else { break };
                        done.push((i, run(item)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("an _msearch worker panicked"))
            .collect()
    });
    debug_assert_eq!(out.len(), n);
    out.sort_unstable_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

pub(super) fn internal(e: impl std::fmt::Display) -> EsError {
    EsError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "exception",
        reason: e.to_string(),
        retry_after: None,
    }
}

pub(super) fn body_object(body: &[u8]) -> Result<Map<String, Value>, EsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(o)) => Ok(o),
        Ok(other) => Err(EsError::bad_request(
            "parsing_exception",
            format!("the request body must be a JSON object, not {other}"),
        )),
        Err(e) => Err(EsError::bad_request(
            "parsing_exception",
            format!("the request body is not valid JSON: {e}"),
        )),
    }
}

fn check_params(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), EsError> {
    let mut unknown: Vec<&String> = params
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    unknown.sort();
    match unknown.first() {
        Some(k) => Err(EsError::unsupported(format!("the URL parameter `{k}`"))),
        None => Ok(()),
    }
}

/// The query of a body (`query`) or of the `q` URL parameter (the query language).
fn query_node(query: Option<&Value>, q: Option<&String>, now: Timestamp) -> Result<Node, EsError> {
    match (query, q) {
        (Some(_), Some(_)) => Err(EsError::bad_request(
            "illegal_argument_exception",
            "give the query either in the body (`query`) or as `q`, not both",
        )),
        (Some(v), None) => dsl::translate(v, now),
        (None, Some(q)) => dsl::translate(&json!({"query_string": {"query": q}}), now),
        (None, None) => Ok(Node::All),
    }
}

/// Index names or patterns of a path (`a,b*`), empty for every record.
pub fn index_patterns(index: &str) -> Vec<String> {
    let parts: Vec<String> = index
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if parts.iter().any(|p| p == "*" || p == "_all") {
        Vec::new()
    } else {
        parts
    }
}

fn index_leaf(value: V) -> Node {
    Node::Leaf(Leaf {
        field: Some("_index".into()),
        value,
        pos: 0,
    })
}

/// Whether `index` is a pattern searches accept (an error naming what is not).
pub(super) fn index_restriction(index: &str) -> Result<(), EsError> {
    and_index(index, Node::All).map(|_| ())
}

/// `node` restricted to the records of the index pattern `index`.
pub(super) fn and_index(index: &str, node: Node) -> Result<Node, EsError> {
    let patterns = index_patterns(index);
    if patterns.is_empty() {
        return Ok(node);
    }
    let mut alts = Vec::new();
    for p in patterns {
        if p.starts_with('-') {
            return Err(EsError::unsupported(format!("the index exclusion `{p}`")));
        }
        if p == "skein" {
            alts.push(Node::Not(Box::new(index_leaf(V::Exists))));
            continue;
        }
        let stars = p.matches('*').count();
        if stars == 0 {
            alts.push(index_leaf(V::Phrase(p)));
        } else if stars == 1 && p.ends_with('*') {
            let mut parts: Vec<WildPart> = p[..p.len() - 1].chars().map(WildPart::Lit).collect();
            parts.push(WildPart::Any);
            alts.push(index_leaf(V::Wildcard(parts)));
        } else {
            return Err(EsError::unsupported(format!(
                "the index pattern `{p}`; use names or one trailing `*`"
            )));
        }
    }
    let restrict = if alts.len() == 1 {
        alts.pop().expect("one")
    } else {
        Node::Or(alts)
    };
    Ok(match node {
        Node::All => restrict,
        other => Node::And(vec![restrict, other]),
    })
}

/// `@timestamp` bounds that every hit must satisfy (a top-level range, alone or in an
/// AND), so that only the partitions overlapping them are opened.
fn time_bounds(node: &Node) -> (Option<Timestamp>, Option<Timestamp>) {
    let (mut start, mut end) = (None, None);
    let items: Vec<&Node> = match node {
        Node::And(v) => v.iter().collect(),
        other => vec![other],
    };
    for item in items {
        if let Node::Leaf(Leaf {
            field: Some(f),
            value: V::Range { lower, upper },
            ..
        }) = item
        {
            if f != "@timestamp" {
                continue;
            }
            let t = |s: &String| Timestamp::parse_rfc3339(s).ok();
            match lower {
                Bound::Included(s) => start = start.max(t(s)),
                Bound::Excluded(s) => start = start.max(t(s).map(|t| Timestamp(t.0 + 1))),
                Bound::Unbounded => {}
            }
            let e = match upper {
                Bound::Included(s) => t(s),
                Bound::Excluded(s) => t(s).map(|t| Timestamp(t.0 - 1)),
                Bound::Unbounded => None,
            };
            if let Some(e) = e {
                end = Some(end.map_or(e, |x: Timestamp| x.min(e)));
            }
        }
    }
    (start, end)
}

fn search_error(e: SearchError) -> EsError {
    match e {
        SearchError::Cancelled => crate::search::cancelled().into(),
        SearchError::Query(q) => EsError::bad_request(
            "query_shard_exception",
            format!("{}: {}", q.query, q.reason),
        ),
        other => internal(other),
    }
}

fn total_of(
    catalog: &skein_indexer::Catalog,
    node: &Node,
    now: Timestamp,
    stop: Stop,
) -> Result<u64, EsError> {
    let (start, end) = time_bounds(node);
    let req = SearchRequest {
        q: to_query_string(node),
        start,
        end,
        limit: 0,
        order: Order::Desc,
        total: Total::Exact,
        cursor: None,
        now: Some(now),
        stop,
    };
    skein_query::search(catalog, &req)
        .map(|r| r.total.unwrap_or(0))
        .map_err(search_error)
}

/// Records stored under index `name`, for `_cat/indices`.
pub async fn count_docs(s: &EsState, name: &str) -> Result<u64, EsError> {
    let node = index_leaf(V::Phrase(name.to_string()));
    let engine = s.app.engine.clone();
    let now = Timestamp::now();
    tokio::task::spawn_blocking(move || total_of(engine.catalog(), &node, now, Stop::never()))
        .await
        .map_err(internal)?
}

/// Where the page after a scroll's last one starts: after a time-sorted hit, or after
/// a field-sorted one.
#[derive(Debug, Clone)]
pub enum Position {
    /// After this time and ingest order.
    Time(Cursor),
    /// After this hit of a field-sorted search.
    Field(FieldKey),
}

/// How the total is reported.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Track {
    /// Not at all.
    Off,
    /// Exactly up to this many, then `gte`.
    UpTo(u64),
}

/// One search, validated and translated.
#[derive(Debug)]
pub struct SearchSpec {
    node: Node,
    size: usize,
    from: usize,
    order: Order,
    after: Option<Cursor>,
    /// Sort keys other than time alone (empty: hits sort by time in `order`).
    fields: Vec<SortField>,
    /// Where a field-sorted page starts (`search_after`, or a scroll's position).
    field_after: Option<FieldKey>,
    source: SourceFilter,
    track: Track,
    total_as_int: bool,
    aggs: Option<Value>,
    /// `timeout` from the URL or the body.
    timeout: Option<String>,
    /// Whether hits' `sort` carries the tiebreaker after the time: asked for with
    /// `_doc`/`_shard_doc` in `sort`, and implicit with a point in time, as in
    /// Elasticsearch.
    tiebreak: bool,
    /// Whether a full page runs on to the end of its last hit's millisecond, so that a
    /// `search_after` of the time alone (`[millis]`) continues exactly after it. Off for
    /// scrolls, which continue from their own position.
    whole_millis: bool,
}

impl SearchSpec {
    /// Reads a search body and URL parameters; anything unsupported is an error naming it.
    pub fn new(
        index: &str,
        mut body: Map<String, Value>,
        params: &HashMap<String, String>,
        now: Timestamp,
    ) -> Result<SearchSpec, EsError> {
        let mut allowed: Vec<&str> = IGNORED_PARAMS.to_vec();
        allowed.extend([
            "q",
            "size",
            "from",
            "sort",
            "_source",
            "_source_includes",
            "_source_excludes",
            "track_total_hits",
            "rest_total_hits_as_int",
        ]);
        check_params(params, &allowed)?;
        for k in body.keys() {
            if !matches!(
                k.as_str(),
                "query"
                    | "size"
                    | "from"
                    | "sort"
                    | "_source"
                    | "search_after"
                    | "track_total_hits"
                    | "aggs"
                    | "aggregations"
                    | "timeout"
                    | "track_scores"
                    | "version"
                    | "seq_no_primary_term"
                    | "explain"
            ) {
                return Err(EsError::unsupported(format!("`{k}` in a search request")));
            }
        }
        for k in ["version", "seq_no_primary_term", "explain", "track_scores"] {
            if body.get(k).is_some_and(|v| v != &Value::Bool(false)) {
                return Err(EsError::unsupported(format!("`{k}: true`")));
            }
        }
        let num = |name: &str, body_v: Option<&Value>| -> Result<Option<usize>, EsError> {
            let bad = |v: &dyn std::fmt::Display| {
                EsError::bad_request(
                    "parsing_exception",
                    format!("`{name}` must be a non-negative integer, not {v}"),
                )
            };
            if let Some(p) = params.get(name) {
                return p.parse().map(Some).map_err(|_| bad(p));
            }
            match body_v {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| bad(v)),
            }
        };
        let size = num("size", body.get("size"))?.unwrap_or(DEFAULT_SIZE);
        let from = num("from", body.get("from"))?.unwrap_or(0);
        if from + size > MAX_WINDOW {
            return Err(EsError::bad_request(
                "illegal_argument_exception",
                format!(
                    "Result window is too large, from + size must be less than or equal to: [{MAX_WINDOW}] but was [{}]; page with search_after instead",
                    from + size
                ),
            ));
        }
        let sort = match params.get("sort") {
            Some(s) => Some(Value::String(s.clone())),
            None => body.remove("sort"),
        };
        let (order, tiebreak, fields) = parse_sort(sort.as_ref())?;
        let (mut after, mut field_after) = (None, None);
        match body.get("search_after") {
            None | Some(Value::Null) => {}
            Some(v) => {
                if from != 0 {
                    return Err(EsError::bad_request(
                        "illegal_argument_exception",
                        "`from` must be 0 (or absent) when `search_after` is used",
                    ));
                }
                if fields.is_empty() {
                    after = Some(parse_after(v, order)?);
                } else {
                    field_after = Some(parse_field_after(v, &fields)?);
                }
            }
        }
        let mut source = match params.get("_source") {
            Some(p) => match p.as_str() {
                "true" => SourceFilter::default(),
                "false" => SourceFilter::parse(&Value::Bool(false))?,
                list => SourceFilter::parse(&Value::String(list.to_string()))?,
            },
            None => match body.get("_source") {
                Some(v) => SourceFilter::parse(v)?,
                None => SourceFilter::default(),
            },
        };
        let split = |s: &String| {
            s.split(',')
                .map(|p| p.trim().to_string())
                .collect::<Vec<_>>()
        };
        if let Some(i) = params.get("_source_includes") {
            source.includes = split(i);
        }
        if let Some(e) = params.get("_source_excludes") {
            source.excludes = split(e);
        }
        let track = match params
            .get("track_total_hits")
            .map(|s| serde_json::from_str::<Value>(s).unwrap_or(Value::String(s.clone())))
            .or_else(|| body.get("track_total_hits").cloned())
        {
            None => Track::UpTo(DEFAULT_TRACK),
            Some(Value::Bool(true)) => Track::UpTo(u64::MAX),
            Some(Value::Bool(false)) => Track::Off,
            Some(Value::Number(n)) if n.as_u64().is_some() => {
                Track::UpTo(n.as_u64().expect("checked"))
            }
            Some(Value::Number(n)) if n.as_i64() == Some(-1) => Track::UpTo(u64::MAX),
            Some(other) => {
                return Err(EsError::bad_request(
                    "parsing_exception",
                    format!("`track_total_hits` is true, false or a number, not {other}"),
                ))
            }
        };
        let total_as_int = params.get("rest_total_hits_as_int").map(String::as_str) == Some("true");
        let timeout = match (params.get("timeout"), body.get("timeout")) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(Value::String(t))) => Some(t.clone()),
            (None, Some(other)) => {
                return Err(EsError::bad_request(
                    "parsing_exception",
                    format!("`timeout` must be a duration such as \"30s\", not {other}"),
                ))
            }
            (None, None) => None,
        };
        let aggs = match (body.remove("aggs"), body.remove("aggregations")) {
            (Some(_), Some(_)) => {
                return Err(EsError::bad_request(
                    "parsing_exception",
                    "give `aggs` or `aggregations`, not both",
                ))
            }
            (a, b) => a.or(b),
        };
        let node = and_index(index, query_node(body.get("query"), params.get("q"), now)?)?;
        Ok(SearchSpec {
            node,
            size,
            from,
            order,
            after,
            fields,
            field_after,
            source,
            track,
            total_as_int,
            aggs,
            timeout,
            tiebreak,
            whole_millis: true,
        })
    }

    /// A search of a point in time: hits' `sort` ends with the tiebreaker, as
    /// Elasticsearch adds `_shard_doc` to searches with a `pit`.
    pub fn set_pit(&mut self) {
        self.tiebreak = true;
        self.whole_millis = false;
    }

    /// A scroll's search: pages of `size` hits, continued from the scroll's position.
    pub fn set_scroll(&mut self) {
        self.whole_millis = false;
    }

    /// When this search stops: its `timeout`, else the server's `--query-timeout`.
    pub fn stop(&self, limits: &crate::Limits) -> Result<Stop, EsError> {
        crate::search::stop_param(self.timeout.as_deref(), limits).map_err(EsError::from)
    }

    /// The query-language text this search runs.
    pub fn query_string(&self) -> String {
        to_query_string(&self.node)
    }

    /// Runs the search; the answer in Elasticsearch's shape.
    pub fn run(
        &self,
        catalog: &skein_indexer::Catalog,
        now: Timestamp,
        agg_limits: &skein_query::AggLimits,
        stop: &Stop,
    ) -> Result<Value, EsError> {
        self.run_page(catalog, None, now, agg_limits, stop)
            .map(|(out, _)| out)
    }

    /// The `@timestamp` bounds every hit satisfies (the partitions a search may read).
    pub fn time_bounds(&self) -> (Option<Timestamp>, Option<Timestamp>) {
        time_bounds(&self.node)
    }

    /// Makes this the search of the page after the one that ended at `cursor` (a
    /// scroll's next page): no `from`, no aggregations (Elasticsearch answers them on
    /// the first page only).
    pub fn next_page(&mut self, cursor: Option<Position>) {
        match cursor {
            Some(Position::Field(k)) => self.field_after = Some(k),
            Some(Position::Time(c)) => self.after = Some(c),
            None => {
                self.after = None;
                self.field_after = None;
            }
        }
        self.from = 0;
        self.aggs = None;
    }

    /// Whether `hits.total` is a number (`rest_total_hits_as_int`).
    pub fn set_total_as_int(&mut self, as_int: bool) {
        self.total_as_int = as_int;
    }

    /// [`run`](Self::run) over `shards` (pinned partitions) when given, else over the
    /// partitions of `catalog` as they are now; also the position after the page's last
    /// hit when the page is full (`None`: no hits follow).
    pub fn run_page(
        &self,
        catalog: &skein_indexer::Catalog,
        shards: Option<&[PartitionShard]>,
        now: Timestamp,
        agg_limits: &skein_query::AggLimits,
        stop: &Stop,
    ) -> Result<(Value, Option<Position>), EsError> {
        let started = Instant::now();
        let (start, end) = time_bounds(&self.node);
        let q = self.query_string();
        if !self.fields.is_empty() {
            let (hits, total, cursor) = self.field_page(catalog, shards, now, stop)?;
            let out = self.answer(hits, total, catalog, now, agg_limits, stop, started)?;
            return Ok((out, cursor));
        }
        let req = SearchRequest {
            q: q.clone(),
            start,
            end,
            limit: self.from + self.size,
            order: self.order,
            // One past the bound, so that a count that reaches it is more than it.
            total: match self.track {
                Track::Off => Total::UpTo(0),
                Track::UpTo(cap) => Total::UpTo(cap.saturating_add(1)),
            },
            cursor: self.after,
            now: Some(now),
            stop: stop.clone(),
        };
        let res = match shards {
            Some(shards) => skein_query::search_over(catalog, shards, &req),
            None => skein_query::search(catalog, &req),
        }
        .map_err(search_error)?;
        let mut cursor: Option<Cursor> = res.cursor.as_deref().and_then(|c| c.parse().ok());
        let mut page: Vec<(SortKey, Record)> =
            res.keys.into_iter().zip(res.hits).skip(self.from).collect();
        if let (Some(last), true) = (cursor, self.whole_millis && !self.tiebreak) {
            // The rest of the last hit's millisecond, so that `search_after: [millis]`
            // (all a hit's `sort` says) continues exactly after this page.
            let ms = last.0.timestamp.div_euclid(1_000_000);
            let (ms_start, ms_end) = (ms * 1_000_000, ms * 1_000_000 + 999_999);
            let rest = SearchRequest {
                start: Some(start.map_or(Timestamp(ms_start), |s| s.max(Timestamp(ms_start)))),
                end: Some(end.map_or(Timestamp(ms_end), |e| e.min(Timestamp(ms_end)))),
                limit: MAX_WINDOW,
                cursor: Some(last),
                total: Total::UpTo(0),
                ..req.clone()
            };
            let more = match shards {
                Some(shards) => skein_query::search_over(catalog, shards, &rest),
                None => skein_query::search(catalog, &rest),
            }
            .map_err(search_error)?;
            if let Some(k) = more.keys.last() {
                cursor = Some(Cursor(*k));
            }
            page.extend(more.keys.into_iter().zip(more.hits));
        }
        let hits: Vec<Value> = page.into_iter().map(|(k, r)| self.hit(r, k)).collect();
        let out = self.answer(
            hits,
            res.total.unwrap_or(0),
            catalog,
            now,
            agg_limits,
            stop,
            started,
        )?;
        Ok((out, cursor.map(Position::Time)))
    }

    /// The answer around a page of `hits`: the total as asked, the aggregations.
    #[allow(clippy::too_many_arguments)]
    fn answer(
        &self,
        hits: Vec<Value>,
        total: u64,
        catalog: &skein_indexer::Catalog,
        now: Timestamp,
        agg_limits: &skein_query::AggLimits,
        stop: &Stop,
        started: Instant,
    ) -> Result<Value, EsError> {
        let (start, end) = time_bounds(&self.node);
        let q = self.query_string();
        let mut out = json!({
            "took": 0,
            "timed_out": false,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"max_score": null, "hits": hits},
        });
        match self.track {
            Track::Off => {}
            Track::UpTo(cap) => {
                let (value, relation) = if total > cap {
                    (cap, "gte")
                } else {
                    (total, "eq")
                };
                out["hits"]["total"] = if self.total_as_int {
                    json!(value)
                } else {
                    json!({"value": value, "relation": relation})
                };
            }
        }
        if let Some(aggs) = &self.aggs {
            let req = skein_query::AggregateRequest {
                q: q.clone(),
                start,
                end,
                aggs: aggs.clone(),
                now: Some(now),
                limits: *agg_limits,
                stop: stop.clone(),
            };
            out["aggregations"] = super::aggs::run(catalog, req)?;
        }
        out["timed_out"] = json!(stop.timed_out());
        out["took"] = json!(started.elapsed().as_millis() as u64);
        Ok(out)
    }

    /// A page sorted on fields: its hits in Elasticsearch's shape, the total, and the
    /// position after its last hit when the page is full.
    ///
    /// Without a tiebreaker in hits' `sort` (no `_doc`, no point in time), a full page
    /// runs on to the last of the hits that share its last hit's values, so that
    /// `search_after` with those values alone continues exactly after it.
    fn field_page(
        &self,
        catalog: &skein_indexer::Catalog,
        shards: Option<&[PartitionShard]>,
        now: Timestamp,
        stop: &Stop,
    ) -> Result<(Vec<Value>, u64, Option<Position>), EsError> {
        let (start, end) = time_bounds(&self.node);
        let q = self.query_string();
        // A bad query is an error even when no partition overlaps.
        skein_query::parse::parse_query_at(catalog.schema(), &q, now)
            .map_err(|e| search_error(e.into()))?;
        let owned;
        let shards = match shards {
            Some(s) => s,
            None => {
                owned = PartitionShard::overlapping(catalog, start, end);
                &owned[..]
            }
        };
        let limit = self.from + self.size;
        let req = FieldSearch {
            q,
            now,
            start,
            end,
            keys: self.fields.clone(),
            limit,
            after: self.field_after.clone(),
            ties_only: false,
            count: self.track != Track::Off,
            stop: stop.clone(),
        };
        let sorted = sort_by_field::search_sorted(shards, &req).map_err(search_error)?;
        let (total, mut page, kinds) = (sorted.total, sorted.hits, sorted.numeric);
        let full = limit > 0 && page.len() == limit;
        page.drain(..self.from.min(page.len()));
        let mut last = page.last().map(|h| h.0.clone()).filter(|_| full);
        if let (Some(l), true) = (&last, self.whole_millis && !self.tiebreak) {
            let ties = FieldSearch {
                limit: MAX_WINDOW + 1,
                after: Some(l.clone()),
                ties_only: true,
                count: false,
                ..req.clone()
            };
            let more = sort_by_field::search_sorted(shards, &ties)
                .map_err(search_error)?
                .hits;
            if more.len() > MAX_WINDOW {
                return Err(EsError::bad_request(
                    "illegal_argument_exception",
                    format!(
                        "more than {MAX_WINDOW} hits share the sort values {} of this page's \
                         last hit, so a page cannot end after all of them and `search_after` \
                         with those values could not continue exactly; add `_doc` as the last \
                         sort key (hits then carry a tiebreaker) or search with a `pit`",
                        Value::Array(self.sort_values(&l.values, &kinds))
                    ),
                ));
            }
            if let Some(k) = more.last() {
                last = Some(k.0.clone());
            }
            page.extend(more);
        }
        let hits = page
            .into_iter()
            .map(|(k, r)| {
                let mut sort = self.sort_values(&k.values, &kinds);
                if self.tiebreak {
                    sort.push(Value::String(k.ord.to_string()));
                }
                let key = SortKey {
                    timestamp: r.timestamp.0,
                    ord: k.ord,
                };
                let mut hit = self.hit(r, key);
                hit["sort"] = Value::Array(sort);
                hit
            })
            .collect();
        let cursor = last.filter(|_| !stop.timed_out()).map(Position::Field);
        Ok((hits, total, cursor))
    }

    /// A hit's `sort` as Elasticsearch gives it: text as strings, numbers and dates
    /// (epoch milliseconds) as numbers; a missing value is `null`, or for a numeric
    /// field (`numeric[i]`) the largest long in ascending order and the smallest in
    /// descending, as Elasticsearch's `missing: _last`.
    fn sort_values(&self, values: &[SortValue], numeric: &[bool]) -> Vec<Value> {
        values
            .iter()
            .zip(&self.fields)
            .enumerate()
            .map(|(i, (v, f))| match v {
                SortValue::Missing if numeric.get(i) == Some(&true) => match f.order {
                    Order::Asc => json!(i64::MAX),
                    Order::Desc => json!(i64::MIN),
                },
                SortValue::Missing => Value::Null,
                SortValue::Int(n) => json!(n),
                SortValue::UInt(n) => json!(n),
                SortValue::Float(x) => json!(x),
                SortValue::Str(s) => json!(s),
            })
            .collect()
    }

    fn hit(&self, record: Record, key: SortKey) -> Value {
        let index = match record.fields.get("_index") {
            Some(Value::String(s)) => s.clone(),
            _ => "skein".to_string(),
        };
        let id = match record.fields.get("_id") {
            Some(Value::String(s)) => s.clone(),
            _ => skein_indexer::ids::generated_id(key.ord),
        };
        let millis = key.timestamp.div_euclid(1_000_000);
        let sort = if self.tiebreak {
            json!([millis, Cursor(key).to_string()])
        } else {
            json!([millis])
        };
        let source = source_of(&record);
        let mut hit = json!({
            "_index": index,
            "_id": id,
            "_score": null,
            "sort": sort,
        });
        if let Some(src) = self.source.apply(source) {
            hit["_source"] = src;
        }
        hit
    }
}

/// A record's `_source`: the document as sent to `/es`, else the record's JSON form.
pub(super) fn source_of(record: &Record) -> Value {
    match &record.original {
        Some(o) => serde_json::from_str(o.get()).unwrap_or(Value::Null),
        None => serde_json::to_value(record).unwrap_or(Value::Null),
    }
}

/// The hit order from `sort`: `@timestamp` (or `timestamp`) asc or desc, with `_doc`
/// allowed as a tie-breaker (skein's own tie-breaker is the ingest order); whether
/// hits' `sort` values carry that tie-breaker (`_doc` or `_shard_doc` named after the
/// first key); and the keys when other fields are sorted on (empty when time alone
/// orders the hits). `_score` is a no-op: scores are not computed.
fn parse_sort(sort: Option<&Value>) -> Result<(Order, bool, Vec<SortField>), EsError> {
    let Some(sort) = sort else {
        return Ok((Order::Desc, false, Vec::new()));
    };
    let mut fields: Vec<SortField> = Vec::new();
    // Whether `order` came from a time key (not `_doc` or `_score`).
    let mut time_first = false;
    let mut tiebreak = false;
    let items: Vec<Value> = match sort {
        Value::Array(a) => a.clone(),
        Value::String(s) => s
            .split(',')
            .map(|p| Value::String(p.trim().to_string()))
            .collect(),
        other => vec![other.clone()],
    };
    let mut order = None;
    for item in items {
        let (field, dir) = match &item {
            Value::String(s) => match s.split_once(':') {
                Some((f, d)) => (f.to_string(), Some(d.to_string())),
                None => (s.clone(), None),
            },
            Value::Object(o) if o.len() == 1 => {
                let (f, v) = o.iter().next().expect("one");
                let dir = match v {
                    Value::String(d) => Some(d.clone()),
                    Value::Object(opts) => {
                        if let Some(k) = opts.keys().find(|k| {
                            !matches!(
                                k.as_str(),
                                "order" | "unmapped_type" | "format" | "numeric_type"
                            )
                        }) {
                            return Err(EsError::unsupported(format!("`sort.{f}.{k}`")));
                        }
                        opts.get("order")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    }
                    other => {
                        return Err(EsError::bad_request(
                            "parsing_exception",
                            format!("sort order for `{f}` is \"asc\" or \"desc\", not {other}"),
                        ))
                    }
                };
                (f.clone(), dir)
            }
            other => {
                return Err(EsError::bad_request(
                    "parsing_exception",
                    format!("a sort is a field name or {{\"field\": \"asc|desc\"}}, not {other}"),
                ))
            }
        };
        let dir = match dir.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => None,
            Some("asc") => Some(Order::Asc),
            Some("desc") => Some(Order::Desc),
            Some(d) => {
                return Err(EsError::bad_request(
                    "parsing_exception",
                    format!("sort order is asc or desc, not {d}"),
                ))
            }
        };
        match field.as_str() {
            "_doc" | "_shard_doc" if !fields.is_empty() => tiebreak = true,
            "@timestamp" | "timestamp" if !fields.is_empty() => fields.push(SortField {
                field: "@timestamp".into(),
                order: dir.unwrap_or(Order::Asc),
            }),
            "@timestamp" | "timestamp" if order.is_none() => {
                time_first = true;
                // Elasticsearch's default for a date field is ascending.
                order = Some(dir.unwrap_or(Order::Asc));
            }
            "_doc" | "_shard_doc" if order.is_some() => tiebreak = true,
            "_doc" | "_shard_doc" => order = Some(dir.unwrap_or(Order::Asc)),
            "_score" if order.is_none() => order = Some(Order::Desc),
            "_score" => {}
            other => {
                let column = sort_column(other)?;
                if let (true, true, Some(o)) = (fields.is_empty(), time_first, order) {
                    // Time came first: it stays the first key.
                    fields.push(SortField {
                        field: "@timestamp".into(),
                        order: o,
                    });
                }
                fields.push(SortField {
                    field: column,
                    order: dir.unwrap_or(Order::Asc),
                });
            }
        }
    }
    Ok((order.unwrap_or(Order::Desc), tiebreak, fields))
}

/// The column a sort on `name` reads: the name resolved as in queries (moved metadata,
/// `.keyword` dropped, other names under `fields.`); full text and internals refused.
fn sort_column(name: &str) -> Result<String, EsError> {
    let resolved = super::mapping::alias(name);
    if matches!(
        resolved.as_str(),
        "message"
            | "log"
            | "msg"
            | "_source"
            | "_id"
            | "_ord"
            | "_seq"
            | "_source_id"
            | "_index"
            | "_routing"
    ) && name != "_index"
    {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            format!(
                "cannot sort on `{name}`: it is full text or internal; sort on a keyword \
                 field (host, container, level, labels.*), a field of the documents \
                 (status, http.status, …) or @timestamp"
            ),
        ));
    }
    skein_query::aggregate::request::resolve_field(&resolved)
        .map_err(|reason| EsError::bad_request("illegal_argument_exception", reason))
}

/// `search_after` of a field-sorted search: one value per key as hits' `sort` gives
/// them (`null`, or the largest long in ascending and the smallest in descending order,
/// for a missing value), then optionally the tiebreaker; without it, the search
/// continues after every hit with those values.
fn parse_field_after(v: &Value, keys: &[SortField]) -> Result<FieldKey, EsError> {
    let bad = |why: &str| {
        EsError::bad_request(
            "parsing_exception",
            format!(
                "`search_after` takes the `sort` value of the last hit of a page ({why}), not {v}"
            ),
        )
    };
    let items = v.as_array().ok_or_else(|| bad("an array"))?;
    if items.len() != keys.len() && items.len() != keys.len() + 1 {
        return Err(bad(&format!(
            "{} values, one per sort key, and the tiebreaker when hits carry one",
            keys.len()
        )));
    }
    let mut values = Vec::with_capacity(keys.len());
    for (item, key) in items.iter().zip(keys) {
        values.push(match item {
            Value::Null => SortValue::Missing,
            Value::String(s) if key.field == "@timestamp" => {
                let t = super::mapping::parse_time_str(s).ok_or_else(|| bad("a time"))?;
                SortValue::Int(t.0.div_euclid(1_000_000))
            }
            Value::String(s) => SortValue::Str(s.clone()),
            Value::Bool(b) => SortValue::Int(i64::from(*b)),
            Value::Number(n) => match (n.as_i64(), n.as_u64(), key.order) {
                (Some(i64::MAX), _, Order::Asc) | (Some(i64::MIN), _, Order::Desc) => {
                    SortValue::Missing
                }
                (Some(i), _, _) => SortValue::Int(i),
                (None, Some(u), _) => SortValue::UInt(u),
                _ => SortValue::Float(n.as_f64().ok_or_else(|| bad("numbers"))?),
            },
            _ => return Err(bad("strings, numbers or null")),
        });
    }
    let ord = match items.get(keys.len()) {
        None => u64::MAX,
        Some(Value::String(s)) => s.parse().map_err(|_| bad("the tiebreaker as given"))?,
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| bad("the tiebreaker as given"))?,
        Some(_) => return Err(bad("the tiebreaker as given")),
    };
    Ok(FieldKey { values, ord })
}

/// `search_after`: the `sort` value of a hit: `[millis]`, strictly after that
/// millisecond (a page ends with the last hit of its millisecond), or with the
/// tie-breaker (`[millis, "position"]`), exactly after that hit; a time may also be
/// RFC 3339 text.
fn parse_after(v: &Value, order: Order) -> Result<Cursor, EsError> {
    let bad = || {
        EsError::bad_request(
            "parsing_exception",
            format!("`search_after` takes the `sort` value of the last hit of a page, not {v}"),
        )
    };
    let items = v.as_array().ok_or_else(bad)?;
    if let Some(Value::String(c)) = items.get(1) {
        return c.parse().map_err(|_| bad());
    }
    let t = match items.first() {
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|ms| ms.checked_mul(1_000_000))
            .map(Timestamp)
            .ok_or_else(bad)?,
        Some(Value::String(s)) => super::mapping::parse_time_str(s).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    // Strictly after every record in that millisecond, in the order of the search.
    Ok(Cursor(match order {
        Order::Desc => SortKey {
            timestamp: t.0,
            ord: 0,
        },
        Order::Asc => SortKey {
            timestamp: t.0 + 999_999,
            ord: u64::MAX,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(sort: Value) -> (Order, bool, Vec<(String, Order)>) {
        let (o, t, f) = parse_sort(Some(&sort)).unwrap();
        (o, t, f.into_iter().map(|k| (k.field, k.order)).collect())
    }

    #[test]
    fn sorts_on_fields_resolve_names_and_keep_time_first_when_asked() {
        let (_, tiebreak, fields) = keys(json!([{"status": {"order": "desc"}}, "_score"]));
        assert!(!tiebreak);
        assert_eq!(fields, vec![("fields.status".into(), Order::Desc)]);
        let (_, tiebreak, fields) = keys(json!(["level", {"kubernetes.pod_name": "desc"}, "_doc"]));
        assert!(tiebreak);
        assert_eq!(
            fields,
            vec![
                ("level".into(), Order::Asc),
                ("labels.io.kubernetes.pod.name".into(), Order::Desc)
            ]
        );
        let (_, _, fields) = keys(json!([{"@timestamp": "desc"}, {"service.keyword": "asc"}]));
        assert_eq!(
            fields,
            vec![
                ("@timestamp".into(), Order::Desc),
                ("fields.service".into(), Order::Asc)
            ]
        );
        // `_score` first is no time key: the field alone sorts.
        let (_, _, fields) = keys(json!(["_score", {"http.status": "asc"}]));
        assert_eq!(fields, vec![("fields.http.status".into(), Order::Asc)]);
        // Time alone keeps the time path.
        assert!(keys(json!([{"@timestamp": "asc"}])).2.is_empty());
        let err = parse_sort(Some(&json!([{"message": "asc"}]))).unwrap_err();
        assert!(
            err.reason.contains("cannot sort on `message`"),
            "{}",
            err.reason
        );
    }

    #[test]
    fn search_after_reads_values_missing_bounds_and_the_tiebreaker() {
        let k = |field: &str, order| SortField {
            field: field.into(),
            order,
        };
        let asc = [k("level", Order::Asc), k("fields.n", Order::Asc)];
        let a = parse_field_after(&json!(["info", i64::MAX]), &asc).unwrap();
        assert_eq!(
            a.values,
            vec![SortValue::Str("info".into()), SortValue::Missing]
        );
        assert_eq!(a.ord, u64::MAX, "without the tiebreaker: after every tie");
        let desc = [k("fields.n", Order::Desc)];
        let a = parse_field_after(&json!([i64::MIN, "42"]), &desc).unwrap();
        assert_eq!((a.values, a.ord), (vec![SortValue::Missing], 42));
        let a = parse_field_after(&json!([null]), &desc).unwrap();
        assert_eq!(a.values, vec![SortValue::Missing]);
        let t = [k("@timestamp", Order::Asc)];
        let a = parse_field_after(&json!(["2026-11-20T10:00:00.005Z"]), &t).unwrap();
        assert_eq!(a.values, vec![SortValue::Int(1_795_168_800_005)]);
        assert!(parse_field_after(&json!([1, 2, 3]), &desc).is_err());
        assert!(parse_field_after(&json!("x"), &desc).is_err());
    }
}
