//! Kubernetes: the agent on a directory laid out like a node's `/var/log/pods` and
//! `/var/log/containers` (the real binary, a real server), pod labels from recorded
//! API answers served over HTTPS on loopback (the one stand-in: no API server can run
//! here), `skein logs pod/NAME -n NS`, and the manifests in deploy/k8s checked with
//! `kubernetes-validate` against the Kubernetes API schemas.

mod common;

use common::{AgentProc, Server};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The recorded pod `shop/web-0` (tests/data/kubernetes/pod-web-0.json) has this UID.
const WEB_UID: &str = "8b1d3f5e-2c4a-4e6b-9d7f-0a1b2c3d4e5f";

/// A directory laid out like a node's `/var/log`: `pods/NS_POD_UID/CONTAINER/N.log`
/// written by "the runtime", and the kubelet's `containers/POD_NS_CONTAINER-ID.log`
/// links to them (absolute, as the kubelet makes them).
struct Node {
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// Lines written so far, to number the times.
    written: u32,
    base: chrono::DateTime<chrono::Utc>,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("var/log");
        std::fs::create_dir_all(root.join("pods")).unwrap();
        std::fs::create_dir_all(root.join("containers")).unwrap();
        Node {
            _dir: dir,
            root,
            written: 0,
            base: chrono::Utc::now() - chrono::Duration::seconds(120),
        }
    }

    /// The `--cri-path` globs of both directories, as a node's agent might be given.
    fn globs(&self) -> [String; 2] {
        [
            format!("{}/pods/*/*/*.log", self.root.display()),
            format!("{}/containers/*.log", self.root.display()),
        ]
    }

    /// Makes the log file of one run of a container, with its link when `id` is given.
    fn container(
        &self,
        ns: &str,
        pod: &str,
        uid: &str,
        container: &str,
        restart: u32,
        id: Option<&str>,
    ) -> PathBuf {
        let dir = self.root.join(format!("pods/{ns}_{pod}_{uid}/{container}"));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("{restart}.log"));
        std::fs::write(&file, "").unwrap();
        if let Some(id) = id {
            std::os::unix::fs::symlink(
                &file,
                self.root
                    .join(format!("containers/{pod}_{ns}_{container}-{id}.log")),
            )
            .unwrap();
        }
        file
    }

    /// Appends CRI entries (`(stream, flag, text)`), each a millisecond after the last
    /// line written anywhere, so time order is write order.
    fn write(&mut self, file: &Path, entries: &[(&str, &str, &str)]) {
        let mut f = std::fs::OpenOptions::new().append(true).open(file).unwrap();
        for (stream, flag, text) in entries {
            self.written += 1;
            let t = self.base + chrono::Duration::milliseconds(self.written as i64);
            let t = t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            writeln!(f, "{t} {stream} {flag} {text}").unwrap();
        }
    }
}

/// `n` hex digits made of `c`, for container ids.
fn id(c: char) -> String {
    std::iter::repeat_n(c, 64).collect()
}

fn agent(server: &Server, state: &Path, node: &Node, extra: &[&str]) -> AgentProc {
    let [pods, containers] = node.globs();
    let mut args = vec![
        "--no-docker",
        "--poll-interval-ms",
        "100",
        "--batch-wait-ms",
        "100",
        "--cri-path",
        &pods,
        "--cri-path",
        &containers,
    ];
    args.extend_from_slice(extra);
    AgentProc::start(&server.url, state, &args)
}

/// Every record, oldest first, by message.
fn by_message(server: &Server) -> BTreeMap<String, Value> {
    let all = server.all("*");
    let mut out = BTreeMap::new();
    for r in all {
        let m = r["message"].as_str().unwrap().to_string();
        assert!(
            out.insert(m.clone(), r).is_none(),
            "the line {m:?} was stored twice"
        );
    }
    out
}

fn label<'a>(r: &'a Value, name: &str) -> &'a str {
    r["labels"][name].as_str().unwrap_or("")
}

/// Waits `settle` more after `q` reached `want`, then asserts it is still `want`: a
/// file found again by another name, or on the next rescans, adds nothing.
fn wait_exactly(server: &Server, want: u64, settle: Duration) {
    server.wait_total("*", want);
    std::thread::sleep(settle);
    let got = server.search(&[("q", "*"), ("limit", "0")])["total"]
        .as_u64()
        .unwrap();
    assert_eq!(got, want, "records were read twice");
}

