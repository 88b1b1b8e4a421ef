//! The `skein` server under test, as a child process.

use anyhow::{bail, ensure, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `skein server`.
pub struct ServerProcess {
    child: Child,
    /// Base URL.
    pub url: String,
    /// The CA certificate (PEM) a client must trust to reach an HTTPS server.
    pub ca_pem: Option<Vec<u8>>,
    /// Token [`ServerProcess::total`] presents, for a server with auth on.
    pub query_token: Option<String>,
}

/// The release binary: `$SKEIN_BIN`, else `target/release/skein` of this workspace.
pub fn skein_binary() -> PathBuf {
    std::env::var_os("SKEIN_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/skein"))
}

/// [`skein_binary`], or an error saying to build it.
pub fn built_skein_binary() -> Result<PathBuf> {
    let bin = skein_binary();
    if !bin.exists() {
        bail!(
            "{} not found; run `cargo build --release` first",
            bin.display()
        );
    }
    Ok(bin)
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl ServerProcess {
    /// Starts the server on a free port and waits for `/healthz`.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Result<ServerProcess> {
        ServerProcess::start_bin(&built_skein_binary()?, data_dir, extra)
    }

    /// Starts the server on a free port without waiting for it to answer.
    pub fn spawn(data_dir: &Path, extra: &[&str]) -> Result<ServerProcess> {
        ServerProcess::spawn_bin(&built_skein_binary()?, data_dir, extra)
    }

    /// Starts another build of the server (a baseline to compare with) and waits for
    /// `/healthz`.
    pub fn start_bin(bin: &Path, data_dir: &Path, extra: &[&str]) -> Result<ServerProcess> {
        let s = ServerProcess::spawn_bin(bin, data_dir, extra)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        let c = reqwest::blocking::Client::new();
        while c.get(format!("{}/healthz", s.url)).send().is_err() {
            if Instant::now() > deadline {
                bail!("server {} did not start", bin.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(s)
    }

    /// Starts another build of the server with `--tls-self-signed` (plus `extra`) at
    /// `https://localhost:PORT`, waits for the CA it writes to `DATA/tls/ca.pem` and
    /// then for `/healthz` over HTTPS trusting only that CA.
    pub fn start_tls_bin(bin: &Path, data_dir: &Path, extra: &[&str]) -> Result<ServerProcess> {
        let mut args = vec!["--tls-self-signed"];
        args.extend_from_slice(extra);
        let mut s = ServerProcess::spawn_bin(bin, data_dir, &args)?;
        s.url = s.url.replace("http://127.0.0.1", "https://localhost");
        let ca = data_dir.join("tls").join("ca.pem");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ca.exists() {
            if Instant::now() > deadline {
                bail!("server {} wrote no {}", bin.display(), ca.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        s.ca_pem = Some(std::fs::read(&ca).with_context(|| format!("reading {}", ca.display()))?);
        let c = s.client_builder()?.build()?;
        while c.get(format!("{}/healthz", s.url)).send().is_err() {
            if Instant::now() > deadline {
                bail!("server {} did not start over TLS", bin.display());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(s)
    }

    /// A client builder for this server: rustls trusting only the server's own CA when it
    /// speaks HTTPS, reqwest's defaults otherwise.
    pub fn client_builder(&self) -> Result<reqwest::blocking::ClientBuilder> {
        client_builder(self.ca_pem.as_deref())
    }

    fn spawn_bin(bin: &Path, data_dir: &Path, extra: &[&str]) -> Result<ServerProcess> {
        let bin = bin.to_path_buf();
        let port = free_port()?;
        let child = Command::new(&bin)
            .args([
                "server",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data_dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
            ca_pem: None,
            query_token: None,
        })
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> f64 {
        crate::procfs::cpu_seconds(self.pid())
    }

    /// Peak resident memory in bytes (VmHWM).
    pub fn peak_rss(&self) -> u64 {
        crate::procfs::peak_rss(self.pid())
    }

    /// SIGTERM and wait: the server commits and finishes merges before it exits.
    pub fn stop(mut self) -> Result<()> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let st = self.child.wait()?;
        if !st.success() {
            bail!("server exited with {st}");
        }
        Ok(())
    }

    /// Total of a query over all time.
    pub fn total(&self, q: &str) -> Result<u64> {
        self.total_with(&reqwest::blocking::Client::new(), q)
    }

    /// [`ServerProcess::total`] through `client` (one made by
    /// [`ServerProcess::client_builder`] for an HTTPS server), with
    /// [`ServerProcess::query_token`] if set.
    pub fn total_with(&self, client: &reqwest::blocking::Client, q: &str) -> Result<u64> {
        let mut req = client
            .get(format!("{}/api/v1/search", self.url))
            .query(&[("q", q), ("limit", "0")]);
        if let Some(t) = &self.query_token {
            req = req.bearer_auth(t);
        }
        let r = req.send()?;
        ensure!(r.status() == 200, "{} answered {}", r.url(), r.status());
        let v: serde_json::Value = r.json()?;
        v["total"].as_u64().context("no total in search answer")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client builder trusting only `ca_pem` (rustls) when given, reqwest's defaults
/// otherwise; both with the 120 s timeout the senders use.
pub fn client_builder(ca_pem: Option<&[u8]>) -> Result<reqwest::blocking::ClientBuilder> {
    let b = reqwest::blocking::Client::builder().timeout(Duration::from_secs(120));
    Ok(match ca_pem {
        Some(pem) => b
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(pem)?),
        None => b,
    })
}

/// Makes a token in `data_dir` with the `skein token create` of `bin` (before the
/// server starts, or within a second of a running one) and answers its secret.
pub fn create_token(bin: &Path, data_dir: &Path, name: &str, scope: &str) -> Result<String> {
    let out = Command::new(bin)
        .args([
            "token",
            "create",
            "--name",
            name,
            "--scope",
            scope,
            "--data-dir",
        ])
        .arg(data_dir)
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("running {} token create", bin.display()))?;
    ensure!(
        out.status.success(),
        "skein token create exited with {}",
        out.status
    );
    let stdout = String::from_utf8(out.stdout)?;
    let secret = stdout.lines().last().unwrap_or("").trim().to_string();
    ensure!(!secret.is_empty(), "skein token create printed no secret");
    Ok(secret)
}

/// Bytes under `dir`, recursively.
pub fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_bytes(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}
