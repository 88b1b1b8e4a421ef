//! Containers from the Docker API: the running ones at start, then each one that starts
//! (or is renamed) later, with name, image, labels and the json-file path.
//!
//! The engine is found as the Docker CLI finds it (`DOCKER_HOST`, else the default
//! socket). When it cannot be reached the agent says so once and keeps following its
//! `--path` files; it keeps trying in the background and picks containers up as soon as
//! the engine answers.

use super::SourceSpec;
use crate::decode::Format;
use crate::enrich::SourceMeta;
use bollard::models::{ContainerInspectResponse, EventMessageTypeEnum};
use bollard::query_parameters::{EventsOptions, ListContainersOptions};
use bollard::Docker;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How containers are found.
#[derive(Debug, Clone)]
pub struct DockerDiscovery {
    /// Where this agent sees Docker's `containers` directory. Log paths the engine
    /// reports under `/var/lib/docker/containers` are mapped here, for agents that run
    /// with the directory mounted elsewhere.
    pub docker_root: PathBuf,
    /// The node name records carry.
    pub host: String,
    /// Wait between attempts to reach the engine.
    pub retry: Duration,
    /// Only containers carrying every one of these labels (`key=value`, or `key` for
    /// any value) are followed; empty follows all.
    pub include_labels: Vec<String>,
}

const ENGINE_ROOT: &str = "/var/lib/docker/containers";

impl DockerDiscovery {
    /// Runs until `report` refuses a spec (the agent is stopping): reports every
    /// running container, then every container that starts.
    pub async fn run(self, report: impl Fn(SourceSpec) -> bool) {
        let mut said_unreachable = false;
        // Events are asked for from the last one seen, so a container that started
        // while the stream was down is still reported.
        let mut since = chrono::Utc::now().timestamp() - 1;
        loop {
            let docker = match connect().await {
                Ok(d) => d,
                Err(e) => {
                    if !said_unreachable {
                        tracing::warn!(
                            "no Docker engine reachable ({e}); following --path files only, without container metadata. \
                             Start dockerd or set DOCKER_HOST to pick containers up."
                        );
                        said_unreachable = true;
                    }
                    tokio::time::sleep(self.retry).await;
                    continue;
                }
            };
            if said_unreachable {
                tracing::info!("Docker engine reachable again; following its containers");
                said_unreachable = false;
            }
            match self.follow(&docker, &report, &mut since).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!("lost the Docker event stream ({e}); reconnecting");
                    tokio::time::sleep(self.retry).await;
                }
            }
        }
    }

    /// Lists, then follows events; `Ok` when `report` asks to stop.
    async fn follow(
        &self,
        docker: &Docker,
        report: &impl Fn(SourceSpec) -> bool,
        since: &mut i64,
    ) -> Result<(), bollard::errors::Error> {
        // Every container, stopped ones too: one that ran while the agent was down has
        // lines to read (a container reported twice is followed once).
        let listed = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                ..ListContainersOptions::default()
            }))
            .await?;
        for c in listed {
            if let Some(id) = c.id {
                if let Some(spec) = self.inspect(docker, &id).await {
                    if !report(spec) {
                        return Ok(());
                    }
                }
            }
        }
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            (
                "event".to_string(),
                vec!["start".to_string(), "rename".to_string()],
            ),
        ]);
        let mut events = docker.events(Some(EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(filters),
        }));
        while let Some(event) = events.next().await {
            let event = event?;
            if let Some(t) = event.time {
                *since = (*since).max(t);
            }
            if event.typ != Some(EventMessageTypeEnum::CONTAINER) {
                continue;
            }
            let Some(id) = event.actor.and_then(|a| a.id) else {
                continue;
            };
            if let Some(spec) = self.inspect(docker, &id).await {
                if !report(spec) {
                    return Ok(());
                }
            }
        }
        Err(bollard::errors::Error::IOError {
            err: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "event stream ended"),
        })
    }

    async fn inspect(&self, docker: &Docker, id: &str) -> Option<SourceSpec> {
        match docker.inspect_container(id, None).await {
            Ok(c) => self.spec(c),
            Err(e) => {
                // Gone already: a removed container's file is gone with it.
                tracing::debug!("container {id} vanished before it could be inspected: {e}");
                None
            }
        }
    }

    fn spec(&self, c: ContainerInspectResponse) -> Option<SourceSpec> {
        let id = c.id?;
        let name = c
            .name
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string();
        let driver = c
            .host_config
            .and_then(|h| h.log_config)
            .and_then(|l| l.typ)
            .unwrap_or_default();
        if !driver.is_empty() && driver != "json-file" {
            tracing::warn!(
                "container {name} logs with the {driver:?} driver, which skein cannot read; \
                 run it with --log-driver json-file to collect its logs"
            );
            return None;
        }
        let config = c.config.unwrap_or_default();
        let labels = config.labels.clone().unwrap_or_default();
        let wanted = self
            .include_labels
            .iter()
            .all(|want| match want.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
                None => labels.contains_key(want),
            });
        if !wanted {
            return None;
        }
        let path = self.map_path(c.log_path.as_deref().filter(|p| !p.is_empty()), &id);
        Some(SourceSpec {
            key: id.clone(),
            path,
            format: Format::JsonFile,
            meta: SourceMeta {
                host: self.host.clone(),
                container: name,
                container_id: id,
                image: config.image.unwrap_or_default(),
                labels: labels.into_iter().collect(),
                source: String::new(),
            },
        })
    }

    fn map_path(&self, reported: Option<&str>, id: &str) -> PathBuf {
        let default = || self.docker_root.join(id).join(format!("{id}-json.log"));
        match reported {
            Some(p) => match Path::new(p).strip_prefix(ENGINE_ROOT) {
                Ok(rest) if self.docker_root != Path::new(ENGINE_ROOT) => {
                    self.docker_root.join(rest)
                }
                _ => PathBuf::from(p),
            },
            None => default(),
        }
    }
}

async fn connect() -> Result<Docker, bollard::errors::Error> {
    let docker = Docker::connect_with_defaults()?;
    // Older engines refuse requests made with a newer API version than theirs.
    let docker = docker.negotiate_version().await?;
    docker.ping().await?;
    Ok(docker)
}
