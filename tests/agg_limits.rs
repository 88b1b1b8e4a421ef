//! Issue 14, "one request must never take the server down": aggregations and
//! `_msearch` requests that used to take gigabytes or minutes, sent to the real server.
//! Each is refused (or answered) with the limit named, the server's peak memory stays
//! under a bound, and it answers the next request.

mod common;

use common::Server;
use serde_json::{json, Value};
use skein_model::Timestamp;
use std::collections::BTreeMap;

/// Peak resident memory the server may reach in these tests. Before the limits, the
/// percentiles-under-terms and `_msearch` requests took over 5 GB.
const RSS_BOUND: u64 = 1 << 30;

/// Distinct values of `fields.user` in [`records`]; the first `n - USERS` occur twice.
const USERS: u64 = 50_000;

/// `n` records one second apart from 2026-11-20T00:00:00Z: `fields.user` cycles
/// through [`USERS`] names, `fields.latency_ms` through 0..1000.
fn records(n: u64) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({
                "@timestamp": Timestamp((1_795_132_800 + i as i64) * 1_000_000_000).to_string(),
                "host": "node-a", "container": "api", "stream": "stdout", "level": "info",
                "message": format!("request {i}"),
                "fields": {"user": user(i % USERS), "latency_ms": i % 1000},
                "_source_id": "node-a/api", "_seq": i + 1,
            })
        })
        .collect()
}

fn user(i: u64) -> String {
    format!("user-{i:05}")
}

/// A server holding `records(n)`.
fn server_with(n: u64, extra: &[&str]) -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), extra);
    let recs = records(n);
    // Several batches: several segments, as a live server has.
    for chunk in recs.chunks(20_000) {
        let body: String = chunk.iter().map(|r| format!("{r}\n")).collect();
        let r = server.ingest(body.into_bytes(), None);
        assert_eq!(r.status(), 200);
    }
    server.wait_total("*", n);
    (tmp, server)
}

fn aggregate(server: &Server, aggs: Value) -> (u16, Value) {
    server.post_json("/api/v1/aggregate", json!({"aggs": aggs}).to_string())
}

/// The server answers a plain request and its peak memory stayed under [`RSS_BOUND`].
fn still_fine(server: &Server) {
    let (status, out) = aggregate(server, json!({"l": {"terms": {"field": "level"}}}));
    assert_eq!(status, 200, "{out}");
    assert!(out["total"].as_u64().unwrap() > 0, "{out}");
    let peak = server.proc_status("VmHWM") * 1024;
    assert!(
        peak < RSS_BOUND,
        "server peak RSS {peak} bytes, over {RSS_BOUND} (now {})",
        server.proc_status("VmRSS") * 1024
    );
}

fn reason(out: &Value) -> &str {
    out["error"]["reason"].as_str().unwrap_or_default()
}

#[test]
fn percentiles_under_terms_are_refused_before_they_run() {
    let (_tmp, server) = server_with(6_000, &[]);
    let percents: Vec<f64> = (0..100_000).map(|i| f64::from(i) / 1000.0).collect();
    let (status, out) = aggregate(
        &server,
        json!({"by_user": {"terms": {"field": "user", "size": 100}, "aggs": {
            "lat": {"percentiles": {"field": "latency_ms", "percents": percents}}}}}),
    );
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["type"], "too_many_buckets_exception", "{out}");
    let r = reason(&out);
    for want in [
        "by_user > lat",
        "10000100",
        "65536",
        "--max-buckets",
        "percents",
    ] {
        assert!(r.contains(want), "{want:?} not in {r}");
    }
    // The same through the Elasticsearch API.
    let body = json!({"size": 0, "aggs": {"by_user": {"terms": {"field": "user", "size": 100},
        "aggs": {"lat": {"percentiles": {"field": "latency_ms", "percents": percents}}}}}});
    let (status, out) = server.post_json("/es/_search", body.to_string());
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["type"], "too_many_buckets_exception", "{out}");
    assert_eq!(out["status"], 400);
    // Within the limit, the same shape is answered.
    let (status, out) = aggregate(
        &server,
        json!({"by_user": {"terms": {"field": "user", "size": 100}, "aggs": {
            "lat": {"percentiles": {"field": "latency_ms", "percents": [50, 99]}}}}}),
    );
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["aggregations"]["by_user"]["buckets"]
            .as_array()
            .unwrap()
            .len(),
        100
    );
    still_fine(&server);
}

#[test]
fn a_hundred_thousand_ranges_are_refused_and_many_are_answered() {
    // Bodies of 10^5 ranges are over the default --max-request-bytes (a 413 of its own).
    let (_tmp, server) = server_with(6_000, &["--max-request-bytes", "16777216"]);
    let ranges = |n: u64| -> Vec<Value> {
        (0..n)
            .map(|i| json!({"from": i as f64 / 100.0, "to": (i + 1) as f64 / 100.0}))
            .collect()
    };
    let (status, out) = aggregate(
        &server,
        json!({"r": {"range": {"field": "latency_ms", "ranges": ranges(100_000)}}}),
    );
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["type"], "too_many_buckets_exception", "{out}");
    assert!(reason(&out).contains("`r`"), "{out}");
    assert!(reason(&out).contains("ranges"), "{out}");

    // 60,000 ranges with gaps between them ([2i, 2i + 1)): answered, counts exact.
    let gapped: Vec<Value> = (0..60_000u64)
        .map(|i| json!({"from": 2 * i, "to": 2 * i + 1}))
        .collect();
    let (status, out) = aggregate(
        &server,
        json!({"r": {"range": {"field": "latency_ms", "ranges": gapped}}}),
    );
    assert_eq!(status, 200, "{out}");
    let buckets = out["aggregations"]["r"]["buckets"].as_array().unwrap();
    assert_eq!(
        buckets.len(),
        60_000,
        "only the ranges asked for are answered"
    );
    let mut want: BTreeMap<u64, u64> = BTreeMap::new();
    for i in 0..6_000u64 {
        *want.entry(i % 1000).or_default() += 1;
    }
    for (i, b) in buckets.iter().enumerate() {
        let from = 2 * i as u64;
        assert_eq!(b["from"].as_f64(), Some(from as f64), "{b}");
        let n = want.get(&from).copied().unwrap_or(0);
        assert_eq!(b["doc_count"].as_u64(), Some(n), "{b}");
    }
    still_fine(&server);
}

