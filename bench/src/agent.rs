//! The `skein agent` under test, as a child process.

use crate::procfs;
use crate::server::{built_skein_binary, free_port};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `skein agent --no-docker`.
pub struct AgentProcess {
    child: Child,
    /// `http://127.0.0.1:PORT/metrics`.
    pub metrics_url: String,
}

impl AgentProcess {
    /// Starts an agent shipping to `server`, with state in `state_dir` (which should be
    /// fresh), following `paths` (globs), plus `extra` arguments.
    pub fn start(
        server: &str,
        state_dir: &Path,
        paths: &[String],
        extra: &[String],
    ) -> Result<AgentProcess> {
        let bin = built_skein_binary()?;
        let port = free_port()?;
        let mut cmd = Command::new(&bin);
        cmd.args([
            "agent",
            "--no-docker",
            "--host",
            "bench-node",
            "--server",
            server,
        ])
        .args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .arg("--state-dir")
        .arg(state_dir);
        for p in paths {
            cmd.args(["--path", p]);
        }
        let child = cmd
            .args(extra)
            .env(
                "SKEIN_LOG",
                std::env::var("SKEIN_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(AgentProcess {
            child,
            metrics_url: format!("http://127.0.0.1:{port}/metrics"),
        })
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_seconds(&self) -> f64 {
        procfs::cpu_seconds(self.pid())
    }

    /// Peak resident memory in bytes (VmHWM).
    pub fn peak_rss(&self) -> u64 {
        procfs::peak_rss(self.pid())
    }

    /// Current resident memory in bytes.
    pub fn rss(&self) -> u64 {
        procfs::rss(self.pid())
    }

    /// Context switches of all threads so far.
    pub fn context_switches(&self) -> u64 {
        procfs::context_switches(self.pid())
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Sum of the Prometheus samples named `name` (all label sets); `None` if the
    /// metrics endpoint does not answer or has no such sample yet.
    pub fn metric(&self, name: &str) -> Option<f64> {
        scrape(&self.metrics_url, name)
    }

    /// SIGTERM and wait up to `grace`, then SIGKILL.
    pub fn stop(mut self, grace: Duration) -> Result<()> {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Some(st) = self.child.try_wait()? {
                if !st.success() {
                    bail!("agent exited with {st}");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                bail!("agent did not stop within {grace:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sum of the Prometheus samples named `name` (all label sets) at `url`; `None` if the
/// endpoint does not answer or has no such sample yet.
pub fn scrape(url: &str, name: &str) -> Option<f64> {
    let text = reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?
        .text()
        .ok()?;
    let mut sum = None;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            continue;
        }
        if let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *sum.get_or_insert(0.0) += v;
        }
    }
    sum
}
