//! `skein agg`: the common aggregation questions without writing JSON: count over time,
//! split by a field, top values, and statistics of a numeric field.
//!
//! The flags build one `POST /api/v1/aggregate` request: a split (`--by`/`--top`, the
//! outer `terms`), then time (`--interval`, a `date_histogram`), then the measure (a
//! count, or `--stats`). The split is outside time so that every time row has the same
//! columns: the overall top values, as a trend graph wants them.

use crate::client::{Client, ServerArg};
use crate::render::{terminal_width, thousands, Style};
use crate::search_cmd::Output;
use crate::timearg::to_server_time;
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};
use skein_model::Timestamp;
use std::collections::BTreeMap;
use std::io::Write;

/// Arguments of `skein agg`.
#[derive(clap::Args, Debug)]
pub struct AggArgs {
    /// Query the records must match; empty for all.
    #[arg(default_value = "")]
    pub query: String,
    /// Only records at or after this time (15m, 1h30m, Unix seconds, RFC 3339, now-1h).
    #[arg(long)]
    pub since: Option<String>,
    /// Only records at or before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// Count over time in buckets of this width (30s, 1m, 1h, 1d) or `auto` (about 40
    /// buckets). The default when no other question is asked.
    #[arg(long)]
    pub interval: Option<String>,
    /// Split by the values of this field (level, container, fields.path, …).
    #[arg(long, conflicts_with = "top")]
    pub by: Option<String>,
    /// The most common values of this field with their counts.
    #[arg(long)]
    pub top: Option<String>,
    /// How many values --by and --top keep (the rest are counted as `other`).
    #[arg(long, default_value_t = 10)]
    pub size: u32,
    /// Count, min, avg, max, sum and percentiles of this numeric field.
    #[arg(long)]
    pub stats: Option<String>,
    /// With a count over time: forecast the next buckets (one season, or a quarter of
    /// the history) with a 95% band, and name the past buckets outside theirs.
    #[arg(long, conflicts_with_all = ["by", "top", "stats"])]
    pub forecast: bool,
    /// Output: a table for people, or one JSON object per row for scripts.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Show times in UTC instead of the local zone.
    #[arg(long)]
    pub utc: bool,
    #[command(flatten)]
    pub server: ServerArg,
}

/// One answer row: its place (time, value) and its measures.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    time: Option<i64>,
    value: Option<Value>,
    count: u64,
    stats: Option<Stats>,
}

#[derive(Debug, Clone, PartialEq)]
struct Stats {
    min: Option<f64>,
    avg: Option<f64>,
    max: Option<f64>,
    sum: Option<f64>,
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
}

const PERCENTS: [f64; 3] = [50.0, 90.0, 99.0];

/// Runs `skein agg`.
pub fn run(args: AggArgs) -> Result<()> {
    if args.size == 0 || args.size > 10_000 {
        bail!("--size is {}; give 1 to 10000", args.size);
    }
    let split = args.by.clone().or(args.top.clone());
    let interval = match (&args.interval, &split, &args.stats) {
        (Some(i), _, _) => Some(i.clone()),
        (None, None, None) => Some("auto".to_string()),
        _ => None,
    };
    let now = Timestamp::now();
    let mut body = json!({"q": args.query});
    if let Some(s) = &args.since {
        body["start"] = Value::String(to_server_time(s, now)?);
    }
    if let Some(u) = &args.until {
        body["end"] = Value::String(to_server_time(u, now)?);
    }
    body["aggs"] = request(
        split.as_deref(),
        interval.as_deref(),
        args.stats.as_deref(),
        args.size,
    );
    if args.forecast {
        body["aggs"]["time"]["date_histogram"]["forecast"] = Value::Bool(true);
    }
    let answer = Client::new(&args.server)?.post("/api/v1/aggregate", &body)?;
    let aggs = &answer["aggregations"];
    let rows = rows(
        aggs,
        split.is_some(),
        interval.is_some(),
        args.stats.is_some(),
    );
    let total = answer["total"].as_u64().unwrap_or(0);
    let chosen = aggs["time"]["interval"]
        .as_str()
        .or(interval.as_deref())
        .unwrap_or("")
        .to_string();
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            for r in &rows {
                writeln!(out, "{}", row_json(r, split.as_deref()))?;
            }
            for b in forecast_buckets(aggs, "buckets") {
                let mut row = json!({"time": key_time(b), "forecast": b["value"]});
                row["lower"] = b["lower"].clone();
                row["upper"] = b["upper"].clone();
                writeln!(out, "{row}")?;
            }
        }
        Output::Table => {
            let style = Style::detect(args.utc);
            // `30s` and `500ms` buckets need seconds in their times.
            let seconds = chosen.ends_with('s');
            let field = split.as_deref().unwrap_or("");
            if interval.is_some() && split.is_some() && args.stats.is_none() {
                pivot(&mut out, &rows, aggs, field, style, seconds)?;
            } else {
                long_table(&mut out, &rows, field, total, style, seconds)?;
            }
            if args.forecast {
                forecast_table(&mut out, aggs, style, seconds)?;
            }
            let mut footer = format!("{} matching records", thousands(total));
            if interval.is_some() {
                footer.push_str(&format!(", interval {chosen}"));
            }
            if let Some(other) = other_count(aggs) {
                if other > 0 {
                    footer.push_str(&format!(
                        ", {} in values beyond the top {}",
                        thousands(other),
                        args.size
                    ));
                }
            }
            eprintln!("{}", style.dim(&footer));
        }
    }
    Ok(())
}

