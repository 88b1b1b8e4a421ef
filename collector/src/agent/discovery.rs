//! The discovery thread: containers from the Docker engine and files from `--path`
//! globs, handed to the reader as [`SourceSpec`]s.

use super::AgentConfig;
use crate::discover::docker::DockerDiscovery;
use crate::discover::{paths, SourceSpec};
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
    let patterns = config.paths.clone();
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
                    let mut seen = std::collections::HashSet::new();
                    loop {
                        match paths::expand(&patterns) {
                            Ok(found) => {
                                for path in found {
                                    if seen.insert(path.clone()) {
                                        let _ = specs.send(paths::spec_for(&path, &host));
                                        wake.poke();
                                    }
                                }
                            }
                            Err(e) => tracing::warn!("bad --path pattern: {e}"),
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
