//! Live mode: append at a steady rate with wall-clock timestamps, optionally rotating.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::error::{invalid, io_err};
use crate::{GenConfig, GenError, Generator};

/// Pacing granularity: lines due are written, then flushed, every tick.
const TICK: Duration = Duration::from_millis(10);

/// Settings of [`generate_live`].
#[derive(Debug, Clone, PartialEq)]
pub struct LiveConfig {
    /// Content settings. `lines` is the total to append (0 = until stopped);
    /// `start_ns` and `span_seconds` are ignored.
    pub gen: GenConfig,
    /// Lines per second, all containers together.
    pub rate: f64,
    /// Stop after this long, if set.
    pub duration: Option<Duration>,
    /// Rotate a container's file once it reaches this many bytes (0 = never), like
    /// json-file's `max-size`.
    pub rotate_bytes: u64,
    /// Rotated files kept: `<id>-json.log.1` (newest) up to `.<rotate_keep>`.
    pub rotate_keep: u32,
}

impl Default for LiveConfig {
    /// Unlimited lines at 100 lines/s, no rotation.
    fn default() -> Self {
        Self {
            gen: GenConfig {
                lines: 0,
                ..GenConfig::default()
            },
            rate: 100.0,
            duration: None,
            rotate_bytes: 0,
            rotate_keep: 3,
        }
    }
}

/// What a [`generate_live`] run appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveStats {
    /// Records appended.
    pub lines: u64,
    /// Bytes appended, newlines included.
    pub bytes: u64,
    /// Needle occurrences generated; exact unless the line limit cut the last event short.
    pub needle_count: u64,
    /// Files rotated.
    pub rotations: u64,
    /// Wall time the run took.
    pub elapsed: Duration,
}

struct LiveFile {
    path: PathBuf,
    out: BufWriter<File>,
    size: u64,
    dirty: bool,
}

fn open_append(path: &Path) -> Result<(BufWriter<File>, u64), GenError> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io_err("open for appending", path))?;
    let size = f.metadata().map_err(io_err("stat", path))?.len();
    Ok((BufWriter::with_capacity(64 << 10, f), size))
}

fn rotated(path: &Path, k: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{k}"));
    PathBuf::from(s)
}

impl LiveFile {
    /// Rename rotation as dockerd does it: shift `.k` to `.k+1`, move the live file to
    /// `.1`, start a new empty file under the original name.
    fn rotate(&mut self, keep: u32) -> Result<(), GenError> {
        self.out.flush().map_err(io_err("write", &self.path))?;
        for k in (1..keep).rev() {
            let from = rotated(&self.path, k);
            if from.exists() {
                let to = rotated(&self.path, k + 1);
                fs::rename(&from, &to).map_err(io_err("rename", &from))?;
            }
        }
        fs::rename(&self.path, rotated(&self.path, 1)).map_err(io_err("rename", &self.path))?;
        let (out, size) = open_append(&self.path)?;
        self.out = out;
        self.size = size;
        self.dirty = false;
        Ok(())
    }
}

fn now_ns() -> i64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Appends to `<out_dir>/<id>/<id>-json.log` at `cfg.rate` lines/s with wall-clock `time`s
/// until `cfg.gen.lines` are written, `cfg.duration` has passed, or `stop` becomes true
/// (checked at least every 10 ms). Files are flushed every 10 ms so tailers see lines
/// promptly. Unlike batch mode the output is not reproducible: timestamps are real.
pub fn generate_live(
    cfg: &LiveConfig,
    out_dir: &Path,
    stop: &AtomicBool,
) -> Result<LiveStats, GenError> {
    if !(cfg.rate.is_finite() && cfg.rate > 0.0) {
        return Err(invalid(
            "rate",
            format!(
                "must be a positive number of lines per second, got {}",
                cfg.rate
            ),
        ));
    }
    if cfg.rotate_bytes > 0 && cfg.rotate_keep == 0 {
        return Err(invalid(
            "rotate-keep",
            "must be at least 1 when rotate-bytes is set",
        ));
    }
    let mut gen = Generator::new(&cfg.gen)?;
    let mut files = Vec::with_capacity(cfg.gen.containers);
    for c in gen.containers() {
        let path = c.log_path(out_dir);
        let dir = path.parent().expect("log path has a directory");
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        let (out, size) = open_append(&path)?;
        files.push(LiveFile {
            path,
            out,
            size,
            dirty: false,
        });
    }

    let limit = cfg.gen.lines;
    let (mut lines, mut bytes, mut rotations) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let mut due = Duration::ZERO;
    'run: loop {
        let elapsed = start.elapsed();
        if cfg.duration.is_some_and(|d| elapsed >= d) {
            break;
        }
        let mut target = (elapsed.as_secs_f64() * cfg.rate) as u64;
        if limit > 0 {
            target = target.min(limit);
        }
        while lines < target {
            if stop.load(Ordering::Relaxed) {
                break 'run;
            }
            let event = gen.next_event_at(now_ns());
            let Some(ci) = event.first().map(|l| l.container) else {
                continue;
            };
            let file = &mut files[ci];
            for rec in event {
                if limit > 0 && lines >= limit {
                    break;
                }
                file.out
                    .write_all(rec.line.as_bytes())
                    .and_then(|()| file.out.write_all(b"\n"))
                    .map_err(io_err("write", &file.path))?;
                let n = rec.line.len() as u64 + 1;
                file.size += n;
                file.dirty = true;
                bytes += n;
                lines += 1;
            }
            // Like dockerd, rotation happens between writes, never inside a partial series.
            if cfg.rotate_bytes > 0 && file.size >= cfg.rotate_bytes {
                file.rotate(cfg.rotate_keep)?;
                rotations += 1;
            }
        }
        for f in files.iter_mut().filter(|f| f.dirty) {
            f.out.flush().map_err(io_err("write", &f.path))?;
            f.dirty = false;
        }
        if (limit > 0 && lines >= limit) || stop.load(Ordering::Relaxed) {
            break;
        }
        due += TICK;
        if let Some(sleep) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(sleep);
        }
    }
    for f in &mut files {
        f.out.flush().map_err(io_err("write", &f.path))?;
    }
    Ok(LiveStats {
        lines,
        bytes,
        needle_count: gen.needle_count(),
        rotations,
        elapsed: start.elapsed(),
    })
}
