//! The `skein` server under test, as a child process.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `skein server`.
pub struct ServerProcess {
    child: Child,
    /// Base URL.
    pub url: String,
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
        let v: serde_json::Value = reqwest::blocking::Client::new()
            .get(format!("{}/api/v1/search", self.url))
            .query(&[("q", q), ("limit", "0")])
            .send()?
            .json()?;
        v["total"].as_u64().context("no total in search answer")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
