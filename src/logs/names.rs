//! NAME arguments: a container name, a compose service, a regex, or a Kubernetes pod
//! (`pod/NAME`, as `kubectl logs` takes it), turned into the query language and checked
//! against what the server has seen.

use anyhow::{bail, Context, Result};
use serde::Deserialize;

const SERVICE_LABEL: &str = "labels.com.docker.compose.service";
/// The label of a record's pod (see `skein_collector::kubernetes`).
const POD_FIELD: &str = "labels.io.kubernetes.pod.name";
/// The label of a record's pod namespace.
pub const NAMESPACE_FIELD: &str = "labels.io.kubernetes.pod.namespace";
/// The label of a record's container name within its pod.
pub const CONTAINER_FIELD: &str = "labels.io.kubernetes.container.name";

/// kubectl's names for the resource type of `TYPE/NAME`: pods, then the workloads
/// whose pods `skein logs` cannot list (it knows records, not the cluster).
const POD_TYPES: [&str; 3] = ["pod", "pods", "po"];
const WORKLOAD_TYPES: [&str; 18] = [
    "deployment",
    "deployments",
    "deploy",
    "statefulset",
    "statefulsets",
    "sts",
    "daemonset",
    "daemonsets",
    "ds",
    "replicaset",
    "replicasets",
    "rs",
    "job",
    "jobs",
    "cronjob",
    "cronjobs",
    "service",
    "svc",
];

/// One NAME argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// A container name, compose service or regex over them, as `docker logs` takes it.
    Container(String),
    /// A Kubernetes pod name or regex, written `pod/NAME`.
    Pod(String),
}

impl Name {
    /// Reads a NAME: `pod/NAME` (also `pods/`, `po/`) is a pod; another kubectl
    /// resource type (`deploy/web`) is refused with what to write instead.
    pub fn parse(arg: &str) -> Result<Name> {
        if let Some((kind, name)) = arg.split_once('/') {
            if POD_TYPES.contains(&kind) {
                if name.is_empty() {
                    bail!("{arg:?}: write the pod's name after pod/");
                }
                return Ok(Name::Pod(name.to_string()));
            }
            if WORKLOAD_TYPES.contains(&kind) {
                bail!(
                    "{arg:?}: skein logs takes pods (pod/NAME), not a {kind}; for its pods use a regex such as 'pod/^{name}-' with -n NAMESPACE"
                );
            }
        }
        Ok(Name::Container(arg.to_string()))
    }

    /// Whether it names a pod.
    pub fn is_pod(&self) -> bool {
        matches!(self, Name::Pod(_))
    }

    /// Whether it is a regex.
    pub fn is_regex(&self) -> bool {
        match self {
            Name::Container(n) | Name::Pod(n) => is_regex(n),
        }
    }

    /// The query matching it.
    pub fn query(&self) -> String {
        match self {
            Name::Container(n) => name_query(n),
            Name::Pod(n) if is_regex(n) => format!("{POD_FIELD}:/{}/", whole_value_regex(n)),
            Name::Pod(n) => format!("{POD_FIELD}:{}", quoted(n)),
        }
    }

    fn text(&self) -> &str {
        match self {
            Name::Container(n) | Name::Pod(n) => n,
        }
    }
}

