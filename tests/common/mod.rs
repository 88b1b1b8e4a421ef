//! Shared harness of the end-to-end tests: the real `skein` binary on a free loopback
//! port, talked to over real HTTP.

#![allow(dead_code)]

pub mod docker;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `skein server`.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub args: Vec<String>,
    pub log: PathBuf,
    /// Presented as `Authorization: Bearer` by the helpers below, once auth is on.
    pub token: Option<String>,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts `skein server` on `data_dir` with extra arguments and waits until it answers.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let args: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        Self::start_on(data_dir, port, args)
    }

    /// Starts `skein server` on a chosen port.
    pub fn start_port(data_dir: &Path, port: u16, extra: &[&str]) -> Server {
        Self::start_on(
            data_dir,
            port,
            extra.iter().map(|s| s.to_string()).collect(),
        )
    }

    fn start_on(data_dir: &Path, port: u16, args: Vec<String>) -> Server {
        let log = data_dir.with_extension(format!("{port}.log"));
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_skein"))
            .arg("server")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("skein binary runs");
        let s = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            data_dir: data_dir.to_path_buf(),
            args,
            log,
            token: None,
        };
        s.wait_up();
        s
    }

    fn wait_up(&self) {
        // A start replays the WAL before it listens: after a SIGKILL on a loaded machine
        // that takes a while.
        let deadline = Instant::now() + Duration::from_secs(60);
        let c = client();
        while Instant::now() < deadline {
            if c.get(format!("{}/healthz", self.url)).send().is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "skein server did not come up; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// SIGKILL, no chance to flush anything.
    pub fn kill9(&mut self) {
        kill9(&mut self.child);
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        terminate(&mut self.child, "server");
    }

    /// Starts again on the same port and data with other arguments.
    pub fn restart_with(mut self, args: &[&str]) -> Server {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self.restart()
    }

    /// Starts again on the same port and data.
    pub fn restart(self) -> Server {
        let port: u16 = self.url.rsplit(':').next().unwrap().parse().unwrap();
        let mut s = Self::start_on(&self.data_dir, port, self.args.clone());
        s.token = self.token.clone();
        s
    }

    /// A request to `path` carrying the server's token, if it has one.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::blocking::RequestBuilder {
        let r = client().request(method, format!("{}{path}", self.url));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub fn get_json(&self, path_and_query: &str) -> (u16, serde_json::Value) {
        let r = self
            .request(reqwest::Method::GET, path_and_query)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap())
    }

    /// Search with parameters; panics unless 200.
    pub fn search(&self, params: &[(&str, &str)]) -> serde_json::Value {
        let r = self
            .request(reqwest::Method::GET, "/api/v1/search")
            .query(params)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "search {params:?}");
        r.json().unwrap()
    }

    /// Waits until `q` (over all time) has `want` matches.
    pub fn wait_total(&self, q: &str, want: u64) {
        self.wait_total_within(q, want, Duration::from_secs(20));
    }

    /// [`Server::wait_total`] with a deadline of its own, for loads that take long in a
    /// debug build on a busy machine (hundreds of partitions created and committed).
    pub fn wait_total_within(&self, q: &str, want: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let got = self.search(&[("q", q), ("limit", "0")])["total"]
                .as_u64()
                .unwrap();
            if got == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "total of {q:?} stuck at {got}, want {want}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// POSTs `body` as JSON; the status and the answer's JSON (panics if it is not JSON).
    pub fn post_json(
        &self,
        path: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, serde_json::Value) {
        let r = self
            .request(reqwest::Method::POST, path)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().unwrap();
        let v = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path} answered {status} with non-JSON {text:?}: {e}"));
        (status, v)
    }

    /// A value of the server's `/proc/<pid>/status` (`VmHWM`, `VmRSS`: kB; `Threads`).
    pub fn proc_status(&self, key: &str) -> u64 {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
    }

    pub fn ingest(&self, body: Vec<u8>, encoding: Option<&str>) -> reqwest::blocking::Response {
        let mut req = self
            .request(reqwest::Method::POST, "/api/v1/ingest")
            .body(body);
        if let Some(e) = encoding {
            req = req.header("Content-Encoding", e);
        }
        req.send().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// One NDJSON record line.
pub fn record_line(
    ts: &str,
    container: &str,
    level: &str,
    message: &str,
    src: &str,
    seq: u64,
) -> String {
    serde_json::json!({
        "@timestamp": ts, "host": "node-1", "container": container, "level": level,
        "stream": "stdout", "message": message, "_source_id": src, "_seq": seq,
    })
    .to_string()
}

impl Server {
    /// Every record matching `q`, oldest first, read page by page with the cursor.
    pub fn all(&self, q: &str) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut params = vec![("q", q), ("limit", "10000"), ("order", "asc")];
            if let Some(c) = &cursor {
                params.push(("cursor", c.as_str()));
            }
            let page = self.search(&params);
            let hits = page["hits"].as_array().unwrap().clone();
            let done = hits.len() < 10_000;
            out.extend(hits);
            cursor = page["cursor"].as_str().map(str::to_string);
            if done || cursor.is_none() {
                return out;
            }
        }
    }

    /// Waits until `q` has at least `want` matches; returns the count seen.
    pub fn wait_at_least(&self, q: &str, want: u64, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            let got = self.search(&[("q", q), ("limit", "0")])["total"]
                .as_u64()
                .unwrap();
            if got >= want || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts again in place on the same port and data (after `kill9` or `stop`).
    pub fn respawn(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Self::start_on(&self.data_dir, self.port(), self.args.clone());
    }

    /// The port this server listens on.
    pub fn port(&self) -> u16 {
        self.url.rsplit(':').next().unwrap().parse().unwrap()
    }
}

