//! The Elasticsearch-compatible API under `/es`, so that shippers (Fluent Bit, Fluentd,
//! Vector, Filebeat) and Elasticsearch client libraries work by changing one URL.
//!
//! - [`info`]: cluster info, health (also `_cat/health`), license, `_cat/indices`, and
//!   index create/exists and cluster settings answered as no-ops that remember them.
//! - [`bulk`]: `_bulk` with `index` and `create` actions, through the same durable ingest
//!   path as `/api/v1/ingest`.
//! - [`doc`]: single documents (`_doc`, `_create`): written as a one-document bulk,
//!   read by `_id`.
//! - [`mapping`]: an Elasticsearch document to a record, and the names users query by.
//! - [`mappings`]: `_mapping`: the fields an index holds with their types, and mappings
//!   put (remembered, not applied).
//! - [`dsl`]: the query DSL subset to the query language (through its syntax tree).
//! - [`search`]: `_search`, `_count` and `_msearch` in Elasticsearch's response shape.
//! - [`scroll`]: scroll and point in time, pages over a snapshot.
//! - [`aggs`]: the aggregations of `_search`, through `/api/v1/aggregate`'s engine.
//! - [`source`]: `_source` filtering of hits.
//! - [`error`]: errors in Elasticsearch's shape.
//! - [`filter_path`]: the parts of an answer a client asked for (`filter_path`).
//!
//! Every answer carries `X-Elastic-Product: Elasticsearch`, which the official clients
//! check before they accept a response.

pub mod aggs;
pub mod bulk;
pub mod doc;
pub mod dsl;
pub mod error;
pub mod filter_path;
pub mod info;
pub mod mapping;
pub mod mappings;
pub mod scroll;
pub mod search;
pub mod source;

use crate::auth::Access;
use crate::routes::{Route, ADMIN, ANY, INGEST, QUERY};
use crate::AppState;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::Response;
use axum::routing::{any, delete, get, post, put};
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
    crate::routes::build(routes())
        .layer(axum::middleware::map_response(product_header))
        .with_state(state)
}

