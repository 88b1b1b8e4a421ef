//! The corpus as OpenTelemetry logs (bench/otlp): export requests built from the very
//! records `bench/ingest` sends, cut at the same places, and the two OTLP transports
//! as [`Post`]s for [`crate::send::send_each`].
//!
//! Each container is one resource with the attributes a Kubernetes node's collector
//! (filelog receiver + k8sattributes processor) gives it: `service.name`, `host.name`,
//! `k8s.{node,namespace,pod,container,deployment}.name`, `k8s.pod.uid`, `container.id`,
//! `container.image.{name,tag}`, `os.type`. Each record keeps its time, severity, message
//! (as a string body), stream (`log.iostream`, as the filelog receiver names it) and its
//! parsed fields as log attributes of their own types; a 32-hex `trace_id` and a 16-hex
//! `span_id` become the record's trace context instead.

use crate::corpus::{Batch, ContainerBatches};
use crate::send::{post_retrying, Post};
use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;
use skein_model::{Level, Record};
use std::io::Write;
use std::time::Duration;

/// The gRPC method of OTLP logs.
pub const GRPC_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// Collects records (in the order [`crate::corpus::build_batches_with`] hands them over:
/// container after container) into gzip-compressed export requests of `batch` records,
/// cut where the ingest batches are cut.
pub struct OtlpBatcher {
    batch: usize,
    current: Option<(String, Vec<KeyValue>)>,
    logs: Vec<LogRecord>,
    /// Protobuf bytes of the requests made so far (before compression).
    pub encoded_bytes: usize,
    /// The requests, per container: gzip-compressed `ExportLogsServiceRequest`s.
    pub containers: Vec<ContainerBatches>,
}

impl OtlpBatcher {
    /// Requests of `batch` records each.
    pub fn new(batch: usize) -> OtlpBatcher {
        OtlpBatcher {
            batch,
            current: None,
            logs: Vec::new(),
            encoded_bytes: 0,
            containers: Vec::new(),
        }
    }

    /// Adds one record.
    pub fn push(&mut self, r: &Record) -> Result<()> {
        if self
            .current
            .as_ref()
            .is_none_or(|(id, _)| *id != r.container_id)
        {
            self.flush()?;
            self.current = Some((r.container_id.clone(), resource(r)));
            self.containers.push(ContainerBatches {
                name: r.container.clone(),
                batches: Vec::new(),
            });
        }
        self.logs.push(log_record(r));
        if self.logs.len() >= self.batch {
            self.flush()?;
        }
        Ok(())
    }

    /// Ends the last request; answers the batches.
    pub fn finish(mut self) -> Result<(Vec<ContainerBatches>, usize)> {
        self.flush()?;
        Ok((self.containers, self.encoded_bytes))
    }

    fn flush(&mut self) -> Result<()> {
        let (Some((_, attributes)), false) = (&self.current, self.logs.is_empty()) else {
            return Ok(());
        };
        let records = self.logs.len() as u64;
        let request = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: attributes.clone(),
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    // The filelog receiver names no instrumentation scope.
                    scope: None,
                    log_records: std::mem::take(&mut self.logs),
                    schema_url: String::new(),
                }],
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }],
        };
        let encoded = request.encode_to_vec();
        self.encoded_bytes += encoded.len();
        // gzip at its default level: what OTLP exporters send (the Collector's
        // `compression: gzip` default).
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(encoded.len() / 5),
            flate2::Compression::default(),
        );
        gz.write_all(&encoded)?;
        let body = gz.finish()?;
        self.containers
            .last_mut()
            .expect("a container was started")
            .batches
            .push(Batch { body, records });
        Ok(())
    }
}

fn kv(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        key_strindex: 0,
    }
}

