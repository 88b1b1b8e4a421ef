//! `bench/torture`: the server SIGKILLed `--server-kills` times and the agent
//! `--agent-kills` times at random moments while HTTP clients ingest and the agent
//! ships a growing file, with the data directory's disk filled `--disk-fills` times on
//! a tmpfs (root only; 0 skips it). Then everything is let to settle and counted:
//! acknowledged, found, duplicated, lost. The goal is found = acknowledged and nothing
//! duplicated.

use anyhow::{bail, Context, Result};
use clap::Parser;
use rand::Rng;
use serde_json::Value;
use skein_bench::server::{free_port, skein_binary};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// SIGKILLs of the server.
    #[arg(long, default_value_t = 100)]
    server_kills: u32,
    /// SIGKILLs of the agent.
    #[arg(long, default_value_t = 50)]
    agent_kills: u32,
    /// Times the disk is filled (needs root to mount a tmpfs; 0: no tmpfs).
    #[arg(long, default_value_t = 2)]
    disk_fills: u32,
    /// Milliseconds between kills, at most (at random below it).
    #[arg(long, default_value_t = 1500)]
    max_gap_ms: u64,
}

struct Proc {
    child: Option<Child>,
    args: Vec<String>,
    log: PathBuf,
}

impl Proc {
    fn start(args: Vec<String>, log: PathBuf) -> Result<Proc> {
        let mut p = Proc {
            child: None,
            args,
            log,
        };
        p.spawn()?;
        Ok(p)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        self.child = Some(
            Command::new(skein_binary())
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .context("run the skein binary (bench/torture builds it)")?,
        );
        Ok(())
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The number ending the message of each record matching `q`, paging with the cursor.
fn numbers_of(url: &str, q: &str) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = vec![
            ("q", q.to_string()),
            ("limit", "10000".into()),
            ("order", "asc".into()),
        ];
        if let Some(c) = &cursor {
            params.push(("cursor", c.clone()));
        }
        let page: Value = http()
            .get(format!("{url}/api/v1/search"))
            .query(&params)
            .send()?
            .json()?;
        let hits = page["hits"].as_array().context("hits")?;
        for h in hits {
            out.extend(
                h["message"]
                    .as_str()
                    .and_then(|m| m.rsplit(' ').next())
                    .and_then(|n| n.parse::<u64>().ok()),
            );
        }
        match page["cursor"].as_str() {
            Some(c) if !hits.is_empty() => cursor = Some(c.to_string()),
            _ => return Ok(out),
        }
    }
}

struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn count_report(what: &str, acked: &BTreeSet<u64>, found: &[u64]) -> bool {
    let unique: BTreeSet<u64> = found.iter().copied().collect();
    let duplicated = found.len() - unique.len();
    let lost = acked.difference(&unique).count();
    let unacked = unique.difference(acked).count();
    println!(
        "{what:<28} acknowledged {:>8}  found {:>8}  duplicated {:>5}  lost {:>5}  found but not acknowledged {:>5}",
        acked.len(),
        unique.len(),
        duplicated,
        lost,
        unacked
    );
    duplicated == 0 && lost == 0
}

