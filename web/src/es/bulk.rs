//! `POST /es/_bulk` and `POST /es/{index}/_bulk`: action and document line pairs.
//!
//! `index` and `create` store the document (mapped to a record by [`super::mapping`],
//! with the document itself kept as `_original` so searches return it as sent); every
//! other action fails on its own item with a reason. The batch goes through the same
//! budget, WAL and group commit as `/api/v1/ingest`: the answer comes once it is durable.
//! A line that is not JSON where an action is expected fails the whole request (the
//! lines after it can no longer be paired), and nothing of it is stored.

use super::error::EsError;
use super::filter_path::FilterPath;
use super::mapping::map_document;
use super::EsState;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use skein_indexer::{IngestError, IngestOutcome, Permit, PreparedBatch};
use skein_model::{Record, Timestamp};
use std::sync::Arc;
use std::time::Instant;

/// Query parameters of `_bulk`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct BulkParams {
    /// `true` or `wait_for`: answer once the documents are searchable.
    pub refresh: Option<String>,
    /// Accepted and ignored: skein answers once durable.
    pub timeout: Option<String>,
    /// Accepted and ignored: there is one copy.
    pub wait_for_active_shards: Option<String>,
    /// The parts of the answer to return ([`super::filter_path`]).
    pub filter_path: Option<String>,
    /// Accepted and ignored.
    pub pretty: Option<String>,
    /// Accepted and ignored.
    pub error_trace: Option<String>,
    /// Accepted and ignored.
    pub human: Option<String>,
    /// Only `false` is supported.
    pub require_alias: Option<String>,
    /// Not supported.
    pub pipeline: Option<String>,
    /// Not supported.
    pub routing: Option<String>,
}

/// Bytes held per byte of a bulk body until its batch is built and its share settled
/// ([`PreparedBatch::fit_budget`]): the records, with the documents they keep, take five
/// to six times the text in memory, and their WAL lines about the text again.
const DOCUMENT_EXPANSION: usize = 7;

/// One action's outcome, before the batch is durable.
enum Item {
    /// Mapped; its record is in the batch.
    Stored {
        action: &'static str,
        /// Shared by the items of a run of equal action lines.
        index: Arc<str>,
        id: DocId,
    },
    /// Failed on its own.
    Failed {
        action: String,
        index: String,
        id: Option<String>,
        status: u16,
        kind: &'static str,
        reason: String,
    },
}

/// A stored document's `_id`.
enum DocId {
    /// The client's.
    Given(String),
    /// Generated: the record's ingest order once it is durable
    /// ([`skein_indexer::ids::generated_id`]), written as 20 hex digits.
    Generated(u64),
}

/// What parsing a body gives: the items in order and the records of the stored ones.
pub struct Parsed {
    items: Vec<Item>,
    records: Vec<Record>,
    /// Per record, whether it is a `create` with a client `_id`.
    creates: Vec<bool>,
}

