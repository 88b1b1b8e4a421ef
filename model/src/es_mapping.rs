//! An Elasticsearch document to a [`Record`], and the names users query it by.
//!
//! - time: the first of `@timestamp`, `timestamp`, `time` that is present (RFC 3339,
//!   with or without a zone, a bare date, or epoch milliseconds as a number);
//!   the time of arrival when none is.
//! - message: the first string among `message`, `log`, `msg`, one trailing newline
//!   stripped (Docker's `log` ends in one).
//! - level: `level` or `log.level` (ECS), when it is a known severity.
//! - stream: `stream`.
//! - host / container / container_id / image / labels: the metadata keys of Fluent Bit's
//!   kubernetes filter, Fluentd's docker and kubernetes metadata, Filebeat's `container.*`,
//!   `host.name` and `kubernetes.*`, and Vector's docker and kubernetes sources (see
//!   `META`). Kubernetes pod and namespace become the labels the kubelet puts on a
//!   container (`io.kubernetes.pod.name`, `io.kubernetes.pod.namespace`), and the
//!   container's name is also `io.kubernetes.container.name`, as records shipped by
//!   the agent from a Kubernetes node have them.
//! - everything else, nested objects kept, goes to `fields`, with the index as
//!   `fields._index` and a client-given id as `fields._id`.
//!
//! The keys moved out of `fields` can still be queried by the names they were sent
//! under: [`alias`] maps them to where they went.
//!
//! The mapping lives in the model crate, not with the `/es` routes, because the indexer
//! needs it too: a record that came through `/es` is stored as its original document
//! only, and [`from_original`] maps that again when the record is read back.

use crate::{Level, Original, Record, Timestamp};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Where a metadata key goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Host,
    Container,
    ContainerId,
    Image,
    /// One label of this name.
    Label(&'static str),
    /// An object whose every entry is a label.
    Labels,
}

/// Known metadata keys (dotted paths into the document) and where they go; for a
/// single-valued target the first one present wins and later ones stay in `fields`.
const META: &[(&str, Target)] = &[
    // Filebeat (ECS).
    ("host.name", Target::Host),
    ("container.name", Target::Container),
    ("container.id", Target::ContainerId),
    ("container.image.name", Target::Image),
    ("container.labels", Target::Labels),
    ("kubernetes.node.name", Target::Host),
    ("kubernetes.container.name", Target::Container),
    (
        "kubernetes.pod.name",
        Target::Label("io.kubernetes.pod.name"),
    ),
    (
        "kubernetes.namespace",
        Target::Label("io.kubernetes.pod.namespace"),
    ),
    // Fluent Bit's kubernetes filter (also fluent-plugin-kubernetes_metadata_filter).
    ("kubernetes.host", Target::Host),
    ("kubernetes.container_name", Target::Container),
    ("kubernetes.docker_id", Target::ContainerId),
    ("kubernetes.container_image", Target::Image),
    ("kubernetes.labels", Target::Labels),
    (
        "kubernetes.pod_name",
        Target::Label("io.kubernetes.pod.name"),
    ),
    (
        "kubernetes.namespace_name",
        Target::Label("io.kubernetes.pod.namespace"),
    ),
    // Fluentd's docker metadata filter.
    ("docker.container_id", Target::ContainerId),
    ("docker.id", Target::ContainerId),
    ("docker.name", Target::Container),
    ("docker.image", Target::Image),
    ("docker.labels", Target::Labels),
    // Vector's kubernetes_logs source.
    ("kubernetes.pod_node_name", Target::Host),
    ("kubernetes.pod_labels", Target::Labels),
    (
        "kubernetes.pod_namespace",
        Target::Label("io.kubernetes.pod.namespace"),
    ),
    // Vector's docker_logs source, Docker's fluentd logging driver.
    ("host", Target::Host),
    ("container_name", Target::Container),
    ("container_id", Target::ContainerId),
    ("image", Target::Image),
    ("label", Target::Labels),
];

