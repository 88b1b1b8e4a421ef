//! Turning a parsed line into a [`Record`]: who wrote it (host, container, image,
//! labels) and its delivery identity (`_source_id`, `_seq`).

use crate::parse::payload::Payload;
use skein_model::{Record, Timestamp};
use std::collections::BTreeMap;
use std::path::Path;

/// What is known about the source of a log: the node and, for containers, what Docker
/// (or the file path) says about the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SourceMeta {
    /// The node name.
    pub host: String,
    /// Container name; empty when unknown, and records then carry the short id.
    pub container: String,
    /// Full container id (64 hex digits).
    pub container_id: String,
    /// Image reference.
    pub image: String,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// What names the delivery source when the container id cannot: for a Kubernetes
    /// pod log, `{pod uid}/{container}/{restart}` (see
    /// [`PodLog::source`](crate::kubernetes::PodLog::source)), known from the path
    /// whichever name the file was found by. Empty for the others.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
}

impl SourceMeta {
    /// Metadata known without asking Docker: the host and the container id (usually
    /// from [`container_id_from_path`]).
    pub fn from_container_id(
        host: impl Into<String>,
        container_id: impl Into<String>,
    ) -> SourceMeta {
        SourceMeta {
            host: host.into(),
            container_id: container_id.into(),
            ..SourceMeta::default()
        }
    }

    /// The container name records carry: the name, or the short id when there is none.
    pub fn container_name(&self) -> &str {
        if self.container.is_empty() {
            short_id(&self.container_id)
        } else {
            &self.container
        }
    }

    /// The delivery source of one stream of this container:
    /// `{host}/{short container id}/{stream}`, or `{host}/{source}/{stream}` when
    /// [`source`](Self::source) is set.
    ///
    /// Sources are per stream because split lines are merged per stream: a stdout line
    /// begun before a stderr line may be finished after it, so only within one stream do
    /// records leave in the order of their positions.
    pub fn source_id(&self, stream: &str) -> String {
        // Docker's short id is as unique on one host as the full one and keeps every
        // record ~50 bytes lighter; other ids (a plain file's path) are kept whole.
        let id = if !self.source.is_empty() {
            &self.source
        } else if is_container_id(&self.container_id) {
            short_id(&self.container_id)
        } else {
            &self.container_id
        };
        format!("{}/{}/{}", self.host, id, stream)
    }
}

/// The delivery identity of a record (see the design's "The record").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The source, e.g. from [`SourceMeta::source_id`].
    pub source_id: String,
    /// A position that strictly increases within the source.
    pub seq: u64,
}

/// Assembles a record from the source's metadata, the line's stream and time, and its
/// parsed payload. The payload's own time, when it has one, wins over `time`.
pub fn build_record(
    meta: &SourceMeta,
    stream: &str,
    time: Timestamp,
    mut payload: Payload,
    delivery: Option<Delivery>,
) -> Record {
    payload.materialize();
    let (source_id, seq) = match delivery {
        Some(d) => (Some(d.source_id), Some(d.seq)),
        None => (None, None),
    };
    Record {
        timestamp: payload.time.unwrap_or(time),
        host: meta.host.clone(),
        container: meta.container_name().to_string(),
        container_id: meta.container_id.clone(),
        image: meta.image.clone(),
        stream: stream.to_string(),
        level: payload.level,
        pattern: None,
        message: payload.message,
        labels: meta.labels.clone(),
        fields: payload.fields,
        source_id,
        seq,
        original: None,
    }
}

/// The first 12 characters of a container id, as `docker ps` shows it.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The container id named by a log file's path, for the layouts runtimes use:
///
/// - Docker json-file: `<root>/<id>/<id>-json.log`, and rotated `<id>-json.log.1`;
/// - Kubernetes: `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`.
///
/// `None` when the file name does not carry a 64-hex-digit id.
pub fn container_id_from_path(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let id = if let Some((id, rest)) = name.split_once("-json.log") {
        let rotated = rest.is_empty()
            || rest
                .strip_prefix('.')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()));
        if !rotated {
            return None;
        }
        id
    } else {
        let stem = name.strip_suffix(".log")?;
        stem.get(stem.len().checked_sub(65)?..)?.strip_prefix('-')?
    };
    is_container_id(id).then(|| id.to_string())
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::payload::{self, PayloadConfig};
    use skein_model::Level;

    const ID: &str = "3f2a9c1be0d84a7c9e51b2f6a8d04c1e7b93f5a2c6d8e0f1a3b5c7d9e1f2a4b6";

    #[test]
    fn ids_from_paths() {
        let docker = format!("/var/lib/docker/containers/{ID}/{ID}-json.log");
        assert_eq!(
            container_id_from_path(Path::new(&docker)).as_deref(),
            Some(ID)
        );
        let rotated = format!("{docker}.3");
        assert_eq!(
            container_id_from_path(Path::new(&rotated)).as_deref(),
            Some(ID)
        );
        let cri = format!("/var/log/containers/web-7d9f_shop_nginx-{ID}.log");
        assert_eq!(container_id_from_path(Path::new(&cri)).as_deref(), Some(ID));
        for bad in [
            format!("/x/{ID}/{ID}-json.log.gz"),
            format!("/x/{ID}/{}-json.log", &ID[1..]),
            format!("/x/{}-json.log", ID.to_uppercase()),
            "/var/log/pods/shop_web_1234/nginx/0.log".to_string(),
            "/var/log/syslog".to_string(),
            "/".to_string(),
        ] {
            assert_eq!(container_id_from_path(Path::new(&bad)), None, "{bad}");
        }
    }

    #[test]
    fn builds_the_design_record() {
        let mut meta = SourceMeta::from_container_id("node-1", ID);
        assert_eq!(meta.container_name(), "3f2a9c1be0d8");
        meta.container = "web".into();
        meta.image = "shop/web:1.4".into();
        meta.labels
            .insert("com.docker.compose.service".into(), "web".into());
        let p = payload::parse_str(
            r#"{"level":"error","msg":"payment failed: timeout","user_id":42,"latency_ms":1830,"path":"/api/pay"}"#,
            &PayloadConfig::default(),
        );
        let time = Timestamp::parse_rfc3339("2026-11-20T10:00:00.123456789Z").unwrap();
        let delivery = Delivery {
            source_id: meta.source_id("stdout"),
            seq: 1048576,
        };
        let r = build_record(&meta, "stdout", time, p, Some(delivery));
        assert_eq!(r.level, Some(Level::Error));
        assert_eq!(
            r.to_json(),
            format!(
                r#"{{"@timestamp":"2026-11-20T10:00:00.123456789Z","host":"node-1","container":"web","container_id":"{ID}","image":"shop/web:1.4","stream":"stdout","level":"error","message":"payment failed: timeout","labels":{{"com.docker.compose.service":"web"}},"fields":{{"user_id":42,"latency_ms":1830,"path":"/api/pay"}},"_source_id":"node-1/{}/stdout","_seq":1048576}}"#,
                &ID[..12]
            )
        );
    }

    #[test]
    fn without_metadata_the_short_id_names_the_container() {
        let meta = SourceMeta::from_container_id("node-1", ID);
        let p = payload::parse_str("ready", &PayloadConfig::default());
        let r = build_record(&meta, "stderr", Timestamp(0), p, None);
        assert_eq!(r.container, "3f2a9c1be0d8");
        assert_eq!((r.source_id, r.seq), (None, None));
        assert_eq!(short_id("abc"), "abc");
    }
}
