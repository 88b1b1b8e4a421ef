//! Batch mode: a whole corpus on disk plus its `manifest.json`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::io_err;
use crate::events::EventCounts;
use crate::format::rfc3339_short;
use crate::{GenConfig, GenError, Generator};

/// File name of the manifest written next to the container directories.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Ground truth about a batch corpus, saved as `DIR/manifest.json`, so tests and benches
/// can check counts without re-reading the logs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Seed the corpus was generated from.
    pub seed: u64,
    /// Records written, all files together.
    pub lines: u64,
    /// Bytes written, all files together, newlines included.
    pub bytes: u64,
    /// Number of containers.
    pub containers: usize,
    /// Configured start, RFC 3339.
    pub start: String,
    /// Configured span in seconds.
    pub span_seconds: f64,
    /// `time` of the earliest record, UTC nanoseconds (the start when there are no lines).
    pub first_ns: i64,
    /// `time` of the latest record, UTC nanoseconds (the start when there are no lines).
    pub last_ns: i64,
    /// The needle word.
    pub needle: String,
    /// Exact number of needle occurrences across all files.
    pub needle_count: u64,
    /// Events by kind.
    pub event_counts: EventCounts,
    /// Per container id: its service and how much of the corpus it holds.
    pub files: BTreeMap<String, FileEntry>,
}

/// One container's log file in a [`Manifest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The service the container runs.
    pub service: String,
    /// Records in its `<id>-json.log`.
    pub lines: u64,
    /// Size of its `<id>-json.log` in bytes.
    pub bytes: u64,
}

impl Manifest {
    /// Reads `DIR/manifest.json` of a corpus written by [`generate_batch`].
    pub fn load(dir: &Path) -> Result<Manifest, GenError> {
        let path = dir.join(MANIFEST_FILE);
        let text = fs::read(&path).map_err(io_err("read", &path))?;
        serde_json::from_slice(&text).map_err(|source| GenError::Manifest { path, source })
    }
}

/// Writes a corpus for `cfg` into `out_dir` (created if missing): one
/// `<id>/<id>-json.log` per container, overwritten if present, then `manifest.json`.
///
/// Same config ⇒ byte-identical files. The manifest is written last and renamed into place,
/// so its presence means the corpus is complete.
pub fn generate_batch(cfg: &GenConfig, out_dir: &Path) -> Result<Manifest, GenError> {
    let mut gen = Generator::new(cfg)?;
    fs::create_dir_all(out_dir).map_err(io_err("create directory", out_dir))?;
    // Large buffers keep the syscall count low; capped in total so thousands of containers
    // do not cost gigabytes.
    let buf_cap = ((64usize << 20) / cfg.containers).clamp(64 << 10, 1 << 20);
    let mut paths = Vec::with_capacity(cfg.containers);
    let mut files = Vec::with_capacity(cfg.containers);
    for c in gen.containers() {
        let path = c.log_path(out_dir);
        let dir = path.parent().expect("log path has a directory");
        fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
        let f = File::create(&path).map_err(io_err("create", &path))?;
        files.push(BufWriter::with_capacity(buf_cap, f));
        paths.push(path);
    }

    let mut per_file = vec![(0u64, 0u64); cfg.containers];
    let (mut lines, mut bytes) = (0u64, 0u64);
    let mut first_ns = None;
    let mut last_ns = cfg.start_ns;
    for rec in &mut gen {
        let w = &mut files[rec.container];
        w.write_all(rec.line.as_bytes())
            .and_then(|()| w.write_all(b"\n"))
            .map_err(io_err("write", &paths[rec.container]))?;
        let n = rec.line.len() as u64 + 1;
        let entry = &mut per_file[rec.container];
        entry.0 += 1;
        entry.1 += n;
        lines += 1;
        bytes += n;
        first_ns.get_or_insert(rec.time_ns);
        last_ns = rec.time_ns;
    }
    for (w, path) in files.iter_mut().zip(&paths) {
        w.flush().map_err(io_err("write", path))?;
    }
    drop(files);

    let manifest = Manifest {
        seed: cfg.seed,
        lines,
        bytes,
        containers: cfg.containers,
        start: rfc3339_short(cfg.start_ns),
        span_seconds: cfg.span_seconds,
        first_ns: first_ns.unwrap_or(cfg.start_ns),
        last_ns,
        needle: cfg.needle.clone(),
        needle_count: gen.needle_count(),
        event_counts: gen.event_counts(),
        files: gen
            .containers()
            .iter()
            .zip(&per_file)
            .map(|(c, &(lines, bytes))| {
                let entry = FileEntry {
                    service: c.service.clone(),
                    lines,
                    bytes,
                };
                (c.id.clone(), entry)
            })
            .collect(),
    };
    let tmp = out_dir.join(format!("{MANIFEST_FILE}.tmp"));
    let mut text = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    text.push(b'\n');
    fs::write(&tmp, &text).map_err(io_err("write", &tmp))?;
    let path = out_dir.join(MANIFEST_FILE);
    fs::rename(&tmp, &path).map_err(io_err("rename into", &path))?;
    Ok(manifest)
}
