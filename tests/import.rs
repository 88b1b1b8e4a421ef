//! `skein import` against a real server: a json-file set with rotated files, a CRI file,
//! NDJSON records and a Loghub plain file (counts and times checked by searching), run
//! twice (nothing stored twice), interrupted with SIGINT mid-way and run again (every
//! record once), and files the agent already shipped (nothing added).

mod common;

use common::{AgentProc, Server};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ID: &str = "5e1f7a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7";

fn skein() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skein"))
}

/// Runs `skein import --server URL ARGS…` to the end.
fn import(server: &Server, args: &[&str]) -> Output {
    let out = skein()
        .args(["import", "--server", &server.url])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import {args:?} failed:\n{err}");
    out
}

/// The "N stored, M the server held already" of an import's summary.
fn stored_and_held(out: &Output) -> (u64, u64) {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let number_before = |what: &str| -> u64 {
        let i = err
            .find(what)
            .unwrap_or_else(|| panic!("no {what:?} in:\n{err}"));
        let head = err[..i].trim_end();
        let n: String = head
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .filter(|c| *c != ',')
            .collect();
        n.parse().unwrap()
    };
    (
        number_before(" stored,"),
        number_before(" the server held already"),
    )
}

fn json_file_line(log: &str, stream: &str, time: &str) -> String {
    format!(
        "{}\n",
        serde_json::json!({"log": log, "stream": stream, "time": time})
    )
}

/// A json-file set of three files (`.2`, `.1`, live) for container `web`; returns the
/// expected (message, stream, time) of every record.
fn write_json_file_set(root: &Path, per_file: usize) -> Vec<(String, String, String)> {
    let dir = root.join(ID);
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("config.v2.json"),
        r#"{"Name":"/web","Config":{"Image":"shop/web:1.4","Labels":{"com.docker.compose.service":"web"}}}"#,
    )
    .unwrap();
    let mut want = Vec::new();
    let mut n = 0;
    for suffix in [".2", ".1", ""] {
        let mut text = String::new();
        for _ in 0..per_file {
            n += 1;
            let time = format!("2026-11-20T10:{:02}:{:02}.{n:09}Z", n / 60 % 60, n % 60);
            let stream = if n % 7 == 0 { "stderr" } else { "stdout" };
            let msg = format!("web line-{n}");
            text.push_str(&json_file_line(&format!("{msg}\n"), stream, &time));
            want.push((msg, stream.to_string(), time));
        }
        // A line Docker split into two entries (a partial one, then its end).
        n += 1;
        let time = format!("2026-11-20T11:00:{:02}.{n:09}Z", n % 60);
        text.push_str(&json_file_line("web split ", "stdout", &time));
        text.push_str(&json_file_line(&format!("line-{n}\n"), "stdout", &time));
        want.push((format!("web split line-{n}"), "stdout".into(), time));
        fs::write(dir.join(format!("{ID}-json.log{suffix}")), text).unwrap();
    }
    want
}

fn write_cri(path: &Path, n: usize) -> Vec<(String, String)> {
    let mut text = String::new();
    let mut want = Vec::new();
    for i in 1..=n {
        let time = format!("2026-11-21T08:00:{:02}.{i:09}Z", i % 60);
        if i % 10 == 0 {
            text.push_str(&format!("{time} stdout P cri part "));
            text.push_str(&format!("\n{time} stdout F line-{i}\n"));
            want.push((format!("cri part line-{i}"), time));
        } else {
            text.push_str(&format!("{time} stderr F cri line-{i}\n"));
            want.push((format!("cri line-{i}"), time));
        }
    }
    fs::write(path, text).unwrap();
    want
}

/// Every record of `q`, by message.
fn by_message(server: &Server, q: &str) -> BTreeMap<String, Value> {
    let all = server.all(q);
    let mut out = BTreeMap::new();
    for r in all {
        let m = r["message"].as_str().unwrap().to_string();
        assert!(out.insert(m.clone(), r).is_none(), "{m:?} stored twice");
    }
    out
}

fn loghub_sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/loghub/OpenSSH_2k.log")
}

