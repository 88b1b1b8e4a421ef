//! OTLP/HTTP logs (`POST /v1/logs`) against the real `skein server`: an application
//! logging through the OpenTelemetry Python SDK (its `logging` bridge and OTLP/HTTP
//! protobuf exporter, from PyPI; `scripts/test` installs them), a hand-written OTLP/JSON
//! body with every value type, and the error answers.

mod common;

use common::{create_token, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::Command;

/// Runs the Python application of `tests/otlp/app.py`; its printed span ids.
fn run_app(server: &Server, token: &str, run: &str, count: usize, compression: &str) -> Value {
    run_script(
        &format!("{}/v1/logs", server.url),
        token,
        run,
        count,
        compression,
        &[],
    )
}

fn run_script(
    endpoint: &str,
    token: &str,
    run: &str,
    count: usize,
    compression: &str,
    extra: &[&str],
) -> Value {
    run_padded(
        endpoint,
        token,
        run,
        count,
        compression,
        extra,
        Load::default(),
    )
}

/// How an application of a load test logs.
#[derive(Default, Clone, Copy)]
struct Load {
    /// Bytes added to each message.
    pad: usize,
    /// When to start logging (Unix seconds; 0: at once).
    start: u64,
}

fn run_padded(
    endpoint: &str,
    token: &str,
    run: &str,
    count: usize,
    compression: &str,
    extra: &[&str],
    Load { pad, start }: Load,
) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/app.py");
    let out = Command::new("python3")
        .env("APP_PAD", pad.to_string())
        .env("APP_START", start.to_string())
        .arg(&script)
        .arg(endpoint)
        .args([token, run, &count.to_string(), compression])
        .args(extra)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "app.py failed (pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http \
         opentelemetry-exporter-otlp-proto-grpc, as scripts/test does)\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("app.py prints its span's ids")
}

#[test]
fn python_sdk_logs_arrive_once_with_trace_context_and_resource() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest = create_token(&data, "ingest", "otel");
    let query = create_token(&data, "query", "reader");
    let mut server = Server::start(&data, &["--commit-interval-ms", "100"]);
    server.token = Some(query);
    let count = 120;
    let gz = run_app(&server, &ingest, "gz", count, "gzip");
    let plain = run_app(&server, &ingest, "plain", count, "none");
    server.wait_total("service.name:checkout", 2 * count as u64);

    for (run, ids) in [("gz", &gz), ("plain", &plain)] {
        let records = server.all(&format!("fields.run:{run}"));
        assert_eq!(records.len(), count, "every record of {run} once");
        let mut orders: Vec<i64> = records
            .iter()
            .map(|r| r["fields"]["order"].as_i64().unwrap())
            .collect();
        orders.sort();
        assert_eq!(orders, (0..count as i64).collect::<Vec<_>>());
        for r in &records {
            let order = r["fields"]["order"].as_i64().unwrap();
            let (level, word) = if order % 2 == 1 {
                ("error", "failed")
            } else {
                ("info", "ok")
            };
            assert_eq!(r["message"], format!("payment {order} of {run} {word}"));
            assert_eq!(r["level"], level, "{r}");
            assert_eq!(r["host"], "node-otel");
            assert_eq!(r["container"], "pay");
            assert_eq!(r["labels"]["io.kubernetes.pod.name"], "pay-7d9f");
            assert_eq!(r["labels"]["io.kubernetes.pod.namespace"], "shop");
            assert_eq!(r["labels"]["io.kubernetes.container.name"], "pay");
            let f = &r["fields"];
            assert_eq!(f["service.name"], "checkout", "{r}");
            assert_eq!(f["service.version"], "1.4.2");
            assert_eq!(f["deployment.environment"], "test");
            assert_eq!(f["trace_id"], ids["trace_id"]);
            assert_eq!(f["span_id"], ids["span_id"]);
            assert_eq!(f["otel.scope.name"], "shop.pay");
            assert!(
                r.get("_source_id").is_none(),
                "OTLP records carry no identity"
            );
        }
        // A trace is one query away.
        let q = format!("trace_id:{}", ids["trace_id"].as_str().unwrap());
        assert_eq!(server.all(&q).len(), count);
    }
    // The resource's Kubernetes identity is where the agent puts it, and its other
    // attributes are queryable by their OTel names.
    let pod = server.search(&[
        (
            "q",
            "labels.io.kubernetes.pod.name:pay-7d9f AND level:error",
        ),
        ("limit", "0"),
    ]);
    assert_eq!(pod["total"], count as u64);
    let env = server.search(&[("q", "deployment.environment:test"), ("limit", "0")]);
    assert_eq!(env["total"], 2 * count as u64);
}

