//! `--path GLOB` sources, and the metadata a Docker data directory holds on disk for
//! when the engine itself cannot be asked.

use super::SourceSpec;
use crate::decode::Format;
use crate::enrich::{container_id_from_path, SourceMeta};
use crate::kubernetes::PodLog;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Expands `patterns` into the files to follow, each once: a file reached through a
/// symlink or two spellings of a path counts once (by its resolved path), and rotated
/// predecessors (`app.log.1`, `app.log-20261125`, `x-json.log.2`, `*.gz`, the kubelet's
/// `0.log.20261120-100000`, whenever the live name beside them exists) are left out,
/// since they are read as part of following their live file.
pub fn expand(patterns: &[String]) -> Result<Vec<PathBuf>, glob::PatternError> {
    let tagged: Vec<(String, Option<Format>)> =
        patterns.iter().map(|p| (p.clone(), None)).collect();
    Ok(expand_with(&tagged)?.into_iter().map(|(p, _)| p).collect())
}

/// [`expand`] for patterns that each may say how their files are framed (`--cri-path`
/// gives `Some(Format::Cri)`, `--path` `None`: as the path says). A file matched by
/// several patterns is found once, with the format of the first pattern naming it.
pub fn expand_with(
    patterns: &[(String, Option<Format>)],
) -> Result<Vec<(PathBuf, Option<Format>)>, glob::PatternError> {
    let mut found = Vec::new();
    for (pattern, format) in patterns {
        for path in glob::glob(pattern)?.flatten() {
            if path.is_file() && !is_rotated(&path) {
                found.push((path, *format));
            }
        }
    }
    // A file named directly wins over a symlink to it: its own name carries the
    // container id and the format.
    found.sort_by_key(|(p, _)| p.is_symlink());
    let mut resolved = std::collections::HashSet::new();
    Ok(found
        .into_iter()
        .filter(|(p, _)| resolved.insert(p.canonicalize().unwrap_or_else(|_| p.clone())))
        .collect())
}

/// Whether `path` is a rotated predecessor of a live file in the same directory: its
/// name is the live name plus `.N`, `-N` (logrotate's `dateext`), or `.gz`.
fn is_rotated(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    if name.ends_with(".gz") {
        return true;
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    // The kubelet renames `0.log` to `0.log.YYYYMMDD-hhmmss` when it rotates.
    if let Some((live, stamp)) = name.rsplit_once('.') {
        let b = stamp.as_bytes();
        if b.len() == 15
            && b[8] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 8 || c.is_ascii_digit())
            && dir.join(live).is_file()
        {
            return true;
        }
    }
    name.char_indices()
        .filter(|&(i, c)| i > 0 && (c == '.' || c == '-'))
        .any(|(i, _)| {
            let suffix = &name[i + 1..];
            !suffix.is_empty()
                && suffix.bytes().all(|c| c.is_ascii_digit())
                && dir.join(&name[..i]).is_file()
        })
}

/// What a file found by path is: a Kubernetes pod log (named by the kubelet's layouts,
/// see [`PodLog`]: keyed and read by its resolved path, with namespace, pod and
/// container), a container log keyed by its container id (with the name, image and
/// labels from Docker's `config.v2.json` beside it when readable), or a plain file keyed
/// by its path and named after its file stem. The format is the path's.
pub fn spec_for(path: &Path, host: &str) -> SourceSpec {
    spec_with(path, host, None)
}

/// [`spec_for`], with the format given when `format` is `Some` (`--cri-path`).
pub fn spec_with(path: &Path, host: &str, format: Option<Format>) -> SourceSpec {
    if let Some(log) = PodLog::resolve(path) {
        let mut meta = SourceMeta {
            host: host.to_string(),
            ..SourceMeta::default()
        };
        log.apply(&mut meta);
        return SourceSpec {
            key: log.file.display().to_string(),
            format: format.unwrap_or_else(|| Format::for_path(&log.file)),
            path: log.file,
            meta,
        };
    }
    let format = format.unwrap_or_else(|| Format::for_path(path));
    match container_id_from_path(path) {
        Some(id) => {
            let mut meta = path
                .parent()
                .and_then(|dir| meta_from_config(&dir.join("config.v2.json")))
                .unwrap_or_default();
            meta.host = host.to_string();
            meta.container_id = id.clone();
            SourceSpec {
                key: id,
                path: path.to_path_buf(),
                format,
                meta,
            }
        }
        None => {
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("file")
                .to_string();
            SourceSpec {
                key: path.display().to_string(),
                path: path.to_path_buf(),
                format,
                meta: SourceMeta {
                    host: host.to_string(),
                    container: stem,
                    // Plain files have no container id; the path keeps their delivery
                    // sources apart.
                    container_id: path.display().to_string(),
                    ..SourceMeta::default()
                },
            }
        }
    }
}

