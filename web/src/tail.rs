//! `GET /api/v1/tail`: the last matches, then every new one, as NDJSON or SSE.
//!
//! NDJSON (the default): one record per line, each with an extra `"_cursor"` key; a
//! client that reconnects with `cursor=<the last _cursor it got>` continues with no
//! gap and no repeat. Lines without `@timestamp` are notices: `{"_notice":{"missed":N,
//! …}}` when the follower fell behind and the next N records were re-read from the
//! index, `{"_notice":{"warning":…}}` otherwise. An empty line every 15 s keeps idle
//! connections alive.
//!
//! SSE (`Accept: text/event-stream`): `event: record` with the cursor as the event
//! `id` (so a browser's `Last-Event-ID` resumes by itself), `event: notice` for notices.

use crate::error::ApiError;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use skein_model::Timestamp;
use skein_query::follow::{Follow, FollowCursor, FollowEvent, FollowRequest};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::mpsc;

/// Query-string parameters.
#[derive(Debug, Deserialize)]
pub struct TailParams {
    /// Query string.
    #[serde(default)]
    pub q: String,
    /// RFC 3339 or date math.
    pub since: Option<String>,
    /// RFC 3339 or date math.
    pub until: Option<String>,
    /// History size: a number or `all` (default 100, or `all` with `since`).
    pub n: Option<String>,
    /// `false` to end after the history (default `true`).
    pub follow: Option<bool>,
    /// The `_cursor` of the last record received, to resume.
    pub cursor: Option<String>,
}

/// Events buffered between a follower and its connection.
const CHANNEL: usize = 1024;
/// Bytes gathered into one body chunk.
const CHUNK: usize = 64 << 10;
const KEEPALIVE: Duration = Duration::from_secs(15);

fn request(p: TailParams, headers: &HeaderMap, now: Timestamp) -> Result<FollowRequest, ApiError> {
    let time = |name: &str, v: Option<&str>| -> Result<Option<Timestamp>, ApiError> {
        match v.map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => Timestamp::parse_expr(s, now)
                .map(Some)
                .map_err(|e| ApiError::bad_request("invalid_time", format!("`{name}`: {e}"))),
        }
    };
    let since = time("since", p.since.as_deref())?;
    let until = time("until", p.until.as_deref())?;
    let n = match p.n.as_deref().map(str::trim) {
        None | Some("") => (since.is_none()).then_some(100),
        Some("all") => None,
        Some(s) => Some(s.parse::<usize>().map_err(|_| {
            ApiError::bad_request(
                "invalid_n",
                format!("`n` is {s:?}; use a number of lines or `all`"),
            )
        })?),
    };
    let last_event = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let cursor = match p.cursor.or(last_event).as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(
            c.parse::<FollowCursor>()
                .map_err(|e| ApiError::bad_request("invalid_cursor", e))?,
        ),
    };
    Ok(FollowRequest {
        q: p.q,
        since,
        until,
        n,
        follow: p.follow.unwrap_or(true),
        cursor,
        now,
    })
}

fn ndjson(ev: &FollowEvent, out: &mut Vec<u8>) {
    match ev {
        FollowEvent::Record { record, cursor } => {
            let start = out.len();
            serde_json::to_writer(&mut *out, record).expect("a Record always serialises");
            // A record is always a JSON object: put the cursor in before its brace.
            debug_assert_eq!(out.last(), Some(&b'}'));
            out.pop();
            let sep = if out.len() - start > 1 { "," } else { "" };
            out.extend_from_slice(format!("{sep}\"_cursor\":\"{cursor}\"}}\n").as_bytes());
        }
        FollowEvent::Missed { count } => {
            let line = json!({"_notice": {"missed": count, "message": format!(
                "this follower fell behind the live feed; the next {count} lines were re-read from the index")}});
            out.extend_from_slice(line.to_string().as_bytes());
            out.push(b'\n');
        }
        FollowEvent::Warning(w) => {
            out.extend_from_slice(json!({"_notice": {"warning": w}}).to_string().as_bytes());
            out.push(b'\n');
        }
    }
}

fn sse(ev: &FollowEvent, out: &mut Vec<u8>) {
    match ev {
        FollowEvent::Record { record, cursor } => {
            out.extend_from_slice(format!("id: {cursor}\nevent: record\ndata: ").as_bytes());
            serde_json::to_writer(&mut *out, record).expect("a Record always serialises");
            out.extend_from_slice(b"\n\n");
        }
        FollowEvent::Missed { count } => {
            out.extend_from_slice(
                format!("event: notice\ndata: {}\n\n", json!({"missed": count})).as_bytes(),
            );
        }
        FollowEvent::Warning(w) => {
            out.extend_from_slice(
                format!("event: notice\ndata: {}\n\n", json!({"warning": w})).as_bytes(),
            );
        }
    }
}

/// Handles a tail.
pub async fn tail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<TailParams>,
) -> Result<Response, ApiError> {
    let req = request(params, &headers, Timestamp::now())?;
    let follow = Follow::new(state.engine.clone(), state.follow.clone(), req)
        .map_err(|e| ApiError::bad_request("query_parse_error", e.to_string()))?;
    let is_sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    let (tx, rx) = mpsc::channel(CHANNEL);
    tokio::spawn(async move {
        let errors = tx.clone();
        if let Err(e) = follow.run(tx).await {
            let _ = errors
                .send(FollowEvent::Warning(format!(
                    "following stopped: {e}; reconnect with the last cursor to continue"
                )))
                .await;
        }
    });
    let encode = if is_sse { sse } else { ndjson };
    let keepalive: &'static [u8] = if is_sse { b":\n\n" } else { b"\n" };
    let stream = futures_util::stream::unfold(rx, move |mut rx| async move {
        let first = match tokio::time::timeout(KEEPALIVE, rx.recv()).await {
            Err(_) => return Some((Ok::<_, Infallible>(keepalive.to_vec()), rx)),
            Ok(None) => return None,
            Ok(Some(ev)) => ev,
        };
        let mut buf = Vec::new();
        encode(&first, &mut buf);
        while buf.len() < CHUNK {
            match rx.try_recv() {
                Ok(ev) => encode(&ev, &mut buf),
                Err(_) => break,
            }
        }
        Some((Ok(buf), rx))
    });
    let content_type = if is_sse {
        "text/event-stream"
    } else {
        "application/x-ndjson"
    };
    let mut resp = (StatusCode::OK, Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}
