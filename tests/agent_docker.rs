//! The agent end to end: a real Docker engine, real containers, the real `skein agent`
//! and `skein server` processes. Each test labels its containers and runs its agent
//! with `--include-label` for that label, so tests running side by side do not read
//! each other's containers.

mod common;

use common::docker::{self, Cleanup, IMAGE};
use common::{unique, AgentProc, Server};
use serde_json::Value;
use skein_model::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

struct Setup {
    _dir: tempfile::TempDir,
    server: Server,
    agent: AgentProc,
    label: String,
    cleanup: Cleanup,
}

/// A server, and an agent following only containers labelled for this test.
fn setup(agent_args: &[&str]) -> Setup {
    docker::ready();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let label = unique("t");
    let include = format!("skein.test={label}");
    let mut args = vec![
        "--include-label",
        include.as_str(),
        "--batch-wait-ms",
        "200",
    ];
    args.extend_from_slice(agent_args);
    let agent = AgentProc::start(&server.url, &dir.path().join("agent"), &args);
    Setup {
        _dir: dir,
        server,
        agent,
        label,
        cleanup: Cleanup(Vec::new()),
    }
}

impl Setup {
    /// `docker run -d` of a busybox shell script; returns the container name.
    fn run(&mut self, script: &str, extra: &[&str]) -> String {
        let name = unique("skein-e2e");
        self.cleanup.0.push(name.clone());
        let label = format!("skein.test={}", self.label);
        let mut args = vec!["run", "-d", "--name", &name, "--label", &label];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
        docker::run(&args);
        name
    }

    /// Every record of container `name`, oldest first.
    fn records(&self, name: &str) -> Vec<Value> {
        self.server.all(&format!("container:{name}"))
    }

    fn wait_for(&self, name: &str, want: u64, within: Duration) -> u64 {
        self.server
            .wait_at_least(&format!("container:{name}"), want, within)
    }

    /// Waits for lines `1..=n` of container `name` and checks each arrived once; on
    /// failure says which are missing or repeated and what the agent warned about.
    fn expect_sequence(&self, name: &str, n: usize, what: &str) {
        let got = self.wait_for(name, n as u64, Duration::from_secs(60));
        let warnings: String = self
            .agent
            .log_text()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n");
        if got != n as u64 {
            let keep = std::env::temp_dir().join(format!("{name}-agent.log"));
            let _ = std::fs::copy(&self.agent.log, &keep);
            eprintln!("agent log kept in {}", keep.display());
        }
        let records = self.records(name);
        let mut around = String::new();
        if got != n as u64 {
            // Where the gap is in the source: a jump in _seq means bytes were skipped,
            // contiguous _seq means the lines never reached the file.
            let mut prev: Option<&Value> = None;
            for r in &records {
                let num = |v: &Value| -> u64 {
                    v["message"]
                        .as_str()
                        .unwrap()
                        .rsplit('-')
                        .next()
                        .unwrap()
                        .trim()
                        .parse()
                        .unwrap_or(0)
                };
                if let Some(p) = prev {
                    if num(r) != num(p) + 1 {
                        around.push_str(&format!(
                            "\ngap after {} (seq {}, {}) to {} (seq {}, {})",
                            num(p),
                            p["_seq"],
                            p["@timestamp"],
                            num(r),
                            r["_seq"],
                            r["@timestamp"]
                        ));
                    }
                }
                prev = Some(r);
            }
        }
        let what = format!("{what} ({got} records{around}; agent warnings:\n{warnings})");
        assert_sequence(&records, n, &what);
    }
}

