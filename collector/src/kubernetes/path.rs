//! What the kubelet's log paths say about the container that wrote a file.
//!
//! The kubelet has the runtime (containerd, CRI-O) write each container's log at
//!
//! ```text
//! /var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart count>.log
//! ```
//!
//! and links it from
//!
//! ```text
//! /var/log/containers/<pod>_<namespace>_<container>-<container id>.log
//! ```
//!
//! Both names are recognised wherever the directories live (only the last path
//! components count), so a test or a node with another log root works the same. A
//! symlink is always worked out to the file it points to: one file is one source,
//! whichever names it is found by, so nothing is read twice.
//!
//! This runs once per file when discovery finds it, never per line.

use super::{CONTAINER_NAME, POD_NAME, POD_NAMESPACE, POD_UID};
use crate::enrich::SourceMeta;
use std::path::{Path, PathBuf};

/// A container's log file on a Kubernetes node, and who wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLog {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// The pod's UID (a UUID; a 32-hex-digit hash for static pods), when the file was
    /// reached under `/var/log/pods`.
    pub uid: Option<String>,
    /// The container's name within the pod.
    pub container: String,
    /// How many times the container had restarted when it wrote this file (the file's
    /// stem), when the file was reached under `/var/log/pods`.
    pub restart: Option<u32>,
    /// The runtime's container id (64 hex digits), when a `/var/log/containers` name
    /// for the file was seen.
    pub container_id: Option<String>,
    /// The file to read: the `/var/log/pods` file a `/var/log/containers` link points
    /// to, resolved, else the path found.
    pub file: PathBuf,
}

impl PodLog {
    /// Reads `…/<namespace>_<pod>_<uid>/<container>/<restart>.log` from the last three
    /// components of `path`, without touching the disk.
    pub fn parse_pods_path(path: &Path) -> Option<PodLog> {
        let stem = path.file_name()?.to_str()?.strip_suffix(".log")?;
        if stem.is_empty() || !stem.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let restart = stem.parse().ok()?;
        let container_dir = path.parent()?;
        let container = container_dir.file_name()?.to_str()?;
        let pod_dir = container_dir.parent()?.file_name()?.to_str()?;
        let mut parts = pod_dir.split('_');
        let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || !is_name(namespace)
            || !is_name(pod)
            || !is_name(container)
            || !is_uid(uid)
        {
            return None;
        }
        Some(PodLog {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            uid: Some(uid.to_string()),
            container: container.to_string(),
            restart: Some(restart),
            container_id: None,
            file: path.to_path_buf(),
        })
    }

    /// Reads `…/<pod>_<namespace>_<container>-<container id>.log` from the file name of
    /// `path`, without touching the disk.
    pub fn parse_containers_name(path: &Path) -> Option<PodLog> {
        let stem = path.file_name()?.to_str()?.strip_suffix(".log")?;
        let split = stem.len().checked_sub(65)?;
        let (names, id) = (stem.get(..split)?, stem.get(split..)?.strip_prefix('-')?);
        if !is_container_id(id) {
            return None;
        }
        let mut parts = names.split('_');
        let (pod, namespace, container) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || !is_name(namespace) || !is_name(pod) || !is_name(container) {
            return None;
        }
        Some(PodLog {
            namespace: namespace.to_string(),
            pod: pod.to_string(),
            uid: None,
            container: container.to_string(),
            restart: None,
            container_id: Some(id.to_string()),
            file: path.to_path_buf(),
        })
    }

    /// Whether `path` is named as the kubelet names container logs (either layout).
    pub fn is_pod_log_name(path: &Path) -> bool {
        Self::parse_pods_path(path).is_some() || Self::parse_containers_name(path).is_some()
    }