/// `POST /es/_bulk` and `POST /es/{index}/_bulk`: the index of the path is the default
/// for actions that name none.
pub async fn bulk(
    State(s): State<EsState>,
    index: Option<Path<String>>,
    Query(q): Query<BulkParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, EsError> {
    let default_index = index.map(|Path(i)| i);
    let started = Instant::now();
    if let Some(p) = &q.pipeline {
        return Err(EsError::unsupported(format!(
            "the `pipeline` parameter ({p})"
        )));
    }
    if q.routing.is_some() {
        return Err(EsError::unsupported("the `routing` parameter"));
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
    let (parsed, permit) = read_documents(&s, &headers, body, move |decoded, horizon| {
        parse_body(decoded, default_index.as_deref(), Timestamp::now(), horizon)
    })
    .await?;
    let Parsed {
        mut items,
        records,
        creates,
    } = parsed;
    if !records.is_empty() {
        let outcome = store(&s, records, creates, permit).await?;
        settle(&mut items, &outcome);
    }
    let failed = items
        .iter()
        .filter(|i| matches!(i, Item::Failed { .. }))
        .count();
    metrics::counter!("skein_records_rejected_total").increment(failed as u64);
    let mut last: Option<&str> = None;
    for item in &items {
        if let Item::Stored { index, .. } = item {
            // Bulk requests name one index or a few: skip the lock for repeats.
            if last != Some(&**index) {
                s.remember(index);
                last = Some(index);
            }
        }
    }
    if refresh {
        super::info::wait_searchable(&s).await?;
    }
    let took = started.elapsed().as_millis() as u64;
    let body = match q.filter_path.as_deref().and_then(FilterPath::parse) {
        Some(filter) => filtered_answer_json(took, failed > 0, items, &filter),
        None => answer_json(took, failed > 0, items),
    };
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// Reads a request body of documents within the ingest budget (as `/api/v1/ingest`
/// does), decodes it (`Content-Encoding`) and hands it to `parse` off the async
/// workers, with the retention horizon; answers what `parse` made and the budget share
/// the records are to hold until indexed.
pub(super) async fn read_documents<T: Send + 'static>(
    s: &EsState,
    headers: &HeaderMap,
    body: Body,
    parse: impl FnOnce(&[u8], Option<Timestamp>) -> Result<T, EsError> + Send + 'static,
) -> Result<(T, Permit), EsError> {
    let limits = s.app.limits.clone();
    let crate::ingest::BodyRead {
        raw,
        encoding,
        permit,
    } = crate::ingest::read_body(
        body,
        headers,
        s.app.engine.budget(),
        DOCUMENT_EXPANSION,
        &limits,
        "bulk requests",
    )
    .await?;
    let engine = s.app.engine.clone();
    tokio::task::spawn_blocking(move || {
        let (decoded, permit) = crate::ingest::decode_body(
            &encoding,
            raw,
            limits.max_decoded_bytes,
            engine.budget(),
            permit,
            DOCUMENT_EXPANSION,
        )?;
        let parsed = parse(&decoded, engine.retention_horizon()).map(|parsed| (parsed, permit));
        // The records hold their own copies: the body's buffer serves the next request.
        skein_indexer::text_buffers::give_back(decoded);
        parsed
    })
    .await
    .map_err(|e| {
        EsError::from(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        ))
    })?
}

/// Makes records mapped from documents durable through the budget, WAL and group
/// commit every ingest path shares; `creates` flags the `op_type=create` records with a
/// client `_id` ([`PreparedBatch::set_creates`]).
pub(super) async fn store(
    s: &EsState,
    records: Vec<Record>,
    creates: Vec<bool>,
    permit: Permit,
) -> Result<IngestOutcome, EsError> {
    let mut batch = PreparedBatch::from_documents(records, Some(permit));
    batch.set_creates(creates);
    if !batch.fit_budget() {
        return Err(crate::ingest::no_room().into());
    }
    s.app.engine.ingest(batch).await.map_err(|e| match e {
        IngestError::Unavailable(_) | IngestError::ShuttingDown => EsError::from(
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            )
            .retry_after(5),
        ),
    })
}

/// The reason Elasticsearch gives for a create whose `_id` exists.
pub(super) fn conflict_reason(id: &str) -> String {
    format!(
        "[{id}]: version conflict, document already exists (current version [1]); \
         op_type=create stores a document only once: index it (op_type=index) to replace it"
    )
}

/// Puts what ingest answered into the items of stored records (the k-th stored item is
/// the k-th record): a create refused for its existing `_id` fails with 409, and a
/// document sent without an `_id` gets the one it is stored under, its ingest order.
fn settle(items: &mut [Item], outcome: &IngestOutcome) {
    let mut conflicts = outcome.conflicts.iter().peekable();
    let mut refused = 0u32;
    let mut k = 0u32;
    for item in items.iter_mut() {
        let Item::Stored { action, index, id } = item else {
            continue;
        };
        let at = k;
        k += 1;
        if conflicts.peek() == Some(&&at) {
            conflicts.next();
            refused += 1;
            let id = match id {
                DocId::Given(id) => id.clone(),
                DocId::Generated(_) => String::new(),
            };
            *item = Item::Failed {
                action: action.to_string(),
                index: index.to_string(),
                reason: conflict_reason(&id),
                id: Some(id),
                status: 409,
                kind: "version_conflict_engine_exception",
            };
            continue;
        }
        if let (DocId::Generated(ord), Some(lsn)) = (id, outcome.lsn) {
            *ord = skein_indexer::ids::ord_of(lsn, at - refused);
        }
    }
}

