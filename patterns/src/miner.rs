//! The miner: per group a fixed-depth prefix tree of clusters (Drain), template
//! generalisation, merges with stable ids, and the cap.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::id::PatternId;
use crate::mask::{self, Token, VarKind, WILD};

/// Tuning of the miner. [`Config::default`] is what the benchmark measures. Saved with
/// the state; a field missing from saved state takes its default.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Config {
    /// At most this many clusters (templates) per group; lines of a full group that match
    /// none of them get [`PatternId::other`]. A pattern may hold several clusters.
    pub max_patterns_per_group: usize,
    /// A line joins the most similar cluster of its leaf when at least this share of its
    /// positions agree with the template (Drain's `sim_th`).
    pub similarity: f64,
    /// How many leading tokens choose the leaf, below the token count (Drain's depth − 2).
    pub prefix_tokens: usize,
    /// At most this many children per tree node; more go under the wildcard child.
    pub max_children: usize,
    /// Lines longer than this many tokens are cut there (the rest is one `<*>`).
    pub max_tokens: usize,
    /// Clusters whose templates have the same literal words in the same order (ignoring
    /// variables, masked parts and units after numbers) are one pattern, whatever their
    /// lengths: `sent 5 bytes (5 KB) in 3 ms` and `sent 0 bytes in <1 sec`.
    pub merge_skeletons: bool,
    /// A template position that has held the same literal over this many lines is taken
    /// as constant: a line with another word there starts another pattern instead of
    /// widening it (`… through proxy HTTPS` ×1000 is not one pattern with `… SOCKS5`).
    /// 0 turns it off.
    pub settled_after: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_patterns_per_group: 1000,
            similarity: 0.7,
            prefix_tokens: 2,
            max_children: 100,
            max_tokens: 128,
            merge_skeletons: true,
            settled_after: 10,
        }
    }
}

/// One live pattern, as [`Miner::patterns`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternInfo {
    /// Its id (live: [`Miner::resolve`] gives it back).
    pub id: PatternId,
    /// The group it belongs to.
    pub group: String,
    /// The template, variables shown as `<*>` or typed (`<num>`, `<ip>`, …); `<other>` for
    /// a group's "other" pattern.
    pub template: String,
    /// Lines assigned to it (and to the patterns merged into it) by this miner.
    pub count: u64,
    /// The first message that created it.
    pub sample: String,
}

/// Identity hasher for keys that are hashes already (token keys).
#[derive(Default)]
pub(crate) struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = mask::fnv(self.0, bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
    fn write_usize(&mut self, v: usize) {
        self.0 = (v as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type KeyMap<K, V> = HashMap<K, V, BuildHasherDefault<KeyHasher>>;

/// A position of a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tpl {
    /// Text that every line of the cluster has here (maybe with masked parts, `(uid=<num>)`).
    Lit { key: u64, text: Box<str> },
    /// A variable.
    Var(VarKind),
}

impl Tpl {
    fn text(&self) -> &str {
        match self {
            Tpl::Lit { text, .. } => text,
            Tpl::Var(k) => k.placeholder(),
        }
    }

    /// `self` accepts everything `other` does.
    fn subsumes(&self, other: &Tpl) -> bool {
        match (self, other) {
            (Tpl::Var(VarKind::Any), _) => true,
            (Tpl::Var(a), Tpl::Var(b)) => a == b,
            (Tpl::Lit { key: a, .. }, Tpl::Lit { key: b, .. }) => a == b,
            _ => false,
        }
    }
}

pub(crate) struct Cluster {
    pub(crate) id: PatternId,
    pub(crate) group: u32,
    pub(crate) template: Vec<Tpl>,
    pub(crate) count: u64,
    pub(crate) sample: String,
    pub(crate) live: bool,
}

#[derive(Default)]
pub(crate) struct Node {
    pub(crate) children: KeyMap<u64, Node>,
    /// Clusters (indices into `Miner::clusters`) in creation order: ties go to the older.
    pub(crate) clusters: Vec<u32>,
}

pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) root: Node,
    /// Live clusters by token count, in creation order: the candidates of a merge.
    pub(crate) by_len: KeyMap<usize, Vec<u32>>,
    pub(crate) live: usize,
    pub(crate) other: PatternId,
    pub(crate) other_count: u64,
    /// Skeleton (literal words in order) → the first pattern that had it.
    pub(crate) skeletons: KeyMap<u64, PatternId>,
}

