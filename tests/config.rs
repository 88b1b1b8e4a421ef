//! `skein server|agent|up --config FILE`, `--print-config` and `skein config example`,
//! through the real binary: the example changes nothing, every key of it is read, a
//! flag beats its environment variable which beats the file, mistakes are named with
//! their line, and a server and an agent run from one file with their tokens in files.

mod common;

use common::{client, free_port, Server};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `skein ARGS` with `envs` and none of this process's own `SKEIN_*` variables.
fn skein(args: &[&str], envs: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_skein"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SKEIN_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .envs(envs.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null());
    cmd
}

fn run(args: &[&str], envs: &[(&str, &str)]) -> Output {
    skein(args, envs).output().expect("skein runs")
}

fn stdout_of(args: &[&str], envs: &[(&str, &str)]) -> String {
    let out = run(args, envs);
    assert!(
        out.status.success(),
        "skein {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What `--print-config` says: key → (value as TOML, where it comes from). Keys not
/// set are left out; a hidden value reads `(hidden)`.
fn print_config(args: &[&str], envs: &[(&str, &str)]) -> BTreeMap<String, (String, String)> {
    let mut all = args.to_vec();
    all.push("--print-config");
    let text = stdout_of(&all, envs);
    toml::de::DeTable::parse(&text)
        .unwrap_or_else(|e| panic!("--print-config is not TOML: {e}\n{text}"));
    let mut settings = BTreeMap::new();
    for line in text.lines() {
        let (line, hidden) = match line.strip_prefix("# ") {
            Some(rest) if rest.contains(" = (set, hidden)") => (rest, true),
            _ => (line, false),
        };
        if line.starts_with('#') || line.starts_with('[') || line.is_empty() {
            continue;
        }
        let (key, rest) = line.split_once(" = ").expect("key = value");
        let (value, source) = rest.rsplit_once("  # ").expect("a source");
        let value = if hidden { "(hidden)" } else { value };
        settings.insert(key.to_string(), (value.to_string(), source.to_string()));
    }
    settings
}

/// Every key of `[table]` in `skein config example`: (key, value as TOML, commented
/// out). A commented key is the line after its `# --flag, $VARIABLE` line.
fn example_keys(example: &str, table: &str) -> Vec<(String, String, bool)> {
    let body = example
        .split(&format!("\n[{table}]\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no [{table}] in the example"));
    let body = body.split("\n[").next().unwrap();
    let mut keys = Vec::new();
    let mut after_flag = false;
    for line in body.lines() {
        let commented = line.strip_prefix("# ").filter(|_| after_flag);
        after_flag = line.starts_with("# --");
        let (text, commented) = match commented {
            Some(t) => (t, true),
            None if !line.starts_with('#') && line.contains(" = ") => (line, false),
            None => continue,
        };
        let (k, v) = text.split_once(" = ").unwrap();
        keys.push((k.to_string(), v.to_string(), commented));
    }
    keys
}

/// Another valid value of the same TOML type as `value`.
fn changed(value: &str) -> String {
    match value {
        "true" => "false".into(),
        "false" => "true".into(),
        v if v.starts_with('[') => {
            let first = v.trim_matches(['[', ']']).split(", ").next().unwrap();
            let inner = first.trim_matches('"');
            format!("[\"{inner}-1\", \"{inner}-2\"]")
        }
        v if v.starts_with('"') => {
            let s = v.trim_matches('"');
            // An address, or the placeholder of one without a default (`ES_LISTEN`).
            if s.parse::<SocketAddr>().is_ok() || s.ends_with("LISTEN") {
                "\"127.0.0.1:1\"".into()
            } else {
                format!("\"{s}-changed\"")
            }
        }
        v if v.contains('.') => format!("{:?}", v.parse::<f64>().unwrap() + 0.5),
        v => (v.parse::<i64>().unwrap() + 1).to_string(),
    }
}

fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

#[test]
fn the_example_loaded_changes_nothing_and_lists_every_key() {
    let dir = tempfile::tempdir().unwrap();
    let example = stdout_of(&["config", "example"], &[]);
    toml::de::DeTable::parse(&example).expect("the example is TOML");
    let file = dir.path().join("example.toml");
    write(&file, &example);
    let file = file.to_str().unwrap();
    let data = dir.path().join("data");
    for (command, required) in [
        ("server", vec!["--data-dir", data.to_str().unwrap()]),
        ("agent", vec![]),
        ("up", vec![]),
    ] {
        let mut args = vec![command];
        args.extend(&required);
        let plain = print_config(&args, &[]);
        args.extend(["--config", file]);
        let loaded = print_config(&args, &[]);
        let values = |m: &BTreeMap<String, (String, String)>| -> BTreeMap<String, String> {
            m.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect()
        };
        assert_eq!(values(&plain), values(&loaded), "skein {command}");

        // Every key of the command is in the example, once; every key not commented out
        // was read from the file.
        let keys = example_keys(&example, command);
        let mut names: Vec<&str> = keys.iter().map(|(k, _, _)| k.as_str()).collect();
        names.sort();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "[{command}] names a key twice");
        let help = stdout_of(&[command, "--help"], &[]);
        let flags = help
            .lines()
            // Flag lines: continuation lines of help texts are indented further.
            .filter_map(|l| l.strip_prefix("      --"))
            .filter_map(|l| l.split([' ', ',', '<']).next())
            .filter(|f| !["config", "print-config", "help"].contains(f))
            .count();
        assert_eq!(
            names.len(),
            flags,
            "[{command}] has a key per flag:\n{help}"
        );
        for (key, _, commented) in &keys {
            if *commented {
                assert!(
                    !loaded.contains_key(key) || key == "data_dir",
                    "{command}.{key}"
                );
            } else {
                let (_, source) = &loaded[key];
                assert!(
                    source.starts_with(&format!("{file}:")),
                    "{command}.{key} comes from {source}"
                );
            }
        }
    }
}

#[test]
fn every_key_of_the_example_is_read_from_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let example = stdout_of(&["config", "example"], &[]);
    // Keys clap refuses together go in a second file: each conflicts with one that is
    // in the first (token_file, ca_cert, tls_cert).
    let apart = ["token", "ca_fingerprint", "tls_self_signed"];
    for command in ["server", "agent", "up"] {
        let keys = example_keys(&example, command);
        for second in [false, true] {
            let mut text = format!("[{command}]\n");
            let mut want = BTreeMap::new();
            for (key, value, _) in &keys {
                if apart.contains(&key.as_str()) != second {
                    continue;
                }
                let value = changed(value);
                let line = text.lines().count() + 1;
                text.push_str(&format!("{key} = {value}\n"));
                want.insert(key.clone(), (value, line));
            }
            if want.is_empty() {
                continue;
            }
            let file = dir.path().join(format!("{command}-{second}.toml"));
            write(&file, &text);
            let file = file.to_str().unwrap();
            let mut args = vec![command, "--config", file];
            if command == "server" && second {
                args.extend(["--data-dir", "d"]);
            }
            let got = print_config(&args, &[]);
            for (key, (value, line)) in want {
                let (got_value, source) = got
                    .get(&key)
                    .unwrap_or_else(|| panic!("{command}.{key} not set from:\n{text}"));
                if got_value != "(hidden)" {
                    assert_eq!(got_value, &value, "{command}.{key}");
                }
                assert_eq!(source, &format!("{file}:{line}"), "{command}.{key}");
            }
        }
    }
}