/// The resource of the container `r` comes from, as a node's collector describes it.
fn resource(r: &Record) -> Vec<KeyValue> {
    let service = r
        .labels
        .get("com.docker.compose.service")
        .cloned()
        .unwrap_or_else(|| r.container.clone());
    let (image, tag) = r.image.rsplit_once(':').unwrap_or((&r.image, "latest"));
    let id = &r.container_id;
    let hex = |from: usize, len: usize| id.get(from..from + len).unwrap_or("0").to_string();
    vec![
        kv("service.name", service.clone()),
        kv("host.name", r.host.clone()),
        kv("os.type", "linux"),
        kv("k8s.node.name", r.host.clone()),
        kv("k8s.namespace.name", "shop"),
        kv(
            "k8s.pod.name",
            format!("{}-{}-{}", r.container, hex(0, 10), hex(10, 5)),
        ),
        kv(
            "k8s.pod.uid",
            format!(
                "{}-{}-{}-{}-{}",
                hex(16, 8),
                hex(24, 4),
                hex(28, 4),
                hex(32, 4),
                hex(36, 12)
            ),
        ),
        kv("k8s.container.name", r.container.clone()),
        kv("k8s.deployment.name", service),
        kv("container.id", id.clone()),
        kv("container.image.name", image),
        kv("container.image.tag", tag),
    ]
}

/// One record as a log record: time, severity, body, stream and fields as attributes,
/// the trace context from `trace_id`/`span_id` when they are hex ids.
fn log_record(r: &Record) -> LogRecord {
    let (number, text) = match r.level {
        None => (0, ""),
        Some(Level::Trace) => (1, "TRACE"),
        Some(Level::Debug) => (5, "DEBUG"),
        Some(Level::Info) => (9, "INFO"),
        Some(Level::Warn) => (13, "WARN"),
        Some(Level::Error) => (17, "ERROR"),
        Some(Level::Fatal) => (21, "FATAL"),
    };
    let time = r.timestamp.0 as u64;
    let id = |key: &str, len: usize| match r.fields.get(key) {
        Some(Value::String(s)) if s.len() == 2 * len => decode_hex(s),
        _ => None,
    };
    let trace_id = id("trace_id", 16);
    let span_id = id("span_id", 8);
    let mut attributes = Vec::with_capacity(r.fields.len() + 1);
    if !r.stream.is_empty() {
        attributes.push(kv("log.iostream", r.stream.clone()));
    }
    for (k, v) in &r.fields {
        let taken =
            (k == "trace_id" && trace_id.is_some()) || (k == "span_id" && span_id.is_some());
        if !taken {
            attributes.push(KeyValue {
                key: k.clone(),
                value: Some(any(v)),
                key_strindex: 0,
            });
        }
    }
    LogRecord {
        time_unix_nano: time,
        // A collector reads the line shortly after it was written.
        observed_time_unix_nano: time + 1_500_000,
        severity_number: number,
        severity_text: text.into(),
        body: Some(AnyValue {
            value: Some(any_value::Value::StringValue(r.message.clone())),
        }),
        attributes,
        flags: u32::from(trace_id.is_some()),
        trace_id: trace_id.unwrap_or_default(),
        span_id: span_id.unwrap_or_default(),
        ..Default::default()
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A JSON value as an attribute value of its own type.
fn any(v: &Value) -> AnyValue {
    let value = match v {
        Value::Null => None,
        Value::Bool(b) => Some(any_value::Value::BoolValue(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => any_value::Value::IntValue(i),
            None => any_value::Value::DoubleValue(n.as_f64().unwrap_or(f64::NAN)),
        }),
        Value::String(s) => Some(any_value::Value::StringValue(s.clone())),
        Value::Array(a) => Some(any_value::Value::ArrayValue(ArrayValue {
            values: a.iter().map(any).collect(),
        })),
        Value::Object(o) => Some(any_value::Value::KvlistValue(KeyValueList {
            values: o
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: Some(any(v)),
                    key_strindex: 0,
                })
                .collect(),
        })),
    };
    AnyValue { value }
}

/// Records an export answer says were taken: all of `records` but the rejected.
fn accepted(records: u64, answer: &[u8]) -> Result<u64> {
    let r = ExportLogsServiceResponse::decode(answer).context("decoding the export answer")?;
    let rejected = r.partial_success.map_or(0, |p| p.rejected_log_records) as u64;
    Ok(records.saturating_sub(rejected))
}