#[test]
fn the_agent_reads_a_node_s_pod_logs_once_with_namespace_pod_and_container() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&data.path().join("data"), &[]);
    let mut node = Node::new();
    let static_uid = "d3b0e4f7c1a9e8b6f5d4c3b2a1908f7e";
    let coredns_uid = "0f9e8d7c-6b5a-4c3d-2e1f-0a9b8c7d6e5f";

    // web-0: app restarted once (0.log is the run before), nginx beside it.
    let app0 = node.container("shop", "web-0", WEB_UID, "app", 0, Some(&id('a')));
    let app1 = node.container("shop", "web-0", WEB_UID, "app", 1, Some(&id('b')));
    let nginx = node.container("shop", "web-0", WEB_UID, "nginx", 0, Some(&id('c')));
    let coredns = node.container(
        "kube-system",
        "coredns-5d78c9869d-x7k2p",
        coredns_uid,
        "coredns",
        0,
        Some(&id('d')),
    );
    // A static pod's directory carries its config hash, and it has no link yet.
    let etcd = node.container("kube-system", "etcd-node-1", static_uid, "etcd", 0, None);
    node.write(
        &app0,
        &[
            ("stdout", "F", "app run 0 starting"),
            ("stderr", "F", "app run 0 out of memory"),
        ],
    );
    node.write(
        &app1,
        &[
            (
                "stdout",
                "F",
                r#"{"level":"info","msg":"app run 1 starting"}"#,
            ),
            // A long line the runtime split: one record.
            ("stdout", "P", "app run 1 a line the runtime "),
            ("stdout", "F", "split in two"),
        ],
    );
    node.write(
        &nginx,
        &[
            ("stdout", "F", "nginx 10.244.1.1 GET /healthz 200"),
            ("stderr", "F", "nginx warn: upstream slow"),
        ],
    );
    node.write(&coredns, &[("stdout", "F", "coredns ready")]);
    node.write(&etcd, &[("stderr", "F", "etcd leader elected")]);

    let state = data.path().join("agent");
    let mut agent = agent(&server, &state, &node, &["--kube-api", "off"]);
    // Every file is reachable by two names (but etcd's); each line is stored once,
    // also after a few more rescans.
    wait_exactly(&server, 8, Duration::from_secs(3));

    let records = by_message(&server);
    let r = &records["app run 1 a line the runtime split in two"];
    assert_eq!(r["container"], "web-0/app");
    assert_eq!(r["container_id"], id('b'));
    assert_eq!(r["host"], "test-node");
    assert_eq!(label(r, "io.kubernetes.pod.namespace"), "shop");
    assert_eq!(label(r, "io.kubernetes.pod.name"), "web-0");
    assert_eq!(label(r, "io.kubernetes.container.name"), "app");
    assert_eq!(label(r, "io.kubernetes.pod.uid"), WEB_UID);
    assert_eq!(r["_source_id"], format!("test-node/{WEB_UID}/app/1/stdout"));
    assert_eq!(records["app run 1 starting"]["level"], "info");
    let r = &records["app run 0 out of memory"];
    assert_eq!(
        (&r["container"], &r["stream"]),
        (&"web-0/app".into(), &"stderr".into())
    );
    assert_eq!(r["container_id"], id('a'));
    assert_eq!(r["_source_id"], format!("test-node/{WEB_UID}/app/0/stderr"));
    let r = &records["nginx warn: upstream slow"];
    assert_eq!(r["container"], "web-0/nginx");
    assert_eq!(label(r, "io.kubernetes.container.name"), "nginx");
    let r = &records["coredns ready"];
    assert_eq!(r["container"], "coredns-5d78c9869d-x7k2p/coredns");
    assert_eq!(label(r, "io.kubernetes.pod.namespace"), "kube-system");
    assert_eq!(r["container_id"], id('d'));
    let r = &records["etcd leader elected"];
    assert_eq!(r["container"], "etcd-node-1/etcd");
    assert_eq!(label(r, "io.kubernetes.pod.uid"), static_uid);

    // The labels are the query's fields.
    let q = "labels.io.kubernetes.pod.namespace:shop AND labels.io.kubernetes.container.name:app";
    server.wait_total(q, 4);

    // Lines written later, a pod that starts later, and the agent restarted: each
    // line once.
    node.write(&app1, &[("stdout", "F", "app run 1 serving")]);
    let job = node.container(
        "batch",
        "report-28861440-q7m2x",
        "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
        "report",
        0,
        Some(&id('e')),
    );
    node.write(&job, &[("stdout", "F", "report done")]);
    wait_exactly(&server, 10, Duration::from_millis(500));
    agent.stop();
    node.write(
        &app1,
        &[("stdout", "F", "app run 1 after the agent restarted")],
    );
    node.write(
        &nginx,
        &[("stdout", "F", "nginx after the agent restarted")],
    );
    agent.restart();
    wait_exactly(&server, 12, Duration::from_secs(3));
    let records = by_message(&server);
    let r = &records["report done"];
    assert_eq!(r["container"], "report-28861440-q7m2x/report");
    assert_eq!(label(r, "io.kubernetes.pod.namespace"), "batch");
    assert_eq!(
        records["app run 1 after the agent restarted"]["container"],
        "web-0/app"
    );
    assert!(!agent.log_text().contains("WARN"), "{}", agent.log_text());
}

