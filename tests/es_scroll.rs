//! Scroll and point in time of the Elasticsearch-compatible API against the real
//! `skein server`: the official Python client's and opensearch-py's `helpers.scan` over
//! 25,000 documents, a point in time walked while documents arrive, expiry
//! (`tests/es/scroll.py`); the limit on open contexts, the id forms, auth scopes.

mod common;

use common::{create_token, record_line, Server};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

#[test]
fn python_clients_scan_scroll_and_walk_a_point_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/es/scroll.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(format!("{}/es", server.url))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "scroll.py failed (it needs pip install 'elasticsearch>=8,<9' opensearch-py, as \
         scripts/test does)\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn send(server: &Server, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut r = server.request(method, path);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn ingest(server: &Server, n: u64) {
    let body: String = (0..n)
        .map(|i| {
            record_line(
                &format!("2026-11-20T10:00:{:02}Z", i % 60),
                "web",
                "info",
                &format!("line {i}"),
                "n/1",
                i + 1,
            ) + "\n"
        })
        .collect();
    assert_eq!(server.ingest(body.into_bytes(), None).status(), 200);
    server.wait_total("*", n);
}

/// `--max-open-scrolls`: past it, opening a scroll or a point in time is Elasticsearch's
/// 429 naming the limit; clearing one makes room again.
#[test]
fn open_contexts_are_limited_and_ids_take_every_form() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let es_listen = format!("127.0.0.1:{}", common::free_port());
    let server = Server::start(
        &dir.path().join("data"),
        &["--max-open-scrolls", "3", "--es-listen", &es_listen],
    );
    ingest(&server, 25);
    // One set of contexts for both addresses: opened at the root of --es-listen,
    // continued and cleared under /es.
    let r: Value = common::client()
        .post(format!("http://{es_listen}/_search?scroll=1m&size=20"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let other = r["_scroll_id"].as_str().unwrap_or_else(|| panic!("{r}"));
    let (code, v) = send(
        &server,
        Method::POST,
        "/es/_search/scroll",
        Some(json!({"scroll_id": other})),
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["hits"]["hits"].as_array().unwrap().len(), 5, "{v}");
    let (code, _) = send(
        &server,
        Method::DELETE,
        "/es/_search/scroll",
        Some(json!({"scroll_id": other})),
    );
    assert_eq!(code, 200);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (code, v) = send(&server, Method::POST, "/es/_search?scroll=1m&size=10", None);
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["hits"]["hits"].as_array().unwrap().len(), 10);
        ids.push(v["_scroll_id"].as_str().unwrap().to_string());
    }
    let (code, v) = send(&server, Method::POST, "/es/skein/_pit?keep_alive=1m", None);
    assert_eq!(code, 200, "{v}");
    let pit = v["id"].as_str().unwrap().to_string();
    for path in ["/es/_search?scroll=1m", "/es/skein/_pit?keep_alive=1m"] {
        let (code, v) = send(&server, Method::POST, path, None);
        assert_eq!(code, 429, "{path}: {v}");
        assert_eq!(
            v["error"]["type"], "too_many_scroll_contexts_exception",
            "{v}"
        );
        let reason = v["error"]["reason"].as_str().unwrap();
        assert!(
            reason.contains("Must be less than or equal to: [3]")
                && reason.contains("--max-open-scrolls"),
            "{reason}"
        );
    }
    // The id in the path, GET: the next page.
    let (code, v) = send(
        &server,
        Method::GET,
        &format!("/es/_search/scroll/{}?scroll=1m", ids[0]),
        None,
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["hits"]["hits"].as_array().unwrap().len(), 10);
    assert_eq!(v["_scroll_id"], ids[0].as_str());
    // Later pages repeat the first page's total (not counted again).
    assert_eq!(
        v["hits"]["total"],
        json!({"value": 25, "relation": "eq"}),
        "{v}"
    );
    // The id as a URL parameter; the last, short page; then empty pages.
    let (code, v) = send(
        &server,
        Method::POST,
        &format!(
            "/es/_search/scroll?scroll_id={}&rest_total_hits_as_int=true",
            ids[0]
        ),
        None,
    );
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["hits"]["hits"].as_array().unwrap().len(), 5);
    assert_eq!(v["hits"]["total"], 25, "{v}");
    let (_, v) = send(
        &server,
        Method::POST,
        "/es/_search/scroll",
        Some(json!({"scroll_id": ids[0]})),
    );
    assert_eq!(v["hits"]["hits"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(v["hits"]["total"]["value"], 25, "{v}");
    // A PIT id is not a scroll id; an unknown id is a 404 in Elasticsearch's shape.
    for id in [pit.as_str(), "bm90LWFuLWlk"] {
        let (code, v) = send(
            &server,
            Method::POST,
            "/es/_search/scroll",
            Some(json!({"scroll": "1m", "scroll_id": id})),
        );
        assert_eq!(code, 404, "{v}");
        assert_eq!(
            v["error"]["root_cause"][0]["type"],
            "search_context_missing_exception"
        );
        assert_eq!(v["status"], 404);
    }
    // Clearing by path frees one, and makes room for another.
    let (code, v) = send(
        &server,
        Method::DELETE,
        &format!("/es/_search/scroll/{}", ids[1]),
        None,
    );
    assert_eq!(
        (code, v.clone()),
        (200, json!({"succeeded": true, "num_freed": 1})),
        "{v}"
    );
    let (code, v) = send(&server, Method::POST, "/es/_search?scroll=1m", None);
    assert_eq!(code, 200, "{v}");
    // Nothing to free is a 404 with the same shape, as Elasticsearch answers.
    let (code, v) = send(
        &server,
        Method::DELETE,
        "/es/_search/scroll",
        Some(json!({"scroll_id": [ids[1]]})),
    );
    assert_eq!((code, v), (404, json!({"succeeded": true, "num_freed": 0})));
    let (code, v) = send(
        &server,
        Method::DELETE,
        "/es/_pit",
        Some(json!({"id": pit})),
    );
    assert_eq!((code, v), (200, json!({"succeeded": true, "num_freed": 1})));
    let (code, v) = send(&server, Method::DELETE, "/es/_search/scroll/_all", None);
    assert_eq!((code, v), (200, json!({"succeeded": true, "num_freed": 2})));
    // What Elasticsearch refuses in a scroll.
    for (path, body, want) in [
        (
            "/es/_search?scroll=1m",
            json!({"from": 5}),
            "using [from] is not allowed",
        ),
        (
            "/es/_search?scroll=1m",
            json!({"size": 0}),
            "[size] cannot be [0]",
        ),
        ("/es/_search?scroll=25h", json!({}), "too large"),
        ("/es/_search?scroll=soon", json!({}), "duration"),
        (
            "/es/_search?scroll=1m",
            json!({"pit": {"id": "x"}}),
            "point in time",
        ),
    ] {
        let (code, v) = send(&server, Method::POST, path, Some(body));
        assert_eq!(code, 400, "{path}: {v}");
        assert!(v["error"]["reason"].as_str().unwrap().contains(want), "{v}");
    }
}

/// Scroll and point in time read, so they need `query`; an `ingest` token reads nothing.
#[test]
fn scroll_and_pit_need_the_query_scope() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest_token = create_token(&data, "ingest", "shipper");
    let query_token = create_token(&data, "query", "reader");
    let mut server = Server::start(&data, &[]);
    server.token = Some(ingest_token);
    for (method, path) in [
        (Method::POST, "/es/_search?scroll=1m"),
        (Method::POST, "/es/_search/scroll"),
        (Method::DELETE, "/es/_search/scroll"),
        (Method::POST, "/es/logs/_pit?keep_alive=1m"),
        (Method::DELETE, "/es/_pit"),
    ] {
        let (code, v) = send(&server, method.clone(), path, None);
        assert_eq!(code, 403, "{method} {path} with an ingest token: {v}");
    }
    server.token = Some(query_token);
    let (code, v) = send(&server, Method::POST, "/es/logs/_pit?keep_alive=1m", None);
    assert_eq!(code, 200, "{v}");
    let (code, _) = send(
        &server,
        Method::DELETE,
        "/es/_pit",
        Some(json!({"id": v["id"]})),
    );
    assert_eq!(code, 200);
}

/// The default limit is Elasticsearch's 500, and 500 open scrolls hold little memory:
/// each keeps its request, a cursor and pinned searchers, never hits.
#[test]
fn five_hundred_open_scrolls_hold_little_memory() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    ingest(&server, 60);
    let open = |n: usize| {
        for _ in 0..n {
            let (code, v) = send(
                &server,
                Method::POST,
                "/es/_search?scroll=10m&size=50",
                None,
            );
            assert_eq!(code, 200, "{v}");
            assert_eq!(v["hits"]["hits"].as_array().unwrap().len(), 50);
        }
    };
    // Warm up allocator and caches before measuring.
    open(20);
    let before = server.proc_status("VmRSS");
    open(480);
    let after = server.proc_status("VmRSS");
    let (code, v) = send(&server, Method::POST, "/es/_search?scroll=1m", None);
    assert_eq!(code, 429, "{v}");
    assert!(
        v["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("Must be less than or equal to: [500]"),
        "{v}"
    );
    let grown_kb = after.saturating_sub(before);
    eprintln!("480 more open scrolls: VmRSS {before} kB -> {after} kB");
    assert!(
        grown_kb < 40 * 1024,
        "480 open scrolls grew the server by {grown_kb} kB"
    );
}