/// The [`HEADS`] slot of each `META` path's first part.
static META_HEADS: std::sync::LazyLock<Vec<usize>> = std::sync::LazyLock::new(|| {
    META.iter()
        .map(|(path, _)| {
            let head = path.split('.').next().unwrap_or(path);
            head_slot(head).expect("every META path starts with a head")
        })
        .collect()
});

/// The top-level keys a document's time is read from, the first present winning.
pub const TIME_KEYS: [&str; 3] = ["@timestamp", "timestamp", "time"];
const MESSAGE_KEYS: [&str; 3] = ["message", "log", "msg"];

/// A top-level value of a document whose text is exactly a part of its record: a string
/// without escapes whose content is that part. A store that keeps the part anyway (in a
/// column) can leave the value out of its copy of the document and write the part back
/// in its place, which gives the same text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The value's place among the document's top-level entries, from 0, repeated keys
    /// counted.
    pub entry: u32,
    /// The value's text, quotes included, as a byte range of the document.
    pub span: std::ops::Range<u32>,
    /// The part of the record it equals.
    pub part: Part,
}

/// A part of a record a [`Cut`] value equals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `host`.
    Host,
    /// `container`.
    Container,
    /// `container_id`.
    ContainerId,
    /// `image`.
    Image,
    /// `stream`.
    Stream,
    /// `level`, as [`Level::as_str`] writes it.
    Level,
    /// `@timestamp`, as [`Timestamp::rfc3339_bytes`] writes it.
    Timestamp,
    /// `fields.<key>`, where `key` is the entry's own key: a plain key (no dot, which
    /// would read as nesting, no escape) whose value went to `fields` unchanged.
    Field,
}

/// Why a document cannot be stored; the bulk item fails with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingError(pub String);

/// Maps one document of index `index` (with the client's `_id`, if any), given as the
/// JSON text the client sent, to a record that keeps that text as its `original`. `now`
/// is used when the document carries no time.
pub fn map_document(
    doc: &str,
    index: &str,
    id: Option<&str>,
    now: Timestamp,
) -> Result<Record, MappingError> {
    let (mut record, cuts) = map(doc, index, id, now)?;
    record.original = Some(Original::parsed(doc, cuts));
    Ok(record)
}

/// Rebuilds a record stored as only its original document: maps `original` again, as
/// [`map_document`] did when it arrived (the mapping is a pure function of the document,
/// the index, the id and the time, so it gives the same record), and keeps the original.
/// `timestamp` is the record's stored time, which is also what a document without a time
/// was given at arrival.
pub fn from_original(
    mut original: Original,
    index: &str,
    id: Option<&str>,
    timestamp: Timestamp,
) -> Result<Record, MappingError> {
    let (mut record, cuts) = map(original.get(), index, id, timestamp)?;
    original.set_cuts(cuts);
    record.original = Some(original);
    Ok(record)
}

