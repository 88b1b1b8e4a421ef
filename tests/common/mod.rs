//! Shared harness of the end-to-end tests: the real `skein` binary on a free loopback
//! port, talked to over real HTTP.

#![allow(dead_code)]

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
}

fn free_port() -> u16 {
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
        };
        s.wait_up();
        s
    }

    fn wait_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
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
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        assert!(status.success(), "clean shutdown, got {status}");
    }

    /// Starts again on the same port and data with other arguments.
    pub fn restart_with(mut self, args: &[&str]) -> Server {
        self.args = args.iter().map(|s| s.to_string()).collect();
        self.restart()
    }

    /// Starts again on the same port and data.
    pub fn restart(self) -> Server {
        let port: u16 = self.url.rsplit(':').next().unwrap().parse().unwrap();
        Self::start_on(&self.data_dir, port, self.args.clone())
    }

    pub fn get_json(&self, path_and_query: &str) -> (u16, serde_json::Value) {
        let r = client()
            .get(format!("{}{}", self.url, path_and_query))
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap())
    }

    /// Search with parameters; panics unless 200.
    pub fn search(&self, params: &[(&str, &str)]) -> serde_json::Value {
        let r = client()
            .get(format!("{}/api/v1/search", self.url))
            .query(params)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "search {params:?}");
        r.json().unwrap()
    }

    /// Waits until `q` (over all time) has `want` matches.
    pub fn wait_total(&self, q: &str, want: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
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

    pub fn ingest(&self, body: Vec<u8>, encoding: Option<&str>) -> reqwest::blocking::Response {
        let mut req = client()
            .post(format!("{}/api/v1/ingest", self.url))
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
