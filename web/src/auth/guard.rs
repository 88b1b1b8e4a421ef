//! The check every routed request passes before its handler (a `route_layer`, so it
//! knows which route matched):
//!
//! 1. the route's declared [`Access`]; a route that declares none is refused (default
//!    deny: a route added without a scope cannot leak);
//! 2. cross-site writes are refused, auth or not (`Origin`, `Sec-Fetch-Site`), so a
//!    page the user visits cannot post records or dashboards;
//! 3. a request without an `Authorization` header (a cookie session, or auth off) must
//!    name an allowed `Host`, which defeats DNS rebinding;
//! 4. with auth on: the token (`Bearer`, `ApiKey`, Basic password) or session cookie,
//!    then the scope. Failures are counted per address and on `/metrics`.

use super::scope::Access;
use super::tokens::Refusal;
use super::{client_ip, Auth, Credential};
use crate::error::ApiError;
use crate::es::error::EsError;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;

/// The guard middleware.
pub async fn guard(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    // A clone of `MatchedPath` shares its string: no copy per request.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let path = matched.as_ref().map_or("", |p| p.as_str());
    let es = path.starts_with("/es");
    let Some(access) = crate::routes::access(req.method(), path) else {
        return refuse(
            es,
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "{} {path} declares no scope, so it is refused; this is a bug in skein",
                req.method()
            ),
        );
    };
    if let Some(reason) = cross_site_write(req.method(), req.headers(), &auth.config.cors_origins) {
        return refuse(es, StatusCode::FORBIDDEN, "cross_site_refused", reason);
    }
    let credential = match Credential::of(req.headers()) {
        Ok(c) => c,
        Err(reason) => return unauthorized(es, reason),
    };
    if !matches!(credential, Some(Credential::Secret(_))) {
        if let Some(reason) = auth.foreign_host(req.headers()) {
            return refuse(es, StatusCode::FORBIDDEN, "host_not_allowed", reason);
        }
    }
    if !auth.enabled() {
        return next.run(req).await;
    }
    let scope = match access {
        Access::Open => return next.run(req).await,
        Access::AnyToken => None,
        Access::Needs(s) => Some(s),
    };
    let ip = client_ip(&req);
    if let Some(wait) = auth.limiter.blocked(ip) {
        return too_many(wait, es);
    }
    let key = match auth.resolve(credential) {
        Ok(k) => k,
        Err(refusal) => {
            auth.failed(ip, refusal);
            let reason = match refusal {
                None => "this route needs a token: send `Authorization: Bearer TOKEN` \
                         (tokens are made with `skein token create`), or log in on the \
                         dashboard"
                    .to_string(),
                Some(Refusal::Expired) => "the token has expired; ask an admin for a new one \
                                           (`skein token create`)"
                    .to_string(),
                Some(Refusal::Unknown) => "the token is not valid (unknown or revoked); check \
                                           it, or ask an admin for a new one"
                    .to_string(),
            };
            return unauthorized(es, reason);
        }
    };
    if let Some(scope) = scope.filter(|s| !key.scopes.allows(*s)) {
        return refuse(
            es,
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the token {:?} holds the scopes [{}]; {} {path} needs the {scope} scope",
                key.name,
                key.scopes,
                req.method()
            ),
        );
    }
    req.extensions_mut().insert(super::Caller(key.name.clone()));
    next.run(req).await
}

