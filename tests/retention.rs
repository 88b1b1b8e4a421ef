//! Retention end to end: whole days past `--retention` are dropped (at start and while
//! searches and a live follower run) and older records are refused at ingest; past
//! `--max-disk` the oldest partitions go first with a warning naming them.

mod common;

use chrono::{Duration as Days, Utc};
use common::{client, record_line, Server};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn day_start(days_ago: i64) -> chrono::DateTime<Utc> {
    let today = Utc::now().date_naive();
    (today - Days::days(days_ago))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
}

/// `n` records at noon (and after) of the day `days_ago` days back, tagged `dayN`.
fn day_records(days_ago: i64, n: u64, pad: usize) -> Vec<u8> {
    let noon = day_start(days_ago) + Days::hours(12);
    let mut body = Vec::new();
    for i in 0..n {
        let ts = (noon + Days::seconds(i as i64)).to_rfc3339();
        let msg = format!("day{days_ago} record {i} {}", "x".repeat(pad));
        body.extend(
            record_line(&ts, "app", "info", &msg, &format!("d{days_ago}"), i + 1).as_bytes(),
        );
        body.push(b'\n');
    }
    body
}

fn count(server: &Server, q: &str) -> u64 {
    server.search(&[("q", q), ("limit", "0")])["total"]
        .as_u64()
        .unwrap()
}

fn wait_until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Searches in a loop and a live follower of `live`-tagged records, while retention
/// works: every search must answer, and the follower must get every live record.
struct Readers {
    stop: Arc<AtomicBool>,
    failures: Arc<AtomicU64>,
    searches: std::thread::JoinHandle<u64>,
    followed: std::sync::mpsc::Receiver<String>,
}

impl Readers {
    fn start(server: &Server, q: &str) -> Readers {
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(AtomicU64::new(0));
        let searches = {
            let (url, stop, failures, q) = (
                server.url.clone(),
                stop.clone(),
                failures.clone(),
                q.to_string(),
            );
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let r = client()
                        .get(format!("{url}/api/v1/search"))
                        .query(&[("q", q.as_str()), ("limit", "20")])
                        .send()
                        .unwrap();
                    if r.status() != 200 {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                n
            })
        };
        let follow = client()
            .get(format!("{}/api/v1/tail", server.url))
            .query(&[("q", "live"), ("n", "0")])
            .timeout(Duration::from_secs(300))
            .send()
            .unwrap();
        assert_eq!(follow.status(), 200);
        let (tx, followed) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(follow).lines().map_while(Result::ok) {
                if line.contains("live record") {
                    let _ = tx.send(line);
                }
            }
        });
        Readers {
            stop,
            failures,
            searches,
            followed,
        }
    }

    /// Sends live record number `n` (today).
    fn send_live(server: &Server, n: u64) {
        let msg = format!("live record {n}");
        let line = record_line(&Utc::now().to_rfc3339(), "app", "info", &msg, "live", n);
        let status = server
            .ingest(format!("{line}\n").into_bytes(), None)
            .status();
        assert_eq!(status, 200);
    }

    /// Stops the searches; checks they all answered and the follower got `sent`.
    fn finish(self, sent: u64) {
        for got in 0..sent {
            self.followed
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("the follower got {got} of {sent} live records"));
        }
        self.stop.store(true, Ordering::Relaxed);
        let n = self.searches.join().unwrap();
        assert!(n > 0, "searches ran meanwhile");
        assert_eq!(
            self.failures.load(Ordering::Relaxed),
            0,
            "every search answered"
        );
    }
}

