//! An OTLP logs export request to [`Record`]s: the mapping the README's table describes.
//!
//! - time: `time_unix_nano`, else `observed_time_unix_nano`, else the time of arrival.
//! - level: `severity_number` (the OTel ranges: 1–4 trace … 21–24 fatal), else
//!   `severity_text` when it is a known severity.
//! - message: a string body; a map body gives its first string among `message`, `msg`,
//!   `log` and the rest goes to `fields`; any other body is its JSON text.
//! - log attributes → `fields` under their keys; resource attributes that name the
//!   source go where the agent and `/es` put them (`host`, `container`, `container_id`,
//!   `image`, the kubelet's `io.kubernetes.*` labels), every other one to `fields` under
//!   its OTel name, so `service.name:checkout` finds it (a bare name means `fields.<name>`
//!   and the index expands dots). A log attribute wins over a key of a map body or a
//!   resource attribute of the same name; theirs is then kept as `body.<name>` or
//!   `resource.<name>`.
//! - `trace_id` / `span_id` → lower-case hex fields; `event_name`, the instrumentation
//!   scope's name and version → `event_name`, `otel.scope.name`, `otel.scope.version`.
//!
//! Records carry no `_source_id` / `_seq`, like documents from `/es/_bulk`: an OTLP
//! export has no delivery identity, so a retried export is stored again.

use super::line::{self, Members};
use base64::Engine;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::map::Entry;
use serde_json::{Map, Number, Value};
use skein_indexer::text_buffers;
use skein_model::{Level, Record, Timestamp};
use std::collections::BTreeMap;
use std::ops::Range;

/// Keys of a map body whose string value is the message, in order of preference.
const MESSAGE_KEYS: [&str; 3] = ["message", "msg", "log"];

/// What mapping a request gives.
#[derive(Debug, Default)]
pub struct Mapped {
    /// The records to store.
    pub records: Vec<Record>,
    /// The WAL line of each record, back to back, each ending in a newline: written
    /// while mapping ([`super::line`]), in a pooled buffer ([`text_buffers`]).
    pub text: Vec<u8>,
    /// Per record, its line in `text` without the newline.
    pub spans: Vec<Range<usize>>,
    /// Log records that could not be stored.
    pub rejected: usize,
    /// Why the first rejected one was refused (OTLP's `error_message`).
    pub reason: Option<String>,
}

/// Maps every log record of `request`. `now` stands in for records without a time;
/// records older than `horizon` (`--retention`) are rejected, as `/api/v1/ingest` does.
pub fn map_request(
    request: ExportLogsServiceRequest,
    now: Timestamp,
    horizon: Option<Timestamp>,
) -> Mapped {
    let mut out = Mapped::default();
    // All at once: grown by doubling, a request's records were copied several times
    // into fresh memory the kernel had to zero.
    let count = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    out.records.reserve_exact(count);
    out.spans.reserve_exact(count);
    for resource_logs in request.resource_logs {
        let resource = Source::from_attributes(
            resource_logs
                .resource
                .map(|r| r.attributes)
                .unwrap_or_default(),
        );
        for scope_logs in resource_logs.scope_logs {
            let scope = scope_logs.scope.unwrap_or_default();
            for log in scope_logs.log_records {
                let start = out.text.len();
                let mapped = map_record(
                    log,
                    &resource,
                    &scope.name,
                    &scope.version,
                    now,
                    horizon,
                    &mut out.text,
                );
                match mapped {
                    Ok(r) => {
                        out.spans.push(start..out.text.len());
                        out.text.push(b'\n');
                        out.records.push(r);
                        if out.records.len() == 1 {
                            // Sized from the first line, in a pooled buffer: grown by
                            // doubling from empty, a request's lines were copied
                            // several times into fresh pages the kernel had to zero.
                            let mut text =
                                text_buffers::take((out.text.len().saturating_mul(count)) / 4 * 5);
                            text.extend_from_slice(&out.text);
                            out.text = text;
                        }
                    }
                    Err(reason) => {
                        out.rejected += 1;
                        out.reason.get_or_insert(reason);
                    }
                }
            }
        }
    }
    out
}

