//! `/api/v1/dashboards` over HTTP against the real server: the default Overview, create,
//! read, replace, delete, refusals with their reasons, and dashboards surviving a restart.
//! Also the embedded page and modules with their content types and revalidation.

mod common;

use common::{client, Server};
use serde_json::{json, Value};

fn send(s: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}{}", s.url, path);
    let c = client();
    let req = match method {
        "POST" => c.post(url),
        "PUT" => c.put(url),
        "DELETE" => c.delete(url),
        _ => c.get(url),
    };
    let req = match body {
        Some(b) => req.body(b.to_string()),
        None => req,
    };
    let r = req.send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn dashboards_crud_persists_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);

    let (st, list) = send(&s, "GET", "/api/v1/dashboards", None);
    assert_eq!(st, 200);
    assert_eq!(list["dashboards"][0]["id"], "overview", "{list}");
    let (_, overview) = send(&s, "GET", "/api/v1/dashboards/overview", None);
    let kinds: Vec<&str> = overview["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["type"].as_str().unwrap())
        .collect();
    for k in [
        "count_over_time",
        "top_values",
        "metric",
        "percentiles_over_time",
        "latest",
    ] {
        assert!(kinds.contains(&k), "Overview has a {k} panel: {kinds:?}");
    }

    let body = json!({"title": "Payments", "query": "container:payments", "panels": [
        {"type": "count_over_time", "field": "level", "style": "area", "forecast": true},
        {"type": "metric", "stat": "p95", "field": "latency_ms"}]});
    let (st, created) = send(&s, "POST", "/api/v1/dashboards", Some(body.clone()));
    assert_eq!(st, 201, "{created}");
    assert_eq!(created["id"], "payments");
    assert_eq!(created["panels"][0]["id"], "p1");
    assert_eq!(created["panels"][1]["id"], "p2");
    let (_, again) = send(&s, "POST", "/api/v1/dashboards", Some(body));
    assert_eq!(again["id"], "payments-2");

    let mut edited = created.clone();
    edited["panels"].as_array_mut().unwrap().reverse();
    edited["title"] = json!("Payments (edited)");
    let (st, put) = send(&s, "PUT", "/api/v1/dashboards/payments", Some(edited));
    assert_eq!(st, 200, "{put}");
    assert_eq!(put["panels"][0]["type"], "metric");

    // Refusals say what is wrong.
    let (st, e) = send(
        &s,
        "POST",
        "/api/v1/dashboards",
        Some(json!({"title": "", "panels": []})),
    );
    assert_eq!(
        (st, e["error"]["type"].as_str()),
        (400, Some("invalid_dashboard"))
    );
    assert!(
        e["error"]["reason"].as_str().unwrap().contains("title"),
        "{e}"
    );
    let (st, e) = send(
        &s,
        "POST",
        "/api/v1/dashboards",
        Some(json!({"title": "x", "panels": [{"type": "top_values"}]})),
    );
    assert_eq!(st, 400);
    assert!(
        e["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("needs a `field`"),
        "{e}"
    );
    let (st, e) = send(
        &s,
        "PUT",
        "/api/v1/dashboards/nope",
        Some(json!({"title": "x"})),
    );
    assert_eq!((st, e["error"]["type"].as_str()), (404, Some("not_found")));
    let (st, _) = send(&s, "GET", "/api/v1/dashboards/..%2Fcheckpoint", None);
    assert_eq!(st, 404);

    let (st, _) = send(&s, "DELETE", "/api/v1/dashboards/payments-2", None);
    assert_eq!(st, 200);
    let mut s = s;
    s.stop();
    let s = s.restart();
    let (_, list) = send(&s, "GET", "/api/v1/dashboards", None);
    let ids: Vec<&str> = list["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["overview", "payments"]);
    let (_, p) = send(&s, "GET", "/api/v1/dashboards/payments", None);
    assert_eq!(p["title"], "Payments (edited)");
    assert_eq!(p["panels"][0]["type"], "metric");
}

#[test]
fn the_page_and_its_modules_are_served_with_types_and_etags() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let c = client();
    let page = c.get(format!("{}/", s.url)).send().unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().unwrap();
    assert!(html.contains("/assets/js/app.js"));
    for (path, mime) in [
        ("/assets/js/app.js", "text/javascript; charset=utf-8"),
        ("/assets/js/chart.js", "text/javascript; charset=utf-8"),
        ("/assets/css/style.css", "text/css; charset=utf-8"),
        ("/assets/favicon.svg", "image/svg+xml"),
    ] {
        let r = c.get(format!("{}{path}", s.url)).send().unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], mime, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache");
        let etag = r.headers()["etag"].clone();
        let again = c
            .get(format!("{}{path}", s.url))
            .header("If-None-Match", etag)
            .send()
            .unwrap();
        assert_eq!(again.status(), 304, "{path} revalidates");
    }
    let r = c
        .get(format!("{}/assets/js/missing.js", s.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 404);
}
