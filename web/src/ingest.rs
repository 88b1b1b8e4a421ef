//! `POST /api/v1/ingest`: NDJSON records (or the agent's compact form,
//! [`skein_model::compact`]), durable before the answer.

use crate::error::ApiError;
use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use futures_util::StreamExt;
use serde::Serialize;
use skein_indexer::{text_buffers, Budget, IngestError, Permit, PreparedBatch};
use skein_model::compact;
use skein_model::record::Rejected;
use std::io::Read;

/// The ingest answer.
#[derive(Debug, Serialize)]
pub struct IngestResponse {
    /// Records made durable.
    pub accepted: usize,
    /// Records already held (same `_source_id` with a `_seq` at or below the highest).
    pub duplicates: usize,
    /// Lines that were not valid records, with their 1-based line number and reason.
    pub rejected: Vec<Rejected>,
}

/// A request body as read, with the share of the budget reserved for it.
pub struct BodyRead {
    /// The bytes as sent, in a buffer from [`text_buffers`] (give it back when done).
    pub raw: Vec<u8>,
    /// `Content-Encoding`, lower-cased.
    pub encoding: String,
    /// Reserved for `Content-Length` times the handler's expansion before the body was
    /// read, when the request said its length and room came within
    /// [`crate::Limits::inflight_wait`]; for a body without a length, what it took as
    /// it arrived.
    pub permit: Option<Permit>,
}

/// Reads a request body within the body limit (a 413 that says to send smaller
/// `what` otherwise). Before reading, reserves `Content-Length` times `expansion`
/// (what the handler will hold), waiting up to `limits.inflight_wait` for room; the handler
/// settles the share once it knows the decoded size ([`decode_body`]).
pub async fn read_body(
    body: Body,
    headers: &HeaderMap,
    budget: &Budget,
    expansion: usize,
    limits: &crate::Limits,
    what: &str,
) -> Result<BodyRead, ApiError> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!(
                "request body over {} bytes; send smaller {what}",
                limits.max_body_bytes
            ),
        )
    };
    if length.is_some_and(|l| l > limits.max_body_bytes) {
        return Err(too_large());
    }
    // A body refused for its size waits for no room.
    let permit = match length {
        Some(length) => {
            budget
                .acquire_within(length.saturating_mul(expansion), limits.inflight_wait)
                .await
        }
        None => None,
    };
    let mut charge = Charge {
        budget,
        permit,
        base: 0,
    };
    let mut raw = text_buffers::take(length.unwrap_or(0));
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                text_buffers::give_back(raw);
                return Err(ApiError::bad_request(
                    "invalid_body",
                    format!("cannot read the body: {e}"),
                ));
            }
        };
        if raw.len() + chunk.len() > limits.max_body_bytes {
            text_buffers::give_back(raw);
            return Err(too_large());
        }
        raw.extend_from_slice(&chunk);
        // A body sent without its length (chunked) is charged as it arrives, so that
        // many of them at once cannot hold more than the budget.
        if let Err(e) = charge.cover(raw.capacity()) {
            text_buffers::give_back(raw);
            return Err(e);
        }
    }
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("identity")
        .trim()
        .to_ascii_lowercase();
    Ok(BodyRead {
        raw,
        encoding,
        permit: charge.permit,
    })
}

/// The budget share for `bytes`: the one reserved before the body was read, resized,
/// or a new one; 429 when there is no room.
fn reserve(budget: &Budget, held: Option<Permit>, bytes: usize) -> Result<Permit, ApiError> {
    let permit = match held {
        Some(mut p) => p.resize(bytes).then_some(p),
        None => budget.try_acquire(bytes),
    };
    permit.ok_or_else(no_room)
}

/// The 429 for a request the in-flight budget has no room for.
pub(crate) fn no_room() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        "the server is indexing as fast as it can; retry after the delay in Retry-After",
    )
    .retry_after(1)
}

/// Bytes held per byte of NDJSON until the batch is parsed and its share settled
/// ([`PreparedBatch::fit_budget`]): the text, kept until it is in the WAL, and the
/// records, which take three to four times their text in memory.
const RECORD_EXPANSION: usize = 5;

