//! Log patterns end to end: the `pattern` each record gets at ingest, `pattern:ID` in
//! searches and aggregations, `GET /api/v1/patterns` (counts, trends, new and surging),
//! `skein patterns`, and ids that survive a restart, a SIGKILL and a lost state file.

mod common;

use common::Server;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn line(ms: i64, container: &str, message: &str) -> String {
    json!({"@timestamp": iso(ms), "host": "node-1", "container": container,
           "message": message})
    .to_string()
}

fn ingest(s: &Server, lines: &[String]) {
    let r = s.ingest(lines.join("\n").into_bytes(), None);
    assert_eq!(r.status(), 200);
    let body: Value = r.json().unwrap();
    assert_eq!(body["accepted"], lines.len(), "{body}");
}

fn patterns(s: &Server, query: &str) -> Value {
    let (status, body) = s.get_json(&format!("/api/v1/patterns?{query}"));
    assert_eq!(status, 200, "{body}");
    body
}

/// The templates of a small corpus, with `(template part, container)` → row.
fn by_template<'a>(answer: &'a Value, parts: &[&str]) -> HashMap<String, &'a Value> {
    let mut out = HashMap::new();
    for p in answer["patterns"].as_array().unwrap() {
        let t = p["template"].as_str().unwrap();
        if let Some(part) = parts.iter().find(|part| t.contains(**part)) {
            assert!(
                out.insert(part.to_string(), p).is_none(),
                "two patterns hold {part:?}: {answer}"
            );
        }
    }
    out
}