fn forecast_buckets<'a>(aggs: &'a Value, list: &str) -> &'a [Value] {
    aggs["time"]["forecast"][list]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

fn key_time(bucket: &Value) -> String {
    Timestamp(bucket["key"].as_i64().unwrap_or(0) * 1_000_000).to_string()
}

/// The forecast under the counts, and the past buckets outside their band.
fn forecast_table(out: &mut impl Write, aggs: &Value, style: Style, seconds: bool) -> Result<()> {
    let f = &aggs["time"]["forecast"];
    if let Some(reason) = f["reason"].as_str() {
        writeln!(out, "{}", style.dim(&format!("no forecast: {reason}")))?;
        return Ok(());
    }
    writeln!(
        out,
        "{}",
        style.bold(&format!(
            "FORECAST ({}, season {} buckets, 95% band)",
            f["model"].as_str().unwrap_or(""),
            f["season_buckets"]
        ))
    )?;
    let time = |b: &Value| style.bucket_time(b["key"].as_i64().unwrap_or(0), seconds);
    let n = |v: &Value| num(v.as_f64().map(f64::round));
    for b in forecast_buckets(aggs, "buckets") {
        writeln!(
            out,
            "{}  ~{}  [{} – {}]",
            time(b),
            n(&b["value"]),
            n(&b["lower"]),
            n(&b["upper"])
        )?;
    }
    for a in forecast_buckets(aggs, "anomalies") {
        writeln!(
            out,
            "{}",
            style.paint_warn(&format!(
                "anomaly at {}: {} where {} – {} was expected",
                time(a),
                a["doc_count"],
                n(&a["lower"]),
                n(&a["upper"])
            ))
        )?;
    }
    Ok(())
}

/// The aggregations object for the flags.
fn request(split: Option<&str>, interval: Option<&str>, stats: Option<&str>, size: u32) -> Value {
    let leaf = stats.map(|f| {
        json!({
            "stats": {"stats": {"field": f}},
            "pct": {"percentiles": {"field": f, "percents": PERCENTS}},
        })
    });
    let time = interval.map(|i| {
        let mut h = json!({"date_histogram": {"field": "@timestamp"}});
        if i == "auto" {
            h["date_histogram"]["fixed_interval"] = json!("auto");
            h["date_histogram"]["buckets"] = json!(40);
        } else {
            h["date_histogram"]["fixed_interval"] = json!(i);
        }
        if let Some(l) = &leaf {
            h["aggs"] = l.clone();
        }
        h
    });
    let mut aggs = Map::new();
    match split {
        Some(f) => {
            let mut t = json!({"terms": {"field": f, "size": size}});
            if let Some(time) = &time {
                t["aggs"] = json!({"time": time});
            } else if let Some(l) = &leaf {
                t["aggs"] = l.clone();
            }
            aggs.insert("split".into(), t);
            // The total over time, so a pivot can show what the top values leave out.
            if let Some(time) = time {
                let mut all = time.clone();
                if let Some(o) = all.as_object_mut() {
                    o.remove("aggs");
                }
                aggs.insert("time".into(), all);
            }
        }
        None => {
            if let Some(time) = time {
                aggs.insert("time".into(), time);
            } else if let Some(Value::Object(l)) = leaf {
                aggs.extend(l);
            }
        }
    }
    Value::Object(aggs)
}

fn buckets(v: &Value) -> &[Value] {
    v["buckets"].as_array().map_or(&[], Vec::as_slice)
}