/// Why a write is cross-site, if it is: it carries an `Origin` other than the server's
/// own (compared with `Host`) or one of `cors` (`--cors-origin`), or the browser says
/// so in `Sec-Fetch-Site`. Clients that are not browsers send neither.
fn cross_site_write(method: &Method, headers: &HeaderMap, cors: &[String]) -> Option<String> {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return None;
    }
    let origin_text = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if origin_text.is_some_and(|o| cors.iter().any(|c| c.eq_ignore_ascii_case(o))) {
        return None;
    }
    let refuse = |what: &str| {
        Some(format!(
            "a {method} from {what} is refused: writes must come from this server's own \
             pages or from a client that is not a browser"
        ))
    };
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return refuse(&format!("a {site} page"));
        }
    }
    let origin = headers.get(header::ORIGIN)?;
    let Some(origin) = origin.to_str().ok() else {
        return refuse("an unreadable Origin");
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let authority = origin
        .strip_prefix("http://")
        .map(|a| (a, "80"))
        .or_else(|| origin.strip_prefix("https://").map(|a| (a, "443")));
    let same = match (authority, host) {
        (Some((a, default_port)), Some(h)) => {
            let with_port = |x: &str| {
                if x.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']')) {
                    x.to_ascii_lowercase()
                } else {
                    format!("{}:{default_port}", x.to_ascii_lowercase())
                }
            };
            with_port(a.trim_end_matches('/')) == with_port(h)
        }
        _ => false,
    };
    if same {
        None
    } else {
        refuse(&format!("origin {origin}"))
    }
}

/// A refusal in the route's error shape (Elasticsearch's under `/es`).
fn refuse(es: bool, status: StatusCode, kind: &'static str, reason: String) -> Response {
    if es {
        let kind = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "security_exception",
            _ => "es_rejected_execution_exception",
        };
        let mut resp = EsError {
            status,
            kind,
            reason,
            retry_after: None,
        }
        .into_response();
        resp.headers_mut().insert(
            "x-elastic-product",
            HeaderValue::from_static("Elasticsearch"),
        );
        resp
    } else {
        ApiError::new(status, kind, reason).into_response()
    }
}

/// 401, with the challenges the route's clients understand.
fn unauthorized(es: bool, reason: String) -> Response {
    let mut resp = refuse(es, StatusCode::UNAUTHORIZED, "unauthorized", reason);
    let h = resp.headers_mut();
    h.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"skein\""),
    );
    if es {
        h.append(header::WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey"));
        h.append(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"skein\", charset=\"UTF-8\""),
        );
    }
    resp
}

/// 429 for an address over the failure limit.
pub fn too_many(wait: Duration, es: bool) -> Response {
    let secs = wait.as_secs().max(1) as u32;
    let mut resp = refuse(
        es,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_failures",
        format!(
            "too many failed authentication attempts from this address; wait {secs} s and \
             check the token"
        ),
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn writes_from_another_origin_are_cross_site() {
        let post = Method::POST;
        let own = headers(&[
            ("host", "127.0.0.1:9280"),
            ("origin", "http://127.0.0.1:9280"),
        ]);
        assert!(cross_site_write(&post, &own, &[]).is_none());
        let other_port = headers(&[
            ("host", "127.0.0.1:9280"),
            ("origin", "http://127.0.0.1:8000"),
        ]);
        assert!(cross_site_write(&post, &other_port, &[]).is_some());
        let null = headers(&[("host", "127.0.0.1:9280"), ("origin", "null")]);
        assert!(cross_site_write(&post, &null, &[]).is_some());
        let default_port = headers(&[("host", "logs.example"), ("origin", "https://logs.example")]);
        assert!(cross_site_write(&post, &default_port, &[]).is_none());
        let site = headers(&[("host", "a"), ("sec-fetch-site", "cross-site")]);
        assert!(cross_site_write(&post, &site, &[]).is_some());
        assert!(cross_site_write(&Method::GET, &other_port, &[]).is_none());
        let curl = headers(&[("host", "127.0.0.1:9280")]);
        assert!(cross_site_write(&post, &curl, &[]).is_none());
        let grafana = headers(&[
            ("host", "127.0.0.1:9280"),
            ("origin", "https://grafana.example"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert!(cross_site_write(&post, &grafana, &[]).is_some());
        assert!(cross_site_write(&post, &grafana, &["https://grafana.example".into()]).is_none());
    }
}
