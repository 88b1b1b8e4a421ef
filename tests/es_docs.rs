//! Single documents and `_id`s through `/es` with the official Python client
//! (`tests/es/docs.py`): `_doc` and `_create` writes and reads, generated ids unique per
//! document, latest wins, 409 on a repeated create (also concurrent ones), and hits'
//! sort values with `search_after`; then a crash and restart, after which every
//! document is found under the same id and replaced ones stay replaced.

mod common;

use common::Server;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn run_python(script: &str, url: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/es")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}): run scripts/test, which installs it")
        });
    assert!(
        out.status.success(),
        "{script} failed (pip install 'elasticsearch>=8,<9', as scripts/test does)\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn get(server: &Server, path: &str) -> (u16, Value) {
    let r = common::client()
        .get(format!("{}/es{path}", server.url))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

fn search(server: &Server, index: &str, body: Value) -> Value {
    let r = common::client()
        .post(format!("{}/es/{index}/_search", server.url))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

#[test]
fn documents_ids_latest_wins_and_creates_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[]);
    run_python("docs.py", &format!("{}/es", server.url));
    let ids_before: Vec<String> = search(&server, "same", json!({"size": 10}))["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids_before.len(), 6);

    server.kill9();
    let server = server.restart();
    let (status, doc) = get(&server, "/state/_doc/cfg-1");
    assert_eq!(status, 200, "{doc}");
    assert_eq!(
        doc["_source"]["owner"], "b",
        "the replacement survives: {doc}"
    );
    let old = search(&server, "state", json!({"query": {"term": {"owner": "a"}}}));
    assert_eq!(
        old["hits"]["total"]["value"], 0,
        "the replaced document stays gone: {old}"
    );
    let (_, once) = get(&server, "/state/_doc/once");
    assert_eq!(once["_source"]["v"], 1, "{once}");
    let r = common::client()
        .put(format!("{}/es/state/_create/once", server.url))
        .json(&json!({"v": 9}))
        .send()
        .unwrap();
    assert_eq!(
        r.status(),
        409,
        "a create after the restart still conflicts"
    );

    let ids_after: Vec<String> = search(&server, "same", json!({"size": 10}))["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        ids_after, ids_before,
        "generated ids are stable across restarts"
    );
    for id in &ids_after {
        let (status, doc) = get(&server, &format!("/same/_doc/{id}"));
        assert_eq!(status, 200, "{id}: {doc}");
        assert_eq!(doc["_id"], id.as_str());
    }
}

/// `PUT _mapping` is remembered up to 256 KiB: just past it and at ten times it the
/// mapping is refused with the reason, and the remembered one is unchanged.
#[test]
fn an_oversized_mapping_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), &[]);
    let put = |body: String| {
        let r = common::client()
            .put(format!("{}/es/big/_mapping", server.url))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let (status, _) = put(json!({"properties": {"a": {"type": "keyword"}}}).to_string());
    assert_eq!(status, 200);
    for size in [(256 << 10) + 1024, 10 * (256 << 10)] {
        let pad = "x".repeat(size);
        let body = json!({"properties": {"a": {"type": "keyword"}}, "_meta": {"pad": pad}});
        let (status, text) = put(body.to_string());
        assert!(matches!(status, 400 | 413), "{size} bytes: {status} {text}");
        assert!(text.contains("bytes") || text.contains("large"), "{text}");
    }
    let (status, mapping) = get(&server, "/big/_mapping");
    assert_eq!(status, 200);
    assert_eq!(
        mapping["big"]["mappings"]["properties"]["a"]["type"], "keyword",
        "{mapping}"
    );
}
