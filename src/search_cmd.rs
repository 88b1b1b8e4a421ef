//! `skein search Q`: the newest matching records as a table for people or NDJSON for
//! scripts.

use crate::client::{Client, ServerArg};
use crate::escape::{visible, visible_json};
use crate::render::{thousands, Style};
use crate::timearg::to_server_time;
use anyhow::{bail, Result};
use serde_json::Value;
use skein_model::Timestamp;
use std::io::{IsTerminal, Write};

/// How records are printed.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Time, container, level and message in aligned columns.
    Table,
    /// One JSON record per line, as the API returns them.
    Json,
}

/// Arguments of `skein search`.
#[derive(clap::Args, Debug)]
pub struct SearchArgs {
    /// Query, in the Lucene-style language (`level:error AND container:web`); empty or
    /// `*` for everything.
    #[arg(default_value = "")]
    pub query: String,
    /// Only records at or after this time: a duration before now (15m, 1h30m), Unix
    /// seconds, RFC 3339 (local time without a zone), or now-1h.
    #[arg(long)]
    pub since: Option<String>,
    /// Only records at or before this time (same forms as --since).
    #[arg(long)]
    pub until: Option<String>,
    /// How many of the newest matches to print (at most 10000).
    #[arg(long, short = 'n', default_value_t = 100)]
    pub limit: usize,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Show times in UTC instead of the local zone.
    #[arg(long)]
    pub utc: bool,
    /// Print control characters from the records as sent, escape sequences included;
    /// by default they are shown escaped (`\x1b`) when stdout is a terminal.
    #[arg(long)]
    pub raw_control: bool,
    #[command(flatten)]
    pub server: ServerArg,
}

/// Runs `skein search`.
pub fn run(args: SearchArgs) -> Result<()> {
    if args.limit > 10_000 {
        bail!("--limit is {}; at most 10000", args.limit);
    }
    let now = Timestamp::now();
    let mut query = vec![("q", args.query.clone()), ("limit", args.limit.to_string())];
    if let Some(s) = &args.since {
        query.push(("start", to_server_time(s, now)?));
    }
    if let Some(u) = &args.until {
        query.push(("end", to_server_time(u, now)?));
    }
    let client = Client::new(&args.server)?;
    // The page first, printed as soon as it comes; the total after it when counting
    // needs every match read (a phrase over days of records).
    let mut page_query = query.clone();
    page_query.push(("total", "later".into()));
    let answer = client.get("/api/v1/search", &page_query)?;
    let mut hits: Vec<Value> = answer["hits"].as_array().cloned().unwrap_or_default();
    // The newest come first from the server; print them oldest first, so the newest line
    // ends up next to the prompt, as in `docker logs`.
    hits.reverse();
    // Only what a terminal would obey needs escaping; files and pipes get the bytes.
    let escape = !args.raw_control && std::io::stdout().is_terminal();
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Json => {
            for h in &hits {
                let line = h.to_string();
                if escape {
                    writeln!(out, "{}", visible_json(&line))?;
                } else {
                    writeln!(out, "{line}")?;
                }
            }
        }
        Output::Table => {
            let style = Style::detect(args.utc);
            table(&mut out, &hits, style, escape)?;
            let mut took = answer["took_ms"].as_u64().unwrap_or(0);
            let total = match answer["total"].as_u64() {
                Some(t) => t,
                None => {
                    query[1].1 = "0".into();
                    let count = client.get("/api/v1/search", &query)?;
                    took += count["took_ms"].as_u64().unwrap_or(0);
                    count["total"].as_u64().unwrap_or(0)
                }
            };
            eprintln!(
                "{}",
                style.dim(&format!(
                    "{} of {} matching records, newest last ({took} ms)",
                    thousands(hits.len() as u64),
                    thousands(total),
                ))
            );
        }
    }
    Ok(())
}

/// Prints hits as aligned columns; continuation lines of multi-line messages are
/// indented under the message column. With `escape`, control characters of the records
/// are shown escaped ([`visible`]).
fn table(out: &mut impl Write, hits: &[Value], style: Style, escape: bool) -> Result<()> {
    let text = |v: &Value, keep_newlines: bool| -> String {
        let s = v.as_str().unwrap_or("");
        if escape {
            visible(s, keep_newlines).into_owned()
        } else {
            s.to_string()
        }
    };
    let hosts: std::collections::HashSet<&str> =
        hits.iter().filter_map(|h| h["host"].as_str()).collect();
    let source = |h: &Value| -> String {
        let c = text(&h["container"], false);
        if hosts.len() > 1 {
            format!("{}/{c}", text(&h["host"], false))
        } else {
            c
        }
    };
    let width = hits
        .iter()
        .map(|h| source(h).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(9, 40);
    let time_width = 30;
    writeln!(
        out,
        "{}",
        style.bold(&format!(
            "{:<time_width$} {:<width$} {:<5} MESSAGE",
            "TIME", "CONTAINER", "LEVEL"
        ))
    )?;
    let indent = " ".repeat(time_width + width + 5 + 3);
    for h in hits {
        // An unparsable time is printed as the record has it: escaped like the rest.
        let time = style.time(&text(&h["@timestamp"], false));
        let level = text(&h["level"], false);
        let message = text(&h["message"], true);
        let mut lines = message.lines();
        writeln!(
            out,
            "{:<time_width$} {:<width$} {} {}",
            time,
            source(h),
            style.level(&level),
            lines.next().unwrap_or("")
        )?;
        for more in lines {
            writeln!(out, "{indent}{more}")?;
        }
    }
    Ok(())
}
