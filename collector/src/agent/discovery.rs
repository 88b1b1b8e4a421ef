//! The discovery thread: containers from the Docker engine and files from `--path` and
//! `--cri-path` globs, handed to the reader as [`SourceSpec`]s. A Kubernetes pod log's
//! spec waits for its pod's labels from the API server (one lookup per pod, bounded by
//! the lookup's timeout), so that its records carry them from the first line on.

use super::AgentConfig;
use crate::decode::Format;
use crate::discover::docker::DockerDiscovery;
use crate::discover::{paths, SourceSpec};
use crate::kubernetes::{KubeApi, PodLog};
use crate::wake::Wake;
use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::Duration;

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
                    let mut kube = kube_api.and_then(|c| {
                        let url = c.base_url.clone();
                        KubeApi::new(c)
                            .inspect(|_| {
                                tracing::info!("pod labels from the Kubernetes API at {url}")
                            })
                            .inspect_err(|e| {
                                tracing::warn!(
                                    "{e}. Records carry the namespace, pod and container of their log paths, without the pod's labels"
                                )
                            })
                            .ok()
                    });
                    let mut seen = std::collections::HashSet::new();
                    loop {
                        match paths::expand_with(&patterns) {
                            Ok(found) => {
                                for (path, format) in found {
                                    if seen.insert(path.clone()) {
                                        let mut spec = paths::spec_with(&path, &host, format);
                                        if let (Some(api), Some(log)) =
                                            (kube.as_mut(), PodLog::parse_pods_path(&spec.path))
                                        {
                                            api.enrich(&log, &mut spec.meta).await;
                                        }
                                        let _ = specs.send(spec);
                                        wake.poke();
                                    }
                                }
                            }
                            Err(e) => tracing::warn!("bad --path or --cri-path pattern: {e}"),
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
