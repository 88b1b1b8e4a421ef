//! `--redact` end to end: a secret written to a log file never reaches the server
//! through the real agent, and one sent by another shipper to `/api/v1/ingest` or
//! `/es/_bulk` of a `skein server --redact` is neither searchable, nor returned, nor in
//! the write-ahead log on disk; both count per rule on `/metrics`.

mod common;

use common::{free_port, AgentProc, Server};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// The samples of `name` on the Prometheus page at `url`, by their `rule` label.
fn per_rule(url: &str, name: &str) -> Vec<(String, f64)> {
    let text = common::client().get(url).send().unwrap().text().unwrap();
    let mut out: Vec<(String, f64)> = text
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix("{rule=\""))
        .filter_map(|l| {
            let (rule, rest) = l.split_once("\"}")?;
            Some((rule.to_string(), rest.trim().parse().ok()?))
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn rules(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Asserts that no secret is in any of `texts`.
fn assert_absent(texts: &[String], secrets: &[&str], what: &str) {
    for t in texts {
        for s in secrets {
            assert!(!t.contains(s), "{what} holds {s:?}: {t}");
        }
    }
}

/// Total hits of `q` over all time.
fn total(server: &Server, q: &str) -> u64 {
    server.search(&[("q", q), ("limit", "0")])["total"]
        .as_u64()
        .unwrap()
}

/// Every file under `dir`, read as bytes, lossily as text.
fn files_text(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_text(&p));
        } else {
            out.push(String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned());
        }
    }
    out
}

#[test]
fn the_agent_redacts_before_shipping() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let metrics_port = free_port();
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let glob = format!("{}/*.log", logs.display());
    let _agent = AgentProc::start_env(
        &server.url,
        &dir.path().join("agent"),
        &[
            "--path",
            &glob,
            "--batch-wait-ms",
            "100",
            "--metrics-listen",
            &metrics_listen,
            "--redact",
            "bearer",
            "--redact",
            "url-password",
            "--redact",
            "card",
            "--redact",
            "email",
            "--redact",
            r"apikey=(key\=)[A-Za-z0-9]{12,}=${1}***",
            "--redact",
            "never=Zq9NeverWritten",
        ],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    let secrets = [
        "jane.doe@example.com",
        "Xk3mSecretBearer77",
        "Hunter2Secret",
        "4111 1111 1111 1111",
        "payer@example.org",
        "5555555555554444",
        "AbCdEf123456Gh",
    ];
    let mut f = std::fs::File::create(logs.join("app.log")).unwrap();
    writeln!(
        f,
        "login jane.doe@example.com with Authorization: Bearer \
         Xk3mSecretBearer77, card 4111 1111 1111 1111, db postgres://app:Hunter2Secret@db/shop"
    )
    .unwrap();
    writeln!(
        f,
        "{}",
        json!({"level": "info", "msg": "paid", "payer": {"email": "payer@example.org",
            "cards": ["5555555555554444"]}, "query": "key=AbCdEf123456Gh&x=1", "n": 2.5})
    )
    .unwrap();
    writeln!(f, "order 17064 shipped to warehouse 12, nothing secret").unwrap();
    drop(f);

    assert_eq!(
        server.wait_at_least("container:app", 3, Duration::from_secs(60)),
        3
    );
    let records = server.all("container:app");
    let texts: Vec<String> = records.iter().map(Value::to_string).collect();
    assert_absent(&texts, &secrets, "a stored record");
    for q in [
        "Hunter2Secret",
        "Xk3mSecretBearer77",
        "jane",
        "\"4111 1111 1111 1111\"",
        "AbCdEf123456Gh",
    ] {
        assert_eq!(total(&server, q), 0, "searching {q} finds nothing");
    }
    assert_eq!(total(&server, "shop"), 1, "a word beside them is found");

    let login = server.all("login");
    assert_eq!(login.len(), 1);
    assert_eq!(
        login[0]["message"],
        "login [REDACTED:email] with Authorization: Bearer \
         [REDACTED:bearer], card [REDACTED:card], db postgres://app:[REDACTED:url-password]@db/shop"
    );
    let paid = server.all("paid");
    assert_eq!(paid.len(), 1);
    assert_eq!(
        paid[0]["fields"],
        json!({"payer": {"email": "[REDACTED:email]", "cards": ["[REDACTED:card]"]},
            "query": "key=***&x=1", "n": 2.5})
    );
    assert_eq!(
        server.all("warehouse")[0]["message"],
        "order 17064 shipped to warehouse 12, nothing secret"
    );

    let counted = per_rule(
        &format!("http://{metrics_listen}/metrics"),
        "skein_agent_redactions_total",
    );
    assert_eq!(
        counted,
        rules(&[
            ("bearer", 1.0),
            ("url-password", 1.0),
            ("card", 2.0),
            ("email", 2.0),
            ("apikey", 1.0),
            ("never", 0.0),
        ]),
        "every rule is listed, the ones that never matched at 0"
    );
}