#[test]
fn old_days_go_at_start_and_while_searches_and_a_follower_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, &["--commit-interval-ms", "100"]);
    for d in [3, 2, 1, 0] {
        let r = server.ingest(day_records(d, 50, 0), None);
        assert_eq!(r.status(), 200);
    }
    for d in [3, 2, 1, 0] {
        server.wait_total(&format!("day{d}"), 50);
    }
    // Day 2 (two days back) ends at the start of day 1. Retention is set so that day 3
    // is past it at once and day 2 becomes past it 20 s after the restart.
    let end_of_day2 = day_start(1);
    let retention = (Utc::now() - end_of_day2).num_seconds() + 20;
    server.stop();
    let server = server.restart_with(&[
        "--commit-interval-ms",
        "100",
        "--retention",
        &format!("{retention}s"),
    ]);
    assert_eq!(count(&server, "day3"), 0, "past retention at start");
    assert_eq!(count(&server, "day2"), 50, "not yet past retention");

    // Searches and a follower run while day 2 is dropped.
    let readers = Readers::start(&server, "day2 OR day1 OR day0");
    let mut sent = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&server, "day2") > 0 {
        assert!(Instant::now() < deadline, "day 2 was never dropped");
        sent += 1;
        Readers::send_live(&server, sent);
        std::thread::sleep(Duration::from_millis(300));
    }
    // A little more after the drop.
    for _ in 0..3 {
        sent += 1;
        Readers::send_live(&server, sent);
    }
    readers.finish(sent);
    assert_eq!(count(&server, "day1"), 50, "newer than the limit: kept");
    assert_eq!(count(&server, "day0"), 50);
    server.wait_total("live", sent); // the follower may see them before their commit

    // Older than the limit: refused at ingest, with the reason.
    let r = server.ingest(day_records(2, 1, 0), None);
    let v: Value = r.json().unwrap();
    assert_eq!(v["accepted"], 0);
    assert!(
        v["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .contains("--retention"),
        "{v}"
    );
    let (_, usage) = server.get_json("/api/v1/retention");
    let names: Vec<&str> = usage["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["partition"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{usage}");
    assert!(usage["partitions"][0]["drop_at"].is_string());
    assert_eq!(usage["retention_seconds"], retention);
    // The dropped days' files go once nothing reads them.
    let dir = data.join("partitions");
    wait_until(
        "dropped partitions' files removed",
        Duration::from_secs(20),
        || {
            let left: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect();
            left.len() == 2
                && std::fs::read_dir(dir.join(".dropped"))
                    .map(|d| d.count() == 0)
                    .unwrap_or(true)
        },
    );
}

#[test]
fn past_max_disk_the_oldest_partitions_go_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, &["--commit-interval-ms", "100"]);
    for d in (0..6).rev() {
        assert_eq!(server.ingest(day_records(d, 400, 200), None).status(), 200);
    }
    for d in 0..6 {
        server.wait_total(&format!("day{d}"), 400);
    }
    let (_, usage) = server.get_json("/api/v1/retention");
    let sizes: Vec<u64> = usage["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes.len(), 6);
    let total = usage["index_bytes"].as_u64().unwrap() + usage["wal_bytes"].as_u64().unwrap();
    // Room for all but the two oldest days (the WAL shrinks meanwhile, never grows).
    let max = total - sizes[0] - sizes[1] + sizes[2] / 2;
    server.stop();
    let server = server.restart_with(&[
        "--commit-interval-ms",
        "100",
        "--max-disk",
        &max.to_string(),
    ]);
    let readers = Readers::start(&server, "day5 OR day3");
    let mut sent = 0;
    wait_until(
        "the two oldest days dropped",
        Duration::from_secs(30),
        || {
            sent += 1;
            Readers::send_live(&server, sent);
            count(&server, "day5") == 0 && count(&server, "day4") == 0
        },
    );
    readers.finish(sent);
    for d in 0..4 {
        assert_eq!(count(&server, &format!("day{d}")), 400, "day {d} kept");
    }
    let (_, health) = server.get_json("/healthz");
    let problem = health["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["component"] == "retention")
        .unwrap_or_else(|| panic!("a retention warning: {health}"));
    let message = problem["message"].as_str().unwrap();
    let oldest = (Utc::now().date_naive() - Days::days(5)).to_string();
    assert!(
        message.contains(&oldest) && message.contains("--max-disk"),
        "{message}"
    );
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains(&oldest), "the log names what was dropped");
    let metrics = client()
        .get(format!("{}/metrics", server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("skein_disk_bytes{kind=\"index\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("skein_disk_free_bytes"));
    assert!(metrics.contains("skein_partitions_dropped_total{reason=\"disk\"}"));
}

#[test]
fn a_partition_deleted_by_hand_does_not_stop_indexing_of_the_others() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data, &["--commit-interval-ms", "100"]);
    assert_eq!(server.ingest(day_records(5, 10, 0), None).status(), 200);
    server.wait_total("day5", 10);
    let day5 = (Utc::now().date_naive() - Days::days(5)).to_string();
    std::fs::remove_dir_all(data.join("partitions").join(&day5)).unwrap();
    // A late record for the deleted day, then records for today.
    let noon5 = (day_start(5) + Days::hours(13)).to_rfc3339();
    let late = record_line(&noon5, "app", "info", "late for day5", "late", 1);
    assert_eq!(
        server
            .ingest(format!("{late}\n").into_bytes(), None)
            .status(),
        200
    );
    assert_eq!(server.ingest(day_records(0, 10, 0), None).status(), 200);
    server.wait_total("day0", 10);
    server.wait_total("late", 1);
    let (_, health) = server.get_json("/healthz");
    let text = health.to_string();
    assert!(
        text.contains(&format!("partition:{day5}")) && text.contains("vanished"),
        "{text}"
    );
    assert!(
        !text.contains("\"component\":\"index\""),
        "indexing recovered: {text}"
    );
}

/// Files of segments no `meta.json` names: what a merge cut short by a crash or a full
/// disk, or two merges racing, leave behind.
#[test]
fn orphaned_segment_files_are_removed_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, &["--commit-interval-ms", "100"]);
    assert_eq!(server.ingest(day_records(3, 100, 50), None).status(), 200);
    server.wait_total("day3", 100);
    server.stop();
    let dir = data
        .join("partitions")
        .join((Utc::now().date_naive() - Days::days(3)).to_string());
    let live: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    // A copy of every live segment file under a segment id nothing refers to.
    let mut planted = 0u64;
    for name in &live {
        if let Some((id, ext)) = name.split_once('.') {
            if id.len() == 32 {
                let orphan = format!("{}.{ext}", "ab".repeat(16));
                std::fs::copy(dir.join(name), dir.join(&orphan)).unwrap();
                planted += 1;
            }
        }
    }
    assert!(planted >= 4);
    let server = server.restart();
    server.wait_total("day3", 100);
    let now: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        now.iter().all(|n| !n.starts_with(&"ab".repeat(16))),
        "orphans left: {now:?}"
    );
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("no segment refers to"), "{log}");
}

