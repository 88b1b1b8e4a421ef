//! `skein admin partitions`: the server's partitions, their size and records, and
//! when retention drops them (`GET /api/v1/retention`); `skein admin snapshot DIR`: a
//! consistent copy a server can start from (`POST /api/v1/admin/snapshot`).

use crate::client::{Client, ServerArg};
use anyhow::Result;

/// `skein admin`.
#[derive(clap::Args, Debug)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(clap::Subcommand, Debug)]
enum AdminCommand {
    /// Every partition: size, records, when it is dropped; and the disk in use.
    Partitions {
        #[command(flatten)]
        server: ServerArg,
        /// The answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// A consistent copy of the running server's data in DIR (new or empty, on the
    /// server's machine; hard links on its filesystem), which `skein server
    /// --data-dir DIR` can start from.
    Snapshot {
        #[command(flatten)]
        server: ServerArg,
        /// Where to put it; relative paths are taken from here.
        dir: std::path::PathBuf,
    },
}

/// Runs `skein admin …`.
pub fn run(args: AdminArgs) -> Result<()> {
    match args.command {
        AdminCommand::Snapshot { server, dir } => {
            let dir = std::path::absolute(&dir)?;
            let r = Client::new(&server)?
                .post("/api/v1/admin/snapshot", &serde_json::json!({ "dir": dir }))?;
            eprintln!(
                "snapshot of {} partitions ({} files, {}) complete up to WAL entry {} in {}; \
                 start a server on it with `skein server --data-dir {}`",
                r["partitions"],
                r["files"],
                skein_indexer::retention::human_bytes(r["bytes"].as_u64().unwrap_or(0)),
                r["lsn"],
                dir.display(),
                dir.display()
            );
        }
        AdminCommand::Partitions { server, json } => {
            let u = Client::new(&server)?.get("/api/v1/retention", &[])?;
            if json {
                println!("{}", serde_json::to_string_pretty(&u)?);
                return Ok(());
            }
            println!(
                "{:<14} {:>12} {:>12}  DROPPED AT",
                "PARTITION", "SIZE", "RECORDS"
            );
            for p in u["partitions"].as_array().into_iter().flatten() {
                println!(
                    "{:<14} {:>12} {:>12}  {}",
                    p["partition"].as_str().unwrap_or("?"),
                    skein_indexer::retention::human_bytes(p["bytes"].as_u64().unwrap_or(0)),
                    p["records"].as_u64().unwrap_or(0),
                    p["drop_at"].as_str().unwrap_or("-")
                );
            }
            let bytes = |k: &str| {
                u[k].as_u64()
                    .map_or("-".into(), skein_indexer::retention::human_bytes)
            };
            println!(
                "index {}, WAL {}, free {}; --retention {}, --max-disk {}",
                bytes("index_bytes"),
                bytes("wal_bytes"),
                bytes("free_bytes"),
                u["retention_seconds"]
                    .as_u64()
                    .map_or("none".into(), |s| format!("{}d", s as f64 / 86_400.0)),
                bytes("max_disk_bytes"),
            );
        }
    }
    Ok(())
}