/// A spec-shaped OTLP/JSON request: ids in hex, int64s as strings, every AnyValue type.
fn json_request(run: &str) -> Value {
    json!({"resourceLogs": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "inventory"}},
            {"key": "host.name", "value": {"stringValue": "node-json"}},
            {"key": "container.id", "value": {"stringValue": "c0ffee"}},
            {"key": "container.name", "value": {"stringValue": "inv"}},
            {"key": "container.image.name", "value": {"stringValue": "shop/inv"}},
            {"key": "container.image.tag", "value": {"stringValue": "2.0"}},
            {"key": "cloud.region", "value": {"stringValue": "eu-1"}}
        ]},
        "scopeLogs": [{
            "scope": {"name": "inv.stock", "version": "0.3"},
            "logRecords": [
                {
                    "timeUnixNano": "1763632800123456789",
                    "observedTimeUnixNano": "1763632800200000000",
                    "severityNumber": 13,
                    "severityText": "WARN",
                    "traceId": "5b8efff798038103d269b633813fc60c",
                    "spanId": "eee19b7ec3c1b174",
                    "body": {"kvlistValue": {"values": [
                        {"key": "msg", "value": {"stringValue": "stock low"}},
                        {"key": "sku", "value": {"stringValue": "A-1"}}
                    ]}},
                    "attributes": [
                        {"key": "run", "value": {"stringValue": run}},
                        {"key": "s", "value": {"stringValue": "text"}},
                        {"key": "b", "value": {"boolValue": true}},
                        {"key": "i", "value": {"intValue": "-9007199254740993"}},
                        {"key": "d", "value": {"doubleValue": 2.5}},
                        {"key": "raw", "value": {"bytesValue": "AAEC"}},
                        {"key": "a", "value": {"arrayValue": {"values": [
                            {"intValue": "1"}, {"stringValue": "two"}
                        ]}}},
                        {"key": "kv", "value": {"kvlistValue": {"values": [
                            {"key": "inner", "value": {"boolValue": false}}
                        ]}}},
                        // Defaults left out, as proto3's JSON mapping allows.
                        {"key": "empty", "value": {"arrayValue": {}}},
                        {"key": "none"},
                        {"value": {"stringValue": "no key"}}
                    ]
                },
                {
                    "observedTimeUnixNano": "1763632801000000000",
                    "body": {"stringValue": "observed only"},
                    "attributes": [{"key": "run", "value": {"stringValue": run}}]
                },
                {
                    "timeUnixNano": "18446744073709551615",
                    "body": {"stringValue": "too far in the future"},
                    "attributes": [{"key": "run", "value": {"stringValue": run}}]
                }
            ]
        }]
    }]})
}

fn post(server: &Server, content_type: &str, body: Vec<u8>, gzip: bool) -> (u16, Vec<u8>) {
    let mut req = server
        .request(reqwest::Method::POST, "/v1/logs")
        .header("Content-Type", content_type);
    let body = if gzip {
        req = req.header("Content-Encoding", "gzip");
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&body).unwrap();
        e.finish().unwrap()
    } else {
        body
    };
    let r = req.body(body).send().unwrap();
    let status = r.status().as_u16();
    (status, r.bytes().unwrap().to_vec())
}

