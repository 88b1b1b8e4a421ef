//! The Elasticsearch-compatible API under `/es`, so that shippers (Fluent Bit, Fluentd,
//! Vector, Filebeat) and Elasticsearch client libraries work by changing one URL.
//!
//! - [`info`]: cluster info, health, license, `_cat/indices`, and index create/exists
//!   answered as no-ops that remember the names.
//! - [`bulk`]: `_bulk` with `index` and `create` actions, through the same durable ingest
//!   path as `/api/v1/ingest`.
//! - [`mapping`]: an Elasticsearch document to a record, and the names users query by.
//! - [`dsl`]: the query DSL subset to the query language (through its syntax tree).
//! - [`search`]: `_search`, `_count` and `_msearch` in Elasticsearch's response shape.
//! - [`aggs`]: the aggregations of `_search`, through `/api/v1/aggregate`'s engine.
//! - [`source`]: `_source` filtering of hits.
//! - [`error`]: errors in Elasticsearch's shape.
//! - [`filter_path`]: the parts of an answer a client asked for (`filter_path`).
//!
//! Every answer carries `X-Elastic-Product: Elasticsearch`, which the official clients
//! check before they accept a response.

pub mod aggs;
pub mod bulk;
pub mod dsl;
pub mod error;
pub mod filter_path;
pub mod info;
pub mod mapping;
pub mod search;
pub mod source;

use crate::AppState;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use error::EsError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// The version reported to clients. Beats refuse a server older than themselves and the
/// official 8.x clients want an 8.x server, so this is a recent 8.x release.
pub const ES_VERSION: &str = "8.19.0";

/// What the `/es` handlers share.
#[derive(Clone)]
pub struct EsState {
    /// The server's state.
    pub app: AppState,
    /// Index names created or written to since the server started.
    pub indices: Arc<Mutex<BTreeSet<String>>>,
    /// Templates, pipelines and policies put by shippers at start-up, by kind and name
    /// (accepted and remembered, never applied).
    pub settings: Arc<Mutex<BTreeMap<(String, String), serde_json::Value>>>,
}

impl EsState {
    /// Remembers an index name.
    pub fn remember(&self, index: &str) {
        let mut known = self.indices.lock().expect("lock");
        if !known.contains(index) {
            known.insert(index.to_string());
        }
    }
}

/// The `/es` routes (merged into the server's router).
pub fn router<S>(app: AppState) -> Router<S> {
    let state = EsState {
        app,
        indices: Arc::default(),
        settings: Arc::default(),
    };
    Router::new()
        .route("/es", get(info::root).head(info::ping))
        .route("/es/", get(info::root).head(info::ping))
        .route("/es/_cluster/health", get(info::health))
        .route("/es/_cluster/health/{index}", get(info::health))
        .route("/es/_license", get(info::license))
        .route("/es/_xpack", get(info::xpack))
        .route("/es/_cat/indices", get(info::cat_indices))
        .route("/es/_cat/indices/{index}", get(info::cat_indices_of))
        .route("/es/_bulk", post(bulk::bulk).put(bulk::bulk))
        .route("/es/{index}/_bulk", post(bulk::bulk).put(bulk::bulk))
        .route("/es/_search", get(search::search).post(search::search))
        .route(
            "/es/{index}/_search",
            get(search::search).post(search::search),
        )
        .route("/es/_count", get(search::count).post(search::count))
        .route("/es/{index}/_count", get(search::count).post(search::count))
        .route("/es/_msearch", get(search::msearch).post(search::msearch))
        .route(
            "/es/{index}/_msearch",
            get(search::msearch).post(search::msearch),
        )
        .route("/es/_refresh", get(info::refresh).post(info::refresh))
        .route(
            "/es/{index}/_refresh",
            get(info::refresh_index).post(info::refresh_index),
        )
        .route(
            "/es/{index}",
            get(info::get_index)
                .head(info::index_exists)
                .put(info::create_index)
                .fallback(unsupported),
        )
        .route(
            "/es/_index_template/{name}",
            get(info::get_setting)
                .head(info::setting_exists)
                .put(info::put_setting),
        )
        .route(
            "/es/_template/{name}",
            get(info::get_setting)
                .head(info::setting_exists)
                .put(info::put_setting),
        )
        .route(
            "/es/_component_template/{name}",
            get(info::get_setting)
                .head(info::setting_exists)
                .put(info::put_setting),
        )
        .route(
            "/es/_ilm/policy/{name}",
            get(info::get_setting)
                .head(info::setting_exists)
                .put(info::put_setting),
        )
        .route(
            "/es/_ingest/pipeline/{name}",
            get(info::get_setting)
                .head(info::setting_exists)
                .put(info::put_setting),
        )
        // Anything else under /es is answered in Elasticsearch's shape, naming what is
        // not supported (a catch-all route would clash with the `{index}` routes).
        .route("/es/{index}/{op}", any(unsupported))
        .route("/es/{index}/{op}/{more}", any(unsupported))
        .route("/es/{index}/{op}/{more}/{rest}", any(unsupported))
        .layer(axum::middleware::map_response(product_header))
        .with_state(state)
}

async fn product_header(mut resp: Response) -> Response {
    resp.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    resp
}

async fn unsupported(method: Method, uri: Uri) -> EsError {
    EsError::unsupported(format!("{method} {}", uri.path()))
}