/// A loopback HTTPS server answering `GET /api/v1/namespaces/NS/pods/NAME` with
/// recorded Kubernetes API answers: shop/web-0 as recorded, 404 for the batch
/// namespace, 403 for the payments namespace (as without RBAC), and the requests it
/// got (path, Authorization).
struct ApiStandIn {
    url: String,
    ca: PathBuf,
    requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl ApiStandIn {
    fn start(dir: &Path) -> ApiStandIn {
        let ca = make_certificates(dir);
        let certs: Vec<_> =
            rustls::pki_types::pem::PemObject::pem_file_iter(dir.join("server.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key =
            <rustls::pki_types::PrivateKeyDer as rustls::pki_types::pem::PemObject>::from_pem_file(
                dir.join("server.key"),
            )
            .unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(skein_web::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .unwrap(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kubernetes");
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let config = config.clone();
                let seen = seen.clone();
                let data = data.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    let mut tls = rustls::StreamOwned::new(conn, stream);
                    let mut head = String::new();
                    {
                        let mut reader = BufReader::new(&mut tls);
                        loop {
                            let mut line = String::new();
                            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                                break;
                            }
                            head.push_str(&line);
                        }
                    }
                    let path = head.split(' ').nth(1).unwrap_or("").to_string();
                    let auth = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("authorization")
                                .then(|| v.trim().to_string())
                        })
                        .unwrap_or_default();
                    seen.lock().unwrap().push((path.clone(), auth));
                    let (status, file) = if path == "/api/v1/namespaces/shop/pods/web-0" {
                        ("200 OK", "pod-web-0.json")
                    } else if path.starts_with("/api/v1/namespaces/payments/") {
                        ("403 Forbidden", "pod-forbidden.json")
                    } else {
                        ("404 Not Found", "pod-not-found.json")
                    };
                    let body = std::fs::read(data.join(file)).unwrap();
                    let _ = write!(
                        tls,
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tls.write_all(&body);
                    let _ = tls.flush();
                    tls.conn.send_close_notify();
                    let _ = tls.flush();
                    let mut rest = Vec::new();
                    let _ = tls.read_to_end(&mut rest);
                });
            }
        });
        ApiStandIn { url, ca, requests }
    }

    fn requests(&self) -> Vec<(String, String)> {
        self.requests.lock().unwrap().clone()
    }
}

