//! The skein server's HTTP surface: one axum [`router`] on one port.
//!
//! - [`ingest`]: `POST /api/v1/ingest`, NDJSON in (plain, zstd or gzip), durable before
//!   the answer, each bad line rejected on its own.
//! - [`search`]: `GET /api/v1/search`.
//! - [`tail`]: `GET /api/v1/tail`, history then live records as NDJSON or SSE.
//! - [`aggregate`]: `POST /api/v1/aggregate`.
//! - [`patterns`]: `GET /api/v1/patterns`.
//! - [`catalog`]: `GET /api/v1/fields` and `GET /api/v1/sources`: what is in the index.
//! - [`es`]: the Elasticsearch-compatible API under `/es` (its own module tree).
//! - [`ops`]: `GET /healthz` and `GET /metrics` (Prometheus text).
//! - [`error`]: the JSON error shape `{"error":{"type":…,"reason":…}}` every route uses.
//! - [`assets`]: the dashboard page at `/` and its embedded files under `/assets/`.
//! - [`dashboards`]: saved dashboards, `/api/v1/dashboards` CRUD over `DATA/dashboards/`.
//! - [`admin`]: operator actions (`POST /api/v1/admin/reset-seq`).
//! - [`routes`]: every route with the scope each method needs; the router is built
//!   from it.
//! - [`auth`]: tokens, scopes, dashboard sessions, and the guard every routed request
//!   passes (default deny).
//! - [`headers`]: the security headers of every answer.
//! - [`tls`]: HTTPS: certificates from files or made at first start, and the listener.

pub mod admin;
pub mod aggregate;
pub mod assets;
pub mod auth;
pub mod catalog;
pub mod dashboards;
pub mod error;
pub mod es;
pub mod headers;
pub mod ingest;
pub mod ops;
pub mod otlp;
pub mod patterns;
pub mod routes;
pub mod search;
pub mod tail;
pub mod tls;

use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use skein_indexer::Engine;
use std::sync::Arc;

/// Limits of the HTTP API.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted, as sent (compressed or not).
    pub max_body_bytes: usize,
    /// Largest body accepted once decompressed.
    pub max_decoded_bytes: usize,
    /// Largest body of every other request (searches, aggregations, dashboards, `/es`
    /// reads): these are read whole and parsed into trees several times their size.
    pub max_request_bytes: usize,
    /// Time limit of a search or aggregation when the request names none (its
    /// `timeout`); past it the answer holds what was found and says `timed_out`.
    pub query_timeout: Option<std::time::Duration>,
    /// How long a request waits for room in the back-pressure budget before its body is
    /// read. A client answered 429 sends its whole body again after a delay, and under
    /// sustained load those resends cost more than holding the request a moment.
    pub inflight_wait: std::time::Duration,
    /// Bounds on one aggregation (`/api/v1/aggregate`, `/es` `aggs`, the dashboards).
    pub agg: skein_query::AggLimits,
    /// Searches one `_msearch` request may hold.
    pub max_msearch: usize,
    /// Searches of one `_msearch` run at once, at most (`max_concurrent_searches` may
    /// ask fewer).
    pub msearch_concurrency: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body_bytes: 32 << 20,
            max_decoded_bytes: 128 << 20,
            max_request_bytes: 1 << 20,
            query_timeout: Some(std::time::Duration::from_secs(30)),
            inflight_wait: std::time::Duration::from_secs(1),
            agg: skein_query::AggLimits::default(),
            max_msearch: DEFAULT_MAX_MSEARCH,
            msearch_concurrency: default_msearch_concurrency(),
        }
    }
}

/// Default of [`Limits::max_msearch`].
pub const DEFAULT_MAX_MSEARCH: usize = 100;

/// Default of [`Limits::msearch_concurrency`]: one search per core, as the query pool
/// has threads; more would only queue there while holding their answers.
pub fn default_msearch_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The ingest and storage engine.
    pub engine: Arc<Engine>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// Request limits.
    pub limits: Limits,
    /// Saved dashboards.
    pub dashboards: Arc<dashboards::Store>,
    /// Live followers of `GET /api/v1/tail`.
    pub follow: skein_query::follow::Hub,
    /// Tokens, sessions and whether auth is on.
    pub auth: Arc<auth::Auth>,
    /// Open scrolls and points in time of the `/es` API.
    pub es_contexts: Arc<es::scroll::Contexts>,
}

/// The Elasticsearch-compatible API at the root of a port of its own (`--es-listen`):
/// every path is answered as `/es` + path by [`router`], so a shipper that cannot add a
/// path prefix (rsyslog posts to `/_bulk`) works, with the same auth and limits. The
/// other routes are not reachable there: `/api/v1/search` becomes an unknown `/es`
/// index operation.
pub fn es_root_router(state: AppState) -> Router {
    fn under_es(mut req: Request<Body>) -> Request<Body> {
        let rest = req.uri().path_and_query().map_or("/", |p| p.as_str());
        let prefixed = format!("/es{rest}");
        if let Ok(uri) = prefixed.parse() {
            *req.uri_mut() = uri;
        }
        req
    }
    Router::new().fallback_service(tower::ServiceExt::map_request(router(state), under_es))
}

/// The router of `--otlp-grpc-listen`: OTLP/gRPC `LogsService/Export`
/// ([`otlp::grpc`]) behind the same guard as every route, so it needs the `ingest` scope.
pub fn otlp_grpc_router(state: AppState) -> Router {
    Router::new()
        .route_service(otlp::grpc::PATH, otlp::grpc::service(state.clone()))
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::guard::guard,
        ))
}

/// Builds the router serving every route on one port.
pub fn router(state: AppState) -> Router {
    routes::build(routes::api())
        .merge(es::router(state.clone()))
        // After routing, so the guard knows which route matched; the fallback (404)
        // answers nothing but "no such route".
        .route_layer(axum::middleware::from_fn_with_state(
            state.auth.clone(),
            auth::guard::guard,
        ))
        .fallback(error::not_found)
        // Ingest and bulk read their `Body` under their own limits
        // (`--max-body-bytes`); every route that takes its body whole is held to this.
        .layer(DefaultBodyLimit::max(state.limits.max_request_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.limits.max_request_bytes,
            error::json_rejections,
        ))
        .layer(axum::middleware::map_response(headers::security))
        .layer(headers::cors(&state.auth.config.cors_origins))
        .with_state(state)
}
