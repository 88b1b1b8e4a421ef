//! Log patterns in the dashboard, in a real browser (Debian's headless Chromium through
//! chromedriver) against the real server: Discover's Patterns tab shows what
//! `GET /api/v1/patterns` answers (counts, templates, new and surging), keeps the tab
//! across a reload, filters for a pattern with a click and against one with ⊖, shows a
//! template holding markup as text; a dashboard's "top patterns" panel draws its rows.
//! Fails when Chromium is missing.

mod browser;
mod common;

use browser::Browser;
use common::Server;
use serde_json::{json, Value};

/// One record of the corpus, as the test knows it.
struct Rec {
    t: i64,
    container: &'static str,
    message: String,
}

/// The corpus's kinds of line: a pattern each.
const ITEMS: &str = "GET /api/items/";
const POOL: &str = "connection pool has";
const HTML: &str = "comment rendered as <b>x</b> for post";
const NEW: &str = "payment provider timeout after";
const SLOW: &str = "slow query took";

/// Records of five templates over the last 100 minutes; `NEW` only in the last three,
/// `SLOW` rare before the last 20 minutes and frequent in them. Returns the records
/// and the range the browser looks at (the last 20 minutes, whole minutes).
fn corpus(s: &Server) -> (Vec<Rec>, i64, i64) {
    let now = chrono::Utc::now().timestamp_millis();
    let end = (now / 60_000 + 1) * 60_000;
    let start = end - 21 * 60_000;
    let mut recs = Vec::new();
    let mut add = |t: i64, container: &'static str, message: String| {
        recs.push(Rec {
            t,
            container,
            message,
        })
    };
    let min = 60_000;
    for i in 0..90 {
        let t = now - 90 * min + i * min;
        add(
            t,
            "web",
            format!("{ITEMS}{} answered 200 in {} ms", 1000 + i, 3 + i % 40),
        );
        if i % 2 == 0 {
            add(
                t + 7_000,
                "api",
                format!("{POOL} {} idle connections", i % 9),
            );
        }
        if i % 5 == 0 {
            add(t + 11_000, "web", format!("{HTML} {}", 500 + i));
        }
    }
    // Rare before the range, every 30 s in it.
    for i in 0..16 {
        add(
            start - 100 * min + i * 5 * min + 3_000,
            "db",
            format!("{SLOW} {} ms on table orders", 900 + i),
        );
    }
    for i in 0..40 {
        add(
            start + i * 30_000 + 13_000,
            "db",
            format!("{SLOW} {} ms on table orders", 2000 + i),
        );
    }
    // New: only in the last three minutes.
    for i in 0..18 {
        add(
            now - 3 * min + i * 10_000,
            "api",
            format!("{NEW} {} ms while charging card", 5000 + i),
        );
    }
    recs.sort_by_key(|r| r.t);
    let mut body = String::new();
    for r in &recs {
        body.push_str(
            &json!({"@timestamp": iso(r.t), "host": "node-1", "container": r.container,
                    "level": "info", "message": r.message})
            .to_string(),
        );
        body.push('\n');
    }
    assert_eq!(s.ingest(body.into_bytes(), None).status(), 200);
    s.wait_total("*", recs.len() as u64);
    (recs, start, end)
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Waits until the hit count shows `want` (searches are asynchronous).
fn wait_hits(b: &Browser, want: usize) {
    b.wait(
        &format!("{want} hits"),
        &format!("document.querySelector('#hits')?.textContent.replace(/,/g, '') === '{want}' && document.querySelector('#status .muted')"),
    );
}

fn url_param(b: &Browser, name: &str) -> Option<String> {
    let v = b.js(
        "return new URLSearchParams(location.search).get(arguments[0]);",
        json!([name]),
    );
    v.as_str().map(str::to_string)
}