/// The pattern miner. `Send`; not `Sync`-shared: wrap it in a `Mutex`.
pub struct Miner {
    pub(crate) config: Config,
    pub(crate) groups: Vec<Group>,
    pub(crate) group_index: HashMap<String, u32>,
    /// Every cluster ever made, live or merged away, in creation order.
    pub(crate) clusters: Vec<Cluster>,
    /// Live clusters by id.
    pub(crate) by_id: KeyMap<PatternId, u32>,
    /// Merged-away id → the live id it resolves to (always direct, never a chain).
    pub(crate) alias: KeyMap<PatternId, PatternId>,
    /// Live id → the ids merged into it.
    pub(crate) merged: KeyMap<PatternId, Vec<PatternId>>,
    /// "Other" id → its group.
    pub(crate) others: KeyMap<PatternId, u32>,
    /// Tokens of the line being assigned, reused so assignment does not allocate.
    scratch: Vec<Token>,
    /// The group of the previous line.
    last_group: u32,
}

impl Miner {
    /// An empty miner.
    pub fn new(config: Config) -> Miner {
        Miner {
            config,
            groups: Vec::new(),
            group_index: HashMap::new(),
            clusters: Vec::new(),
            by_id: KeyMap::default(),
            alias: KeyMap::default(),
            merged: KeyMap::default(),
            others: KeyMap::default(),
            scratch: Vec::with_capacity(64),
            last_group: 0,
        }
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn group_of(&mut self, group: &str) -> u32 {
        // Lines come in runs of one container: comparing with the last group is cheaper
        // than hashing the name.
        if let Some(g) = self.groups.get(self.last_group as usize) {
            if g.name == group {
                return self.last_group;
            }
        }
        if let Some(&g) = self.group_index.get(group) {
            self.last_group = g;
            return g;
        }
        let g = self.groups.len() as u32;
        let other = PatternId::other(group);
        self.groups.push(Group {
            name: group.to_string(),
            root: Node::default(),
            by_len: KeyMap::default(),
            live: 0,
            other,
            other_count: 0,
            skeletons: KeyMap::default(),
        });
        self.group_index.insert(group.to_string(), g);
        self.others.insert(other, g);
        g
    }

    /// Learns from and assigns one message of `group`. Beyond the cap a group's lines that
    /// match none of its patterns get that group's "other" id, [`PatternId::other`]`(group)`.
    /// The id returned is live (`resolve` gives it back) until a later line merges it.
    pub fn assign(&mut self, group: &str, message: &str) -> PatternId {
        let g = self.group_of(group);
        let mut tokens = std::mem::take(&mut self.scratch);
        mask::tokenize(message, &mut tokens, self.config.max_tokens);
        let id = self.assign_tokens(g, message, &tokens);
        self.scratch = tokens;
        id
    }

    fn assign_tokens(&mut self, g: u32, message: &str, tokens: &[Token]) -> PatternId {
        let best = self.best_match(g, tokens);
        if let Some(c) = best {
            let changed = self.absorb(c, tokens);
            let cl = &mut self.clusters[c as usize];
            cl.count += 1;
            let id = cl.id;
            if changed {
                self.after_change(c);
            }
            return self.resolve(id);
        }
        let group = &mut self.groups[g as usize];
        if group.live >= self.config.max_patterns_per_group {
            group.other_count += 1;
            return group.other;
        }
        let c = self.create(g, message, tokens);
        let id = self.clusters[c as usize].id;
        self.after_change(c);
        self.resolve(id)
    }

    /// After cluster `c` was created or its template widened: the merges that may follow.
    fn after_change(&mut self, c: u32) {
        let c = self.merge_subsumed(c);
        if self.config.merge_skeletons {
            let cl = &self.clusters[c as usize];
            if let Some(skel) = skeleton(&cl.template) {
                let id = cl.id;
                let group = &mut self.groups[cl.group as usize];
                match group.skeletons.get(&skel) {
                    Some(&p) => self.union(p, id),
                    None => {
                        group.skeletons.insert(skel, id);
                    }
                }
            }
        }
    }

    /// Makes `a` and `b` one pattern: the smaller root id survives, the other root and
    /// every id merged into it alias to it.
    fn union(&mut self, a: PatternId, b: PatternId) {
        let (ra, rb) = (self.resolve(a), self.resolve(b));
        if ra == rb {
            return;
        }
        let (keep, gone) = if ra < rb { (ra, rb) } else { (rb, ra) };
        let mut moved = self.merged.remove(&gone).unwrap_or_default();
        moved.push(gone);
        for m in &moved {
            self.alias.insert(*m, keep);
        }
        let list = self.merged.entry(keep).or_default();
        list.extend(moved);
        list.sort_unstable();
    }

    fn best_match(&self, g: u32, tokens: &[Token]) -> Option<u32> {
        let group = &self.groups[g as usize];
        let mut node = group.root.children.get(&(tokens.len() as u64))?;
        let depth = self.config.prefix_tokens.min(tokens.len());
        for t in &tokens[..depth] {
            node = match node.children.get(&t.level) {
                Some(n) => n,
                None => node.children.get(&WILD)?,
            };
        }
        let mut best: Option<(u32, f64, usize)> = None;
        let settled = self.config.settled_after;
        for &c in &node.clusters {
            let cl = &self.clusters[c as usize];
            let (same, params) = similarity(&cl.template, tokens);
            if settled > 0 && cl.count >= settled && same + params < tokens.len() {
                continue;
            }
            let sim = same as f64 / tokens.len().max(1) as f64;
            let better = match best {
                None => true,
                Some((_, s, p)) => sim > s || (sim == s && params > p),
            };
            if better {
                best = Some((c, sim, params));
            }
        }
        match best {
            Some((c, sim, _)) if sim >= self.config.similarity || tokens.is_empty() => Some(c),
            _ => None,
        }
    }

    /// Widens cluster `c`'s template to accept `tokens`; true when it changed.
    fn absorb(&mut self, c: u32, tokens: &[Token]) -> bool {
        let cl = &mut self.clusters[c as usize];
        let mut changed = false;
        for (tpl, t) in cl.template.iter_mut().zip(tokens) {
            let keep = match tpl {
                Tpl::Lit { key, .. } => *key == t.key,
                Tpl::Var(VarKind::Any) => true,
                Tpl::Var(k) => t.is_var() && t.var == Some(*k),
            };
            if !keep {
                *tpl = Tpl::Var(VarKind::Any);
                changed = true;
            }
        }
        changed
    }

    /// Files a new cluster for `tokens` and answers it.
    fn create(&mut self, g: u32, message: &str, tokens: &[Token]) -> u32 {
        let template: Vec<Tpl> = tokens
            .iter()
            .map(|t| {
                if t.is_var() {
                    Tpl::Var(t.var.expect("is_var"))
                } else {
                    Tpl::Lit {
                        key: t.key,
                        text: t.masked(message).into_boxed_str(),
                    }
                }
            })
            .collect();
        let text = render(&template);
        let group = &self.groups[g as usize];
        let mut salt = 0;
        let id = loop {
            // The same template may be created twice in a group (its first cluster was
            // generalised beyond the similarity threshold of this line, or merged away): the
            // second gets a salted id, so ids stay unique.
            let id = PatternId::of_template(&group.name, &text, salt);
            if !self.by_id.contains_key(&id)
                && !self.alias.contains_key(&id)
                && !self.others.contains_key(&id)
            {
                break id;
            }
            salt += 1;
        };
        let mut path = Vec::with_capacity(1 + self.config.prefix_tokens);
        path.push(tokens.len() as u64);
        let depth = self.config.prefix_tokens.min(tokens.len());
        path.extend(tokens[..depth].iter().map(|t| t.level));
        let c = self.clusters.len() as u32;
        self.clusters.push(Cluster {
            id,
            group: g,
            template,
            count: 1,
            sample: message.to_string(),
            live: true,
        });
        self.file(c, &mut path);
        c
    }

    /// Puts new cluster `c` into its group's tree at `path` (token count, then the prefix
    /// tokens' keys; a key goes under the wildcard when its node is full), by_len and by_id.
    fn file(&mut self, c: u32, path: &mut [u64]) {
        let max_children = self.config.max_children;
        let cl = &self.clusters[c as usize];
        let group = &mut self.groups[cl.group as usize];
        let mut node = &mut group.root;
        for (level, key) in path.iter_mut().enumerate() {
            // The token-count level is never capped.
            if level > 0 && !node.children.contains_key(key) && node.children.len() >= max_children
            {
                *key = WILD;
            }
            node = node.children.entry(*key).or_default();
        }
        node.clusters.push(c);
        group.by_len.entry(cl.template.len()).or_default().push(c);
        group.live += 1;
        self.by_id.insert(cl.id, c);
    }

    /// After cluster `c`'s template was widened: merges every cluster of its group that it
    /// now subsumes or that subsumes it. Answers the cluster `c`'s lines are in now.
    fn merge_subsumed(&mut self, c: u32) -> u32 {
        let mut c = c;
        loop {
            let cl = &self.clusters[c as usize];
            let group = &self.groups[cl.group as usize];
            let other = group.by_len.get(&cl.template.len()).and_then(|list| {
                list.iter().copied().find(|&o| {
                    o != c && {
                        let ot = &self.clusters[o as usize].template;
                        subsumes(&cl.template, ot) || subsumes(ot, &cl.template)
                    }
                })
            });
            match other {
                None => return c,
                Some(o) => c = self.merge(c, o),
            }
        }
    }

    /// Merges clusters `a` and `b` (one subsumes the other): the one with the smaller id
    /// stays in the tree with the wider template, the other's id joins its pattern.
    /// Answers the survivor.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        let (keep, gone) = if self.clusters[a as usize].id < self.clusters[b as usize].id {
            (a, b)
        } else {
            (b, a)
        };
        let wide = if subsumes(
            &self.clusters[a as usize].template,
            &self.clusters[b as usize].template,
        ) {
            self.clusters[a as usize].template.clone()
        } else {
            self.clusters[b as usize].template.clone()
        };
        let gone_count = self.clusters[gone as usize].count;
        let gone_id = self.clusters[gone as usize].id;
        let keep_id = self.clusters[keep as usize].id;
        {
            let k = &mut self.clusters[keep as usize];
            k.template = wide;
            k.count += gone_count;
        }
        self.unfile(gone, keep);
        self.union(keep_id, gone_id);
        keep
    }

    /// Takes cluster `gone` out of its group's by_len and by_id, marks it merged, and puts
    /// `keep` in its place in every leaf that held it: lines that reached `gone` through
    /// the tree now reach the survivor.
    fn unfile(&mut self, gone: u32, keep: u32) {
        let cl = &mut self.clusters[gone as usize];
        cl.live = false;
        let group = &mut self.groups[cl.group as usize];
        if let Some(list) = group.by_len.get_mut(&cl.template.len()) {
            list.retain(|&x| x != gone);
        }
        group.live -= 1;
        self.by_id.remove(&cl.id);
        // Merges are rare: a walk over the group's tree is cheap enough.
        let mut stack = vec![&mut group.root];
        while let Some(node) = stack.pop() {
            if let Some(pos) = node.clusters.iter().position(|&x| x == gone) {
                if node.clusters.contains(&keep) {
                    node.clusters.remove(pos);
                } else {
                    node.clusters[pos] = keep;
                }
            }
            stack.extend(node.children.values_mut());
        }
    }

    /// Where an id that was merged into another now points (itself if live, and for an id
    /// this miner does not know).
    pub fn resolve(&self, id: PatternId) -> PatternId {
        self.alias.get(&id).copied().unwrap_or(id)
    }

    /// Every id that resolves to `id` (itself included), for query expansion: `pattern:X`
    /// must also match records stored under ids merged into X. Sorted, `id` first.
    pub fn aliases(&self, id: PatternId) -> Vec<PatternId> {
        let mut out = vec![id];
        if let Some(list) = self.merged.get(&id) {
            out.extend(list.iter().copied());
        }
        out
    }

    /// The live patterns: id, group, template, count, and a sample message; then each
    /// group's "other" pattern once it has a line. In creation order. A pattern may hold
    /// several clusters (lines of different lengths, see [`Config::merge_skeletons`]): its
    /// template and sample are those of the cluster whose id it has, its count theirs all.
    pub fn patterns(&self) -> impl Iterator<Item = PatternInfo> + '_ {
        let mut counts: KeyMap<PatternId, u64> = KeyMap::default();
        for c in self.clusters.iter().filter(|c| c.live) {
            *counts.entry(self.resolve(c.id)).or_default() += c.count;
        }
        let live: Vec<PatternInfo> = self
            .clusters
            .iter()
            .filter(|c| c.live && self.resolve(c.id) == c.id)
            .map(|c| PatternInfo {
                id: c.id,
                group: self.groups[c.group as usize].name.clone(),
                template: render(&c.template),
                count: counts[&c.id],
                sample: c.sample.clone(),
            })
            .collect();
        let others = self
            .groups
            .iter()
            .filter(|g| g.other_count > 0)
            .map(|g| PatternInfo {
                id: g.other,
                group: g.name.clone(),
                template: OTHER_TEMPLATE.to_string(),
                count: g.other_count,
                sample: String::new(),
            });
        live.into_iter().chain(others)
    }

    /// The template of a pattern: its own if live, its survivor's if merged, `<other>` for
    /// a group's "other" id, `None` for an unknown id.
    pub fn template(&self, id: PatternId) -> Option<String> {
        let id = self.resolve(id);
        if let Some(&c) = self.by_id.get(&id) {
            return Some(render(&self.clusters[c as usize].template));
        }
        self.others.get(&id).map(|_| OTHER_TEMPLATE.to_string())
    }

    /// How many ids have been merged into another; it only grows, so a caller can tell
    /// from it that its view of the aliases is stale.
    pub fn alias_count(&self) -> usize {
        self.alias.len()
    }

    /// Every merged-away id with the live id it resolves to.
    pub fn alias_pairs(&self) -> impl Iterator<Item = (PatternId, PatternId)> + '_ {
        self.alias.iter().map(|(gone, live)| (*gone, *live))
    }

    /// One pattern as [`Miner::patterns`] lists it: a live id, a merged one (described as
    /// its survivor) or a group's "other"; `None` for an id this miner does not know.
    pub fn info(&self, id: PatternId) -> Option<PatternInfo> {
        let id = self.resolve(id);
        if let Some(&c) = self.by_id.get(&id) {
            let c = &self.clusters[c as usize];
            return Some(PatternInfo {
                id,
                group: self.groups[c.group as usize].name.clone(),
                template: render(&c.template),
                count: c.count,
                sample: c.sample.clone(),
            });
        }
        let g = &self.groups[*self.others.get(&id)? as usize];
        Some(PatternInfo {
            id,
            group: g.name.clone(),
            template: OTHER_TEMPLATE.to_string(),
            count: g.other_count,
            sample: String::new(),
        })
    }

    /// How many clusters (templates) `group` has, the number the cap bounds; a pattern
    /// may hold several.
    pub fn cluster_count(&self, group: &str) -> usize {
        self.group_index
            .get(group)
            .map_or(0, |&g| self.groups[g as usize].live)
    }
}

