//! The Elasticsearch-compatible API with real clients against the real `skein server`:
//! the official Python client (`elasticsearch` 8.x from PyPI; `scripts/test` installs it)
//! and the requests Fluent Bit, Vector and Filebeat send (replayed with curl).

mod common;

use common::{create_token, record_line, Server};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn run_script(program: &str, script: &str, url: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/es")
        .join(script);
    let out = Command::new(program)
        .arg(&path)
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}): install it, or run scripts/test, which does")
        });
    assert!(
        out.status.success(),
        "{script} failed (for the Python client test: pip install 'elasticsearch>=8,<9', as \
         scripts/test does)\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn official_python_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    run_script("python3", "client.py", &format!("{}/es", server.url));
}

/// Sorting on a keyword, a number, a nested number and several keys, every page walked
/// with `search_after` by the official Python client, without and with a point in time
/// (`tests/es/sort.py`).
#[test]
fn official_python_client_sorts_on_fields_and_walks_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    run_script("python3", "sort.py", &format!("{}/es", server.url));
}

/// Percentiles exact on few values (Elasticsearch's REST test numbers) through `/es`
/// and `/api/v1/aggregate`, the sketch past the bound (`tests/es/percentiles.py`).
#[test]
fn percentiles_are_exact_while_the_values_are_few() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    run_script("python3", "percentiles.py", &format!("{}/es", server.url));
}

fn es_search(server: &Server, body: Value) -> Value {
    let r = common::client()
        .post(format!("{}/es/_search", server.url))
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(
        r.headers()["x-elastic-product"],
        "Elasticsearch",
        "every /es answer carries the product header"
    );
    let status = r.status();
    let v: Value = r.json().unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

#[test]
fn shipper_requests_are_durable_and_searchable_like_any_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &[]);
    // A record shipped by a skein agent, next to the ones shipped through /es.
    let line = record_line(
        "2026-11-20T10:00:03Z",
        "agent",
        "info",
        "payment ok",
        "n/1",
        1,
    );
    assert_eq!(
        server
            .ingest(format!("{line}\n").into_bytes(), None)
            .status(),
        200
    );
    run_script("bash", "shippers.sh", &format!("{}/es", server.url));

    // Acknowledged means durable: a crash right after loses nothing, `_original` included.
    server.kill9();
    let server = server.restart();
    server.wait_total("*", 4);

    let hits = server.search(&[("q", "*"), ("order", "asc")])["hits"].clone();
    let by = |c: &str| {
        hits.as_array()
            .unwrap()
            .iter()
            .find(|h| h["container"] == c)
            .unwrap_or_else(|| panic!("no record of {c}: {hits}"))
            .clone()
    };
    // Fluent Bit with the kubernetes filter.
    let fb = by("pay");
    assert_eq!(fb["@timestamp"], "2026-11-20T10:00:00.123000000Z");
    assert_eq!(fb["message"], "GET /healthz 200");
    assert_eq!(
        (&fb["host"], &fb["container_id"]),
        (&json!("node-1"), &json!("3f2a9c"))
    );
    assert_eq!(fb["image"], "shop/pay:1.4");
    assert_eq!(fb["stream"], "stdout");
    assert_eq!(fb["labels"]["app"], "pay");
    assert_eq!(fb["labels"]["io.kubernetes.pod.name"], "pay-7d9f");
    assert_eq!(fb["labels"]["io.kubernetes.pod.namespace"], "shop");
    assert_eq!(fb["fields"]["kubernetes"]["pod_id"], "0b1e");
    assert_eq!(fb["fields"]["_index"], "fluent-bit");
    assert!(
        fb.get("_original").is_none(),
        "hits show the record, not the document twice"
    );
    // Vector's docker_logs.
    let v = by("checkout");
    assert_eq!(v["@timestamp"], "2026-11-20T10:00:01.500000000Z");
    assert_eq!(
        (&v["host"], &v["image"]),
        (&json!("node-2"), &json!("shop/checkout:2.0"))
    );
    assert_eq!(v["labels"]["com.docker.compose.service"], "checkout");
    assert_eq!(
        (&v["stream"], &v["message"]),
        (&json!("stderr"), &json!("payment failed: timeout"))
    );
    assert_eq!(v["fields"]["source_type"], "docker_logs");
    // Filebeat with add_docker_metadata.
    let f = by("web");
    assert_eq!(
        (&f["host"], &f["container_id"]),
        (&json!("node-3"), &json!("9c1d"))
    );
    assert_eq!(
        (&f["image"], &f["labels"]["com_docker_compose_service"]),
        (&json!("nginx:1.27"), &json!("web"))
    );
    assert_eq!(
        f["fields"]["log"]["file"]["path"],
        "/var/lib/docker/containers/9c1d/9c1d-json.log"
    );
    assert_eq!(f["fields"]["_index"], "filebeat-8.19.0");

    // The query language finds them by record fields and by the names they were sent as.
    for (q, want) in [
        ("container:pay OR container:checkout", 2),
        ("host:node-3", 1),
        ("labels.app:pay", 1),
        ("source_type:docker_logs", 1),
        ("payment", 2),
        ("_index:vector-2026.11.20", 1),
    ] {
        server.wait_total(q, want);
    }

    // `skein search`, the CLI people use, shows them like the agent's record.
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(["search", "payment", "--output", "json"])
        .env("SKEIN_SERVER", &server.url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("payment failed: timeout") && text.contains("payment ok"),
        "{text}"
    );

    // Through /es: every record, names as sent, `_source` as sent.
    let r = es_search(
        &server,
        json!({"query": {"match_all": {}}, "sort": [{"@timestamp": "asc"}]}),
    );
    assert_eq!(r["hits"]["total"]["value"], 4);
    let hits = r["hits"]["hits"].as_array().unwrap();
    let indices: Vec<&str> = hits.iter().map(|h| h["_index"].as_str().unwrap()).collect();
    assert_eq!(
        indices,
        [
            "fluent-bit",
            "vector-2026.11.20",
            "filebeat-8.19.0",
            "skein"
        ]
    );
    assert_eq!(
        hits[0]["_source"]["log"], "GET /healthz 200\n",
        "the document exactly as sent"
    );
    assert_eq!(hits[0]["_source"]["kubernetes"]["container_name"], "pay");
    assert_eq!(hits[3]["_source"]["message"], "payment ok");
    for (query, want) in [
        (json!({"term": {"kubernetes.pod_name": "pay-7d9f"}}), 1),
        (json!({"term": {"container.name": "web"}}), 1),
        (json!({"term": {"container_name.keyword": "checkout"}}), 1),
        (
            json!({"query_string": {"query": "kubernetes.namespace_name:shop OR host.name:node-3"}}),
            2,
        ),
        (json!({"match": {"message": "payment"}}), 2),
    ] {
        let r = es_search(&server, json!({"query": query}));
        assert_eq!(r["hits"]["total"]["value"], want, "{query}: {r}");
    }
    let r = common::client()
        .get(format!("{}/es/skein/_count", server.url))
        .send()
        .unwrap();
    assert_eq!(
        r.json::<Value>().unwrap()["count"],
        1,
        "`skein` is the records of /api/v1/ingest"
    );
}

