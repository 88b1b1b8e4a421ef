//! The compact batch form (`application/x-skein-batch; version=1`) against NDJSON: the
//! same records stored either way, a 415 for a version the server does not know, and the
//! real agent falling back to NDJSON for a server that does not read the compact form.

mod common;

use common::{unique, AgentProc, Server};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ID: &str = "3f2a9c1be0d84a7c9e51b2f6a8d04c1e7b93f5a2c6d8e0f1a3b5c7d9e1f2a4b6";

/// A compact body: two sources, interleaved streams, a record that names its own host
/// and one that carries its own `_source_id`; and the same records as NDJSON.
fn bodies() -> (String, String) {
    let source = |n: u32| {
        serde_json::json!({"@source": {
            "host": format!("node-{n}"), "container": format!("web-{n}"), "container_id": ID,
            "image": "shop/web:1.4", "labels": {"app": "shop", "tier": n.to_string()},
            "_source_ids": {
                "stdout": format!("node-{n}/3f2a9c1be0d8/stdout"),
                "stderr": format!("node-{n}/3f2a9c1be0d8/stderr"),
            },
        }})
        .to_string()
    };
    let mut compact = Vec::new();
    let mut ndjson = Vec::new();
    let mut seq = 0;
    for n in 1..=2u32 {
        compact.push(source(n));
        for i in 0..5u32 {
            seq += 1;
            let stream = if i % 2 == 0 { "stdout" } else { "stderr" };
            let ts = format!("2026-11-20T10:00:{seq:02}Z");
            let mut part = serde_json::json!({
                "@timestamp": ts, "stream": stream, "level": "info",
                "message": format!("compact {n}-{i} \"quoted\" é"),
                "fields": {"n": i, "nested": {"k": [1, 2]}}, "_seq": seq,
            });
            let mut full = part.clone();
            full["host"] = format!("node-{n}").into();
            full["container"] = format!("web-{n}").into();
            full["container_id"] = ID.into();
            full["image"] = "shop/web:1.4".into();
            full["labels"] = serde_json::json!({"app": "shop", "tier": n.to_string()});
            full["_source_id"] = format!("node-{n}/3f2a9c1be0d8/{stream}").into();
            if i == 3 {
                part["host"] = "own-host".into();
                full["host"] = "own-host".into();
            }
            if i == 4 {
                part["_source_id"] = "elsewhere".into();
                full["_source_id"] = "elsewhere".into();
            }
            compact.push(part.to_string());
            ndjson.push(full.to_string());
        }
    }
    (compact.join("\n"), ndjson.join("\n"))
}

fn post(server: &Server, body: &str, content_type: &str) -> (u16, Value) {
    let r = server
        .request(reqwest::Method::POST, "/api/v1/ingest")
        .header("Content-Type", content_type)
        .body(body.to_string())
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

#[test]
fn compact_and_ndjson_bodies_store_the_same_records() {
    let (compact, ndjson) = bodies();
    let dirs = tempfile::tempdir().unwrap();
    let a = Server::start(&dirs.path().join("compact"), &[]);
    let b = Server::start(&dirs.path().join("ndjson"), &[]);
    let (status, answer) = post(&a, &compact, "application/x-skein-batch; version=1");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 10, "{answer}");
    let (status, answer) = post(&b, &ndjson, "application/x-ndjson");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 10, "{answer}");
    a.wait_total("*", 10);
    b.wait_total("*", 10);
    let (from_compact, from_ndjson) = (a.all("*"), b.all("*"));
    assert_eq!(from_compact, from_ndjson);
    assert!(from_compact
        .iter()
        .all(|h| h["labels"]["app"] == "shop" && h["container_id"] == ID));
    assert_eq!(a.search(&[("q", "host:own-host")])["total"], 2);

    // Resent, the compact batch is all duplicates: its records got their `_source_id`
    // from the `@source` lines.
    let (_, again) = post(&a, &compact, "application/x-skein-batch; version=1");
    assert_eq!(again["duplicates"], 10, "{again}");

    // Compressed too, like the agent sends it.
    let c = Server::start(&dirs.path().join("zstd"), &[]);
    let r = c
        .request(reqwest::Method::POST, "/api/v1/ingest")
        .header("Content-Type", "application/x-skein-batch; version=1")
        .header("Content-Encoding", "zstd")
        .body(zstd::encode_all(compact.as_bytes(), 1).unwrap())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    c.wait_total("*", 10);
    assert_eq!(c.all("*"), from_ndjson);
}

#[test]
fn an_unknown_version_is_refused_with_415_and_bad_lines_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (compact, _) = bodies();
    let (status, answer) = post(&server, &compact, "application/x-skein-batch; version=2");
    assert_eq!(status, 415, "{answer}");
    assert_eq!(answer["error"]["type"], "unsupported_batch_version");
    assert!(
        answer["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("NDJSON"),
        "{answer}"
    );
    assert_eq!(server.search(&[("q", "*")])["total"], 0);

    // A bad `@source` line takes the records after it (until the next good one) with it.
    let mut lines: Vec<String> = compact.lines().map(str::to_string).collect();
    lines[0] = r#"{"@source":{"hostname":"x"}}"#.into();
    lines[3] = "not json".into();
    let (status, answer) = post(
        &server,
        &lines.join("\n"),
        "application/x-skein-batch; version=1",
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["accepted"], 5, "{answer}");
    let rejected: Vec<u64> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(rejected, vec![1, 2, 3, 4, 5, 6], "{answer}");
}