/// The template shown for a group's "other" pattern.
pub const OTHER_TEMPLATE: &str = "<other>";

/// Positions of `template` that agree with `tokens` (literal equal, or both variables),
/// and positions where the template is a wildcard over a literal of the line (Drain's
/// parameter count, the tie-breaker).
#[inline]
fn similarity(template: &[Tpl], tokens: &[Token]) -> (usize, usize) {
    let mut same = 0;
    let mut params = 0;
    for (tpl, t) in template.iter().zip(tokens) {
        match tpl {
            Tpl::Lit { key, .. } => same += (*key == t.key) as usize,
            Tpl::Var(_) => {
                if t.is_var() {
                    same += 1
                } else {
                    params += 1
                }
            }
        }
    }
    (same, params)
}

fn subsumes(a: &[Tpl], b: &[Tpl]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.subsumes(y))
}

pub(crate) fn render(template: &[Tpl]) -> String {
    let mut s = String::new();
    for (i, t) in template.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(t.text());
    }
    s
}

/// The literal words of a template in order, without masked parts and units, hashed; None
/// when it has none (all-variable templates are not grouped by it).
fn skeleton(template: &[Tpl]) -> Option<u64> {
    let mut h = mask::fnv(0, b"skel");
    let mut any = false;
    for t in template {
        if let Tpl::Lit { key, text } = t {
            // `(<num>` and `KB)` say nothing about the event; `user=<*>` does.
            if mask::is_unit(text) || !has_word_outside_placeholders(text) {
                continue;
            }
            h = mask::fnv(h, &key.to_le_bytes());
            any = true;
        }
    }
    any.then_some(h)
}

/// `text` has a letter outside its `<…>` placeholders (`()` and `-` have none).
fn has_word_outside_placeholders(text: &str) -> bool {
    let mut inside = false;
    for c in text.chars() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            c if !inside && c.is_alphabetic() => return true,
            _ => {}
        }
    }
    false
}