/// OTLP/HTTP: `POST /v1/logs`, `application/x-protobuf`, gzip.
pub struct OtlpHttp {
    client: reqwest::blocking::Client,
    url: String,
}

impl OtlpHttp {
    /// A connection to the server at `url`.
    pub fn connect(url: &str) -> Result<OtlpHttp> {
        Ok(OtlpHttp {
            client: crate::server::client_builder(None)?.build()?,
            url: format!("{url}/v1/logs"),
        })
    }
}

impl Post for OtlpHttp {
    fn post(&mut self, b: &Batch) -> Result<(u64, u64)> {
        let (r, retried) = post_retrying(|| {
            self.client
                .post(&self.url)
                .header("Content-Type", "application/x-protobuf")
                .header("Content-Encoding", "gzip")
                .body(b.body.clone())
        })?;
        Ok((accepted(b.records, &r.bytes()?)?, retried))
    }
}

/// OTLP/gRPC: unary `LogsService/Export` over one HTTP/2 connection (h2c), each
/// message sent gzip-compressed as it was prepared (`grpc-encoding: gzip`), so that
/// the client's work while measured is what it is for the other arms: sending bytes.
pub struct OtlpGrpc {
    rt: tokio::runtime::Runtime,
    send: hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    uri: http::Uri,
}

impl OtlpGrpc {
    /// A connection to the gRPC listener at `addr` (`HOST:PORT`).
    pub fn connect(addr: &str) -> Result<OtlpGrpc> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let send = rt.block_on(async {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            let (send, conn) = hyper::client::conn::http2::handshake(
                hyper_util::rt::TokioExecutor::new(),
                hyper_util::rt::TokioIo::new(tcp),
            )
            .await?;
            // Driven whenever a request is (the runtime runs on this thread only).
            tokio::spawn(async move {
                let _ = conn.await;
            });
            anyhow::Ok(send)
        })?;
        Ok(OtlpGrpc {
            rt,
            send,
            uri: format!("http://{addr}{GRPC_PATH}").parse()?,
        })
    }

    /// One call: the grpc-status and the response message.
    fn call(&mut self, frame: Bytes) -> Result<(u32, String, Bytes)> {
        let req = http::Request::post(self.uri.clone())
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-encoding", "gzip")
            .body(Full::new(frame))?;
        let send = &mut self.send;
        self.rt.block_on(async move {
            send.ready().await?;
            let resp = send.send_request(req).await?;
            let (parts, body) = resp.into_parts();
            ensure!(
                parts.status == 200,
                "gRPC call answered HTTP {}",
                parts.status
            );
            let body = body.collect().await?;
            let trailers = body.trailers().cloned().unwrap_or_default();
            let data = body.to_bytes();
            // A status in the headers is a "trailers-only" answer (an error).
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .or_else(|| trailers.get(name))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            let code = header("grpc-status")
                .context("no grpc-status")?
                .parse::<u32>()?;
            Ok((code, header("grpc-message").unwrap_or_default(), data))
        })
    }
}

impl Post for OtlpGrpc {
    fn post(&mut self, b: &Batch) -> Result<(u64, u64)> {
        // A gRPC message: compressed flag, length (big-endian), the message.
        let mut frame = Vec::with_capacity(b.body.len() + 5);
        frame.push(1);
        frame.extend_from_slice(&(b.body.len() as u32).to_be_bytes());
        frame.extend_from_slice(&b.body);
        let frame = Bytes::from(frame);
        let mut throttled = 0;
        loop {
            let (code, message, data) = self.call(frame.clone())?;
            match code {
                0 => {
                    ensure!(data.len() >= 5 && data[0] == 0, "unexpected answer frame");
                    return Ok((accepted(b.records, &data[5..])?, throttled));
                }
                // UNAVAILABLE: the server's "no room", retried as the exporter would.
                14 => {
                    throttled += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => bail!("gRPC Export answered status {code}: {message}"),
            }
        }
    }
}