#[test]
fn bad_requests_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &[]);
    let post = |path: &str, body: &str| {
        let r = common::client()
            .post(format!("{}/es{path}", server.url))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    // A body whose lines cannot be paired is refused whole; nothing of it is stored.
    let (s, v) = post(
        "/_bulk?refresh=true",
        "{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"kept?\"}\nnot an action\n{}\n",
    );
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["reason"].as_str().unwrap().contains("line 3"),
        "{v}"
    );
    // A bad document fails alone; the others are stored.
    let (s, v) = post(
        "/_bulk?refresh=wait_for",
        "{\"index\":{\"_index\":\"a\"}}\n{\"@timestamp\":\"soon\"}\n{\"index\":{\"_index\":\"a\"}}\n{\"message\":\"stored\"}\n",
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["errors"], true);
    assert_eq!(v["items"][0]["index"]["status"], 400);
    assert!(v["items"][0]["index"]["error"]["reason"]
        .as_str()
        .unwrap()
        .contains("[@timestamp]"));
    assert_eq!(v["items"][1]["index"]["status"], 201);
    let (_, v) = post("/a/_count", "");
    assert_eq!(v["count"], 1);
    for (body, name) in [
        (
            r#"{"query":{"fuzzy":{"message":"x"}}}"#,
            "the `fuzzy` query",
        ),
        (r#"{"highlight":{"fields":{"message":{}}}}"#, "`highlight`"),
        (
            r#"{"sort":[{"message":"desc"}]}"#,
            "cannot sort on `message`",
        ),
        (
            r#"{"query":{"query_string":{"query":"a AND"}}}"#,
            "position 6",
        ),
        (
            r#"{"query":{"regexp":{"service":"a.*"}}}"#,
            "regex/ is not supported on `fields.service`",
        ),
    ] {
        let (s, v) = post("/_search", body);
        assert_eq!(s, 400, "{body}: {v}");
        let reason = v["error"]["reason"].as_str().unwrap();
        assert!(reason.contains(name), "{body}: {reason}");
    }
}

/// Runs a script with extra arguments after the URL.
fn run_script_args(program: &str, script: &str, args: &[&str]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/es")
        .join(script);
    let out = Command::new(program)
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): install it, or run scripts/test"));
    assert!(
        out.status.success(),
        "{script} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn official_python_client_authenticates_with_api_key_and_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest = create_token(&data, "ingest", "shipper");
    let query = create_token(&data, "query", "reader");
    let server = Server::start(&data, &[]);
    run_script_args(
        "python3",
        "auth_client.py",
        &[&format!("{}/es", server.url), &ingest, &query],
    );
}