/// The API's patterns for the range.
fn api_patterns(s: &Server, q: &str, start: i64, end: i64, limit: usize) -> Value {
    let r = s
        .request(reqwest::Method::GET, "/api/v1/patterns")
        .query(&[
            ("q", q),
            ("start", iso(start).as_str()),
            ("end", iso(end).as_str()),
            ("limit", limit.to_string().as_str()),
        ])
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

/// The pattern of the API's answer whose template starts with `prefix`.
fn by_template<'a>(api: &'a Value, prefix: &str) -> &'a Value {
    api["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["template"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no pattern starting {prefix:?} in {api}"))
}

/// What the page shows of each pattern row under `scope`: id, count, template text,
/// badges.
fn shown_rows(b: &Browser, scope: &str) -> Value {
    b.js(
        "return [...document.querySelectorAll(arguments[0] + ' tr.pattern')].map(tr => ({
            id: tr.dataset.id,
            count: Number(tr.querySelector('.pc').textContent.replace(/,/g, '')),
            template: tr.querySelector('.tpl').textContent,
            new: !!tr.querySelector('.badge.new'),
            surging: !!tr.querySelector('.badge.surging'),
        }))",
        json!([scope]),
    )
}

/// The API's answer in the form of [`shown_rows`].
fn api_rows(api: &Value) -> Value {
    api["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            json!({"id": p["id"], "count": p["count"], "template": p["template"],
                   "new": p["new"], "surging": p["surging"]})
        })
        .collect()
}

