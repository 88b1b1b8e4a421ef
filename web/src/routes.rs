//! Every route of the server with the [`Access`] each method needs, declared together
//! so that a route cannot exist without a scope: the router is built from these lists
//! and the guard looks requests up in them ([`access`]); a method a list does not name
//! is refused.

use crate::auth::{Access, Scope};
use crate::AppState;
use crate::{
    admin, aggregate, assets, auth, catalog, dashboards, ingest, ops, otlp, patterns, search, tail,
};
use axum::http::Method;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use std::collections::HashMap;
use std::sync::OnceLock;

/// A path, its handlers, and what each method needs. `"*"` stands for every method the
/// list does not name.
pub struct Route<S> {
    /// The path pattern, as axum matches it.
    pub path: &'static str,
    /// Method name (or `"*"`) and what it needs.
    pub access: &'static [(&'static str, Access)],
    /// The handlers.
    pub handler: MethodRouter<S>,
}

impl<S> Route<S> {
    /// A route.
    pub fn new(
        path: &'static str,
        access: &'static [(&'static str, Access)],
        handler: MethodRouter<S>,
    ) -> Route<S> {
        Route {
            path,
            access,
            handler,
        }
    }
}

/// Builds a router from routes.
pub fn build<S: Clone + Send + Sync + 'static>(routes: Vec<Route<S>>) -> Router<S> {
    routes
        .into_iter()
        .fold(Router::new(), |r, x| r.route(x.path, x.handler))
}

/// Open to anyone.
pub const OPEN: Access = Access::Open;
/// Any valid token.
pub const ANY: Access = Access::AnyToken;
/// The `ingest` scope.
pub const INGEST: Access = Access::Needs(Scope::Ingest);
/// The `query` scope.
pub const QUERY: Access = Access::Needs(Scope::Query);
/// The `admin` scope.
pub const ADMIN: Access = Access::Needs(Scope::Admin);

/// The routes outside `/es`.
pub fn api() -> Vec<Route<AppState>> {
    vec![
        Route::new("/api/v1/ingest", &[("POST", INGEST)], post(ingest::ingest)),
        Route::new("/v1/logs", &[("POST", INGEST)], post(otlp::logs)),
        Route::new("/api/v1/search", &[("GET", QUERY)], get(search::search)),
        Route::new("/api/v1/tail", &[("GET", QUERY)], get(tail::tail)),
        Route::new(
            "/api/v1/aggregate",
            &[("POST", QUERY)],
            post(aggregate::aggregate),
        ),
        Route::new("/api/v1/fields", &[("GET", QUERY)], get(catalog::fields)),
        Route::new("/api/v1/sources", &[("GET", QUERY)], get(catalog::sources)),
        Route::new(
            "/api/v1/patterns",
            &[("GET", QUERY)],
            get(patterns::patterns),
        ),
        Route::new(
            "/api/v1/admin/reset-seq",
            &[("POST", ADMIN)],
            post(admin::reset_seq),
        ),
        Route::new("/api/v1/delete", &[("POST", ADMIN)], post(admin::delete)),
        Route::new(
            "/api/v1/admin/snapshot",
            &[("POST", ADMIN)],
            post(admin::snapshot),
        ),
        Route::new(
            "/api/v1/session",
            &[("GET", OPEN), ("POST", OPEN), ("DELETE", OPEN)],
            get(auth::session::status)
                .post(auth::session::login)
                .delete(auth::session::logout),
        ),
        Route::new("/healthz", &[("GET", OPEN)], get(ops::healthz)),
        Route::new("/metrics", &[("GET", QUERY)], get(ops::metrics)),
        Route::new("/api/v1/retention", &[("GET", QUERY)], get(ops::retention)),
        Route::new(
            "/api/v1/dashboards",
            &[("GET", QUERY), ("POST", ADMIN)],
            get(dashboards::list).post(dashboards::create),
        ),
        Route::new(
            "/api/v1/dashboards/{id}",
            &[("GET", QUERY), ("PUT", ADMIN), ("DELETE", ADMIN)],
            get(dashboards::get)
                .put(dashboards::put)
                .delete(dashboards::delete),
        ),
        Route::new("/", &[("GET", OPEN)], get(assets::index)),
        Route::new("/assets/{*path}", &[("GET", OPEN)], get(assets::asset)),
    ]
}

/// One method of one route, for listings and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    /// The path pattern.
    pub path: &'static str,
    /// The method, or `"*"`.
    pub method: &'static str,
    /// What it needs.
    pub access: Access,
}

/// Every route and method of the server with what it needs.
pub fn table() -> &'static [RouteInfo] {
    static TABLE: OnceLock<Vec<RouteInfo>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut out = Vec::new();
        let mut add = |path, access: &'static [(&'static str, Access)]| {
            for (method, a) in access {
                out.push(RouteInfo {
                    path,
                    method,
                    access: *a,
                });
            }
        };
        for r in api() {
            add(r.path, r.access);
        }
        for r in crate::es::routes() {
            add(r.path, r.access);
        }
        out
    })
}

/// The routes of `--otlp-grpc-listen` ([`crate::otlp_grpc_router`]) with what they
/// need: apart from [`table`], which lists what the main port serves.
pub const GRPC: &[RouteInfo] = &[RouteInfo {
    path: crate::otlp::grpc::PATH,
    method: "POST",
    access: INGEST,
}];

/// What `method` on the route matched as `path` needs; `None` if it declares nothing.
pub fn access(method: &Method, path: &str) -> Option<Access> {
    static INDEX: OnceLock<HashMap<(&'static str, &'static str), Access>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        table()
            .iter()
            .chain(GRPC)
            .map(|r| ((r.path, r.method), r.access))
            .collect()
    });
    let find = |m: &str| index.get(&(path, m)).copied();
    find(method.as_str())
        .or_else(|| (*method == Method::HEAD).then(|| find("GET")).flatten())
        .or_else(|| find("*"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_need_ingest_or_admin_and_only_a_few_routes_are_open() {
        let open: Vec<_> = table()
            .iter()
            .filter(|r| r.access == Access::Open)
            .map(|r| (r.method, r.path))
            .collect();
        assert_eq!(
            open,
            [
                ("GET", "/api/v1/session"),
                ("POST", "/api/v1/session"),
                ("DELETE", "/api/v1/session"),
                ("GET", "/healthz"),
                ("GET", "/"),
                ("GET", "/assets/{*path}"),
            ]
        );
        assert_eq!(access(&Method::POST, "/es/_bulk"), Some(INGEST));
        assert_eq!(access(&Method::POST, "/v1/logs"), Some(INGEST));
        assert_eq!(access(&Method::POST, crate::otlp::grpc::PATH), Some(INGEST));
        assert_eq!(access(&Method::HEAD, "/api/v1/search"), Some(QUERY));
        assert_eq!(access(&Method::PATCH, "/api/v1/search"), None);
        assert_eq!(access(&Method::DELETE, "/es/{index}/{op}"), Some(INGEST));
    }
}