/// Fluent Bit (`HTTP_User`/`HTTP_Passwd`: Basic) and Filebeat (`api_key: id:key`:
/// `ApiKey base64(id:key)`) as they start and ship, replayed with curl, with an
/// ingest-only token.
#[test]
fn shippers_authenticate_with_an_ingest_token_the_way_they_are_configured() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ingest = create_token(&data, "ingest", "shippers");
    let query = create_token(&data, "query", "reader");
    let server = Server::start(&data, &["--commit-interval-ms", "100"]);
    let es = format!("{}/es", server.url);
    let curl = |args: &[&str]| -> (u16, String) {
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl is installed");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (code.parse().unwrap(), body.to_string())
    };
    let basic = format!("fluent-bit:{ingest}");
    let apikey = format!(
        "Authorization: ApiKey {}",
        base64::engine::general_purpose::STANDARD.encode(format!("filebeat-id:{ingest}"))
    );
    let bulk = |tag: &str| {
        (0..10)
            .map(|i| {
                format!(
                    "{{\"create\":{{\"_index\":\"ship\"}}}}\n{{\"@timestamp\":\"2026-11-20T10:00:0{i}Z\",\"log\":\"{tag} {i}\"}}\n"
                )
            })
            .collect::<String>()
    };
    // Fluent Bit: straight to _bulk with Basic auth.
    let body = bulk("fluentbit-auth");
    let (code, text) = curl(&[
        "-u",
        &basic,
        "-H",
        "Content-Type: application/x-ndjson",
        "--data-binary",
        &body,
        &format!("{es}/_bulk"),
    ]);
    assert_eq!(code, 200, "{text}");
    assert!(text.contains("\"errors\":false"), "{text}");
    // Filebeat: GET /, _license, template PUT, then _bulk, with an API key.
    for (method, path, data) in [
        ("GET", "/", None),
        ("GET", "/_license", None),
        (
            "PUT",
            "/_index_template/filebeat-8",
            Some(r#"{"index_patterns":["filebeat-*"]}"#),
        ),
        ("GET", "/_cluster/health", None),
    ] {
        let mut args = vec![
            "-X",
            method,
            "-H",
            &apikey,
            "-H",
            "Content-Type: application/json",
        ];
        if let Some(d) = data {
            args.extend(["--data-binary", d]);
        }
        let url = format!("{es}{path}");
        args.push(&url);
        let (code, text) = curl(&args);
        assert_eq!(code, 200, "{method} {path}: {text}");
    }
    let body = bulk("filebeat-auth");
    let (code, text) = curl(&[
        "-H",
        &apikey,
        "-H",
        "Content-Type: application/x-ndjson",
        "--data-binary",
        &body,
        &format!("{es}/_bulk"),
    ]);
    assert_eq!(code, 200, "{text}");
    // The same shapes without credentials, or with a wrong password: 401.
    let (code, text) = curl(&[
        "-H",
        "Content-Type: application/x-ndjson",
        "--data-binary",
        &body,
        &format!("{es}/_bulk"),
    ]);
    assert_eq!(code, 401, "{text}");
    assert!(text.contains("security_exception"));
    let (code, _) = curl(&[
        "-u",
        "fluent-bit:wrong",
        "--data-binary",
        &body,
        &format!("{es}/_bulk"),
    ]);
    assert_eq!(code, 401);
    // An ingest token reads nothing.
    let (code, text) = curl(&["-u", &basic, &format!("{es}/_search?q=auth")]);
    assert_eq!(code, 403, "{text}");
    assert!(!text.contains("fluentbit-auth"));
    let mut reader = server;
    reader.token = Some(query);
    reader.wait_total("fluentbit-auth", 10);
    reader.wait_total("filebeat-auth", 10);
}