#[test]
fn the_patterns_tab_shows_the_api_and_filters_and_the_panel_draws() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let (recs, start, end) = corpus(&s);
    let in_range: Vec<&Rec> = recs.iter().filter(|r| r.t >= start && r.t <= end).collect();

    // What the server says; the page must show exactly this.
    let api = api_patterns(&s, "", start, end, 200);
    assert_eq!(api["total"], json!(in_range.len()), "{api}");
    let items = by_template(&api, "GET");
    let pool = by_template(&api, POOL);
    let html = by_template(&api, HTML);
    let new = by_template(&api, NEW);
    let slow = by_template(&api, SLOW);
    assert_eq!(new["new"], json!(true), "first seen in the range: {new}");
    for p in [items, pool, html, slow] {
        assert_eq!(p["new"], json!(false), "seen before the range: {p}");
    }
    assert_eq!(slow["surging"], json!(true), "{slow}");
    let count_of = |text: &str| {
        in_range
            .iter()
            .filter(|r| r.message.starts_with(text))
            .count()
    };
    assert_eq!(items["count"], json!(count_of(ITEMS)));
    assert_eq!(pool["count"], json!(count_of(POOL)));
    assert_eq!(new["count"], json!(count_of(NEW)));

    let b = Browser::start();
    let range = format!("start={}&end={}", iso(start), iso(end));
    b.goto(&format!("{}/?{range}", s.url));
    wait_hits(&b, in_range.len());
    assert!(b
        .js(
            "return document.querySelector('#patterns-view').hidden",
            json!([])
        )
        .as_bool()
        .unwrap());

    // The tab: rows as the API answered, in its order, with the same counts and badges.
    b.click("#tab-patterns");
    let n = api["patterns"].as_array().unwrap().len();
    b.wait(
        "the pattern rows",
        &format!("document.querySelectorAll('#patterns tr.pattern').length === {n}"),
    );
    assert_eq!(url_param(&b, "tab").as_deref(), Some("patterns"));
    assert!(b
        .js(
            "return document.querySelector('.doc-table').hidden",
            json!([])
        )
        .as_bool()
        .unwrap());
    assert_eq!(shown_rows(&b, "#patterns"), api_rows(&api));
    // Placeholders set apart from the literal text, and the trend drawn: one bar per
    // bucket, the bars' counts adding up to the pattern's.
    let ph = b.js(
        "return [...document.querySelectorAll(`#patterns tr.pattern[data-id='${arguments[0]}'] .tpl .ph`)].map(p => p.textContent)",
        json!([items["id"]]),
    );
    assert!(
        !ph.as_array().unwrap().is_empty()
            && ph
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p.as_str().unwrap().starts_with('<')),
        "{ph}"
    );
    let bars = b.js(
        "return [...document.querySelectorAll(`#patterns tr.pattern[data-id='${arguments[0]}'] svg.spark rect`)].length",
        json!([slow["id"]]),
    );
    assert_eq!(bars, json!(slow["trend"].as_array().unwrap().len()));
    let trend_sum: u64 = slow["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(json!(trend_sum), slow["count"]);

    // Markup in a log line is text: the template reads `<b>x</b>` and holds no <b>.
    let html_id = html["id"].as_str().unwrap();
    let (text, elements) = {
        let v = b.js(
            "const td = document.querySelector(`#patterns tr.pattern[data-id='${arguments[0]}'] .tpl`);
             return [td.textContent, td.querySelectorAll('b').length];",
            json!([html_id]),
        );
        (v[0].as_str().unwrap().to_string(), v[1].clone())
    };
    assert!(text.starts_with(HTML), "{text}");
    assert_eq!(elements, json!(0));
    assert!(html["template"].as_str().unwrap().contains("<b>x</b>"));

    // The tab survives a reload.
    b.refresh();
    b.wait(
        "the pattern rows after a reload",
        &format!("document.querySelectorAll('#patterns tr.pattern').length === {n} && !document.querySelector('#patterns-view').hidden"),
    );
    assert_eq!(shown_rows(&b, "#patterns"), api_rows(&api));

    // A click on a row: the documents of that pattern, through a filter pill.
    let items_id = items["id"].as_str().unwrap();
    b.click(&format!(
        "#patterns tr.pattern[data-id='{items_id}'] td.ptemplate"
    ));
    wait_hits(&b, count_of(ITEMS));
    let f = b.js(
        "return new URLSearchParams(location.search).getAll('f')",
        json!([]),
    );
    assert_eq!(f, json!([format!("pattern:\"{items_id}\"")]));
    assert_eq!(url_param(&b, "tab"), None, "back to the documents");
    b.wait(
        "the filtered rows",
        "document.querySelectorAll('tr.row').length > 0 && !document.querySelector('.doc-table').hidden",
    );
    let messages = b.js(
        "return [...document.querySelectorAll('tr.row td.m')].map(t => t.textContent)",
        json!([]),
    );
    assert!(
        messages
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m.as_str().unwrap().starts_with(ITEMS)),
        "{messages}"
    );
    // The pill names the template on hover.
    let title = b.js(
        "return document.querySelector('#pills .pill[data-field=pattern] .pill-label').title",
        json!([]),
    );
    assert!(title.as_str().unwrap().contains("GET <path>"), "{title}");

    // Back: the patterns again; ⊖ leaves one out and stays on the tab.
    b.back();
    wait_hits(&b, in_range.len());
    b.wait(
        "the patterns tab after Back",
        &format!("document.querySelectorAll('#patterns tr.pattern').length === {n} && !document.querySelector('#patterns-view').hidden"),
    );
    let pool_id = pool["id"].as_str().unwrap();
    b.click(&format!(
        "#patterns tr.pattern[data-id='{pool_id}'] button[data-act=against]"
    ));
    wait_hits(&b, in_range.len() - count_of(POOL));
    b.wait(
        "the patterns without the excluded one",
        &format!("document.querySelectorAll('#patterns tr.pattern').length === {} && !document.querySelector(`#patterns tr.pattern[data-id='{pool_id}']`)", n - 1),
    );
    assert_eq!(url_param(&b, "tab").as_deref(), Some("patterns"));
    let f = b.js(
        "return new URLSearchParams(location.search).getAll('f')",
        json!([]),
    );
    assert_eq!(f, json!([format!("-pattern:\"{pool_id}\"")]));
    let without = api_patterns(&s, &format!("NOT pattern:\"{pool_id}\""), start, end, 200);
    assert_eq!(shown_rows(&b, "#patterns"), api_rows(&without));

    // Ordered by the latest record instead: the API's `sort=recent`, kept in the URL.
    b.js(
        "const s = document.querySelector('#patterns-sort'); s.value = 'recent'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    assert_eq!(url_param(&b, "psort").as_deref(), Some("recent"));
    let recent: Value = s
        .request(reqwest::Method::GET, "/api/v1/patterns")
        .query(&[
            ("q", format!("NOT pattern:\"{pool_id}\"").as_str()),
            ("start", iso(start).as_str()),
            ("end", iso(end).as_str()),
            ("sort", "recent"),
        ])
        .send()
        .unwrap()
        .json()
        .unwrap();
    let want_ids: Vec<Value> = recent["patterns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    b.wait(
        "the patterns by latest record",
        &format!(
            "JSON.stringify([...document.querySelectorAll('#patterns tr.pattern')].map(tr => tr.dataset.id)) === {:?}",
            serde_json::to_string(&want_ids).unwrap()
        ),
    );

    // A dashboard with a "top patterns" panel: its rows are the API's top three.
    let (status, d) = s.post_json(
        "/api/v1/dashboards",
        json!({"title": "Patterns board", "panels": [
            {"type": "top_patterns", "title": "Top patterns", "size": 3},
            {"type": "top_patterns", "title": "Top patterns of api", "query": "container:api"},
        ]})
        .to_string(),
    );
    assert_eq!(status, 201, "{d}");
    let id = d["id"].as_str().unwrap();
    b.goto(&format!("{}/?view=dashboard&id={id}&{range}", s.url));
    b.wait(
        "the panels drawn",
        "document.querySelectorAll('.panel.ready').length === 2",
    );
    let top3 = api_patterns(&s, "", start, end, 3);
    assert_eq!(top3["patterns"].as_array().unwrap().len(), 3);
    assert_eq!(
        shown_rows(&b, ".panel[data-type=top_patterns]:nth-child(1)"),
        api_rows(&top3)
    );
    let api_only = api_patterns(&s, "container:api", start, end, 10);
    assert_eq!(
        shown_rows(&b, ".panel[data-type=top_patterns]:nth-child(2)"),
        api_rows(&api_only)
    );
    // A click opens Discover on that pattern's records.
    let new_id = new["id"].as_str().unwrap();
    b.click(&format!(
        ".panel:nth-child(2) tr.pattern[data-id='{new_id}'] td.ptemplate"
    ));
    wait_hits(&b, count_of(NEW));
    assert_eq!(url_param(&b, "view"), None);
    assert_eq!(url_param(&b, "q").as_deref(), Some("container:api"));

    // The panel kind is offered in the editor, and saved by the server.
    b.goto(&format!("{}/?view=dashboard&id={id}&{range}", s.url));
    b.wait(
        "the panels drawn again",
        "document.querySelectorAll('.panel.ready').length === 2",
    );
    b.click("#add-panel");
    b.js("const f = document.querySelector('#panel-editor form'); f.type.value = 'top_patterns'; f.type.dispatchEvent(new Event('change'));", json!([]));
    assert!(b
        .js(
            "return !document.querySelector('#panel-editor [name=size]').closest('.form-row').hidden",
            json!([])
        )
        .as_bool()
        .unwrap());
    b.type_into("#panel-editor [name=size]", "2");
    b.click("#panel-save");
    b.wait(
        "the third panel",
        "document.querySelectorAll('.panel.ready').length === 3 && document.querySelectorAll('.panel:nth-child(3) tr.pattern').length === 2",
    );
    let (_, saved) = s.get_json(&format!("/api/v1/dashboards/{id}"));
    assert_eq!(saved["panels"][2]["type"], "top_patterns");
    assert_eq!(saved["panels"][2]["title"], "Top patterns");
    assert_eq!(saved["panels"][2]["size"], 2);

    let errors = b.console_errors();
    assert!(errors.is_empty(), "{errors:?}");
}
