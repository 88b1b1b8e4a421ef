//! Tokens: the file `skein token` edits (`DATA/auth/tokens.json`, hashes only, mode
//! 0600) and the [`Keyring`] the server checks requests against.
//!
//! The server never writes the token file; it re-reads it when its size, time or inode
//! changes (checked every [`RELOAD_EVERY`]), so a token created or revoked takes effect
//! within a second. Last use is kept in memory and written to `DATA/auth/last-used.json`
//! now and then, which `skein token list` merges in.

use super::scope::{Scope, Scopes};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How often the server looks at the token file for changes.
pub const RELOAD_EVERY: Duration = Duration::from_millis(250);

/// Every secret starts with this, so that a leaked one is easy to recognise and scan for.
pub const PREFIX: &str = "skein_";

/// The SHA-256 of a secret: what is stored and looked up.
pub type Digest32 = [u8; 32];

/// Errors of the token file.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Reading or writing failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not what `skein token` writes.
    #[error("{path} is not a valid token file ({reason}); restore it from a backup or move it away and create tokens again")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A name is taken or malformed.
    #[error("{0}")]
    Name(String),
    /// No token has this name.
    #[error("no token is named {0:?}; `skein token list` shows the names")]
    NotFound(String),
}

/// One stored token: never the secret, only its hash.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredToken {
    /// Unique name (what `revoke` takes).
    pub name: String,
    /// What it may do.
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret, hex.
    pub sha256: String,
    /// When it was made.
    pub created: DateTime<Utc>,
    /// When it stops working, if ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FileBody {
    tokens: Vec<StoredToken>,
}

/// A token as `skein token list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The stored token.
    #[serde(flatten)]
    pub token: StoredToken,
    /// Its last use a server recorded, if any.
    pub last_used: Option<DateTime<Utc>>,
}

/// The token file of one data directory.
#[derive(Debug, Clone)]
pub struct TokenFile {
    dir: PathBuf,
}

impl TokenFile {
    /// The token file of `data_dir` (in its `auth/`).
    pub fn new(data_dir: &Path) -> TokenFile {
        TokenFile {
            dir: data_dir.join("auth"),
        }
    }

    /// `DATA/auth/tokens.json`.
    pub fn path(&self) -> PathBuf {
        self.dir.join("tokens.json")
    }

    fn last_used_path(&self) -> PathBuf {
        self.dir.join("last-used.json")
    }

    /// Makes a token and answers its record and its secret (shown once, never stored).
    pub fn create(
        &self,
        name: Option<&str>,
        scopes: Scopes,
        expires: Option<Duration>,
    ) -> Result<(StoredToken, String), TokenError> {
        let _lock = self.lock()?;
        let mut body = self.read()?;
        let secret = new_secret();
        let digest = digest(&secret);
        let name = match name {
            Some(n) => {
                check_name(n)?;
                if body.tokens.iter().any(|t| t.name == n) {
                    return Err(TokenError::Name(format!(
                        "a token named {n:?} exists; pick another --name or revoke it first"
                    )));
                }
                n.to_string()
            }
            None => format!("token-{}", &hex(&digest)[..8]),
        };
        let now = Utc::now();
        let token = StoredToken {
            name,
            scopes: scopes.list(),
            sha256: hex(&digest),
            created: now,
            expires: expires
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| now + d),
        };
        body.tokens.push(token.clone());
        self.write(&body)?;
        Ok((token, secret))
    }

    /// Removes the token named `name`.
    pub fn revoke(&self, name: &str) -> Result<(), TokenError> {
        let _lock = self.lock()?;
        let mut body = self.read()?;
        let before = body.tokens.len();
        body.tokens.retain(|t| t.name != name);
        if body.tokens.len() == before {
            return Err(TokenError::NotFound(name.to_string()));
        }
        self.write(&body)
    }

    /// Every token, with its last use.
    pub fn list(&self) -> Result<Vec<Listed>, TokenError> {
        let used: HashMap<String, DateTime<Utc>> = fs::read(self.last_used_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Ok(self
            .read()?
            .tokens
            .into_iter()
            .map(|t| Listed {
                last_used: used.get(&t.name).copied(),
                token: t,
            })
            .collect())
    }

    fn read(&self) -> Result<FileBody, TokenError> {
        let path = self.path();
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| TokenError::Invalid {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(FileBody::default()),
            Err(source) => Err(TokenError::Io {
                action: "read",
                path,
                source,
            }),
        }
    }

    fn write(&self, body: &FileBody) -> Result<(), TokenError> {
        let path = self.path();
        let data = serde_json::to_vec_pretty(body).expect("tokens serialise");
        skein_model::atomic_file::write_atomic(&path, &data, Some(0o600)).map_err(|source| {
            TokenError::Io {
                action: "write",
                path,
                source,
            }
        })
    }

    /// Holds `DATA/auth/tokens.lock` so that two `skein token` commands at once do not
    /// lose each other's change.
    fn lock(&self) -> Result<FileLock, TokenError> {
        let io_err = |action, source| TokenError::Io {
            action,
            path: self.dir.clone(),
            source,
        };
        create_private_dir(&self.dir).map_err(|e| io_err("create", e))?;
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("tokens.lock"))
            .map_err(|e| io_err("open the lock in", e))?;
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor this function owns; released when it closes.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(io_err("lock", io::Error::last_os_error()));
            }
        }
        Ok(FileLock(f))
    }
}