/// A CA and a certificate for 127.0.0.1 it signed, made by openssl in `dir`
/// (`server.pem`, `server.key`); answers the CA's file.
fn make_certificates(dir: &Path) -> PathBuf {
    common::openssl_certificates(
        dir,
        &["ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"],
        "ca.crt",
        "kubernetes-ca",
        "subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    );
    dir.join("ca.crt")
}

#[test]
fn pod_labels_come_from_the_kubernetes_api_once_per_pod() {
    let data = tempfile::tempdir().unwrap();
    let api = ApiStandIn::start(data.path());
    let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6c2tlaW46c2tlaW4tYWdlbnQifQ.c2lnbmF0dXJl";
    let token_file = data.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let server = Server::start(&data.path().join("data"), &[]);
    let mut node = Node::new();

    // shop/web-0 as recorded: two runs of app, nginx, and the init container.
    let app0 = node.container("shop", "web-0", WEB_UID, "app", 0, None);
    let app1 = node.container("shop", "web-0", WEB_UID, "app", 1, None);
    let nginx = node.container("shop", "web-0", WEB_UID, "nginx", 0, None);
    let migrate = node.container("shop", "web-0", WEB_UID, "migrate", 0, None);
    // A finished job's pod, gone from the API (404).
    let job = node.container(
        "batch",
        "batch-28861440-q7m2x",
        "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e",
        "batch",
        0,
        None,
    );
    // Two pods the agent may not read (403).
    let cache1 = node.container(
        "payments",
        "cache-5f7b9d-k2x8p",
        "3c4d5e6f-7a8b-4c9d-0e1f-2a3b4c5d6e7f",
        "redis",
        0,
        None,
    );
    let cache2 = node.container(
        "payments",
        "cache-5f7b9d-m4n6q",
        "4d5e6f7a-8b9c-4d0e-1f2a-3b4c5d6e7f8a",
        "redis",
        0,
        None,
    );
    node.write(&app0, &[("stdout", "F", "app before the OOM kill")]);
    node.write(&app1, &[("stdout", "F", "app after the restart")]);
    node.write(&nginx, &[("stdout", "F", "nginx started")]);
    node.write(&migrate, &[("stdout", "F", "migrations applied")]);
    node.write(&job, &[("stdout", "F", "batch finished")]);
    node.write(&cache1, &[("stdout", "F", "redis 1 ready")]);
    node.write(&cache2, &[("stdout", "F", "redis 2 ready")]);

    let state = data.path().join("agent");
    let agent = agent(
        &server,
        &state,
        &node,
        &[
            "--kube-api",
            &api.url,
            "--kube-token-file",
            token_file.to_str().unwrap(),
            "--kube-ca-file",
            api.ca.to_str().unwrap(),
        ],
    );
    wait_exactly(&server, 7, Duration::from_secs(1));
    let records = by_message(&server);

    for (message, container, image, container_id) in [
        (
            "app before the OOM kill",
            "web-0/app",
            "registry.example.com/shop/web:1.4.2",
            "7a1c3e5b9d2f4a6c8e0b1d3f5a7c9e2b4d6f8a0c1e3b5d7f9a2c4e6b8d0f1a3c",
        ),
        (
            "app after the restart",
            "web-0/app",
            "registry.example.com/shop/web:1.4.2",
            "d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a6c8e0b2d4f6",
        ),
        (
            "nginx started",
            "web-0/nginx",
            "nginx:1.27-alpine",
            "5e7a9c1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c7e9b1d3f5a7c",
        ),
        (
            "migrations applied",
            "web-0/migrate",
            "registry.example.com/shop/web-migrate:1.4.2",
            "0c4e8a2f6b1d3957e0a2c4e6f8b1d3a5c7e9f0b2d4a6c8e0f1a3b5d7e9c1a2b4",
        ),
    ] {
        let r = &records[message];
        assert_eq!(r["container"], container, "{r}");
        assert_eq!(r["image"], image, "{r}");
        assert_eq!(r["container_id"], container_id, "{r}");
        // The pod's own labels, beside the kubelet's names.
        assert_eq!(label(r, "app.kubernetes.io/name"), "web", "{r}");
        assert_eq!(label(r, "tier"), "frontend", "{r}");
        assert_eq!(label(r, "statefulset.kubernetes.io/pod-name"), "web-0");
        assert_eq!(label(r, "io.kubernetes.pod.namespace"), "shop");
        assert_eq!(label(r, "io.kubernetes.pod.name"), "web-0");
        assert_eq!(label(r, "io.kubernetes.pod.uid"), WEB_UID);
    }
    server.wait_total("labels.tier:frontend", 4);
    server.wait_total("labels.app.kubernetes.io/name:web", 4);

    // Without an answer, the path's metadata only.
    for message in ["batch finished", "redis 1 ready", "redis 2 ready"] {
        let r = &records[message];
        assert_eq!(label(r, "app.kubernetes.io/name"), "", "{r}");
        assert_eq!(r["image"].as_str().unwrap_or(""), "", "{r}");
        assert!(!label(r, "io.kubernetes.pod.name").is_empty(), "{r}");
    }
    assert_eq!(
        records["redis 2 ready"]["container"],
        "cache-5f7b9d-m4n6q/redis"
    );

    // One lookup per pod, each with the service account's token.
    let requests = api.requests();
    let mut per_path: HashMap<&str, usize> = HashMap::new();
    for (path, auth) in &requests {
        assert_eq!(auth, &format!("Bearer {token}"), "{path}");
        *per_path.entry(path.as_str()).or_default() += 1;
    }
    assert_eq!(
        per_path["/api/v1/namespaces/shop/pods/web-0"], 1,
        "{requests:?}"
    );
    assert_eq!(
        per_path["/api/v1/namespaces/batch/pods/batch-28861440-q7m2x"],
        1
    );
    assert_eq!(per_path.len(), 4, "{requests:?}");

    // The refusal is said once, with what to do.
    let log = agent.log_text();
    let warnings: Vec<&str> = log.lines().filter(|l| l.contains(" WARN ")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("answered 403"), "{log}");
    assert!(
        log.contains("is forbidden") && log.contains("get on pods"),
        "{log}"
    );
}

/// Runs `skein logs ARGS` against `server`; stdout, stderr and success.
fn skein_logs(server: &Server, args: &[&str]) -> (String, String, bool) {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_skein"))
        .arg("logs")
        .args(args)
        .args(["--server", &server.url])
        .env_remove("SKEIN_TOKEN")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
        out.status.success(),
    )
}