/// Lines of a container that prints `0..n` as `{prefix}-{i:08}`, checked exactly once.
fn assert_sequence(records: &[Value], n: usize, what: &str) {
    let numbers = records.iter().map(|r| {
        r["message"]
            .as_str()
            .unwrap()
            .rsplit('-')
            .next()
            .and_then(|s| s.split_whitespace().next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{what}: unexpected record {r}"))
    });
    common::assert_once_each(numbers, n, what);
}

#[test]
fn container_lines_arrive_once_with_metadata_and_times() {
    let mut s = setup(&["--multiline-start", r"^\S", "--multiline-timeout-ms", "300"]);
    // Started after the agent: picked up from the Docker event.
    let script = r#"
        sleep 1
        echo '{"level":"warn","msg":"slow query","took_ms":1830}'
        echo 'INFO plain line one'
        echo 'ERROR disk failing on stderr' >&2
        head -c 102400 /dev/zero | tr '\0' x; echo
        printf 'Exception in thread "main" java.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)\n\tat d.E.f(E.java:2)\n'
        for i in $(seq 1 200); do echo "{\"level\":\"info\",\"msg\":\"line $i\",\"i\":$i}"; done
        echo 'level=debug msg="logfmt done" took=3ms'
    "#;
    let name = s.run(
        script,
        &[
            "--label",
            "com.docker.compose.service=web",
            "--label",
            "tier=front",
        ],
    );
    docker::wait(&name);
    let id = docker::id(&name);
    let want = 1 + 1 + 1 + 1 + 1 + 200 + 1;
    let got = s.wait_for(&name, want, Duration::from_secs(30));
    assert_eq!(got, want, "agent log:\n{}", s.agent.log_text());
    let records = s.records(&name);
    assert_eq!(records.len() as u64, want);

    for r in &records {
        assert_eq!(r["container"], name.as_str());
        assert_eq!(r["container_id"], id.as_str());
        assert_eq!(r["image"], IMAGE);
        assert_eq!(r["host"], "test-node");
        assert_eq!(r["labels"]["com.docker.compose.service"], "web");
        assert_eq!(r["labels"]["tier"], "front");
    }
    let by_msg = |m: &str| {
        records
            .iter()
            .find(|r| r["message"].as_str().unwrap().starts_with(m))
            .unwrap_or_else(|| panic!("no record {m:?}"))
    };
    let json = by_msg("slow query");
    assert_eq!(json["level"], "warn");
    assert_eq!(json["fields"]["took_ms"], 1830);
    assert_eq!(by_msg("INFO plain line one")["level"], "info");
    let err = by_msg("ERROR disk failing");
    assert_eq!(err["stream"], "stderr");
    assert_eq!(err["level"], "error");
    let long = by_msg("xxxx");
    assert_eq!(
        long["message"].as_str().unwrap().len(),
        102400,
        "split lines are joined"
    );
    let trace = by_msg("Exception in thread");
    assert_eq!(
        trace["message"].as_str().unwrap().lines().count(),
        3,
        "the stack trace is one record"
    );
    let logfmt = by_msg("logfmt done");
    assert_eq!(logfmt["level"], "debug");
    assert_eq!(logfmt["fields"]["took"], "3ms");

    // Times are the json-file times to the nanosecond, as `docker logs -t` shows them.
    let docker_times: BTreeMap<String, i64> = docker::logs(&name)
        .into_iter()
        .filter(|(_, _, text)| text.starts_with("{\"level\":\"info\",\"msg\":\"line "))
        .map(|(ts, _, text)| (text, Timestamp::parse_rfc3339(&ts).unwrap().0))
        .collect();
    assert_eq!(docker_times.len(), 200);
    for r in records.iter().filter(|r| r["fields"]["i"].is_number()) {
        let i = r["fields"]["i"].as_u64().unwrap();
        let text = format!("{{\"level\":\"info\",\"msg\":\"line {i}\",\"i\":{i}}}");
        let t = Timestamp::parse_rfc3339(r["@timestamp"].as_str().unwrap()).unwrap();
        assert_eq!(t.0, docker_times[&text], "time of line {i}");
        assert_eq!(r["_source_id"], format!("test-node/{}/stdout", &id[..12]));
    }
}

#[test]
fn many_rotations_while_the_container_logs_faster_than_shipping() {
    let mut s = setup(&[]);
    let n = 100_000;
    // Unpaced, with max-file=2: dockerd deletes each rotated file as soon as the next
    // 100 KB are written, a few milliseconds after renaming it, about 140 times.
    let script = format!(
        "sleep 1; seq 1 {n} | awk '{{printf \"rot padding padding padding padding padding padding padding padding-%08d\\n\", $1}}'"
    );
    let name = s.run(
        &script,
        &["--log-opt", "max-size=100k", "--log-opt", "max-file=2"],
    );
    docker::wait(&name);
    // The container is done in seconds; a debug build's server on a loaded machine
    // takes tens of seconds more to index it all.
    s.wait_for(&name, n as u64, Duration::from_secs(180));
    s.expect_sequence(&name, n, "rotated 100k x2");
    // The files really rotated (and Docker deleted the oldest) while the agent read.
    let dir = format!("/var/lib/docker/containers/{}", docker::id(&name));
    let rotated = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("-json.log.")
        })
        .count();
    assert_eq!(
        rotated, 1,
        "max-file=2 keeps the live file and one rotated one"
    );
}

