//! `skein logs` end to end: a real Docker engine and containers, real `skein agent`
//! and `skein server` processes, and the real `skein logs` reading from them. Lines a
//! container prints must come out of `skein logs -f` in order and exactly once across
//! a json-file rotation, an agent kill and a server kill; two hosts interleave by time;
//! the pinned view is checked on a real terminal through tmux.

mod common;

use common::docker::{self, Cleanup, IMAGE};
use common::{unique, AgentProc, Server};
use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `skein logs` whose stdout lines are collected as they come.
struct Logs {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    stderr: std::path::PathBuf,
}

impl Logs {
    fn start(dir: &Path, args: &[&str]) -> Logs {
        let stderr = dir.join(format!("{}.stderr", unique("logs")));
        let mut child = Command::new(env!("CARGO_BIN_EXE_skein"))
            .arg("logs")
            .args(args)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("skein runs");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines() {
                match l {
                    Ok(l) => sink.lock().unwrap().push(l),
                    Err(_) => return,
                }
            }
        });
        Logs {
            child,
            lines,
            stderr,
        }
    }

    /// Waits until `n` lines arrived (or `within` passed) and returns them.
    fn wait_lines(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.lines.lock().unwrap().clone();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Says where two sequences first differ, for a readable failure.
fn first_difference(got: &[String], want: &[String]) -> String {
    let i = got
        .iter()
        .zip(want)
        .position(|(a, b)| a != b)
        .unwrap_or(got.len().min(want.len()));
    format!(
        "{} lines, want {}; first difference at {i}: got {:?}, want {:?}",
        got.len(),
        want.len(),
        got.get(i.saturating_sub(1)..(i + 2).min(got.len())),
        want.get(i.saturating_sub(1)..(i + 2).min(want.len()))
    )
}

fn run_container(label: &str, cleanup: &mut Cleanup, script: &str, extra: &[&str]) -> String {
    let name = unique("skein-logs");
    cleanup.0.push(name.clone());
    let label = format!("skein.test={label}");
    let mut args = vec!["run", "-d", "--name", &name, "--label", &label];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
    docker::run(&args);
    name
}

#[test]
fn follow_is_exact_across_rotation_agent_kill_and_server_kill() {
    docker::ready();
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "200"]);
    let label = unique("t");
    let include = format!("skein.test={label}");
    let mut agent = AgentProc::start(
        &server.url,
        &dir.path().join("agent"),
        &["--include-label", &include, "--batch-wait-ms", "100"],
    );
    let mut cleanup = Cleanup(Vec::new());
    let n = 1500;
    // About 80 bytes per json-file line: a 16 KB file holds about 200 lines, so the
    // log rotates several times while it is followed.
    let script = format!(
        "sleep 1; i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo \"follow line-$i\"; \
         if [ $((i % 50)) -eq 0 ]; then sleep 0.1; fi; done"
    );
    let name = run_container(
        &label,
        &mut cleanup,
        &script,
        &["--log-opt", "max-size=16k", "--log-opt", "max-file=20"],
    );
    // The container must be known before `skein logs` accepts its name.
    server.wait_at_least(&format!("container:\"{name}\""), 1, Duration::from_secs(20));
    let logs = Logs::start(
        dir.path(),
        &[&name, "-f", "--output", "raw", "--server", &server.url],
    );
    logs.wait_lines(200, Duration::from_secs(20));
    agent.kill9();
    std::thread::sleep(Duration::from_millis(500));
    agent.restart();
    logs.wait_lines(600, Duration::from_secs(20));
    server.kill9();
    std::thread::sleep(Duration::from_millis(700));
    server.respawn();
    docker::wait(&name);
    let want: Vec<String> = (1..=n).map(|i| format!("follow line-{i}")).collect();
    let got = logs.wait_lines(n, Duration::from_secs(60));
    // Anything extra would show up shortly after the last line.
    std::thread::sleep(Duration::from_millis(500));
    let got_all = logs.lines.lock().unwrap().clone();
    assert_eq!(got.len(), got_all.len(), "lines after the last one");
    assert!(
        got == want,
        "{}; skein logs said:\n{}",
        first_difference(&got, &want),
        logs.stderr()
    );
    let stderr = logs.stderr();
    assert!(
        stderr.contains("lost the connection") && stderr.contains("reconnected"),
        "the server kill is reported on stderr: {stderr}"
    );
    let rotated = std::fs::read_dir(format!("/var/lib/docker/containers/{}", docker::id(&name)))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("-json.log.")
        })
        .count();
    assert!(rotated >= 3, "the log rotated ({rotated} rotated files)");
    // Without -f the same lines come from the index, once each.
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(["logs", &name, "--output", "raw", "--server", &server.url])
        .output()
        .unwrap();
    assert!(out.status.success());
    let history: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(history == want, "{}", first_difference(&history, &want));
}