/// Every `/es` route with what each method needs: `ingest` for writes and for what
/// shippers call as they start (templates, policies, pipelines, index create and
/// exists), `query` for reads, any token for the calls both kinds of client make first.
pub fn routes() -> Vec<Route<EsState>> {
    let setting = || {
        get(info::get_setting)
            .head(info::setting_exists)
            .put(info::put_setting)
    };
    const SETUP: &[(&str, Access)] = &[("GET", INGEST), ("HEAD", INGEST), ("PUT", INGEST)];
    const SEARCH: &[(&str, Access)] = &[("GET", QUERY), ("POST", QUERY)];
    // Clearing a scroll is part of reading with it (helpers.scan does it last).
    const SCROLL: &[(&str, Access)] = &[("GET", QUERY), ("POST", QUERY), ("DELETE", QUERY)];
    // Anything else under /es is answered in Elasticsearch's shape, naming what is not
    // supported (a catch-all route would clash with the `{index}` routes); a write
    // there (`_update`, a `DELETE` of a document) is an ingest call.
    const REST: &[(&str, Access)] = &[("GET", QUERY), ("*", INGEST)];
    vec![
        Route::new("/es", &[("GET", ANY)], get(info::root).head(info::ping)),
        Route::new("/es/", &[("GET", ANY)], get(info::root).head(info::ping)),
        Route::new("/es/_cluster/health", &[("GET", ANY)], get(info::health)),
        Route::new(
            "/es/_cluster/health/{index}",
            &[("GET", ANY)],
            get(info::health),
        ),
        Route::new("/es/_cat/health", &[("GET", ANY)], get(info::cat_health)),
        Route::new(
            "/es/_cluster/settings",
            &[("GET", QUERY), ("PUT", ADMIN)],
            get(info::get_cluster_settings).put(info::put_cluster_settings),
        ),
        Route::new("/es/_license", &[("GET", ANY)], get(info::license)),
        Route::new("/es/_xpack", &[("GET", ANY)], get(info::xpack)),
        Route::new(
            "/es/_cat/indices",
            &[("GET", QUERY)],
            get(info::cat_indices),
        ),
        Route::new(
            "/es/_cat/indices/{index}",
            &[("GET", QUERY)],
            get(info::cat_indices_of),
        ),
        Route::new(
            "/es/_bulk",
            &[("POST", INGEST), ("PUT", INGEST)],
            post(bulk::bulk).put(bulk::bulk),
        ),
        Route::new(
            "/es/{index}/_bulk",
            &[("POST", INGEST), ("PUT", INGEST)],
            post(bulk::bulk).put(bulk::bulk),
        ),
        Route::new(
            "/es/_search",
            SEARCH,
            get(search::search).post(search::search),
        ),
        Route::new(
            "/es/{index}/_search",
            SEARCH,
            get(search::search).post(search::search),
        ),
        Route::new(
            "/es/_search/scroll",
            SCROLL,
            get(scroll::next).post(scroll::next).delete(scroll::clear),
        ),
        Route::new(
            "/es/_search/scroll/{id}",
            SCROLL,
            get(scroll::next).post(scroll::next).delete(scroll::clear),
        ),
        Route::new(
            "/es/{index}/_pit",
            &[("POST", QUERY)],
            post(scroll::open_pit),
        ),
        Route::new("/es/_pit", &[("DELETE", QUERY)], delete(scroll::close_pit)),
        Route::new("/es/_count", SEARCH, get(search::count).post(search::count)),
        Route::new(
            "/es/{index}/_count",
            SEARCH,
            get(search::count).post(search::count),
        ),
        Route::new(
            "/es/_msearch",
            SEARCH,
            get(search::msearch).post(search::msearch),
        ),
        Route::new(
            "/es/{index}/_msearch",
            SEARCH,
            get(search::msearch).post(search::msearch),
        ),
        Route::new(
            "/es/_refresh",
            &[("GET", ANY), ("POST", ANY)],
            get(info::refresh).post(info::refresh),
        ),
        Route::new(
            "/es/{index}/_refresh",
            &[("GET", ANY), ("POST", ANY)],
            get(info::refresh_index).post(info::refresh_index),
        ),
        Route::new(
            "/es/{index}",
            &[
                ("GET", ANY),
                ("HEAD", INGEST),
                ("PUT", INGEST),
                ("*", ADMIN),
            ],
            get(info::get_index)
                .head(info::index_exists)
                .put(info::create_index)
                .fallback(unsupported),
        ),
        Route::new(
            "/es/{index}/_doc",
            &[("POST", INGEST), ("*", INGEST)],
            post(doc::post_new).fallback(unsupported),
        ),
        Route::new(
            "/es/{index}/_doc/{id}",
            &[
                ("GET", QUERY),
                ("HEAD", QUERY),
                ("PUT", INGEST),
                ("POST", INGEST),
                ("*", INGEST),
            ],
            get(doc::get)
                .head(doc::exists)
                .put(doc::put)
                .post(doc::put)
                .fallback(unsupported),
        ),
        Route::new(
            "/es/{index}/_create/{id}",
            &[("PUT", INGEST), ("POST", INGEST), ("*", INGEST)],
            put(doc::create).post(doc::create).fallback(unsupported),
        ),
        Route::new("/es/_mapping", &[("GET", QUERY)], get(mappings::get_all)),
        Route::new(
            "/es/{index}/_mapping",
            &[("GET", QUERY), ("PUT", INGEST), ("POST", INGEST)],
            get(mappings::get_of).put(mappings::put).post(mappings::put),
        ),
        Route::new("/es/_index_template/{name}", SETUP, setting()),
        Route::new("/es/_template/{name}", SETUP, setting()),
        Route::new("/es/_component_template/{name}", SETUP, setting()),
        Route::new("/es/_ilm/policy/{name}", SETUP, setting()),
        Route::new("/es/_ingest/pipeline/{name}", SETUP, setting()),
        Route::new("/es/{index}/{op}", REST, any(unsupported)),
        Route::new("/es/{index}/{op}/{more}", REST, any(unsupported)),
        Route::new("/es/{index}/{op}/{more}/{rest}", REST, any(unsupported)),
    ]
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