/// A stand-in for a server from before the compact form: answers 415 to it, as such a
/// server's content-type check does, and passes NDJSON on to the real server.
struct OldServer {
    url: String,
    refused: Arc<AtomicU64>,
    forwarded: Arc<AtomicU64>,
}

impl OldServer {
    fn start(upstream: String) -> OldServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let refused = Arc::new(AtomicU64::new(0));
        let forwarded = Arc::new(AtomicU64::new(0));
        let (r, f) = (refused.clone(), forwarded.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, f, upstream) = (r.clone(), f.clone(), upstream.clone());
                std::thread::spawn(move || serve(stream, &upstream, &r, &f));
            }
        });
        OldServer {
            url,
            refused,
            forwarded,
        }
    }
}

fn serve(stream: TcpStream, upstream: &str, refused: &AtomicU64, forwarded: &AtomicU64) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h).unwrap();
            let h = h.trim_end().to_string();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let length: usize = get("content-length").unwrap().parse().unwrap();
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let content_type = get("content-type").unwrap_or_default();
        let (status, answer) = if content_type.starts_with("application/x-skein-batch") {
            refused.fetch_add(1, Ordering::SeqCst);
            (
                415,
                r#"{"error":{"type":"unsupported","reason":"not NDJSON"}}"#.to_string(),
            )
        } else {
            forwarded.fetch_add(1, Ordering::SeqCst);
            let mut req = common::client()
                .post(format!("{upstream}/api/v1/ingest"))
                .header("Content-Type", content_type)
                .body(body);
            if let Some(e) = get("content-encoding") {
                req = req.header("Content-Encoding", e);
            }
            let r = req.send().unwrap();
            (r.status().as_u16(), r.text().unwrap())
        };
        write!(
            out,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
    }
}

#[test]
fn the_agent_sends_ndjson_to_a_server_that_does_not_read_the_compact_form() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let old = OldServer::start(server.url.clone());
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("app.log");
    let name = unique("fallback");
    std::fs::write(
        &file,
        (1..=200)
            .map(|i| format!("{name} line-{i}\n"))
            .collect::<String>(),
    )
    .unwrap();
    let agent = AgentProc::start(
        &old.url,
        &dir.path().join("state"),
        &[
            "--no-docker",
            "--path",
            &format!("{}/*.log", logs.display()),
        ],
    );
    let got = server.wait_at_least(&name, 200, Duration::from_secs(60));
    assert_eq!(got, 200, "{}", agent.log_text());
    // More lines after the switch go as NDJSON straight away.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    for i in 201..=300 {
        writeln!(f, "{name} line-{i}").unwrap();
    }
    let got = server.wait_at_least(&name, 300, Duration::from_secs(60));
    assert_eq!(got, 300, "{}", agent.log_text());
    assert_eq!(
        old.refused.load(Ordering::SeqCst),
        1,
        "one 415, then NDJSON"
    );
    assert!(old.forwarded.load(Ordering::SeqCst) >= 2);
    assert!(
        agent
            .log_text()
            .contains("does not read the compact batch form"),
        "{}",
        agent.log_text()
    );
    let hits = server.all(&name);
    assert_eq!(hits.len(), 300);
    assert!(hits
        .iter()
        .all(|h| h["host"] == "test-node" && h["message"].as_str().unwrap().starts_with(&name)));
}

#[test]
fn a_partly_duplicate_compact_batch_is_replayed_whole_after_a_kill_9() {
    let (compact, _) = bodies();
    let dir = tempfile::tempdir().unwrap();
    // A commit interval long enough that the records are only in the WAL when killed.
    let mut server = Server::start(dir.path(), &["--commit-interval-ms", "60000"]);
    let head: Vec<&str> = compact.lines().take(4).collect();
    let (_, first) = post(
        &server,
        &head.join("\n"),
        "application/x-skein-batch; version=1",
    );
    assert_eq!(first["accepted"], 3, "{first}");
    // The whole batch: its first three records are dropped as held, so its WAL entry is
    // rebuilt from the rest, each after the `@source` line it needs.
    let (_, whole) = post(&server, &compact, "application/x-skein-batch; version=1");
    assert_eq!(whole["accepted"], 7, "{whole}");
    assert_eq!(whole["duplicates"], 3, "{whole}");
    server.kill9();
    let server = server.restart_with(&["--commit-interval-ms", "100"]);
    server.wait_total("*", 10);
    let hits = server.all("*");
    assert_eq!(hits.len(), 10);
    assert!(
        hits.iter()
            .all(|h| h["container_id"] == ID && h["labels"]["app"] == "shop"),
        "{hits:?}"
    );
    let (_, again) = post(&server, &compact, "application/x-skein-batch; version=1");
    assert_eq!(again["duplicates"], 10, "{again}");
}