#[test]
fn the_server_redacts_what_other_shippers_send() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // Commits far apart: the records are in the WAL only, so the restart below reads
    // them back from there.
    let mut server = Server::start(
        &data,
        &[
            "--commit-interval-ms",
            "600000",
            "--redact",
            "email",
            "--redact",
            "card",
        ],
    );
    let secrets = [
        "ann@example.net",
        "bob@example.net",
        "carol@example.net",
        "dave@example.net",
        "erin@example.net",
        "4111-1111-1111-1111",
    ];
    let record = json!({
        "@timestamp": "2026-11-20T10:00:00Z", "host": "node-1", "container": "billing",
        "message": "invoice sent to ann@example.net",
        "fields": {"card": "4111-1111-1111-1111", "cc": [{"to": "bob@example.net"}], "n": 1.50},
        "_source_id": "node-1/billing/stdout", "_seq": 1,
    });
    let r = server.ingest(format!("{record}\n").into_bytes(), None);
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["accepted"], 1);

    // The compact form, as agents send it: the record line beside its `@source` line.
    let compact = format!(
        "{}\n{}\n",
        json!({"@source": {"host": "node-2", "container": "mailer",
            "_source_ids": {"stdout": "node-2/mailer/stdout"}}}),
        json!({"@timestamp": "2026-11-20T10:00:02Z", "stream": "stdout",
            "message": "bounce from erin@example.net", "_seq": 1}),
    );
    let r = server
        .request(reqwest::Method::POST, "/api/v1/ingest")
        .header("Content-Type", "application/x-skein-batch; version=1")
        .body(compact)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["accepted"], 1);

    let doc = json!({
        "@timestamp": "2026-11-20T10:00:01Z", "log": "reset link mailed to carol@example.net\n",
        "kubernetes": {"pod_name": "web-1", "container_name": "web"},
        "user": {"email": "dave@example.net", "plan": "pro"},
    });
    let bulk = format!("{}\n{doc}\n", json!({"create": {"_index": "logs"}}));
    let (status, answer) = server.post_json("/es/_bulk", bulk);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["errors"], false, "{answer}");

    let metrics = format!("{}/metrics", server.url);
    assert_eq!(
        per_rule(&metrics, "skein_redactions_total"),
        rules(&[("card", 1.0), ("email", 5.0)])
    );

    // Acknowledged means in the WAL: redacted there already.
    let wal = files_text(&data.join("wal"));
    assert!(
        wal.iter().any(|t| t.contains("invoice sent to")),
        "the WAL holds the records"
    );
    assert_absent(&wal, &secrets, "the WAL on disk");

    // A SIGKILL, so the records come back by replay of the WAL.
    server.kill9();
    server.respawn();
    server.wait_total("*", 3);
    let texts: Vec<String> = server.all("*").iter().map(Value::to_string).collect();
    assert_absent(&texts, &secrets, "a stored record");
    for q in ["ann", "carol", "dave", "erin", "4111"] {
        assert_eq!(total(&server, q), 0, "searching {q} finds nothing");
    }
    let invoice = server.all("invoice");
    assert_eq!(invoice[0]["message"], "invoice sent to [REDACTED:email]");
    assert_eq!(
        invoice[0]["fields"],
        json!({"card": "[REDACTED:card]", "cc": [{"to": "[REDACTED:email]"}], "n": 1.5})
    );
    assert_eq!(invoice[0]["_seq"], 1, "the delivery identity is kept");

    // The document as an Elasticsearch client gets it back: as sent but for the secrets.
    let (status, found) = server.post_json(
        "/es/logs/_search",
        json!({"query": {"match": {"message": "reset"}}}).to_string(),
    );
    assert_eq!(status, 200, "{found}");
    let hits = found["hits"]["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{found}");
    assert_eq!(
        hits[0]["_source"],
        json!({
            "@timestamp": "2026-11-20T10:00:01Z",
            "log": "reset link mailed to [REDACTED:email]\n",
            "kubernetes": {"pod_name": "web-1", "container_name": "web"},
            "user": {"email": "[REDACTED:email]", "plan": "pro"},
        })
    );
    let bounce = server.all("bounce");
    assert_eq!(bounce[0]["message"], "bounce from [REDACTED:email]");
    assert_eq!(
        bounce[0]["container"], "mailer",
        "the @source fields still apply"
    );
    assert_eq!(bounce[0]["_source_id"], "node-2/mailer/stdout");
    let reset = server.all("reset");
    assert_eq!(reset[0]["container"], "web");
    assert_eq!(reset[0]["labels"]["io.kubernetes.pod.name"], "web-1");

    // The replay had nothing left to redact; the rules are listed from the start.
    assert_eq!(
        per_rule(&metrics, "skein_redactions_total"),
        rules(&[("card", 0.0), ("email", 0.0)])
    );
}
