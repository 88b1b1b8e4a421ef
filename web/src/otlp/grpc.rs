//! OTLP/gRPC `LogsService/Export` on `--otlp-grpc-listen`: tonic's generated service,
//! served by axum so that the guard (the `ingest` scope, from the `authorization`
//! metadata, which is the HTTP/2 header), TLS and the server's shutdown are the HTTP
//! routes' own. The same mapping ([`super::map`]) and the same budget and WAL path
//! ([`super::store`]) as `POST /v1/logs`.
//!
//! tonic decodes the message before the handler runs: its size is held to
//! four times `--max-body-bytes`, the decompressed limit of HTTP bodies
//! (`RESOURCE_EXHAUSTED` over it), then the budget share is reserved
//! for the decoded message as for an HTTP body.

use super::{map, store, Outcome, EXPANSION};
use crate::error::ApiError;
use crate::AppState;
use axum::http::StatusCode;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message;
use skein_model::Timestamp;
use tonic::codec::CompressionEncoding;

/// The route of `Export`, as gRPC names it.
pub const PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// The service, over the server's state.
pub struct Logs {
    state: AppState,
}

/// The tonic service for [`PATH`], with the server's size limit and gzip accepted.
pub fn service(state: AppState) -> LogsServiceServer<Logs> {
    let max = state.limits.max_decoded_bytes;
    LogsServiceServer::new(Logs { state })
        .max_decoding_message_size(max)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
}

#[tonic::async_trait]
impl LogsService for Logs {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let request = request.into_inner();
        let state = &self.state;
        let bytes = request.encoded_len().saturating_mul(EXPANSION);
        let permit = state
            .engine
            .budget()
            .acquire_within(bytes, state.limits.inflight_wait)
            .await
            .ok_or_else(|| status(crate::ingest::no_room()))?;
        let engine = state.engine.clone();
        let mapped = tokio::task::spawn_blocking(move || {
            map::map_request(request, Timestamp::now(), engine.retention_horizon())
        })
        .await
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
        let Outcome { rejected, reason } = store(state, mapped, permit).await.map_err(status)?;
        Ok(tonic::Response::new(ExportLogsServiceResponse {
            partial_success: (rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: rejected as i64,
                error_message: reason.unwrap_or_default(),
            }),
        }))
    }
}

/// The gRPC status of an error: OTLP/gRPC exporters retry `UNAVAILABLE` (with
/// backoff), which is what an over-budget (429) or unwritable (503) server wants.
fn status(e: ApiError) -> tonic::Status {
    match e.status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            tonic::Status::unavailable(e.reason)
        }
        StatusCode::BAD_REQUEST => tonic::Status::invalid_argument(e.reason),
        _ => tonic::Status::internal(e.reason),
    }
}
