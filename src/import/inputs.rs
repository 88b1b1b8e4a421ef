//! What `skein import` reads: the files named or found under the directories named,
//! their format, and how they group into delivery sources.
//!
//! - A Docker json-file log (`*-json.log`, `*-json.log.N`) stands for its whole rotated
//!   set: every numbered sibling beside the live name, oldest first, read as one source
//!   whose positions run on from file to file. This is what the agent's tail does when
//!   it first sees a container, so the `_seq`s are the agent's.
//! - Any other file is a source of its own, positions from 0, named by its absolute
//!   path (as the agent names a `--path` file).

use anyhow::{bail, Context, Result};
use skein_collector::decode::Format;
use skein_collector::discover::paths::spec_for;
use skein_collector::enrich::{container_id_from_path, SourceMeta};
use skein_collector::parse::{cri, json_file::JsonFileDecoder};
use skein_collector::tail::rotation::numbered_names;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

/// How a file's lines are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Docker's json-file driver.
    JsonFile,
    /// containerd / CRI-O (`TIME STREAM P|F TEXT`).
    Cri,
    /// One JSON object per line: a skein record is sent as it is, anything else is read
    /// as an application's JSON log line.
    Ndjson,
    /// Plain text, one record per line (or per event with `--multiline`).
    Plain,
}

impl Kind {
    /// The collector's decoder for this kind.
    pub fn format(self) -> Format {
        match self {
            Kind::JsonFile => Format::JsonFile,
            Kind::Cri => Format::Cri,
            Kind::Ndjson | Kind::Plain => Format::Plain,
        }
    }

    /// The name users pass to `--format`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::JsonFile => "json-file",
            Kind::Cri => "cri",
            Kind::Ndjson => "ndjson",
            Kind::Plain => "plain",
        }
    }
}

/// One delivery source to import: one or more files read in order as one stream of
/// positions.
#[derive(Debug, Clone)]
pub struct ImportSet {
    /// The live path (absolute) the set is named by.
    pub key: PathBuf,
    /// The files, oldest first.
    pub files: Vec<PathBuf>,
    /// How they are framed.
    pub kind: Kind,
    /// What the records carry, delivery source included.
    pub meta: SourceMeta,
    /// Their size when listed.
    pub bytes: u64,
}

/// How sources are named.
#[derive(Debug, Clone)]
pub struct Naming {
    /// `--host`.
    pub host: String,
    /// `--container`.
    pub container: Option<String>,
    /// `--label`s.
    pub labels: BTreeMap<String, String>,
}

/// What was found, and what was left out and why.
#[derive(Debug, Default)]
pub struct Found {
    /// The sets, in the order named (directories in path order).
    pub sets: Vec<ImportSet>,
    /// Notices about files left out.
    pub skipped: Vec<String>,
}

