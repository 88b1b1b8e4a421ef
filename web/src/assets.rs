//! The dashboard's static files (plain HTML, CSS and ES modules under `web/assets/`),
//! embedded in the binary and served at `/` and `/assets/…`.
//!
//! There is no build step: each file is served as written. Every answer carries an
//! `ETag` (a hash of the content) and `Cache-Control: no-cache`, so a browser keeps its
//! copy and only revalidates it (a 304 with no body) — a new binary is picked up on the
//! next load without stale modules.
//!
//! The Content-Security-Policy that keeps the page to its own files, and `nosniff`,
//! come from the router ([`crate::headers`]) on every answer; the unit test below keeps
//! these files within the policy (no inline script, handler or style attribute).

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

macro_rules! assets {
    ($($path:literal => $mime:literal),* $(,)?) => {
        /// Every embedded file: path under `/assets/`, content type, bytes.
        pub static FILES: &[(&str, &str, &[u8])] = &[
            $(($path, $mime, include_bytes!(concat!("../assets/", $path))),)*
        ];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "css/style.css" => "text/css; charset=utf-8",
    "js/theme.js" => "text/javascript; charset=utf-8",
    "js/app.js" => "text/javascript; charset=utf-8",
    "js/login.js" => "text/javascript; charset=utf-8",
    "js/api.js" => "text/javascript; charset=utf-8",
    "js/url-state.js" => "text/javascript; charset=utf-8",
    "js/time.js" => "text/javascript; charset=utf-8",
    "js/dom.js" => "text/javascript; charset=utf-8",
    "js/query-bar.js" => "text/javascript; charset=utf-8",
    "js/time-picker.js" => "text/javascript; charset=utf-8",
    "js/chart.js" => "text/javascript; charset=utf-8",
    "js/histogram.js" => "text/javascript; charset=utf-8",
    "js/table.js" => "text/javascript; charset=utf-8",
    "js/record.js" => "text/javascript; charset=utf-8",
    "js/sidebar.js" => "text/javascript; charset=utf-8",
    "js/live.js" => "text/javascript; charset=utf-8",
    "js/discover.js" => "text/javascript; charset=utf-8",
    "js/dashboards.js" => "text/javascript; charset=utf-8",
    "js/panels.js" => "text/javascript; charset=utf-8",
    "js/panel-editor.js" => "text/javascript; charset=utf-8",
    "js/patterns.js" => "text/javascript; charset=utf-8",
}

fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        FILES
            .iter()
            .map(|(_, _, body)| {
                // FNV-1a: a content fingerprint, not a security boundary.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in body.iter() {
                    h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
                }
                format!("\"{h:016x}\"")
            })
            .collect()
    })
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(i) = FILES.iter().position(|(p, _, _)| *p == path) else {
        return crate::error::ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no dashboard file {path}; reload the page"),
        )
        .into_response();
    };
    let (_, mime, body) = FILES[i];
    let etag = &etags()[i];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, mime)], body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::ETAG,
        HeaderValue::from_str(etag).expect("hex in quotes is a valid header"),
    );
    resp
}

/// `GET /`: the single page (Discover, dashboards; the view is chosen by the URL).
pub async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /assets/{*path}`.
pub async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&path, &headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JS: &str = "text/javascript; charset=utf-8";

    #[test]
    fn every_module_imported_is_embedded() {
        // A module missing from FILES would 404 in the browser; catch it here.
        let names: Vec<&str> = FILES.iter().map(|(p, _, _)| *p).collect();
        for (path, _, body) in FILES.iter().filter(|(p, _, _)| p.ends_with(".js")) {
            let text = std::str::from_utf8(body).unwrap();
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let from = line.rsplit(['\'', '"']).nth(1).unwrap();
                let target = format!("js/{}", from.trim_start_matches("./"));
                assert!(
                    names.contains(&target.as_str()),
                    "{path} imports {from}, which is not embedded"
                );
            }
        }
        let index = std::str::from_utf8(FILES[0].2).unwrap();
        assert!(index.contains("/assets/js/app.js"));
    }

    #[test]
    fn nothing_the_content_security_policy_refuses() {
        // The page is served with `script-src 'self'; style-src 'self'`: inline scripts,
        // inline handlers and style attributes are refused by the browser, silently
        // unless someone reads the console. Catch them here instead.
        let index = std::str::from_utf8(FILES[0].2).unwrap();
        for tag in index.split("<script").skip(1) {
            let open = &tag[..tag.find('>').unwrap()];
            assert!(
                open.contains(" src="),
                "inline script in index.html: <script{open}>"
            );
        }
        for (path, _, body) in FILES.iter().filter(|(p, _, _)| !p.ends_with(".svg")) {
            let text = std::str::from_utf8(body).unwrap();
            for bad in [
                "style=\"",
                "style='",
                "style: `",
                "setAttribute('style'",
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
                "new Function",
                " onclick=",
                " onerror=",
                " onload=",
                "javascript:",
            ] {
                assert!(!text.contains(bad), "{path} contains {bad:?}");
            }
        }
    }

    #[tokio::test]
    async fn revalidation_answers_304() {
        let first = serve("js/app.js", &HeaderMap::new());
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()[header::CONTENT_TYPE], JS);
        let etag = first.headers()[header::ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(serve("js/app.js", &h).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            serve("js/nope.js", &HeaderMap::new()).status(),
            StatusCode::NOT_FOUND
        );
    }
}