fn map(
    doc: &str,
    index: &str,
    id: Option<&str>,
    now: Timestamp,
) -> Result<(Record, Vec<Cut>), MappingError> {
    let mut fields: Doc = serde_json::from_str(doc)
        .map_err(|e| MappingError(format!("the document is not a JSON object: {e}")))?;
    for meta in ["_index", "_id"] {
        if fields.get(meta).is_some() {
            return Err(MappingError(format!(
                "field [{meta}] is a metadata field and cannot be added inside a document; \
                 put it in the action line instead"
            )));
        }
    }
    let mut timestamp = None;
    for key in TIME_KEYS {
        if let Some(v) = fields.get(key) {
            match parse_time(v) {
                Some(t) => {
                    timestamp = Some(t);
                    fields.take(key);
                    break;
                }
                None => {
                    return Err(MappingError(format!(
                        "failed to parse field [{key}] of type [date]: {v} is not an RFC 3339 \
                         time (2026-11-20T10:00:00.123Z), a date or epoch milliseconds"
                    )))
                }
            }
        }
    }
    let mut message = String::new();
    for key in MESSAGE_KEYS {
        if let Some(Value::String(_)) = fields.get(key) {
            let Some(Value::String(mut m)) = fields.take(key) else {
                unreachable!("checked")
            };
            if m.ends_with('\n') {
                m.pop();
                if m.ends_with('\r') {
                    m.pop();
                }
            }
            message = m;
            break;
        }
    }
    let mut record = Record::new(timestamp.unwrap_or(now), message);
    for path in ["level", "log.level"] {
        let level = match fields.get(path) {
            Some(Value::String(s)) => Level::parse_loose(s),
            _ => None,
        };
        if level.is_some() {
            record.level = level;
            fields.take(path);
            break;
        }
    }
    if let Some(Value::String(_)) = fields.get("stream") {
        if let Some(Value::String(s)) = fields.take("stream") {
            record.stream = s;
        }
    }
    let mut labels = BTreeMap::new();
    for ((path, target), head) in META.iter().zip(META_HEADS.iter()) {
        if fields.heads[*head].is_none() {
            // Most documents hold a few of these keys: skip the rest without a lookup.
            continue;
        }
        let single = match target {
            Target::Host => Some(&mut record.host),
            Target::Container => Some(&mut record.container),
            Target::ContainerId => Some(&mut record.container_id),
            Target::Image => Some(&mut record.image),
            Target::Label(_) | Target::Labels => None,
        };
        match (single, fields.get(path)) {
            (Some(slot), Some(Value::String(_))) if slot.is_empty() => {
                let Some(Value::String(mut s)) = fields.take(path) else {
                    unreachable!("checked")
                };
                // Docker's fluentd driver sends container names with their leading `/`.
                if s.starts_with('/') {
                    s.remove(0);
                }
                *slot = s;
            }
            (None, Some(Value::String(_))) => {
                if let Target::Label(name) = target {
                    let Some(Value::String(s)) = fields.take(path) else {
                        unreachable!("checked")
                    };
                    labels.entry(name.to_string()).or_insert(s);
                }
            }
            (None, Some(Value::Object(_))) if *target == Target::Labels => {
                let Some(Value::Object(o)) = fields.take(path) else {
                    unreachable!("checked")
                };
                flatten_labels("", o, &mut labels);
            }
            _ => {}
        }
    }
    // A Kubernetes document's container is a pod's container: its name also goes where
    // the agent's records from a node have it, so `skein logs pod/NAME -c C` finds both.
    if labels.contains_key("io.kubernetes.pod.name") && !record.container.is_empty() {
        labels
            .entry("io.kubernetes.container.name".to_string())
            .or_insert_with(|| record.container.clone());
    }
    record.labels = labels;
    let (mut map, repeated) = fields.take_rest();
    let cuts = fields.cuts(doc, &record, repeated);
    map.insert("_index".into(), Value::String(index.to_string()));
    if let Some(id) = id {
        map.insert("_id".into(), Value::String(id.to_string()));
    }
    record.fields = map;
    Ok((record, cuts))
}

/// The top-level keys the mapping looks at. Every key of `META`, [`TIME_KEYS`] and
/// [`MESSAGE_KEYS`] starts with one of these (a test checks it).
const HEADS: [&str; 18] = [
    "_index",
    "_id",
    "@timestamp",
    "timestamp",
    "time",
    "message",
    "log",
    "msg",
    "level",
    "stream",
    "host",
    "container",
    "kubernetes",
    "docker",
    "container_name",
    "container_id",
    "image",
    "label",
];

fn head_slot(key: &str) -> Option<usize> {
    // A match compiles to a comparison by length then bytes: cheaper per key than the
    // hashing a map of the whole document would do.
    Some(match key {
        "_index" => 0,
        "_id" => 1,
        "@timestamp" => 2,
        "timestamp" => 3,
        "time" => 4,
        "message" => 5,
        "log" => 6,
        "msg" => 7,
        "level" => 8,
        "stream" => 9,
        "host" => 10,
        "container" => 11,
        "kubernetes" => 12,
        "docker" => 13,
        "container_name" => 14,
        "container_id" => 15,
        "image" => 16,
        "label" => 17,
        _ => return None,
    })
}

