//! The parsed records as one flat CSV table, for loading the same data into the SQL
//! engines `bench/query` compares against (ClickHouse via chDB, DuckDB).

use anyhow::{Context, Result};
use serde_json::Value;
use skein_model::Record;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Column names, in order; `ts` is `@timestamp` in UTC nanoseconds, the rest are the
/// record's fields (`fields.` keys without the prefix). An empty unquoted value is NULL.
pub const COLUMNS: &[&str] = &[
    "ts",
    "host",
    "container",
    "image",
    "stream",
    "level",
    "message",
    "service",
    "path",
    "method",
    "status",
    "latency_ms",
    "user_id",
    "trace_id",
];

/// Writes records as CSV (RFC 4180 quoting; strings always quoted, so `""` is an empty
/// string and nothing at all is NULL) to a temporary file renamed into place by
/// [`TableWriter::finish`], so a table that exists is complete.
pub struct TableWriter {
    out: BufWriter<std::fs::File>,
    tmp: PathBuf,
    path: PathBuf,
    /// Rows written.
    pub rows: u64,
}

fn quoted(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    out.write_all(b"\"")?;
    let mut rest = s.as_bytes();
    while let Some(i) = rest.iter().position(|&b| b == b'"') {
        out.write_all(&rest[..=i])?;
        out.write_all(b"\"")?;
        rest = &rest[i + 1..];
    }
    out.write_all(rest)?;
    out.write_all(b"\"")
}

fn text_field(out: &mut impl Write, v: Option<&Value>) -> std::io::Result<()> {
    match v {
        Some(Value::String(s)) => quoted(out, s),
        Some(Value::Null) | None => Ok(()),
        Some(other) => quoted(out, &other.to_string()),
    }
}

fn number_field(out: &mut impl Write, v: Option<&Value>) -> std::io::Result<()> {
    match v {
        Some(Value::Number(n)) => write!(out, "{n}"),
        _ => Ok(()),
    }
}

impl TableWriter {
    /// Starts `path` (written as `path.tmp` until finished) with the header line.
    pub fn create(path: &Path) -> Result<TableWriter> {
        let tmp = path.with_extension("csv.tmp");
        let f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, f);
        writeln!(out, "{}", COLUMNS.join(","))?;
        Ok(TableWriter {
            out,
            tmp,
            path: path.to_path_buf(),
            rows: 0,
        })
    }

    /// Appends one record.
    pub fn write(&mut self, r: &Record) -> Result<()> {
        let o = &mut self.out;
        write!(o, "{},", r.timestamp.0)?;
        for s in [&r.host, &r.container, &r.image, &r.stream] {
            quoted(o, s)?;
            o.write_all(b",")?;
        }
        if let Some(l) = r.level {
            quoted(o, l.as_str())?;
        }
        o.write_all(b",")?;
        quoted(o, &r.message)?;
        let f = &r.fields;
        for k in ["service", "path", "method"] {
            o.write_all(b",")?;
            text_field(o, f.get(k))?;
        }
        for k in ["status", "latency_ms", "user_id"] {
            o.write_all(b",")?;
            number_field(o, f.get(k))?;
        }
        o.write_all(b",")?;
        text_field(o, f.get("trace_id"))?;
        o.write_all(b"\n")?;
        self.rows += 1;
        Ok(())
    }

    /// Flushes and renames the table into place.
    pub fn finish(self) -> Result<u64> {
        let rows = self.rows;
        let f = self.out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&self.tmp, &self.path)
            .with_context(|| format!("renaming {} into place", self.tmp.display()))?;
        Ok(rows)
    }
}
