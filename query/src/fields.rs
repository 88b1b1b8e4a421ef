//! The fields records have, with their types and most common values:
//! `GET /api/v1/fields`, for a field list like Kibana's sidebar.
//!
//! Names and types come from the index itself (every segment of the partitions in the
//! time range lists its columns), so a field seen once is listed. Top values come, as in
//! Kibana's sidebar, from a sample: the newest matching records.

use crate::search::{search, SearchError, SearchRequest};
use serde::Serialize;
use serde_json::Value;
use skein_indexer::schema::names;
use skein_indexer::Catalog;
use skein_model::{Record, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;
use tantivy::schema::Type;

/// What `GET /api/v1/fields` is asked.
#[derive(Debug, Clone, Default)]
pub struct FieldsRequest {
    /// Query the sample matches.
    pub q: String,
    /// Inclusive lower bound.
    pub start: Option<Timestamp>,
    /// Inclusive upper bound.
    pub end: Option<Timestamp>,
    /// Newest matching records to take top values from.
    pub sample: usize,
    /// Top values per field.
    pub top: usize,
    /// What `now` means in date math.
    pub now: Option<Timestamp>,
    /// When to stop sampling.
    pub stop: crate::Stop,
}

/// One value and how many sampled records have it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TopValue {
    /// The value as it appears in records.
    pub value: Value,
    /// Sampled records holding it.
    pub count: u64,
}

/// One field.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldInfo {
    /// Name as queries write it (`level`, `fields.latency_ms`, `labels.app`).
    pub name: String,
    /// `date`, `keyword`, `text`, `long`, `double`, `boolean`, or `mixed` when records
    /// disagree (`types` lists them).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Every type seen.
    pub types: Vec<&'static str>,
    /// Whether aggregations can use it (everything but `message`).
    pub aggregatable: bool,
    /// Sampled records that have it.
    pub count: u64,
    /// Its most common values in the sample, most common first.
    pub top: Vec<TopValue>,
}

/// The answer.
#[derive(Debug, Serialize)]
pub struct FieldsResponse {
    /// Record fields first, then `fields.` and `labels.` paths by name.
    pub fields: Vec<FieldInfo>,
    /// Records the top values were taken from.
    pub sampled: usize,
    /// Time spent.
    pub took_ms: u64,
}

/// The fields of records in the request's time range.
pub fn fields(catalog: &Catalog, req: &FieldsRequest) -> Result<FieldsResponse, SearchError> {
    let started = Instant::now();
    let mut types: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    let start = req.start.unwrap_or(Timestamp(i64::MIN));
    let end = req
        .end
        .map_or(Timestamp(i64::MAX), |e| Timestamp(e.0.saturating_add(1)));
    for p in catalog.overlapping(start, end) {
        let searcher = p.searcher();
        for reader in searcher.segment_readers() {
            for meta in reader.fields_metadata()? {
                if !(meta.field_name.starts_with("fields.")
                    || meta.field_name.starts_with("labels."))
                {
                    continue;
                }
                let t = type_name(meta.typ);
                let seen = types.entry(meta.field_name).or_default();
                if !seen.contains(&t) {
                    seen.push(t);
                }
            }
        }
    }
    let sample = search(
        catalog,
        &SearchRequest {
            q: req.q.clone(),
            start: req.start,
            end: req.end,
            limit: req.sample,
            now: req.now,
            stop: req.stop.clone(),
            ..Default::default()
        },
    )?;
    let mut values: HashMap<String, HashMap<String, (Value, u64)>> = HashMap::new();
    for r in &sample.hits {
        for (name, v) in flatten(r) {
            let entry = values.entry(name).or_default();
            let key = v.to_string();
            entry.entry(key).or_insert((v, 0)).1 += 1;
        }
    }
    let mut out = Vec::new();
    let fixed: [(&str, &'static str); 8] = [
        (names::TIMESTAMP, "date"),
        ("host", "keyword"),
        ("container", "keyword"),
        ("container_id", "keyword"),
        ("image", "keyword"),
        ("stream", "keyword"),
        ("level", "keyword"),
        ("message", "text"),
    ];
    let mut info = |name: &str, kinds: Vec<&'static str>| {
        let seen = values.remove(name).unwrap_or_default();
        let count = seen.values().map(|(_, n)| n).sum();
        let mut top: Vec<TopValue> = seen
            .into_values()
            .map(|(value, count)| TopValue { value, count })
            .collect();
        top.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.value.to_string().cmp(&b.value.to_string()))
        });
        top.truncate(req.top);
        let kind = match kinds.as_slice() {
            [one] => *one,
            many if many.iter().all(|k| matches!(*k, "long" | "double")) => "double",
            _ => "mixed",
        };
        FieldInfo {
            name: name.to_string(),
            kind,
            types: kinds,
            aggregatable: name != "message",
            count,
            top,
        }
    };
    for (name, kind) in fixed {
        // The message is unique per record: its top values say nothing.
        let mut f = info(name, vec![kind]);
        if name == "message" || name == names::TIMESTAMP {
            f.top.clear();
        }
        out.push(f);
    }
    for (name, kinds) in types {
        out.push(info(&name, kinds));
    }
    Ok(FieldsResponse {
        fields: out,
        sampled: sample.hits.len(),
        took_ms: started.elapsed().as_millis() as u64,
    })
}

fn type_name(t: Type) -> &'static str {
    match t {
        Type::Str => "keyword",
        Type::U64 | Type::I64 => "long",
        Type::F64 => "double",
        Type::Bool => "boolean",
        Type::Date => "date",
        Type::IpAddr => "ip",
        _ => "keyword",
    }
}

/// A record's values by field name; array elements count separately, nested objects
/// become dotted paths, as the index stores them.
fn flatten(r: &Record) -> Vec<(String, Value)> {
    let mut out = vec![
        (
            names::TIMESTAMP.to_string(),
            Value::String(r.timestamp.to_string()),
        ),
        ("message".to_string(), Value::String(r.message.clone())),
    ];
    for (name, v) in [
        ("host", &r.host),
        ("container", &r.container),
        ("container_id", &r.container_id),
        ("image", &r.image),
        ("stream", &r.stream),
    ] {
        if !v.is_empty() {
            out.push((name.to_string(), Value::String(v.clone())));
        }
    }
    if let Some(l) = r.level {
        out.push(("level".into(), Value::String(l.as_str().into())));
    }
    if let Some(p) = r.pattern {
        out.push(("pattern".into(), Value::String(p.to_string())));
    }
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(o) => {
                for (k, v) in o {
                    walk(&format!("{prefix}.{k}"), v, out);
                }
            }
            Value::Array(a) => {
                for v in a {
                    walk(prefix, v, out);
                }
            }
            Value::Null => {}
            scalar => out.push((prefix.to_string(), scalar.clone())),
        }
    }
    for (k, v) in &r.fields {
        walk(&format!("fields.{k}"), v, &mut out);
    }
    for (k, v) in &r.labels {
        walk(&format!("labels.{k}"), &Value::String(v.clone()), &mut out);
    }
    out
}
