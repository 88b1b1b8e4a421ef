//! Patterns at ingest: every record gets the id of its message's template
//! ([`Record::pattern`]), mined online per group by [`skein_patterns::Miner`].
//!
//! - **Where.** [`Patterns::assign`] runs in [`crate::Engine::ingest`] after redaction
//!   (templates never hold a secret) and before the WAL thread, so the live feed, the
//!   index and followers all see the id; WAL replay assigns again ([`Patterns::assign`]
//!   from the indexer's `add_entry`). The WAL keeps the client's lines, not the ids.
//! - **Same ids again.** An id is a hash of the group and the template its pattern was
//!   created with, so replaying lines the saved miner has already seen gives them the
//!   ids they had (a line joins its own pattern again), and a miner rebuilt from scratch
//!   gives the same id to the same template.
//! - **Kept.** The miner's state is saved atomically in `patterns.json` in the data
//!   directory (at most every [`SAVE_EVERY`], and on shutdown). If it is lost, it is
//!   rebuilt from the newest records of the partitions when the engine opens.
//! - **Merged patterns.** When the miner finds two patterns of a group are one, the
//!   merged-away id becomes an alias. Queries for either id match both
//!   ([`equivalents`]), through one table per process: the query compiler and the live
//!   matcher are handed a schema, not an engine. A server runs one engine; where a
//!   process opens several (tests), the table holds the merges of all of them, which
//!   cannot clash since an id hashes its group and template.

use crate::partition::Catalog;
use skein_model::{PatternId, Record, Timestamp};
use skein_patterns::{Config, Miner};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The file the miner's state is kept in, in the data directory.
pub const FILE: &str = "patterns.json";
/// The state is written at most this often while records arrive.
pub const SAVE_EVERY: Duration = Duration::from_secs(10);
/// How many of the newest records rebuild a lost state.
const REBUILD_RECORDS: usize = 200_000;

/// The compose label that names a service: its replicas share their patterns.
const COMPOSE_SERVICE: &str = "com.docker.compose.service";

/// Every pattern id the miner has merged, by the id it now belongs to and back; one
/// per process. Empty until something merges.
static EQUIVALENTS: RwLock<Option<Arc<Equivalents>>> = RwLock::new(None);

/// Each merged id and each survivor, with all the ids of its pattern (the survivor
/// first).
type Equivalents = HashMap<PatternId, Arc<[PatternId]>>;

/// The ids that mean the same pattern as `id` (`id` included), or `None` when `id` was
/// never merged with another (the common case: then it means only itself).
pub fn equivalents(id: PatternId) -> Option<Arc<[PatternId]>> {
    let table = EQUIVALENTS.read().expect("lock").clone()?;
    table.get(&id).cloned()
}

/// Whether any pattern id was ever merged into another in this process.
pub fn any_merged() -> bool {
    EQUIVALENTS.read().expect("lock").is_some()
}

/// The id `id` now counts under: the surviving id of a merge, else `id` itself.
pub fn canonical(id: PatternId) -> PatternId {
    equivalents(id).map_or(id, |ids| ids[0])
}

/// What the server knows of one pattern beyond its records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The live id (after merges).
    pub id: PatternId,
    /// The group (container or compose service) it belongs to.
    pub group: String,
    /// Its template: variables as `<*>` or typed (`<num>`, `<ip>`, …).
    pub template: String,
    /// The first line that made it.
    pub sample: String,
    /// The earliest record time it was given to, over all time.
    pub first_seen: Option<Timestamp>,
}

/// The miner and what the server keeps with it.
pub struct Patterns {
    inner: Mutex<Inner>,
    path: PathBuf,
    /// Off (`--no-patterns`): records get no pattern and nothing is saved.
    enabled: bool,
}

struct Inner {
    miner: Miner,
    /// Earliest record time per live id (merged ids keep the earlier of the two).
    first_seen: HashMap<PatternId, Timestamp>,
    changed: bool,
    saved_at: Instant,
    /// How many aliases the last equivalence table was built from.
    aliases: usize,
}