/// A running `skein agent`.
pub struct AgentProc {
    pub child: Child,
    pub args: Vec<String>,
    pub envs: Vec<(String, String)>,
    pub log: PathBuf,
}

impl AgentProc {
    /// Starts `skein agent --server URL --state-dir DIR` with extra arguments; its
    /// stderr goes to `DIR.log`.
    pub fn start(server: &str, state_dir: &Path, extra: &[&str]) -> AgentProc {
        Self::start_env(server, state_dir, extra, &[])
    }

    /// [`start`](Self::start) with environment variables.
    pub fn start_env(
        server: &str,
        state_dir: &Path,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> AgentProc {
        let mut args: Vec<String> = vec![
            "agent".into(),
            "--server".into(),
            server.into(),
            "--state-dir".into(),
            state_dir.display().to_string(),
        ];
        if !extra.contains(&"--host") {
            args.extend(["--host".into(), "test-node".into()]);
        }
        if !extra.contains(&"--metrics-listen") {
            args.extend(["--metrics-listen".into(), "127.0.0.1:0".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let log = state_dir.with_extension("log");
        Self::spawn(args, envs, log)
    }

    fn spawn(args: Vec<String>, envs: Vec<(String, String)>, log: PathBuf) -> AgentProc {
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_skein"))
            .args(&args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .env("SKEIN_LOG", "info,skein_collector=debug")
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .expect("skein binary runs");
        AgentProc {
            child,
            args,
            envs,
            log,
        }
    }

    /// SIGKILL: no chance to save or ship anything.
    pub fn kill9(&mut self) {
        kill9(&mut self.child);
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        terminate(&mut self.child, "agent");
    }

    /// SIGSTOP / SIGCONT. A pause returns once every thread has stopped: a signal is
    /// delivered when each thread next enters the kernel, and a test that acts right
    /// after `kill` would race the agent's last steps.
    pub fn pause(&self, paused: bool) {
        let sig = if paused { libc::SIGSTOP } else { libc::SIGCONT };
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
        if paused {
            let tasks = format!("/proc/{}/task", self.child.id());
            let stopped = || {
                std::fs::read_dir(&tasks).unwrap().all(|t| {
                    let stat =
                        std::fs::read_to_string(t.unwrap().path().join("stat")).unwrap_or_default();
                    // The state follows the parenthesised command name.
                    stat.rsplit(')')
                        .next()
                        .is_some_and(|rest| rest.trim_start().starts_with('T'))
                })
            };
            while !stopped() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Starts again with the same arguments (killing this one if it still runs).
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        *self = Self::spawn(self.args.clone(), self.envs.clone(), self.log.clone());
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A name no other test (or test run) uses.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn kill9(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

fn terminate(child: &mut Child, what: &str) {
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "{what} exits cleanly on SIGTERM, got {status}"
    );
}

/// Runs `skein token create --scope SCOPE --name NAME` on `data_dir` and answers the
/// secret: the last line it prints on stdout.
pub fn create_token(data_dir: &Path, scope: &str, name: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args([
            "token",
            "create",
            "--scope",
            scope,
            "--name",
            name,
            "--data-dir",
        ])
        .arg(data_dir)
        .output()
        .expect("skein token create runs");
    assert!(
        out.status.success(),
        "skein token create failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.lines().last().unwrap_or_default().trim().to_string()
}

/// Asserts `records` (in order) are the line "before the long line", the long line as
/// one record of its first `kept` bytes (all `fill`) marked with its `original` length,
/// and "after the long line".
pub fn assert_long_line_record(
    records: &[serde_json::Value],
    fill: &str,
    kept: usize,
    original: usize,
) {
    let messages: Vec<&str> = records
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 3, "one record for the long line");
    assert_eq!(messages[0], "before the long line");
    assert_eq!(messages[2], "after the long line");
    let long = &records[1];
    assert_eq!(long["message"].as_str().unwrap(), fill.repeat(kept));
    assert_eq!(
        long["fields"]["skein_truncated_from_bytes"],
        original as u64
    );
}

/// Checks that `numbers` (one per record) are `1..=n`, each exactly once, naming the
/// first missing and repeated ones.
pub fn assert_once_each(numbers: impl IntoIterator<Item = usize>, n: usize, what: &str) {
    let mut seen = vec![0u32; n];
    for i in numbers {
        assert!((1..=n).contains(&i), "{what}: line {i} is not in 1..={n}");
        seen[i - 1] += 1;
    }
    let missing: Vec<usize> = (0..n).filter(|&i| seen[i] == 0).map(|i| i + 1).collect();
    let doubled: Vec<usize> = (0..n).filter(|&i| seen[i] > 1).map(|i| i + 1).collect();
    assert!(
        missing.is_empty() && doubled.is_empty(),
        "{what}: {} missing (first {:?}), {} repeated (first {:?})",
        missing.len(),
        &missing[..missing.len().min(10)],
        doubled.len(),
        &doubled[..doubled.len().min(10)]
    );
}

/// Certificates made by openssl in `dir`: a CA (`ca_file`, `ca.key`, common name
/// `ca_name`) and a server certificate it signed (`server.pem`, `server.key`) with the
/// extensions `ext` (e.g. `subjectAltName=IP:127.0.0.1`). Keys are made with `newkey`
/// (`&["rsa:2048"]`, or `&["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]`).
pub fn openssl_certificates(dir: &Path, newkey: &[&str], ca_file: &str, ca_name: &str, ext: &str) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is installed (scripts/test installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let with_key = |head: &[&str], tail: &[&str]| {
        let mut args: Vec<&str> = head.to_vec();
        args.push("-newkey");
        args.extend(newkey);
        args.extend(tail);
        run(&args);
    };
    let ca_subject = format!("/CN={ca_name}");
    with_key(
        &["req", "-x509"],
        &[
            "-nodes",
            "-days",
            "2",
            "-subj",
            &ca_subject,
            "-keyout",
            "ca.key",
            "-out",
            ca_file,
        ],
    );
    with_key(
        &["req"],
        &[
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), ext).unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        ca_file,
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "server.pem",
    ]);
}