/// A document's top level as sent: its entries in order, with where each key of
/// [`HEADS`] is. The mapping takes entries out; the rest become `fields`. Keys are
/// borrowed from the text where they hold no escapes; a repeated key keeps its first
/// place and its last value, as a `serde_json::Map` would.
struct Doc<'a> {
    entries: Vec<Entry<'a>>,
    heads: [Option<usize>; HEADS.len()],
}

/// One top-level entry.
struct Entry<'a> {
    key: Cow<'a, str>,
    /// `None` once taken by the mapping (or moved to `fields`).
    value: Option<Value>,
    /// The value's content when it is a string without escapes, borrowed from the
    /// document (the last value for a repeated key).
    plain: Option<&'a str>,
    /// Its place among the top-level entries, repeated keys counted.
    n: u32,
    /// Its value went to `fields` as it was.
    kept: bool,
}

/// A top-level value as parsed, with its content when it is a string without escapes:
/// borrowed from the document, so a [`Cut`] can point at it. One pass over the text,
/// where taking each value's text first and parsing that again read it twice.
struct TopValue<'a>(Value, Option<&'a str>);

impl<'de> Deserialize<'de> for TopValue<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<TopValue<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopValue<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            // serde_json lends a string from its input only when it held no escape.
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<TopValue<'de>, E> {
                Ok(TopValue(Value::String(s.to_owned()), Some(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<TopValue<'de>, E> {
                Ok(TopValue(Value::String(s.to_owned()), None))
            }
            fn visit_string<E>(self, s: String) -> Result<TopValue<'de>, E> {
                Ok(TopValue(Value::String(s), None))
            }
            fn visit_bool<E>(self, b: bool) -> Result<TopValue<'de>, E> {
                Ok(TopValue(Value::Bool(b), None))
            }
            fn visit_i64<E>(self, n: i64) -> Result<TopValue<'de>, E> {
                Ok(TopValue(Value::from(n), None))
            }
            fn visit_u64<E>(self, n: u64) -> Result<TopValue<'de>, E> {
                Ok(TopValue(Value::from(n), None))
            }
            fn visit_f64<E>(self, n: f64) -> Result<TopValue<'de>, E> {
                Ok(TopValue(Value::from(n), None))
            }
            fn visit_unit<E>(self) -> Result<TopValue<'de>, E> {
                Ok(TopValue(Value::Null, None))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<TopValue<'de>, A::Error> {
                let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(m))?;
                Ok(TopValue(v, None))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                s: A,
            ) -> Result<TopValue<'de>, A::Error> {
                let v = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(s))?;
                Ok(TopValue(v, None))
            }
        }
        d.deserialize_any(V)
    }
}