#[test]
fn skein_logs_takes_pod_namespace_and_container_as_kubectl_does() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(&data.path().join("data"), &[]);
    let mut node = Node::new();
    // web-0 in two namespaces, two containers each.
    let prod_app = node.container("prod", "web-0", WEB_UID, "app", 0, Some(&id('1')));
    let prod_nginx = node.container("prod", "web-0", WEB_UID, "nginx", 0, Some(&id('2')));
    let staging_uid = "9e8d7c6b-5a4f-4e3d-2c1b-0a9f8e7d6c5b";
    let staging_app = node.container("staging", "web-0", staging_uid, "app", 0, Some(&id('3')));
    let other = node.container(
        "prod",
        "api-7d9f8c6b5-x2k4p",
        "5f6a7b8c-9d0e-4f1a-2b3c-4d5e6f7a8b9c",
        "api",
        0,
        Some(&id('4')),
    );
    node.write(&prod_app, &[("stdout", "F", "prod app 1")]);
    node.write(&prod_nginx, &[("stdout", "F", "prod nginx 1")]);
    node.write(&staging_app, &[("stdout", "F", "staging app 1")]);
    node.write(&prod_app, &[("stderr", "F", "prod app 2")]);
    node.write(&other, &[("stdout", "F", "prod api 1")]);
    node.write(&staging_app, &[("stdout", "F", "staging app 2")]);
    node.write(&prod_nginx, &[("stdout", "F", "prod nginx 2")]);
    let _agent = agent(
        &server,
        &data.path().join("agent"),
        &node,
        &["--kube-api", "off"],
    );
    wait_exactly(&server, 7, Duration::from_millis(200));

    // One container of one pod: its lines alone, in order, without a prefix.
    let (out, err, ok) = skein_logs(&server, &["pod/web-0", "-n", "prod", "-c", "app"]);
    assert!(ok, "{err}");
    assert_eq!(out, "prod app 1\nprod app 2\n");

    // Every container of the pod, prefixed with pod/container.
    let (out, err, ok) = skein_logs(&server, &["pod/web-0", "-n", "prod"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for (line, (who, message)) in lines.iter().zip([
        ("web-0/app", "prod app 1"),
        ("web-0/nginx", "prod nginx 1"),
        ("web-0/app", "prod app 2"),
        ("web-0/nginx", "prod nginx 2"),
    ]) {
        assert!(
            line.starts_with(who) && line.ends_with(message),
            "{line:?} is not {who}'s {message:?}"
        );
    }

    // --namespace and --tail, the long forms.
    let (out, err, ok) = skein_logs(
        &server,
        &[
            "pod/web-0",
            "--namespace",
            "staging",
            "--tail",
            "1",
            "--output",
            "raw",
        ],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "staging app 2\n");

    // Without a namespace, the pod of that name in every namespace.
    let (out, _, ok) = skein_logs(&server, &["pod/web-0", "-c", "app", "--output", "raw"]);
    assert!(ok);
    assert_eq!(
        out,
        "prod app 1\nstaging app 1\nprod app 2\nstaging app 2\n"
    );

    // A regex over pod names.
    let (out, _, ok) = skein_logs(&server, &["pod/^api-", "-n", "prod", "--output", "raw"]);
    assert!(ok);
    assert_eq!(out, "prod api 1\n");

    // docker logs' ways stay: -n is the tail, NAME the container (here pod/container).
    let (out, err, ok) = skein_logs(&server, &["web-0/nginx", "-n", "1"]);
    assert!(ok, "{err}");
    assert_eq!(out, "prod nginx 2\n");

    // Mistakes say what to do.
    let (_, err, ok) = skein_logs(&server, &["pod/web-9", "-n", "prod"]);
    assert!(!ok);
    assert!(
        err.contains("no pod \"web-9\" in namespace prod") && err.contains("web-0"),
        "{err}"
    );
    let (_, err, ok) = skein_logs(&server, &["pod/web-0", "-n", "2"]);
    assert!(!ok);
    assert!(err.contains("--tail"), "{err}");
    let (_, err, ok) = skein_logs(&server, &["web-0/app", "-n", "prod"]);
    assert!(!ok);
    assert!(err.contains("--namespace prod"), "{err}");
    let (_, err, ok) = skein_logs(&server, &["deploy/api", "-n", "prod"]);
    assert!(!ok);
    assert!(err.contains("pod/^api-"), "{err}");

    // Whatever the source: Fluent Bit's kubernetes metadata through /es lands in the
    // same labels, so the pod's container shows its lines too.
    let t = (node.base + chrono::Duration::seconds(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let doc = serde_json::json!({
        "@timestamp": t, "log": "prod app via fluent bit\n", "stream": "stdout",
        "kubernetes": {"pod_name": "web-0", "namespace_name": "prod", "container_name": "app",
                       "host": "node-2", "labels": {"app": "web"}},
    });
    let body = format!("{{\"create\":{{}}}}\n{doc}\n");
    let r = server
        .request(reqwest::Method::POST, "/es/fluent-bit/_bulk")
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    server.wait_total("*", 8);
    let (out, err, ok) = skein_logs(
        &server,
        &["pod/web-0", "-n", "prod", "-c", "app", "--output", "raw"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "prod app 1\nprod app 2\nprod app via fluent bit\n");
}

/// Runs `kubernetes-validate` on `file`, failing loudly when it is not installed.
fn kubernetes_validate(file: &Path) -> Output {
    Command::new("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
        .arg(file)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run kubernetes-validate ({e}): install it with `python3 -m pip install kubernetes-validate` (scripts/test does)"
            )
        })
}

/// The Kubernetes version the manifests are checked against: the oldest release still
/// maintained by most distributions when they were written, so they also apply to
/// clusters a few versions behind.
const KUBERNETES_VERSION: &str = "1.31.0";

/// The documents of a YAML file as JSON, read by PyYAML (kubernetes-validate's own
/// dependency).
fn yaml_documents(file: &Path) -> Vec<Value> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))",
        ])
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "cannot read {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The long flags `skein SUBCOMMAND --help` lists.
fn flags_of(subcommand: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_skein"))
        .args([subcommand, "--help"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[' || c == '<')
        .filter(|w| w.starts_with("--"))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_manifests_are_valid_kubernetes_and_use_real_flags() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/k8s");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let manifests: Vec<&PathBuf> = files
        .iter()
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    assert!(manifests.len() >= 5, "{files:?}");

    // Every file passes the schemas of the API, unknown keys refused.
    for file in &manifests {
        let out = kubernetes_validate(file);
        assert!(
            out.status.success(),
            "kubernetes-validate {}:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // And the validator does refuse a mistake.
    let tmp = tempfile::tempdir().unwrap();
    let broken = tmp.path().join("broken.yaml");
    let text = std::fs::read_to_string(dir.join("agent-daemonset.yaml")).unwrap();
    std::fs::write(&broken, text.replace("tolerations:", "toleration:")).unwrap();
    assert!(!kubernetes_validate(&broken).status.success());

    // The kustomization names every manifest.
    let kustomization = &yaml_documents(&dir.join("kustomization.yaml"))[0];
    let mut listed: Vec<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    listed.sort();
    let mut names: Vec<String> = manifests
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(listed, names);

    let docs: Vec<Value> = manifests.iter().flat_map(|f| yaml_documents(f)).collect();
    let find = |kind: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} in deploy/k8s"))
    };

    // The agent: every node, the node's logs read-only, its name from the node, its
    // state on the node, a token from the Secret, flags the binary has.
    let ds = find("DaemonSet");
    let pod = &ds["spec"]["template"]["spec"];
    assert!(pod["tolerations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["operator"] == "Exists" && t.get("key").is_none()));
    let agent = &pod["containers"][0];
    let args: Vec<&str> = agent["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "agent");
    let agent_flags = flags_of("agent");
    for arg in &args[1..] {
        let flag = arg.split('=').next().unwrap();
        assert!(
            agent_flags.iter().any(|f| f == flag),
            "skein agent has no {flag}"
        );
    }
    assert!(args.contains(&"--cri-path=/var/log/pods/*/*/*.log"));
    assert!(args.contains(&"--token-file=/etc/skein/tokens/ingest.token"));
    let host = agent["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "SKEIN_HOST")
        .expect("SKEIN_HOST from the node");
    assert_eq!(host["valueFrom"]["fieldRef"]["fieldPath"], "spec.nodeName");
    for what in ["requests", "limits"] {
        assert!(agent["resources"][what]["cpu"].is_string());
        assert!(agent["resources"][what]["memory"].is_string());
    }
    let volumes: HashMap<&str, &Value> = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap(), v))
        .collect();
    let mounts = agent["volumeMounts"].as_array().unwrap();
    let mounted = |path: &str| {
        let m = mounts
            .iter()
            .find(|m| m["mountPath"] == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        volumes[m["name"].as_str().unwrap()]
    };
    for path in ["/var/log/pods", "/var/log/containers"] {
        assert_eq!(mounted(path)["hostPath"]["path"], path);
        let m = mounts.iter().find(|m| m["mountPath"] == path).unwrap();
        assert_eq!(m["readOnly"], true, "{path} is mounted read-only");
    }
    assert!(args.contains(&"--state-dir=/var/lib/skein-agent"));
    assert!(mounted("/var/lib/skein-agent")["hostPath"]["path"].is_string());
    assert_eq!(
        mounted("/etc/skein/tokens")["secret"]["secretName"],
        "skein-tokens"
    );

    // Its service account may get and list pods, and nothing else.
    let sa = pod["serviceAccountName"].as_str().unwrap();
    assert_eq!(find("ServiceAccount")["metadata"]["name"], sa);
    let role = find("ClusterRole");
    let rules = role["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0]["resources"], serde_json::json!(["pods"]));
    assert_eq!(rules[0]["verbs"], serde_json::json!(["get", "list"]));
    let binding = find("ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["subjects"][0]["name"], sa);

    // The server: a claim for its data, probes on /healthz, the Secret's tokens.
    let sts = find("StatefulSet");
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    let server = &sts["spec"]["template"]["spec"]["containers"][0];
    assert!(server["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["name"] == claim["metadata"]["name"]));
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(server[probe]["httpGet"]["path"], "/healthz", "{probe}");
    }
    let args: Vec<&str> = server["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "server");
    let server_flags = flags_of("server");
    for arg in &args[1..] {
        let flag = arg.split('=').next().unwrap();
        assert!(
            server_flags.iter().any(|f| f == flag),
            "skein server has no {flag}"
        );
    }
    for scope in ["ingest", "query", "admin"] {
        let want = format!("--accept-token-file={scope}:/etc/skein/tokens/{scope}.token");
        assert!(args.contains(&want.as_str()), "{want}");
    }
    // The Service the agents ship to selects the server's pods on its port.
    let svc = find("Service");
    assert_eq!(
        svc["spec"]["selector"],
        sts["spec"]["template"]["metadata"]["labels"]
            .as_object()
            .map(|l| {
                let mut s = serde_json::Map::new();
                s.insert(
                    "app.kubernetes.io/name".into(),
                    l["app.kubernetes.io/name"].clone(),
                );
                Value::Object(s)
            })
            .unwrap()
    );
    assert_eq!(svc["spec"]["ports"][0]["port"], 9280);
    let ship_to = format!(
        "--server=http://{}.{}.svc:9280",
        svc["metadata"]["name"].as_str().unwrap(),
        svc["metadata"]["namespace"].as_str().unwrap()
    );
    let agent_args = ds["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap();
    assert!(agent_args.iter().any(|a| a == &ship_to), "{ship_to}");
}