#[test]
fn delete_by_query_is_gone_from_every_read_path_when_it_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let admin = common::create_token(&data, "admin", "dpo");
    let mut server = Server::start(&data, &["--commit-interval-ms", "100"]);
    server.token = Some(admin);
    // A leaked secret in two past days and today, among other lines.
    let mut body = Vec::new();
    for (d, n) in [(3i64, 1u64), (2, 2), (0, 3)] {
        let noon = (day_start(d) + Days::hours(12)).to_rfc3339();
        for (i, msg) in ["login ok", "token=sk_live_7777 leaked", "logout"]
            .iter()
            .enumerate()
        {
            let seq = n * 10 + i as u64;
            body.extend(record_line(&noon, "billing", "info", msg, "leak", seq).as_bytes());
            body.push(b'\n');
        }
    }
    assert_eq!(server.ingest(body, None).status(), 200);
    server.wait_total("container:billing", 9);
    // Up to tomorrow: before noon UTC, today's noon record is still in the future.
    let (status, answer) = server.post_json(
        "/api/v1/delete",
        r#"{"q":"sk_live_7777","start":"now-30d","end":"now+1d"}"#,
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["deleted"], 3);
    // Gone at once from search, aggregations, tail history and /es.
    assert_eq!(count(&server, "sk_live_7777"), 0);
    assert_eq!(count(&server, "container:billing"), 6);
    let (_, es) = server.get_json("/es/_search?q=sk_live_7777");
    assert_eq!(es["hits"]["total"]["value"], 0, "{es}");
    let (_, agg) = server.post_json(
        "/api/v1/aggregate",
        r#"{"q":"leaked","aggs":{"n":{"value_count":{"field":"@timestamp"}}}}"#,
    );
    assert_eq!(agg["total"], 0, "{agg}");
    let tail = server
        .request(
            reqwest::Method::GET,
            "/api/v1/tail?follow=false&q=leaked&n=100",
        )
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!tail.contains("sk_live_7777"), "{tail}");
    // Logged with who asked.
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(
        log.contains("3 records deleted, asked by token \"dpo\""),
        "{log}"
    );
    // And it stays deleted across a restart (nothing replayed brings it back).
    server.stop();
    let server = server.restart();
    assert_eq!(count(&server, "sk_live_7777"), 0);
    assert_eq!(count(&server, "container:billing"), 6);
    // A bad request says what to send.
    let (status, e) = server.post_json("/api/v1/delete", r#"{"q":"x"}"#);
    assert_eq!(status, 400);
    assert!(
        e["error"]["reason"].as_str().unwrap().contains("start"),
        "{e}"
    );
}

