//! `GET /es/{index}/_mapping` (and `GET /es/_mapping`): the fields an index holds with
//! their Elasticsearch types; `PUT /es/{index}/_mapping`: accepted and remembered, as
//! templates are (skein has one schema for every record, so nothing is applied).
//!
//! The types are read off the index's newest documents as they were sent (their
//! `_source`), [`SAMPLE`] of them: `@timestamp` and other RFC 3339 texts are `date`,
//! `message` (and `log`, `msg`) `text`, other strings `keyword` (skein matches them
//! exactly), whole numbers `long`, others `double`, and `true`/`false` `boolean`;
//! objects have `properties`. Mappings put for the index are laid over what is read.

use super::error::EsError;
use super::search::{and_index, index_patterns, internal, source_of};
use super::EsState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Map, Value};
use skein_model::Timestamp;
use skein_query::lang::ast::Node;
use skein_query::lang::print::to_query_string;
use skein_query::{Order, SearchRequest, Stop, Total};
use std::collections::BTreeMap;

/// Newest documents per request whose fields are described.
const SAMPLE: usize = 1_000;
/// Fields described per index, Elasticsearch's `index.mapping.total_fields.limit`.
const MAX_FIELDS: usize = 1_000;
/// Largest mapping a `PUT` may remember.
const MAX_PUT_BYTES: usize = 256 << 10;
/// The kind mappings are remembered under, beside templates and policies.
const KIND: &str = "_mapping";

/// `GET /es/{index}/_mapping`.
pub async fn get_of(
    State(s): State<EsState>,
    Path(index): Path<String>,
) -> Result<Json<Value>, EsError> {
    describe(&s, &index).await
}

/// `GET /es/_mapping`: every index's.
pub async fn get_all(State(s): State<EsState>) -> Result<Json<Value>, EsError> {
    describe(&s, "").await
}

/// `PUT /es/{index}/_mapping`: remembered (merged into what was put before).
pub async fn put(
    State(s): State<EsState>,
    Path(index): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, EsError> {
    if body.len() > MAX_PUT_BYTES {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            format!(
                "the mapping is {} bytes, more than the {MAX_PUT_BYTES} skein remembers; \
                 put only the fields a client needs to see",
                body.len()
            ),
        ));
    }
    let put = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(o)) => o,
        _ => return Err(EsError::bad_request(
            "mapper_parsing_exception",
            "a mapping is a JSON object such as {\"properties\": {\"f\": {\"type\": \"keyword\"}}}",
        )),
    };
    let names = index_patterns(&index);
    if names.is_empty() || names.iter().any(|n| n.contains('*')) {
        return Err(EsError::bad_request(
            "illegal_argument_exception",
            "put a mapping to named indices (`/logs/_mapping`), not a pattern",
        ));
    }
    let mut settings = s.settings.lock().expect("lock");
    for name in names {
        let entry = settings
            .entry((KIND.to_string(), name.clone()))
            .or_insert_with(|| json!({}));
        merge_put(entry, &put);
        s.indices.lock().expect("lock").insert(name);
    }
    Ok(Json(json!({"acknowledged": true})))
}

