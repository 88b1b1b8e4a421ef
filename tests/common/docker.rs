//! The real Docker engine for end-to-end tests: no mocks. `scripts/test` installs
//! `docker.io` and `busybox-static` and starts `dockerd`; here we only check that the
//! engine answers (failing loudly if not) and build the test image.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The test image: Debian's static busybox as the whole file system.
pub const IMAGE: &str = "skein-test-busybox:1";

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("the docker CLI runs (install docker.io; scripts/test does)")
}

/// Runs docker and returns stdout; panics with stderr on failure.
pub fn run(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Makes sure the engine answers and the test image exists. Fails the test (never
/// skips it) when Docker is missing.
pub fn ready() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let info = docker(&["info", "--format", "{{.ServerVersion}}"]);
        assert!(
            info.status.success(),
            "no Docker engine: {} — run the tests through scripts/test, which installs docker.io and starts dockerd",
            String::from_utf8_lossy(&info.stderr)
        );
        if docker(&["image", "inspect", IMAGE]).status.success() {
            return;
        }
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("busybox-static is installed (scripts/test installs it)");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
        for applet in ["sh", "echo", "seq", "sleep", "cat", "printf", "head", "yes", "tr", "awk", "dd"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        let tar = dir.path().join("image.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        run(&["import", tar.to_str().unwrap(), IMAGE]);
    });
}

/// The full id of a container.
pub fn id(name: &str) -> String {
    run(&["inspect", "--format", "{{.Id}}", name])
        .trim()
        .to_string()
}

/// Waits for a container to exit.
pub fn wait(name: &str) {
    run(&["wait", name]);
}

/// Removes a container, running or not.
pub fn rm(name: &str) {
    let _ = docker(&["rm", "-f", name]);
}

/// `docker logs -t`: (timestamp, stream, line) of everything the container printed.
pub fn logs(name: &str) -> Vec<(String, &'static str, String)> {
    let out = docker(&["logs", "-t", name]);
    assert!(out.status.success(), "docker logs {name}");
    let mut lines = Vec::new();
    for (bytes, stream) in [(&out.stdout, "stdout"), (&out.stderr, "stderr")] {
        for line in String::from_utf8_lossy(bytes).lines() {
            let (ts, text) = line.split_once(' ').unwrap_or((line, ""));
            lines.push((ts.to_string(), stream, text.to_string()));
        }
    }
    lines
}

/// Removes the named containers when dropped, so a failed test leaves none behind.
pub struct Cleanup(pub Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for name in &self.0 {
            rm(name);
        }
    }
}