/// What Elasticsearch's own REST tests expect of the calls real tools make, and the API
/// at the root of `--es-listen` for shippers that cannot add `/es` (rsyslog's
/// omelasticsearch posts to `/_bulk`).
#[test]
fn elasticsearch_rest_expectations_and_a_port_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let es_port = common::free_port();
    let es_listen = format!("127.0.0.1:{es_port}");
    let server = Server::start(&dir.path().join("data"), &["--es-listen", &es_listen]);
    let es = format!("http://{es_listen}");
    let send = |method: reqwest::Method, url: String, body: &str| {
        let r = common::client()
            .request(method, url)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        (status, text)
    };
    let json_of = |(s, t): (u16, String)| -> (u16, Value) {
        (
            s,
            serde_json::from_str(&t).unwrap_or_else(|_| panic!("{s}: {t}")),
        )
    };
    use reqwest::Method;

    // rsyslog's request: `/_bulk` at the root, a `_type`, and a last action line whose
    // document never came (ignored, as Elasticsearch does); an empty `_id` fails alone.
    let bulk = concat!(
        "{\"index\":{\"_index\":\"system\",\"_type\":\"events\"}}\n",
        "{\"message\":\"sshd accepted\",\"host\":\"h1\",\"n\":3,\"@timestamp\":\"2026-11-20T10:00:00Z\"}\n",
        "{\"index\":{\"_index\":\"system\",\"_id\":\"\"}}\n",
        "{\"message\":\"empty id\"}\n",
        "{\"index\":{\"_index\":\"system\"}}\n",
        "{\"message\":\"cron ran\",\"host\":\"h2\",\"n\":5,\"@timestamp\":\"2026-11-20T10:00:01Z\"}\n",
        "{\"index\":{\"_index\":\"system\"}}\n",
    );
    let (s, v) = json_of(send(Method::POST, format!("{es}/_bulk?refresh=true"), bulk));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["errors"], true, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{v}");
    assert_eq!(items[1]["index"]["status"], 400);
    assert_eq!(
        items[1]["index"]["error"]["reason"],
        "if _id is specified it must not be empty"
    );
    assert_eq!(items[0]["index"]["status"], 201);
    assert_eq!(items[2]["index"]["status"], 201);

    // The root answers as Elasticsearch's does; other routes are not there.
    let (s, v) = json_of(send(Method::GET, format!("{es}/"), ""));
    assert_eq!(s, 200);
    assert!(v["version"]["number"].as_str().unwrap().starts_with('8'));
    let (s, _) = send(Method::GET, format!("{es}/api/v1/search?q=*"), "");
    assert_ne!(s, 200, "only the ES API is served at --es-listen");
    let (s, text) = send(Method::GET, format!("{es}/_cat/health"), "");
    assert_eq!(s, 200);
    assert!(text.contains(" skein green "), "{text}");
    let (_, v) = json_of(send(
        Method::GET,
        format!("{es}/_cat/health?format=json"),
        "",
    ));
    assert_eq!(v[0]["status"], "green");

    // Both ports read the same records.
    for base in [es.clone(), format!("{}/es", server.url)] {
        let (s, v) = json_of(send(
            Method::POST,
            format!("{base}/system/_search"),
            r#"{"query":{"constant_score":{"filter":{"term":{"host":"h2"}},"boost":2}}}"#,
        ));
        assert_eq!(s, 200, "{v}");
        assert_eq!(v["hits"]["total"]["value"], 1, "{v}");
        assert_eq!(v["hits"]["hits"][0]["_source"]["message"], "cron ran");
    }

    // Aggregations echo `meta`, at every level; numeric metrics refuse keyword fields.
    let (s, v) = json_of(send(
        Method::POST,
        format!("{es}/system/_search"),
        r#"{"size":0,"aggs":{"hosts":{"terms":{"field":"host"},"meta":{"panel":1},
            "aggs":{"top":{"max":{"field":"n"},"meta":{"unit":"count"}}}}}}"#,
    ));
    assert_eq!(s, 200, "{v}");
    let hosts = &v["aggregations"]["hosts"];
    assert_eq!(hosts["meta"], json!({"panel": 1}), "{v}");
    assert_eq!(hosts["buckets"].as_array().unwrap().len(), 2, "{v}");
    for b in hosts["buckets"].as_array().unwrap() {
        assert_eq!(b["top"]["meta"], json!({"unit": "count"}), "{v}");
    }
    let (s, v) = json_of(send(
        Method::POST,
        format!("{es}/system/_search"),
        r#"{"size":0,"aggs":{"a":{"avg":{"field":"host"}}}}"#,
    ));
    assert_eq!(s, 400, "{v}");
    assert!(
        v["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("Field [host] of type [keyword] is not supported for aggregation [avg]"),
        "{v}"
    );

    // `_msearch` with totals as plain numbers.
    let (s, v) = json_of(send(
        Method::POST,
        format!("{es}/_msearch?rest_total_hits_as_int=true"),
        "{\"index\":\"system\"}\n{\"query\":{\"match_all\":{}}}\n",
    ));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["responses"][0]["hits"]["total"], 2, "{v}");

    // Cluster settings are accepted and remembered, never applied.
    let (s, v) = json_of(send(
        Method::PUT,
        format!("{es}/_cluster/settings"),
        r#"{"persistent":{"action.auto_create_index":"false"}}"#,
    ));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["acknowledged"], true);
    let (_, v) = json_of(send(Method::GET, format!("{es}/_cluster/settings"), ""));
    assert_eq!(v["persistent"]["action.auto_create_index"], "false", "{v}");
}
