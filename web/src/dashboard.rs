//! The page at `/`. The full dashboard (Discover, live tail, dashboards) is embedded here
//! as plain HTML, CSS and ES modules; until it lands, `/` is a small search page over the
//! same API so that `skein up` shows something useful.

use axum::response::Html;

static INDEX: &str = include_str!("../assets/index.html");

/// Serves the page.
pub async fn index() -> Html<&'static str> {
    Html(INDEX)
}