/// Lists the sets under `paths`. `forced` overrides format detection.
pub fn collect(paths: &[PathBuf], forced: Option<Kind>, naming: &Naming) -> Result<Found> {
    let mut found = Found::default();
    let mut files = Vec::new();
    let mut compressed = 0usize;
    for p in paths {
        let abs = std::path::absolute(p).with_context(|| format!("{}", p.display()))?;
        let meta =
            std::fs::metadata(&abs).with_context(|| format!("cannot read {}", p.display()))?;
        if meta.is_dir() {
            walk(&abs, &mut files, &mut compressed)
                .with_context(|| format!("cannot list {}", p.display()))?;
        } else {
            files.push(abs);
        }
    }
    if compressed > 0 {
        found.skipped.push(format!(
            "{compressed} compressed files (.gz, .zst, .xz, .bz2) under the directories named are not read; decompress them first to import them"
        ));
    }
    // One file reached by two names (a /var/log/containers symlink to /var/log/pods)
    // counts once: by the name carrying a container id, else the name that is no link.
    files.sort_by_key(|f| (container_id_from_path(f).is_none(), f.is_symlink()));
    let mut seen_real = HashSet::new();
    files.retain(|f| seen_real.insert(f.canonicalize().unwrap_or_else(|_| f.clone())));
    files.sort();

    let mut keys = HashSet::new();
    let mut by_key: HashMap<PathBuf, usize> = HashMap::new();
    for file in files {
        let named_json_file = Format::for_path(&file) == Format::JsonFile;
        let kind = match forced {
            Some(k) => k,
            None => detect(&file)?,
        };
        let (key, members) = if named_json_file && kind == Kind::JsonFile {
            let live = live_name(&file);
            let members: Vec<PathBuf> = numbered_names(&live)
                .with_context(|| format!("cannot list {}", live.display()))?
                .into_iter()
                .map(|(_, p)| p)
                .collect();
            (live, members)
        } else {
            (file.clone(), vec![file.clone()])
        };
        if !keys.insert(key.clone()) {
            continue;
        }
        let mut meta = spec_for(&key, &naming.host).meta;
        if let Some(c) = &naming.container {
            meta.container = c.clone();
        }
        for (k, v) in &naming.labels {
            meta.labels.insert(k.clone(), v.clone());
        }
        let bytes = members
            .iter()
            .map(|m| std::fs::metadata(m).map_or(0, |m| m.len()))
            .sum();
        by_key.insert(key.clone(), found.sets.len());
        found.sets.push(ImportSet {
            key,
            files: members,
            kind,
            meta,
            bytes,
        });
    }
    if found.sets.is_empty() {
        bail!(
            "nothing to import under {}: directories are searched for *.log files (and their rotated .N siblings), *.ndjson, *.jsonl and *.txt; name other files directly",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(found)
}

/// `x-json.log.3` → `x-json.log`.
fn live_name(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name.rsplit_once('.') {
        Some((live, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => {
            path.with_file_name(live)
        }
        _ => path.to_path_buf(),
    }
}

/// Files under `dir` that look like logs, recursively, in path order.
fn walk(dir: &Path, out: &mut Vec<PathBuf>, compressed: &mut usize) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            // Symlinked directories are not followed (they loop, and /var/log/pods is
            // reached by its own name).
            if !path.is_symlink() {
                walk(&path, out, compressed)?;
            }
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if [".gz", ".zst", ".xz", ".bz2"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            *compressed += 1;
        } else if looks_like_log(name) {
            out.push(path);
        }
    }
    Ok(())
}

/// `*.log`, `*.log.N`, `*.ndjson`, `*.jsonl`, `*.txt`.
fn looks_like_log(name: &str) -> bool {
    let base = match name.rsplit_once('.') {
        Some((b, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => b,
        _ => name,
    };
    base.ends_with(".log")
        || name.ends_with(".ndjson")
        || name.ends_with(".jsonl")
        || name.ends_with(".txt")
}

/// The kind of a file: by name as the agent decides (`*-json.log`, /var/log/containers,
/// /var/log/pods), else by its first non-blank line.
pub fn detect(path: &Path) -> Result<Kind> {
    match Format::for_path(path) {
        Format::JsonFile => return Ok(Kind::JsonFile),
        Format::Cri => return Ok(Kind::Cri),
        Format::Plain => {}
    }
    let mut head = Vec::with_capacity(64 << 10);
    std::fs::File::open(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .take(64 << 10)
        .read_to_end(&mut head)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let Some(line) = head
        .split(|b| *b == b'\n')
        .find(|l| !l.iter().all(u8::is_ascii_whitespace))
    else {
        return Ok(Kind::Plain);
    };
    let mut line = line.to_vec();
    line.push(b'\n');
    if JsonFileDecoder::new().decode(&line).is_ok() {
        return Ok(Kind::JsonFile);
    }
    if cri::parse_line(&line).is_ok() {
        return Ok(Kind::Cri);
    }
    let trimmed = line.trim_ascii();
    if trimmed.starts_with(b"{")
        && serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(trimmed).is_ok()
    {
        return Ok(Kind::Ndjson);
    }
    Ok(Kind::Plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2a9c1be0d84a7c9e51b2f6a8d04c1e7b93f5a2c6d8e0f1a3b5c7d9e1f2a4b6";

    fn naming() -> Naming {
        Naming {
            host: "node-1".into(),
            container: None,
            labels: BTreeMap::new(),
        }
    }

    #[test]
    fn finds_sets_and_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let c = dir.path().join(ID);
        std::fs::create_dir(&c).unwrap();
        let live = c.join(format!("{ID}-json.log"));
        let line = r#"{"log":"hi\n","stream":"stdout","time":"2026-11-20T10:00:00Z"}"#;
        for f in [".2", ".1", ""] {
            std::fs::write(format!("{}{f}", live.display()), format!("{line}\n")).unwrap();
        }
        std::fs::write(c.join(format!("{ID}-json.log.3.gz")), "x").unwrap();
        std::fs::write(c.join("config.v2.json"), r#"{"Name":"/web"}"#).unwrap();
        std::fs::write(
            dir.path().join("cri.log"),
            "2026-11-20T10:00:00.1Z stdout F hello\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("recs.ndjson"), "{\"a\":1}\n").unwrap();
        std::fs::write(dir.path().join("app.log"), "\nplain line\n").unwrap();
        std::fs::write(dir.path().join("app.log.1"), "older\n").unwrap();
        std::fs::write(dir.path().join("notes.md"), "# not a log\n").unwrap();

        let found = collect(&[dir.path().to_path_buf()], None, &naming()).unwrap();
        let got: Vec<(String, Kind, usize)> = found
            .sets
            .iter()
            .map(|s| {
                (
                    s.key.file_name().unwrap().to_str().unwrap().to_string(),
                    s.kind,
                    s.files.len(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (format!("{ID}-json.log"), Kind::JsonFile, 3),
                ("app.log".into(), Kind::Plain, 1),
                ("app.log.1".into(), Kind::Plain, 1),
                ("cri.log".into(), Kind::Cri, 1),
                ("recs.ndjson".into(), Kind::Ndjson, 1),
            ]
        );
        let set = &found.sets[0];
        assert!(set.files[0].to_str().unwrap().ends_with(".2"));
        assert_eq!(set.meta.container, "web");
        assert_eq!(
            set.meta.source_id("stdout"),
            format!("node-1/{}/stdout", &ID[..12])
        );
        assert_eq!(found.skipped.len(), 1);
        // A rotated file named alone stands for its set.
        let one = collect(
            &[c.join(format!("{ID}-json.log.1"))],
            None,
            &Naming {
                container: Some("shop".into()),
                ..naming()
            },
        )
        .unwrap();
        assert_eq!(one.sets.len(), 1);
        assert_eq!(one.sets[0].files.len(), 3);
        assert_eq!(one.sets[0].meta.container, "shop");
        let plain = &found.sets[1];
        assert_eq!(plain.meta.container, "app");
        assert_eq!(
            plain.meta.source_id("stdout"),
            format!("node-1/{}/stdout", dir.path().join("app.log").display())
        );
        assert!(collect(&[dir.path().join("nothing-here")], None, &naming()).is_err());
    }
}
