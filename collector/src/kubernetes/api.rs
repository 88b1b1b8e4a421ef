//! The pod's own labels (and its containers' images and ids) from the Kubernetes API
//! server, for an agent whose service account may `get` pods.
//!
//! One `GET /api/v1/namespaces/NS/pods/NAME` per pod, cached: a pod's containers and
//! restarts all take the answer of the first lookup. A lookup that fails leaves the
//! record with what the log path says. A refusal (no RBAC grant) is logged once; an API
//! server that cannot be reached is logged once per outage (and its return), and left
//! alone for a minute, so that discovery, which waits for the answer, does not stall on
//! every new pod.

use super::PodLog;
use crate::enrich::SourceMeta;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Where a pod's service account finds the API server's credentials.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How long the API is left alone after it could not be reached.
const BACK_OFF: Duration = Duration::from_secs(60);
/// Pods remembered; past it the cache starts over (pods come and go on a node, and a
/// CronJob makes a new one every run).
const CACHE_PODS: usize = 4096;

/// How to reach the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeApiConfig {
    /// The API server's URL, e.g. `https://10.96.0.1:443`.
    pub base_url: String,
    /// The bearer token's file, read again for every request: the kubelet replaces a
    /// projected service account token before it expires. No token when the file
    /// does not exist (as through `kubectl proxy`).
    pub token_file: Option<PathBuf>,
    /// The CA certificate(s) (PEM) the API server's certificate is checked against,
    /// besides the system's; ignored when the file does not exist.
    pub ca_file: Option<PathBuf>,
    /// The longest one lookup may take.
    pub timeout: Duration,
}

impl KubeApiConfig {
    /// The settings of a pod: the API server from `KUBERNETES_SERVICE_HOST` and
    /// `KUBERNETES_SERVICE_PORT` (`None` when they are not set, outside a cluster), the
    /// service account's token and CA.
    pub fn in_cluster() -> Option<KubeApiConfig> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let host = host.trim();
        if host.is_empty() {
            return None;
        }
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.to_string()
        };
        Some(KubeApiConfig::new(format!(
            "https://{host}:{}",
            port.trim()
        )))
    }

    /// Settings for the API server at `base_url` with the service account's token and
    /// CA files.
    pub fn new(base_url: impl Into<String>) -> KubeApiConfig {
        let sa = Path::new(SERVICE_ACCOUNT_DIR);
        KubeApiConfig {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            token_file: Some(sa.join("token")),
            ca_file: Some(sa.join("ca.crt")),
            timeout: Duration::from_secs(5),
        }
    }
}

/// Why the API could not be asked, or did not answer with a pod.
#[derive(Debug, Error)]
pub enum KubeApiError {
    /// The CA file exists but holds no usable certificate.
    #[error("cannot use {path} as the Kubernetes API's CA certificate: {reason}; pass the cluster's CA with --kube-ca-file (in a pod, {SERVICE_ACCOUNT_DIR}/ca.crt)")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The token file exists but cannot be read or holds no token.
    #[error("cannot use the Kubernetes token file {path}: {reason}; pass the service account's token with --kube-token-file (in a pod, {SERVICE_ACCOUNT_DIR}/token)")]
    TokenFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The HTTP client cannot be built.
    #[error("cannot set up the Kubernetes API client: {0}")]
    Client(reqwest::Error),
    /// No answer.
    #[error("cannot reach the Kubernetes API at {url}: {reason}; check --kube-api (or SKEIN_KUBE_API), or pass --kube-api off")]
    Unreachable {
        /// The URL asked.
        url: String,
        /// Why.
        reason: String,
    },
    /// The API server refused to tell (401, 403, or another error status).
    #[error("the Kubernetes API answered {status} to GET {url}: {message}; the agent's service account needs get on pods (deploy/k8s/agent-rbac.yaml grants it)")]
    Refused {
        /// The URL asked.
        url: String,
        /// The status.
        status: u16,
        /// The API's message.
        message: String,
    },
    /// The answer is not a pod.
    #[error("the Kubernetes API's answer to GET {url} is not a pod: {reason}")]
    Unreadable {
        /// The URL asked.
        url: String,
        /// Why.
        reason: String,
    },
}