/// The bulk answer as JSON text. A stored item's answer is the same but for its action,
/// index and id, so it is written directly rather than built as a `Value` first (one
/// per document, thousands per request).
fn answer_json(took: u64, errors: bool, items: Vec<Item>) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(64 + items.len() * 200);
    let _ = write!(out, "{{\"took\":{took},\"errors\":{errors},\"items\":[");
    // `{"create":{"_index":"logs","_id":` for a run of items of one action and index,
    // written once.
    let mut head: (Option<(&str, Arc<str>)>, Vec<u8>) = (None, Vec::new());
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match item {
            Item::Stored { action, index, id } => {
                if head.0.as_ref() != Some(&(action, index.clone())) {
                    head.1.clear();
                    let _ = write!(head.1, "{{\"{action}\":{{\"_index\":");
                    serde_json::to_writer(&mut head.1, &*index).expect("a string serialises");
                    head.1.extend_from_slice(b",\"_id\":");
                    head.0 = Some((action, index));
                }
                out.extend_from_slice(&head.1);
                match id {
                    DocId::Given(id) => {
                        serde_json::to_writer(&mut out, &id).expect("a string serialises")
                    }
                    DocId::Generated(n) => push_hex_id(&mut out, n),
                }
                out.extend_from_slice(
                    b",\"_version\":1,\"result\":\"created\",\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"_seq_no\":0,\"_primary_term\":1,\"status\":201}}",
                );
            }
            failed => {
                serde_json::to_writer(&mut out, &item_json(failed)).expect("a Value serialises")
            }
        }
    }
    out.extend_from_slice(b"]}");
    out
}

/// The bulk answer with only what `filter` selects. Each run of stored items of one
/// action and index shares one filtered template, in which the item's own index and id
/// are filled in, so this costs about what the whole answer does.
fn filtered_answer_json(took: u64, errors: bool, items: Vec<Item>, filter: &FilterPath) -> Vec<u8> {
    let one_item = |item: Value| -> Option<Vec<u8>> {
        match filter.apply(json!({ "items": [item] })) {
            Value::Object(mut m) => match m.remove("items") {
                Some(Value::Array(mut a)) if !a.is_empty() => {
                    Some(serde_json::to_vec(&a.swap_remove(0)).expect("a Value serialises"))
                }
                _ => None,
            },
            _ => None,
        }
    };
    let mut written = Vec::with_capacity(items.len() * 32);
    let mut count = 0usize;
    // The run's action and index, and its filtered item (`None` when the filter leaves
    // nothing of such an item).
    let mut run_key: Option<(&'static str, Arc<str>)> = None;
    let mut template: Option<Template> = None;
    for item in items {
        if count > 0 {
            written.push(b',');
        }
        let before = written.len();
        match item {
            Item::Stored { action, index, id } => {
                let key = (action, index.clone());
                if run_key.as_ref() != Some(&key) {
                    let sample = item_json(Item::Stored {
                        action,
                        index: Template::INDEX.into(),
                        id: DocId::Given(Template::ID.into()),
                    });
                    template = one_item(sample).map(Template::new);
                    run_key = Some(key);
                }
                if let Some(template) = &template {
                    template.write(&mut written, &index, &id);
                }
            }
            failed => {
                if let Some(text) = one_item(item_json(failed)) {
                    written.extend_from_slice(&text);
                }
            }
        }
        if written.len() > before {
            count += 1;
        } else if count > 0 {
            written.pop(); // the comma of an item the filter left out
        }
    }
    let head = match filter.apply(json!({"took": took, "errors": errors})) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let mut out = serde_json::to_vec(&Value::Object(head)).expect("a Value serialises");
    if count > 0 {
        out.pop(); // `}`
        if out.len() > 1 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"items\":[");
        out.extend_from_slice(&written);
        out.extend_from_slice(b"]}");
    }
    out
}

