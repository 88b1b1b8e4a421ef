//! `skein up --demo`: the json-file logs kept in `samples/demo/`, replayed as a few live
//! container-like sources, so a first look at the dashboard has something in it.
//!
//! Each sample becomes `<data-dir>/demo/<id>/<id>-json.log` with a Docker
//! `config.v2.json` beside it (name, image, compose labels), exactly what the agent
//! reads for a real container. The first start backfills the last half hour; after
//! that lines are appended with the current time, and the files rotate like json-file's
//! `max-size`/`max-file`.

use anyhow::{Context, Result};
use skein_collector::discover::{paths, SourceSpec};
use skein_collector::parse::json_file::{encode_line, JsonFileDecoder};
use skein_collector::Stream;
use skein_model::Timestamp;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The samples, by compose service.
const SAMPLES: [(&str, &str); 4] = [
    (
        "api-gateway",
        include_str!("../samples/demo/api-gateway-json.log"),
    ),
    ("orders", include_str!("../samples/demo/orders-json.log")),
    (
        "payments",
        include_str!("../samples/demo/payments-json.log"),
    ),
    (
        "auth-service",
        include_str!("../samples/demo/auth-service-json.log"),
    ),
];

/// Lines per second per source once live.
const RATE: f64 = 3.0;
/// History written on the first start.
const BACKFILL: Duration = Duration::from_secs(30 * 60);
const ROTATE_BYTES: u64 = 4 << 20;
const ROTATE_KEEP: u32 = 2;

/// The running replay.
pub struct Demo {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Replay {
    path: PathBuf,
    lines: Vec<(Stream, String)>,
    next: usize,
}

impl Demo {
    /// Writes the demo containers under `root` and starts appending; returns the
    /// sources for the agent.
    pub fn start(root: &Path, host: &str) -> Result<(Demo, Vec<SourceSpec>)> {
        let mut replays = Vec::new();
        let mut specs = Vec::new();
        for (service, text) in SAMPLES {
            let id = container_id(service);
            let dir = root.join(&id);
            fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create demo directory {}", dir.display()))?;
            let config = serde_json::json!({
                "Name": format!("/demo-{service}-1"),
                "Config": {
                    "Image": format!("skein/demo-{service}:1.0"),
                    "Labels": {
                        "com.docker.compose.project": "demo",
                        "com.docker.compose.service": service,
                    },
                },
            });
            fs::write(dir.join("config.v2.json"), config.to_string())?;
            let mut decoder = JsonFileDecoder::new();
            let lines: Vec<(Stream, String)> = text
                .lines()
                .filter_map(|l| {
                    let e = decoder.decode(l.as_bytes()).ok()?;
                    Some((e.stream, String::from_utf8_lossy(e.log).into_owned()))
                })
                .collect();
            let path = dir.join(format!("{id}-json.log"));
            if !path.exists() {
                backfill(&path, &lines)?;
            }
            specs.push(paths::spec_for(&path, host));
            replays.push(Replay {
                path,
                lines,
                next: 0,
            });
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("skein-demo".into())
            .spawn(move || run(replays, &flag))?;
        Ok((
            Demo {
                stop,
                thread: Some(thread),
            },
            specs,
        ))
    }

    /// Stops appending.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A stable, valid container id per service.
fn container_id(service: &str) -> String {
    let hex: String = format!("de30{service}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{hex:0<64}")[..64].to_string()
}

fn backfill(path: &Path, lines: &[(Stream, String)]) -> Result<()> {
    let now = Timestamp::now().0;
    let span = BACKFILL.as_nanos() as i64;
    let n = lines.len().max(1) as i64;
    let mut out = String::new();
    for (i, (stream, log)) in lines.iter().enumerate() {
        let t = Timestamp(now - span + span * i as i64 / n);
        out.push_str(&encode_line(log, *stream, t));
    }
    fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

fn run(mut replays: Vec<Replay>, stop: &AtomicBool) {
    let tick = Duration::from_secs_f64(1.0 / RATE);
    while !stop.load(Ordering::SeqCst) {
        for r in &mut replays {
            let (stream, log) = &r.lines[r.next % r.lines.len()];
            r.next += 1;
            if let Err(e) = append(&r.path, &encode_line(log, *stream, Timestamp::now())) {
                tracing::warn!("demo: cannot append to {}: {e}", r.path.display());
            }
        }
        std::thread::sleep(tick);
    }
}

fn append(path: &Path, line: &str) -> std::io::Result<()> {
    if fs::metadata(path).map(|m| m.len()).unwrap_or(0) >= ROTATE_BYTES {
        let name = path.display().to_string();
        let _ = fs::remove_file(format!("{name}.{ROTATE_KEEP}"));
        for k in (1..ROTATE_KEEP).rev() {
            let _ = fs::rename(format!("{name}.{k}"), format!("{name}.{}", k + 1));
        }
        fs::rename(path, format!("{name}.1"))?;
        File::create(path)?;
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)?
        .write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_sources_carry_container_metadata_and_history() {
        let dir = tempfile::tempdir().unwrap();
        let (demo, specs) = Demo::start(dir.path(), "demo-host").unwrap();
        demo.stop();
        assert_eq!(specs.len(), SAMPLES.len());
        let payments = specs
            .iter()
            .find(|s| s.meta.container == "demo-payments-1")
            .unwrap();
        assert_eq!(payments.meta.image, "skein/demo-payments:1.0");
        assert_eq!(
            payments.meta.labels["com.docker.compose.service"],
            "payments"
        );
        assert_eq!(payments.key.len(), 64);
        let text = fs::read_to_string(&payments.path).unwrap();
        assert!(text.lines().count() >= 450, "history was backfilled");
    }
}