/// A 10 MiB line, which dockerd writes as 640 partial entries of 16 KiB, is one record
/// of its first `--max-line-bytes`, marked as cut with its original length; the lines
/// around it arrive whole.
#[test]
fn a_line_docker_split_past_the_limit_is_one_record_marked_with_its_length() {
    let limit = 2 << 20;
    let mut s = setup(&["--max-line-bytes", &limit.to_string()]);
    let huge = 10 << 20;
    let script = format!(
        "sleep 1; echo 'before the long line'; head -c {huge} /dev/zero | tr '\\0' x; echo; \
         echo 'after the long line'"
    );
    let name = s.run(&script, &[]);
    docker::wait(&name);
    assert_eq!(s.wait_for(&name, 3, Duration::from_secs(60)), 3);
    std::thread::sleep(Duration::from_millis(500));
    let records = s.records(&name);
    common::assert_long_line_record(&records, "x", limit, huge);
    assert_eq!(records[1]["stream"], "stdout");
    for r in [&records[0], &records[2]] {
        assert!(
            r["fields"].get("skein_truncated_from_bytes").is_none(),
            "{r}"
        );
    }
}

#[test]
fn agent_killed_mid_stream_loses_and_repeats_nothing() {
    let mut s = setup(&[]);
    let n = 30_000;
    let script = format!(
        "sleep 1; i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo \"kill line-$i\"; \
         if [ $((i % 2000)) -eq 0 ]; then sleep 0.2; fi; done"
    );
    let name = s.run(
        &script,
        &["--log-opt", "max-size=10m", "--log-opt", "max-file=10"],
    );
    for pause in [1500, 1200, 900] {
        std::thread::sleep(Duration::from_millis(pause));
        s.agent.kill9();
        std::thread::sleep(Duration::from_millis(300));
        s.agent.restart();
    }
    docker::wait(&name);
    s.expect_sequence(&name, n, "after three SIGKILLs");
    // The server's dedupe is the second guard, not the first: a restart resumes
    // from the checkpoint, so at most the batch in flight at the kill is resent.
    let metrics = common::client()
        .get(format!("{}/metrics", s.server.url))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let dupes: f64 = metrics
        .lines()
        .find(|l| l.starts_with("skein_records_duplicate_total"))
        .and_then(|l| l.split_whitespace().last())
        .map_or(0.0, |v| v.parse().unwrap());
    // At most the batch in flight at each kill (a batch is at most 1 MiB, about
    // 4,000 of these records); re-reading from the start would resend tens of thousands.
    assert!(dupes <= 3.0 * 5_000.0, "duplicates sent: {dupes}");
}

#[test]
fn server_outage_is_spooled_and_delivered_in_order() {
    let mut s = setup(&[]);
    let n = 20_000;
    let script = format!(
        "sleep 1; i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo \"outage line-$i\"; \
         if [ $((i % 2000)) -eq 0 ]; then sleep 0.3; fi; done"
    );
    let name = s.run(&script, &[]);
    std::thread::sleep(Duration::from_millis(1500));
    s.server.kill9();
    std::thread::sleep(Duration::from_secs(3));
    s.server.respawn();
    docker::wait(&name);
    s.expect_sequence(&name, n, "across a server outage");
    assert!(
        s.agent.log_text().contains("not delivered"),
        "the agent said the server was away"
    );
}

#[test]
fn a_removed_container_is_read_to_the_end() {
    let mut s = setup(&[]);
    let n = 5_000;
    let script = format!("echo 'rm line-1'; sleep 2; seq 2 {n} | awk '{{print \"rm line-\" $1}}'");
    let name = s.run(&script, &[]);
    // The agent has found the container once its first line is in.
    assert_eq!(s.wait_for(&name, 1, Duration::from_secs(20)), 1);
    s.agent.pause(true);
    docker::wait(&name);
    docker::rm(&name);
    s.agent.pause(false);
    s.expect_sequence(&name, n, "removed while unread");
}

#[test]
fn containers_running_before_the_agent_are_read_from_the_start() {
    docker::ready();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let label = unique("t");
    let name = unique("skein-e2e-early");
    let _cleanup = Cleanup(vec![name.clone()]);
    docker::run(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("skein.test={label}"),
        IMAGE,
        "sh",
        "-c",
        "seq 1 300 | awk '{print \"early line-\" $1}'; sleep 60",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let include = format!("skein.test={label}");
    let agent = AgentProc::start(
        &server.url,
        &dir.path().join("agent"),
        &["--include-label", &include],
    );
    let got = server.wait_at_least(&format!("container:{name}"), 300, Duration::from_secs(20));
    assert_eq!(got, 300, "agent log:\n{}", agent.log_text());
    assert_sequence(
        &server.all(&format!("container:{name}")),
        300,
        "running before",
    );
}
