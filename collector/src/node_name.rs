//! The name of the node an agent runs on, when `--host` does not give one.
//!
//! On a host the kernel's host name is the node's. In a container it is the container's
//! (its short id, by default), which says nothing about where the logs come from, so
//! there the agent asks the Docker engine whose socket it was given: the engine's
//! `Name` (`docker info`) is the host name of the machine the engine runs on. That needs
//! no mount beyond the socket the agent uses anyway, and stays right when the host is
//! renamed (a bind-mounted `/etc/hostname` is the file's content at mount time, and is
//! missing on hosts that keep the name elsewhere).

use std::path::Path;
use std::time::Duration;

/// How long the engine is given to answer before the kernel's name is used.
const ASK_ENGINE_FOR: Duration = Duration::from_secs(5);

/// Where a node name came from, so the agent can say so at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeName {
    /// The kernel's host name (`/proc/sys/kernel/hostname`): not in a container, or
    /// Docker discovery is off.
    Kernel(String),
    /// The Docker engine's `Name`: the agent runs in a container.
    Engine(String),
    /// In a container, but the engine could not be asked; the container's own name,
    /// with why.
    Fallback {
        /// The container's host name.
        name: String,
        /// Why the engine's was not used.
        reason: String,
    },
}

impl NodeName {
    /// The name itself.
    pub fn name(&self) -> &str {
        match self {
            NodeName::Kernel(n) | NodeName::Engine(n) => n,
            NodeName::Fallback { name, .. } => name,
        }
    }
}

/// The node name for an agent without `--host`: the engine's name when this process
/// runs in a container and may ask the engine (`docker` is Docker discovery being on),
/// else the kernel's host name.
pub fn node_name(docker: bool) -> NodeName {
    let kernel = crate::agent::default_host();
    if !docker || !in_container() {
        return NodeName::Kernel(kernel);
    }
    match engine_name() {
        Ok(name) => NodeName::Engine(name),
        Err(reason) => NodeName::Fallback {
            name: kernel,
            reason,
        },
    }
}

/// [`node_name`], said in the log when it is not the kernel's: the name records carry
/// when `--host` is not given.
pub fn for_agent(docker: bool) -> String {
    match node_name(docker) {
        NodeName::Kernel(n) => n,
        NodeName::Engine(n) => {
            tracing::info!("in a container: records carry the Docker engine's host name {n:?} (set --host to choose another)");
            n
        }
        NodeName::Fallback { name, reason } => {
            tracing::warn!(
                "in a container, but {reason}: records carry the container's host name {name:?}; \
                 pass --host (SKEIN_HOST) with the node's name"
            );
            name
        }
    }
}

/// Whether this process runs in a container: Docker puts `/.dockerenv` in every
/// container's root, Podman `/run/.containerenv`.
pub fn in_container() -> bool {
    Path::new("/.dockerenv").exists() || Path::new("/run/.containerenv").exists()
}

/// The Docker engine's `Name`, asked on a thread of its own with a runtime of its own,
/// so this works from inside another runtime (`skein up`) and from outside one.
fn engine_name() -> Result<String, String> {
    let asked = std::thread::Builder::new()
        .name("skein-node-name".into())
        .spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a runtime to ask the engine: {e}"))?;
            rt.block_on(async {
                match tokio::time::timeout(ASK_ENGINE_FOR, ask_engine()).await {
                    Ok(answer) => answer,
                    Err(_) => Err(format!(
                        "the Docker engine did not answer within {} s",
                        ASK_ENGINE_FOR.as_secs()
                    )),
                }
            })
        })
        .map_err(|e| format!("cannot start a thread to ask the engine: {e}"))?;
    asked
        .join()
        .unwrap_or_else(|_| Err("asking the engine panicked".into()))
}

async fn ask_engine() -> Result<String, String> {
    let docker = bollard::Docker::connect_with_defaults()
        .map_err(|e| format!("cannot reach the Docker engine: {e}"))?
        .negotiate_version()
        .await
        .map_err(|e| format!("cannot reach the Docker engine: {e}"))?;
    let info = docker
        .info()
        .await
        .map_err(|e| format!("the Docker engine's info failed: {e}"))?;
    info.name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| "the Docker engine's info has no Name".to_string())
}