/// What a resource's attributes say about where its records come from.
#[derive(Debug, Default, Clone)]
pub struct Source {
    host: String,
    container: String,
    container_id: String,
    image: String,
    /// Cloned whole into each record: a clone copies the tree as it is, where inserting
    /// the labels one by one compared keys again for every record.
    labels: BTreeMap<String, String>,
    /// Every other attribute, under its OTel name.
    fields: Map<String, Value>,
    /// The JSON of each of `fields`' values, in its order: written once per resource,
    /// not once per record.
    fields_json: Vec<Vec<u8>>,
    /// The members of a WAL line that come from the resource (`host`, `container`,
    /// `container_id`, `image`, `labels`), each after a comma.
    head: Vec<u8>,
}

impl Source {
    /// Sorts a resource's attributes into the record's source fields, its labels and
    /// the rest.
    pub fn from_attributes(attributes: Vec<KeyValue>) -> Source {
        let mut s = Source::default();
        let mut image_tag = None;
        let mut rest = Vec::new();
        for kv in attributes {
            let text = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(t)) => Some(t.clone()),
                _ => None,
            };
            let Some(text) = text else {
                rest.push(kv);
                continue;
            };
            match kv.key.as_str() {
                "host.name" if s.host.is_empty() => s.host = text,
                "container.id" if s.container_id.is_empty() => s.container_id = text,
                "container.image.name" if s.image.is_empty() => s.image = text,
                "container.image.tag" if image_tag.is_none() => image_tag = Some(text),
                "k8s.pod.name" => {
                    s.labels.insert("io.kubernetes.pod.name".into(), text);
                }
                "k8s.namespace.name" => {
                    s.labels.insert("io.kubernetes.pod.namespace".into(), text);
                }
                "k8s.container.name" => {
                    // The pod's container is the record's container, as the agent has it
                    // on a node; `container.name` then stays a field.
                    s.container = text.clone();
                    s.labels.insert("io.kubernetes.container.name".into(), text);
                }
                _ => rest.push(kv),
            }
        }
        for kv in rest {
            if kv.key == "container.name" && s.container.is_empty() {
                if let Some(any_value::Value::StringValue(t)) =
                    kv.value.as_ref().and_then(|v| v.value.as_ref())
                {
                    s.container = t.clone();
                    continue;
                }
            }
            s.fields.insert(kv.key, to_json(kv.value));
        }
        match image_tag {
            Some(tag) if !s.image.is_empty() => s.image = format!("{}:{tag}", s.image),
            Some(tag) => {
                s.fields
                    .insert("container.image.tag".into(), Value::String(tag));
            }
            None => {}
        }
        s.fields_json = s
            .fields
            .values()
            .map(|v| serde_json::to_vec(v).expect("a JSON value serialises"))
            .collect();
        for (key, value) in [
            ("host", &s.host),
            ("container", &s.container),
            ("container_id", &s.container_id),
            ("image", &s.image),
        ] {
            if !value.is_empty() {
                s.head.push(b',');
                line::string(&mut s.head, key);
                s.head.push(b':');
                line::string(&mut s.head, value);
            }
        }
        if !s.labels.is_empty() {
            s.head.extend_from_slice(b",\"labels\":");
            serde_json::to_writer(&mut s.head, &s.labels).expect("labels serialise");
        }
        s
    }
}

