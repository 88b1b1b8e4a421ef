//! The security headers every answer carries: a Content-Security-Policy that allows
//! only the dashboard's own files (no inline script, no framing), no MIME sniffing, no
//! referrer. Values from logs are rendered as text by the page; the policy is the
//! second wall if one ever is not. CORS only for origins named with `--cors-origin`.

use axum::http::{header, HeaderValue};
use axum::response::Response;

/// The dashboard's policy: its own scripts, styles, images and API only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the headers to an answer.
pub async fn security(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// CORS for `origins` (exact, e.g. `https://grafana.example`): their pages may call the
/// API with a token in `Authorization`, never with the session cookie. With no origin
/// the layer adds nothing, so browsers keep the same-origin policy.
pub fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use axum::http::Method;
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok())
        .collect();
    if list.is_empty() {
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(list))
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
        ])
        .max_age(std::time::Duration::from_secs(600))
}