impl Doc<'_> {
    /// The value at a dotted `path` whose first part is a top-level key.
    fn get(&self, path: &str) -> Option<&Value> {
        let (head, rest) = match path.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (path, None),
        };
        let v = self.entries[self.heads[head_slot(head)?]?].value.as_ref()?;
        match (rest, v) {
            (None, v) => Some(v),
            (Some(rest), Value::Object(inner)) => get_path(inner, rest),
            _ => None,
        }
    }

    /// Removes the value at `path`, and an object left empty by that.
    fn take(&mut self, path: &str) -> Option<Value> {
        let (head, rest) = match path.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (path, None),
        };
        let entry = &mut self.entries[self.heads[head_slot(head)?]?].value;
        match (rest, entry.as_mut()?) {
            (None, _) => entry.take(),
            (Some(rest), Value::Object(inner)) => {
                let v = take_path(inner, rest);
                if inner.is_empty() {
                    *entry = None;
                }
                v
            }
            _ => None,
        }
    }

    /// What was not taken, in order, and whether a key other than the mapped ones was
    /// repeated (its earlier values are then not in the map).
    fn take_rest(&mut self) -> (Map<String, Value>, bool) {
        // Room for what is left and the index and id the mapping adds: the map is kept
        // with its record until indexed.
        let left = self.entries.iter().filter(|e| e.value.is_some()).count();
        let mut map = Map::with_capacity(left + 2);
        let mut repeated = false;
        for e in &mut self.entries {
            if let Some(v) = e.value.take() {
                e.kept = true;
                repeated |= map.insert(e.key.to_string(), v).is_some();
            }
        }
        (map, repeated)
    }

    /// The values of `doc` that equal a part of `record` ([`Cut`]), once the mapping
    /// is done and the rest taken for `fields`.
    fn cuts(&self, doc: &str, record: &Record, repeated: bool) -> Vec<Cut> {
        let base = doc.as_ptr() as usize;
        let level = record.level.map(Level::as_str);
        let mut time = None;
        // Most top-level values of a shipper's document are cut: sized once, not grown.
        let mut cuts = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            let Some(content) = e.plain else {
                continue;
            };
            let plain_key = matches!(e.key, Cow::Borrowed(_))
                && !e.key.is_empty()
                && !e.key.contains(['.', '\\', '\u{1}', '\0']);
            let part = if e.kept && plain_key && !repeated {
                Part::Field
            } else if content == record.host && !content.is_empty() {
                Part::Host
            } else if content == record.container && !content.is_empty() {
                Part::Container
            } else if content == record.container_id && !content.is_empty() {
                Part::ContainerId
            } else if content == record.image && !content.is_empty() {
                Part::Image
            } else if content == record.stream && !content.is_empty() {
                Part::Stream
            } else if Some(content) == level {
                Part::Level
            } else if content.len() == 30
                && content.as_bytes()
                    == time.get_or_insert_with(|| record.timestamp.rfc3339_bytes())
            {
                Part::Timestamp
            } else {
                continue;
            };
            // The value's text is the content between its quotes, in `doc`.
            let Some(start) = (content.as_ptr() as usize).checked_sub(base + 1) else {
                continue;
            };
            if start + content.len() + 2 > doc.len() {
                continue;
            }
            cuts.push(Cut {
                entry: e.n,
                span: start as u32..(start + content.len() + 2) as u32,
                part,
            });
        }
        cuts
    }
}

impl<'de> Deserialize<'de> for Doc<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Doc<'de>, D::Error> {
        struct DocVisitor;
        impl<'de> Visitor<'de> for DocVisitor {
            type Value = Doc<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Doc<'de>, A::Error> {
                let mut doc = Doc {
                    entries: Vec::with_capacity(m.size_hint().unwrap_or(24)),
                    heads: [None; HEADS.len()],
                };
                let mut n = 0;
                while let Some(Key(key)) = m.next_key()? {
                    let TopValue(value, plain) = m.next_value()?;
                    let entry = Entry {
                        key,
                        value: Some(value),
                        plain,
                        n,
                        kept: false,
                    };
                    n += 1;
                    match head_slot(&entry.key) {
                        Some(slot) => match doc.heads[slot] {
                            Some(i) => {
                                let first = &mut doc.entries[i];
                                (first.value, first.plain, first.n) = (entry.value, plain, entry.n);
                            }
                            None => {
                                doc.heads[slot] = Some(doc.entries.len());
                                doc.entries.push(entry);
                            }
                        },
                        None => doc.entries.push(entry),
                    }
                }
                Ok(doc)
            }
        }
        d.deserialize_map(DocVisitor)
    }
}

/// The top-level entries of a JSON object's text, in order, repeated keys included:
/// each key (borrowed when it holds no escapes) and its value's text as it is there.
pub fn top_level_entries(text: &str) -> Result<Vec<(Cow<'_, str>, &str)>, serde_json::Error> {
    struct Entries<'a>(Vec<(Cow<'a, str>, &'a str)>);
    impl<'de> Deserialize<'de> for Entries<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Entries<'de>, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Entries<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Entries<'de>, A::Error> {
                    let mut entries = Vec::with_capacity(m.size_hint().unwrap_or(24));
                    while let Some(Key(key)) = m.next_key()? {
                        let raw: &'de RawValue = m.next_value()?;
                        entries.push((key, raw.get()));
                    }
                    Ok(Entries(entries))
                }
            }
            d.deserialize_map(V)
        }
    }
    serde_json::from_str::<Entries>(text).map(|e| e.0)
}

