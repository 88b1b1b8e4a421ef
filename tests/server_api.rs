//! End to end over HTTP against the real binary: ingest in every encoding, per-line
//! rejection, limits, search parameters, health and metrics, clean restart.

mod common;

use common::{client, record_line, Server};
use std::io::Write;

fn body(lines: &[String]) -> Vec<u8> {
    let mut b = lines.join("\n").into_bytes();
    b.push(b'\n');
    b
}

#[test]
fn ingest_encodings_rejections_and_search() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &["--commit-interval-ms", "200"]);

    let plain = body(&[
        record_line(
            "2026-11-20T10:00:00.000000001Z",
            "web",
            "info",
            "GET /api/items 200",
            "a",
            1,
        ),
        "{not json".to_string(),
        r#"{"message":"no timestamp"}"#.to_string(),
        record_line(
            "2026-11-20T10:00:01Z",
            "web",
            "error",
            "payment failed: connection reset",
            "a",
            2,
        ),
        r#"{"@timestamp":"2026-11-20T10:00:02Z","fields":"not an object"}"#.to_string(),
    ]);
    let r = server.ingest(plain, None);
    assert_eq!(r.status(), 200);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["duplicates"], 0);
    let rejected: Vec<u64> = v["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(rejected, vec![2, 3, 5]);
    assert!(v["rejected"][1]["error"]
        .as_str()
        .unwrap()
        .contains("@timestamp"));

    let zstd_body = zstd::encode_all(
        &body(&[record_line(
            "2026-11-21T08:00:00Z",
            "api-1",
            "warn",
            "slow query took 1830 ms",
            "b",
            1,
        )])[..],
        3,
    )
    .unwrap();
    let v: serde_json::Value = server.ingest(zstd_body, Some("zstd")).json().unwrap();
    assert_eq!(v["accepted"], 1);

    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body(&[
        record_line(
            "2026-11-19T23:59:59.999Z",
            "worker",
            "debug",
            "cron tick",
            "c",
            1,
        ),
        // A retry of an acknowledged record is a duplicate, not a second copy.
        record_line(
            "2026-11-20T10:00:01Z",
            "web",
            "error",
            "payment failed: connection reset",
            "a",
            2,
        ),
    ]))
    .unwrap();
    let v: serde_json::Value = server
        .ingest(gz.finish().unwrap(), Some("gzip"))
        .json()
        .unwrap();
    assert_eq!(
        (v["accepted"].as_u64(), v["duplicates"].as_u64()),
        (Some(1), Some(1))
    );

    let r = server.ingest(b"x".to_vec(), Some("br"));
    assert_eq!(r.status(), 415);
    let r = server.ingest(b"not zstd at all".to_vec(), Some("zstd"));
    assert_eq!(r.status(), 400);

    server.wait_total("*", 4);
    let s = |p: &[(&str, &str)]| server.search(p);
    assert_eq!(s(&[("q", "")])["total"], 4);
    assert_eq!(s(&[("q", "level:error")])["total"], 1);
    assert_eq!(s(&[("q", "\"connection reset\"")])["total"], 1);
    assert_eq!(
        s(&[("q", "reset connection")])["total"],
        1,
        "implicit AND, any order"
    );
    assert_eq!(
        s(&[("q", "\"reset connection\"")])["total"],
        0,
        "phrase keeps order"
    );
    assert_eq!(s(&[("q", "container:web")])["total"], 2);
    assert_eq!(s(&[("q", "container:web -level:error")])["total"], 1);
    assert_eq!(s(&[("q", "stream:stdout AND host:node-1")])["total"], 4);
    assert_eq!(
        s(&[("q", "container:api-1")])["hits"][0]["message"],
        "slow query took 1830 ms"
    );
    // Newest first by default; asc on request; nanoseconds kept.
    let newest = s(&[("q", "*")]);
    assert_eq!(
        newest["hits"][0]["@timestamp"],
        "2026-11-21T08:00:00.000000000Z"
    );
    let oldest = s(&[("q", "*"), ("order", "asc"), ("limit", "2")]);
    assert_eq!(
        oldest["hits"][0]["@timestamp"],
        "2026-11-19T23:59:59.999000000Z"
    );
    assert_eq!(
        oldest["hits"][1]["@timestamp"],
        "2026-11-20T10:00:00.000000001Z"
    );
    // Paging.
    let cursor = oldest["cursor"].as_str().unwrap();
    let next = s(&[
        ("q", "*"),
        ("order", "asc"),
        ("limit", "2"),
        ("cursor", cursor),
    ]);
    assert_eq!(
        next["hits"][0]["@timestamp"],
        "2026-11-20T10:00:01.000000000Z"
    );
    assert_eq!(next["total"], 4);
    // Time ranges: absolute, date math with rounding, relative to now.
    assert_eq!(
        s(&[
            ("start", "2026-11-20T00:00:00Z"),
            ("end", "2026-11-20T23:59:59Z")
        ])["total"],
        2
    );
    assert_eq!(s(&[("start", "2026-11-21||/d")])["total"], 1);
    assert_eq!(s(&[("start", "now-15m")])["total"], 0);
    assert_eq!(s(&[("start", "now-3650d"), ("end", "now+1h")])["total"], 4);
    assert!(s(&[("q", "*")])["took_ms"].is_u64());

    // Errors are JSON with a type and a reason.
    for (params, kind) in [
        (vec![("q", "container:(web")], "query_parse_error"),
        (vec![("start", "yesterday")], "invalid_time"),
        (vec![("order", "sideways")], "invalid_order"),
        (vec![("cursor", "nope")], "invalid_cursor"),
        (vec![("limit", "99999")], "invalid_limit"),
    ] {
        let r = client()
            .get(format!("{}/api/v1/search", server.url))
            .query(&params)
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{params:?}");
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["error"]["type"], kind);
        assert!(!v["error"]["reason"].as_str().unwrap().is_empty());
    }

    let (code, health) = server.get_json("/healthz");
    assert_eq!(code, 200);
    assert_eq!(health["status"], "ok");
    let metrics = client()
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for name in [
        "skein_records_ingested_total 4",
        "skein_records_rejected_total 3",
        "skein_records_duplicate_total 1",
        "skein_wal_bytes",
        "skein_partitions 3",
        "skein_commit_seconds_bucket",
        "skein_search_seconds_bucket",
    ] {
        assert!(
            metrics.contains(name),
            "{name} missing from /metrics:\n{metrics}"
        );
    }
    let page = client().get(&server.url).send().unwrap().text().unwrap();
    assert!(page.contains("/api/v1/search"));
}