struct FileLock(#[allow(dead_code)] fs::File);

/// Creates `dir` (and parents), readable by its owner only.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
}

fn check_name(name: &str) -> Result<(), TokenError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(TokenError::Name(format!(
            "token name {name:?} is not allowed; use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// A new secret: the prefix and 256 random bits.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The SHA-256 of `secret`.
pub fn digest(secret: &str) -> Digest32 {
    Sha256::digest(secret.as_bytes()).into()
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Digest32> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Compares two digests in time independent of where they differ.
pub fn same_digest(a: &Digest32, b: &Digest32) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where a key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `DATA/auth/tokens.json`.
    File,
    /// `--accept-token-file SCOPE:PATH`.
    Accepted(PathBuf),
    /// Made in memory for `skein up`'s own agent; does not turn auth on.
    Internal,
}

/// A token the server accepts.
#[derive(Debug)]
pub struct Key {
    /// Its name (for a pre-shared file, the file's path).
    pub name: String,
    /// What it may do.
    pub scopes: Scopes,
    /// Where it came from.
    pub origin: Origin,
    digest: Digest32,
    /// Unix milliseconds it stops working at, if ever.
    expires: Option<i64>,
    /// Unix seconds of its last use (0: none since the server started).
    last_used: AtomicI64,
}

impl Key {
    /// Its SHA-256, what a session refers to it by.
    pub fn digest(&self) -> &Digest32 {
        &self.digest
    }

    fn expired(&self, now: i64) -> bool {
        self.expires.is_some_and(|e| now >= e)
    }
}

/// Why a secret was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No key has it (or it was revoked).
    Unknown,
    /// Its key has expired.
    Expired,
}

#[derive(Default)]
struct Keys {
    by_digest: HashMap<Digest32, Arc<Key>>,
    /// Keys that turn auth on (all but internal ones).
    counted: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp(Vec<(u64, i128, u64)>);

/// The keys a running server accepts: the token file's, pre-shared files' and its own
/// agent's, reloaded when the files change.
pub struct Keyring {
    file: TokenFile,
    accepted: Vec<(Scopes, PathBuf)>,
    keys: RwLock<Arc<Keys>>,
    internal: Mutex<Vec<Arc<Key>>>,
    stamp: Mutex<Option<Stamp>>,
    flushed: Mutex<HashMap<String, i64>>,
}

impl Keyring {
    /// Loads the token file of `data_dir` and the pre-shared tokens in `accepted`.
    pub fn open(data_dir: &Path, accepted: Vec<(Scopes, PathBuf)>) -> Result<Keyring, TokenError> {
        let ring = Keyring {
            file: TokenFile::new(data_dir),
            accepted,
            keys: RwLock::default(),
            internal: Mutex::default(),
            stamp: Mutex::default(),
            flushed: Mutex::default(),
        };
        ring.reload()?;
        Ok(ring)
    }

    /// The token file this ring follows.
    pub fn file(&self) -> &TokenFile {
        &self.file
    }

    /// Whether any token that turns auth on exists.
    pub fn any(&self) -> bool {
        self.snapshot().counted > 0
    }

    fn snapshot(&self) -> Arc<Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Checks a presented secret: the key it belongs to, unless unknown or expired.
    /// Costs one SHA-256 of the secret and one map look-up; the look-up compares digests
    /// of secrets, which tells a guesser nothing about the secret itself, and the match
    /// is confirmed in constant time.
    pub fn check(&self, secret: &str) -> Result<Arc<Key>, Refusal> {
        self.check_digest(&digest(secret))
    }

    /// As [`Keyring::check`], for a key known by its digest (a session's).
    pub fn check_digest(&self, d: &Digest32) -> Result<Arc<Key>, Refusal> {
        let keys = self.snapshot();
        let key = keys
            .by_digest
            .get(d)
            .filter(|k| same_digest(&k.digest, d))
            .ok_or(Refusal::Unknown)?;
        let now = Utc::now();
        if key.expired(now.timestamp_millis()) {
            return Err(Refusal::Expired);
        }
        let now = now.timestamp();
        // Stored only when it changes, so that concurrent requests with one token do
        // not fight over the cache line every time.
        if key.last_used.load(Ordering::Relaxed) != now {
            key.last_used.store(now, Ordering::Relaxed);
        }
        Ok(key.clone())
    }

    /// Makes a key that lives only in memory (`skein up`'s agent): it works while
    /// auth is on and does not by itself turn auth on. Answers its secret.
    pub fn add_internal(&self, name: &str, scopes: Scopes) -> String {
        let secret = new_secret();
        let key = Arc::new(Key {
            name: name.to_string(),
            scopes,
            origin: Origin::Internal,
            digest: digest(&secret),
            expires: None,
            last_used: AtomicI64::new(0),
        });
        self.internal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key);
        self.rebuild_from(None);
        secret
    }

    /// Re-reads the files if they changed since the last look. Errors leave the keys
    /// as they were (a half-edited file does not open or close the server).
    pub fn reload(&self) -> Result<bool, TokenError> {
        let stamp = self.stamp();
        {
            let mut last = self.stamp.lock().unwrap_or_else(|e| e.into_inner());
            if last.as_ref() == Some(&stamp) {
                return Ok(false);
            }
            *last = Some(stamp);
        }
        let mut loaded = Vec::new();
        for t in self.file.read()?.tokens {
            let Some(d) = unhex(&t.sha256) else {
                return Err(TokenError::Invalid {
                    path: self.file.path(),
                    reason: format!("token {:?} has a malformed sha256", t.name),
                });
            };
            loaded.push(Key {
                scopes: Scopes::from_list(&t.scopes),
                origin: Origin::File,
                digest: d,
                expires: t.expires.map(|e| e.timestamp_millis()),
                last_used: AtomicI64::new(0),
                name: t.name,
            });
        }
        for (scopes, path) in &self.accepted {
            let secret = fs::read_to_string(path).map_err(|source| TokenError::Io {
                action: "read the accepted token file",
                path: path.clone(),
                source,
            })?;
            let secret = secret.trim();
            if secret.is_empty() {
                return Err(TokenError::Invalid {
                    path: path.clone(),
                    reason: "it is empty".into(),
                });
            }
            loaded.push(Key {
                name: format!("file:{}", path.display()),
                scopes: *scopes,
                origin: Origin::Accepted(path.clone()),
                digest: digest(secret),
                expires: None,
                last_used: AtomicI64::new(0),
            });
        }
        self.rebuild_from(Some(loaded));
        Ok(true)
    }

    /// Swaps in a new key map: `loaded` (or the current non-internal keys) plus the
    /// internal ones, carrying last-use times over by name.
    fn rebuild_from(&self, loaded: Option<Vec<Key>>) {
        let mut guard = self.keys.write().unwrap_or_else(|e| e.into_inner());
        let old = guard.clone();
        let used = |name: &str| {
            old.by_digest
                .values()
                .find(|k| k.name == name)
                .map_or(0, |k| k.last_used.load(Ordering::Relaxed))
        };
        let mut keys = Keys::default();
        match loaded {
            Some(list) => {
                for k in list {
                    k.last_used.store(used(&k.name), Ordering::Relaxed);
                    keys.counted += 1;
                    keys.by_digest.insert(k.digest, Arc::new(k));
                }
            }
            None => {
                for k in old
                    .by_digest
                    .values()
                    .filter(|k| k.origin != Origin::Internal)
                {
                    keys.counted += 1;
                    keys.by_digest.insert(k.digest, k.clone());
                }
            }
        }
        for k in self
            .internal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            keys.by_digest.insert(k.digest, k.clone());
        }
        *guard = Arc::new(keys);
    }

    fn stamp(&self) -> Stamp {
        let mut paths = vec![self.file.path()];
        paths.extend(self.accepted.iter().map(|(_, p)| p.clone()));
        Stamp(
            paths
                .iter()
                .map(|p| match fs::metadata(p) {
                    Ok(m) => {
                        #[cfg(unix)]
                        let ino = std::os::unix::fs::MetadataExt::ino(&m);
                        #[cfg(not(unix))]
                        let ino = 0;
                        let mtime = m
                            .modified()
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map_or(0, |d| d.as_nanos() as i128);
                        (m.len(), mtime, ino)
                    }
                    Err(_) => (u64::MAX, 0, 0),
                })
                .collect(),
        )
    }

    /// Writes the last use of the token file's keys to `DATA/auth/last-used.json` if
    /// any changed since the last write.
    pub fn flush_last_used(&self) -> Result<(), TokenError> {
        let keys = self.snapshot();
        let now: HashMap<String, i64> = keys
            .by_digest
            .values()
            .filter(|k| k.origin == Origin::File)
            .map(|k| (k.name.clone(), k.last_used.load(Ordering::Relaxed)))
            .filter(|(_, t)| *t > 0)
            .collect();
        let mut flushed = self.flushed.lock().unwrap_or_else(|e| e.into_inner());
        if *flushed == now {
            return Ok(());
        }
        // Earlier uses recorded by this or another run stay, for keys this run has
        // not seen used.
        let path = self.file.last_used_path();
        let mut merged: HashMap<String, DateTime<Utc>> = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        for (name, t) in &now {
            if let Some(at) = DateTime::from_timestamp(*t, 0) {
                merged.insert(name.clone(), at);
            }
        }
        merged.retain(|name, _| keys.by_digest.values().any(|k| &k.name == name));
        create_private_dir(&self.file.dir).map_err(|source| TokenError::Io {
            action: "create",
            path: self.file.dir.clone(),
            source,
        })?;
        let data = serde_json::to_vec_pretty(&merged).expect("times serialise");
        skein_model::atomic_file::write_atomic(&path, &data, Some(0o600)).map_err(|source| {
            TokenError::Io {
                action: "write",
                path,
                source,
            }
        })?;
        *flushed = now;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_tokens_check_and_revoked_ones_stop() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open(dir.path(), vec![]).unwrap();
        assert!(!ring.any());
        let file = TokenFile::new(dir.path());
        let (t, secret) = file
            .create(Some("ci"), Scopes::parse("ingest").unwrap(), None)
            .unwrap();
        assert!(secret.starts_with(PREFIX));
        let stored = fs::read_to_string(file.path()).unwrap();
        assert!(!stored.contains(&secret), "only the hash is stored");
        assert!(stored.contains(&t.sha256));
        assert!(ring.reload().unwrap());
        assert!(ring.any());
        let key = ring.check(&secret).unwrap();
        assert_eq!(key.name, "ci");
        assert!(key.scopes.allows(Scope::Ingest) && !key.scopes.allows(Scope::Query));
        assert_eq!(ring.check("skein_nope").unwrap_err(), Refusal::Unknown);
        assert!(file.create(Some("ci"), Scopes::ALL, None).is_err());
        file.revoke("ci").unwrap();
        ring.reload().unwrap();
        assert_eq!(ring.check(&secret).unwrap_err(), Refusal::Unknown);
        assert!(matches!(file.revoke("ci"), Err(TokenError::NotFound(_))));
    }

    #[test]
    fn internal_keys_work_without_turning_auth_on_and_survive_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open(dir.path(), vec![]).unwrap();
        let secret = ring.add_internal("up-agent", Scopes::parse("ingest").unwrap());
        assert!(!ring.any());
        assert!(ring.check(&secret).is_ok());
        TokenFile::new(dir.path())
            .create(None, Scopes::ALL, None)
            .unwrap();
        ring.reload().unwrap();
        assert!(ring.any());
        assert!(ring.check(&secret).is_ok());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = TokenFile::new(dir.path());
        let (_, secret) = file
            .create(None, Scopes::ALL, Some(Duration::from_secs(0)))
            .unwrap();
        let ring = Keyring::open(dir.path(), vec![]).unwrap();
        assert_eq!(ring.check(&secret).unwrap_err(), Refusal::Expired);
    }
}