/// A key borrowed from the document text when it can be.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key<'de>, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// The index and client id a mapped record's `fields` end with (`_index`, then `_id`
/// when the client gave one): read from the end, where the mapping put them, rather
/// than looked up by hashing, as it is asked for every record on its way in.
pub fn identity(fields: &Map<String, Value>) -> Option<(&str, Option<&str>)> {
    let mut last = fields.iter().rev();
    match last.next()? {
        (k, Value::String(id)) if k == "_id" => match last.next()? {
            (k, Value::String(index)) if k == "_index" => Some((index, Some(id))),
            _ => None,
        },
        (k, Value::String(index)) if k == "_index" => Some((index, None)),
        _ => None,
    }
}

/// Where a name a user queries by went, for names moved out of `fields` by `META`:
/// `kubernetes.pod_name` → `labels.io.kubernetes.pod.name`, `container.labels.app` →
/// `labels.app`, `container.name` → `container`. Other names are returned unchanged
/// (the query language resolves names that are not record fields to `fields.<name>`).
/// A `.keyword` suffix, which Elasticsearch users add for exact matches, is dropped:
/// every skein field but `message` matches exact values.
pub fn alias(name: &str) -> String {
    let name = name.strip_suffix(".keyword").unwrap_or(name);
    for (path, target) in META {
        let rest = if name == *path {
            Some("")
        } else {
            name.strip_prefix(path).and_then(|r| r.strip_prefix('.'))
        };
        let Some(rest) = rest else { continue };
        match (target, rest) {
            (Target::Host, "") => return "host".into(),
            (Target::Container, "") => return "container".into(),
            (Target::ContainerId, "") => return "container_id".into(),
            (Target::Image, "") => return "image".into(),
            (Target::Label(l), "") => return format!("labels.{l}"),
            (Target::Labels, r) if !r.is_empty() => return format!("labels.{r}"),
            _ => {}
        }
    }
    match name {
        "log.level" => "level".into(),
        other => other.to_string(),
    }
}

/// Adds the labels of `obj`, nested keys joined by dots, to those not already set.
fn flatten_labels(prefix: &str, obj: Map<String, Value>, out: &mut BTreeMap<String, String>) {
    for (k, v) in obj {
        let key = if prefix.is_empty() {
            k
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(o) => flatten_labels(&key, o, out),
            Value::String(s) => {
                out.entry(key).or_insert(s);
            }
            Value::Null => {}
            other => {
                out.entry(key).or_insert_with(|| other.to_string());
            }
        }
    }
}

fn get_path<'a>(obj: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    match path.split_once('.') {
        None => obj.get(path),
        Some((head, rest)) => match obj.get(head)? {
            Value::Object(inner) => get_path(inner, rest),
            _ => None,
        },
    }
}

/// Removes the value at `path`, and any object left empty by that.
fn take_path(obj: &mut Map<String, Value>, path: &str) -> Option<Value> {
    match path.split_once('.') {
        None => obj.shift_remove(path),
        Some((head, rest)) => {
            let Some(Value::Object(inner)) = obj.get_mut(head) else {
                return None;
            };
            let v = take_path(inner, rest);
            if inner.is_empty() {
                obj.shift_remove(head);
            }
            v
        }
    }
}

/// A document time: RFC 3339 (zone optional, then UTC), a bare date, or epoch
/// milliseconds as a number.
pub fn parse_time(v: &Value) -> Option<Timestamp> {
    match v {
        Value::Number(n) => epoch_scaled(n, 1_000_000),
        Value::String(s) => parse_time_str(s),
        _ => None,
    }
}

/// An epoch number in units of `scale` nanoseconds (1e6 for milliseconds), exact for
/// integers.
pub fn epoch_scaled(n: &serde_json::Number, scale: i64) -> Option<Timestamp> {
    if let Some(i) = n.as_i64() {
        return i.checked_mul(scale).map(Timestamp);
    }
    let ns = n.as_f64()? * scale as f64;
    (ns.is_finite() && ns.abs() < i64::MAX as f64).then(|| Timestamp(ns.round() as i64))
}