/// Lays `put` over `into`: `properties` merged field by field, other keys replaced.
fn merge_put(into: &mut Value, put: &Map<String, Value>) {
    let Value::Object(into) = into else { return };
    for (k, v) in put {
        match (k.as_str(), into.get_mut(k), v) {
            ("properties", Some(Value::Object(have)), Value::Object(new)) => {
                for (f, m) in new {
                    have.insert(f.clone(), m.clone());
                }
            }
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

async fn describe(s: &EsState, index: &str) -> Result<Json<Value>, EsError> {
    let node = and_index(index, Node::All)?;
    let req = SearchRequest {
        q: to_query_string(&node),
        start: None,
        end: None,
        limit: SAMPLE,
        order: Order::Desc,
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
    let mut by_index: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for record in &res.hits {
        let name = match record.fields.get("_index") {
            Some(Value::String(s)) => s.clone(),
            _ => "skein".to_string(),
        };
        let props = by_index.entry(name).or_default();
        if let Value::Object(doc) = source_of(record) {
            infer(props, &doc, &mut 0);
        }
    }
    let patterns = index_patterns(index);
    let wanted = |name: &str| {
        patterns.is_empty()
            || patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => p == name,
            })
    };
    let put: Vec<(String, Value)> = s
        .settings
        .lock()
        .expect("lock")
        .iter()
        .filter(|((kind, name), _)| kind == KIND && wanted(name))
        .map(|((_, name), v)| (name.clone(), v.clone()))
        .collect();
    let known: Vec<String> = s
        .indices
        .lock()
        .expect("lock")
        .iter()
        .filter(|n| wanted(n))
        .cloned()
        .collect();
    let mut out = Map::new();
    for name in known {
        out.insert(name, json!({"mappings": {}}));
    }
    for (name, props) in by_index {
        out.insert(name, json!({"mappings": {"properties": props}}));
    }
    for (name, mapping) in put {
        let entry = out.entry(name).or_insert_with(|| json!({"mappings": {}}));
        if let Value::Object(m) = mapping {
            merge_put(&mut entry["mappings"], &m);
        }
    }
    if out.is_empty() && !patterns.is_empty() && !patterns.iter().any(|p| p.contains('*')) {
        return Err(EsError {
            status: axum::http::StatusCode::NOT_FOUND,
            kind: "index_not_found_exception",
            reason: format!("no such index [{index}]"),
            retry_after: None,
        });
    }
    Ok(Json(Value::Object(out)))
}

/// Adds the types of `doc`'s fields to `props`; `count` caps the fields described.
fn infer(props: &mut Map<String, Value>, doc: &Map<String, Value>, count: &mut usize) {
    for (key, value) in doc {
        let value = match value {
            Value::Array(items) => match items.iter().find(|v| !v.is_null()) {
                Some(v) => v,
                None => continue,
            },
            Value::Null => continue,
            v => v,
        };
        if let Value::Object(inner) = value {
            let entry = props
                .entry(key.clone())
                .or_insert_with(|| json!({"properties": {}}));
            if let Some(Value::Object(p)) = entry.get_mut("properties") {
                infer(p, inner, count);
            }
            continue;
        }
        let kind = type_of(key, value);
        match props.get_mut(key) {
            Some(have) => {
                // Whole numbers and fractions in one field: Elasticsearch keeps the
                // first type; a double holds both.
                if have["type"] == "long" && kind == "double" {
                    have["type"] = json!("double");
                }
            }
            None => {
                if *count >= MAX_FIELDS {
                    continue;
                }
                *count += 1;
                props.insert(key.clone(), json!({"type": kind}));
            }
        }
    }
}

fn type_of(key: &str, value: &Value) -> &'static str {
    match value {
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "long",
        Value::Number(_) => "double",
        Value::String(s) => {
            if matches!(key, "message" | "log" | "msg") {
                "text"
            } else if key == "@timestamp" || Timestamp::parse_rfc3339(s).is_ok() {
                "date"
            } else {
                "keyword"
            }
        }
        _ => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_read_off_documents() {
        let mut props = Map::new();
        let doc = json!({"@timestamp": "2026-11-20T10:00:00Z", "message": "m", "host": "h",
            "n": 1, "r": 0.5, "ok": true, "http": {"status": 200}, "tags": ["a"], "gone": null});
        infer(&mut props, doc.as_object().unwrap(), &mut 0);
        let doc2 = json!({"n": 1.5});
        infer(&mut props, doc2.as_object().unwrap(), &mut 0);
        assert_eq!(
            Value::Object(props),
            json!({"@timestamp": {"type": "date"}, "message": {"type": "text"},
                "host": {"type": "keyword"}, "n": {"type": "double"}, "r": {"type": "double"},
                "ok": {"type": "boolean"}, "http": {"properties": {"status": {"type": "long"}}},
                "tags": {"type": "keyword"}})
        );
    }

    #[test]
    fn puts_merge_field_by_field() {
        let mut have = json!({});
        merge_put(
            &mut have,
            json!({"properties": {"a": {"type": "keyword"}}})
                .as_object()
                .unwrap(),
        );
        merge_put(
            &mut have,
            json!({"properties": {"b": {"type": "long"}}, "dynamic": false})
                .as_object()
                .unwrap(),
        );
        assert_eq!(
            have,
            json!({"properties": {"a": {"type": "keyword"}, "b": {"type": "long"}}, "dynamic": false})
        );
    }
}
