//! Saved dashboards: `GET/POST /api/v1/dashboards`, `GET/PUT/DELETE
//! /api/v1/dashboards/{id}`, one JSON file per dashboard under `DATA/dashboards/`.
//!
//! Writes are atomic (temporary file, fsync, rename, fsync of the directory), so a crash
//! leaves either the old or the new dashboard, never half of one. When the directory
//! holds no dashboard, the default "Overview" is written, so a fresh server has one.

use crate::error::ApiError;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A dashboard as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Stable identifier (file name and URL); chosen by the server on create.
    #[serde(default)]
    pub id: String,
    /// Shown in the list and the header.
    pub title: String,
    /// Query applied to every panel (ANDed with each panel's own).
    #[serde(default)]
    pub query: String,
    /// Default time range start (RFC 3339 or date math).
    #[serde(default = "default_start")]
    pub start: String,
    /// Default time range end; empty means now.
    #[serde(default)]
    pub end: String,
    /// Auto-refresh: `""` (off), `5s`, `30s`, `1m`.
    #[serde(default)]
    pub refresh: String,
    /// Panels in display order.
    #[serde(default)]
    pub panels: Vec<Panel>,
    /// When it was last saved (RFC 3339, set by the server).
    #[serde(default)]
    pub updated: String,
}

fn default_start() -> String {
    "now-24h".into()
}

/// The kinds of panel the dashboard page can draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PanelKind {
    /// Record count per interval, optionally split by a field's top values, with an
    /// optional forecast band and anomaly marks.
    CountOverTime,
    /// Percentiles of a numeric field per interval.
    PercentilesOverTime,
    /// A field's top values as bars.
    TopValues,
    /// One number (count, avg, percentile, share of the total) with the change against
    /// the previous period of the same length.
    Metric,
    /// The newest matching records.
    Latest,
    /// The most frequent message templates (`GET /api/v1/patterns`) with counts and
    /// trends; `size` of them (default 10).
    TopPatterns,
}

/// One panel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// Identifier unique within the dashboard (set by the server when empty).
    #[serde(default)]
    pub id: String,
    /// What it draws.
    #[serde(rename = "type")]
    pub kind: PanelKind,
    /// Heading.
    #[serde(default)]
    pub title: String,
    /// The panel's own query, ANDed with the dashboard's.
    #[serde(default)]
    pub query: String,
    /// The field: the split of a count over time, the values of top values, the
    /// numeric field of a metric or percentiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Number of top values (split series or bars).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u32>,
    /// `line` or `area` (stacked) for counts over time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<String>,
    /// Metric: `count`, `avg`, `min`, `max`, `sum`, `p50`, `p90`, `p95`, `p99`,
    /// `cardinality`, or `share` (the panel query's share of the dashboard's records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    /// Draw the server's forecast band and anomaly marks (count over time).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forecast: bool,
    /// Columns of a latest-records table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// Grid width in twelfths (default by kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u8>,
}

const STATS: [&str; 11] = [
    "count",
    "avg",
    "min",
    "max",
    "sum",
    "p50",
    "p90",
    "p95",
    "p99",
    "cardinality",
    "share",
];