fn quoted(v: &str) -> String {
    format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Whether `name` is meant as a regex: container names only hold `[a-zA-Z0-9_.-]`.
pub fn is_regex(name: &str) -> bool {
    name.contains([
        '^', '$', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\',
    ])
}

/// A regex as `docker ps --filter name=` reads it (unanchored unless `^`/`$` say so),
/// turned into a whole-value regex.
fn whole_value_regex(name: &str) -> String {
    let (start, body) = match name.strip_prefix('^') {
        Some(b) => ("", b),
        None => (".*", name),
    };
    let (body, end) = match body.strip_suffix('$') {
        Some(b) if !b.ends_with('\\') => (b, ""),
        _ => (body, ".*"),
    };
    // The query language ends a regex at an unescaped `/`.
    let body = body.replace('/', "\\/");
    if body.contains('|') {
        format!("{start}({body}){end}")
    } else {
        format!("{start}{body}{end}")
    }
}

/// The query matching `name` as a container name or a compose service.
pub fn name_query(name: &str) -> String {
    if is_regex(name) {
        let r = whole_value_regex(name);
        format!("(container:/{r}/ OR {SERVICE_LABEL}:/{r}/)")
    } else {
        let q = quoted(name);
        format!("(container:{q} OR {SERVICE_LABEL}:{q})")
    }
}

/// A source as `GET /api/v1/sources` lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Source {
    /// Host name.
    #[serde(default)]
    pub host: String,
    /// Container name.
    #[serde(default)]
    pub container: String,
}

#[derive(Deserialize)]
struct Sources {
    sources: Vec<Source>,
}

#[derive(Deserialize)]
struct Total {
    total: u64,
}

/// What the server knows about the NAMEs.
pub struct Known {
    /// Distinct hosts among the matching sources.
    pub hosts: usize,
    /// Distinct containers among the matching sources.
    pub containers: usize,
}

/// Checks that every NAME matches something the server has seen; when one does not,
/// fails with the closest names it knows.
pub async fn check(
    client: &reqwest::Client,
    server: &str,
    names: &[Name],
    extra: &str,
    namespace: Option<&str>,
) -> Result<Known> {
    let get = |path: &str, q: String| {
        let mut params = vec![("q", q)];
        if path.ends_with("search") {
            params.push(("limit", "0".to_string()));
        }
        client.get(format!("{server}{path}")).query(&params).send()
    };
    let mut hosts = std::collections::BTreeSet::new();
    let mut containers = std::collections::BTreeSet::new();
    for name in names {
        let q = format!("{} {extra}", name.query());
        let resp = get("/api/v1/sources", q.clone())
            .await
            .map_err(|e| anyhow::anyhow!(unreachable(server, &e)))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            bail!("the server refused to list sources ({status}): {body}");
        }
        let found: Sources = resp
            .json()
            .await
            .context("unreadable answer from /api/v1/sources")?;
        for s in &found.sources {
            hosts.insert(s.host.clone());
            containers.insert((s.host.clone(), s.container.clone()));
        }
        if !found.sources.is_empty() {
            continue;
        }
        // A compose service or a name seen only outside the window of `extra`.
        let total: Total = get("/api/v1/search", q)
            .await
            .map_err(|e| anyhow::anyhow!(unreachable(server, &e)))?
            .json()
            .await
            .context("unreadable answer from /api/v1/search")?;
        if total.total > 0 {
            continue;
        }
        if let Name::Pod(pod) = name {
            let known = known_pods(client, server, namespace).await?;
            let close = closest(pod, &known);
            let mut place = namespace.map_or("in any namespace".to_string(), |ns| {
                format!("in namespace {}", crate::escape::visible(ns, false))
            });
            if namespace.is_some_and(|ns| ns.parse::<usize>().is_ok()) {
                place.push_str(
                    " (with a pod/NAME, -n is the namespace, as in kubectl: for the last N lines use --tail N)",
                );
            }
            if close.is_empty() {
                bail!("no pod {pod:?} {place} on {server} (with these filters); `skein logs` with no NAME shows every container");
            }
            bail!(
                "no pod {pod:?} {place} (with these filters); closest known: {}",
                close.join(", ")
            );
        }
        let name = name.text();
        let all: Sources = get("/api/v1/sources", String::new())
            .await
            .map_err(|e| anyhow::anyhow!(unreachable(server, &e)))?
            .json()
            .await
            .context("unreadable answer from /api/v1/sources")?;
        // Names come from the records: shown escaped, they cannot drive the terminal.
        let known: Vec<String> = all
            .sources
            .into_iter()
            .map(|s| crate::escape::visible(&s.container, false).into_owned())
            .collect();
        let close = closest(name, &known);
        if close.is_empty() {
            bail!("no container, compose service or regex match for {name:?} on {server}; `skein logs` with no NAME shows every container");
        }
        bail!(
            "no container or compose service named {name:?}; closest known: {}",
            close.join(", ")
        );
    }
    Ok(Known {
        hosts: hosts.len(),
        containers: containers.len(),
    })
}

