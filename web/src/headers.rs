//! The security headers every answer carries: a Content-Security-Policy that allows
//! only the dashboard's own files (no inline script, no framing), no MIME sniffing, no
//! referrer. Values from logs are rendered as text by the page; the policy is the
//! second wall if one ever is not.

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