impl Dashboard {
    /// Checks what the page relies on; the error says which panel and what to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.title.trim().is_empty() {
            return Err("`title` is empty; give the dashboard a name".into());
        }
        if !matches!(self.refresh.as_str(), "" | "5s" | "30s" | "1m") {
            return Err(format!(
                "`refresh` is {:?}; use \"\" (off), \"5s\", \"30s\" or \"1m\"",
                self.refresh
            ));
        }
        for (i, p) in self.panels.iter().enumerate() {
            let name = format!("panel {} ({:?})", i + 1, p.title);
            let needs_field = match p.kind {
                PanelKind::TopValues | PanelKind::PercentilesOverTime => true,
                PanelKind::Metric => !matches!(p.stat.as_deref(), None | Some("count" | "share")),
                _ => false,
            };
            if needs_field && p.field.as_deref().is_none_or(|f| f.trim().is_empty()) {
                return Err(format!("{name}: this kind of panel needs a `field`"));
            }
            if let Some(s) = &p.stat {
                if !STATS.contains(&s.as_str()) {
                    return Err(format!(
                        "{name}: `stat` is {s:?}; use one of {}",
                        STATS.join(", ")
                    ));
                }
            }
            if let Some(s) = &p.style {
                if !matches!(s.as_str(), "line" | "area") {
                    return Err(format!("{name}: `style` is {s:?}; use line or area"));
                }
            }
            if p.size.is_some_and(|s| s == 0 || s > 50) {
                return Err(format!("{name}: `size` must be between 1 and 50"));
            }
            if p.width.is_some_and(|w| !(3..=12).contains(&w)) {
                return Err(format!("{name}: `width` must be between 3 and 12 twelfths"));
            }
        }
        Ok(())
    }

    /// The dashboard a fresh server starts with.
    pub fn overview() -> Dashboard {
        let panel = |kind, title: &str| Panel {
            id: String::new(),
            kind,
            title: title.into(),
            query: String::new(),
            field: None,
            size: None,
            style: None,
            stat: None,
            forecast: false,
            columns: Vec::new(),
            width: None,
        };
        let errors = "level:(error OR fatal)";
        let mut d = Dashboard {
            id: "overview".into(),
            title: "Overview".into(),
            query: String::new(),
            start: "now-24h".into(),
            end: String::new(),
            refresh: String::new(),
            panels: vec![
                Panel {
                    stat: Some("count".into()),
                    width: Some(3),
                    ..panel(PanelKind::Metric, "Records")
                },
                Panel {
                    stat: Some("share".into()),
                    query: errors.into(),
                    width: Some(3),
                    ..panel(PanelKind::Metric, "Error rate")
                },
                Panel {
                    stat: Some("p95".into()),
                    field: Some("latency_ms".into()),
                    width: Some(3),
                    ..panel(PanelKind::Metric, "Latency p95 (ms)")
                },
                Panel {
                    stat: Some("cardinality".into()),
                    field: Some("container".into()),
                    width: Some(3),
                    ..panel(PanelKind::Metric, "Containers")
                },
                Panel {
                    field: Some("level".into()),
                    style: Some("area".into()),
                    size: Some(6),
                    forecast: true,
                    width: Some(8),
                    ..panel(PanelKind::CountOverTime, "Volume by level")
                },
                Panel {
                    field: Some("container".into()),
                    size: Some(10),
                    width: Some(4),
                    ..panel(PanelKind::TopValues, "Top containers")
                },
                Panel {
                    query: errors.into(),
                    style: Some("line".into()),
                    forecast: true,
                    width: Some(6),
                    ..panel(PanelKind::CountOverTime, "Errors over time")
                },
                Panel {
                    field: Some("latency_ms".into()),
                    width: Some(6),
                    ..panel(PanelKind::PercentilesOverTime, "Latency percentiles (ms)")
                },
                Panel {
                    query: errors.into(),
                    width: Some(12),
                    ..panel(PanelKind::Latest, "Latest errors")
                },
            ],
            updated: String::new(),
        };
        d.fill_panel_ids();
        d
    }

    fn fill_panel_ids(&mut self) {
        let mut n = 0;
        let taken: Vec<String> = self.panels.iter().map(|p| p.id.clone()).collect();
        for p in &mut self.panels {
            if p.id.is_empty() {
                p.id = loop {
                    n += 1;
                    let id = format!("p{n}");
                    if !taken.contains(&id) {
                        break id;
                    }
                };
            }
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No dashboard has this id.
    #[error("no dashboard {0:?}; list them with GET /api/v1/dashboards")]
    NotFound(String),
    /// The dashboard is not acceptable.
    #[error("invalid dashboard: {0}")]
    Invalid(String),
    /// The disk said no.
    #[error(
        "cannot {what} {path}: {source}; check the data directory's permissions and free space"
    )]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The dashboards directory. One lock serialises writers so that two creates never
/// pick the same id.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    lock: Mutex<()>,
}

