//! `skein patterns`: the message templates of the records a query matches, as
//! `GET /api/v1/patterns` answers them: counts, a sparkline of the trend, and which
//! are new or surging.

use crate::client::{Client, ServerArg};
use crate::escape::visible;
use crate::render::{terminal_width, thousands, Style};
use crate::search_cmd::Output;
use crate::timearg::to_server_time;
use anyhow::{bail, Result};
use serde_json::Value;
use skein_model::Timestamp;
use std::io::Write;

/// Arguments of `skein patterns`.
#[derive(clap::Args, Debug)]
pub struct PatternsArgs {
    /// Query the records must match; empty for all.
    #[arg(default_value = "")]
    pub query: String,
    /// Only records at or after this time (15m, 1h30m, Unix seconds, RFC 3339,
    /// now-1h); the last hour by default.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// Only records at or before this time.
    #[arg(long)]
    pub until: Option<String>,
    /// How many templates to list (at most 1000).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Latest activity first instead of most records first.
    #[arg(long)]
    pub recent: bool,
    /// Output: a table for people, or one JSON object per template for scripts.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Show times in UTC instead of the local zone.
    #[arg(long)]
    pub utc: bool,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Eight heights of a sparkline.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// Runs `skein patterns`.
pub fn run(args: PatternsArgs) -> Result<()> {
    if args.limit == 0 || args.limit > 1000 {
        bail!("--limit is {}; give 1 to 1000", args.limit);
    }
    let now = Timestamp::now();
    let mut query = vec![
        ("q", args.query.clone()),
        ("start", to_server_time(&args.since, now)?),
        ("limit", args.limit.to_string()),
        (
            "sort",
            if args.recent { "recent" } else { "count" }.to_string(),
        ),
    ];
    if let Some(u) = &args.until {
        query.push(("end", to_server_time(u, now)?));
    }
    let answer = Client::new(&args.server)?.get("/api/v1/patterns", &query)?;
    let patterns = answer["patterns"].as_array().cloned().unwrap_or_default();
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            for p in &patterns {
                writeln!(out, "{p}")?;
            }
        }
        Output::Table => {
            let style = Style::detect(args.utc);
            let width = terminal_width().unwrap_or(120);
            for p in &patterns {
                writeln!(out, "{}", line(p, &style, width))?;
            }
            let total = answer["total"].as_u64().unwrap_or(0);
            let other = answer["other"].as_u64().unwrap_or(0);
            let summary = format!(
                "{} templates of {} records{}; `skein search 'pattern:ID'` shows a template's records",
                patterns.len(),
                thousands(total),
                if other > 0 {
                    format!(" ({} in templates not listed)", thousands(other))
                } else {
                    String::new()
                }
            );
            writeln!(out, "{}", style.dim(&summary))?;
        }
    }
    Ok(())
}

/// One template: id, count, sparkline, badges, then the template cut to the width.
fn line(p: &Value, style: &Style, width: usize) -> String {
    let id = p["id"].as_str().unwrap_or("");
    let count = thousands(p["count"].as_u64().unwrap_or(0));
    let trend: Vec<u64> = p["trend"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let mut badges = String::new();
    if p["new"].as_bool() == Some(true) {
        badges.push_str(&style.paint_warn("new "));
    }
    if p["surging"].as_bool() == Some(true) {
        badges.push_str(&style.paint_warn("surging "));
    }
    let head = format!("{id}  {count:>9}  {}  ", sparkline(&trend));
    // Templates come from logs: control characters are shown, not obeyed.
    let template = visible(p["template"].as_str().unwrap_or(""), false).into_owned();
    let room = width.saturating_sub(head.chars().count() + 10).max(20);
    let template: String = if template.chars().count() > room {
        template.chars().take(room - 1).chain(['…']).collect()
    } else {
        template
    };
    format!("{}{badges}{template}", style.dim(&head))
}

/// Bars scaled to the largest bucket; an empty bucket is a space.
fn sparkline(trend: &[u64]) -> String {
    let max = trend.iter().copied().max().unwrap_or(0).max(1);
    trend
        .iter()
        .map(|&n| {
            if n == 0 {
                ' '
            } else {
                BARS[((n * 7).div_ceil(max)).min(7) as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparklines_scale_to_the_largest_bucket() {
        assert_eq!(sparkline(&[0, 1, 7, 14]), " ▂▅█");
        assert_eq!(sparkline(&[]), "");
    }
}