/// A stored item's filtered answer with the places of its index and id, found once per
/// run of items: each item is then written by copying the text around them.
struct Template {
    text: Vec<u8>,
    /// `(start, end, is_index)` of each marker still in `text`, in order.
    slots: Vec<(usize, usize, bool)>,
}

impl Template {
    /// Markers for the values filled in per item. They are found in the template itself,
    /// so an index or id that happens to hold one is never mistaken for it.
    const INDEX: &'static str = "\u{1}index\u{1}";
    const ID: &'static str = "\u{1}id\u{1}";

    fn new(text: Vec<u8>) -> Template {
        let mut slots: Vec<(usize, usize, bool)> = [(Self::INDEX, true), (Self::ID, false)]
            .into_iter()
            .filter_map(|(marker, is_index)| {
                let quoted = serde_json::to_vec(marker).expect("a string serialises");
                memchr::memmem::find(&text, &quoted).map(|at| (at, at + quoted.len(), is_index))
            })
            .collect();
        slots.sort_unstable();
        Template { text, slots }
    }

    fn write(&self, out: &mut Vec<u8>, index: &str, id: &DocId) {
        let mut copied = 0;
        for &(start, end, is_index) in &self.slots {
            out.extend_from_slice(&self.text[copied..start]);
            match (is_index, id) {
                (true, _) => serde_json::to_writer(&mut *out, index).expect("a string serialises"),
                (false, DocId::Given(id)) => {
                    serde_json::to_writer(&mut *out, id).expect("a string serialises")
                }
                (false, DocId::Generated(n)) => push_hex_id(out, *n),
            }
            copied = end;
        }
        out.extend_from_slice(&self.text[copied..]);
    }
}

/// A generated id as Elasticsearch writes its own: 20 characters, here hex digits.
fn push_hex_id(out: &mut Vec<u8>, n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for shift in (0..20).rev() {
        let nibble = if shift < 16 {
            (n >> (shift * 4)) & 0xf
        } else {
            0
        };
        out.push(HEX[nibble as usize]);
    }
    out.push(b'"');
}

fn item_json(item: Item) -> Value {
    match item {
        Item::Stored { action, index, id } => json!({ action: {
            "_index": &*index, "_id": match id {
                DocId::Given(id) => id,
                DocId::Generated(n) => format!("{n:020x}"),
            }, "_version": 1, "result": "created",
            "_shards": {"total": 1, "successful": 1, "failed": 0},
            "_seq_no": 0, "_primary_term": 1, "status": 201
        }}),
        Item::Failed {
            action,
            index,
            id,
            status,
            kind,
            reason,
        } => json!({ action: {
            "_index": index, "_id": id, "status": status,
            "error": {"type": kind, "reason": reason}
        }}),
    }
}

/// An action line, `{"create":{"_index":"logs"}}`: its entries, metadata left as text.
/// Read without building a map, as there is one per document.
struct ActionLine<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for ActionLine<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ActionLine<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ActionLine<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<ActionLine<'de>, A::Error> {
                let mut entries = Vec::with_capacity(1);
                while let Some(e) = m.next_entry()? {
                    entries.push(e);
                }
                Ok(ActionLine(entries))
            }
        }
        d.deserialize_map(V)
    }
}

/// The lines of `body` with their 1-based numbers, without a trailing `\r`.
pub(super) fn ndjson_lines(body: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let mut start = 0;
    let mut n = 0;
    std::iter::from_fn(move || {
        if start > body.len() {
            return None;
        }
        let end = memchr::memchr(b'\n', &body[start..]).map_or(body.len(), |i| start + i);
        let line = &body[start..end];
        start = end + 1;
        n += 1;
        Some((n, line.strip_suffix(b"\r").unwrap_or(line)))
    })
}

