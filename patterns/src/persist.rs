//! Saved state: versioned JSON holding the configuration, the groups with their "other"
//! counts, the live clusters in creation order, every leaf of every tree with its
//! clusters in order (empty leaves too: their nodes count against `max_children`), and
//! the aliases. Loading rebuilds the same trees, leaves and candidate orders, so a loaded
//! miner assigns exactly as the saved one would have.

use serde::{Deserialize, Serialize};

use crate::id::PatternId;
use crate::mask::{hash_str, VarKind};
use crate::miner::{Cluster, Config, Miner, Node, Tpl};
use crate::PatternsError;

/// The format written by [`Miner::save`].
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    config: Config,
    /// Groups in the order first seen.
    groups: Vec<SavedGroup>,
    /// Live clusters, in creation order.
    clusters: Vec<SavedCluster>,
    /// Per group (in `groups` order), its tree's leaves: path (token count, prefix keys)
    /// and the ids of the clusters there, in order. Sorted by path.
    leaves: Vec<Vec<(Vec<u64>, Vec<u64>)>>,
    /// Merged-away id → live id.
    aliases: Vec<(u64, u64)>,
}

#[derive(Serialize, Deserialize)]
struct SavedGroup {
    name: String,
    other_count: u64,
    /// Skeleton → pattern id, sorted.
    skeletons: Vec<(u64, u64)>,
}

#[derive(Serialize, Deserialize)]
struct SavedCluster {
    id: u64,
    group: u32,
    /// Literal positions as `"L text"`, variables as `"V <num>"`: a literal may read like a
    /// placeholder.
    template: Vec<String>,
    count: u64,
    sample: String,
}

impl Miner {
    /// The miner's state, to persist (versioned JSON; [`Miner::load`] reads it back).
    pub fn save(&self) -> Vec<u8> {
        let saved = Saved {
            version: VERSION,
            config: self.config.clone(),
            groups: self
                .groups
                .iter()
                .map(|g| {
                    let mut skeletons: Vec<(u64, u64)> =
                        g.skeletons.iter().map(|(k, v)| (*k, v.0)).collect();
                    skeletons.sort_unstable();
                    SavedGroup {
                        name: g.name.clone(),
                        other_count: g.other_count,
                        skeletons,
                    }
                })
                .collect(),
            clusters: self
                .clusters
                .iter()
                .filter(|cl| cl.live)
                .map(|cl| SavedCluster {
                    id: cl.id.0,
                    group: cl.group,
                    template: cl
                        .template
                        .iter()
                        .map(|t| match t {
                            Tpl::Lit { text, .. } => format!("L {text}"),
                            Tpl::Var(k) => format!("V {k}"),
                        })
                        .collect(),
                    count: cl.count,
                    sample: cl.sample.clone(),
                })
                .collect(),
            leaves: self
                .groups
                .iter()
                .map(|g| {
                    let mut leaves = Vec::new();
                    collect_leaves(&g.root, &mut Vec::new(), &mut leaves, &self.clusters);
                    leaves.sort();
                    leaves
                })
                .collect(),
            aliases: {
                let mut a: Vec<(u64, u64)> = self.alias.iter().map(|(k, v)| (k.0, v.0)).collect();
                a.sort_unstable();
                a
            },
        };
        serde_json::to_vec(&saved).expect("plain data serialises")
    }

    /// A miner from [`Miner::save`]'s bytes, continuing exactly where that one was.
    pub fn load(bytes: &[u8]) -> Result<Miner, PatternsError> {
        let saved: Saved = serde_json::from_slice(bytes)?;
        if saved.version != VERSION {
            return Err(PatternsError::Version {
                found: saved.version,
                expected: VERSION,
            });
        }
        let mut miner = Miner::new(saved.config);
        for sg in saved.groups {
            let g = miner.group_of(&sg.name);
            let group = &mut miner.groups[g as usize];
            group.other_count = sg.other_count;
            group.skeletons = sg
                .skeletons
                .into_iter()
                .map(|(k, v)| (k, PatternId(v)))
                .collect();
        }
        let bad = |what: String| PatternsError::Inconsistent(what);
        for sc in saved.clusters {
            if sc.group as usize >= miner.groups.len() {
                return Err(bad(format!(
                    "cluster {} of unknown group {}",
                    PatternId(sc.id),
                    sc.group
                )));
            }
            let template = sc
                .template
                .iter()
                .map(|t| match t.split_at_checked(2) {
                    Some(("L ", text)) => Ok(Tpl::Lit {
                        key: hash_str(text),
                        text: text.into(),
                    }),
                    Some(("V ", p)) => VarKind::from_placeholder(p)
                        .map(Tpl::Var)
                        .ok_or_else(|| bad(format!("unknown placeholder {p:?}"))),
                    _ => Err(bad(format!("template position {t:?}"))),
                })
                .collect::<Result<Vec<Tpl>, PatternsError>>()?;
            let idx = miner.clusters.len() as u32;
            let id = PatternId(sc.id);
            if miner.by_id.insert(id, idx).is_some() {
                return Err(bad(format!("cluster {id} twice")));
            }
            let group = &mut miner.groups[sc.group as usize];
            group.by_len.entry(template.len()).or_default().push(idx);
            group.live += 1;
            miner.clusters.push(Cluster {
                id,
                group: sc.group,
                template,
                count: sc.count,
                sample: sc.sample,
                live: true,
            });
        }
        if saved.leaves.len() != miner.groups.len() {
            return Err(bad("leaves for another number of groups".into()));
        }
        for (g, leaves) in saved.leaves.into_iter().enumerate() {
            for (path, ids) in leaves {
                let mut node = &mut miner.groups[g].root;
                for key in path {
                    node = node.children.entry(key).or_default();
                }
                for id in ids {
                    let &c = miner.by_id.get(&PatternId(id)).ok_or_else(|| {
                        bad(format!("leaf holds unknown cluster {}", PatternId(id)))
                    })?;
                    node.clusters.push(c);
                }
            }
        }
        for (gone, keep) in saved.aliases {
            let (gone, keep) = (PatternId(gone), PatternId(keep));
            if !miner.by_id.contains_key(&keep) {
                return Err(bad(format!("alias {gone} to {keep}, which is not live")));
            }
            miner.alias.insert(gone, keep);
            miner.merged.entry(keep).or_default().push(gone);
        }
        for list in miner.merged.values_mut() {
            list.sort_unstable();
        }
        Ok(miner)
    }
}

/// Every node without children, with its path and its clusters' ids.
fn collect_leaves(
    node: &Node,
    path: &mut Vec<u64>,
    out: &mut Vec<(Vec<u64>, Vec<u64>)>,
    clusters: &[Cluster],
) {
    if node.children.is_empty() && !path.is_empty() {
        let ids = node
            .clusters
            .iter()
            .map(|&c| clusters[c as usize].id.0)
            .collect();
        out.push((path.clone(), ids));
    }
    for (key, child) in &node.children {
        path.push(*key);
        collect_leaves(child, path, out, clusters);
        path.pop();
    }
}