/// Maps one log record from a resource `source` and the scope `scope_name`/`version`,
/// appending its WAL line (without a newline) to `out`; a record refused appends
/// nothing.
pub fn map_record(
    log: LogRecord,
    source: &Source,
    scope_name: &str,
    scope_version: &str,
    now: Timestamp,
    horizon: Option<Timestamp>,
    out: &mut Vec<u8>,
) -> Result<Record, String> {
    let nanos = [log.time_unix_nano, log.observed_time_unix_nano]
        .into_iter()
        .find(|&t| t != 0);
    let timestamp = match nanos {
        None => now,
        Some(t) => Timestamp(i64::try_from(t).map_err(|_| {
            format!(
                "time_unix_nano {t} is past the year 2262, the last time skein can store; \
                 send nanoseconds since the Unix epoch"
            )
        })?),
    };
    if let Some(h) = horizon {
        if timestamp < h {
            return Err(format!(
                "time {} is older than the server keeps records (--retention, {}): it would \
                 be deleted at once; raise --retention to keep it",
                timestamp.to_rfc3339(),
                h.to_rfc3339()
            ));
        }
    }
    // Sized for what goes in (besides the attributes: severity text, trace and span
    // ids, event name, scope name and version), so only a map body's keys can grow it.
    let mut fields = Map::with_capacity(log.attributes.len() + source.fields.len() + 6);
    let mut body_rest = Map::new();
    let message = match log.body.and_then(|b| b.value) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s,
        Some(any_value::Value::KvlistValue(list)) => {
            let mut body: Map<String, Value> = list
                .values
                .into_iter()
                .map(|kv| (kv.key, to_json(kv.value)))
                .collect();
            let key = MESSAGE_KEYS
                .into_iter()
                .find(|k| matches!(body.get(*k), Some(Value::String(_))));
            let message = match key.and_then(|k| body.remove(k)) {
                Some(Value::String(s)) => s,
                _ => String::new(),
            };
            body_rest = body;
            message
        }
        Some(other) => match to_json(Some(AnyValue { value: Some(other) })) {
            Value::String(s) => s,
            v => v.to_string(),
        },
    };
    let mut record = Record::new(timestamp, message);
    record.level = level(log.severity_number, &log.severity_text);
    out.extend_from_slice(b"{\"@timestamp\":\"");
    out.extend_from_slice(&timestamp.rfc3339_bytes());
    out.push(b'"');
    out.extend_from_slice(&source.head);
    if let Some(level) = record.level {
        out.extend_from_slice(b",\"level\":");
        line::string(out, level.as_str());
    }
    out.extend_from_slice(b",\"message\":");
    line::string(out, &record.message);
    out.extend_from_slice(b",\"fields\":");
    // Each insertion into `fields` writes its member: a key written twice decodes as
    // the map has it, the last value at the first place.
    let mut members = Members::open(out);
    if record.level.is_none() && !log.severity_text.is_empty() {
        line::string(members.key("severity_text"), &log.severity_text);
        fields.insert("severity_text".into(), Value::String(log.severity_text));
    }
    for kv in log.attributes {
        line::any(members.key(&kv.key), kv.value.as_ref());
        fields.insert(kv.key, to_json(kv.value));
    }
    for (key, value) in body_rest {
        let key = if fields.contains_key(&key) {
            format!("body.{key}")
        } else {
            key
        };
        // A map body's keys are rare: written from their values.
        serde_json::to_writer(members.key(&key), &value).expect("a JSON value serialises");
        fields.insert(key, value);
    }
    for ((key, value), json) in source.fields.iter().zip(&source.fields_json) {
        // One lookup for the common case, the key not taken.
        let taken = match fields.entry(key.clone()) {
            Entry::Vacant(v) => {
                members.key(key).extend_from_slice(json);
                v.insert(value.clone());
                false
            }
            Entry::Occupied(_) => true,
        };
        if taken {
            let key = format!("resource.{key}");
            members.key(&key).extend_from_slice(json);
            fields.insert(key, value.clone());
        }
    }
    let mut extra = |key: &str, value: String| {
        if value.is_empty() {
            return;
        }
        if let Entry::Vacant(v) = fields.entry(key) {
            line::string(members.key(key), &value);
            v.insert(Value::String(value));
        }
    };
    extra("trace_id", hex(&log.trace_id));
    extra("span_id", hex(&log.span_id));
    extra("event_name", log.event_name);
    extra("otel.scope.name", scope_name.to_string());
    extra("otel.scope.version", scope_version.to_string());
    members.close();
    out.push(b'}');
    record.host = source.host.clone();
    record.container = source.container.clone();
    record.container_id = source.container_id.clone();
    record.image = source.image.clone();
    if !source.labels.is_empty() {
        record.labels = source.labels.clone();
    }
    record.fields = fields;
    Ok(record)
}

