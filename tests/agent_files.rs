//! The agent on files it finds by `--path` (no container engine involved), the spool
//! under an outage, and `skein up --demo`: real processes, real files, real HTTP.

mod common;

use common::{free_port, unique, AgentProc, Server};
use serde_json::Value;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

fn append(path: &Path, lines: impl IntoIterator<Item = String>) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn numbered(prefix: &str, range: std::ops::RangeInclusive<u32>) -> Vec<String> {
    range.map(|i| format!("{prefix} line-{i}")).collect()
}

/// Asserts each of `1..=n` appears exactly once among the messages.
fn assert_once(records: &[Value], n: u32, what: &str) {
    let mut seen = vec![0; n as usize];
    for r in records {
        let i: usize = r["message"]
            .as_str()
            .unwrap()
            .rsplit('-')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        seen[i - 1] += 1;
    }
    let wrong: Vec<(usize, i32)> = seen
        .iter()
        .enumerate()
        .filter(|(_, c)| **c != 1)
        .map(|(i, c)| (i + 1, *c))
        .collect();
    assert!(
        wrong.is_empty(),
        "{what}: lines not seen exactly once: {wrong:?}"
    );
}

fn metric(url: &str, name: &str) -> f64 {
    let text = common::client().get(url).send().unwrap().text().unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn plain_files_survive_rename_rotation_and_copytruncate_without_docker() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let glob = format!("{}/*.log", logs.display());
    let agent = AgentProc::start_env(
        &server.url,
        &dir.path().join("agent"),
        &["--path", &glob, "--batch-wait-ms", "100"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    );
    let app = logs.join("app.log");
    let other = logs.join("other.log");
    append(&app, numbered("app", 1..=100));
    append(&other, numbered("other", 1..=50));
    assert_eq!(
        server.wait_at_least("container:app", 100, Duration::from_secs(20)),
        100
    );
    assert_eq!(
        server.wait_at_least("container:other", 50, Duration::from_secs(20)),
        50
    );

    // logrotate's default: rename, then a new file at the path; the writer finishes
    // its line in the old file first.
    fs::rename(&app, logs.join("app.log.1")).unwrap();
    append(&logs.join("app.log.1"), numbered("app", 101..=110));
    append(&app, numbered("app", 111..=200));
    // copytruncate: copy away, truncate in place, keep writing.
    fs::copy(&other, logs.join("other.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&other)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&other, numbered("other", 51..=100));

    assert_eq!(
        server.wait_at_least("container:app", 200, Duration::from_secs(20)),
        200
    );
    assert_eq!(
        server.wait_at_least("container:other", 100, Duration::from_secs(20)),
        100
    );
    std::thread::sleep(Duration::from_millis(500));
    let apps = server.all("container:app");
    assert_once(&apps, 200, "renamed");
    assert_once(&server.all("container:other"), 100, "copytruncated");
    assert_eq!(apps[0]["stream"], "stdout");
    assert_eq!(apps[0]["host"], "test-node");

    let log = agent.log_text();
    assert_eq!(
        log.matches("no Docker engine reachable").count(),
        1,
        "said once that it runs without container metadata:\n{log}"
    );
}

#[test]
fn cri_files_have_their_partial_lines_joined() {
    // A file named as the kubelet names /var/log/containers entries is read as CRI
    // wherever it lives, with pod, namespace and container from its name.
    let id: String = format!("{:x}", std::process::id())
        .chars()
        .chain(std::iter::repeat('c'))
        .take(64)
        .collect();
    let pod = unique("skein-e2e");
    let logs = tempfile::tempdir().unwrap();
    let path = logs.path().join(format!("{pod}_shop_cart-{id}.log"));
    append(
        &path,
        [
            "2026-11-25T10:00:00.000000001Z stdout P first half ".to_string(),
            "2026-11-25T10:00:00.000000002Z stderr F WARN on stderr".to_string(),
            "2026-11-25T10:00:00.000000003Z stdout F second half".to_string(),
            r#"2026-11-25T10:00:00.000000004Z stdout F {"level":"error","msg":"json in cri","code":7}"#
                .to_string(),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let glob = path.display().to_string();
    let _agent = AgentProc::start(
        &server.url,
        &dir.path().join("agent"),
        &["--no-docker", "--path", &glob, "--batch-wait-ms", "100"],
    );
    let q = format!("container_id:{id}");
    assert_eq!(server.wait_at_least(&q, 3, Duration::from_secs(20)), 3);
    let records = server.all(&q);
    let msgs: Vec<(&str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["stream"].as_str().unwrap(),
                r["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        msgs,
        [
            ("stdout", "first half second half"),
            ("stderr", "WARN on stderr"),
            ("stdout", "json in cri"),
        ]
    );
    assert_eq!(records[0]["@timestamp"], "2026-11-25T10:00:00.000000001Z");
    assert_eq!(records[0]["container_id"], id.as_str());
    assert_eq!(records[0]["container"], format!("{pod}/cart"));
    assert_eq!(records[0]["labels"]["io.kubernetes.pod.namespace"], "shop");
    assert_eq!(records[0]["labels"]["io.kubernetes.pod.name"], pod.as_str());
    assert_eq!(records[1]["level"], "warn");
    assert_eq!(records[2]["fields"]["code"], 7);
}

#[test]
fn an_outage_fills_the_spool_to_its_cap_then_reading_waits() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let port = free_port();
    let metrics_port = free_port();
    let server_url = format!("http://127.0.0.1:{port}");
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let glob = format!("{}/*.log", logs.display());
    let metrics_listen = format!("127.0.0.1:{metrics_port}");
    let cap = 200_000u64;
    let agent = AgentProc::start(
        &server_url,
        &dir.path().join("agent"),
        &[
            "--no-docker",
            "--path",
            &glob,
            "--metrics-listen",
            &metrics_listen,
            "--spool-max-bytes",
            &cap.to_string(),
            "--batch-bytes",
            "65536",
            "--batch-wait-ms",
            "50",
        ],
    );
    // About 6 MB of varied text: far more than the cap even compressed.
    let n = 40_000u32;
    let lines = (1..=n).map(|i| {
        format!(
            "{:x} {:x} {:x} outage line-{i}",
            (i as u64).wrapping_mul(0x9e3779b97f4a7c15),
            (i as u64).wrapping_mul(0xc2b2ae3d27d4eb4f),
            (i as u64).wrapping_mul(0x165667b19e3779f9)
        )
    });
    append(&logs.join("big.log"), lines);

    // Reading stops at the cap: the spool stays bounded and the rest waits on disk.
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&metrics_url, "skein_agent_spool_bytes") < cap as f64 / 2.0 {
        assert!(
            Instant::now() < deadline,
            "the spool never filled:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let spooled = metric(&metrics_url, "skein_agent_spool_bytes");
    let lag = metric(&metrics_url, "skein_agent_file_lag_bytes");
    let on_disk: u64 = fs::read_dir(dir.path().join("agent/spool"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        on_disk < cap + 200_000,
        "spool on disk {on_disk} bytes, cap {cap}"
    );
    assert!(spooled >= cap as f64 / 2.0 && spooled < (cap + 200_000) as f64);
    assert!(lag > 1_000_000.0, "reading paused with {lag} bytes unread");
    assert!(agent.log_text().contains("spool is full"));

    // The server comes: everything arrives, in order, once.
    let server = Server::start_port(
        &dir.path().join("data"),
        port,
        &["--commit-interval-ms", "100"],
    );
    let got = server.wait_at_least("container:big", n as u64, Duration::from_secs(60));
    assert_eq!(got, n as u64, "agent log:\n{}", agent.log_text());
    let records = server.all("container:big");
    assert_once(&records, n, "after the outage");
    let seqs: Vec<u64> = records
        .iter()
        .map(|r| r["_seq"].as_u64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "shipped in file order"
    );
}

#[test]
fn up_with_demo_populates_the_server_from_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("up.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(["up", "--demo", "--no-docker", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let url = format!("http://127.0.0.1:{port}");
    let total = |q: &str| -> u64 {
        common::client()
            .get(format!("{url}/api/v1/search"))
            .query(&[("q", q), ("limit", "0")])
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .and_then(|v| v["total"].as_u64())
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while total("container:demo-payments-1") < 450 {
        assert!(
            Instant::now() < deadline,
            "demo history did not arrive:\n{}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = total("*");
    assert!(
        before >= 4 * 450,
        "four demo containers backfilled, got {before}"
    );
    assert!(total("labels.com.docker.compose.service:orders") >= 450);
    // And it keeps going, live.
    std::thread::sleep(Duration::from_secs(2));
    assert!(total("*") > before, "demo lines keep arriving");
    let guard = Kill(&mut child);
    unsafe {
        libc::kill(guard.0.id() as i32, libc::SIGTERM);
    }
    let status = guard.0.wait().unwrap();
    assert!(status.success(), "skein up exits cleanly on SIGTERM");
}

/// A batch the server refuses for good (here 413: larger than its `--max-body-bytes`)
/// goes to the agent's quarantine with the reason, and the lines after it still arrive.
#[test]
fn a_batch_refused_for_good_is_quarantined_and_the_source_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--max-body-bytes", "3000"]);
    let log = dir.path().join("app.log");
    // Incompressible lines, written at once: one batch far over 3,000 bytes.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<String> = (0..40)
        .map(|i| {
            let mut s = format!("noise-{i} ");
            for _ in 0..40 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s += &format!("{x:016x}");
            }
            s
        })
        .collect();
    append(&log, noise);
    let state = dir.path().join("agent");
    let glob = log.display().to_string();
    let agent = AgentProc::start(
        &server.url,
        &state,
        &["--no-docker", "--path", &glob, "--batch-wait-ms", "100"],
    );
    let quarantine = state.join("quarantine");
    let deadline = Instant::now() + Duration::from_secs(30);
    let reason = loop {
        let found = fs::read_dir(&quarantine).ok().and_then(|d| {
            d.flatten()
                .find(|e| e.file_name().to_string_lossy().ends_with(".reason.txt"))
        });
        if let Some(f) = found {
            break fs::read_to_string(f.path()).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "nothing quarantined:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(reason.contains("413"), "{reason}");
    // Small batches after it arrive.
    for i in 1..=5 {
        append(&log, [format!("after line-{i}")]);
        std::thread::sleep(Duration::from_millis(300));
    }
    let found = server.wait_at_least("after", 5, Duration::from_secs(30));
    assert_eq!(found, 5, "{}", agent.log_text());
    assert_eq!(server.search(&[("q", "noise"), ("limit", "0")])["total"], 0);
    assert!(
        agent.log_text().contains("refused batch"),
        "{}",
        agent.log_text()
    );
    let body = fs::read_dir(&quarantine)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".batch.zst"))
        .unwrap();
    let text = zstd::decode_all(&fs::read(body.path()).unwrap()[..]).unwrap();
    assert!(String::from_utf8_lossy(&text).contains("noise-39"));
}

/// A file rotated in and deleted while the agent could not run (stopped with SIGSTOP)
/// cannot be read by anyone; the agent says so: a warning naming the path, and the
/// loss on `/metrics`. Everything around it arrives once.
#[test]
fn a_file_deleted_before_the_agent_could_open_it_is_reported_not_silent() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let metrics_port = free_port();
    let metrics_url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let glob = format!("{}/*.log", logs.display());
    let agent = AgentProc::start(
        &server.url,
        &dir.path().join("agent"),
        &[
            "--no-docker",
            "--path",
            &glob,
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
            "--batch-wait-ms",
            "100",
        ],
    );
    // Lines of one width, so every file of 100 lines has the same size.
    let lines = |r: std::ops::RangeInclusive<u32>| r.map(|i| format!("app line-{i:04}"));
    let app = logs.join("app.log");
    let rotated = logs.join("app.log.1");
    append(&app, lines(1..=100));
    assert_eq!(
        server.wait_at_least("container:app", 100, Duration::from_secs(20)),
        100
    );

    agent.pause(true);
    fs::rename(&app, &rotated).unwrap();
    append(&app, lines(101..=200));
    // The second rotation replaces app.log.1 (the file the agent holds open lives on
    // unnamed), and the file in between is deleted: nothing ever opened it.
    fs::rename(&app, &rotated).unwrap();
    append(&app, lines(201..=300));
    let deleted = fs::metadata(&rotated).unwrap().len();
    fs::remove_file(&rotated).unwrap();
    agent.pause(false);

    assert_eq!(
        server.wait_at_least("container:app", 200, Duration::from_secs(20)),
        200
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&metrics_url, "skein_agent_losses_total{kind=\"unopened\"}") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "no loss counted:\n{}",
            agent.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        metric(&metrics_url, "skein_agent_losses_total{kind=\"unopened\"}"),
        1.0
    );
    // Nothing of the deleted file was ever seen: its size is taken to be that of the
    // file before it, which the test made equal.
    assert_eq!(
        metric(&metrics_url, "skein_agent_bytes_lost_total"),
        deleted as f64
    );
    let log = agent.log_text();
    let warning = log
        .lines()
        .find(|l| l.contains("WARN") && l.contains("before the agent could open them"))
        .unwrap_or_else(|| panic!("no warning:\n{log}"));
    assert!(
        warning.contains(&app.display().to_string()) && warning.contains("1 file(s)"),
        "{warning}"
    );
    assert!(
        warning.contains(&format!("about {deleted} bytes")),
        "{warning}"
    );

    std::thread::sleep(Duration::from_millis(500));
    let records = server.all("container:app");
    let mut got: Vec<u32> = records
        .iter()
        .map(|r| {
            let m = r["message"].as_str().unwrap();
            m.rsplit('-').next().unwrap().parse().unwrap()
        })
        .collect();
    got.sort_unstable();
    let want: Vec<u32> = (1..=100).chain(201..=300).collect();
    assert_eq!(got, want, "the files around the lost one arrive once each");
}

/// A line over `--max-line-bytes` (here the default, 1 MiB) is one record: its first
/// bytes, marked as cut with its original length, searchable by the mark; the lines
/// around it arrive whole.
#[test]
fn a_line_over_the_limit_is_one_record_marked_with_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let glob = format!("{}/*.log", logs.display());
    let agent = AgentProc::start(
        &server.url,
        &dir.path().join("agent"),
        &["--no-docker", "--path", &glob, "--batch-wait-ms", "100"],
    );
    let path = logs.join("huge.log");
    let huge = 10 << 20;
    append(&path, ["before the long line".to_string()]);
    // Written over several writes, as a program printing a huge value would.
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    for _ in 0..10 {
        f.write_all(&vec![b'z'; huge / 10]).unwrap();
    }
    f.write_all(b"\nafter the long line\n").unwrap();

    let got = server.wait_at_least("container:huge", 3, Duration::from_secs(60));
    assert_eq!(got, 3, "{}", agent.log_text());
    std::thread::sleep(Duration::from_millis(500));
    let mut records = server.all("container:huge");
    records.sort_by_key(|r| r["_seq"].as_u64());
    common::assert_long_line_record(&records, "z", 1 << 20, huge);
    for r in [&records[0], &records[2]] {
        assert!(
            r["fields"].get("skein_truncated_from_bytes").is_none(),
            "{r}"
        );
    }
    // Found by the mark, as a Kibana or CLI user would look for it.
    for q in [
        "skein_truncated_from_bytes:*",
        "skein_truncated_from_bytes:>10000000",
    ] {
        let found = server.search(&[("q", q), ("limit", "0")]);
        assert_eq!(found["total"], 1, "{q}: {found}");
    }
}

/// `path` spelled relative to the current directory: up to the root, then down.
fn relative_to_cwd(path: &Path) -> std::path::PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let mut rel = std::path::PathBuf::new();
    for c in cwd.components() {
        if matches!(c, std::path::Component::Normal(_)) {
            rel.push("..");
        }
    }
    rel.join(path.strip_prefix("/").unwrap())
}

/// A file found through a relative `--path` glob is read when a notification says it
/// changed, not at the next timer poll: the watcher names changed files under their
/// absolute directory, and the agent once kept such a source under its relative one,
/// so it read a line written after a quiet spell only at the next full poll (1 s by
/// default). With the poll an hour away, the second line arrives only by notification.
#[test]
fn a_relative_path_glob_is_read_on_file_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let glob = relative_to_cwd(&logs).join("*.log");
    assert!(glob.is_relative());
    let app = logs.join("app.log");
    append(&app, numbered("app", 1..=1));
    let agent = AgentProc::start(
        &server.url,
        &dir.path().join("agent"),
        &[
            "--no-docker",
            "--path",
            glob.to_str().unwrap(),
            "--poll-interval-ms",
            "3600000",
        ],
    );
    assert_eq!(
        server.wait_at_least("container:app", 1, Duration::from_secs(30)),
        1,
        "{}",
        agent.log_text()
    );
    // A file that just had data is polled every 50 ms for 3 s whatever notifications
    // say; past that, only a notification (or the hourly poll) has it read again.
    std::thread::sleep(Duration::from_secs(4));
    append(&app, numbered("app", 2..=2));
    assert_eq!(
        server.wait_at_least("container:app", 2, Duration::from_secs(60)),
        2,
        "the line written after a quiet spell was not read:\n{}",
        agent.log_text()
    );
    assert_once(&server.all("container:app"), 2, "relative glob");
}