/// [`parse_time`] for text.
pub fn parse_time_str(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if let Ok(t) = Timestamp::parse_rfc3339(s) {
        return Some(t);
    }
    let fixed = s.replacen(' ', "T", 1);
    if let Ok(t) = Timestamp::parse_rfc3339(&fixed) {
        return Some(t);
    }
    // `2026-11-20T10:00:00.123+0000`, and times without a zone (taken as UTC).
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M:%S%z"] {
        if let Ok(dt) = chrono::DateTime::parse_from_str(&fixed, fmt) {
            return Timestamp::from_datetime(&dt.with_timezone(&chrono::Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(&fixed, fmt) {
            return Timestamp::from_datetime(&dt.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Timestamp::from_datetime(&d.and_hms_opt(0, 0, 0)?.and_utc());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Record {
        let text = v.to_string();
        let r = map_document(&text, "idx", None, Timestamp(7)).unwrap();
        assert_eq!(r.original.as_ref().unwrap().get(), text);
        r
    }

    #[test]
    fn fluent_bit_kubernetes_document() {
        let r = map(json!({
            "@timestamp": "2026-11-20T10:00:00.123Z",
            "log": "payment failed\n",
            "stream": "stderr",
            "time": "2026-11-20T10:00:00.123456789Z",
            "kubernetes": {
                "pod_name": "pay-7d9f", "namespace_name": "shop", "pod_id": "a1",
                "labels": {"app": "pay", "tier": "backend"},
                "host": "node-1", "container_name": "pay", "docker_id": "3f2a",
                "container_hash": "sha256:x", "container_image": "shop/pay:1.4"
            }
        }));
        assert_eq!(r.timestamp.to_rfc3339(), "2026-11-20T10:00:00.123000000Z");
        assert_eq!(r.message, "payment failed");
        assert_eq!(
            (
                &*r.host,
                &*r.container,
                &*r.container_id,
                &*r.image,
                &*r.stream
            ),
            ("node-1", "pay", "3f2a", "shop/pay:1.4", "stderr")
        );
        assert_eq!(r.labels["app"], "pay");
        assert_eq!(r.labels["io.kubernetes.pod.name"], "pay-7d9f");
        assert_eq!(r.labels["io.kubernetes.pod.namespace"], "shop");
        assert_eq!(r.labels["io.kubernetes.container.name"], "pay");
        assert_eq!(
            Value::Object(r.fields),
            json!({"time": "2026-11-20T10:00:00.123456789Z",
                   "kubernetes": {"pod_id": "a1", "container_hash": "sha256:x"},
                   "_index": "idx"})
        );
    }

    #[test]
    fn filebeat_and_vector_documents() {
        let r = map(json!({
            "@timestamp": "2026-11-20T10:00:00.000Z", "message": "GET /", "stream": "stdout",
            "log": {"level": "warn", "file": {"path": "/var/lib/docker/containers/x.log"}},
            "host": {"name": "node-2", "os": {"name": "Debian"}},
            "container": {"id": "9c", "name": "web", "image": {"name": "nginx:1.27"},
                          "labels": {"com_docker_compose_service": "web"}},
            "input": {"type": "container"}
        }));
        assert_eq!(r.level, Some(Level::Warn));
        assert_eq!(
            (&*r.host, &*r.container, &*r.image),
            ("node-2", "web", "nginx:1.27")
        );
        assert_eq!(r.labels["com_docker_compose_service"], "web");
        assert_eq!(
            Value::Object(r.fields),
            json!({"log": {"file": {"path": "/var/lib/docker/containers/x.log"}},
                   "host": {"os": {"name": "Debian"}}, "input": {"type": "container"},
                   "_index": "idx"})
        );
        let v = map(json!({
            "timestamp": "2026-11-20T10:00:00.5Z", "message": "hi", "host": "node-3",
            "container_name": "api", "container_id": "77", "image": "api:2",
            "label": {"com.example.team": "core"}, "source_type": "docker_logs", "level": "ERROR"
        }));
        assert_eq!(v.timestamp.to_rfc3339(), "2026-11-20T10:00:00.500000000Z");
        assert_eq!(
            (&*v.host, &*v.container, &*v.image),
            ("node-3", "api", "api:2")
        );
        assert_eq!(v.labels["com.example.team"], "core");
        assert_eq!(v.level, Some(Level::Error));
        assert_eq!(v.fields["source_type"], "docker_logs");
    }

    #[test]
    fn times_and_bad_documents() {
        for (v, want) in [
            (
                json!(1_700_000_000_123u64),
                "2023-11-14T22:13:20.123000000Z",
            ),
            (json!("2026-11-20"), "2026-11-20T00:00:00.000000000Z"),
            (
                json!("2026-11-20T10:00:00"),
                "2026-11-20T10:00:00.000000000Z",
            ),
            (
                json!("2026-11-20T10:00:00.5+0100"),
                "2026-11-20T09:00:00.500000000Z",
            ),
            (
                json!("2026-11-20 10:00:00.25Z"),
                "2026-11-20T10:00:00.250000000Z",
            ),
        ] {
            assert_eq!(parse_time(&v).unwrap().to_rfc3339(), want, "{v}");
        }
        for (doc, want) in [
            (r#"{"@timestamp": "yesterday"}"#, "[@timestamp]"),
            (r#"{"_id": "x"}"#, "metadata field"),
            (r#"["not", "an object"]"#, "not a JSON object"),
            (r#"{"a": 1} trailing"#, "not a JSON object"),
        ] {
            let e = map_document(doc, "i", None, Timestamp(0)).unwrap_err();
            assert!(e.0.contains(want), "{doc}: {e:?}");
        }
        // No time at all: the time of arrival.
        assert_eq!(map(json!({"msg": "x"})).timestamp, Timestamp(7));
    }

    #[test]
    fn repeated_keys_keep_first_place_and_last_value() {
        let r = map_document(
            r#"{"a": 1, "level": "x", "msg": "m", "b": 2, "a": 3, "level": "warn", "log": {"y": 1}}"#,
            "i",
            None,
            Timestamp(0),
        )
        .unwrap();
        assert_eq!(r.level, Some(Level::Warn));
        assert_eq!(r.message, "m");
        assert_eq!(
            Value::Object(r.fields),
            json!({"a": 3, "b": 2, "log": {"y": 1}, "_index": "i"})
        );
        // Escaped keys are matched by what they say.
        let r = map_document(
            r#"{"hos\u0074": "h", "k\u0065y": 1}"#,
            "i",
            None,
            Timestamp(0),
        )
        .unwrap();
        assert_eq!(r.host, "h");
        assert_eq!(r.fields["key"], 1);
    }

    #[test]
    fn every_mapped_key_has_a_head() {
        for (i, h) in HEADS.iter().enumerate() {
            assert_eq!(head_slot(h), Some(i), "{h}");
        }
        let paths = META.iter().map(|(p, _)| *p);
        for path in paths
            .chain(TIME_KEYS)
            .chain(MESSAGE_KEYS)
            .chain(["log.level", "stream"])
        {
            let head = path.split('.').next().unwrap();
            assert!(head_slot(head).is_some(), "{path}");
        }
    }

    #[test]
    fn sent_names_resolve_to_where_they_went() {
        for (sent, want) in [
            ("kubernetes.pod_name", "labels.io.kubernetes.pod.name"),
            ("kubernetes.labels.app", "labels.app"),
            (
                "container.labels.com_docker_compose_service",
                "labels.com_docker_compose_service",
            ),
            ("container.image.name", "image"),
            ("container.name.keyword", "container"),
            ("host.name", "host"),
            ("log.level", "level"),
            ("service.keyword", "service"),
            ("kubernetes.pod_id", "kubernetes.pod_id"),
            ("message", "message"),
        ] {
            assert_eq!(alias(sent), want, "{sent}");
        }
    }
}
