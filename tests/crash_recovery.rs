//! Durability end to end: SIGKILL at any moment loses no acknowledged record and
//! indexes none twice; a damaged WAL tail or a broken partition is reported on
//! `/healthz` while the rest keeps serving.

mod common;

use common::{record_line, Server};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SOURCES: u64 = 4;
const BATCHES: u64 = 40;
const PER_BATCH: u64 = 150;

fn batch_body(src: u64, b: u64) -> Vec<u8> {
    let mut out = String::new();
    for i in 0..PER_BATCH {
        let seq = b * PER_BATCH + i + 1;
        // Spread over two days so replay crosses partitions.
        let day = if seq.is_multiple_of(2) { 20 } else { 21 };
        let ts = format!(
            "2026-11-{day}T10:{:02}:{:02}.{:09}Z",
            (seq / 60) % 60,
            seq % 60,
            seq
        );
        out.push_str(&record_line(
            &ts,
            &format!("c{src}"),
            "info",
            &format!("msg id{src}x{seq}"),
            &format!("src{src}"),
            seq,
        ));
        out.push('\n');
    }
    out.into_bytes()
}

#[test]
fn sigkill_mid_stream_loses_nothing_and_indexes_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), &["--commit-interval-ms", "400"]);
    let url = server.url.clone();
    let acked = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..SOURCES)
        .map(|src| {
            let url = url.clone();
            let acked = acked.clone();
            std::thread::spawn(move || {
                let c = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .build()
                    .unwrap();
                for b in 0..BATCHES {
                    let body = batch_body(src, b);
                    // Like an agent: resend the same batch until it is acknowledged.
                    loop {
                        match c
                            .post(format!("{url}/api/v1/ingest"))
                            .body(body.clone())
                            .send()
                        {
                            Ok(r) if r.status() == 200 => {
                                let v: serde_json::Value = r.json().unwrap();
                                assert!(v["rejected"].as_array().unwrap().is_empty());
                                acked.fetch_add(1, Ordering::Relaxed);
                                break;
                            }
                            _ => std::thread::sleep(Duration::from_millis(30)),
                        }
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        })
        .collect();
    // Kill at five points spread over the stream, each a little after a batch was
    // acknowledged, so kills land both between and in the middle of requests and commits.
    let total_batches = SOURCES * BATCHES;
    let mut kills = 0;
    let mut rng = 0x9e3779b97f4a7c15u64;
    for k in 1..=5u64 {
        while acked.load(Ordering::Relaxed) < total_batches * k / 6 {
            std::thread::sleep(Duration::from_millis(2));
        }
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(rng % 40));
        server.kill9();
        kills += 1;
        server = server.restart();
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(kills, 5);
    assert!(acked.load(Ordering::Relaxed) == total_batches);

    let want = SOURCES * BATCHES * PER_BATCH;
    server.wait_total("*", want);
    // Every record exactly once: page through all of them.
    let mut seen = HashSet::new();
    let mut cursor = String::new();
    loop {
        let page = server.search(&[("q", "*"), ("limit", "5000"), ("cursor", &cursor)]);
        for h in page["hits"].as_array().unwrap() {
            let m = h["message"].as_str().unwrap().to_string();
            assert!(seen.insert(m.clone()), "{m} indexed twice");
        }
        match page["cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen.len() as u64, want);
    for src in 0..SOURCES {
        for seq in 1..=BATCHES * PER_BATCH {
            assert!(
                seen.contains(&format!("msg id{src}x{seq}")),
                "lost src{src} seq {seq}"
            );
        }
    }
}

#[test]
fn damaged_wal_tail_and_broken_partition_are_reported_while_the_rest_serves() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // A long commit interval keeps acknowledged records only in the WAL when killed.
    let mut server = Server::start(&data, &["--commit-interval-ms", "60000"]);
    let day = |d: u32, n: u64, src: &str| {
        (1..=n)
            .map(|i| {
                record_line(
                    &format!("2026-11-{d}T09:00:{:02}Z", i % 60),
                    "web",
                    "info",
                    &format!("day{d} n{i}"),
                    src,
                    i,
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
            .into_bytes()
    };
    let r = server.ingest(day(20, 100, "a"), None);
    assert_eq!(r.status(), 200);
    server.kill9();
    // A write torn by the crash: garbage after the last frame.
    let wal = data.join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    segs.sort();
    let last = segs.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    bytes.extend_from_slice(&[0x55; 37]);
    std::fs::write(last, bytes).unwrap();

    let mut server = server.restart();
    server.wait_total("*", 100);
    let (code, health) = server.get_json("/healthz");
    assert_eq!(code, 200);
    assert_eq!(health["status"], "degraded");
    let problem = health["problems"][0]["message"].as_str().unwrap();
    assert!(problem.contains("37 unreadable bytes"), "{problem}");

    assert_eq!(server.ingest(day(21, 50, "b"), None).status(), 200);
    server.stop(); // commits both days
                   // Break day 20's index.
    std::fs::write(data.join("partitions/2026-11-20/meta.json"), b"{ torn").unwrap();
    let server = server.restart_with(&["--commit-interval-ms", "200"]);
    server.wait_total("*", 50);
    let (code, health) = server.get_json("/healthz");
    assert_eq!(code, 200, "a broken partition does not stop the server");
    assert_eq!(health["status"], "degraded");
    let text = health["problems"].to_string();
    assert!(
        text.contains("2026-11-20") && text.contains("cannot open partition"),
        "{text}"
    );
    // New records of the broken day still land, in a sibling index.
    assert_eq!(server.ingest(day(20, 10, "c"), None).status(), 200);
    server.wait_total("*", 60);
    assert_eq!(
        server.search(&[("start", "2026-11-20"), ("end", "2026-11-20T23:59:59Z")])["total"],
        10
    );
    // The broken index was left as it was, for repair.
    assert_eq!(
        std::fs::read(data.join("partitions/2026-11-20/meta.json")).unwrap(),
        b"{ torn"
    );
}