/// The action line's metadata.
#[derive(Debug, Default, Clone)]
struct Meta {
    index: Option<String>,
    id: Option<Value>,
    require_alias: Option<bool>,
    /// The first key skein does not accept.
    other: Option<String>,
}

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Meta, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Meta;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of _index, _id, ...")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Meta, A::Error> {
                let mut meta = Meta::default();
                while let Some(k) = m.next_key::<String>()? {
                    match k.as_str() {
                        "_index" => meta.index = m.next_value()?,
                        "_id" => meta.id = m.next_value()?,
                        "require_alias" => meta.require_alias = m.next_value()?,
                        // Mapping types are gone from Elasticsearch 8; old shippers still
                        // send `_doc`.
                        "_type" => _ = m.next_value::<Option<String>>()?,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                            meta.other.get_or_insert(k);
                        }
                    }
                }
                Ok(meta)
            }
        }
        d.deserialize_map(V)
    }
}

/// An action line, read.
#[derive(Clone)]
struct Action {
    name: String,
    meta: Meta,
    index: Arc<str>,
    id: Option<String>,
}

/// Reads action line `n`. An error fails the whole request: the lines after it can no
/// longer be paired.
fn parse_action(line: &[u8], n: usize, default_index: Option<&str>) -> Result<Action, EsError> {
    let action: ActionLine = serde_json::from_slice(line).map_err(|e| {
        EsError::bad_request(
            "illegal_argument_exception",
            format!(
                "line {n}: expected an action line such as {{\"create\":{{\"_index\":\"logs\"}}}}: {e}; nothing of this request was stored"
            ),
        )
    })?;
    let mut entries = action.0.into_iter();
    let (Some((name, meta)), None) = (entries.next(), entries.next()) else {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            format!("line {n}: an action line holds exactly one action (index, create, update or delete); nothing of this request was stored"),
        ));
    };
    let meta: Meta = serde_json::from_str(meta.get()).map_err(|e| {
        EsError::bad_request(
            "illegal_argument_exception",
            format!("line {n}: bad metadata for action [{name}]: {e}; nothing of this request was stored"),
        )
    })?;
    let index = meta
        .index
        .as_deref()
        .or(default_index)
        .unwrap_or_default()
        .into();
    let id = match &meta.id {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    Ok(Action {
        name,
        meta,
        index,
        id,
    })
}

