//! Finding what to follow: containers through the Docker API ([`docker`]) and files
//! matching `--path` globs ([`paths`]). Both report [`SourceSpec`]s to the reader, which
//! follows each key once; a spec for a key already followed only updates its metadata.

pub mod docker;
pub mod paths;

use crate::decode::Format;
use crate::enrich::SourceMeta;
use std::path::PathBuf;

/// A log to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSpec {
    /// What identifies the source across restarts: the container id for container
    /// logs, the path for other files.
    pub key: String,
    /// The live file.
    pub path: PathBuf,
    /// How its lines are framed.
    pub format: Format,
    /// What its records carry.
    pub meta: SourceMeta,
}

impl SourceSpec {
    /// Whether the log is one container's (a Docker json-file, a file named by its
    /// container id, a Kubernetes pod log), whose name never comes back once it is gone.
    pub fn is_container_log(&self) -> bool {
        self.format == Format::JsonFile
            || crate::enrich::container_id_from_path(&self.path).is_some()
            || crate::kubernetes::PodLog::is_pod_log_name(&self.path)
    }
}