fn stats_of(v: &Value) -> Stats {
    let pct = |p: f64| v["pct"]["values"][format!("{p:.1}")].as_f64();
    Stats {
        min: v["stats"]["min"].as_f64(),
        avg: v["stats"]["avg"].as_f64(),
        max: v["stats"]["max"].as_f64(),
        sum: v["stats"]["sum"].as_f64(),
        p50: pct(50.0),
        p90: pct(90.0),
        p99: pct(99.0),
    }
}

/// Flattens the answer into rows: by value (in the server's order), then by time.
fn rows(aggs: &Value, split: bool, time: bool, stats: bool) -> Vec<Row> {
    let leaf = |b: &Value, t: Option<i64>, v: Option<Value>, count: u64| Row {
        time: t,
        value: v,
        count,
        stats: stats.then(|| stats_of(b)),
    };
    let count = |b: &Value| b["doc_count"].as_u64().unwrap_or(0);
    let mut out = Vec::new();
    if split {
        for s in buckets(&aggs["split"]) {
            let v = Some(s["key"].clone());
            if time {
                for b in buckets(&s["time"]) {
                    out.push(leaf(b, b["key"].as_i64(), v.clone(), count(b)));
                }
            } else {
                out.push(leaf(s, None, v, count(s)));
            }
        }
    } else if time {
        for b in buckets(&aggs["time"]) {
            out.push(leaf(b, b["key"].as_i64(), None, count(b)));
        }
    } else {
        let n = aggs["stats"]["count"].as_u64().unwrap_or(0);
        out.push(leaf(aggs, None, None, n));
    }
    out
}

fn other_count(aggs: &Value) -> Option<u64> {
    aggs["split"]["sum_other_doc_count"].as_u64()
}

fn row_json(r: &Row, field: Option<&str>) -> Value {
    let mut o = Map::new();
    if let Some(t) = r.time {
        o.insert(
            "time".into(),
            Value::String(Timestamp(t * 1_000_000).to_string()),
        );
    }
    if let (Some(v), Some(f)) = (&r.value, field) {
        o.insert(f.to_string(), v.clone());
    }
    o.insert("count".into(), Value::from(r.count));
    if let Some(s) = &r.stats {
        for (k, v) in [
            ("min", s.min),
            ("avg", s.avg),
            ("max", s.max),
            ("sum", s.sum),
            ("p50", s.p50),
            ("p90", s.p90),
            ("p99", s.p99),
        ] {
            o.insert(k.into(), v.map_or(Value::Null, Value::from));
        }
    }
    Value::Object(o)
}

/// A split value as a table cell. Values come from records: on a terminal their control
/// characters are shown escaped, like `skein search` does.
fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) if std::io::IsTerminal::is_terminal(&std::io::stdout()) => {
            crate::escape::visible(s, false).into_owned()
        }
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
        Some(x) => format!("{x:.2}"),
    }
}

fn bar(count: u64, max: u64, width: usize) -> String {
    if max == 0 || width == 0 {
        return String::new();
    }
    let eighths = (count as u128 * width as u128 * 8 / max as u128) as usize;
    let mut s = "█".repeat(eighths / 8);
    if !eighths.is_multiple_of(8) {
        s.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8 - 1]);
    }
    s
}

