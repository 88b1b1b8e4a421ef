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
        AgentProcess::start_bin(&built_skein_binary()?, server, state_dir, paths, extra)
    }

    /// [`AgentProcess::start`] with another build of `skein` (a baseline to compare with).
    pub fn start_bin(
        bin: &Path,
        server: &str,
        state_dir: &Path,
        paths: &[String],
        extra: &[String],
    ) -> Result<AgentProcess> {
        let port = free_port()?;
        let mut cmd = Command::new(bin);
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

/// The text of the Prometheus endpoint at `url`; `None` if it does not answer.
pub fn scrape_text(url: &str) -> Option<String> {
    reqwest::blocking::Client::new()
        .get(url)
        .timeout(Duration::from_secs(5))
        .send()
        .ok()?
        .text()
        .ok()
}

/// Sum of the Prometheus samples named `name` (all label sets) at `url`; `None` if the
/// endpoint does not answer or has no such sample yet.
pub fn scrape(url: &str, name: &str) -> Option<f64> {
    sample_sum(&scrape_text(url)?, name)
}

/// Sum of the samples named `name` (all label sets) in a Prometheus text `text`.
pub fn sample_sum(text: &str, name: &str) -> Option<f64> {
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

/// One summary (what the agent's histograms export) as scraped: its quantiles over the
/// exporter's rolling window (the last minute), and its running sum and count.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// `(quantile, value)` pairs as exported.
    pub quantiles: Vec<(f64, f64)>,
    /// Sum of every sample since the start.
    pub sum: f64,
    /// Samples since the start.
    pub count: f64,
}

impl Summary {
    /// The summary `name` in a Prometheus text; `None` if it has no samples yet.
    pub fn parse(text: &str, name: &str) -> Option<Summary> {
        let mut s = Summary::default();
        let prefix = format!("{name}{{quantile=\"");
        for line in text.lines() {
            let value = |rest: &str| rest.rsplit(' ').next()?.parse::<f64>().ok();
            if let Some(rest) = line.strip_prefix(&prefix) {
                let q = rest.split('"').next().and_then(|q| q.parse::<f64>().ok());
                if let (Some(q), Some(v)) = (q, value(rest)) {
                    s.quantiles.push((q, v));
                }
            } else if let Some(rest) = line.strip_prefix(&format!("{name}_sum ")) {
                s.sum = value(rest)?;
            } else if let Some(rest) = line.strip_prefix(&format!("{name}_count ")) {
                s.count = value(rest)?;
            }
        }
        (s.count > 0.0).then_some(s)
    }

    /// The exported quantile `q` (e.g. 0.99), if it is one.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.quantiles
            .iter()
            .find(|(k, _)| (k - q).abs() < 1e-9)
            .map(|(_, v)| *v)
    }
}