impl KubeApiError {
    /// The kind of failure, for saying each kind once.
    fn kind(&self) -> Kind {
        match self {
            KubeApiError::Unreachable { .. } => Kind::Unreachable,
            KubeApiError::Refused { .. } => Kind::Refused,
            _ => Kind::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Unreachable,
    Refused,
    Other,
}

/// What the API says about a pod, as far as records use it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Pod {
    /// Name, namespace, UID and labels.
    pub metadata: PodMeta,
    /// The containers as declared.
    pub spec: PodSpec,
    /// The containers as they run.
    pub status: PodStatus,
}

/// A pod's `metadata`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PodMeta {
    /// The pod's UID.
    pub uid: String,
    /// The pod's labels.
    pub labels: BTreeMap<String, String>,
}

/// A pod's `spec`, its containers.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct PodSpec {
    /// The app containers.
    pub containers: Vec<ContainerSpec>,
    /// The init containers.
    pub init_containers: Vec<ContainerSpec>,
    /// Containers added for debugging.
    pub ephemeral_containers: Vec<ContainerSpec>,
}

/// A container as declared.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct ContainerSpec {
    /// Its name.
    pub name: String,
    /// Its image as written.
    pub image: String,
}

/// A pod's `status`, its containers.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct PodStatus {
    /// The app containers.
    pub container_statuses: Vec<ContainerStatus>,
    /// The init containers.
    pub init_container_statuses: Vec<ContainerStatus>,
    /// Containers added for debugging.
    pub ephemeral_container_statuses: Vec<ContainerStatus>,
}

/// A container as it runs.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct ContainerStatus {
    /// Its name.
    pub name: String,
    /// The runtime's id of its current run, `containerd://<64 hex>`.
    #[serde(rename = "containerID")]
    pub container_id: String,
    /// How often it restarted: the current run writes `<restart_count>.log`.
    pub restart_count: u32,
    /// The run before the current one.
    pub last_state: LastState,
}

/// The run before a container's current one.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct LastState {
    /// Set when it ended.
    pub terminated: Option<Terminated>,
}

/// A run that ended.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Terminated {
    /// The runtime's id of that run.
    #[serde(rename = "containerID")]
    pub container_id: String,
}

impl Pod {
    /// Adds the pod's labels to `meta` (the path's labels win over a pod label of the
    /// same name), and the image and container id of the run that wrote `log` where the
    /// path did not say them.
    pub fn apply(&self, log: &PodLog, meta: &mut SourceMeta) {
        for (k, v) in &self.metadata.labels {
            meta.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let spec = self
            .spec
            .containers
            .iter()
            .chain(&self.spec.init_containers)
            .chain(&self.spec.ephemeral_containers)
            .find(|c| c.name == log.container);
        if let Some(c) = spec.filter(|_| meta.image.is_empty()) {
            meta.image = c.image.clone();
        }
        let status = self
            .status
            .container_statuses
            .iter()
            .chain(&self.status.init_container_statuses)
            .chain(&self.status.ephemeral_container_statuses)
            .find(|c| c.name == log.container);
        if let (Some(s), Some(restart), true) = (status, log.restart, meta.container_id.is_empty())
        {
            let id = if restart == s.restart_count {
                Some(&s.container_id)
            } else if restart + 1 == s.restart_count {
                s.last_state.terminated.as_ref().map(|t| &t.container_id)
            } else {
                None
            };
            if let Some(id) = id.and_then(|id| runtime_id(id)) {
                meta.container_id = id.to_string();
            }
        }
    }
}

/// `containerd://<id>` (or `cri-o://`, `docker://`) to `<id>`.
fn runtime_id(s: &str) -> Option<&str> {
    let id = s.split_once("://").map_or(s, |(_, id)| id);
    (!id.is_empty()).then_some(id)
}

/// The Kubernetes error answer, for its message.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Status {
    message: String,
}

/// Pods from the API server, cached (see the module docs).
pub struct KubeApi {
    config: KubeApiConfig,
    client: reqwest::Client,
    /// Per (namespace, pod, UID from the path): the pod, or `None` when the API has no
    /// such pod (deleted, or a newer pod of the same name).
    cache: HashMap<(String, String, String), Option<Arc<Pod>>>,
    /// Until when the API is not asked, after it could not be reached.
    resting_until: Option<Instant>,
    /// The kinds of failure already logged (unreachable: since the API last answered).
    said: Vec<Kind>,
    /// Lookups sent, for tests and metrics.
    requests: u64,
}