/// One row per (value, time) with the count or the statistics; a bar when counting.
fn long_table(
    out: &mut impl Write,
    rows: &[Row],
    field: &str,
    total: u64,
    style: Style,
    seconds: bool,
) -> Result<()> {
    let has_time = rows.iter().any(|r| r.time.is_some());
    let has_value = rows.iter().any(|r| r.value.is_some());
    let has_stats = rows.iter().any(|r| r.stats.is_some());
    let mut cells: Vec<Vec<String>> = Vec::new();
    let mut header = Vec::new();
    if has_value {
        header.push(field.to_uppercase());
    }
    if has_time {
        header.push("TIME".into());
    }
    header.push("COUNT".into());
    if has_stats {
        header.extend(["MIN", "AVG", "MAX", "SUM", "P50", "P90", "P99"].map(String::from));
    } else if has_value && !has_time {
        header.push("%".into());
    }
    for r in rows {
        let mut row = Vec::new();
        if has_value {
            row.push(r.value.as_ref().map(key_text).unwrap_or_default());
        }
        if has_time {
            row.push(
                r.time
                    .map(|t| style.bucket_time(t, seconds))
                    .unwrap_or_default(),
            );
        }
        row.push(thousands(r.count));
        if let Some(s) = &r.stats {
            row.extend([s.min, s.avg, s.max, s.sum, s.p50, s.p90, s.p99].map(num));
        } else if has_value && !has_time {
            let pct = if total == 0 {
                0.0
            } else {
                r.count as f64 * 100.0 / total as f64
            };
            row.push(format!("{pct:.1}%"));
        }
        cells.push(row);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let used: usize = widths.iter().map(|w| w + 2).sum();
    let bar_width = if has_stats {
        0
    } else {
        terminal_width()
            .unwrap_or(100)
            .saturating_sub(used + 1)
            .min(50)
    };
    let max = rows.iter().map(|r| r.count).max().unwrap_or(0);
    let line = |cols: &[String]| -> String {
        cols.iter()
            .enumerate()
            .map(|(i, c)| {
                // Numbers right-aligned, names and times left-aligned.
                let numeric = header[i] == "COUNT"
                    || header[i] == "%"
                    || (has_stats && i + 7 >= header.len());
                if numeric {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
    };
    writeln!(out, "{}", style.bold(&line(&header)))?;
    for (r, c) in rows.iter().zip(&cells) {
        let b = bar(r.count, max, bar_width);
        if b.is_empty() {
            writeln!(out, "{}", line(c))?;
        } else {
            writeln!(out, "{}  {b}", line(c))?;
        }
    }
    Ok(())
}

/// Time down, the split's values across, and the total of each time (values beyond the
/// top ones included).
fn pivot(
    out: &mut impl Write,
    rows: &[Row],
    aggs: &Value,
    field: &str,
    style: Style,
    seconds: bool,
) -> Result<()> {
    let mut values: Vec<String> = Vec::new();
    let mut grid: BTreeMap<i64, BTreeMap<String, u64>> = BTreeMap::new();
    for r in rows {
        let v = r.value.as_ref().map(key_text).unwrap_or_default();
        if !values.contains(&v) {
            values.push(v.clone());
        }
        if let Some(t) = r.time {
            *grid.entry(t).or_default().entry(v).or_default() += r.count;
        }
    }
    let totals: BTreeMap<i64, u64> = buckets(&aggs["time"])
        .iter()
        .filter_map(|b| Some((b["key"].as_i64()?, b["doc_count"].as_u64()?)))
        .collect();
    let times: Vec<i64> = totals
        .keys()
        .copied()
        .chain(grid.keys().copied())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let time_w = times
        .first()
        .map_or(4, |t| style.bucket_time(*t, seconds).chars().count());
    let widths: Vec<usize> = values.iter().map(|v| v.chars().count().max(7)).collect();
    let mut header = format!("{:<time_w$}", "TIME");
    for (v, w) in values.iter().zip(&widths) {
        header.push_str(&format!("  {v:>w$}"));
    }
    header.push_str(&format!("  {:>7}", "TOTAL"));
    writeln!(
        out,
        "{}  {}",
        style.bold(&header),
        style.dim(&format!("(by {field})"))
    )?;
    for t in times {
        let mut line = format!("{:<time_w$}", style.bucket_time(t, seconds));
        let row = grid.get(&t);
        for (v, w) in values.iter().zip(&widths) {
            let n = row.and_then(|r| r.get(v)).copied().unwrap_or(0);
            line.push_str(&format!("  {:>w$}", thousands(n)));
        }
        let total = totals
            .get(&t)
            .copied()
            .unwrap_or_else(|| row.map_or(0, |r| r.values().sum()));
        line.push_str(&format!("  {:>7}", thousands(total)));
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_build_the_request_with_the_split_outside_time() {
        let r = request(Some("level"), Some("1m"), None, 5);
        assert_eq!(r["split"]["terms"], json!({"field": "level", "size": 5}));
        assert_eq!(
            r["split"]["aggs"]["time"]["date_histogram"]["fixed_interval"],
            "1m"
        );
        assert_eq!(r["time"]["date_histogram"]["fixed_interval"], "1m");
        let r = request(None, None, Some("fields.latency_ms"), 10);
        assert_eq!(r["stats"]["stats"]["field"], "fields.latency_ms");
        assert_eq!(
            r["pct"]["percentiles"]["percents"],
            json!([50.0, 90.0, 99.0])
        );
        let r = request(None, Some("auto"), None, 10);
        assert_eq!(r["time"]["date_histogram"]["buckets"], 40);
    }

    #[test]
    fn bars_scale_to_the_largest() {
        assert_eq!(bar(10, 10, 4), "████");
        assert_eq!(bar(5, 10, 4), "██");
        assert_eq!(bar(1, 16, 2), "▏");
        assert_eq!(bar(0, 10, 4), "");
    }
}