#[test]
fn retain_rules_keep_some_records_longer_and_others_shorter() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(
        &data,
        &[
            "--commit-interval-ms",
            "100",
            "--retention",
            "4d",
            "--retain",
            "level:debug=1d",
            "--retain",
            "container:audit-*=10d",
        ],
    );
    let readers = Readers::start(&server, "rule");
    let mut body = Vec::new();
    let mut seq = 0;
    for d in 0..7i64 {
        let noon = (day_start(d) + Days::hours(12)).to_rfc3339();
        for (container, level) in [("web", "debug"), ("web", "info"), ("audit-db", "info")] {
            seq += 1;
            let msg = format!("rule d{d}");
            body.extend(record_line(&noon, container, level, &msg, "r", seq).as_bytes());
            body.push(b'\n');
        }
    }
    let v: Value = server.ingest(body, None).json().unwrap();
    assert_eq!(v["accepted"], 21, "all within the longest rule: {v}");
    // debug: kept one day (days 0 and 1 stay); the rest: four days (days 0 to 4);
    // audit: ten days (all seven).
    let want = |d: i64| -> u64 { u64::from(d <= 1) + u64::from(d <= 4) + 1 };
    let mut sent = 0;
    wait_until("the rules applied", Duration::from_secs(40), || {
        sent += 1;
        Readers::send_live(&server, sent);
        (0..7).all(|d| count(&server, &format!("d{d}")) == want(d))
    });
    readers.finish(sent);
    assert_eq!(count(&server, "level:debug"), 2);
    assert_eq!(count(&server, "container:audit-db"), 7);
    // The longest rule decides when a day is dropped whole.
    let (_, usage) = server.get_json("/api/v1/retention");
    assert_eq!(usage["partitions"].as_array().unwrap().len(), 7, "{usage}");
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("past --retain level:debug=1d"), "{log}");
}

/// Merges of the policy and the compaction of a day that went idle, with ingest going
/// on: at rest, a partition's directory holds only the files its `meta.json` names.
#[test]
fn compaction_and_merges_under_ingest_leave_only_live_segment_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(
        &data,
        &["--commit-interval-ms", "50", "--retire-after-ms", "700"],
    );
    // Many small commits to a past day (the policy merges them as they pile up) and to
    // today, from two threads.
    let today = {
        let url = server.url.clone();
        std::thread::spawn(move || {
            for b in 0..40u64 {
                let body: String = (0..50u64)
                    .map(|i| {
                        let s = b * 50 + i + 1;
                        record_line(&Utc::now().to_rfc3339(), "t", "info", "today", "t", s) + "\n"
                    })
                    .collect();
                client()
                    .post(format!("{url}/api/v1/ingest"))
                    .body(body)
                    .send()
                    .unwrap();
                std::thread::sleep(Duration::from_millis(60));
            }
        })
    };
    for b in 0..40u64 {
        let noon = day_start(2) + Days::hours(12);
        let body: String = (0..50u64)
            .map(|i| {
                let s = b * 50 + i + 1;
                let ts = (noon + Days::seconds(s as i64)).to_rfc3339();
                record_line(&ts, "p", "info", "past", "p", s) + "\n"
            })
            .collect();
        assert_eq!(server.ingest(body.into_bytes(), None).status(), 200);
        std::thread::sleep(Duration::from_millis(60));
    }
    today.join().unwrap();
    server.wait_total("past", 2000);
    server.wait_total("today", 2000);
    let dir = data
        .join("partitions")
        .join((Utc::now().date_naive() - Days::days(2)).to_string());
    let live_only = || {
        let meta: Value =
            serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap();
        let ids: Vec<String> = meta["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["segment_id"].as_str().unwrap().replace('-', ""))
            .collect();
        let stray: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| {
                !(n == "meta.json"
                    || n == ".managed.json"
                    || n.ends_with(".lock")
                    || n == "skein-partition.json"
                    || ids.iter().any(|id| n.starts_with(id.as_str())))
            })
            .collect();
        (ids.len(), stray)
    };
    // The idle past day is compacted into one segment, and nothing else is left.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (segments, stray) = live_only();
        if segments == 1 && stray.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{segments} segments, files no segment names: {stray:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(count(&server, "past"), 2000);
}