/// A line of the dashboard list.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Identifier.
    pub id: String,
    /// Title.
    pub title: String,
    /// Number of panels.
    pub panels: usize,
    /// Last save.
    pub updated: String,
}

impl Store {
    /// Opens (creating) `dir`; writes the default Overview when it holds no dashboard.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let store = Store {
            dir: dir.into(),
            lock: Mutex::new(()),
        };
        fs::create_dir_all(&store.dir).map_err(io("create", &store.dir))?;
        if store.list()?.is_empty() {
            store.write(Dashboard::overview())?;
        }
        Ok(store)
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    fn valid_id(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    }

    /// Every dashboard, by title. Files that do not parse are skipped with a warning
    /// (they stay on disk for repair).
    pub fn list(&self) -> Result<Vec<Summary>, StoreError> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(io("read", &self.dir))? {
            let path = entry.map_err(io("read", &self.dir))?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if !Self::valid_id(id) {
                continue;
            }
            match self.get(id) {
                Ok(d) => out.push(Summary {
                    id: d.id,
                    title: d.title,
                    panels: d.panels.len(),
                    updated: d.updated,
                }),
                Err(e) => tracing::warn!("dashboard {}: {e}", path.display()),
            }
        }
        out.sort_by_key(|d| d.title.to_lowercase());
        Ok(out)
    }

    /// One dashboard.
    pub fn get(&self, id: &str) -> Result<Dashboard, StoreError> {
        if !Self::valid_id(id) {
            return Err(StoreError::NotFound(id.into()));
        }
        let path = self.path(id);
        let bytes = match fs::read(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NotFound(id.into()))
            }
            r => r.map_err(io("read", &path))?,
        };
        let mut d: Dashboard = serde_json::from_slice(&bytes)
            .map_err(|e| StoreError::Invalid(format!("{} does not parse: {e}", path.display())))?;
        d.id = id.into();
        Ok(d)
    }

    /// Saves a new dashboard under an id made from its title; returns it as stored.
    pub fn create(&self, mut d: Dashboard) -> Result<Dashboard, StoreError> {
        d.validate().map_err(StoreError::Invalid)?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let base: String = slug(&d.title);
        let mut id = base.clone();
        let mut n = 1;
        while self.path(&id).exists() {
            n += 1;
            id = format!("{base}-{n}");
        }
        d.id = id;
        self.write(d)
    }

    /// Replaces an existing dashboard.
    pub fn put(&self, id: &str, mut d: Dashboard) -> Result<Dashboard, StoreError> {
        d.validate().map_err(StoreError::Invalid)?;
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.get(id)?;
        d.id = id.into();
        self.write(d)
    }

    /// Removes a dashboard.
    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.get(id)?;
        let path = self.path(id);
        fs::remove_file(&path).map_err(io("remove", &path))?;
        sync_dir(&self.dir)
    }

    fn write(&self, mut d: Dashboard) -> Result<Dashboard, StoreError> {
        d.fill_panel_ids();
        d.updated = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let path = self.path(&d.id);
        let body = serde_json::to_vec_pretty(&d).expect("a dashboard always serialises");
        skein_model::atomic_file::write_atomic(&path, &body, None).map_err(io("write", &path))?;
        Ok(d)
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(io("fsync", dir))
}

/// Lowercase ASCII letters, digits and single dashes; `dashboard` when nothing is left.
fn slug(title: &str) -> String {
    let mut s = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.is_empty() && !s.ends_with('-') {
            s.push('-');
        }
        if s.len() >= 48 {
            break;
        }
    }
    let s = s.trim_end_matches('-').to_string();
    if s.is_empty() {
        "dashboard".into()
    } else {
        s
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            StoreError::Invalid(_) => ApiError::bad_request("invalid_dashboard", e.to_string()),
            StoreError::Io { .. } => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "dashboard_store_failed",
                e.to_string(),
            ),
        }
    }
}

fn parse_body(body: &[u8]) -> Result<Dashboard, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_dashboard",
            format!(
                "the body must be a dashboard like {{\"title\":\"Payments\",\"panels\":\
                 [{{\"type\":\"count_over_time\",\"field\":\"level\"}}]}}: {e}"
            ),
        )
    })
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(ApiError::from)
}