impl KubeApi {
    /// A client for `config`; fails when its CA file is unusable.
    pub fn new(config: KubeApiConfig) -> Result<KubeApi, KubeApiError> {
        let mut b = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(config.timeout.min(Duration::from_secs(2)))
            .timeout(config.timeout);
        if let Some(path) = config.ca_file.as_ref().filter(|p| p.exists()) {
            let bad = |reason: String| KubeApiError::CaFile {
                path: path.clone(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad(e.to_string()))?;
            if certs.is_empty() {
                return Err(bad("no PEM certificate in it".into()));
            }
            for cert in certs {
                b = b.add_root_certificate(cert);
            }
        }
        Ok(KubeApi {
            client: b.build().map_err(KubeApiError::Client)?,
            config,
            cache: HashMap::new(),
            resting_until: None,
            said: Vec::new(),
            requests: 0,
        })
    }

    /// Lookups sent to the API so far.
    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Asks for one pod: `Ok(None)` when the API has none of that name.
    pub async fn get_pod(
        &mut self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Pod>, KubeApiError> {
        let url = format!(
            "{}/api/v1/namespaces/{namespace}/pods/{name}",
            self.config.base_url
        );
        let mut req = self.client.get(&url).header("Accept", "application/json");
        if let Some(token) = self.token()? {
            req = req.bearer_auth(token);
        }
        self.requests += 1;
        let resp = req.send().await.map_err(|e| KubeApiError::Unreachable {
            url: url.clone(),
            reason: error_chain(&e),
        })?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| KubeApiError::Unreachable {
            url: url.clone(),
            reason: error_chain(&e),
        })?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<Status>(&body)
                .map(|s| s.message)
                .ok()
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(200).collect());
            return Err(KubeApiError::Refused {
                url,
                status: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice(&body)
            .map(Some)
            .map_err(|e| KubeApiError::Unreadable {
                url,
                reason: e.to_string(),
            })
    }

    /// Adds what the API knows about the pod of `log` to `meta` (see [`Pod::apply`]),
    /// asking once per pod. Answers whether the API told (the pod, or that it has no
    /// such pod); when it did not (a failure, logged once, or resting after one), `meta`
    /// keeps what the path says and the caller may ask again later.
    pub async fn enrich(&mut self, log: &PodLog, meta: &mut SourceMeta) -> bool {
        let key = (
            log.namespace.clone(),
            log.pod.clone(),
            log.uid.clone().unwrap_or_default(),
        );
        if let Some(pod) = self.cache.get(&key) {
            if let Some(pod) = pod {
                pod.apply(log, meta);
            }
            return true;
        }
        if self.is_resting() {
            return false;
        }
        match self.get_pod(&log.namespace, &log.pod).await {
            Ok(pod) => {
                // A refusal may be for one namespace only (a Role, not a ClusterRole):
                // it is said once for the run; being unreachable, once per outage.
                if let Some(i) = self.said.iter().position(|k| *k == Kind::Unreachable) {
                    tracing::info!(
                        "the Kubernetes API at {} answers again; records of new pods carry their labels",
                        self.config.base_url
                    );
                    self.said.remove(i);
                }
                self.resting_until = None;
                // A pod of that name with another UID is a newer one: its labels are
                // not those of the pod that wrote this file.
                let pod = pod.filter(|p| key.2.is_empty() || p.metadata.uid == key.2);
                if pod.is_none() {
                    tracing::debug!(
                        "no pod {}/{} (UID {}) in the Kubernetes API: it is gone; its logs carry the path's metadata",
                        log.namespace,
                        log.pod,
                        key.2
                    );
                }
                if self.cache.len() >= CACHE_PODS {
                    self.cache.clear();
                }
                let pod = pod.map(Arc::new);
                if let Some(pod) = &pod {
                    pod.apply(log, meta);
                }
                self.cache.insert(key, pod);
                true
            }
            Err(e) => {
                if e.kind() == Kind::Unreachable {
                    self.resting_until = Some(Instant::now() + BACK_OFF);
                }
                if !self.said.contains(&e.kind()) {
                    self.said.push(e.kind());
                    tracing::warn!(
                        "{e}. Records carry the namespace, pod and container of their log paths, without the pod's labels, until the API answers"
                    );
                } else {
                    tracing::debug!("{e}");
                }
                false
            }
        }
    }

    /// Whether the API is left alone for now, after it could not be reached.
    pub fn is_resting(&self) -> bool {
        self.resting_until.is_some_and(|t| Instant::now() < t)
    }

    fn token(&self) -> Result<Option<String>, KubeApiError> {
        let Some(path) = &self.config.token_file else {
            return Ok(None);
        };
        let bad = |reason: String| KubeApiError::TokenFile {
            path: path.clone(),
            reason,
        };
        match std::fs::read_to_string(path) {
            Ok(t) => {
                let t = t.trim();
                if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(bad("it is empty or not printable text".into()));
                }
                Ok(Some(t.to_string()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(bad(e.to_string())),
        }
    }
}

/// An error and its causes, for a message that says what failed (reqwest's own says
/// only "error sending request").
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_str(
            r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-0","namespace":"prod",
            "uid":"5c6e3d2a-9f1b-4c7e-8a2d-1b3c4d5e6f70","labels":{"app.kubernetes.io/name":"web",
            "io.kubernetes.pod.name":"not-this"}},
            "spec":{"containers":[{"name":"app","image":"shop/web:1.4"}],
                    "initContainers":[{"name":"migrate","image":"shop/migrate:1.4"}]},
            "status":{"containerStatuses":[{"name":"app","restartCount":1,
              "containerID":"containerd://aaaa","lastState":{"terminated":{"containerID":"containerd://bbbb","exitCode":137}}}],
              "initContainerStatuses":[{"name":"migrate","restartCount":0,"containerID":"containerd://cccc"}]}}"#,
        )
        .unwrap()
    }

