//! `POST /api/v1/aggregate`, `GET /api/v1/fields` and `GET /api/v1/sources` over HTTP
//! against the real server, checked against what was ingested.

mod common;

use common::{client, Server};
use serde_json::{json, Value};
use skein_model::Timestamp;
use std::collections::BTreeMap;

fn post(server: &Server, body: Value) -> (u16, Value) {
    let r = client()
        .post(format!("{}/api/v1/aggregate", server.url))
        .body(body.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

/// 600 records on two hosts and four containers over two days.
fn records() -> Vec<Value> {
    (0..600u64)
        .map(|i| {
            let host = if i % 3 == 0 { "node-b" } else { "node-a" };
            let container = ["api", "web", "worker", "db"][(i % 4) as usize];
            let level = ["info", "info", "warn", "error", "debug"][(i % 5) as usize];
            // 2026-11-20T23:00:00Z onwards, one record every 12 s: across midnight.
            let t = 1_795_215_600 + i as i64 * 12;
            let mut fields = json!({"latency_ms": (i * 37) % 900, "user": format!("u{}", i % 50)});
            if i % 10 == 0 {
                fields["error"] = json!({"code": i % 4});
            }
            json!({
                "@timestamp": Timestamp(t * 1_000_000_000).to_string(),
                "host": host, "container": container, "container_id": format!("{container}-{host}-id"),
                "image": format!("shop/{container}:1"), "stream": "stdout", "level": level,
                "message": format!("request {i} done"),
                "labels": {"com.docker.compose.service": container},
                "fields": fields,
                "_source_id": format!("{host}/{container}"), "_seq": i + 1,
            })
        })
        .collect()
}

#[test]
fn aggregate_fields_and_sources_over_http() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    let recs = records();
    let body: String = recs.iter().map(|r| format!("{r}\n")).collect();
    let r = server.ingest(body.into_bytes(), None);
    assert_eq!(r.status(), 200);
    server.wait_total("*", recs.len() as u64);

    // Count per level per 10 minutes, checked against the records.
    let (status, out) = post(
        &server,
        json!({"q": "NOT container:db", "start": "2026-11-20T23:30:00Z", "end": "2026-11-21T00:30:00Z",
            "aggs": {"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "10m"},
                "aggs": {"l": {"terms": {"field": "level"}}}}}}),
    );
    assert_eq!(status, 200, "{out}");
    let lo = 1_795_217_400;
    let hi = lo + 3600;
    let mut want: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for (i, r) in recs.iter().enumerate() {
        let t = 1_795_215_600 + i as i64 * 12;
        if (lo..=hi).contains(&t) && r["container"] != "db" {
            *want
                .entry((
                    (t / 600) * 600_000,
                    r["level"].as_str().unwrap().to_string(),
                ))
                .or_default() += 1;
        }
    }
    let mut got: BTreeMap<(i64, String), u64> = BTreeMap::new();
    for b in out["aggregations"]["t"]["buckets"].as_array().unwrap() {
        for l in b["l"]["buckets"].as_array().unwrap() {
            got.insert(
                (
                    b["key"].as_i64().unwrap(),
                    l["key"].as_str().unwrap().to_string(),
                ),
                l["doc_count"].as_u64().unwrap(),
            );
        }
    }
    assert_eq!(got, want);
    assert_eq!(out["total"], want.values().sum::<u64>());

    // Bare names mean payload fields; metrics answer in Elasticsearch's shape.
    let (status, out) = post(
        &server,
        json!({"q": "error.code:2", "aggs": {"lat": {"stats": {"field": "latency_ms"}}}}),
    );
    assert_eq!(status, 200, "{out}");
    let lat: Vec<u64> = recs
        .iter()
        .filter(|r| r["fields"]["error"]["code"] == 2)
        .map(|r| r["fields"]["latency_ms"].as_u64().unwrap())
        .collect();
    assert_eq!(out["aggregations"]["lat"]["count"], lat.len());
    assert_eq!(
        out["aggregations"]["lat"]["sum"].as_f64().unwrap() as u64,
        lat.iter().sum::<u64>()
    );

    // Mistakes are 400s that say what to do.
    for (body, kind, says) in [
        (
            json!({"aggs": {"x": {"terms": {"field": "message"}}}}),
            "aggregation_error",
            "full text",
        ),
        (
            json!({"q": "a AND (", "aggs": {}}),
            "query_parse_error",
            "position",
        ),
        (
            json!({"aggs": {"x": {"nope": {}}}}),
            "aggregation_error",
            "unsupported aggregation type `nope`",
        ),
        (json!({"q": "*"}), "invalid_request", "`aggs` is missing"),
        (
            json!({"aggs": {}, "size": 3}),
            "invalid_request",
            "unknown field `size`",
        ),
        (
            json!({"start": "yesterday", "aggs": {}}),
            "invalid_time",
            "`start`",
        ),
    ] {
        let (status, out) = post(&server, body.clone());
        assert_eq!(status, 400, "{body}: {out}");
        assert_eq!(out["error"]["type"], kind, "{body}: {out}");
        let reason = out["error"]["reason"].as_str().unwrap();
        assert!(reason.contains(says), "{body}: {reason}");
    }

    // Fields: record fields, payload paths and labels with their types and top values.
    let (status, out) = server.get_json("/api/v1/fields?sample=1000&top=3");
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["sampled"], 600);
    let by_name: BTreeMap<&str, &Value> = out["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap(), f))
        .collect();
    assert_eq!(by_name["@timestamp"]["type"], "date");
    assert_eq!(by_name["message"]["type"], "text");
    assert_eq!(by_name["message"]["aggregatable"], false);
    assert_eq!(by_name["fields.latency_ms"]["type"], "long");
    assert_eq!(by_name["fields.user"]["type"], "keyword");
    assert_eq!(by_name["fields.error.code"]["type"], "long");
    assert_eq!(by_name["fields.error.code"]["count"], 60);
    assert_eq!(
        by_name["labels.com.docker.compose.service"]["type"],
        "keyword"
    );
    let top = by_name["level"]["top"].as_array().unwrap();
    assert_eq!(top[0], json!({"value": "info", "count": 240}));
    assert_eq!(top.len(), 3);
    assert_eq!(by_name["container"]["count"], 600);
    let (status, out) = server.get_json("/api/v1/fields?sample=20000");
    assert_eq!(status, 400, "{out}");

    // Sources: each container on each host with its first and last time and count.
    let (status, out) = server.get_json("/api/v1/sources");
    assert_eq!(status, 200, "{out}");
    let sources = out["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 8, "4 containers on 2 hosts");
    for s in sources {
        let (host, container) = (
            s["host"].as_str().unwrap(),
            s["container"].as_str().unwrap(),
        );
        let times: Vec<i64> = recs
            .iter()
            .enumerate()
            .filter(|(_, r)| r["host"] == host && r["container"] == container)
            .map(|(i, _)| 1_795_215_600 + i as i64 * 12)
            .collect();
        assert_eq!(s["count"], times.len(), "{s}");
        assert_eq!(s["image"], format!("shop/{container}:1"));
        assert_eq!(s["container_id"], format!("{container}-{host}-id"));
        let at = |v: &Value| Timestamp::parse_rfc3339(v.as_str().unwrap()).unwrap().0;
        assert_eq!(at(&s["first"]), times[0] * 1_000_000_000, "{s}");
        assert_eq!(at(&s["last"]), times.last().unwrap() * 1_000_000_000, "{s}");
    }
    let (_, out) = server.get_json("/api/v1/sources?q=host:node-b&start=2026-11-21T00:00:00Z");
    assert!(out["sources"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["host"] == "node-b" && s["first"].as_str().unwrap() >= "2026-11-21"));
}
