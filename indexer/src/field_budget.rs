//! How many payload fields become columns: per record and per partition, as
//! Elasticsearch's `index.mapping.total_fields.limit` bounds an index's mapping.
//!
//! Every distinct path under `fields` and `labels` is a column of its own in every
//! segment it appears in, and reading a hit opens the columns of its segment. One record
//! with 200,000 field names made every search of its day take seconds. So a partition
//! admits at most `per_partition` paths and a record at most `per_record`; the paths
//! beyond stay in the stored record (returned with every hit, searchable as text of
//! nothing else) but get no column, and the indexer reports them.
//!
//! Paths are tracked as 64-bit hashes of their column names (`fields.a.b`), computed
//! while walking the record without building strings, so the check costs a few hash
//! lookups per record.

use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashSet};

/// The column paths one partition has admitted, and its limits.
#[derive(Debug)]
pub(crate) struct FieldBudget {
    known: HashSet<u64>,
    per_record: usize,
    per_partition: usize,
    /// Paths refused since this budget was made.
    pub dropped: u64,
    /// One refused path, for the notice.
    pub example: Option<String>,
}

/// What a record may put in columns when some of its paths were refused.
pub(crate) struct Pruned {
    pub fields: Map<String, Value>,
    pub labels: BTreeMap<String, String>,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The hash of a column name as Tantivy lists it (`fields.a.b`).
fn column_hash(name: &str) -> u64 {
    fnv(FNV_OFFSET, name.as_bytes())
}

fn child(h: u64, key: &str) -> u64 {
    fnv(fnv(h, b"."), key.as_bytes())
}

impl FieldBudget {
    /// A budget that already admits `columns` (the `fields.`/`labels.` column names the
    /// partition's segments hold).
    pub fn new<'a>(
        columns: impl IntoIterator<Item = &'a str>,
        per_record: usize,
        per_partition: usize,
    ) -> FieldBudget {
        FieldBudget {
            known: columns.into_iter().map(column_hash).collect(),
            per_record,
            per_partition,
            dropped: 0,
            example: None,
        }
    }

    /// Admits the paths of one record. `None`: every path has a column (the common
    /// case, nothing copied or allocated); else the parts that may become columns.
    pub fn admit(
        &mut self,
        fields: &Map<String, Value>,
        labels: &BTreeMap<String, String>,
    ) -> Option<Pruned> {
        // Records of a source repeat their shape: a pass that only looks comes first.
        let (mut leaves, mut all_known) = (0usize, true);
        paths(fields, labels, &mut |h| {
            leaves += 1;
            all_known &= self.known.contains(&h);
        });
        if all_known && leaves <= self.per_record {
            return None;
        }
        let mut verdicts = Vec::with_capacity(leaves);
        let mut kept = 0usize;
        let mut refused = false;
        let known = &mut self.known;
        paths(fields, labels, &mut |h| {
            let keep = kept < self.per_record
                && (known.contains(&h) || (known.len() < self.per_partition && known.insert(h)));
            kept += usize::from(keep);
            refused |= !keep;
            verdicts.push(keep);
        });
        if !refused {
            return None;
        }
        self.dropped += verdicts.iter().filter(|keep| !**keep).count() as u64;
        let mut verdicts = verdicts.into_iter();
        let mut example = None;
        let fields = prune(fields, &mut verdicts, "fields", &mut example);
        let labels = labels
            .iter()
            .filter(|(k, _)| {
                let keep = verdicts.next().unwrap_or(false);
                if !keep && example.is_none() {
                    example = Some(format!("labels.{k}"));
                }
                keep
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        self.example = self.example.take().or(example);
        Some(Pruned { fields, labels })
    }
}

/// Calls `leaf` with the hash of every column path of a record: its `fields` leaves in
/// [`walk`]'s order, then its labels.
fn paths(
    fields: &Map<String, Value>,
    labels: &BTreeMap<String, String>,
    leaf: &mut dyn FnMut(u64),
) {
    walk(fields, fnv(FNV_OFFSET, b"fields"), leaf);
    let root = fnv(FNV_OFFSET, b"labels");
    for key in labels.keys() {
        leaf(child(root, key));
    }
}

/// Calls `leaf` with the hash of every leaf path under `obj` (arrays and scalars are
/// leaves; objects are walked).
fn walk(obj: &Map<String, Value>, h: u64, leaf: &mut dyn FnMut(u64)) {
    for (k, v) in obj {
        let h = child(h, k);
        match v {
            Value::Object(inner) if !inner.is_empty() => walk(inner, h, leaf),
            _ => leaf(h),
        }
    }
}

/// `obj` with only the leaves `verdicts` keeps (in [`walk`]'s order); objects left
/// empty are dropped.
fn prune(
    obj: &Map<String, Value>,
    verdicts: &mut impl Iterator<Item = bool>,
    path: &str,
    example: &mut Option<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        match v {
            Value::Object(inner) if !inner.is_empty() => {
                let inner = prune(inner, verdicts, &format!("{path}.{k}"), example);
                if !inner.is_empty() {
                    out.insert(k.clone(), Value::Object(inner));
                }
            }
            _ => {
                if verdicts.next().unwrap_or(false) {
                    out.insert(k.clone(), v.clone());
                } else if example.is_none() {
                    *example = Some(format!("{path}.{k}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn known_paths_cost_nothing_and_new_ones_stop_at_the_limits() {
        let mut b = FieldBudget::new(["fields.a", "fields.n.x"], 3, 4);
        let none = BTreeMap::new();
        assert!(b
            .admit(&obj(json!({"a": 1, "n": {"x": "y"}})), &none)
            .is_none());
        // Two new paths fit the partition's four.
        assert!(b.admit(&obj(json!({"b": 1, "c": [1, 2]})), &none).is_none());
        // The partition is full: `d` stays out of the columns, `a` is kept.
        let p = b
            .admit(&obj(json!({"a": 2, "d": {"e": 1}})), &none)
            .unwrap();
        assert_eq!(Value::Object(p.fields), json!({"a": 2}));
        assert_eq!(b.dropped, 1);
        assert_eq!(b.example.as_deref(), Some("fields.d.e"));
        // Per record: at most three columns, whatever the partition knows.
        let p = b
            .admit(
                &obj(json!({"a": 1, "b": 2, "c": 3, "n": {"x": "y"}})),
                &none,
            )
            .unwrap();
        assert_eq!(Value::Object(p.fields), json!({"a": 1, "b": 2, "c": 3}));
    }

    #[test]
    fn labels_count_too() {
        let mut b = FieldBudget::new([], 10, 1);
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".into(), "x".into()),
        ]
        .into();
        let p = b.admit(&Map::new(), &labels).unwrap();
        assert_eq!(p.labels.len(), 1);
        assert!(p.labels.contains_key("app"));
        // A label and a field of the same name are different columns.
        let mut b = FieldBudget::new(["labels.app"], 10, 1);
        assert!(b.admit(&obj(json!({"app": 1})), &BTreeMap::new()).is_some());
    }

    #[test]
    fn hashes_while_walking_match_column_names() {
        let mut seen = Vec::new();
        walk(
            &obj(json!({"a": {"b": 1}})),
            fnv(FNV_OFFSET, b"fields"),
            &mut |h| seen.push(h),
        );
        assert_eq!(seen, vec![column_hash("fields.a.b")]);
    }
}
