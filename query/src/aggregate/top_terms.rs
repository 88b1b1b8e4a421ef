//! Exact top values of a keyword field, fast even when it has millions of distinct
//! values (paths with ids, user names, trace ids).
//!
//! Tantivy's `terms` aggregation merges segments by materialising every term of every
//! segment as a string; keeping them all (for exact counts) is slow on high-cardinality
//! fields, and cutting each segment's list short (Elasticsearch's `shard_size`) makes
//! counts approximate. Here each segment counts by term ordinal into a vector, and the
//! top values are found with the threshold algorithm (Fagin, Lotem and Naor, 2003): take
//! each segment's top `k'` terms as candidates, count every candidate exactly in every
//! segment by dictionary lookup, and stop once the `size`-th candidate beats the most
//! any other term could have (the sum of each segment's `k'`-th count); otherwise grow
//! `k'` and go again. The answer is exact, and usually found in the first round.
//!
//! Used for a top-level `terms` aggregation with no sub-aggregation, ordered by count,
//! on a field whose values are strings in every segment; everything else goes through
//! Tantivy's aggregations.

use serde_json::{json, Map, Value};
use std::collections::HashMap;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{ColumnIndex, StrColumn};
use tantivy::{DocId, SegmentReader};

/// What a top-values request asks.
#[derive(Debug, Clone, PartialEq)]
pub struct TopTerms {
    /// The keyword field or `fields.`/`labels.` path.
    pub field: String,
    /// How many values to return.
    pub size: usize,
}

impl TopTerms {
    /// The request, when `agg` (a prepared aggregation) can be answered here: a `terms`
    /// aggregation without sub-aggregations, ordered by descending count, listing only
    /// values that occur, with no `missing`, `include` or `exclude`, and no
    /// `shard_size` asked for.
    pub fn eligible(agg: &Value) -> Option<TopTerms> {
        let obj = agg.as_object()?;
        if obj.len() != 1 {
            return None;
        }
        let terms = obj.get("terms")?.as_object()?;
        for (k, v) in terms {
            let ok = match k.as_str() {
                "field" | "size" | "show_term_doc_count_error" => true,
                "segment_size" => v.as_u64() == Some(super::request::ALL_TERMS),
                "min_doc_count" => v.as_u64() == Some(1),
                "order" => *v == json!({"_count": "desc"}),
                _ => false,
            };
            if !ok {
                return None;
            }
        }
        let size = terms.get("size").map_or(Some(10), Value::as_u64)?;
        Some(TopTerms {
            field: terms.get("field")?.as_str()?.to_string(),
            size: size as usize,
        })
    }
}

impl TopTerms {
    /// The request of a top-level `terms` aggregation with sub-aggregations that is
    /// otherwise [`eligible`](Self::eligible): its top values can be chosen here, and
    /// the sub-aggregations run for those alone. Ties at the cut are broken by value,
    /// as Tantivy breaks them, so the same values are chosen.
    pub fn eligible_parent(agg: &Value) -> Option<TopTerms> {
        let obj = agg.as_object()?;
        if obj.len() != 2 || !obj.contains_key("aggs") {
            return None;
        }
        let top = TopTerms::eligible(&json!({"terms": obj.get("terms")?}))?;
        (top.size > 0).then_some(top)
    }
}

/// One segment's counts of matching records per value of the field.
pub struct SegmentCounts {
    column: StrColumn,
    counts: Vec<u32>,
    /// Ordinals with a count, most frequent first, sorted as far as asked.
    ranked: Vec<u32>,
    sorted_upto: usize,
}

impl SegmentCounts {
    /// Values counted (a record with two values counts twice).
    fn values(&self) -> u64 {
        self.counts.iter().map(|&c| u64::from(c)).sum()
    }

    fn count_of(&self, term: &str) -> std::io::Result<u64> {
        Ok(self
            .column
            .dictionary()
            .term_ord(term)?
            .map_or(0, |ord| u64::from(self.counts[ord as usize])))
    }

    /// The ordinals of the `k` most frequent values, and the count of the `k`-th (0
    /// when the segment has no more than `k` values: then nothing is left out).
    fn top(&mut self, k: usize) -> (&[u32], u64) {
        let n = self.ranked.len();
        if k < n && k > self.sorted_upto {
            let counts = &self.counts;
            let key = |o: &u32| std::cmp::Reverse(counts[*o as usize]);
            self.ranked.select_nth_unstable_by_key(k, key);
            self.ranked[..k].sort_unstable_by_key(key);
            self.sorted_upto = k;
        } else if k >= n && self.sorted_upto < n {
            let counts = &self.counts;
            self.ranked
                .sort_unstable_by_key(|o| std::cmp::Reverse(counts[*o as usize]));
            self.sorted_upto = n;
        }
        let k = k.min(n);
        let threshold = if k < n {
            u64::from(self.counts[self.ranked[k - 1] as usize])
        } else {
            0
        };
        (&self.ranked[..k], threshold)
    }
}