/// Reads name, image and labels from a Docker `config.v2.json`.
pub fn meta_from_config(path: &Path) -> Option<SourceMeta> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "Name", default)]
        name: String,
        #[serde(rename = "Config", default)]
        config: Inner,
    }
    #[derive(serde::Deserialize, Default)]
    struct Inner {
        #[serde(rename = "Image", default)]
        image: String,
        #[serde(rename = "Labels", default)]
        labels: Option<BTreeMap<String, String>>,
    }
    let data = std::fs::read(path).ok()?;
    let c: Config = serde_json::from_slice(&data).ok()?;
    Some(SourceMeta {
        container: c.name.trim_start_matches('/').to_string(),
        image: c.config.image,
        labels: c.config.labels.unwrap_or_default(),
        ..SourceMeta::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_globs_and_names_sources() {
        let dir = tempfile::tempdir().unwrap();
        let id = "ab".repeat(32);
        let cdir = dir.path().join(&id);
        std::fs::create_dir(&cdir).unwrap();
        let live = cdir.join(format!("{id}-json.log"));
        std::fs::write(&live, "").unwrap();
        std::fs::write(cdir.join(format!("{id}-json.log.1")), "").unwrap();
        std::fs::write(cdir.join(format!("{id}-json.log.2.gz")), "").unwrap();
        std::fs::write(
            cdir.join("config.v2.json"),
            r#"{"Name":"/shop-web-1","Config":{"Image":"shop/web:1.4","Labels":{"com.docker.compose.service":"web"}},"State":{}}"#,
        )
        .unwrap();
        let app = dir.path().join("app.log");
        std::fs::write(&app, "").unwrap();

        let pattern = format!("{}/*/*-json.log*", dir.path().display());
        let plain = format!("{}/*", dir.path().display());
        // logrotate's leftovers beside app.log, and a symlink to it, are not sources.
        std::fs::write(dir.path().join("app.log.1"), "").unwrap();
        std::fs::write(dir.path().join("app.log-20261125"), "").unwrap();
        std::os::unix::fs::symlink(&app, dir.path().join("alias.log")).unwrap();
        // A name that merely ends in digits is a source of its own.
        std::fs::write(dir.path().join("build-42"), "").unwrap();
        let mut got = expand(&[pattern, plain]).unwrap();
        got.sort();
        let mut want = vec![live.clone(), app.clone(), dir.path().join("build-42")];
        want.sort();
        assert_eq!(got, want);

        let c = spec_for(&live, "node-1");
        assert_eq!(c.key, id);
        assert_eq!(c.format, Format::JsonFile);
        assert_eq!(c.meta.container, "shop-web-1");
        assert_eq!(c.meta.image, "shop/web:1.4");
        assert_eq!(c.meta.labels["com.docker.compose.service"], "web");
        assert_eq!(c.meta.host, "node-1");

        let p = spec_for(&app, "node-1");
        assert_eq!(p.format, Format::Plain);
        assert_eq!(p.meta.container, "app");
        assert_eq!(p.key, app.display().to_string());
        assert_ne!(
            p.meta.source_id("stdout"),
            spec_for(&dir.path().join("b/app.log"), "node-1")
                .meta
                .source_id("stdout")
        );
        assert!(expand(&["[".to_string()]).is_err());
    }

    #[test]
    fn a_pod_log_is_one_source_by_either_name_and_in_any_order() {
        let root = tempfile::tempdir().unwrap();
        let uid = "5c6e3d2a-9f1b-4c7e-8a2d-1b3c4d5e6f70";
        let id = "b".repeat(64);
        let dir = root.path().join(format!("pods/prod_web-0_{uid}/app"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(root.path().join("containers")).unwrap();
        let file = dir.join("0.log");
        std::fs::write(&file, "").unwrap();
        // The kubelet's rotated file beside it is read as part of the live one.
        std::fs::write(dir.join("0.log.20261120-100000"), "").unwrap();
        let link = root
            .path()
            .join(format!("containers/web-0_prod_app-{id}.log"));
        std::os::unix::fs::symlink(&file, &link).unwrap();

        let pods = format!("{}/pods/*/*/*", root.path().display());
        let links = format!("{}/containers/*.log", root.path().display());
        for patterns in [
            vec![(pods.clone(), None), (links.clone(), None)],
            vec![(links.clone(), Some(Format::Cri)), (pods.clone(), None)],
        ] {
            let found = expand_with(&patterns).unwrap();
            assert_eq!(found.len(), 1, "{found:?}");
        }
        // Found by one name in one scan and by the other in the next, it is one key.
        let by_file = spec_for(&file, "node-1");
        let by_link = spec_with(&link, "node-1", Some(Format::Cri));
        assert_eq!(by_file, by_link);
        assert_eq!(
            by_file.key,
            file.canonicalize().unwrap().display().to_string()
        );
        assert_eq!(by_file.format, Format::Cri);
        assert_eq!(by_file.meta.container, "web-0/app");
        assert_eq!(by_file.meta.container_id, id);
        assert!(by_file.is_container_log());
        assert_eq!(
            by_file.meta.source_id("stdout"),
            format!("node-1/{uid}/app/0/stdout")
        );
    }
}