#[test]
fn otlp_json_maps_every_value_type_and_reports_partial_success() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    for (run, gzip) in [("json-plain", false), ("json-gz", true)] {
        let body = json_request(run).to_string().into_bytes();
        let (status, answer) = post(&server, "application/json", body, gzip);
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
        let answer: Value = serde_json::from_slice(&answer).unwrap();
        assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], "1");
        let reason = answer["partialSuccess"]["errorMessage"].as_str().unwrap();
        assert!(reason.contains("2262"), "{reason}");
    }
    server.wait_total("cloud.region:eu-1", 4);
    let records = server.all("fields.run:json-plain");
    assert_eq!(records.len(), 2);
    let r = &records[0];
    assert_eq!(r["@timestamp"], "2025-11-20T10:00:00.123456789Z");
    assert_eq!(r["level"], "warn");
    assert_eq!(r["message"], "stock low");
    assert_eq!(r["host"], "node-json");
    assert_eq!(r["container"], "inv");
    assert_eq!(r["container_id"], "c0ffee");
    assert_eq!(r["image"], "shop/inv:2.0");
    let f = &r["fields"];
    assert_eq!(f["sku"], "A-1");
    assert_eq!(f["s"], "text");
    assert_eq!(f["b"], true);
    assert_eq!(f["i"], json!(-9007199254740993i64));
    assert_eq!(f["d"], 2.5);
    assert_eq!(f["raw"], "AAEC");
    assert_eq!(f["a"], json!([1, "two"]));
    assert_eq!(f["kv"], json!({"inner": false}));
    assert_eq!(f["empty"], json!([]));
    assert_eq!(f[""], "no key");
    assert_eq!(f["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(f["span_id"], "eee19b7ec3c1b174");
    assert_eq!(f["otel.scope.name"], "inv.stock");
    assert_eq!(f["otel.scope.version"], "0.3");
    assert_eq!(f["service.name"], "inventory");
    assert_eq!(records[1]["@timestamp"], "2025-11-20T10:00:01.000000000Z");
    assert_eq!(records[1]["message"], "observed only");
    let by_service = server.search(&[("q", "service.name:inventory"), ("limit", "0")]);
    assert_eq!(by_service["total"], 4);
}

#[test]
fn bad_bodies_answer_as_otlp_says() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest = create_token(&data, "ingest", "otel");
    let query = create_token(&data, "query", "reader");
    let mut server = Server::start(&data, &["--max-body-bytes", "65536"]);
    // Only the ingest scope writes.
    server.token = Some(query);
    let (status, _) = post(&server, "application/x-protobuf", Vec::new(), false);
    assert_eq!(status, 403);
    server.token = Some(ingest);
    // An empty protobuf request is a valid, empty export.
    let (status, answer) = post(&server, "application/x-protobuf", Vec::new(), false);
    assert_eq!((status, answer.len()), (200, 0));
    let (status, answer) = post(&server, "application/json", b"{}".to_vec(), false);
    assert_eq!((status, answer.as_slice()), (200, &b"{}"[..]));
    // Malformed: not protobuf, not JSON, not gzip.
    let (status, answer) = post(&server, "application/x-protobuf", vec![0xff; 64], false);
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&answer));
    assert!(String::from_utf8_lossy(&answer).contains("ExportLogsServiceRequest"));
    let (status, answer) = post(
        &server,
        "application/json",
        b"{\"resourceLogs\":".to_vec(),
        false,
    );
    assert_eq!(status, 400);
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["code"], 3, "a google.rpc.Status, INVALID_ARGUMENT");
    let (status, _) = server
        .request(reqwest::Method::POST, "/v1/logs")
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "gzip")
        .body(b"not gzip".to_vec())
        .send()
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 400);
    let (status, _) = post(&server, "text/plain", b"hello".to_vec(), false);
    assert_eq!(status, 415);
    // Over --max-body-bytes.
    let (status, _) = post(&server, "application/x-protobuf", vec![0; 70_000], false);
    assert_eq!(status, 413);
}