#[test]
fn a_flag_beats_its_environment_variable_which_beats_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.toml");
    write(
        &file,
        "[agent]\nhost = \"file-host\"\npath = [\"/file/*.log\"]\nbatch_wait_ms = 111\n\
         no_docker = true\nredact = [\"email\", \"card\"]\n",
    );
    let file = file.to_str().unwrap();
    let at = |line: usize| format!("{file}:{line}");

    let from_file = print_config(&["agent", "--config", file], &[]);
    assert_eq!(from_file["host"], ("\"file-host\"".into(), at(2)));
    assert_eq!(from_file["path"], ("[\"/file/*.log\"]".into(), at(3)));
    assert_eq!(from_file["batch_wait_ms"], ("111".into(), at(4)));
    assert_eq!(from_file["no_docker"], ("true".into(), at(5)));
    assert_eq!(from_file["redact"], ("[\"email\", \"card\"]".into(), at(6)));

    let envs = [
        ("SKEIN_HOST", "env-host"),
        ("SKEIN_PATH", "/env/a.log\n/env/b.log"),
        ("SKEIN_NO_DOCKER", "false"),
    ];
    let from_env = print_config(&["agent", "--config", file], &envs);
    let over = |var: &str, line: usize| format!("${var}, over {}", at(line));
    assert_eq!(
        from_env["host"],
        ("\"env-host\"".into(), over("SKEIN_HOST", 2))
    );
    assert_eq!(
        from_env["path"],
        (
            "[\"/env/a.log\", \"/env/b.log\"]".into(),
            over("SKEIN_PATH", 3)
        )
    );
    assert_eq!(
        from_env["no_docker"],
        ("false".into(), over("SKEIN_NO_DOCKER", 5))
    );
    // What the environment does not say still comes from the file.
    assert_eq!(from_env["batch_wait_ms"], ("111".into(), at(4)));

    let from_flags = print_config(
        &[
            "agent",
            "--config",
            file,
            "--host",
            "flag-host",
            "--path",
            "/flag/*.log",
            "--batch-wait-ms",
            "7",
        ],
        &envs,
    );
    assert_eq!(
        from_flags["host"],
        ("\"flag-host\"".into(), format!("--host, over {}", at(2)))
    );
    // A flag replaces the list of the file or the environment, it does not add to it.
    assert_eq!(from_flags["path"].0, "[\"/flag/*.log\"]");
    assert_eq!(from_flags["batch_wait_ms"].0, "7");
    assert_eq!(from_flags["redact"].0, "[\"email\", \"card\"]");

    // SKEIN_CONFIG names the file as --config does.
    let by_env = print_config(&["agent"], &[("SKEIN_CONFIG", file)]);
    assert_eq!(by_env["host"].0, "\"file-host\"");
}

