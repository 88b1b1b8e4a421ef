//! `skein token create|list|revoke`: the tokens of a data directory. A running server
//! picks up changes within a second.

use anyhow::{Context, Result};
use skein_web::auth::{Scopes, TokenFile};
use std::path::PathBuf;

/// `skein token`.
#[derive(clap::Args, Debug)]
pub struct TokenArgs {
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(clap::Args, Debug)]
struct DataDir {
    /// The server's data directory.
    #[arg(long, env = "SKEIN_DATA_DIR", default_value = "skein-data")]
    data_dir: PathBuf,
}

#[derive(clap::Subcommand, Debug)]
enum TokenCommand {
    /// Make a token; the secret is the last line of stdout, shown this once.
    Create {
        #[command(flatten)]
        dir: DataDir,
        /// What it may do, comma-separated: ingest, query, admin (admin implies both).
        #[arg(long)]
        scope: String,
        /// Its name (letters, digits, '-', '_', '.'); what `revoke` takes.
        #[arg(long)]
        name: Option<String>,
        /// Lifetime, e.g. 90d or 12h; none by default.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Show every token: name, scopes, created, expires, last use. Never the secret.
    List {
        #[command(flatten)]
        dir: DataDir,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove a token; requests with it are refused within a second.
    Revoke {
        #[command(flatten)]
        dir: DataDir,
        /// The token's name.
        name: String,
    },
}

/// Runs `skein token …`.
pub fn run(args: TokenArgs) -> Result<()> {
    match args.command {
        TokenCommand::Create {
            dir,
            scope,
            name,
            expires,
        } => {
            let scopes = Scopes::parse(&scope).map_err(anyhow::Error::msg)?;
            let expires = expires
                .map(|e| crate::timearg::duration(&e))
                .transpose()
                .context("--expires")?;
            let file = TokenFile::new(&dir.data_dir);
            let (token, secret) = file.create(name.as_deref(), scopes, expires)?;
            eprintln!(
                "created token {:?} with scopes {scopes}{}; store it now, it is not shown again",
                token.name,
                token
                    .expires
                    .map(|e| format!(", expiring {}", e.to_rfc3339()))
                    .unwrap_or_default()
            );
            println!("{secret}");
        }
        TokenCommand::List { dir, json } => {
            let list = TokenFile::new(&dir.data_dir).list()?;
            if json {
                for t in &list {
                    println!("{}", serde_json::to_string(t)?);
                }
                return Ok(());
            }
            println!(
                "{:<24} {:<18} {:<20} {:<20} LAST USED",
                "NAME", "SCOPES", "CREATED", "EXPIRES"
            );
            let when = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or_else(
                    || "-".to_string(),
                    |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
                )
            };
            for t in &list {
                println!(
                    "{:<24} {:<18} {:<20} {:<20} {}",
                    t.token.name,
                    Scopes::from_list(&t.token.scopes).to_string(),
                    when(Some(t.token.created)),
                    when(t.token.expires),
                    when(t.last_used)
                );
            }
        }
        TokenCommand::Revoke { dir, name } => {
            TokenFile::new(&dir.data_dir).revoke(&name)?;
            eprintln!("revoked token {name:?}; a running server refuses it within a second");
        }
    }
    Ok(())
}
