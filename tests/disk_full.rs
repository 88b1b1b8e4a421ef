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

/// Sends records `first..first + 500` as the agent does: again and again until
/// acknowledged (or `until`), never a later batch first, since the server drops a
/// `_seq` at or below its source's last as a resend. Answers the last status.
fn send(server: &Server, acked: &mut BTreeSet<u64>, first: u64, until: Instant) -> u16 {
    loop {
        let r = server.ingest(batch(first, PER), None);
        match r.status().as_u16() {
            200 => {
                let v: serde_json::Value = r.json().unwrap();
                assert_eq!(v["accepted"], PER, "{v}");
                acked.extend(first..first + PER);
                return 200;
            }
            503 => {
                assert!(r.headers().contains_key("retry-after"));
                if Instant::now() > until {
                    return 503;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            s => panic!("unexpected {s}: {}", r.text().unwrap()),
        }
    }
}

const PER: u64 = 500;

#[test]
fn a_full_disk_refuses_then_resumes_with_nothing_acknowledged_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    let fs = Tmpfs::mount(&mnt, "24m");
    // Room to take back later.
    let filler = mnt.join("filler");
    std::fs::write(&filler, vec![7u8; 12 << 20]).unwrap();
    // The server's log is on the same tmpfs (`DATA.PORT.log` beside `DATA`), as a
    // container's log often is on the disk that fills: it must keep serving when its
    // log lines cannot be written.
    let mut server = Server::start(&mnt.join("data"), &["--commit-interval-ms", "100"]);
    let mut acked: BTreeSet<u64> = BTreeSet::new();
    let mut next = 1;
    // Fill until a batch is refused, and stays refused for two seconds.
    loop {
        assert!(next < 2_000_000, "the disk never filled");
        if send(
            &server,
            &mut acked,
            next,
            Instant::now() + Duration::from_secs(2),
        ) == 503
        {
            break;
        }
        next += PER;
    }
    // Full: the server is up, searches still answer, and /healthz says what is wrong.
    assert!(
        server.child.try_wait().unwrap().is_none(),
        "the server died:\n{}",
        std::fs::read_to_string(&server.log).unwrap_or_default()
    );
    let found = server.search(&[("q", "container:fill"), ("limit", "0")]);
    assert!(found["total"].as_u64().unwrap() > 0);
    let (_, health) = server.get_json("/healthz");
    assert_ne!(health["status"], "ok", "{health}");
    // Space comes back: the refused batch goes through, and later ones too.
    std::fs::remove_file(&filler).unwrap();
    for _ in 0..5 {
        let status = send(
            &server,
            &mut acked,
            next,
            Instant::now() + Duration::from_secs(60),
        );
        assert_eq!(status, 200, "ingest never resumed");
        next += PER;
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

/// With its stderr on a full device, the server starts, ingests and answers: log lines
/// that cannot be written are dropped, not fatal.
#[test]
fn a_server_whose_log_cannot_be_written_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(["server", "--commit-interval-ms", "100", "--data-dir"])
        .arg(tmp.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(
            std::fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::client()
        .get(format!("{url}/healthz"))
        .send()
        .is_err()
    {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the server exited when its log could not be written"
        );
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
    let r = common::client()
        .post(format!("{url}/api/v1/ingest"))
        .body(batch(1, 10))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v: serde_json::Value = common::client()
            .get(format!("{url}/api/v1/search?q=container:fill&limit=0"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        if v["total"] == 10 {
            break;
        }
        assert!(Instant::now() < deadline, "{v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
