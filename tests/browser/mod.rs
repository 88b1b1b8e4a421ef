//! A small WebDriver client: Debian's headless Chromium driven through chromedriver over
//! HTTP, for the dashboard's end-to-end tests. It fails loudly when Chromium or
//! chromedriver is missing (scripts/test installs them).

#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// WebDriver's key for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one browser session.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::blocking::Client,
    profile: tempfile::TempDir,
}

fn find_binary(names: &[&str]) -> String {
    for n in names {
        for dir in ["/usr/bin", "/usr/lib/chromium", "/usr/local/bin"] {
            let p = format!("{dir}/{n}");
            if Path::new(&p).exists() {
                return p;
            }
        }
    }
    panic!(
        "{} not found: the dashboard tests need Debian's chromium and chromium-driver \
         (run scripts/test, or apt-get install chromium chromium-driver)",
        names.join(" / ")
    );
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    pub fn start() -> Browser {
        let chrome = find_binary(&["chromium", "chromium-browser"]);
        let driver_bin = find_binary(&["chromedriver"]);
        let port = super::common::free_port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            // A zone other than UTC, so that the zone switch is observable.
            .env("TZ", "Asia/Kolkata")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1400,900",
            &format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chrome, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .expect("chromedriver answers")
            .json()
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_string();
        Browser {
            driver,
            base: format!("{base}/session/{session}"),
            http,
            profile,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.try_cmd(method, path, body)
            .unwrap_or_else(|e| panic!("webdriver {method} {path}: {e}"))
    }

    fn try_cmd(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let url = format!("{}{}", self.base, path);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let r: Value = req.send().expect("chromedriver answers").json().unwrap();
        if let Some(err) = r["value"].get("error") {
            return Err(format!("{err}: {}", r["value"]["message"]));
        }
        Ok(r["value"].clone())
    }

    /// Opens a URL and waits for the load event.
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({ "url": url }));
    }

    /// Runs JavaScript (a function body; `arguments` holds `args`) and returns its value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
    }

    /// Waits until `expr` (a JavaScript expression) is truthy; returns its value.
    pub fn wait(&self, what: &str, expr: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // A script run while the page navigates (a reload after login) fails; that
            // is "not yet", as is an exception.
            let v = self
                .try_cmd(
                    "POST",
                    "/execute/sync",
                    json!({
                        "script": format!("try {{ return ({expr}); }} catch (e) {{ return null; }}"),
                        "args": [],
                    }),
                )
                .unwrap_or(Value::Null);
            if !(v.is_null() || v == json!(false) || v == json!("") || v == json!(0)) {
                return v;
            }
            if Instant::now() > deadline {
                panic!(
                    "timed out waiting for {what} ({expr}); page errors: {:?}\nURL: {}",
                    self.console_errors(),
                    self.url()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The first element matching a CSS selector.
    pub fn find(&self, css: &str) -> Value {
        self.cmd(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        )
    }

    fn el_id(el: &Value) -> String {
        el[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("not an element: {el}"))
            .to_string()
    }

    /// Clicks an element as a user would (real pointer events at its centre).
    pub fn click(&self, css: &str) {
        // The page redraws asynchronously: an element found a moment ago may have been
        // replaced by the time it is clicked; find it again then.
        for _ in 0..5 {
            let el = self.find(css);
            match self.try_cmd(
                "POST",
                &format!("/element/{}/click", Self::el_id(&el)),
                json!({}),
            ) {
                Ok(_) => return,
                Err(e) if e.contains("stale element") => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("click on {css}: {e}"),
            }
        }
        panic!("click on {css}: the element kept being replaced");
    }

    /// Types into an element (`\u{E007}` is Enter).
    pub fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css);
        let id = Self::el_id(&el);
        self.cmd("POST", &format!("/element/{id}/clear"), json!({}));
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        );
    }

    /// Presses keys with the focus wherever it is.
    pub fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                let s = c.to_string();
                [
                    json!({"type": "keyDown", "value": s}),
                    json!({"type": "keyUp", "value": s}),
                ]
            })
            .collect();
        self.cmd(
            "POST",
            "/actions",
            json!({"actions": [{"type": "key", "id": "kb", "actions": actions}]}),
        );
    }

    /// Drags the mouse from one point to another, relative to an element's top-left.
    pub fn drag(&self, css: &str, from: (i64, i64), to: (i64, i64)) {
        let el = self.find(css);
        // WebDriver offsets are from the element's centre.
        let rect = self.cmd(
            "GET",
            &format!("/element/{}/rect", Self::el_id(&el)),
            json!({}),
        );
        let (w, hh) = (
            rect["width"].as_f64().unwrap(),
            rect["height"].as_f64().unwrap(),
        );
        let at = |(x, y): (i64, i64)| {
            json!({"type": "pointerMove", "duration": 50, "origin": el,
                   "x": x - (w / 2.0) as i64, "y": y - (hh / 2.0) as i64})
        };
        self.cmd(
            "POST",
            "/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [at(from), {"type": "pointerDown", "button": 0}, at(to), {"type": "pointerUp", "button": 0}]}]}),
        );
        self.cmd("DELETE", "/actions", json!({}));
    }

    /// The page's URL.
    pub fn url(&self) -> String {
        self.cmd("GET", "/url", json!({}))
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Browser Back.
    pub fn back(&self) {
        self.cmd("POST", "/back", json!({}));
    }

    /// Reloads the page.
    pub fn refresh(&self) {
        self.cmd("POST", "/refresh", json!({}));
    }

    /// Severe console messages (uncaught errors, failed module loads) so far.
    pub fn console_errors(&self) -> Vec<String> {
        let url = format!("{}/se/log", self.base);
        let r: Value = match self.http.post(url).json(&json!({"type": "browser"})).send() {
            Ok(r) => r.json().unwrap_or(Value::Null),
            Err(_) => return Vec::new(),
        };
        r["value"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .map(|e| e["message"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(&self.base).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
