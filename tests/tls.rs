//! HTTPS end to end: a `--tls-self-signed` server, agents shipping to it with an ingest
//! token and trusting it by CA file or by fingerprint (and refusing a server whose
//! certificate does not match), and `skein search`, `agg` and `logs -f` with a query
//! token. Also `--tls-cert`/`--tls-key` with a chain made by `openssl`.

mod common;

use common::{create_token as token, free_port, AgentProc};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn skein() -> Command {
    Command::new(env!("CARGO_BIN_EXE_skein"))
}

struct TlsServer {
    child: Child,
    url: String,
    ca: PathBuf,
    fingerprint: String,
    log: PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TlsServer {
    fn start(data: &Path, extra: &[&str]) -> TlsServer {
        let port = free_port();
        let log = data.with_extension("log");
        let child = skein()
            .args(["server", "--commit-interval-ms", "100", "--data-dir"])
            .arg(data)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        // Built first, so that a panic below still kills the child.
        let mut s = TlsServer {
            child,
            url: format!("https://localhost:{port}"),
            ca: data.join("tls/ca.pem"),
            fingerprint: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&s.log).unwrap_or_default();
            if let Some(fp) = text
                .split("--ca-fingerprint ")
                .nth(1)
                .map(|r| r.split_whitespace().next().unwrap().to_string())
            {
                s.fingerprint = fp;
                return s;
            }
            assert!(Instant::now() < deadline, "no TLS server: {text}");
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    fn client(&self, token: &str) -> reqwest::blocking::Client {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.ca).unwrap()).unwrap();
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .add_root_certificate(ca)
            .default_headers(h)
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    fn total(&self, token: &str, q: &str) -> u64 {
        self.client(token)
            .get(format!("{}/api/v1/search", self.url))
            .query(&[("q", q), ("limit", "0")])
            .send()
            .ok()
            .and_then(|r| r.json::<Value>().ok())
            .and_then(|v| v["total"].as_u64())
            .unwrap_or(0)
    }

    fn wait_total(&self, token: &str, q: &str, want: u64) {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let got = self.total(token, q);
            if got == want {
                return;
            }
            assert!(Instant::now() < deadline, "{q:?}: {got} of {want}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn lines(path: &Path, tag: &str, n: usize) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for i in 0..n {
        writeln!(f, "{tag} line {i}").unwrap();
    }
}

#[test]
fn agents_and_cli_over_tls_with_scoped_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let ingest = token(&data, "ingest", "agents");
    let query = token(&data, "query", "reader");
    let server = TlsServer::start(&data, &["--tls-self-signed"]);
    let ingest_file = tmp.path().join("ingest.token");
    std::fs::write(&ingest_file, format!("{ingest}\n")).unwrap();
    let ca = server.ca.display().to_string();
    let tokf = ingest_file.display().to_string();

    // By CA file.
    let a = tmp.path().join("a.log");
    lines(&a, "alpha", 50);
    let ga = a.display().to_string();
    let _by_ca = AgentProc::start(
        &server.url,
        &tmp.path().join("agent-a"),
        &[
            "--no-docker",
            "--path",
            &ga,
            "--token-file",
            &tokf,
            "--ca-cert",
            &ca,
        ],
    );
    // By fingerprint, token from the environment.
    let b = tmp.path().join("b.log");
    lines(&b, "bravo", 50);
    let gb = b.display().to_string();
    let _by_fp = AgentProc::start_env(
        &server.url,
        &tmp.path().join("agent-b"),
        &[
            "--no-docker",
            "--path",
            &gb,
            "--ca-fingerprint",
            &server.fingerprint,
        ],
        &[("SKEIN_TOKEN", &ingest)],
    );
    // A CA that did not sign the server's certificate.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let status = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
        ])
        .arg("/CN=not skein")
        .arg("-keyout")
        .arg(other.join("ca.key"))
        .arg("-out")
        .arg(other.join("ca.pem"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed (scripts/test installs it)");
    assert!(status.success());
    let c = tmp.path().join("c.log");
    lines(&c, "charlie", 5);
    let gc = c.display().to_string();
    let wrong_ca = other.join("ca.pem").display().to_string();
    let distrusting = AgentProc::start(
        &server.url,
        &tmp.path().join("agent-c"),
        &[
            "--no-docker",
            "--path",
            &gc,
            "--token-file",
            &tokf,
            "--ca-cert",
            &wrong_ca,
        ],
    );
    // A pinned fingerprint that is not the server's CA.
    let d = tmp.path().join("d.log");
    lines(&d, "delta", 5);
    let gd = d.display().to_string();
    let wrong_fp = "00".repeat(32);
    let mispinned = AgentProc::start(
        &server.url,
        &tmp.path().join("agent-d"),
        &[
            "--no-docker",
            "--path",
            &gd,
            "--token-file",
            &tokf,
            "--ca-fingerprint",
            &wrong_fp,
        ],
    );

    server.wait_total(&query, "alpha", 50);
    server.wait_total(&query, "bravo", 50);
    assert_eq!(server.total(&query, "charlie OR delta"), 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (c, d) = (distrusting.log_text(), mispinned.log_text());
        if c.contains("does not trust") && d.contains("does not trust") {
            assert!(c.contains("--ca-cert"), "says what to do: {c}");
            break;
        }
        assert!(Instant::now() < deadline, "no clear refusal:\n{c}\n{d}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(server.total(&query, "charlie OR delta"), 0);

    // The CLI with a query token: search, agg, logs (history and -f).
    let cli = |args: &[&str]| {
        let out = skein()
            .args(args)
            .args(["--server", &server.url, "--ca-cert", &ca])
            .env("SKEIN_TOKEN", &query)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let found = cli(&["search", "alpha line 7", "--output", "json"]);
    assert!(found.contains("alpha line 7"), "{found}");
    let counted = cli(&["agg", "--top", "host", "--since", "1h"]);
    assert!(counted.contains("test-node"), "{counted}");
    // An ingest token may not read.
    let out = skein()
        .args(["search", "alpha", "--server", &server.url, "--ca-cert", &ca])
        .env("SKEIN_TOKEN", &ingest)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs the query scope"));
    // Plain HTTP to the HTTPS port gets nothing.
    let plain = server.url.replace("https://", "http://");
    let answered = common::client()
        .get(format!("{plain}/api/v1/search"))
        .send()
        .is_ok_and(|r| r.status().is_success());
    assert!(!answered, "plain HTTP is not served on the HTTPS port");

    let source = a.file_stem().unwrap().to_string_lossy().to_string();
    let mut follow = skein()
        .args(["logs", "-f", "--tail", "1", &source])
        .args([
            "--server",
            &server.url,
            "--ca-fingerprint",
            &server.fingerprint,
        ])
        .env("SKEIN_TOKEN", &query)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = follow.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(300));
    lines(&a, "alpha-live", 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = vec![format!("{first:?}")];
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) if l.contains("alpha-live line 0") => break,
            Ok(l) => seen.push(l),
            Err(_) => {}
        }
        if Instant::now() > deadline {
            let _ = follow.kill();
            let mut err = String::new();
            let _ = std::io::Read::read_to_string(&mut follow.stderr.take().unwrap(), &mut err);
            panic!("logs -f never showed the live line; saw {seen:?}; stderr {err}");
        }
    }
    let _ = follow.kill();
    let _ = follow.wait();
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains(&ingest) && !log.contains(&query));
}

#[test]
fn certificates_from_files_made_by_openssl() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    common::openssl_certificates(
        dir,
        &["rsa:2048"],
        "ca.pem",
        "test CA",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    );
    let data = dir.join("data");
    let q = token(&data, "query", "r");
    let port = free_port();
    let mut child = skein()
        .args(["server", "--data-dir"])
        .arg(&data)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--tls-cert"])
        .arg(dir.join("server.pem"))
        .arg("--tls-key")
        .arg(dir.join("server.key"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ca = dir.join("ca.pem").display().to_string();
    let url = format!("https://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = skein()
            .args([
                "search",
                "x",
                "--server",
                &url,
                "--ca-cert",
                &ca,
                "--token",
                &q,
            ])
            .output()
            .unwrap();
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Without the CA, the client says what to do.
    let out = skein()
        .args(["search", "x", "--server", &url, "--token", &q])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not trust") && err.contains("--ca-cert"),
        "{err}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