/// The saved form: the miner's own state and the first-seen times.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    version: u32,
    miner: Box<serde_json::value::RawValue>,
    first_seen: Vec<(PatternId, Timestamp)>,
}

/// Errors keeping the state.
#[derive(Debug, thiserror::Error)]
pub enum PatternsError {
    /// The state file could not be written.
    #[error(
        "cannot save the patterns state to {path}: {source}; check free space and permissions"
    )]
    Save {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The group a record's patterns are mined in: its compose service, else its container,
/// else its OpenTelemetry service, else its Elasticsearch index, else its host.
pub fn group_of(r: &Record) -> &str {
    if let Some(s) = r.labels.get(COMPOSE_SERVICE).filter(|s| !s.is_empty()) {
        return s;
    }
    if !r.container.is_empty() {
        return &r.container;
    }
    for key in ["service.name", "_index"] {
        if let Some(serde_json::Value::String(s)) = r.fields.get(key) {
            return s;
        }
    }
    &r.host
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), PatternsError> {
    skein_model::atomic_file::write_atomic(path, bytes, None).map_err(|source| {
        PatternsError::Save {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn to_model(id: skein_patterns::PatternId) -> PatternId {
    PatternId::new(id.0)
}

fn to_miner(id: PatternId) -> skein_patterns::PatternId {
    skein_patterns::PatternId(id.get())
}

impl Patterns {
    /// Loads the state in `data_dir`, or rebuilds it from `catalog`'s newest records when
    /// there is none (or it cannot be read: then the file is set aside, not lost).
    pub fn open(data_dir: &Path, catalog: &Catalog) -> Patterns {
        Self::with_config(data_dir, catalog, Config::default())
    }

    /// [`Patterns::open`] with a miner of other settings (a new one only: a saved
    /// state keeps the settings it was saved with).
    pub fn with_config(data_dir: &Path, catalog: &Catalog, config: Config) -> Patterns {
        let path = data_dir.join(FILE);
        let loaded = match std::fs::read(&path) {
            Ok(bytes) => match Self::decode(&bytes) {
                Ok(inner) => Some(inner),
                Err(e) => {
                    let aside = path.with_extension("json.unreadable");
                    let _ = std::fs::rename(&path, &aside);
                    tracing::warn!(
                        "{}: {e}; moved to {} and rebuilt from the newest records",
                        path.display(),
                        aside.display()
                    );
                    None
                }
            },
            Err(_) => None,
        };
        let rebuild = loaded.is_none();
        let patterns = Patterns {
            inner: Mutex::new(loaded.unwrap_or_else(|| Inner {
                miner: Miner::new(config),
                first_seen: HashMap::new(),
                changed: false,
                saved_at: Instant::now(),
                aliases: 0,
            })),
            path,
            enabled: true,
        };
        if rebuild {
            let n = patterns.rebuild(catalog);
            if n > 0 {
                tracing::info!("rebuilt the patterns from the newest {n} records");
            }
        }
        patterns.publish_equivalents(&mut patterns.inner.lock().expect("lock"));
        patterns
    }

    /// No mining: records get no pattern (`--no-patterns`).
    pub fn off() -> Patterns {
        Patterns {
            inner: Mutex::new(Inner {
                miner: Miner::new(Config::default()),
                first_seen: HashMap::new(),
                changed: false,
                saved_at: Instant::now(),
                aliases: 0,
            }),
            path: PathBuf::new(),
            enabled: false,
        }
    }

    fn decode(bytes: &[u8]) -> Result<Inner, String> {
        let saved: Saved = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if saved.version != 1 {
            return Err(format!(
                "version {} is not one this build reads",
                saved.version
            ));
        }
        let miner = Miner::load(saved.miner.get().as_bytes()).map_err(|e| e.to_string())?;
        Ok(Inner {
            miner,
            first_seen: saved.first_seen.into_iter().collect(),
            changed: false,
            saved_at: Instant::now(),
            aliases: 0,
        })
    }

    /// Feeds the newest records of the partitions (oldest first) to an empty miner:
    /// the last documents of the newest partitions' last segments (a segment holds
    /// records in ingest order), loaded from the newest back until there are enough.
    fn rebuild(&self, catalog: &Catalog) -> usize {
        let mut newest_first = Vec::new();
        let mut partitions = catalog.all();
        partitions.sort_by_key(|p| std::cmp::Reverse(p.key.start()));
        'partitions: for p in partitions {
            let searcher = p.searcher();
            let mut loader = crate::schema::RecordLoader::new(&searcher);
            for (ord, segment) in searcher.segment_readers().iter().enumerate().rev() {
                for doc in (0..segment.max_doc()).rev() {
                    if newest_first.len() >= REBUILD_RECORDS {
                        break 'partitions;
                    }
                    if segment.is_deleted(doc) {
                        continue;
                    }
                    if let Ok(r) = loader.load(tantivy::DocAddress::new(ord as u32, doc)) {
                        newest_first.push(r);
                    }
                }
            }
        }
        newest_first.reverse();
        let n = newest_first.len();
        for chunk in newest_first.chunks_mut(10_000) {
            self.assign(chunk);
        }
        n
    }

    /// Gives each record its pattern id, learning from its message.
    pub fn assign(&self, records: &mut [Record]) {
        if records.is_empty() || !self.enabled {
            return;
        }
        let mut inner = self.inner.lock().expect("lock");
        for r in records.iter_mut() {
            let id = to_model(inner.miner.assign(group_of(r), &r.message));
            r.pattern = Some(id);
            inner
                .first_seen
                .entry(id)
                .and_modify(|t| *t = (*t).min(r.timestamp))
                .or_insert(r.timestamp);
        }
        inner.changed = true;
        let aliases = inner.miner.alias_count();
        if aliases != inner.aliases {
            self.publish_equivalents(&mut inner);
        }
    }

    /// Adds the miner's merges to the process's table of merged ids.
    fn publish_equivalents(&self, inner: &mut Inner) {
        inner.aliases = inner.miner.alias_count();
        if inner.aliases == 0 {
            return;
        }
        let mut by_live: HashMap<PatternId, Vec<PatternId>> = HashMap::new();
        for (old, live) in inner.miner.alias_pairs() {
            by_live
                .entry(to_model(live))
                .or_insert_with(|| vec![to_model(live)])
                .push(to_model(old));
        }
        let mut global = EQUIVALENTS.write().expect("lock");
        let mut table: Equivalents = global.as_deref().cloned().unwrap_or_default();
        for ids in by_live.into_values() {
            // A merged id's first-seen time is the earlier of the two.
            let first = ids
                .iter()
                .filter_map(|id| inner.first_seen.get(id).copied())
                .min();
            if let Some(first) = first {
                inner.first_seen.insert(ids[0], first);
            }
            let ids: Arc<[PatternId]> = ids.into();
            for id in ids.iter() {
                table.insert(*id, ids.clone());
            }
        }
        *global = Some(Arc::new(table));
    }

    /// What is known of `id` (any id of it, merged or live).
    pub fn describe(&self, id: PatternId) -> Option<Described> {
        let inner = self.inner.lock().expect("lock");
        let live = to_model(inner.miner.resolve(to_miner(id)));
        let info = inner.miner.info(to_miner(live))?;
        Some(Described {
            id: live,
            group: info.group,
            template: info.template,
            sample: info.sample,
            first_seen: inner.first_seen.get(&live).copied(),
        })
    }

    /// Writes the state if it changed and [`SAVE_EVERY`] has passed (or `now` is set).
    pub fn save(&self, now: bool) -> Result<(), PatternsError> {
        if !self.enabled {
            return Ok(());
        }
        let bytes = {
            let mut inner = self.inner.lock().expect("lock");
            if !inner.changed || (!now && inner.saved_at.elapsed() < SAVE_EVERY) {
                return Ok(());
            }
            inner.changed = false;
            inner.saved_at = Instant::now();
            Self::encode(&inner)
        };
        write(&self.path, &bytes)
    }

    /// Writes the state into `dir` (a snapshot). It may be ahead of the snapshot's
    /// records, which is harmless: a line the miner has seen joins its own pattern again.
    pub fn save_into(&self, dir: &Path) -> Result<(), PatternsError> {
        if !self.enabled {
            return Ok(());
        }
        let bytes = Self::encode(&self.inner.lock().expect("lock"));
        write(&dir.join(FILE), &bytes)
    }

    fn encode(inner: &Inner) -> Vec<u8> {
        let miner = String::from_utf8(inner.miner.save()).expect("the miner saves JSON");
        let saved = Saved {
            version: 1,
            miner: serde_json::value::RawValue::from_string(miner).expect("the miner saves JSON"),
            first_seen: inner.first_seen.iter().map(|(k, v)| (*k, *v)).collect(),
        };
        serde_json::to_vec(&saved).expect("serialisable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(container: &str, message: &str, at: i64) -> Record {
        let mut r = Record::new(Timestamp(at), message);
        r.container = container.into();
        r
    }

    /// Two patterns the miner merges stay one for queries (either id means both), and
    /// their first-seen time is the earlier one; a restart from the saved state keeps
    /// it all.
    #[test]
    fn merged_ids_mean_the_same_pattern_and_survive_a_restart() {
        let tmp = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&tmp.path().join("partitions")).unwrap();
        // One child per tree node makes this miner merge the shapes below (see the
        // miner's own merge test).
        let config = || Config {
            max_children: 1,
            similarity: 0.5,
            merge_skeletons: false,
            settled_after: 0,
            ..Config::default()
        };
        let p = Patterns::with_config(tmp.path(), &catalog, config());
        let mut records = vec![
            rec("merge-test", "x p c d", 10),
            rec("merge-test", "x q c e", 5),
            rec("merge-test", "x r c e", 20),
        ];
        p.assign(&mut records);
        let (a, b) = (records[0].pattern.unwrap(), records[1].pattern.unwrap());
        assert_ne!(a, b);
        assert!(equivalents(a).is_none());
        let mut last = vec![rec("merge-test", "x s c d", 30)];
        p.assign(&mut last);
        let survivor = a.min(b);
        assert_eq!(last[0].pattern, Some(survivor));
        let ids = equivalents(a.max(b)).expect("merged");
        assert_eq!(ids[0], survivor);
        assert!(ids.contains(&a) && ids.contains(&b));
        assert_eq!(canonical(a.max(b)), survivor);
        let d = p.describe(a.max(b)).unwrap();
        assert_eq!(d.id, survivor);
        assert_eq!(d.first_seen, Some(Timestamp(5)));
        assert_eq!(d.group, "merge-test");

        p.save(true).unwrap();
        let again = Patterns::with_config(tmp.path(), &catalog, config());
        let mut more = vec![rec("merge-test", "x t c e", 40)];
        again.assign(&mut more);
        assert_eq!(more[0].pattern, Some(survivor));
        assert_eq!(again.describe(b).unwrap().first_seen, Some(Timestamp(5)));
    }

    /// The state file unreadable: set aside, and the miner starts again (here from an
    /// empty catalog) rather than failing the server.
    #[test]
    fn an_unreadable_state_is_set_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&tmp.path().join("partitions")).unwrap();
        std::fs::write(tmp.path().join(FILE), b"{ not json").unwrap();
        let p = Patterns::open(tmp.path(), &catalog);
        let mut r = vec![rec("c", "hello 1", 1)];
        p.assign(&mut r);
        assert!(r[0].pattern.is_some());
        assert!(tmp.path().join("patterns.json.unreadable").exists());
    }

    #[test]
    fn groups_are_compose_services_then_containers() {
        let mut r = rec("shop-web-1", "m", 1);
        assert_eq!(group_of(&r), "shop-web-1");
        r.labels.insert(COMPOSE_SERVICE.into(), "web".into());
        assert_eq!(group_of(&r), "web");
        let mut otel = Record::new(Timestamp(1), "m");
        otel.fields.insert("service.name".into(), "checkout".into());
        otel.host = "h".into();
        assert_eq!(group_of(&otel), "checkout");
        otel.fields.clear();
        assert_eq!(group_of(&otel), "h");
    }
}
