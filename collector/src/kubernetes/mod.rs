//! Who wrote a log on a Kubernetes node: namespace, pod, container and the pod's labels.
//!
//! - [`path`]: what the kubelet's log paths say (`/var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log`
//!   and the `/var/log/containers/<pod>_<ns>_<container>-<id>.log` symlinks into them),
//!   worked out once per file when it is found;
//! - [`api`]: the pod's own labels, image and container id from the API server, when the
//!   agent's service account may read pods, asked once per pod.
//!
//! Whatever the source (these files, a Docker engine running the kubelet's containers,
//! `/es` documents from other shippers), a record's Kubernetes identity lives in the
//! same labels: [`POD_NAMESPACE`], [`POD_NAME`], [`POD_UID`] and [`CONTAINER_NAME`], the
//! names the kubelet gives its containers' labels. The pod's own labels go beside them
//! under their own names (`app.kubernetes.io/name`), as Vector and Fluent Bit put them.

pub mod api;
pub mod path;

/// The label holding the pod's namespace.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// The label holding the pod's name.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// The label holding the pod's UID.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// The label holding the container's name within its pod.
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";

pub use api::{KubeApi, KubeApiConfig, KubeApiError};
pub use path::PodLog;