/// The level of an OTel severity: the number's range when it has one, else the text.
pub fn level(number: i32, text: &str) -> Option<Level> {
    match number {
        1..=4 => Some(Level::Trace),
        5..=8 => Some(Level::Debug),
        9..=12 => Some(Level::Info),
        13..=16 => Some(Level::Warn),
        17..=20 => Some(Level::Error),
        21..=24 => Some(Level::Fatal),
        _ => Level::parse_loose(text),
    }
}

/// Lower-case hex of an id; empty for an absent or all-zero one (OTLP calls both
/// invalid, "no trace").
fn hex(bytes: &[u8]) -> String {
    if bytes.iter().all(|&b| b == 0) {
        return String::new();
    }
    // Written digit by digit into one string: a `format!` per byte was 24 small
    // allocations per record with a trace context.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// An attribute value as JSON: every type kept. Bytes become base64 (as OTLP/JSON
/// writes them); a double that JSON cannot hold (NaN, ±infinity) becomes its name as a
/// string; an empty value is `null`.
pub fn to_json(value: Option<AnyValue>) -> Value {
    match value.and_then(|v| v.value) {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(b),
        Some(any_value::Value::IntValue(i)) => Value::Number(i.into()),
        Some(any_value::Value::DoubleValue(d)) => match Number::from_f64(d) {
            Some(n) => Value::Number(n),
            None => Value::String(d.to_string()),
        },
        Some(any_value::Value::BytesValue(b)) => {
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(any_value::Value::ArrayValue(a)) => {
            Value::Array(a.values.into_iter().map(|v| to_json(Some(v))).collect())
        }
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(
            kv.values
                .into_iter()
                .map(|kv| (kv.key, to_json(kv.value)))
                .collect(),
        ),
        // Profiles' index into a string table; logs never use it, but it is kept.
        Some(any_value::Value::StringValueStrindex(i)) => Value::Number(i.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope, KeyValueList};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use proptest::prelude::*;

    fn s(v: &str) -> Option<AnyValue> {
        Some(AnyValue {
            value: Some(any_value::Value::StringValue(v.into())),
        })
    }

    fn kv(key: &str, value: Option<AnyValue>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value,
            key_strindex: 0,
        }
    }

    fn request(resource: Vec<KeyValue>, logs: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: resource,
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "shop.pay".into(),
                        ..Default::default()
                    }),
                    log_records: logs,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn resource_and_record_map_to_the_documented_places() {
        let log = LogRecord {
            time_unix_nano: 1_763_632_800_123_456_789,
            severity_number: 17,
            severity_text: "ERROR".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![kv("msg", s("payment failed")), kv("order", s("o-1"))],
                })),
            }),
            attributes: vec![kv("user", s("ann")), kv("order", s("o-2"))],
            trace_id: vec![0xab; 16],
            span_id: vec![0x01, 0x02, 0, 0, 0, 0, 0, 0xff],
            ..Default::default()
        };
        let resource = vec![
            kv("service.name", s("checkout")),
            kv("host.name", s("node-1")),
            kv("k8s.pod.name", s("pay-7d9f")),
            kv("k8s.namespace.name", s("shop")),
            kv("k8s.container.name", s("pay")),
            kv("container.name", s("k8s_pay_1")),
            kv("container.id", s("c0ffee")),
            kv("container.image.name", s("shop/pay")),
            kv("container.image.tag", s("1.2")),
            kv("user", s("resource-user")),
        ];
        let m = map_request(request(resource, vec![log]), Timestamp(1), None);
        assert_eq!(m.rejected, 0);
        let r = &m.records[0];
        assert_eq!(r.timestamp, Timestamp(1_763_632_800_123_456_789));
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(r.message, "payment failed");
        assert_eq!(r.host, "node-1");
        assert_eq!(r.container, "pay");
        assert_eq!(r.container_id, "c0ffee");
        assert_eq!(r.image, "shop/pay:1.2");
        assert_eq!(r.labels["io.kubernetes.pod.name"], "pay-7d9f");
        assert_eq!(r.labels["io.kubernetes.pod.namespace"], "shop");
        assert_eq!(r.labels["io.kubernetes.container.name"], "pay");
        let f = &r.fields;
        assert_eq!(f["service.name"], "checkout");
        assert_eq!(f["container.name"], "k8s_pay_1");
        assert_eq!(f["user"], "ann");
        assert_eq!(f["resource.user"], "resource-user");
        assert_eq!(f["order"], "o-2");
        assert_eq!(f["body.order"], "o-1");
        assert_eq!(f["trace_id"], "ab".repeat(16));
        assert_eq!(f["span_id"], "01020000000000ff");
        assert_eq!(f["otel.scope.name"], "shop.pay");
        assert!(!f.contains_key("severity_text"));
    }

    #[test]
    fn time_falls_back_to_observed_then_now_and_bad_times_are_rejected() {
        let now = Timestamp(42);
        let observed = LogRecord {
            observed_time_unix_nano: 7,
            ..Default::default()
        };
        let none = LogRecord::default();
        let far = LogRecord {
            time_unix_nano: u64::MAX,
            ..Default::default()
        };
        let m = map_request(request(vec![], vec![observed, none, far]), now, None);
        assert_eq!(m.records[0].timestamp, Timestamp(7));
        assert_eq!(m.records[1].timestamp, now);
        assert_eq!(m.rejected, 1);
        assert!(m.reason.unwrap().contains("2262"), "says why");
        let old = LogRecord {
            time_unix_nano: 5,
            ..Default::default()
        };
        let m = map_request(request(vec![], vec![old]), now, Some(Timestamp(10)));
        assert_eq!((m.records.len(), m.rejected), (0, 1));
        assert!(m.reason.unwrap().contains("--retention"));
    }

    #[test]
    fn severity_number_wins_and_text_is_the_fallback() {
        assert_eq!(level(9, "ERROR"), Some(Level::Info));
        assert_eq!(level(0, "warning"), Some(Level::Warn));
        assert_eq!(level(0, "chatty"), None);
        assert_eq!(level(24, ""), Some(Level::Fatal));
        let log = LogRecord {
            severity_text: "chatty".into(),
            ..Default::default()
        };
        let m = map_request(request(vec![], vec![log]), Timestamp(1), None);
        assert_eq!(m.records[0].fields["severity_text"], "chatty");
    }

    #[test]
    fn non_string_bodies_become_their_text() {
        let body = |v| {
            let log = LogRecord {
                body: Some(AnyValue { value: Some(v) }),
                ..Default::default()
            };
            map_request(request(vec![], vec![log]), Timestamp(1), None).records[0]
                .message
                .clone()
        };
        assert_eq!(body(any_value::Value::IntValue(-3)), "-3");
        assert_eq!(body(any_value::Value::BoolValue(true)), "true");
        assert_eq!(
            body(any_value::Value::ArrayValue(ArrayValue {
                values: vec![s("a").unwrap()]
            })),
            r#"["a"]"#
        );
        assert_eq!(body(any_value::Value::BytesValue(vec![1, 2])), "AQI=");
    }

    #[test]
    fn every_any_value_type_converts() {
        let v = |x| to_json(Some(AnyValue { value: Some(x) }));
        assert_eq!(v(any_value::Value::DoubleValue(1.5)), 1.5);
        assert_eq!(v(any_value::Value::DoubleValue(f64::NAN)), "NaN");
        assert_eq!(v(any_value::Value::DoubleValue(f64::INFINITY)), "inf");
        assert_eq!(to_json(None), Value::Null);
        assert_eq!(
            v(any_value::Value::KvlistValue(KeyValueList {
                values: vec![kv("a", s("b"))]
            })),
            serde_json::json!({"a": "b"})
        );
    }

    /// Any AnyValue, nested up to three levels.
    fn any_value() -> impl Strategy<Value = AnyValue> {
        let leaf = prop_oneof![
            any::<String>().prop_map(any_value::Value::StringValue),
            any::<bool>().prop_map(any_value::Value::BoolValue),
            any::<i64>().prop_map(any_value::Value::IntValue),
            any::<f64>().prop_map(any_value::Value::DoubleValue),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(any_value::Value::BytesValue),
        ]
        .prop_map(|v| AnyValue { value: Some(v) });
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|values| any_value::Value::ArrayValue(ArrayValue { values })),
                proptest::collection::btree_map("[a-z.]{1,8}", inner, 0..4).prop_map(|m| {
                    any_value::Value::KvlistValue(KeyValueList {
                        values: m.into_iter().map(|(k, v)| kv(&k, Some(v))).collect(),
                    })
                }),
            ]
            .prop_map(|v| AnyValue { value: Some(v) })
        })
    }

    /// What a value must become: the same shape, nothing dropped.
    fn same(original: &AnyValue, json: &Value) -> bool {
        match (original.value.as_ref(), json) {
            (None, Value::Null) => true,
            (Some(any_value::Value::StringValue(a)), Value::String(b)) => a == b,
            (Some(any_value::Value::BoolValue(a)), Value::Bool(b)) => a == b,
            (Some(any_value::Value::IntValue(a)), Value::Number(b)) => b.as_i64() == Some(*a),
            (Some(any_value::Value::DoubleValue(a)), Value::Number(b)) => b.as_f64() == Some(*a),
            (Some(any_value::Value::DoubleValue(a)), Value::String(b)) => {
                !a.is_finite() && *b == a.to_string()
            }
            (Some(any_value::Value::BytesValue(a)), Value::String(b)) => {
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .ok()
                    .as_ref()
                    == Some(a)
            }
            (Some(any_value::Value::ArrayValue(a)), Value::Array(b)) => {
                a.values.len() == b.len() && a.values.iter().zip(b).all(|(x, y)| same(x, y))
            }
            (Some(any_value::Value::KvlistValue(a)), Value::Object(b)) => {
                a.values.len() == b.len()
                    && a.values.iter().all(|kv| {
                        b.get(&kv.key).is_some_and(|y| {
                            same(kv.value.as_ref().unwrap_or(&AnyValue { value: None }), y)
                        })
                    })
            }
            _ => false,
        }
    }

    proptest! {
        /// Every attribute value of every type, on the record and on the resource, is
        /// kept whole under its key, and mapping never panics.
        #[test]
        fn every_attribute_value_is_kept(
            attrs in proptest::collection::btree_map("[a-q][a-z]{0,5}(\\.[a-z]{1,6})?", any_value(), 0..6),
            resource in proptest::collection::btree_map("r[a-z]{1,6}", any_value(), 0..6),
            body in any_value(),
            time in any::<u64>(),
            severity in any::<i32>(),
        ) {
            let log = LogRecord {
                time_unix_nano: time,
                severity_number: severity,
                body: Some(body),
                attributes: attrs.iter().map(|(k, v)| kv(k, Some(v.clone()))).collect(),
                ..Default::default()
            };
            let res = resource.iter().map(|(k, v)| kv(k, Some(v.clone()))).collect();
            let m = map_request(request(res, vec![log]), Timestamp(1), None);
            prop_assert_eq!(m.records.len() + m.rejected, 1);
            if let Some(r) = m.records.first() {
                for (k, v) in &attrs {
                    prop_assert!(same(v, &r.fields[k]), "{k}: {v:?} became {:?}", r.fields[k]);
                }
                for (k, v) in &resource {
                    // Under its name, or beside a key of a map body that took the name.
                    let kept = same(v, &r.fields[k])
                        || r.fields.get(&format!("resource.{k}")).is_some_and(|j| same(v, j));
                    prop_assert!(kept, "{k}: {v:?} became {:?}", r.fields[k]);
                }
                // And the record serialises for the WAL.
                prop_assert!(serde_json::to_string(r).is_ok());
            }
        }

        /// The WAL line written while mapping decodes to the record the mapping made,
        /// fields in the same order, whatever the attribute types, repeated keys and
        /// clashes between attributes, a map body and the resource.
        #[test]
        fn the_wal_line_decodes_to_the_mapped_record(
            attrs in proptest::collection::vec((key(), any_value()), 0..6),
            resource in proptest::collection::vec((resource_key(), any_value()), 0..8),
            body in prop_oneof![
                any_value(),
                proptest::collection::vec((key(), any_value()), 0..5).prop_map(|kvs| AnyValue {
                    value: Some(any_value::Value::KvlistValue(KeyValueList {
                        values: kvs.into_iter().map(|(k, v)| kv(&k, Some(v))).collect(),
                    })),
                }),
            ],
            time in any::<u64>(),
            severity in -2..30i32,
            severity_text in "(|ERROR|warn|chatty|\"\\\u{1}é)",
            trace in proptest::collection::vec(any::<u8>(), 0..17),
            event in "(|ev|\"x\")",
            scope in "(|s|\u{7f}\n)",
        ) {
            let log = LogRecord {
                time_unix_nano: time,
                severity_number: severity,
                severity_text,
                body: Some(body),
                attributes: attrs.iter().map(|(k, v)| kv(k, Some(v.clone()))).collect(),
                trace_id: trace.clone(),
                span_id: trace.iter().rev().copied().collect(),
                event_name: event,
                ..Default::default()
            };
            let res = resource.iter().map(|(k, v)| kv(k, Some(v.clone()))).collect();
            let mut req = request(res, vec![log.clone(), log]);
            let s = &mut req.resource_logs[0].scope_logs[0];
            s.scope = Some(InstrumentationScope {
                name: scope.clone(),
                version: scope,
                ..Default::default()
            });
            let m = map_request(req, Timestamp(1), None);
            prop_assert_eq!(m.records.len(), m.spans.len());
            prop_assert_eq!(m.text.iter().filter(|&&b| b == b'\n').count(), m.records.len());
            for (r, span) in m.records.iter().zip(&m.spans) {
                let line = &m.text[span.clone()];
                let back = skein_indexer::batch::decode_line(line)
                    .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(line))))?;
                // What the WAL held before: the record's own JSON form, decoded.
                let before = skein_indexer::batch::decode_line(&serde_json::to_vec(r).unwrap()).unwrap();
                prop_assert_eq!(&back, &before);
                prop_assert_eq!(serde_json::to_string(&back).unwrap(), serde_json::to_string(&before).unwrap());
                if !has_double(&back) {
                    prop_assert_eq!(&back, r);
                    prop_assert_eq!(serde_json::to_string(&back).unwrap(), serde_json::to_string(r).unwrap());
                }
            }
        }
    }

    /// Keys that clash: with each other, the message keys of a map body, the fields the
    /// mapping adds and the prefixed names of a clash.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-c]",
            Just("message".to_string()),
            Just("msg".to_string()),
            Just("trace_id".to_string()),
            Just("severity_text".to_string()),
            Just("body.a".to_string()),
            Just("resource.b".to_string()),
            Just("otel.scope.name".to_string()),
            Just("\"q\\\u{0}".to_string()),
        ]
    }

    /// A resource's keys: those the mapping moves to the source, and clashing ones.
    fn resource_key() -> impl Strategy<Value = String> {
        prop_oneof![
            key(),
            Just("host.name".to_string()),
            Just("container.name".to_string()),
            Just("container.id".to_string()),
            Just("container.image.name".to_string()),
            Just("container.image.tag".to_string()),
            Just("k8s.pod.name".to_string()),
            Just("k8s.container.name".to_string()),
        ]
    }

    /// Whether a field holds a finite non-integer number: serde_json's default float
    /// parsing may read one back a last digit off, in any WAL line.
    fn has_double(r: &Record) -> bool {
        fn walk(v: &Value) -> bool {
            match v {
                Value::Number(n) => n.is_f64(),
                Value::Array(a) => a.iter().any(walk),
                Value::Object(o) => o.values().any(walk),
                _ => false,
            }
        }
        r.fields.values().any(walk)
    }
}