/// Counts the field's values per segment; `None` from a segment whose values of the
/// field are not all strings.
pub struct CountCollector {
    /// The field.
    pub field: String,
}

/// The per-segment side of [`CountCollector`].
pub struct SegmentCountCollector {
    column: Option<StrColumn>,
    multivalued: bool,
    counts: Vec<u32>,
    ords: Vec<Option<u64>>,
    eligible: bool,
}

impl Collector for CountCollector {
    type Fruit = Option<Vec<SegmentCounts>>;
    type Child = SegmentCountCollector;

    fn for_segment(&self, _: u32, reader: &SegmentReader) -> tantivy::Result<Self::Child> {
        let ff = reader.fast_fields();
        let handles = ff.dynamic_column_handles(&self.field)?;
        let eligible = handles
            .iter()
            .all(|h| h.column_type() == tantivy::columnar::ColumnType::Str);
        let column = if eligible { ff.str(&self.field)? } else { None };
        let multivalued = column
            .as_ref()
            .is_some_and(|c| matches!(c.ords().index, ColumnIndex::Multivalued(_)));
        let counts = vec![0; column.as_ref().map_or(0, |c| c.num_terms())];
        Ok(SegmentCountCollector {
            column,
            multivalued,
            counts,
            ords: Vec::new(),
            eligible,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        segments: Vec<Option<(StrColumn, Vec<u32>)>>,
    ) -> tantivy::Result<Self::Fruit> {
        let mut out = Vec::with_capacity(segments.len());
        for s in segments {
            let Some((column, counts)) = s else {
                return Ok(None);
            };
            let ranked: Vec<u32> = (0..counts.len() as u32)
                .filter(|o| counts[*o as usize] > 0)
                .collect();
            out.push(SegmentCounts {
                column,
                counts,
                ranked,
                sorted_upto: 0,
            });
        }
        Ok(Some(out))
    }
}

impl SegmentCollector for SegmentCountCollector {
    /// The column and its counts; `None` when the segment is not eligible. A segment
    /// without the field answers an empty column.
    type Fruit = Option<(StrColumn, Vec<u32>)>;

    fn collect(&mut self, doc: DocId, _score: tantivy::Score) {
        self.collect_block(&[doc]);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        let Some(column) = &self.column else {
            return;
        };
        if self.multivalued {
            for &doc in docs {
                for ord in column.term_ords(doc) {
                    self.counts[ord as usize] += 1;
                }
            }
        } else {
            self.ords.resize(docs.len(), None);
            column.ords().first_vals(docs, &mut self.ords);
            for ord in self.ords.iter().flatten() {
                self.counts[*ord as usize] += 1;
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        if !self.eligible {
            return None;
        }
        match self.column {
            Some(c) => Some((c, self.counts)),
            None => Some((
                StrColumn::wrap(tantivy::columnar::BytesColumn::empty(0)),
                Vec::new(),
            )),
        }
    }
}

/// The exact `size` most frequent values over all `units` (segments of any number of
/// shards), most frequent first and by value among equals, in Elasticsearch's terms
/// result shape.
///
/// Two ways, both exact. When the candidates of one round of the threshold algorithm
/// are few next to the values the segments hold, that round is tried: it settles when
/// the counts are skewed (a few paths, levels or users carry most records). Otherwise,
/// or when it does not settle, every segment's sorted dictionary is read once, merged
/// by value, and the top `size` kept. Looking each candidate up by value costs a
/// dictionary block search per candidate per segment: on evenly spread values (50,000
/// users over 1M records) the rounds never settled, grew to every value, and took
/// half a minute; the merge reads each dictionary in order and takes well under a second.
pub fn exact_top(units: &mut [SegmentCounts], size: usize) -> std::io::Result<Value> {
    let total: u64 = units.iter().map(SegmentCounts::values).sum();
    let held: usize = units.iter().map(|u| u.ranked.len()).sum();
    let k = (size * 4).max(256);
    let lookups = k.saturating_mul(units.len()).saturating_mul(units.len());
    let top = match (size, lookups.saturating_mul(16) <= held) {
        (0, _) => Some(Vec::new()),
        (_, true) => threshold_round(units, size, k)?,
        (_, false) => None,
    };
    let top = match top {
        Some(t) => t,
        None => merged_top(units, size)?,
    };
    let listed: u64 = top.iter().map(|t| t.1).sum();
    let buckets: Vec<Value> = top
        .into_iter()
        .map(|(key, doc_count)| json!({"key": key, "doc_count": doc_count}))
        .collect();
    let mut out = Map::new();
    out.insert("doc_count_error_upper_bound".into(), json!(0));
    out.insert("sum_other_doc_count".into(), json!(total - listed));
    out.insert("buckets".into(), Value::Array(buckets));
    Ok(Value::Object(out))
}

/// One round of the threshold algorithm with `k` candidates per segment: the top
/// `size`, or `None` when a value outside the candidates could still belong there.
fn threshold_round(
    units: &mut [SegmentCounts],
    size: usize,
    k: usize,
) -> std::io::Result<Option<Vec<(String, u64)>>> {
    let mut candidates: HashMap<String, ()> = HashMap::new();
    let mut bound = 0u64;
    for u in units.iter_mut() {
        let (top, threshold) = u.top(k);
        let mut ords: Vec<u64> = top.iter().map(|&o| u64::from(o)).collect();
        bound += threshold;
        // In ordinal order the dictionary is read forwards, block by block.
        ords.sort_unstable();
        u.column
            .dictionary()
            .sorted_ords_to_term_cb(&ords, |term| {
                candidates.insert(String::from_utf8_lossy(term).into_owned(), ());
            })?;
    }
    let mut exact: Vec<(String, u64)> = Vec::with_capacity(candidates.len());
    for term in candidates.into_keys() {
        let mut n = 0;
        for u in units.iter() {
            n += u.count_of(&term)?;
        }
        exact.push((term, n));
    }
    exact.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    // Any term not among the candidates has at most `bound`; a tie with it could
    // order before ours by value, so ours must be strictly above.
    let settled = bound == 0
        || exact
            .get(size.saturating_sub(1))
            .is_some_and(|t| t.1 > bound);
    if !settled {
        return Ok(None);
    }
    exact.truncate(size);
    Ok(Some(exact))
}

/// A kept value, ordered so that the worst (fewest records, then greatest value) is
/// the greatest: the top of a max-heap is the one to drop.
#[derive(PartialEq, Eq)]
struct Kept(u64, Vec<u8>);

impl Ord for Kept {
    fn cmp(&self, other: &Kept) -> std::cmp::Ordering {
        other.0.cmp(&self.0).then_with(|| self.1.cmp(&other.1))
    }
}

impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Kept) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The top `size` (at least 1) by merging every segment's dictionary in value order:
/// each value's count is complete when the merge passes it, so memory stays at
/// `size` values whatever the cardinality.
fn merged_top(units: &[SegmentCounts], size: usize) -> std::io::Result<Vec<(String, u64)>> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    let mut streams = Vec::with_capacity(units.len());
    for u in units {
        streams.push(u.column.dictionary().stream()?);
    }
    // The smallest current value of every stream, to merge them in order.
    let mut fronts: BinaryHeap<Reverse<(Vec<u8>, usize)>> = BinaryHeap::new();
    for (i, s) in streams.iter_mut().enumerate() {
        if s.advance() {
            fronts.push(Reverse((s.key().to_vec(), i)));
        }
    }
    let mut kept: BinaryHeap<Kept> = BinaryHeap::with_capacity(size + 1);
    while let Some(Reverse((term, _))) = fronts.peek() {
        let term = term.clone();
        let mut n = 0u64;
        while let Some(Reverse((t, i))) = fronts.peek() {
            if *t != term {
                break;
            }
            let i = *i;
            fronts.pop();
            let s = &mut streams[i];
            n += u64::from(units[i].counts[s.term_ord() as usize]);
            if s.advance() {
                fronts.push(Reverse((s.key().to_vec(), i)));
            }
        }
        // Values come in increasing order: an equal count never beats a kept one.
        if n > 0 && (kept.len() < size || kept.peek().is_some_and(|w| n > w.0)) {
            kept.push(Kept(n, term));
            if kept.len() > size {
                kept.pop();
            }
        }
    }
    let mut top: Vec<(String, u64)> = kept
        .into_iter()
        .map(|Kept(n, t)| (String::from_utf8_lossy(&t).into_owned(), n))
        .collect();
    top.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(top)
}