    fn log(container: &str, restart: u32) -> PodLog {
        PodLog::parse_pods_path(Path::new(&format!(
            "/var/log/pods/prod_web-0_5c6e3d2a-9f1b-4c7e-8a2d-1b3c4d5e6f70/{container}/{restart}.log"
        )))
        .unwrap()
    }

    #[test]
    fn a_pod_adds_labels_image_and_the_run_s_container_id() {
        let pod = pod();
        for (container, restart, id, image) in [
            ("app", 1, "aaaa", "shop/web:1.4"),
            ("app", 0, "bbbb", "shop/web:1.4"),
            ("migrate", 0, "cccc", "shop/migrate:1.4"),
        ] {
            let log = log(container, restart);
            let mut meta = SourceMeta::default();
            log.apply(&mut meta);
            pod.apply(&log, &mut meta);
            assert_eq!(meta.container_id, id);
            assert_eq!(meta.image, image);
            assert_eq!(meta.labels["app.kubernetes.io/name"], "web");
            assert_eq!(meta.labels["io.kubernetes.pod.name"], "web-0");
        }
        // An older run than the last one has no id in the pod's status.
        let mut meta = SourceMeta::default();
        pod.apply(&log("app", 5), &mut meta);
        assert_eq!(meta.container_id, "");
    }

    #[test]
    fn in_cluster_settings() {
        let c = KubeApiConfig::new("https://10.96.0.1:443/");
        assert_eq!(c.base_url, "https://10.96.0.1:443");
        assert_eq!(
            c.token_file.unwrap(),
            Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token")
        );
        assert_eq!(runtime_id("containerd://abc"), Some("abc"));
        assert_eq!(runtime_id("abc"), Some("abc"));
        assert_eq!(runtime_id(""), None);
    }

    #[tokio::test]
    async fn an_unreachable_api_leaves_the_path_s_metadata() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut config = KubeApiConfig::new(format!("http://127.0.0.1:{port}"));
        config.token_file = None;
        config.ca_file = None;
        let mut api = KubeApi::new(config).unwrap();
        let log = log("app", 0);
        let mut meta = SourceMeta::default();
        log.apply(&mut meta);
        let before = meta.clone();
        assert!(!api.enrich(&log, &mut meta).await);
        assert_eq!(meta, before);
        // Resting: the next pod does not wait for another failure.
        assert!(api.is_resting());
        assert!(!api.enrich(&log, &mut meta).await);
        assert_eq!(api.requests(), 1);
    }
}