#[test]
fn body_limit_backpressure_and_clean_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        &tmp.path().join("data"),
        &[
            "--max-body-bytes",
            "200000",
            "--inflight-bytes",
            "300000",
            "--inflight-wait-ms",
            "0",
            "--commit-interval-ms",
            "2000",
        ],
    );
    let big: Vec<String> = (0..3000)
        .map(|i| {
            record_line(
                "2026-11-20T10:00:00Z",
                "web",
                "info",
                &format!("line {i}"),
                "big",
                i + 1,
            )
        })
        .collect();
    let r = server.ingest(body(&big), None);
    assert_eq!(r.status(), 413);
    let v: serde_json::Value = r.json().unwrap();
    assert_eq!(v["error"]["type"], "body_too_large");

    // Many concurrent batches against a small in-flight budget, answered at once when it
    // is full: some are told to come back later (429 + Retry-After); retried, all of them
    // land exactly once.
    let throttled = concurrent_load(&server.url, 0);
    assert!(
        throttled > 0,
        "a 300 kB budget under 8 concurrent 80 kB batches must push back"
    );
    server.wait_total("container:load", 64_000);

    server.stop();
    let server = server.restart();
    server.wait_total("container:load", 64_000);
    let (_, health) = server.get_json("/healthz");
    assert_eq!(health["status"], "ok");
}

/// Eight threads each send ten 800-record batches (sources `load-0` … `load-7`, `_seq`
/// from 1), retrying a 429 after 50 ms, starting from `first_seq_block`; returns how many
/// 429s they got.
fn concurrent_load(url: &str, first_seq_block: u64) -> u64 {
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let url = url.to_string();
            std::thread::spawn(move || {
                let mut throttled = 0;
                for b in first_seq_block..first_seq_block + 10 {
                    let lines: Vec<String> = (0..800u64)
                        .map(|i| {
                            let seq = b * 800 + i + 1;
                            record_line(
                                "2026-11-20T11:00:00Z",
                                "load",
                                "info",
                                &format!("t{t} s{seq}"),
                                &format!("load-{t}"),
                                seq,
                            )
                        })
                        .collect();
                    let payload = body(&lines);
                    loop {
                        let r = client()
                            .post(format!("{url}/api/v1/ingest"))
                            .body(payload.clone())
                            .send()
                            .unwrap();
                        if r.status() == 429 {
                            assert!(r.headers().contains_key("retry-after"));
                            throttled += 1;
                            std::thread::sleep(std::time::Duration::from_millis(50));
                            continue;
                        }
                        assert_eq!(r.status(), 200);
                        let v: serde_json::Value = r.json().unwrap();
                        assert_eq!(
                            v["accepted"].as_u64().unwrap() + v["duplicates"].as_u64().unwrap(),
                            800
                        );
                        break;
                    }
                }
                throttled
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).sum()
}

#[test]
fn a_full_budget_holds_requests_instead_of_refusing_them() {
    let tmp = tempfile::tempdir().unwrap();
    // The same budget and load as above, with requests allowed to wait for room: the
    // server holds them (reading no body it has no room for) and refuses none.
    let server = Server::start(
        &tmp.path().join("data"),
        &["--inflight-bytes", "300000", "--inflight-wait-ms", "10000"],
    );
    assert_eq!(
        concurrent_load(&server.url, 0),
        0,
        "no request answered 429"
    );
    server.wait_total("container:load", 64_000);
}
