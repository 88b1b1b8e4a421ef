//! `skein admin snapshot DIR` of a server under ingest: a server started on the copy
//! holds every record acknowledged before the snapshot, once, with the tokens of the
//! original; the original goes on. A partition written by a newer format is refused
//! with a clear reason rather than misread.

mod common;

use common::{free_port, record_line, Server};
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[test]
fn a_snapshot_of_a_busy_server_starts_with_every_acknowledged_record_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let admin = common::create_token(&data, "admin", "ops");
    let mut server = Server::start(&data, &["--commit-interval-ms", "200"]);
    server.token = Some(admin.clone());
    // Writers on three days, acknowledged seqs recorded.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let next = Arc::new(AtomicU64::new(1));
    let writer = {
        let (url, stop, acked, next, admin) = (
            server.url.clone(),
            stop.clone(),
            acked.clone(),
            next.clone(),
            admin.clone(),
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let first = next.fetch_add(200, Ordering::Relaxed);
                let mut body = String::new();
                for s in first..first + 200 {
                    let day = 18 + s % 3;
                    body += &record_line(
                        &format!("2026-11-{day}T10:00:00Z"),
                        "snap",
                        "info",
                        &format!("snap {s}"),
                        "snap",
                        s,
                    );
                    body.push('\n');
                }
                let r = common::client()
                    .post(format!("{url}/api/v1/ingest"))
                    .bearer_auth(&admin)
                    .body(body)
                    .send()
                    .unwrap();
                if r.status() == 200 {
                    acked.lock().unwrap().extend(first..first + 200);
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(1500));
    let before: BTreeSet<u64> = acked.lock().unwrap().clone();
    let snap = tmp.path().join("snap");
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(["admin", "snapshot"])
        .arg(&snap)
        .args(["--server", &server.url, "--token", &admin])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after: BTreeSet<u64> = acked.lock().unwrap().clone();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(!before.is_empty());
    // A snapshot into a directory that is not empty is refused.
    let again = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(["admin", "snapshot"])
        .arg(&snap)
        .args(["--server", &server.url, "--token", &admin])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));

    // A second server on the copy, beside the first.
    let mut copy = Server::start_port(&snap, free_port(), &[]);
    copy.token = Some(admin.clone());
    let seqs: Vec<u64> = copy
        .all("container:snap")
        .iter()
        .map(|r| r["_seq"].as_u64().unwrap())
        .collect();
    let got: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(got.len(), seqs.len(), "nothing twice");
    assert!(
        before.is_subset(&got),
        "every record acknowledged before the snapshot"
    );
    assert!(got.is_subset(&after), "nothing that was not acknowledged");
    // The patterns come along: the copy gives the records the ids the original did.
    assert!(snap.join("patterns.json").exists());
    let pattern_of = |s: &Server| {
        s.search(&[("q", "container:snap"), ("limit", "1")])["hits"][0]["pattern"].clone()
    };
    assert!(pattern_of(&copy).is_string());
    assert_eq!(pattern_of(&copy), pattern_of(&server));
    // The original goes on with everything.
    let all = acked.lock().unwrap().len() as u64;
    server.wait_total("container:snap", all);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(snap.join("auth/tokens.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the tokens stay private in the copy");
}

#[test]
fn a_partition_from_a_newer_format_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, &["--commit-interval-ms", "100"]);
    let line = record_line("2026-11-20T10:00:00Z", "f", "info", "format check", "f", 1);
    assert_eq!(
        server
            .ingest(format!("{line}\n").into_bytes(), None)
            .status(),
        200
    );
    server.wait_total("format", 1);
    server.stop();
    let file = data.join("partitions/2026-11-20/skein-partition.json");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!("\"format\":{}", skein_indexer::partition::FORMAT)),
        "{text}"
    );
    std::fs::write(&file, r#"{"format":99,"written_by":"9.0.0"}"#).unwrap();
    let server = server.restart();
    let (_, health) = server.get_json("/healthz");
    let text = health.to_string();
    assert!(
        text.contains("partition format 99") && text.contains("9.0.0"),
        "{text}"
    );
}
