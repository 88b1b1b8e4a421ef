//! A disk that fills up, end to end: a small tmpfs holds the data directory; ingest
//! answers 503 with `Retry-After` once it is full, searches keep answering, and when
//! space is freed everything resumes by itself with every acknowledged record present
//! once. Needs root (to mount the tmpfs), as the Docker tests do.

mod common;

use common::{record_line, Server};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs")
            .success();
        assert!(
            ok,
            "cannot mount a tmpfs at {}: this test needs root",
            dir.display()
        );
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn batch(first_seq: u64, n: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for s in first_seq..first_seq + n {
        let msg = format!("filling record {s} {}", "payload ".repeat(20));
        b.extend(record_line("2026-11-20T10:00:00Z", "fill", "info", &msg, "full", s).as_bytes());
        b.push(b'\n');
    }
    b
}

#[test]
fn a_full_disk_refuses_then_resumes_with_nothing_acknowledged_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let fs = Tmpfs::mount(&mnt, "24m");
    // Room to take back later.
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![7u8; 12 << 20]).unwrap();
    let mut server = Server::start(&mnt.join("data"), &["--commit-interval-ms", "100"]);
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let mut refused: Vec<u64> = Vec::new();
    let per = 500;
    let mut next = 1;
    let mut saw_503 = 0;
    while saw_503 < 5 {
        assert!(next < 2_000_000, "the disk never filled");
        let r = server.ingest(batch(next, per), None);
        match r.status().as_u16() {
            200 => acked.extend(next..next + per),
            503 => {
                assert!(r.headers().contains_key("retry-after"));
                refused.push(next);
                saw_503 += 1;
            }
            s => panic!("unexpected {s}: {}", r.text().unwrap()),
        }
        next += per;
    }
    // Full: searches still answer, and /healthz says what is wrong.
    let found = server.search(&[("q", "container:fill"), ("limit", "0")]);
    assert!(found["total"].as_u64().unwrap() > 0);
    let (_, health) = server.get_json("/healthz");
    assert_ne!(health["status"], "ok", "{health}");
    // Space comes back: the refused batches go through on retry, and new ones too.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    for first in refused.into_iter().chain([next]) {
        loop {
            let r = server.ingest(batch(first, per), None);
            if r.status() == 200 {
                acked.extend(first..first + per);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "ingest never resumed: {}",
                r.status()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    server.wait_total_within(
        "container:fill",
        acked.len() as u64,
        Duration::from_secs(60),
    );
    // Every acknowledged record once, across a restart too.
    server.stop();
    let server = server.restart();
    server.wait_total_within(
        "container:fill",
        acked.len() as u64,
        Duration::from_secs(60),
    );
    let seqs: Vec<u64> = server
        .all("container:fill")
        .iter()
        .map(|r| r["_seq"].as_u64().unwrap())
        .collect();
    let unique: BTreeSet<u64> = seqs.iter().copied().collect();
    assert_eq!(unique.len(), seqs.len(), "nothing indexed twice");
    assert_eq!(unique, acked, "every acknowledged record, and only those");
    drop(server);
    drop(fs);
}