    /// Works out a file found on disk: a `/var/log/containers` name is followed to the
    /// `/var/log/pods` file it links to (taking the container id from the link's name),
    /// and a `/var/log/pods` file gets its container id from the link beside it in
    /// `../../../containers/`, when there is one. `file` is then the resolved path, so a
    /// file found by both names resolves alike. `None` for a file of neither layout.
    pub fn resolve(path: &Path) -> Option<PodLog> {
        if let Some(mut log) = Self::parse_pods_path(path) {
            let real = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
            // The links live beside the pods directory the file was found under (the
            // root as configured first, then as resolved).
            log.container_id = [path, real.as_path()]
                .iter()
                .find_map(|p| find_link(&log, p, &real));
            if let Some(resolved) = Self::parse_pods_path(&real) {
                log.file = resolved.file;
            }
            return Some(log);
        }
        let mut log = Self::parse_containers_name(path)?;
        // A link whose target is not a pods file (or a plain file of this name, as
        // older runtimes wrote) is read where it is, named by its container id.
        if let Ok(real) = path.canonicalize() {
            if let Some(target) = Self::parse_pods_path(&real).filter(|t| {
                t.namespace == log.namespace && t.pod == log.pod && t.container == log.container
            }) {
                log.uid = target.uid;
                log.restart = target.restart;
                log.file = real;
            }
        }
        Some(log)
    }

    /// The name of the delivery source (`_source_id` is `{host}/{this}/{stream}`):
    /// `{pod uid}/{container}/{restart}`, which is the same whichever name the file was
    /// found by and never names another file (a pod recreated under the same name has a
    /// new UID); `None` without a UID, and the container id names the source.
    pub fn source(&self) -> Option<String> {
        Some(format!(
            "{}/{}/{}",
            self.uid.as_ref()?,
            self.container,
            self.restart?
        ))
    }

    /// Writes what the path says into `meta`: the container name as kubectl users say
    /// it, `<pod>/<container>`; the Kubernetes labels; the container id when known; and
    /// the delivery source.
    pub fn apply(&self, meta: &mut SourceMeta) {
        meta.container = format!("{}/{}", self.pod, self.container);
        if let Some(id) = &self.container_id {
            meta.container_id = id.clone();
        }
        meta.labels
            .insert(POD_NAMESPACE.to_string(), self.namespace.clone());
        meta.labels.insert(POD_NAME.to_string(), self.pod.clone());
        meta.labels
            .insert(CONTAINER_NAME.to_string(), self.container.clone());
        if let Some(uid) = &self.uid {
            meta.labels.insert(POD_UID.to_string(), uid.clone());
        }
        if let Some(source) = self.source() {
            meta.source = source;
        }
    }
}

/// The container id of `log` from a `/var/log/containers` link beside the pods
/// directory `found` was listed under, pointing at `real`.
fn find_link(log: &PodLog, found: &Path, real: &Path) -> Option<String> {
    let pods = found.parent()?.parent()?.parent()?;
    let links = pods.parent()?.join("containers");
    let prefix = format!("{}_{}_{}-", log.pod, log.namespace, log.container);
    for entry in std::fs::read_dir(&links).ok()?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(&prefix) {
            continue;
        }
        let link = entry.path();
        if link.canonicalize().ok().as_deref() == Some(real) {
            if let Some(id) = PodLog::parse_containers_name(&link).and_then(|l| l.container_id) {
                return Some(id);
            }
        }
    }
    None
}

/// A namespace, pod or container name: Kubernetes allows lowercase letters, digits,
/// `-` and `.` (DNS labels and subdomains), so `_` can separate them in file names.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.'))
}

/// A pod UID: a UUID, or for static pods the 32 hex digits of their config hash.
fn is_uid(s: &str) -> bool {
    (32..=36).contains(&s.len())
        && s.bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'))
}

fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "5c6e3d2a-9f1b-4c7e-8a2d-1b3c4d5e6f70";
    const ID: &str = "3f2a9c1be0d84a7c9e51b2f6a8d04c1e7b93f5a2c6d8e0f1a3b5c7d9e1f2a4b6";

    #[test]
    fn reads_both_layouts() {
        let p = format!("/var/log/pods/prod_web-0_{UID}/app/2.log");
        let log = PodLog::parse_pods_path(Path::new(&p)).unwrap();
        assert_eq!(
            (
                log.namespace.as_str(),
                log.pod.as_str(),
                log.uid.as_deref(),
                log.container.as_str(),
                log.restart
            ),
            ("prod", "web-0", Some(UID), "app", Some(2))
        );
        assert_eq!(log.source().unwrap(), format!("{UID}/app/2"));

        // A static pod's directory carries its config hash.
        let stat = "/x/pods/kube-system_etcd-node-1_d3b0e4f7c1a9e8b6f5d4c3b2a1908f7e/etcd/0.log";
        assert_eq!(
            PodLog::parse_pods_path(Path::new(stat)).unwrap().pod,
            "etcd-node-1"
        );

        let c = format!("/var/log/containers/web-0_prod_app-{ID}.log");
        let log = PodLog::parse_containers_name(Path::new(&c)).unwrap();
        assert_eq!(
            (
                log.namespace.as_str(),
                log.pod.as_str(),
                log.container.as_str(),
                log.container_id.as_deref()
            ),
            ("prod", "web-0", "app", Some(ID))
        );
        assert_eq!(log.source(), None);

        for bad in [
            format!("/var/log/pods/prod_web-0_{UID}/app/0.log.20261120-100000"),
            format!("/var/log/pods/prod_web-0_{UID}/app/x.log"),
            format!("/var/log/pods/prod_web_0_{UID}/app/0.log"),
            "/var/log/pods/prod_web-0_not-a-uid/app/0.log".to_string(),
            format!("/var/log/pods/Prod_web-0_{UID}/app/0.log"),
            format!("/var/log/containers/web-0_prod-{ID}.log"),
            format!("/var/log/containers/web-0_prod_app-{}.log", &ID[1..]),
            "/var/log/syslog".to_string(),
            "0.log".to_string(),
        ] {
            assert!(!PodLog::is_pod_log_name(Path::new(&bad)), "{bad}");
        }
    }

    #[test]
    fn a_file_resolves_alike_by_either_name() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join(format!("pods/prod_web-0_{UID}/app"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(root.path().join("containers")).unwrap();
        let file = dir.join("0.log");
        std::fs::write(&file, "").unwrap();
        let link = root
            .path()
            .join(format!("containers/web-0_prod_app-{ID}.log"));
        std::os::unix::fs::symlink(&file, &link).unwrap();
        // A link of another container beside it is not taken for this one's.
        std::os::unix::fs::symlink(
            &file,
            root.path().join(format!(
                "containers/web-0_prod_sidecar-{}.log",
                "e".repeat(64)
            )),
        )
        .unwrap();

        let by_file = PodLog::resolve(&file).unwrap();
        let by_link = PodLog::resolve(&link).unwrap();
        assert_eq!(by_file, by_link);
        assert_eq!(by_file.file, file.canonicalize().unwrap());
        assert_eq!(by_file.container_id.as_deref(), Some(ID));
        assert_eq!(by_file.source().unwrap(), format!("{UID}/app/0"));

        let mut meta = SourceMeta::default();
        by_link.apply(&mut meta);
        assert_eq!(meta.container, "web-0/app");
        assert_eq!(meta.container_id, ID);
        assert_eq!(meta.labels[POD_NAMESPACE], "prod");
        assert_eq!(meta.labels[POD_NAME], "web-0");
        assert_eq!(meta.labels[CONTAINER_NAME], "app");
        assert_eq!(meta.labels[POD_UID], UID);
        assert_eq!(meta.source_id("stdout"), format!("/{UID}/app/0/stdout"));

        // Without its link the file is still the same source.
        std::fs::remove_file(&link).unwrap();
        let alone = PodLog::resolve(&file).unwrap();
        assert_eq!(alone.container_id, None);
        assert_eq!(alone.source(), by_file.source());
    }
}