#[test]
fn terms_on_a_payload_field_with_fifty_thousand_values_are_exact() {
    let n = 60_000;
    let (_tmp, server) = server_with(n, &[]);
    for size in [10u64, 10_000] {
        let (status, out) = aggregate(
            &server,
            json!({"u": {"terms": {"field": "fields.user", "size": size}}}),
        );
        assert_eq!(status, 200, "{out}");
        let t = &out["aggregations"]["u"];
        assert_eq!(t["doc_count_error_upper_bound"], 0, "{t}");
        let buckets = t["buckets"].as_array().unwrap();
        assert_eq!(buckets.len() as u64, size);
        // The first n - USERS users occur twice, the rest once; ties go by key.
        for (i, b) in buckets.iter().enumerate() {
            assert_eq!(b["key"], user(i as u64), "{b}");
            assert_eq!(b["doc_count"], 2, "{b}");
        }
        assert_eq!(t["sum_other_doc_count"].as_u64(), Some(n - 2 * size));
    }
    // All of them: the twice-seen first, then the others by key.
    let (status, out) = aggregate(
        &server,
        json!({"u": {"terms": {"field": "user", "size": 60_000}}}),
    );
    assert_eq!(status, 200, "{out}");
    let buckets = out["aggregations"]["u"]["buckets"].as_array().unwrap();
    assert_eq!(buckets.len() as u64, USERS);
    let counts: u64 = buckets
        .iter()
        .map(|b| b["doc_count"].as_u64().unwrap())
        .sum();
    assert_eq!(counts, n);
    assert_eq!(buckets[USERS as usize - 1]["key"], user(USERS - 1));
    assert_eq!(buckets[USERS as usize - 1]["doc_count"], 1);
    still_fine(&server);
}

#[test]
fn msearch_is_bounded_and_runs_a_few_at_a_time() {
    let (_tmp, server) = server_with(6_000, &[]);
    let body = |n: usize| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "{{}}\n{}\n",
                    json!({"size": 100, "query": {"term": {"user": user(i as u64)}}})
                )
            })
            .collect()
    };
    let (status, out) = server.post_json("/es/_msearch", body(2_000));
    assert_eq!(status, 400, "{out}");
    assert_eq!(out["error"]["type"], "illegal_argument_exception", "{out}");
    assert_eq!(out["status"], 400);
    for want in ["2000", "100", "--max-msearch"] {
        assert!(reason(&out).contains(want), "{want:?} not in {out}");
    }

    // At the limit, every search is answered, in order, whatever the concurrency.
    for params in [
        "",
        "?max_concurrent_searches=1",
        "?max_concurrent_searches=64",
    ] {
        let (status, out) = server.post_json(&format!("/es/_msearch{params}"), body(100));
        assert_eq!(status, 200, "{out}");
        let responses = out["responses"].as_array().unwrap();
        assert_eq!(responses.len(), 100);
        for (i, r) in responses.iter().enumerate() {
            assert_eq!(r["status"], 200, "{r}");
            let hits = r["hits"]["hits"].as_array().unwrap();
            assert_eq!(hits.len(), 1, "{r}");
            assert_eq!(hits[0]["_source"]["fields"]["user"], user(i as u64), "{r}");
        }
    }
    let (status, out) = server.post_json("/es/_msearch?max_concurrent_searches=0", body(1));
    assert_eq!(status, 400, "{out}");
    assert!(reason(&out).contains("max_concurrent_searches"), "{out}");
    still_fine(&server);
}

#[test]
fn limits_are_set_by_flags() {
    let (_tmp, server) = server_with(
        6_000,
        &[
            "--max-buckets",
            "1000",
            "--agg-memory-bytes",
            "200000",
            "--max-msearch",
            "3",
        ],
    );
    let (status, out) = aggregate(
        &server,
        json!({"u": {"terms": {"field": "user", "size": 1001}}}),
    );
    assert_eq!(status, 400, "{out}");
    assert!(reason(&out).contains("limit of 1000"), "{out}");
    // A date histogram counts its buckets over the records' span: 100 minutes of
    // records at one second is 6,000 buckets.
    let (status, out) = aggregate(
        &server,
        json!({"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1s"}}}),
    );
    assert_eq!(status, 400, "{out}");
    assert!(reason(&out).contains("fixed_interval"), "{out}");
    let (status, out) = aggregate(
        &server,
        json!({"t": {"date_histogram": {"field": "@timestamp", "fixed_interval": "10m"}}}),
    );
    assert_eq!(status, 200, "{out}");
    let (status, out) = server.post_json("/es/_msearch", "{}\n{}\n".repeat(4));
    assert_eq!(status, 400, "{out}");
    assert!(reason(&out).contains("limit of 3"), "{out}");
    still_fine(&server);
}