/// A `skein` process started by a test, killed when dropped.
struct Proc(Option<Child>);

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `skein ARGS` and waits until `port` answers `/healthz`.
fn start_server(args: &[&str], envs: &[(&str, &str)], port: u16, log: &Path) -> Proc {
    let logf = fs::File::create(log).unwrap();
    let mut child = Proc(Some(
        skein(args, envs)
            .stdout(Stdio::null())
            .stderr(logf)
            .spawn()
            .unwrap(),
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let c = client();
    loop {
        let url = format!("http://127.0.0.1:{port}/healthz");
        if c.get(url).send().is_ok() {
            return child;
        }
        if let Some(status) = child.0.as_mut().unwrap().try_wait().unwrap() {
            panic!(
                "skein {args:?} exited with {status}:\n{}",
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "skein {args:?} did not listen on {port}:\n{}",
            fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Proc {
    /// The child, no longer killed on drop.
    fn into_child(mut self) -> Child {
        self.0.take().expect("a child")
    }
}

#[test]
fn the_server_listens_where_the_file_says_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let file = dir.path().join("skein.toml");
    write(
        &file,
        &format!(
            "[server]\ndata_dir = {:?}\nlisten = \"127.0.0.1:{file_port}\"\n",
            data.display()
        ),
    );
    let file = file.to_str().unwrap();
    let log = dir.path().join("server.log");
    let refused = |port: u16| {
        client()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .is_err()
    };

    let server = start_server(&["server", "--config", file], &[], file_port, &log);
    assert!(data.exists(), "the file's data_dir is used");
    drop(server);

    let env_listen = format!("127.0.0.1:{env_port}");
    let envs = [("SKEIN_LISTEN", env_listen.as_str())];
    let server = start_server(&["server", "--config", file], &envs, env_port, &log);
    assert!(refused(file_port));
    drop(server);

    let flag_listen = format!("127.0.0.1:{flag_port}");
    let _server = start_server(
        &["server", "--config", file, "--listen", &flag_listen],
        &envs,
        flag_port,
        &log,
    );
    assert!(refused(file_port) && refused(env_port));
}

#[test]
fn one_file_runs_a_server_and_an_agent_with_their_tokens_in_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let logs = root.join("logs");
    fs::create_dir(&logs).unwrap();
    let secret = "skein_mounted-as-a-secret-file";
    let secret_file = root.join("ingest.token");
    write(&secret_file, &format!("{secret}\n"));
    let port = free_port();
    let file = root.join("skein.toml");
    write(
        &file,
        &format!(
            r#"# One file for the whole deployment: each command reads its own table.
[server]
data_dir = {data:?}
listen = "127.0.0.1:{port}"
commit_interval_ms = 100
accept_token_file = ["ingest,query:{secret}"]

[agent]
server = "http://127.0.0.1:{port}"
token_file = {secret:?}
host = "host-from-the-file"
no_docker = true
path = ["{logs}/*.log"]
state_dir = {state:?}
metrics_listen = "127.0.0.1:0"
batch_wait_ms = 100
"#,
            data = root.join("data").display(),
            secret = secret_file.display(),
            logs = logs.display(),
            state = root.join("agent").display(),
        ),
    );
    let file = file.to_str().unwrap();
    let server_proc = start_server(
        &["server", "--config", file],
        &[],
        port,
        &root.join("server.log"),
    );
    let agent_log = root.join("agent.log");
    let _agent = Proc(Some(
        skein(&["agent", "--config", file], &[])
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .stdout(Stdio::null())
            .stderr(fs::File::create(&agent_log).unwrap())
            .spawn()
            .unwrap(),
    ));
    let mut app = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join("app.log"))
        .unwrap();
    for i in 1..=3 {
        writeln!(app, "line {i} shipped with the token from the file").unwrap();
    }
    drop(app);

    // The accepted token turned auth on: without it nothing is answered.
    let url = format!("http://127.0.0.1:{port}");
    let status = client()
        .get(format!("{url}/api/v1/search?limit=0"))
        .send()
        .unwrap()
        .status();
    assert_eq!(status, 401);
    let server = Server {
        child: server_proc.into_child(),
        url,
        data_dir: root.join("data"),
        args: Vec::new(),
        log: root.join("server.log"),
        token: Some(secret.into()),
    };
    let got = server.wait_at_least("host:host-from-the-file", 3, Duration::from_secs(30));
    assert_eq!(
        got,
        3,
        "the agent shipped with the token of its token_file; its log:\n{}",
        fs::read_to_string(&agent_log).unwrap_or_default()
    );
}

#[test]
fn mistakes_in_the_file_are_named_with_their_line_and_nothing_starts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("bad.toml");
    write(
        &file,
        &format!(
            "[server]\ndata_dir = {:?}\nlisen = \"127.0.0.1:9999\"\ncommit_interval_ms = \"fast\"\n",
            data.display()
        ),
    );
    let file = file.to_str().unwrap();
    let out = run(&["server", "--config", file], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{file}:3: unknown key `lisen` in [server]: did you mean `listen`?"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "{file}:4: `commit_interval_ms` takes an integer, not a string: write e.g. \
             commit_interval_ms = 1000"
        )),
        "{err}"
    );
    assert!(!data.exists(), "the server did not start");

    // A mistake in another command's table is one too: the file is checked whole.
    write(
        Path::new(file),
        "[agent]\nhost = \"n\"\n\n[up]\nlisten = \"nowhere\"\n",
    );
    let out = run(&["agent", "--config", file, "--print-config"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "{file}:5: \"nowhere\" is not a valid value of `listen` (--listen)"
        )),
        "{err}"
    );

    let out = run(&["server", "--config", "/nonexistent/skein.toml"], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("cannot read the config file /nonexistent/skein.toml"),
        "{err}"
    );
}