/// Parses a bulk body into items and the batch of documents to store.
pub fn parse_body(
    body: &[u8],
    default_index: Option<&str>,
    now: Timestamp,
    horizon: Option<Timestamp>,
) -> Result<Parsed, EsError> {
    // One item per action line, about half the lines: sized once rather than grown
    // (and copied) a dozen times for a 5 MB body.
    let pairs = memchr::memchr_iter(b'\n', body).count() / 2 + 1;
    let mut out = Parsed {
        items: Vec::with_capacity(pairs),
        records: Vec::with_capacity(pairs),
        creates: Vec::with_capacity(pairs),
    };
    let mut lines = ndjson_lines(body).filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    // Shippers send the same action line before every document: read it once per run.
    let mut last: Option<(&[u8], Action)> = None;
    while let Some((n, line)) = lines.next() {
        let Action {
            name,
            meta,
            index,
            id,
        } = match &last {
            Some((text, action)) if *text == line => action.clone(),
            _ => {
                let action = parse_action(line, n, default_index)?;
                last = Some((line, action.clone()));
                action
            }
        };
        let fail = |status: u16, kind: &'static str, reason: String| Item::Failed {
            action: name.clone(),
            index: index.to_string(),
            id: id.clone(),
            status,
            kind,
            reason,
        };
        let action: &'static str = match name.as_str() {
            "index" => "index",
            "create" => "create",
            "update" => {
                // Its document line belongs to it.
                lines.next();
                out.items.push(fail(400, "illegal_argument_exception", "bulk action [update] is not supported: skein stores logs append-only; send documents with index or create".into()));
                continue;
            }
            "delete" => {
                out.items.push(fail(400, "illegal_argument_exception", "bulk action [delete] is not supported: skein stores logs append-only and drops them by retention".into()));
                continue;
            }
            other => {
                return Err(EsError::bad_request(
                    "illegal_argument_exception",
                    format!("line {n}: unknown bulk action [{other}]; expected index, create, update or delete; nothing of this request was stored"),
                ))
            }
        };
        // A last action line with no document after it is ignored, as Elasticsearch
        // does (a client cut off after an action line).
        let Some((dn, doc_line)) = lines.next() else {
            break;
        };
        if id.as_deref() == Some("") {
            out.items.push(fail(
                400,
                "illegal_argument_exception",
                "if _id is specified it must not be empty".into(),
            ));
            continue;
        }
        if let Some(k) = &meta.other {
            out.items.push(fail(
                400,
                "illegal_argument_exception",
                format!(
                    "action metadata [{k}] is not supported; skein accepts _index, _id and _type"
                ),
            ));
            continue;
        }
        if meta.require_alias == Some(true) {
            out.items.push(fail(
                400,
                "illegal_argument_exception",
                "require_alias is not supported: skein has no aliases".into(),
            ));
            continue;
        }
        if index.is_empty() {
            out.items.push(fail(
                400,
                "action_request_validation_exception",
                "index is missing: name it in the action (_index) or the path (/es/{index}/_bulk)"
                    .into(),
            ));
            continue;
        }
        let Ok(doc) = std::str::from_utf8(doc_line) else {
            out.items.push(fail(
                400,
                "document_parsing_exception",
                format!("line {dn}: the document is not UTF-8 text"),
            ));
            continue;
        };
        let record = match map_document(doc, &index, id.as_deref(), now) {
            Ok(r) => r,
            Err(e) => {
                out.items.push(fail(
                    400,
                    "document_parsing_exception",
                    format!("line {dn}: {}", e.0),
                ));
                continue;
            }
        };
        if let Some(h) = horizon.filter(|h| record.timestamp < *h) {
            out.items.push(fail(
                400,
                "illegal_argument_exception",
                format!(
                    "line {dn}: @timestamp {} is older than the server keeps records \
                     (--retention, {}): it would be deleted at once",
                    record.timestamp.to_rfc3339(),
                    h.to_rfc3339()
                ),
            ));
            continue;
        }
        out.records.push(record);
        out.creates.push(action == "create" && id.is_some());
        out.items.push(Item::Stored {
            action,
            index,
            id: id.map_or(DocId::Generated(0), DocId::Given),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_in_order_with_their_records() {
        let body = concat!(
            "{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n",
            "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"message\":\"one\",  \"n\": 1.50}\n",
            "{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n",
            "{\"update\":{\"_id\":\"1\"}}\n",
            "{\"doc\":{\"x\":1}}\n",
            "{\"create\":{}}\r\n",
            "not json\n",
            "{\"create\":{\"_type\":\"_doc\"}}\n",
            "{\"log\":\"two\\n\",\"time\":\"2026-11-20T10:00:01Z\"}\n",
        );
        let p = parse_body(body.as_bytes(), Some("dflt"), Timestamp(0), None).unwrap();
        let kinds: Vec<String> = p
            .items
            .into_iter()
            .map(|i| match item_json(i) {
                Value::Object(o) => {
                    let (k, v) = o.into_iter().next().unwrap();
                    format!("{k}:{}:{}", v["status"], v["_index"].as_str().unwrap())
                }
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "index:201:a",
                "delete:400:a",
                "update:400:dflt",
                "create:400:dflt",
                "create:201:dflt"
            ]
        );
        assert_eq!(p.records.len(), 2);
        assert_eq!(
            p.records[0].original.as_ref().unwrap().get(),
            "{\"@timestamp\":\"2026-11-20T10:00:00Z\",\"message\":\"one\",  \"n\": 1.50}"
        );
        assert_eq!(p.records[1].message, "two");
        assert_eq!(p.records[1].fields["_index"], "dflt");
        assert_eq!(p.records[0].fields["_id"], "1");
    }

    /// Two stored items of one run, one of another, and a failed one.
    fn some_items() -> Vec<Item> {
        let stored = |action, index: &str, id| Item::Stored {
            action,
            index: index.into(),
            id,
        };
        vec![
            stored("create", "logs", DocId::Given("a\"1".into())),
            stored("create", "logs", DocId::Generated(7)),
            stored("index", "other", DocId::Given("b".into())),
            Item::Failed {
                action: "update".into(),
                index: "logs".into(),
                id: Some("c".into()),
                status: 400,
                kind: "illegal_argument_exception",
                reason: "no".into(),
            },
        ]
    }

    #[test]
    fn a_filtered_answer_is_the_whole_answer_filtered() {
        for path in [
            "errors,items.*.error,items.*.status",
            "errors,items.*.error",
            "items.*._id",
            "took,items.create",
            "-items.*._shards,-took",
            "**.status",
            "nothing",
        ] {
            let filter = FilterPath::parse(path).unwrap();
            let whole: Value = serde_json::from_slice(&answer_json(4, true, some_items())).unwrap();
            let got: Value =
                serde_json::from_slice(&filtered_answer_json(4, true, some_items(), &filter))
                    .unwrap();
            assert_eq!(got, filter.apply(whole), "{path}");
        }
        // An index or id holding the markers' text is written as it is.
        let filter = FilterPath::parse("items.*._index,items.*._id").unwrap();
        let tricky = vec![Item::Stored {
            action: "create",
            index: "a\u{1}id\u{1}".into(),
            id: DocId::Given("\u{1}index\u{1}".into()),
        }];
        let got: Value =
            serde_json::from_slice(&filtered_answer_json(1, false, tricky, &filter)).unwrap();
        assert_eq!(
            got,
            json!({"items": [{"create": {"_index": "a\u{1}id\u{1}", "_id": "\u{1}index\u{1}"}}]})
        );
        // What Filebeat gets for a bulk without errors.
        let filter = FilterPath::parse("errors,items.*.error,items.*.status").unwrap();
        let ok = vec![Item::Stored {
            action: "create",
            index: "logs".into(),
            id: DocId::Generated(1),
        }];
        assert_eq!(
            filtered_answer_json(2, false, ok, &filter),
            br#"{"errors":false,"items":[{"create":{"status":201}}]}"#
        );
    }

    #[test]
    fn answer_text_is_the_elasticsearch_shape() {
        let items = vec![
            Item::Stored {
                action: "create",
                index: "lo\"gs".into(),
                id: DocId::Given("x1".into()),
            },
            Item::Stored {
                action: "index",
                index: "lo\"gs".into(),
                id: DocId::Generated(255),
            },
            Item::Failed {
                action: "delete".into(),
                index: "a".into(),
                id: None,
                status: 400,
                kind: "illegal_argument_exception",
                reason: "no".into(),
            },
        ];
        let v: Value = serde_json::from_slice(&answer_json(3, true, items)).unwrap();
        assert_eq!(
            v,
            json!({"took": 3, "errors": true, "items": [
                {"create": {"_index": "lo\"gs", "_id": "x1", "_version": 1, "result": "created",
                    "_shards": {"total": 1, "successful": 1, "failed": 0},
                    "_seq_no": 0, "_primary_term": 1, "status": 201}},
                {"index": {"_index": "lo\"gs", "_id": "000000000000000000ff", "_version": 1,
                    "result": "created", "_shards": {"total": 1, "successful": 1, "failed": 0},
                    "_seq_no": 0, "_primary_term": 1, "status": 201}},
                {"delete": {"_index": "a", "_id": null, "status": 400,
                    "error": {"type": "illegal_argument_exception", "reason": "no"}}}
            ]})
        );
    }

    #[test]
    fn repeated_action_lines_are_read_once_and_keep_their_meaning() {
        let body = concat!(
            "{\"create\":{\"_index\":\"a\"}}\r\n{\"msg\":\"1\"}\n",
            "{\"create\":{\"_index\":\"a\"}}\n{\"msg\":\"2\"}\n",
            "{\"create\":{\"_index\":\"b\",\"_id\":\"x\"}}\n{\"msg\":\"3\"}\n",
            "{\"create\":{\"_index\":\"b\",\"_id\":\"x\"}}\n{\"msg\":\"4\"}\n",
            "{\"create\":{\"routing\":\"r\"}}\n{\"msg\":\"5\"}\n",
            "{\"create\":{\"routing\":\"r\"}}\n{\"msg\":\"6\"}",
        );
        let p = parse_body(body.as_bytes(), Some("d"), Timestamp(0), None).unwrap();
        let got: Vec<(String, Option<String>)> = p
            .records
            .iter()
            .map(|r| {
                let (index, id) = skein_model::es_mapping::identity(&r.fields).unwrap();
                (format!("{index}:{}", r.message), id.map(str::to_string))
            })
            .collect();
        assert_eq!(
            got,
            [
                ("a:1".to_string(), None),
                ("a:2".to_string(), None),
                ("b:3".to_string(), Some("x".to_string())),
                ("b:4".to_string(), Some("x".to_string())),
            ]
        );
        let failed = p
            .items
            .iter()
            .filter(|i| matches!(i, Item::Failed { reason, .. } if reason.contains("[routing]")))
            .count();
        assert_eq!(
            failed, 2,
            "each repeat of a bad action line fails on its own"
        );
        let mut items = p.items;
        settle(
            &mut items,
            &IngestOutcome {
                lsn: Some(9),
                conflicts: vec![2],
                ..IngestOutcome::default()
            },
        );
        assert!(
            matches!(&items[2], Item::Failed { status: 409, id: Some(id), .. } if id == "x"),
            "the refused create fails with 409"
        );
        let ids: Vec<String> = items
            .iter()
            .filter_map(|i| match i {
                Item::Stored {
                    id: DocId::Generated(n),
                    ..
                } => Some(format!("{n:020x}")),
                _ => None,
            })
            .collect();
        assert_eq!(
            ids,
            [
                skein_indexer::ids::generated_id(9 << 24),
                skein_indexer::ids::generated_id((9 << 24) | 1)
            ],
            "generated ids are the records' ingest order"
        );
    }

    /// As Elasticsearch's REST tests expect: a last action line without its document
    /// is ignored, and an empty `_id` fails its own item.
    #[test]
    fn a_trailing_action_is_ignored_and_an_empty_id_refused() {
        let body = concat!(
            "{\"index\":{\"_id\":\"\"}}\n{\"f\":1}\n",
            "{\"create\":{\"_id\":\"\"}}\n{\"f\":1}\n",
            "{\"index\":{\"_id\":\"a\"}}\n{\"f\":2}\n",
            "{\"index\":{}}\n",
        );
        let p = parse_body(body.as_bytes(), Some("i"), Timestamp(0), None).unwrap();
        assert_eq!(p.items.len(), 3);
        assert_eq!(p.records.len(), 1);
        for item in &p.items[..2] {
            match item {
                Item::Failed { status, reason, .. } => {
                    assert_eq!(*status, 400);
                    assert_eq!(reason, "if _id is specified it must not be empty");
                }
                _ => panic!("an empty _id is refused"),
            }
        }
        assert!(matches!(p.items[2], Item::Stored { .. }));
    }

    #[test]
    fn unpairable_bodies_fail_whole() {
        for (body, want) in [
            ("garbage\n{}\n", "line 1: expected an action line"),
            ("{\"upsert\":{}}\n{}\n", "unknown bulk action [upsert]"),
            ("{\"index\":{},\"create\":{}}\n{}\n", "exactly one action"),
        ] {
            let e = parse_body(body.as_bytes(), Some("i"), Timestamp(0), None)
                .err()
                .unwrap();
            assert!(e.reason.contains(want), "{body}: {}", e.reason);
        }
    }
}