/// Handles an ingest request.
pub async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    let limits = state.limits.clone();
    // Before reading the body: a client that sent a form we do not know learns it at
    // once (the agent then falls back to NDJSON).
    let form = compact::form_of(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    )
    .map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_batch_version",
            e.to_string(),
        )
    })?;
    let BodyRead {
        raw,
        encoding,
        permit,
    } = read_body(
        body,
        &headers,
        state.engine.budget(),
        RECORD_EXPANSION,
        &limits,
        "batches",
    )
    .await?;
    // Decompressing is CPU work: keep it off the async workers.
    let engine = state.engine.clone();
    let prepared = tokio::task::spawn_blocking(move || {
        let (decoded, permit) = decode_body(
            &encoding,
            raw,
            limits.max_decoded_bytes,
            engine.budget(),
            permit,
            RECORD_EXPANSION,
        )?;
        let horizon = engine.retention_horizon();
        let (mut batch, rejected) = PreparedBatch::from_body(decoded, form, Some(permit), horizon);
        if !batch.fit_budget() {
            return Err(no_room());
        }
        metrics::counter!("skein_records_rejected_total").increment(rejected.len() as u64);
        Ok::<_, ApiError>((batch, rejected))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    let (batch, rejected) = prepared;
    if batch.is_empty() {
        return Ok(Json(IngestResponse {
            accepted: 0,
            duplicates: 0,
            rejected,
        }));
    }
    let outcome = state.engine.ingest(batch).await.map_err(|e| match e {
        IngestError::Unavailable(_) | IngestError::ShuttingDown => {
            ApiError::unavailable(e.to_string())
        }
    })?;
    Ok(Json(IngestResponse {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        rejected,
    }))
}

/// The body as sent, decompressed per `Content-Encoding` within `max` bytes, in a
/// buffer from [`text_buffers`], with its budget share settled at `expansion` times the
/// decoded size (429 when it cannot grow there). A compressed body is charged as it is
/// produced (its compressed text and the decompressed buffer's whole capacity), so that
/// concurrent decompression bombs stop at the budget, not at the machine's memory.
pub(crate) fn decode_body(
    encoding: &str,
    raw: Vec<u8>,
    max: usize,
    budget: &Budget,
    permit: Option<Permit>,
    expansion: usize,
) -> Result<(Vec<u8>, Permit), ApiError> {
    let (decoded, permit) = if matches!(encoding, "identity" | "") {
        (raw, permit)
    } else {
        let mut charge = Charge {
            budget,
            permit,
            base: raw.len(),
        };
        let decoded = decompress(encoding, &raw, max, &mut charge);
        text_buffers::give_back(raw);
        (decoded?, charge.permit)
    };
    match reserve(budget, permit, decoded.len() * expansion) {
        Ok(permit) => Ok((decoded, permit)),
        Err(e) => {
            text_buffers::give_back(decoded);
            Err(e)
        }
    }
}

/// The budget share of a body being decompressed.
struct Charge<'a> {
    budget: &'a Budget,
    permit: Option<Permit>,
    /// Bytes held besides the decompressed buffer (the compressed text).
    base: usize,
}

impl Charge<'_> {
    /// Makes the share cover decompressed buffers of `capacity` bytes in all (it only
    /// grows: the handler settles it once the body is decoded).
    fn cover(&mut self, capacity: usize) -> Result<(), ApiError> {
        let bytes = self.base + capacity;
        let covered = match &mut self.permit {
            Some(p) => p.bytes() >= bytes || p.resize(bytes),
            None => {
                self.permit = self.budget.try_acquire(bytes);
                self.permit.is_some()
            }
        };
        if covered {
            Ok(())
        } else {
            Err(no_room())
        }
    }
}

/// Decompressed bytes produced between two budget checks.
const DECODE_CHUNK: usize = 256 << 10;

fn decompress(
    encoding: &str,
    raw: &[u8],
    max: usize,
    charge: &mut Charge<'_>,
) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("decompressed body over {max} bytes; send smaller batches"),
        )
    };
    let compressed = raw.len();
    let mut read_limited = |r: &mut dyn Read| -> Result<Vec<u8>, ApiError> {
        // Logs compress about 8:1; start near that to avoid regrowing the buffer.
        // (`max` may be below a chunk when --max-body-bytes is small.)
        let mut out = text_buffers::take((compressed * 8).max(DECODE_CHUNK).min(max + 1));
        let result = loop {
            if out.len() == out.capacity() {
                // Grow by doubling, but never past the limit, and charge before the
                // memory is taken: while the buffer moves, the old one and the new one
                // are both held.
                let want = (out.capacity() * 2)
                    .max(out.len() + DECODE_CHUNK)
                    .min(max + 1);
                if let Err(e) = charge.cover(out.capacity() + want) {
                    break Err(e);
                }
                out.reserve_exact(want - out.len());
            }
            if let Err(e) = charge.cover(out.capacity()) {
                break Err(e);
            }
            // Straight into the buffer's free room, a chunk at a time, so the budget is
            // checked as the bytes are produced.
            let room = (out.capacity() - out.len()).min(DECODE_CHUNK) as u64;
            match (&mut *r).take(room).read_to_end(&mut out) {
                Ok(0) => break Ok(()),
                Ok(_) if out.len() > max => break Err(too_large()),
                Ok(_) => {}
                Err(e) => {
                    break Err(ApiError::bad_request(
                        "invalid_body",
                        format!("cannot decompress the body as {encoding}: {e}"),
                    ))
                }
            }
        };
        match result {
            Ok(()) => Ok(out),
            Err(e) => {
                text_buffers::give_back(out);
                Err(e)
            }
        }
    };
    match encoding {
        "zstd" => {
            // Reading straight from the slice avoids copying through a BufReader.
            let mut d = zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| {
                ApiError::bad_request("invalid_body", format!("bad zstd body: {e}"))
            })?;
            read_limited(&mut d)
        }
        "gzip" | "x-gzip" => read_limited(&mut flate2::read::MultiGzDecoder::new(raw)),
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            format!("Content-Encoding {other:?} is not supported; use zstd, gzip or none"),
        )),
    }
}