#[test]
fn two_hosts_interleave_by_time_with_host_prefixes() {
    docker::ready();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let mut cleanup = Cleanup(Vec::new());
    let mut names = Vec::new();
    let mut agents = Vec::new();
    for host in ["node-a", "node-b"] {
        let label = unique("t");
        let include = format!("skein.test={label}");
        agents.push(AgentProc::start(
            &server.url,
            &dir.path().join(host),
            &[
                "--include-label",
                &include,
                "--batch-wait-ms",
                "100",
                "--host",
                host,
            ],
        ));
        let script = format!(
            "sleep 1; i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo \"{host} says $i\"; sleep 0.02; done"
        );
        names.push(run_container(&label, &mut cleanup, &script, &[]));
    }
    for name in &names {
        docker::wait(name);
        server.wait_total(&format!("container:\"{name}\""), 40);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(["logs", &names[0], &names[1], "-t", "--server", &server.url])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 80, "{text}");
    let mut times = Vec::new();
    let mut from = [0, 0];
    for l in &lines {
        // `host/container | 2026-…Z message`, no colour codes.
        let (prefix, rest) = l.split_once(" | ").expect(l);
        let (ts, msg) = rest.split_once(' ').unwrap();
        let host = if msg.starts_with("node-a") { 0 } else { 1 };
        assert_eq!(
            prefix.trim_end(),
            format!("node-{}/{}", ["a", "b"][host], names[host]),
            "{l}"
        );
        from[host] += 1;
        assert!(
            msg.ends_with(&format!(" {}", from[host])),
            "in order per container: {l}"
        );
        times.push(ts.to_string());
        assert!(!l.contains('\x1b'), "NO_COLOR: {l:?}");
    }
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "merged by time");
    // Really interleaved, not one container after the other.
    let switches = lines
        .windows(2)
        .filter(|w| w[0].starts_with("node-a") != w[1].starts_with("node-a"))
        .count();
    assert!(switches > 2, "{text}");
    // A name nobody knows: exit status 1 with the closest known names.
    let typo = format!("{}x", names[0]);
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args(["logs", &typo, "--server", &server.url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("closest known") && err.contains(&names[0]),
        "{err}"
    );
}

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .expect("tmux runs (scripts/test installs it)");
    assert!(
        out.status.success(),
        "tmux {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Kills the tmux session when the test ends, whatever happens.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

fn ingest_lines(server: &Server, from: u64, to: u64) {
    let base = skein_model::Timestamp::now().0;
    let body: String = (from..=to)
        .map(|i| {
            common::record_line(
                &skein_model::Timestamp(base + i as i64).to_rfc3339(),
                "pinned",
                "info",
                &format!("pin-{i:03}"),
                "node-1/pinned/stdout",
                i,
            ) + "\n"
        })
        .collect();
    let r = server.ingest(body.into_bytes(), None);
    assert_eq!(r.status(), 200);
}

/// The visible screen, waiting until `ok` holds for it (or 10 s passed).
fn screen_when(session: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = tmux(&["capture-pane", "-p", "-t", session]);
        if ok(&s) || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn pins(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter_map(|l| l.split_whitespace().find(|w| w.starts_with("pin-")))
        .map(str::to_string)
        .collect()
}

#[test]
fn pinned_view_redraws_in_place_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    ingest_lines(&server, 1, 20);
    server.wait_total("container:pinned", 20);
    let session = Session(unique("skein-pin"));
    let cmd = format!(
        "{} logs pinned -p 5 --server {}; echo EXITED $?; sleep 60",
        env!("CARGO_BIN_EXE_skein"),
        server.url
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session.0,
        "-x",
        "80",
        "-y",
        "20",
        &cmd,
    ]);
    let want = |a: u64, b: u64| -> Vec<String> { (a..=b).map(|i| format!("pin-{i:03}")).collect() };
    let s = screen_when(&session.0, |s| pins(s) == want(16, 20));
    assert_eq!(pins(&s), want(16, 20), "the last 5 lines:\n{s}");
    ingest_lines(&server, 21, 27);
    let s = screen_when(&session.0, |s| pins(s) == want(23, 27));
    assert_eq!(
        pins(&s),
        want(23, 27),
        "redrawn in place, not scrolled:\n{s}"
    );
    // A narrower terminal: lines are cut to the width, the window stays 5 lines.
    tmux(&["resize-window", "-t", &session.0, "-x", "30", "-y", "10"]);
    ingest_lines(&server, 28, 28);
    let s = screen_when(&session.0, |s| pins(s) == want(24, 28));
    assert_eq!(pins(&s), want(24, 28), "after a resize:\n{s}");
    assert!(s.lines().all(|l| l.chars().count() <= 30), "{s}");
    tmux(&["send-keys", "-t", &session.0, "C-c"]);
    let s = screen_when(&session.0, |s| s.contains("EXITED"));
    assert!(s.contains("EXITED 0"), "Ctrl-C exits cleanly:\n{s}");
    assert_eq!(pins(&s), want(24, 28), "the window stays readable:\n{s}");
}
