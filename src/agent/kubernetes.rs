//! The agent's Kubernetes options: where pod logs are (`--cri-path`) and the API server
//! asked for pod labels (`--kube-api`, its token and CA).

use skein_collector::agent::AgentConfig;
use skein_collector::kubernetes::KubeApiConfig;
use std::path::PathBuf;

/// Where Kubernetes pod logs are and who may say whose they are.
#[derive(clap::Args, Debug, Clone)]
pub struct KubernetesArgs {
    /// Also follow files matching this glob as CRI logs (containerd, CRI-O) whatever
    /// their names (repeatable). Files named as the kubelet names them
    /// (`…/pods/NS_POD_UID/CONTAINER/N.log`, `…/containers/POD_NS_CONTAINER-ID.log`)
    /// carry namespace, pod and container, and are read once whichever name finds them.
    /// Default when /var/log/pods exists (a Kubernetes node): /var/log/pods/*/*/*.log;
    /// `off` for none.
    #[arg(long = "cri-path", value_name = "GLOB")]
    pub cri_paths: Vec<String>,
    /// The Kubernetes API server asked for the labels of the pods whose logs are read
    /// (one lookup per pod). Default in a pod:
    /// https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT; `off` to not ask.
    #[arg(long, env = "SKEIN_KUBE_API", value_name = "URL")]
    pub kube_api: Option<String>,
    /// The bearer token presented to the Kubernetes API (read again for each lookup, as
    /// the kubelet renews it); none when the file does not exist.
    #[arg(
        long,
        env = "SKEIN_KUBE_TOKEN_FILE",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/token"
    )]
    pub kube_token_file: PathBuf,
    /// The CA certificate (PEM) the Kubernetes API's certificate is checked against,
    /// besides the system's; ignored when the file does not exist.
    #[arg(
        long,
        env = "SKEIN_KUBE_CA_FILE",
        default_value = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
    )]
    pub kube_ca_file: PathBuf,
}

impl KubernetesArgs {
    /// The CRI globs and the API settings.
    pub(super) fn apply(&self, config: &mut AgentConfig) {
        const NODE_PODS: &str = "/var/log/pods";
        config.cri_paths = if self.cri_paths.is_empty() {
            if std::path::Path::new(NODE_PODS).is_dir() {
                tracing::info!(
                    "{NODE_PODS} exists: following its pod logs (--cri-path off to not)"
                );
                vec![format!("{NODE_PODS}/*/*/*.log")]
            } else {
                Vec::new()
            }
        } else {
            self.cri_paths
                .iter()
                .filter(|p| p.as_str() != "off")
                .cloned()
                .collect()
        };
        config.kube_api = match self.kube_api.as_deref().map(str::trim) {
            Some("off") => None,
            Some(url) => Some(KubeApiConfig::new(url)),
            None => KubeApiConfig::in_cluster(),
        }
        .map(|mut c| {
            c.token_file = Some(self.kube_token_file.clone());
            c.ca_file = Some(self.kube_ca_file.clone());
            c
        });
    }
}
