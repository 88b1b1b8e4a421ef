//! `GET /api/v1/tail` over real HTTP against the real server: a hundred followers at
//! once each get every new record exactly once, SSE carries resume ids, a slow reader
//! is told what it missed and still gets everything, bad input is a 400.

mod common;

use common::{client, record_line, Server};
use std::io::{BufRead, BufReader};
use std::time::Duration;

fn body(from: u64, to: u64, container: &str) -> Vec<u8> {
    let base = skein_model::Timestamp::now().0;
    (from..=to)
        .map(|i| {
            record_line(
                &skein_model::Timestamp(base + i as i64).to_rfc3339(),
                container,
                "info",
                &format!("m-{i}"),
                &format!("node-1/{container}/stdout"),
                i,
            ) + "\n"
        })
        .collect::<String>()
        .into_bytes()
}

/// Opens a tail and reads `want` record lines (notices are returned apart).
fn open(server: &Server, params: &[(&str, &str)]) -> BufReader<reqwest::blocking::Response> {
    let r = reqwest::blocking::Client::builder()
        .timeout(None)
        .build()
        .unwrap()
        .get(format!("{}/api/v1/tail", server.url))
        .query(params)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    BufReader::new(r)
}

fn read(
    reader: &mut impl BufRead,
    want: usize,
) -> (Vec<serde_json::Value>, Vec<serde_json::Value>) {
    let (mut records, mut notices) = (Vec::new(), Vec::new());
    let mut line = String::new();
    while records.len() < want {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        if v.get("@timestamp").is_some() {
            records.push(v);
        } else {
            notices.push(v);
        }
    }
    (records, notices)
}

fn messages(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["message"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_hundred_followers_each_get_every_new_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let readers: Vec<_> = (0..100)
        .map(|_| open(&server, &[("q", "container:web"), ("n", "0")]))
        .collect();
    let started = std::time::Instant::now();
    while client()
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap()
        .lines()
        .find(|l| l.starts_with("skein_followers "))
        .is_none_or(|l| !l.ends_with(" 100"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "100 followers registered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for (from, to) in [(1, 100), (101, 250)] {
        assert_eq!(server.ingest(body(from, to, "web"), None).status(), 200);
        assert_eq!(server.ingest(body(from, to, "other"), None).status(), 200);
    }
    let want: Vec<String> = (1..=250).map(|i| format!("m-{i}")).collect();
    let handles: Vec<_> = readers
        .into_iter()
        .map(|mut r| std::thread::spawn(move || read(&mut r, 250)))
        .collect();
    for h in handles {
        let (records, notices) = h.join().unwrap();
        assert!(notices.is_empty(), "{notices:?}");
        assert_eq!(messages(&records), want);
        assert!(records.iter().all(|r| r["container"] == "web"));
    }
}

#[test]
fn history_then_live_resume_sse_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &["--commit-interval-ms", "100", "--follow-queue", "10"],
    );
    server.ingest(body(1, 30, "web"), None);
    server.wait_total("container:web", 30);
    // Last 5, then live; the cursor of each record resumes right after it.
    let mut r = open(&server, &[("q", "container:web"), ("n", "5")]);
    let (hist, _) = read(&mut r, 5);
    assert_eq!(messages(&hist), ["m-26", "m-27", "m-28", "m-29", "m-30"]);
    server.ingest(body(31, 32, "web"), None);
    let (live, _) = read(&mut r, 2);
    assert_eq!(messages(&live), ["m-31", "m-32"]);
    drop(r);
    let cursor = hist[2]["_cursor"].as_str().unwrap().to_string();
    server.ingest(body(33, 33, "web"), None);
    let mut r = open(&server, &[("q", "container:web"), ("cursor", &cursor)]);
    let (resumed, _) = read(&mut r, 5);
    assert_eq!(messages(&resumed), ["m-29", "m-30", "m-31", "m-32", "m-33"]);
    drop(r);
    // follow=false ends after the history.
    let mut r = open(
        &server,
        &[("q", "container:web"), ("n", "all"), ("follow", "false")],
    );
    let (all, _) = read(&mut r, usize::MAX);
    assert_eq!(all.len(), 33);

    // A reader that does not read while 30,000 records arrive (more than the
    // connection's buffers hold), with a queue of 10: it is told it fell behind and
    // still gets every record once, in order.
    let mut slow = open(&server, &[("q", "container:web"), ("n", "0")]);
    std::thread::sleep(Duration::from_millis(200));
    for start in (34..30_034).step_by(1000) {
        server.ingest(body(start, start + 999, "web"), None);
    }
    let (got, notices) = read(&mut slow, 30_000);
    let want: Vec<String> = (34..30_034).map(|i| format!("m-{i}")).collect();
    assert_eq!(messages(&got), want);
    assert!(
        notices
            .iter()
            .any(|n| n["_notice"]["missed"].as_u64().is_some_and(|m| m > 0)),
        "{notices:?}"
    );

    // SSE: the cursor is the event id.
    let resp = client()
        .get(format!("{}/api/v1/tail", server.url))
        .query(&[("q", "container:web"), ("n", "1"), ("follow", "false")])
        .header("Accept", "text/event-stream")
        .send()
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let text = resp.text().unwrap();
    assert!(
        text.starts_with("id: l") || text.starts_with("id: h"),
        "{text}"
    );
    assert!(
        text.contains("event: record\ndata: {\"@timestamp\""),
        "{text}"
    );
    assert!(text.contains("\"message\":\"m-30033\""), "{text}");

    for (params, kind) in [
        (vec![("q", "container:(")], "query_parse_error"),
        (vec![("n", "many")], "invalid_n"),
        (vec![("since", "yesterday")], "invalid_time"),
        (vec![("cursor", "zzz")], "invalid_cursor"),
    ] {
        let r = client()
            .get(format!("{}/api/v1/tail", server.url))
            .query(&params)
            .send()
            .unwrap();
        assert_eq!(r.status(), 400, "{params:?}");
        let v: serde_json::Value = r.json().unwrap();
        assert_eq!(v["error"]["type"], kind, "{v}");
    }
}