#[test]
fn imports_json_file_sets_cri_ndjson_and_plain_files_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let web = write_json_file_set(&logs, 400);
    let cri = write_cri(&logs.join("node-app.log"), 300);
    fs::write(
        logs.join("export.ndjson"),
        "{\"@timestamp\":\"2026-11-19T09:00:00Z\",\"host\":\"old-node\",\"container\":\"billing\",\"message\":\"exported one\",\"_source_id\":\"old-node/billing/stdout\",\"_seq\":5}\n{\"@timestamp\":\"2026-11-19T09:00:01Z\",\"host\":\"old-node\",\"container\":\"billing\",\"message\":\"exported two\",\"_source_id\":\"old-node/billing/stdout\",\"_seq\":6}\n",
    )
    .unwrap();
    let sshd = dir.path().join("sshd");
    fs::create_dir(&sshd).unwrap();
    fs::copy(loghub_sample(), sshd.join("OpenSSH_2k.log")).unwrap();
    let sample = fs::read_to_string(loghub_sample()).unwrap();
    let failed = sample
        .lines()
        .filter(|l| l.contains("Failed password"))
        .count() as u64;

    let logs_arg = logs.display().to_string();
    let sshd_arg = sshd.display().to_string();
    let plain_args = [
        sshd_arg.as_str(),
        "--container",
        "sshd",
        "--label",
        "source=loghub",
        "--year",
        "2015",
        "--timezone",
        "UTC",
        "--host",
        "labsz",
    ];
    let total = (web.len() + cri.len() + 2 + 2000) as u64;
    for run in 0..2 {
        let a = import(&server, &[&logs_arg, "--host", "node-1"]);
        let b = import(&server, &plain_args);
        let (stored_a, held_a) = stored_and_held(&a);
        let (stored_b, held_b) = stored_and_held(&b);
        if run == 0 {
            assert_eq!(stored_a, total - 2000);
            assert_eq!((stored_b, held_b), (2000, 0));
            let err = String::from_utf8_lossy(&a.stderr);
            assert!(err.contains("1 cri, 1 json-file, 1 ndjson"), "{err}");
        } else {
            // The second run sends everything again and the server keeps none of it.
            assert_eq!((stored_a, held_a), (0, total - 2000));
            assert_eq!((stored_b, held_b), (0, 2000));
        }
        server.wait_total("*", total);
    }
    // Nothing arrives late either.
    std::thread::sleep(Duration::from_millis(500));
    server.wait_total("*", total);

    // json-file: every line once, with its container, image, labels, stream and time;
    // the split line joined; positions run across the rotated files.
    let got = by_message(&server, "container:web");
    assert_eq!(got.len(), web.len());
    for (msg, stream, time) in &web {
        let r = &got[msg];
        assert_eq!(r["stream"], stream.as_str(), "{msg}");
        assert_eq!(r["@timestamp"].as_str().unwrap(), time_nanos(time), "{msg}");
        assert_eq!(r["image"], "shop/web:1.4");
        assert_eq!(r["labels"]["com.docker.compose.service"], "web");
        assert_eq!(r["host"], "node-1");
        assert_eq!(r["container_id"], ID);
    }
    let split = &got[&web.last().unwrap().0];
    let live_start: u64 = [".2", ".1"]
        .iter()
        .map(|s| {
            fs::metadata(logs.join(ID).join(format!("{ID}-json.log{s}")))
                .unwrap()
                .len()
        })
        .sum();
    assert!(split["_seq"].as_u64().unwrap() >= live_start);

    // CRI: partial lines joined, streams and times from the file.
    let got = by_message(&server, "container:\"node-app\"");
    assert_eq!(got.len(), cri.len());
    for (msg, time) in &cri {
        assert_eq!(got[msg]["@timestamp"].as_str().unwrap(), time_nanos(time));
    }
    // NDJSON records as they were, with their own identity (and --host's name).
    let got = by_message(&server, "container:billing");
    assert_eq!(got.len(), 2);
    assert_eq!(got["exported one"]["host"], "node-1");
    assert_eq!(got["exported one"]["_source_id"], "old-node/billing/stdout");
    assert_eq!(got["exported two"]["_seq"], 6);

    // Loghub sshd lines: all of them, timed by their syslog times in the year given.
    let q = "container:sshd AND labels.source:loghub AND host:labsz";
    server.wait_total(q, 2000);
    let first = server.search(&[("q", q), ("order", "asc"), ("limit", "1")]);
    let last = server.search(&[("q", q), ("limit", "1")]);
    assert_eq!(
        first["hits"][0]["@timestamp"],
        "2015-12-10T06:55:46.000000000Z"
    );
    assert!(first["hits"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping"));
    // The last line has no newline at the end of the file, and is read all the same.
    assert_eq!(
        last["hits"][0]["@timestamp"],
        "2015-12-10T11:04:45.000000000Z"
    );
    assert!(last["hits"][0]["message"]
        .as_str()
        .unwrap()
        .ends_with("port 52683 ssh2"));
    let phrase = "container:sshd AND \"Failed password\"";
    server.wait_total(phrase, failed);
    let in_hour = server.search(&[
        ("q", "container:sshd"),
        ("start", "2015-12-10T07:00:00Z"),
        ("end", "2015-12-10T07:59:59.999Z"),
        ("limit", "0"),
    ]);
    let want_in_hour = sample
        .lines()
        .filter(|l| l.starts_with("Dec 10 07:"))
        .count() as u64;
    assert_eq!(in_hour["total"].as_u64().unwrap(), want_in_hour);
}

/// `2026-11-20T10:00:01.000000007Z` as the server writes it (nine digits).
fn time_nanos(t: &str) -> String {
    skein_model::Timestamp::parse_rfc3339(t)
        .unwrap()
        .to_string()
}

fn gen_corpus(dir: &Path, lines: u64, containers: usize) {
    let st = skein()
        .args(["gen", "--out"])
        .arg(dir)
        .args([
            "--lines",
            &lines.to_string(),
            "--containers",
            &containers.to_string(),
            "--seed",
            "7",
        ])
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

/// The records the collector's whole-file reader makes of every json-file log under
/// `dir` (the import must store exactly these).
fn expected_records(dir: &Path) -> u64 {
    let mut n = 0;
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if !p.is_dir() {
            continue;
        }
        for f in fs::read_dir(&p).unwrap() {
            let f = f.unwrap().path();
            if f.to_str().unwrap().ends_with("-json.log") {
                let meta = skein_collector::SourceMeta::from_container_id("x", "y");
                n += skein_collector::records_from_json_file(
                    std::io::BufReader::new(fs::File::open(&f).unwrap()),
                    &meta,
                    Default::default(),
                )
                .count() as u64;
            }
        }
    }
    n
}

#[test]
fn sigint_stops_an_import_and_a_rerun_resumes_with_every_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    gen_corpus(&corpus, 60_000, 3);
    let want = expected_records(&corpus);
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    // The second round first resends what the first stored (all dropped), so it is
    // let go further before its interruption.
    for (round, wait_for) in [(0, 5_000u64), (1, 30_000)] {
        // Small batches make many requests, so the interruption lands mid-way.
        let log = dir.path().join(format!("import-{round}.log"));
        let mut child = skein()
            .args(["import", "--server", &server.url, "--host", "bench"])
            .arg(&corpus)
            .args([
                "--batch-bytes",
                "16384",
                "--jobs",
                "2",
                "--progress-every",
                "0.2",
            ])
            .stdin(Stdio::null())
            .stderr(fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let before = server.search(&[("q", "*"), ("limit", "0")])["total"]
            .as_u64()
            .unwrap();
        // Wait for this run to get some way (its progress lines count records).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let sent = text
                .lines()
                .filter_map(|l| l.strip_prefix("import: "))
                .filter_map(|l| l.split(", ").nth(1))
                .filter_map(|r| r.strip_suffix(" records"))
                .filter_map(|r| r.replace(',', "").parse::<u64>().ok())
                .next_back()
                .unwrap_or(0);
            if sent >= wait_for {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "import ended before it was interrupted:\n{text}"
            );
            assert!(
                Instant::now() < deadline,
                "import made no progress:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        let status = child.wait().unwrap();
        let text = fs::read_to_string(&log).unwrap();
        assert_eq!(status.code(), Some(130), "{text}");
        assert!(text.contains("interrupted after"), "{text}");
        assert!(text.contains("run the same command again"), "{text}");
        std::thread::sleep(Duration::from_millis(300));
        let after = server.search(&[("q", "*"), ("limit", "0")])["total"]
            .as_u64()
            .unwrap();
        assert!(
            after > before && after < want,
            "round {round}: {before} → {after} of {want}"
        );
    }
    // The third run goes to the end: every record once.
    let out = import(
        &server,
        &[
            corpus.to_str().unwrap(),
            "--host",
            "bench",
            "--batch-bytes",
            "16384",
        ],
    );
    let (stored, held) = stored_and_held(&out);
    assert_eq!(stored + held, want);
    assert!(held > 0);
    server.wait_total("*", want);
    let all = server.all("*");
    let ids: HashSet<(String, u64)> = all
        .iter()
        .map(|r| {
            (
                r["_source_id"].as_str().unwrap().to_string(),
                r["_seq"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(ids.len() as u64, want);
}

#[test]
fn importing_what_the_agent_already_shipped_adds_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    let web = write_json_file_set(&logs, 200);
    let plain = logs.join("app.log");
    let sample = fs::read_to_string(loghub_sample()).unwrap();
    let plain_lines: Vec<&str> = sample.lines().take(500).collect();
    fs::write(&plain, format!("{}\n", plain_lines.join("\n"))).unwrap();

    let json_glob = format!("{}/*/*-json.log", logs.display());
    let plain_glob = format!("{}/*.log", logs.display());
    let mut agent = AgentProc::start(
        &server.url,
        &dir.path().join("agent"),
        &[
            "--no-docker",
            "--path",
            &json_glob,
            "--path",
            &plain_glob,
            "--batch-wait-ms",
            "100",
        ],
    );
    let total = (web.len() + plain_lines.len()) as u64;
    server.wait_total_within("*", total, Duration::from_secs(60));
    agent.stop();

    // The agent's host name, so the delivery sources are the same.
    let out = import(
        &server,
        &[
            logs.to_str().unwrap(),
            "--host",
            "test-node",
            "--year",
            "2015",
        ],
    );
    assert_eq!(stored_and_held(&out), (0, total));
    std::thread::sleep(Duration::from_millis(500));
    server.wait_total("*", total);

    // Lines written after the agent stopped are imported, and only they.
    let more = [
        "Dec 10 12:00:00 LabSZ sshd[1]: one more",
        "Dec 10 12:00:01 LabSZ sshd[1]: and another",
    ];
    let mut text = fs::read_to_string(&plain).unwrap();
    text.push_str(&format!("{}\n", more.join("\n")));
    fs::write(&plain, text).unwrap();
    let out = import(
        &server,
        &[
            plain.to_str().unwrap(),
            "--host",
            "test-node",
            "--year",
            "2015",
        ],
    );
    assert_eq!(stored_and_held(&out), (2, plain_lines.len() as u64));
    server.wait_total("*", total + 2);
    let r = server.search(&[("q", "\"and another\""), ("limit", "1")]);
    assert_eq!(r["hits"][0]["container"], "app");
    assert_eq!(
        r["hits"][0]["@timestamp"],
        time_nanos(&local_2015("12-10T12:00:01"))
    );
}

/// A time of 2015 in this machine's local zone, as RFC 3339 in UTC.
fn local_2015(md_hms: &str) -> String {
    use chrono::TimeZone;
    let n = chrono::NaiveDateTime::parse_from_str(&format!("2015-{md_hms}"), "%Y-%m-%dT%H:%M:%S")
        .unwrap();
    chrono::Local
        .from_local_datetime(&n)
        .earliest()
        .unwrap()
        .to_utc()
        .to_rfc3339()
}
