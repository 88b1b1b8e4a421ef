//! The deploy files on a real Docker engine: the image `scripts/image` builds, the
//! agent in a container (host name, resume after the container is recreated, a clean
//! stop), the compose project of `deploy/compose.test.yml` and the Swarm stack of
//! `deploy/swarm/stack.test.yml`, and the shipped files checked by `docker-compose
//! config` and by parsing.
//!
//! The `*.test.yml` files are the shipped ones on the host's network, so every request
//! stays on 127.0.0.1; each test picks free ports for them (SKEIN_PORT,
//! SKEIN_AGENT_METRICS_PORT). The deployed agents follow every container of the engine,
//! so each test looks for its own container's lines by name. The tests run one at a
//! time: they share the image and the engine's swarm state.

mod common;

use common::docker::{self, Cleanup, IMAGE};
use common::{free_port, unique, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The image the tests deploy (what `scripts/image` tags).
const SKEIN_IMAGE: &str = "skein:latest";
/// The issue's bound on the image.
const MAX_IMAGE_BYTES: u64 = 40_000_000;
/// Docker's default grace between SIGTERM and SIGKILL.
const DOCKER_GRACE: Duration = Duration::from_secs(10);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One test at a time (see the module's doc); a failed test does not stop the others.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs a command, returning its output; panics when it cannot start.
fn cmd(program: &str, args: &[&str], envs: &[(&str, String)]) -> Output {
    Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e} (scripts/test installs it)"))
}

/// Runs a command that must succeed; answers its stdout.
fn ok(program: &str, args: &[&str], envs: &[(&str, String)]) -> String {
    let out = cmd(program, args, envs);
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds the image once with `scripts/image` and checks what it holds: at most 40 MB,
/// `/skein` as its entrypoint, a non-root user, and no shell.
fn image() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        docker::ready();
        let started = Instant::now();
        let out = cmd(repo().join("scripts/image").to_str().unwrap(), &[], &[]);
        assert!(
            out.status.success(),
            "scripts/image failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!(
            "scripts/image took {:.0} s: {}",
            started.elapsed().as_secs_f64(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
        let inspect = ok(
            "docker",
            &[
                "image",
                "inspect",
                "--format",
                "{{json .Size}} {{json .Config.Entrypoint}} {{json .Config.User}}",
                SKEIN_IMAGE,
            ],
            &[],
        );
        let parts: Vec<&str> = inspect.split_whitespace().collect();
        let size: u64 = parts[0].parse().unwrap();
        assert!(
            size <= MAX_IMAGE_BYTES,
            "the image is {size} bytes, over {MAX_IMAGE_BYTES}"
        );
        assert_eq!(parts[1], r#"["/skein"]"#, "entrypoint");
        assert_eq!(parts[2], r#""10001:10001""#, "the image's user");
        let version = ok("docker", &["run", "--rm", SKEIN_IMAGE, "--version"], &[]);
        assert!(version.starts_with("skein "), "{version}");
        let shell = cmd(
            "docker",
            &[
                "run",
                "--rm",
                "--entrypoint",
                "/bin/sh",
                SKEIN_IMAGE,
                "-c",
                "true",
            ],
            &[],
        );
        assert!(!shell.status.success(), "the image has no shell");
    });
}

/// The engine's name: the host's, as `docker info` says and the agent reports.
fn engine_name() -> String {
    ok("docker", &["info", "--format", "{{.Name}}"], &[])
        .trim()
        .to_string()
}

/// A busybox container printing `deploy-00000001` … `deploy-{n}`, one every `pause`
/// seconds (busybox sleep takes fractions), with extra `docker run` options.
fn app(name: &str, n: usize, pause: &str, extra: &[&str]) {
    let script = format!(
        "i=0; while [ $i -lt {n} ]; do i=$((i+1)); printf 'deploy-%08d\\n' $i; sleep {pause}; done"
    );
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sh", "-c", &script]);
    docker::run(&args);
}

/// A server's search API, as a user with a token (or none) calls it.
struct Api {
    url: String,
    token: Option<String>,
    http: reqwest::blocking::Client,
}

impl Api {
    fn new(url: String, token: Option<String>) -> Api {
        Api {
            url,
            token,
            http: common::client(),
        }
    }

    fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> reqwest::Result<reqwest::blocking::Response> {
        let mut req = self.http.get(format!("{}{path}", self.url)).query(query);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req.send()
    }

    /// Every record of container `name`, oldest first (fewer than 10,000 here).
    fn records(&self, name: &str) -> Vec<Value> {
        let q = format!("container:{name}");
        let resp = self
            .get(
                "/api/v1/search",
                &[
                    ("q", &q),
                    ("limit", "10000"),
                    ("order", "asc"),
                    ("start", "now-1d"),
                ],
            )
            .expect("the server answers");
        assert!(resp.status().is_success(), "search: {}", resp.status());
        let body: Value = resp.json().unwrap();
        body["hits"].as_array().unwrap().clone()
    }

    /// Waits until container `name` has at least `n` records; answers them.
    fn wait_records(&self, name: &str, n: usize, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.records(name);
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A counter of the server's /metrics (0 when it has not been counted yet).
    fn counter(&self, metric: &str) -> f64 {
        let text = self.get("/metrics", &[]).unwrap().text().unwrap();
        text.lines()
            .filter(|l| l.starts_with(metric))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// Checks that `records` are lines `1..=n` of container `name`, each once, from host
/// `host`.
fn assert_lines(records: &[Value], name: &str, n: usize, host: &str, what: &str) {
    let numbers = records.iter().map(|r| {
        assert_eq!(r["container"], name, "{what}: container of {r}");
        assert_eq!(r["host"], host, "{what}: host of {r}");
        r["message"]
            .as_str()
            .unwrap_or_default()
            .strip_prefix("deploy-")
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{what}: unexpected record {r}"))
    });
    common::assert_once_each(numbers, n, what);
}

/// Waits until a container's healthcheck says `healthy` (the image's `skein health`).
fn wait_healthy(container: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let status = ok(
            "docker",
            &["inspect", "--format", "{{.State.Health.Status}}", container],
            &[],
        );
        if status.trim() == "healthy" {
            return;
        }
        if Instant::now() >= deadline {
            let logs = cmd("docker", &["logs", "--tail", "30", container], &[]);
            panic!(
                "container {container} is {} after {within:?}; its log:\n{}",
                status.trim(),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Checks that an agent container was given CAP_SYS_ADMIN as the deploy files ask, so
/// rotated files are handed over by fanotify (the agent says so when it cannot).
fn assert_fanotify(container: &str, what: &str) {
    let logs = cmd("docker", &["logs", container], &[]);
    let logs = String::from_utf8_lossy(&logs.stderr);
    assert!(
        logs.contains("agent for host") && !logs.contains("needs CAP_SYS_ADMIN"),
        "{what}: the agent runs with CAP_SYS_ADMIN (cap_add):\n{logs}"
    );
}

/// `docker stop` (SIGTERM, then SIGKILL after Docker's default 10 s), checking the
/// container exited 0 on its own well before the SIGKILL.
fn stop_cleanly(container: &str, what: &str) {
    let started = Instant::now();
    ok("docker", &["stop", container], &[]);
    let took = started.elapsed();
    let code = ok(
        "docker",
        &["inspect", "--format", "{{.State.ExitCode}}", container],
        &[],
    );
    let logs = cmd("docker", &["logs", "--tail", "5", container], &[]);
    assert_eq!(
        code.trim(),
        "0",
        "{what} exits 0 on SIGTERM (took {took:?}); its last lines:\n{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    assert!(
        took < DOCKER_GRACE - Duration::from_secs(2),
        "{what} took {took:?} to stop, close to Docker's {DOCKER_GRACE:?} grace"
    );
}

/// Copies a deploy file into `dir` (keeping its relative path) with a fresh set of
/// tokens made by `scripts/deploy-secrets` in `dir/secrets`, so a test never touches
/// the repository's deploy/secrets.
fn deploy_copy(dir: &Path, file: &str) -> PathBuf {
    let to = dir.join(file);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(repo().join("deploy").join(file), &to).unwrap();
    ok(
        repo().join("scripts/deploy-secrets").to_str().unwrap(),
        &[],
        &[(
            "SKEIN_SECRETS_DIR",
            dir.join("secrets").display().to_string(),
        )],
    );
    to
}

fn token(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join("secrets").join(format!("{name}.token")))
        .unwrap()
        .trim()
        .to_string()
}

/// A named volume removed when dropped.
struct Volume(String);

impl Volume {
    fn create(name: String) -> Volume {
        ok("docker", &["volume", "create", &name], &[]);
        Volume(name)
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = cmd("docker", &["volume", "rm", "-f", &self.0], &[]);
    }
}

#[test]
fn agent_in_a_container_names_the_host_resumes_after_recreate_and_stops_cleanly() {
    let _serial = serial();
    image();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), &["--commit-interval-ms", "100"]);
    let api = Api::new(server.url.clone(), None);
    let label = format!("skein.test={}", unique("deploy"));
    let agent = unique("skein-deploy-agent");
    let app_name = unique("skein-deploy-app");
    // Declared first, dropped last: a volume can go only once its container has.
    let state = Volume::create(unique("skein-deploy-agent-state"));
    let _cleanup = Cleanup(vec![agent.clone(), app_name.clone()]);
    let metrics = format!("127.0.0.1:{}", free_port());
    let volume = format!("{}:/var/lib/skein-agent", state.0);
    // Host networking reaches the test's server on 127.0.0.1; the container's own host
    // name is set apart from the host's, so the test sees which one records carry.
    let run_agent = || {
        docker::run(&[
            "run",
            "-d",
            "--name",
            &agent,
            "--network",
            "host",
            "--hostname",
            "skein-agent-in-a-container",
            "--user",
            "0",
            "--cap-add",
            "SYS_ADMIN",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock:ro",
            "-v",
            "/var/lib/docker/containers:/var/lib/docker/containers:ro",
            "-v",
            &volume,
            SKEIN_IMAGE,
            "agent",
            "--server",
            &server.url,
            "--include-label",
            &label,
            "--metrics-listen",
            &metrics,
            "--batch-wait-ms",
            "200",
        ]);
    };
    run_agent();
    let n = 600;
    app(&app_name, n, "0.01", &["--label", &label]);
    let early = api.wait_records(&app_name, 50, Duration::from_secs(60));
    assert!(
        early.len() >= 50,
        "the agent ships the app's lines ({} seen)",
        early.len()
    );

    // Recreated while the app keeps printing: the new container resumes from the state
    // volume, so it neither misses the lines printed meanwhile nor sends any again.
    stop_cleanly(&agent, "the agent");
    docker::rm(&agent);
    std::thread::sleep(Duration::from_secs(1));
    run_agent();
    docker::wait(&app_name);
    let records = api.wait_records(&app_name, n, Duration::from_secs(60));
    let host = engine_name();
    assert_ne!(host, "skein-agent-in-a-container");
    assert_lines(&records, &app_name, n, &host, "agent recreated mid-stream");
    assert_eq!(
        api.counter("skein_records_duplicate_total"),
        0.0,
        "the recreated agent resumed from its checkpoint: the server dropped no resent record"
    );
    let log = cmd("docker", &["logs", &agent], &[]);
    let log = String::from_utf8_lossy(&log.stderr);
    assert!(
        log.contains("Docker engine's host name"),
        "the agent says where its host name comes from:\n{log}"
    );
    stop_cleanly(&agent, "the recreated agent");
}

/// `docker-compose -p PROJECT -f FILE …` with the test's ports; `down -v` when dropped.
struct Compose {
    project: String,
    file: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl Compose {
    fn run(&self, args: &[&str]) -> String {
        let mut all = vec!["-p", &self.project, "-f", self.file.to_str().unwrap()];
        all.extend_from_slice(args);
        ok("docker-compose", &all, &self.env)
    }

    /// The container of a service.
    fn container(&self, service: &str) -> String {
        self.run(&["ps", "-q", service]).trim().to_string()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let file = self.file.to_str().unwrap();
        let _ = cmd(
            "docker-compose",
            &[
                "-p",
                &self.project,
                "-f",
                file,
                "down",
                "-v",
                "--timeout",
                "10",
            ],
            &self.env,
        );
    }
}

#[test]
fn compose_project_collects_a_containers_lines() {
    let _serial = serial();
    image();
    let dir = tempfile::tempdir().unwrap();
    let file = deploy_copy(dir.path(), "compose.test.yml");
    let port = free_port();
    let compose = Compose {
        project: unique("skein-deploy"),
        file,
        env: vec![
            ("SKEIN_PORT", port.to_string()),
            ("SKEIN_AGENT_METRICS_PORT", free_port().to_string()),
        ],
    };
    compose.run(&["up", "-d"]);
    let server = compose.container("skein-server");
    wait_healthy(&server, Duration::from_secs(60));

    let url = format!("http://127.0.0.1:{port}");
    let anonymous = Api::new(url.clone(), None);
    let status = anonymous
        .get("/api/v1/search", &[("q", "*")])
        .unwrap()
        .status();
    assert_eq!(
        status, 401,
        "the server takes tokens from the secret files only"
    );
    let api = Api::new(url, Some(token(dir.path(), "query")));
    let admin = Api::new(api.url.clone(), Some(token(dir.path(), "admin")));

    let app_name = unique("skein-deploy-app");
    let _cleanup = Cleanup(vec![app_name.clone()]);
    let n = 400;
    app(&app_name, n, "0.01", &[]);
    let early = api.wait_records(&app_name, 50, Duration::from_secs(60));
    assert!(
        early.len() >= 50,
        "the agent ships the app's lines ({} seen)",
        early.len()
    );
    // A recreated agent resumes from its state volume.
    compose.run(&["up", "-d", "--no-deps", "--force-recreate", "skein-agent"]);
    docker::wait(&app_name);
    let records = api.wait_records(&app_name, n, Duration::from_secs(60));
    assert_lines(&records, &app_name, n, &engine_name(), "compose");
    assert_eq!(
        admin.counter("skein_records_duplicate_total"),
        0.0,
        "the recreated agent resumed from its checkpoint"
    );

    // Both stop on SIGTERM, exit 0, within the grace.
    let agent = compose.container("skein-agent");
    assert_fanotify(&agent, "compose");
    stop_cleanly(&agent, "the compose agent");
    stop_cleanly(&server, "the compose server");
}

/// A single-node swarm on 127.0.0.1 for the test; leaves it (and removes the stack and
/// its volumes) when dropped, also when the test fails.
struct Swarm {
    /// The stack deployed, removed before leaving.
    stack: Option<String>,
    /// Whether `swarm init` made the `docker_gwbridge` network (leaving keeps it).
    made_gwbridge: bool,
}

impl Swarm {
    fn init() -> Swarm {
        let state = ok(
            "docker",
            &["info", "--format", "{{.Swarm.LocalNodeState}}"],
            &[],
        );
        assert_eq!(
            state.trim(),
            "inactive",
            "this engine is in a swarm already; the test makes and leaves its own, so leave \
             that one first (docker swarm leave --force)"
        );
        let had_gwbridge = cmd("docker", &["network", "inspect", "docker_gwbridge"], &[])
            .status
            .success();
        ok(
            "docker",
            &["swarm", "init", "--advertise-addr", "127.0.0.1"],
            &[],
        );
        Swarm {
            stack: None,
            made_gwbridge: !had_gwbridge,
        }
    }

    /// The containers of one service of the stack.
    fn containers(stack: &str, service: &str) -> Vec<String> {
        let filter = format!("label=com.docker.swarm.service.name={stack}_{service}");
        ok("docker", &["ps", "-aq", "--filter", &filter], &[])
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    /// The running container of a service, once there is one.
    fn wait_container(stack: &str, service: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let filter = format!("label=com.docker.swarm.service.name={stack}_{service}");
            let running = ok("docker", &["ps", "-q", "--filter", &filter], &[]);
            if let Some(id) = running.split_whitespace().next() {
                return id.to_string();
            }
            if Instant::now() >= deadline {
                let ps = cmd(
                    "docker",
                    &["service", "ps", "--no-trunc", &format!("{stack}_{service}")],
                    &[],
                );
                panic!(
                    "no running task of {stack}_{service} after {within:?}:\n{}",
                    String::from_utf8_lossy(&ps.stdout)
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if let Some(stack) = &self.stack {
            let _ = cmd("docker", &["stack", "rm", stack], &[]);
            // The tasks' containers go in the background; their volumes only after.
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline
                && ["skein-server", "skein-agent"]
                    .iter()
                    .any(|s| !Swarm::containers(stack, s).is_empty())
            {
                std::thread::sleep(Duration::from_millis(500));
            }
            for v in ["skein-data", "skein-agent"] {
                let _ = cmd(
                    "docker",
                    &["volume", "rm", "-f", &format!("{stack}_{v}")],
                    &[],
                );
            }
        }
        let _ = cmd("docker", &["swarm", "leave", "--force"], &[]);
        if self.made_gwbridge {
            let _ = cmd("docker", &["network", "rm", "docker_gwbridge"], &[]);
        }
    }
}

#[test]
fn swarm_stack_collects_a_containers_lines() {
    let _serial = serial();
    image();
    let dir = tempfile::tempdir().unwrap();
    let file = deploy_copy(dir.path(), "swarm/stack.test.yml");
    let port = free_port();
    let env = vec![
        ("SKEIN_PORT", port.to_string()),
        ("SKEIN_AGENT_METRICS_PORT", free_port().to_string()),
    ];
    let mut swarm = Swarm::init();
    // The server's placement constraint: the node that keeps its volume.
    let node = ok("docker", &["info", "--format", "{{.Swarm.NodeID}}"], &[]);
    ok(
        "docker",
        &[
            "node",
            "update",
            "--label-add",
            "skein.data=true",
            node.trim(),
        ],
        &[],
    );
    let stack = unique("skein-deploy").replace('-', "_");
    swarm.stack = Some(stack.clone());
    ok(
        "docker",
        &["stack", "deploy", "-c", file.to_str().unwrap(), &stack],
        &env,
    );
    let server = Swarm::wait_container(&stack, "skein-server", Duration::from_secs(60));
    wait_healthy(&server, Duration::from_secs(60));
    let agent = Swarm::wait_container(&stack, "skein-agent", Duration::from_secs(60));

    let api = Api::new(
        format!("http://127.0.0.1:{port}"),
        Some(token(dir.path(), "query")),
    );
    let app_name = unique("skein-deploy-app");
    let _cleanup = Cleanup(vec![app_name.clone()]);
    let n = 200;
    app(&app_name, n, "0.005", &[]);
    docker::wait(&app_name);
    let records = api.wait_records(&app_name, n, Duration::from_secs(60));
    // {{.Node.Hostname}} of this one node: the engine's name.
    assert_lines(&records, &app_name, n, &engine_name(), "swarm");
    assert_fanotify(&agent, "swarm");
}

/// The deploy files as YAML (through Python's yaml, which docker-compose itself uses).
fn load_yaml(files: &[&str]) -> Vec<Value> {
    let paths: Vec<String> = files
        .iter()
        .map(|f| repo().join("deploy").join(f).display().to_string())
        .collect();
    let mut args = vec![
        "-c",
        "import json, sys, yaml; print(json.dumps([yaml.safe_load(open(p)) for p in sys.argv[1:]]))",
    ];
    args.extend(paths.iter().map(String::as_str));
    serde_json::from_str(&ok("python3", &args, &[])).unwrap()
}

/// A service with what only the networking may change taken out: the network keys, the
/// listen and metrics addresses, and the server URL.
fn without_networking(service: &Value) -> Value {
    let mut s = service.clone();
    let o = s.as_object_mut().unwrap();
    for k in ["network_mode", "networks", "ports"] {
        o.remove(k);
    }
    if let Some(env) = o.get_mut("environment").and_then(Value::as_object_mut) {
        env.remove("SKEIN_LISTEN");
        env.remove("SKEIN_AGENT_METRICS");
        if env.is_empty() {
            o.remove("environment");
        }
    }
    if let Some(cmd) = o.get_mut("command").and_then(Value::as_array_mut) {
        for a in cmd.iter_mut() {
            if a.as_str().is_some_and(|a| a.starts_with("--server=")) {
                *a = Value::from("--server=…");
            }
        }
    }
    s
}

#[test]
fn shipped_files_are_valid_and_differ_from_the_test_files_only_by_networking() {
    // docker-compose reads all four (the stack's `deploy` keys included).
    for f in [
        "compose.yml",
        "compose.test.yml",
        "swarm/stack.yml",
        "swarm/stack.test.yml",
    ] {
        let path = repo().join("deploy").join(f);
        ok(
            "docker-compose",
            &["-f", path.to_str().unwrap(), "config", "-q"],
            &[],
        );
    }
    let docs = load_yaml(&[
        "compose.yml",
        "compose.test.yml",
        "swarm/stack.yml",
        "swarm/stack.test.yml",
    ]);
    let (compose, compose_test, stack, stack_test) = (&docs[0], &docs[1], &docs[2], &docs[3]);
    for (shipped, test, what) in [
        (compose, compose_test, "compose"),
        (stack, stack_test, "stack"),
    ] {
        for key in ["version", "volumes", "secrets"] {
            assert_eq!(shipped[key], test[key], "{what}: {key}");
        }
        let services = shipped["services"].as_object().unwrap();
        assert_eq!(
            services.keys().collect::<Vec<_>>(),
            test["services"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>()
        );
        for (name, s) in services {
            assert_eq!(
                without_networking(s),
                without_networking(&test["services"][name]),
                "{what}: {name} differs by more than networking"
            );
        }
    }

    for (doc, what, dir) in [
        (compose, "compose", "./secrets"),
        (stack, "stack", "../secrets"),
    ] {
        let server = &doc["services"]["skein-server"];
        let agent = &doc["services"]["skein-agent"];
        assert_eq!(server["image"], SKEIN_IMAGE);
        assert_eq!(
            server["healthcheck"]["test"],
            serde_json::json!(["CMD", "/skein", "health"])
        );
        assert_eq!(server["volumes"][0], "skein-data:/var/lib/skein", "{what}");
        assert_eq!(server["ports"][0], "9280:9280", "{what}");
        assert!(
            server.get("user").is_none(),
            "{what}: the server keeps the image's non-root user"
        );
        let agent_volumes: Vec<&str> = agent["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for v in [
            "/var/run/docker.sock:/var/run/docker.sock:ro",
            "/var/lib/docker/containers:/var/lib/docker/containers:ro",
            "skein-agent:/var/lib/skein-agent",
        ] {
            assert!(agent_volumes.contains(&v), "{what}: the agent mounts {v}");
        }
        assert_eq!(agent["user"], "0", "{what}: the agent reads root's files");
        assert_eq!(
            agent["cap_add"],
            serde_json::json!(["SYS_ADMIN"]),
            "{what}: fanotify"
        );
        assert!(
            agent["command"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a == "--token-file=/run/secrets/skein_ingest_token"),
            "{what}: the agent's token comes from its secret"
        );
        for scope in ["ingest", "query", "admin"] {
            assert_eq!(
                doc["secrets"][format!("skein_{scope}_token")]["file"],
                format!("{dir}/{scope}.token"),
                "{what}: the {scope} token comes from deploy/secrets"
            );
        }
    }
    let agent = &stack["services"]["skein-agent"];
    assert_eq!(agent["deploy"]["mode"], "global");
    assert_eq!(agent["environment"]["SKEIN_HOST"], "{{.Node.Hostname}}");
    let server = &stack["services"]["skein-server"];
    assert_eq!(server["deploy"]["replicas"], 1);
    assert!(!server["deploy"]["placement"]["constraints"]
        .as_array()
        .unwrap()
        .is_empty());

    // Nothing secret is committed: the tokens are git-ignored.
    let tracked = ok(
        "git",
        &[
            "-C",
            repo().to_str().unwrap(),
            "ls-files",
            "deploy",
            "scripts",
        ],
        &[],
    );
    assert!(
        !tracked.contains(".token"),
        "token files are tracked:\n{tracked}"
    );
    let ignored = cmd(
        "git",
        &[
            "-C",
            repo().to_str().unwrap(),
            "check-ignore",
            "-q",
            "deploy/secrets/ingest.token",
        ],
        &[],
    );
    assert!(
        ignored.status.success(),
        "deploy/secrets/*.token is git-ignored"
    );
}