fn main() -> Result<()> {
    let args = Args::parse();
    let tmp = tempfile::tempdir()?;
    let root = tmp.path().to_path_buf();
    let _tmpfs = if args.disk_fills > 0 {
        let mnt = root.join("mnt");
        std::fs::create_dir_all(&mnt)?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=400m", "tmpfs"])
            .arg(&mnt)
            .status()?
            .success();
        if !ok {
            bail!("cannot mount a tmpfs (root needed); pass --disk-fills 0 to run without");
        }
        Some(Tmpfs(mnt))
    } else {
        None
    };
    let data = match &_tmpfs {
        Some(t) => t.0.join("data"),
        None => root.join("data"),
    };
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let mut server = Proc::start(
        vec![
            "server".into(),
            "--data-dir".into(),
            data.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--commit-interval-ms".into(),
            "200".into(),
        ],
        root.join("server.log"),
    )?;
    let app_log = root.join("app.log");
    std::fs::write(&app_log, "")?;
    let mut agent = Proc::start(
        vec![
            "agent".into(),
            "--server".into(),
            url.clone(),
            "--state-dir".into(),
            root.join("agent").display().to_string(),
            "--no-docker".into(),
            "--path".into(),
            app_log.display().to_string(),
            "--metrics-listen".into(),
            "127.0.0.1:0".into(),
            "--batch-wait-ms".into(),
            "100".into(),
        ],
        root.join("agent.log"),
    )?;

    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let mut clients = Vec::new();
    // Each client is a source of its own, numbering its records 1, 2, …: the server
    // drops a record at or below its source's last `_seq` as a resend. The numbers
    // kept here are `client * 10^9 + seq`, so the two sets do not overlap.
    for client in 1..=2u64 {
        let (url, stop, acked) = (url.clone(), stop.clone(), acked.clone());
        clients.push(std::thread::spawn(move || {
            let c = http();
            let mut next = 1u64;
            while !stop.load(Ordering::Relaxed) {
                let first = next;
                next += 100;
                let mut body = String::new();
                for s in first..first + 100 {
                    body += &serde_json::json!({
                        "@timestamp": chrono::Utc::now().to_rfc3339(),
                        "container": "torture-http",
                        "message": format!("http record {}", client * 1_000_000_000 + s),
                        "_source_id": format!("torture-http-{client}"), "_seq": s,
                    })
                    .to_string();
                    body.push('\n');
                }
                // A client retries until acknowledged, as the agent does.
                loop {
                    match c
                        .post(format!("{url}/api/v1/ingest"))
                        .body(body.clone())
                        .send()
                    {
                        Ok(r) if r.status() == 200 => {
                            acked
                                .lock()
                                .unwrap()
                                .extend((first..first + 100).map(|s| client * 1_000_000_000 + s));
                            break;
                        }
                        _ if stop.load(Ordering::Relaxed) => break,
                        _ => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            }
        }));
    }
    let lines = Arc::new(AtomicU64::new(0));
    let writer = {
        let (stop, lines, app_log) = (stop.clone(), lines.clone(), app_log.clone());
        std::thread::spawn(move || {
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&app_log)
                .unwrap();
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..50 {
                    let n = lines.fetch_add(1, Ordering::Relaxed) + 1;
                    writeln!(f, "agent line {n}").unwrap();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    let started = Instant::now();
    let mut rng = rand::rng();
    let (mut server_kills, mut agent_kills, mut fills) = (0, 0, 0);
    let kills_total = args.server_kills + args.agent_kills;
    while server_kills + agent_kills < kills_total {
        std::thread::sleep(Duration::from_millis(
            rng.random_range(100..args.max_gap_ms.max(101)),
        ));
        let kill_server = agent_kills >= args.agent_kills
            || (server_kills < args.server_kills
                && rng.random_range(0..kills_total) < args.server_kills);
        if kill_server {
            server.kill9();
            server_kills += 1;
            // Fill the disk at even spacing through the run, while the server is down.
            let due = args.disk_fills > 0
                && fills < args.disk_fills
                && server_kills * (args.disk_fills + 1) / args.server_kills.max(1) > fills;
            if due {
                if let Some(t) = &_tmpfs {
                    fill_disk(&t.0)?;
                    fills += 1;
                    server.spawn()?;
                    // Let it run full a while, then give the space back.
                    std::thread::sleep(Duration::from_secs(3));
                    let _ = std::fs::remove_file(t.0.join("filler"));
                    continue;
                }
            }
            server.spawn()?;
        } else {
            agent.kill9();
            agent_kills += 1;
            agent.spawn()?;
        }
        if (server_kills + agent_kills) % 25 == 0 {
            eprintln!(
                "{server_kills} server and {agent_kills} agent kills, {fills} disk fills, {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    let _ = writer.join();
    let written = lines.load(Ordering::Relaxed);
    // Settle: the agent delivers what is left.
    let deadline = Instant::now() + Duration::from_secs(300);
    let acked = acked.lock().unwrap().clone();
    loop {
        let http_found = numbers_of(&url, "container:torture-http").unwrap_or_default();
        let agent_found = numbers_of(&url, "\"agent line\"").unwrap_or_default();
        let agent_unique: BTreeSet<u64> = agent_found.iter().copied().collect();
        let http_unique: BTreeSet<u64> = http_found.iter().copied().collect();
        if (agent_unique.len() as u64 >= written && acked.is_subset(&http_unique))
            || Instant::now() > deadline
        {
            println!(
                "{server_kills} server SIGKILLs, {agent_kills} agent SIGKILLs, {fills} disk fills in {:.0} s",
                started.elapsed().as_secs_f64()
            );
            let all_lines: BTreeSet<u64> = (1..=written).collect();
            let a = count_report("HTTP ingest (2 clients)", &acked, &http_found);
            let b = count_report("agent (file lines)", &all_lines, &agent_found);
            if !(a && b) {
                bail!(
                    "records were lost or duplicated; logs in {}",
                    root.display()
                );
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Fills the tmpfs at `mnt` to the last byte with a file `filler`.
fn fill_disk(mnt: &Path) -> Result<()> {
    let mut f = std::fs::File::create(mnt.join("filler"))?;
    let chunk = vec![0u8; 1 << 20];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.flush();
    Ok(())
}