/// The pod names the server has records of (in `namespace`, if given), escaped for
/// the terminal.
async fn known_pods(
    client: &reqwest::Client,
    server: &str,
    namespace: Option<&str>,
) -> Result<Vec<String>> {
    let q = namespace.map_or(String::new(), |ns| {
        format!("{NAMESPACE_FIELD}:{}", quoted(ns))
    });
    let body = serde_json::json!({
        "q": q,
        "aggs": {"pods": {"terms": {"field": POD_FIELD, "size": 1000}}},
    });
    let answer: serde_json::Value = client
        .post(format!("{server}/api/v1/aggregate"))
        .json(&body)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(unreachable(server, &e)))?
        .json()
        .await
        .context("unreadable answer from /api/v1/aggregate")?;
    Ok(answer["aggregations"]["pods"]["buckets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["key"].as_str())
        .map(|k| crate::escape::visible(k, false).into_owned())
        .collect())
}

/// What to do about a request to `server` that failed with `err` (an untrusted
/// certificate, or no server there).
pub fn unreachable(server: &str, err: &(dyn std::error::Error + 'static)) -> String {
    skein_connect::explain(server, err)
}

/// Up to five known names closest to `name`: containing it, then by edit distance.
pub fn closest(name: &str, known: &[String]) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = known
        .iter()
        .map(|k| {
            let d = if k.contains(name) || name.contains(k.as_str()) {
                0
            } else {
                edit_distance(name, k)
            };
            (d, k)
        })
        .filter(|(d, k)| *d <= (k.len().max(name.len()) / 2).max(2))
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(5).map(|(_, k)| k.clone()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_queries() {
        assert_eq!(
            name_query("web-1"),
            "(container:\"web-1\" OR labels.com.docker.compose.service:\"web-1\")"
        );
        assert_eq!(
            name_query("^api-"),
            "(container:/api-.*/ OR labels.com.docker.compose.service:/api-.*/)"
        );
        assert_eq!(whole_value_regex("worker$"), ".*worker");
        assert_eq!(whole_value_regex("^(a|b)$"), "((a|b))");
        assert_eq!(whole_value_regex("a|b"), ".*(a|b).*");
    }

    #[test]
    fn pods_as_kubectl_names_them() {
        assert_eq!(Name::parse("web").unwrap(), Name::Container("web".into()));
        assert_eq!(
            Name::parse("web-0/app").unwrap(),
            Name::Container("web-0/app".into())
        );
        for arg in ["pod/web-0", "pods/web-0", "po/web-0"] {
            let n = Name::parse(arg).unwrap();
            assert_eq!(n, Name::Pod("web-0".into()));
            assert_eq!(n.query(), "labels.io.kubernetes.pod.name:\"web-0\"");
        }
        assert_eq!(
            Name::parse("pod/^web-").unwrap().query(),
            "labels.io.kubernetes.pod.name:/web-.*/"
        );
        let e = Name::parse("deploy/web").unwrap_err().to_string();
        assert!(e.contains("pod/^web-"), "{e}");
        assert!(Name::parse("pod/").is_err());
    }

    #[test]
    fn closest_names() {
        let known: Vec<String> = ["web", "web-2", "api", "postgres"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(closest("wbe", &known)[0], "web");
        assert_eq!(closest("postgre", &known), vec!["postgres"]);
        assert!(closest("zzzzzzzzzz", &known).is_empty());
    }
}