/// Three templates over two containers, with numbers, addresses and paths in every
/// line: one pattern each, counted exactly, found by `pattern:ID` (and left out by
/// `NOT`), aggregated by `terms`, and ordered by count or by latest record.
#[test]
fn patterns_group_lines_and_pattern_queries_find_them() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(&tmp.path().join("data"), &[]);
    let t0 = now_ms() - 20 * 60_000;
    let mut lines = Vec::new();
    for i in 0..40 {
        lines.push(line(
            t0 + i * 1000,
            "api",
            &format!("GET /items/{} 200 {}ms", 1000 + i * 7, 3 + i % 50),
        ));
    }
    for i in 0..30 {
        lines.push(line(
            t0 + i * 1500,
            "api",
            &format!("user {} logged in from 10.0.{}.{}", 17 * i, i % 7, 200 - i),
        ));
    }
    for i in 0..20 {
        lines.push(line(
            t0 + 60_000 + i * 2000,
            "db",
            &format!(
                "checkpoint complete: wrote {} buffers ({}.{}%)",
                40 * i,
                i,
                i % 10
            ),
        ));
    }
    // A message that looks like markup stays text in the template.
    lines.push(line(t0 + 120_000, "db", "<b>bold</b> <script>x</script>"));
    ingest(&s, &lines);
    s.wait_total("", lines.len() as u64);

    let answer = patterns(&s, "start=now-1h&limit=10");
    assert_eq!(answer["total"], lines.len());
    assert_eq!(answer["other"], 0, "{answer}");
    let rows = by_template(&answer, &["GET", "logged in", "checkpoint", "<b>"]);
    assert_eq!(rows.len(), 4, "{answer}");
    let counts: Vec<u64> = answer["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![40, 30, 20, 1], "most records first");
    assert_eq!(rows["GET"]["group"], "api");
    assert_eq!(rows["checkpoint"]["group"], "db");
    assert!(
        rows["<b>"]["template"]
            .as_str()
            .unwrap()
            .contains("<b>bold</b>"),
        "{answer}"
    );
    for (part, want) in [("GET", 40), ("logged in", 30), ("checkpoint", 20)] {
        let row = rows[part];
        let id = row["id"].as_str().unwrap();
        assert_eq!(row["count"], want);
        assert_eq!(
            row["trend"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_u64().unwrap())
                .sum::<u64>(),
            want
        );
        assert_eq!(
            row["trend"].as_array().unwrap().len(),
            answer["buckets"].as_array().unwrap().len()
        );
        assert!(
            row["template"].as_str().unwrap().contains('<'),
            "variables masked: {row}"
        );
        assert!(!row["sample"].as_str().unwrap().is_empty());
        assert_eq!(row["new"], true, "first seen in the range: {row}");
        let hits = s.all(&format!("pattern:{id}"));
        assert_eq!(hits.len() as u64, want, "pattern:{id}");
        assert!(hits.iter().all(|h| h["pattern"] == id));
        assert!(hits
            .iter()
            .all(|h| h["message"].as_str().unwrap().contains(part)));
        let rest = s.search(&[("q", &format!("NOT pattern:{id}")), ("limit", "1")]);
        assert_eq!(rest["total"], lines.len() as u64 - want);
    }
    // The query narrows the patterns.
    let db = patterns(&s, "q=container:db&start=now-1h");
    assert_eq!(db["patterns"].as_array().unwrap().len(), 2, "{db}");
    assert_eq!(db["total"], 21);
    let one = patterns(&s, "start=now-1h&limit=1");
    assert_eq!(one["patterns"].as_array().unwrap().len(), 1);
    assert_eq!(one["other"], lines.len() as u64 - 40);
    // Latest record first: the markup line is the newest.
    let recent = patterns(&s, "start=now-1h&sort=recent");
    assert!(recent["patterns"][0]["template"]
        .as_str()
        .unwrap()
        .contains("<b>"));

    // `terms` on `pattern` answers the same counts.
    let (status, agg) = s.post_json(
        "/api/v1/aggregate",
        json!({"start": "now-1h", "aggs": {"p": {"terms": {"field": "pattern"}}}}).to_string(),
    );
    assert_eq!(status, 200, "{agg}");
    let buckets = agg["aggregations"]["p"]["buckets"].as_array().unwrap();
    assert_eq!(buckets[0]["key"], rows["GET"]["id"]);
    assert_eq!(buckets[0]["doc_count"], 40);

    // Mistakes are explained.
    for (q, says) in [
        ("sort=size", "count"),
        ("limit=0", "limit"),
        ("limit=10000", "limit"),
        ("start=now&end=now-1h", "before"),
        ("q=(((", "query"),
    ] {
        let (status, body) = s.get_json(&format!("/api/v1/patterns?{q}"));
        assert_eq!(status, 400, "{q}: {body}");
        assert!(body.to_string().contains(says), "{q}: {body}");
    }

    // The terminal view lists the same templates.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_skein"))
        .args([
            "patterns", "--server", &s.url, "--since", "1h", "-o", "json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cli.len(), 4);
    assert_eq!(cli[0]["id"], rows["GET"]["id"]);
}

/// Ids stay the same after a clean restart, after a SIGKILL that leaves records only
/// in the WAL (mined again on replay), and after the state file is lost (rebuilt from
/// the partitions): new lines of a template get the id its old lines have.
#[test]
fn pattern_ids_survive_restarts_sigkill_and_a_lost_state() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut s = Server::start(&data, &[]);
    let t0 = now_ms() - 10 * 60_000;
    let shapes = [
        |i: i64| format!("order {} shipped to warehouse {}", 5000 + i, i % 4),
        |i: i64| format!("cache miss for key session:{:x} after {} ms", 77 * i + 1, i),
        |i: i64| format!("worker {} finished job {} in {}s", i % 3, 9000 + i, i % 9),
    ];
    let batch = |from: i64, n: i64| -> Vec<String> {
        (from..from + n)
            .flat_map(|i| {
                shapes
                    .iter()
                    .map(move |f| line(t0 + i * 100, "svc", &f(i)))
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    ingest(&s, &batch(0, 20));
    s.wait_total("", 60);
    let ids = |s: &Server| -> Vec<String> {
        let a = patterns(s, "start=now-1h");
        let rows = by_template(&a, &["shipped", "cache miss", "finished job"]);
        assert_eq!(rows.len(), 3, "{a}");
        ["shipped", "cache miss", "finished job"]
            .iter()
            .map(|k| {
                assert!(
                    !rows[*k]["template"].as_str().unwrap().is_empty(),
                    "described: {a}"
                );
                rows[*k]["id"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let want = ids(&s);

    s.stop();
    let mut s = s.restart();
    assert_eq!(ids(&s), want, "after a clean restart");

    // Acknowledged, then killed before a commit could make them searchable: replay.
    ingest(&s, &batch(20, 10));
    s.kill9();
    let mut s = s.restart();
    s.wait_total("", 90);
    assert_eq!(ids(&s), want, "after SIGKILL and replay");
    for id in &want {
        assert_eq!(s.all(&format!("pattern:{id}")).len(), 30, "pattern:{id}");
    }

    s.stop();
    std::fs::remove_file(data.join("patterns.json")).unwrap();
    let s = s.restart();
    assert_eq!(ids(&s), want, "after the state was rebuilt");
    ingest(&s, &batch(30, 5));
    s.wait_total("", 105);
    for id in &want {
        assert_eq!(s.all(&format!("pattern:{id}")).len(), 35, "pattern:{id}");
    }
}

/// Over the last hour: a template that has run steadily for hours and now logs ten
/// times as often is surging; one that keeps its pace is neither; one first seen in
/// the hour is new.
#[test]
fn new_and_surging_patterns_are_marked() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Server::start(&tmp.path().join("data"), &[]);
    let now = now_ms();
    let hour = 3_600_000;
    let mut lines = Vec::new();
    // Five hours of both steady templates, 6 lines every 10 minutes.
    for i in 0..30 {
        for j in 0..6 {
            let at = now - 5 * hour + i * 600_000 + j * 1000;
            lines.push(line(
                at,
                "app",
                &format!("cache refresh took {} ms", 10 + j),
            ));
            lines.push(line(
                at,
                "app",
                &format!("heartbeat {} from peer {}", i * 6 + j, j),
            ));
        }
    }
    // The last hour: the cache refreshes ten times as often.
    for i in 0..300 {
        lines.push(line(
            now - hour + 60_000 + i * 10_000,
            "app",
            &format!("cache refresh took {} ms", i % 90),
        ));
    }
    for i in 0..12 {
        lines.push(line(
            now - 20 * 60_000 + i * 1000,
            "app",
            &format!("feature flag {} enabled by admin{}", i, i % 2),
        ));
    }
    ingest(&s, &lines);
    s.wait_total("", lines.len() as u64);
    let answer = patterns(&s, "start=now-1h");
    let rows = by_template(&answer, &["cache refresh", "heartbeat", "feature flag"]);
    assert_eq!(rows.len(), 3, "{answer}");
    let flags = |k: &str| {
        (
            rows[k]["new"].as_bool().unwrap(),
            rows[k]["surging"].as_bool().unwrap(),
        )
    };
    assert_eq!(flags("cache refresh"), (false, true), "{answer}");
    assert_eq!(flags("heartbeat"), (false, false), "{answer}");
    assert_eq!(flags("feature flag"), (true, false), "{answer}");
}
