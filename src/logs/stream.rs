//! The connection to `GET /api/v1/tail`: reads NDJSON, hands records on, and when the
//! connection breaks says so, reconnects with backoff and resumes after the last
//! record received (every record carries the cursor that resumes after it).

use super::names::unreachable;
use super::Event;
use anyhow::{bail, Context, Result};
use skein_model::Record;
use std::sync::mpsc::SyncSender;
use std::time::Duration;

/// What to ask the server for.
#[derive(Debug, Clone)]
pub struct TailSpec {
    /// Server base URL.
    pub server: String,
    /// The full query.
    pub q: String,
    /// RFC 3339.
    pub since: Option<String>,
    /// RFC 3339.
    pub until: Option<String>,
    /// History size, `None` for all.
    pub n: Option<usize>,
    /// Keep following.
    pub follow: bool,
}

/// The server sends an empty line every 15 s; three missing means the connection is dead.
const SILENCE: Duration = Duration::from_secs(45);
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

enum Outcome {
    /// The server ended the stream: the history is complete (or `until` passed).
    Ended,
    /// The connection broke.
    Broken(String),
}

/// Streams records into `tx` until the stream ends or the receiver goes away.
pub async fn run(client: &reqwest::Client, spec: &TailSpec, tx: &SyncSender<Event>) -> Result<()> {
    let mut cursor: Option<String> = None;
    let mut backoff = BACKOFF_MIN;
    let mut broken: Option<String> = None;
    loop {
        let mut params: Vec<(&str, String)> = vec![
            ("q", spec.q.clone()),
            ("follow", spec.follow.to_string()),
            ("n", spec.n.map_or("all".to_string(), |n| n.to_string())),
        ];
        if let Some(s) = &spec.since {
            params.push(("since", s.clone()));
        }
        if let Some(u) = &spec.until {
            params.push(("until", u.clone()));
        }
        if let Some(c) = &cursor {
            params.push(("cursor", c.clone()));
        }
        let sent = client
            .get(format!("{}/api/v1/tail", spec.server))
            .query(&params)
            .send()
            .await;
        let resp = match sent {
            Ok(r) if r.status().is_success() => r,
            Ok(r) if r.status().is_client_error() => {
                let status = r.status();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                let reason = body["error"]["reason"]
                    .as_str()
                    .unwrap_or("no reason given");
                bail!("the server refused the request ({status}): {reason}");
            }
            Ok(r) => {
                let why = format!("the server answered {}", r.status());
                if broken.is_none() && cursor.is_none() {
                    bail!("{why}; is {} a skein server?", spec.server);
                }
                retry(tx, &mut broken, why, &mut backoff).await?;
                continue;
            }
            Err(e) => {
                if broken.is_none() && cursor.is_none() {
                    bail!(unreachable(&spec.server, &e));
                }
                retry(tx, &mut broken, e.to_string(), &mut backoff).await?;
                continue;
            }
        };
        if broken.take().is_some() {
            backoff = BACKOFF_MIN;
            let _ = tx.send(Event::Notice(format!(
                "reconnected to {}; continuing after the last line printed",
                spec.server
            )));
        }
        match read(resp, &mut cursor, tx).await? {
            Outcome::Ended if !spec.follow || until_passed(spec) => {
                let _ = tx.send(Event::End);
                return Ok(());
            }
            Outcome::Ended => {
                retry(
                    tx,
                    &mut broken,
                    "the server closed the stream".into(),
                    &mut backoff,
                )
                .await?;
            }
            Outcome::Broken(why) => retry(tx, &mut broken, why, &mut backoff).await?,
        }
    }
}

fn until_passed(spec: &TailSpec) -> bool {
    spec.until.as_deref().is_some_and(|u| {
        skein_model::Timestamp::parse_rfc3339(u).is_ok_and(|u| u < skein_model::Timestamp::now())
    })
}

async fn retry(
    tx: &SyncSender<Event>,
    broken: &mut Option<String>,
    why: String,
    backoff: &mut Duration,
) -> Result<()> {
    if broken.is_none() {
        tx.send(Event::Notice(format!(
            "lost the connection to the server ({why}); reconnecting…"
        )))
        .context("output closed")?;
    }
    *broken = Some(why);
    tokio::time::sleep(*backoff).await;
    *backoff = (*backoff * 2).min(BACKOFF_MAX);
    Ok(())
}

async fn read(
    mut resp: reqwest::Response,
    cursor: &mut Option<String>,
    tx: &SyncSender<Event>,
) -> Result<Outcome> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = match tokio::time::timeout(SILENCE, resp.chunk()).await {
            Err(_) => {
                return Ok(Outcome::Broken(format!(
                    "nothing heard for {}s",
                    SILENCE.as_secs()
                )))
            }
            Ok(Err(e)) => return Ok(Outcome::Broken(e.to_string())),
            Ok(Ok(None)) => return Ok(Outcome::Ended),
            Ok(Ok(Some(c))) => c,
        };
        buf.extend_from_slice(&chunk);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            let line = &buf[start..start + nl];
            start += nl + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue; // keep-alive
            }
            let mut v: serde_json::Value =
                serde_json::from_slice(line).context("the server sent a line that is not JSON")?;
            let Some(obj) = v.as_object_mut() else {
                continue;
            };
            if let Some(notice) = obj.get("_notice") {
                let text = if let Some(n) = notice.get("missed") {
                    format!(
                        "fell behind by {n} lines; they follow, re-read from the server's index"
                    )
                } else {
                    notice["warning"].as_str().unwrap_or("").to_string()
                };
                tx.send(Event::Notice(text)).context("output closed")?;
                continue;
            }
            let c = obj.remove("_cursor");
            let record: Record = serde_json::from_value(v)
                .context("the server sent a record that could not be read")?;
            tx.send(Event::Record(Box::new(record)))
                .context("output closed")?;
            if let Some(c) = c.as_ref().and_then(|c| c.as_str()) {
                *cursor = Some(c.to_string());
            }
        }
        buf.drain(..start);
    }
}