/// `GET /api/v1/dashboards`.
pub async fn list(State(state): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.dashboards.clone();
    let list = blocking(move || store.list()).await?;
    Ok(Json(json!({ "dashboards": list })))
}

/// `POST /api/v1/dashboards`: 201 with the stored dashboard (its `id` chosen here).
pub async fn create(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let d = parse_body(&body)?;
    let store = state.dashboards.clone();
    let d = blocking(move || store.create(d)).await?;
    Ok((StatusCode::CREATED, Json(d)).into_response())
}

/// `GET /api/v1/dashboards/{id}`.
pub async fn get(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Dashboard>, ApiError> {
    let store = state.dashboards.clone();
    blocking(move || store.get(&id)).await.map(Json)
}

/// `PUT /api/v1/dashboards/{id}`: replaces it; the answer is the stored dashboard.
pub async fn put(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> Result<Json<Dashboard>, ApiError> {
    let d = parse_body(&body)?;
    let store = state.dashboards.clone();
    blocking(move || store.put(&id, d)).await.map(Json)
}

/// `DELETE /api/v1/dashboards/{id}`.
pub async fn delete(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let store = state.dashboards.clone();
    let id2 = id.clone();
    blocking(move || store.delete(&id2)).await?;
    Ok(Json(json!({ "deleted": id })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn a_fresh_store_has_the_overview_and_keeps_it_across_reopen() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        let list = s.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].id, "overview");
        let o = s.get("overview").unwrap();
        assert!(o.validate().is_ok());
        assert!(o.panels.iter().any(|p| p.forecast));
        let ids: std::collections::HashSet<_> = o.panels.iter().map(|p| &p.id).collect();
        assert_eq!(ids.len(), o.panels.len(), "panel ids are unique");
        // Edited, reopened: the edit stays and no second Overview appears.
        let mut o2 = o.clone();
        o2.panels.truncate(2);
        s.put("overview", o2).unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.list().unwrap().len(), 1);
        assert_eq!(s.get("overview").unwrap().panels.len(), 2);
    }

    #[test]
    fn create_picks_distinct_ids_and_delete_removes() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        let d = Dashboard {
            title: "Payments / errors!".into(),
            ..Dashboard::overview()
        };
        let a = s.create(d.clone()).unwrap();
        let b = s.create(d).unwrap();
        assert_eq!(a.id, "payments-errors");
        assert_eq!(b.id, "payments-errors-2");
        assert!(!a.updated.is_empty());
        s.delete(&a.id).unwrap();
        assert!(matches!(s.get(&a.id), Err(StoreError::NotFound(_))));
        assert!(matches!(s.delete(&a.id), Err(StoreError::NotFound(_))));
        // Nothing but dashboards left behind (no temporary files).
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn bad_dashboards_are_refused_with_the_reason() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        let mut d = Dashboard::overview();
        d.panels[5].field = None; // top values without a field
        let e = s.create(d).unwrap_err().to_string();
        assert!(
            e.contains("panel 6") && e.contains("needs a `field`"),
            "{e}"
        );
        let mut d = Dashboard::overview();
        d.refresh = "2s".into();
        assert!(s.create(d).unwrap_err().to_string().contains("refresh"));
        let e = parse_body(br#"{"title":"x","panels":[{"type":"pie"}]}"#).unwrap_err();
        assert!(e.reason.contains("unknown variant `pie`"), "{}", e.reason);
        // Path tricks never reach the file system.
        assert!(matches!(s.get("../etc"), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn a_corrupt_file_is_skipped_not_fatal() {
        let dir = tmp();
        let s = Store::open(dir.path()).unwrap();
        fs::write(dir.path().join("broken.json"), b"{not json").unwrap();
        let list = s.list().unwrap();
        assert_eq!(list.len(), 1);
        assert!(matches!(s.get("broken"), Err(StoreError::Invalid(_))));
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Overview"), "overview");
        assert_eq!(slug("  Prod: API  latency "), "prod-api-latency");
        assert_eq!(slug("日本"), "dashboard");
    }
}
