//! The discovery thread: containers from the Docker engine and files from `--path` and
//! `--cri-path` globs, handed to the reader as [`SourceSpec`]s. A Kubernetes pod log's
//! spec waits for its pod's labels from the API server (one lookup per pod, bounded by
//! the lookup's timeout), so that its records carry them from the first line on; when
//! the API could not tell, the spec goes with the path's metadata and is sent again
//! with the labels once the API answers ([`PodLabels`]).

use super::AgentConfig;
use crate::decode::Format;
use crate::discover::docker::DockerDiscovery;
use crate::discover::{paths, SourceSpec};
use crate::kubernetes::{KubeApi, KubeApiConfig, PodLog};
use crate::wake::Wake;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Starts discovery on a small runtime of its own; sending on the returned channel
/// stops it.
pub(super) fn spawn(
    config: &AgentConfig,
    specs: Sender<SourceSpec>,
    wake: Wake,
) -> (tokio::sync::oneshot::Sender<()>, JoinHandle<()>) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let docker = config.docker.then(|| DockerDiscovery {
        docker_root: config.docker_root.clone(),
        host: config.host.clone(),
        retry: Duration::from_secs(5),
        include_labels: config.include_labels.clone(),
    });
    // CRI patterns first: a file matched by both kinds is read as CRI.
    let patterns: Vec<(String, Option<Format>)> = config
        .cri_paths
        .iter()
        .map(|p| (p.clone(), Some(Format::Cri)))
        .chain(config.paths.iter().map(|p| (p.clone(), None)))
        .collect();
    let kube_api = config.kube_api.clone();
    let host = config.host.clone();
    let rescan = config.rescan_interval;
    let handle = std::thread::Builder::new()
        .name("skein-agent-discovery".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime");
            rt.block_on(async move {
                let report = {
                    let specs = specs.clone();
                    let wake = wake.clone();
                    move |spec: SourceSpec| {
                        let ok = specs.send(spec).is_ok();
                        wake.poke();
                        ok
                    }
                };
                let docker = async move {
                    match docker {
                        Some(d) => d.run(report).await,
                        None => std::future::pending().await,
                    }
                };
                let globs = async move {
                    if patterns.is_empty() {
                        return std::future::pending().await;
                    }
                    let mut labels = kube_api.and_then(PodLabels::new);
                    let mut seen = std::collections::HashSet::new();
                    let send = |spec: SourceSpec| {
                        let _ = specs.send(spec);
                        wake.poke();
                    };
                    loop {
                        match paths::expand_with(&patterns) {
                            Ok(found) => {
                                for (path, format) in found {
                                    if seen.insert(path.clone()) {
                                        let mut spec = paths::spec_with(&path, &host, format);
                                        if let Some(l) = labels.as_mut() {
                                            l.label(&mut spec).await;
                                        }
                                        send(spec);
                                    }
                                }
                            }
                            Err(e) => tracing::warn!("bad --path or --cri-path pattern: {e}"),
                        }
                        if let Some(l) = labels.as_mut() {
                            l.retry(send).await;
                        }
                        // Files that went away may come back; let them be reported again.
                        seen.retain(|p: &PathBuf| p.exists());
                        tokio::time::sleep(rescan).await;
                    }
                };
                tokio::select! {
                    _ = stop_rx => {}
                    _ = docker => {}
                    _ = globs => {}
                }
            });
        })
        .expect("spawning a thread");
    (stop_tx, handle)
}

/// Pod labels for the specs of Kubernetes pod logs, with the specs the API could not
/// label yet, asked about again at most once per [`RETRY`].
struct PodLabels {
    api: KubeApi,
    pending: Vec<SourceSpec>,
    next_retry: Instant,
}

/// How often specs the API could not label are asked about again.
const RETRY: Duration = Duration::from_secs(60);
/// Specs kept waiting for labels; past it the oldest go without.
const MAX_PENDING: usize = 4096;

impl PodLabels {
    fn new(config: KubeApiConfig) -> Option<PodLabels> {
        let url = config.base_url.clone();
        match KubeApi::new(config) {
            Ok(api) => {
                tracing::info!("pod labels from the Kubernetes API at {url}");
                Some(PodLabels {
                    api,
                    pending: Vec::new(),
                    next_retry: Instant::now() + RETRY,
                })
            }
            Err(e) => {
                tracing::warn!(
                    "{e}. Records carry the namespace, pod and container of their log paths, without the pod's labels"
                );
                None
            }
        }
    }

    /// Adds the pod's labels to a pod log's spec; keeps a copy to label later when the
    /// API could not tell.
    async fn label(&mut self, spec: &mut SourceSpec) {
        let Some(log) = PodLog::parse_pods_path(&spec.path) else {
            return;
        };
        if !self.api.enrich(&log, &mut spec.meta).await {
            if self.pending.len() >= MAX_PENDING {
                self.pending.remove(0);
            }
            self.pending.push(spec.clone());
        }
    }

    /// Asks again about the specs waiting for labels (when due), and sends those the
    /// API now labels; files gone meanwhile are dropped (a spec would make the reader
    /// try to open them).
    async fn retry(&mut self, mut send: impl FnMut(SourceSpec)) {
        if self.pending.is_empty() || Instant::now() < self.next_retry || self.api.is_resting() {
            return;
        }
        self.next_retry = Instant::now() + RETRY;
        for mut spec in std::mem::take(&mut self.pending) {
            if !spec.path.exists() {
                continue;
            }
            let Some(log) = PodLog::parse_pods_path(&spec.path) else {
                continue;
            };
            let before = spec.meta.clone();
            if self.api.enrich(&log, &mut spec.meta).await {
                if spec.meta != before {
                    send(spec);
                }
            } else {
                self.pending.push(spec);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// A plain-HTTP API server answering each request with the next of `answers`.
    fn stub(answers: Vec<(u16, &'static str)>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for (status, body) in answers {
                let (mut conn, _) = listener.accept().unwrap();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                    line.clear();
                }
                write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
                .unwrap();
            }
        });
        url
    }

    #[tokio::test]
    async fn a_pod_the_api_could_not_label_is_labelled_when_it_answers() {
        let uid = "5c6e3d2a-9f1b-4c7e-8a2d-1b3c4d5e6f70";
        let url = stub(vec![
            (
                500,
                r#"{"kind":"Status","message":"etcdserver: request timed out","code":500}"#,
            ),
            (
                200,
                r#"{"kind":"Pod","metadata":{"name":"web-0","namespace":"prod","uid":"5c6e3d2a-9f1b-4c7e-8a2d-1b3c4d5e6f70","labels":{"app":"web"}}}"#,
            ),
        ]);
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(format!("pods/prod_web-0_{uid}/app"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("0.log"), "").unwrap();
        let mut config = KubeApiConfig::new(url);
        config.token_file = None;
        config.ca_file = None;
        let mut labels = PodLabels::new(config).unwrap();

        let mut spec = paths::spec_for(&dir.join("0.log"), "node-1");
        labels.label(&mut spec).await;
        assert!(!spec.meta.labels.contains_key("app"));
        assert_eq!(labels.pending.len(), 1);

        // Not before it is due.
        let mut sent = Vec::new();
        labels.retry(|s| sent.push(s)).await;
        assert!(sent.is_empty());
        labels.next_retry = Instant::now();
        labels.retry(|s| sent.push(s)).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].key, spec.key);
        assert_eq!(sent[0].meta.labels["app"], "web");
        assert_eq!(sent[0].meta.container, "web-0/app");
        assert!(labels.pending.is_empty());
    }
}