/// Concurrent exports over `--inflight-bytes`: some are answered 429 with `Retry-After`
/// (and store nothing), the others 200, and every record of a 200 is stored.
#[test]
fn over_budget_is_a_429_with_retry_after_and_nothing_acknowledged_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--inflight-bytes",
            "200000",
            "--inflight-wait-ms",
            "0",
            "--commit-interval-ms",
            "100",
        ],
    );
    // 300 kB requests: each alone is let in, two at once are not.
    let mut body = json_request("big");
    body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][1]["body"]["stringValue"] =
        json!("x".repeat(300_000));
    let body = body.to_string();
    let answers: Vec<(u16, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    (0..4)
                        .map(|_| {
                            let r = server
                                .request(reqwest::Method::POST, "/v1/logs")
                                .header("Content-Type", "application/json")
                                .body(body.clone())
                                .send()
                                .unwrap();
                            (r.status().as_u16(), r.headers().contains_key("retry-after"))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let ok = answers.iter().filter(|(s, _)| *s == 200).count();
    assert!(ok > 0, "{answers:?}");
    assert!(answers.iter().any(|(s, _)| *s == 429), "{answers:?}");
    for (status, retry_after) in &answers {
        assert!(
            *status == 200 || (*status == 429 && *retry_after),
            "{answers:?}"
        );
    }
    // Two records of each request are stored (the third is refused).
    server.wait_total("fields.run:big", 2 * ok as u64);
}

/// The SDK's OTLP/gRPC exporter against `--otlp-grpc-listen`: the same records as over
/// HTTP, the `ingest` scope required.
#[test]
fn python_sdk_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest = create_token(&data, "ingest", "otel");
    let query = create_token(&data, "query", "reader");
    let grpc = format!("127.0.0.1:{}", common::free_port());
    let mut server = Server::start(
        &data,
        &["--commit-interval-ms", "100", "--otlp-grpc-listen", &grpc],
    );
    server.token = Some(query.clone());
    let count = 60;
    let ids = run_script(&grpc, &ingest, "grpc", count, "gzip", &["grpc"]);
    let plain = run_script(&grpc, &ingest, "grpc-plain", count, "none", &["grpc"]);
    server.wait_total("service.name:checkout", 2 * count as u64);
    let records = server.all("fields.run:grpc");
    assert_eq!(records.len(), count);
    for r in &records {
        assert_eq!(r["host"], "node-otel");
        assert_eq!(r["labels"]["io.kubernetes.pod.name"], "pay-7d9f");
        assert_eq!(r["fields"]["trace_id"], ids["trace_id"]);
        assert_eq!(r["fields"]["span_id"], ids["span_id"]);
    }
    assert_eq!(server.all("fields.run:grpc-plain").len(), count);
    assert_ne!(plain["trace_id"], ids["trace_id"]);
    // A token without the ingest scope is refused: the export fails.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otlp/app.py");
    let out = Command::new("python3")
        .arg(&script)
        .args([
            grpc.as_str(),
            query.as_str(),
            "refused",
            "1",
            "none",
            "grpc",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a query token cannot export");
    assert_eq!(server.all("fields.run:refused").len(), 0);
}

/// Several applications exporting at once into a server with little in-flight room:
/// some exports are answered 429, the SDK's exporter retries them after `Retry-After`,
/// and every record is stored exactly once.
#[test]
fn python_sdk_retries_429_and_nothing_is_lost_or_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest = create_token(&data, "ingest", "otel");
    let query = create_token(&data, "query", "reader");
    let mut server = Server::start(
        &data,
        &[
            "--commit-interval-ms",
            "100",
            // Room for two exports at a time.
            "--inflight-bytes",
            "1000000",
            "--inflight-wait-ms",
            "0",
        ],
    );
    server.token = Some(query);
    let apps = 4;
    let count = 300;
    let endpoint = format!("{}/v1/logs", server.url);
    // The applications start logging together, within three seconds (Unix seconds).
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3;
    let outputs: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..apps)
            .map(|i| {
                let (endpoint, ingest) = (&endpoint, &ingest);
                s.spawn(move || {
                    // 50 records of 1 kB a request: ~50 kB, eight times that in the budget.
                    let run = format!("load{i}");
                    run_padded(
                        endpoint,
                        ingest,
                        &run,
                        count,
                        "none",
                        &[],
                        Load { pad: 1000, start },
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let statuses: Vec<u64> = outputs
        .iter()
        .flat_map(|o| o["statuses"].as_array().unwrap().clone())
        .map(|s| s.as_u64().unwrap())
        .collect();
    assert!(
        statuses.contains(&429),
        "no export was over budget: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    for i in 0..apps {
        server.wait_total(&format!("fields.run:load{i}"), count as u64);
        let records = server.all(&format!("fields.run:load{i}"));
        let mut orders: Vec<i64> = records
            .iter()
            .map(|r| r["fields"]["order"].as_i64().unwrap())
            .collect();
        orders.sort();
        assert_eq!(
            orders,
            (0..count as i64).collect::<Vec<_>>(),
            "load{i}: each once"
        );
    }
}
