//! Per value of one keyword field: how many matching records, the first and last of
//! their times, and how many fall in each bucket of a fixed width — in one pass over
//! two columns, with flat per-segment arrays indexed by term ordinal.
//!
//! This is what the patterns view needs of every template at once (`terms` on `pattern`
//! with `min`, `max` and a `date_histogram` under it), at a fraction of the cost of
//! Tantivy's aggregation tree, which keeps a bucket map per term and per document
//! level.

use std::collections::HashMap;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DateTime, DocId, SegmentReader};

/// The buckets: `count` of `width_ms`, the first starting at `origin_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buckets {
    /// Start of the first bucket, in milliseconds since the epoch.
    pub origin_ms: i64,
    /// Width of each.
    pub width_ms: i64,
    /// How many; a time outside them counts in the total and the span only.
    pub count: usize,
}

/// What one value has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trend {
    /// Matching records.
    pub count: u64,
    /// Earliest time, in nanoseconds.
    pub first: i64,
    /// Latest time, in nanoseconds.
    pub last: i64,
    /// Records per bucket.
    pub buckets: Vec<u64>,
}

impl Trend {
    /// Adds `other` (the same value elsewhere: another segment, shard, or an id merged
    /// into this one).
    pub fn merge(&mut self, other: &Trend) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        self.count += other.count;
        self.first = self.first.min(other.first);
        self.last = self.last.max(other.last);
        if self.buckets.len() < other.buckets.len() {
            self.buckets.resize(other.buckets.len(), 0);
        }
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
    }
}

/// Trends by value; the records without one under `""` (their count only).
pub type Trends = HashMap<String, Trend>;

/// Collects the [`Trend`] of every value of `field` among the matching records.
pub struct TrendCollector {
    /// A keyword field (single-valued strings).
    pub field: String,
    /// The buckets.
    pub buckets: Buckets,
}

/// The per-segment side of [`TrendCollector`].
pub struct SegmentTrend {
    values: Option<StrColumn>,
    times: Column<DateTime>,
    buckets: Buckets,
    counts: Vec<u64>,
    first: Vec<i64>,
    last: Vec<i64>,
    /// `ord * buckets.count + bucket`.
    per_bucket: Vec<u64>,
    /// Matching records without a value.
    missing: u64,
    ords: Vec<Option<u64>>,
    stamps: Vec<Option<DateTime>>,
}

impl Collector for TrendCollector {
    type Fruit = Trends;
    type Child = SegmentTrend;

    fn for_segment(&self, _: u32, reader: &SegmentReader) -> tantivy::Result<SegmentTrend> {
        let ff = reader.fast_fields();
        let values = ff.str(&self.field)?;
        let terms = values.as_ref().map_or(0, |c| c.num_terms());
        Ok(SegmentTrend {
            values,
            times: ff.date(skein_indexer::schema::names::TIMESTAMP)?,
            buckets: self.buckets,
            counts: vec![0; terms],
            first: vec![i64::MAX; terms],
            last: vec![i64::MIN; terms],
            per_bucket: vec![0; terms * self.buckets.count],
            missing: 0,
            ords: Vec::new(),
            stamps: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Trends>) -> tantivy::Result<Trends> {
        Ok(merge(fruits))
    }
}

/// Merges trends of the same values from several places.
pub fn merge(parts: impl IntoIterator<Item = Trends>) -> Trends {
    let mut out = Trends::new();
    for part in parts {
        for (value, t) in part {
            match out.get_mut(&value) {
                Some(have) => have.merge(&t),
                None => {
                    out.insert(value, t);
                }
            }
        }
    }
    out
}

impl SegmentCollector for SegmentTrend {
    type Fruit = Trends;

    fn collect(&mut self, doc: DocId, _score: tantivy::Score) {
        self.collect_block(&[doc]);
    }

    fn collect_block(&mut self, docs: &[DocId]) {
        let Some(values) = &self.values else {
            self.missing += docs.len() as u64;
            return;
        };
        self.ords.resize(docs.len(), None);
        self.stamps.resize(docs.len(), None);
        values.ords().first_vals(docs, &mut self.ords);
        self.times.first_vals(docs, &mut self.stamps);
        let b = self.buckets;
        for (ord, stamp) in self.ords.iter().zip(&self.stamps) {
            let (Some(ord), Some(stamp)) = (ord, stamp) else {
                self.missing += 1;
                continue;
            };
            let ord = *ord as usize;
            let ns = stamp.into_timestamp_nanos();
            self.counts[ord] += 1;
            self.first[ord] = self.first[ord].min(ns);
            self.last[ord] = self.last[ord].max(ns);
            let at = (ns.div_euclid(1_000_000) - b.origin_ms).div_euclid(b.width_ms);
            if (0..b.count as i64).contains(&at) {
                self.per_bucket[ord * b.count + at as usize] += 1;
            }
        }
    }

    fn harvest(self) -> Trends {
        let mut out = Trends::new();
        if self.missing > 0 {
            out.insert(
                String::new(),
                Trend {
                    count: self.missing,
                    ..Trend::default()
                },
            );
        }
        let Some(values) = &self.values else {
            return out;
        };
        let n = self.buckets.count;
        let seen: Vec<u64> = (0..self.counts.len() as u64)
            .filter(|&ord| self.counts[ord as usize] > 0)
            .collect();
        // One pass over the dictionary: looking ordinals up one by one decompresses a
        // dictionary block each (with a new zstd context), which took most of the time
        // of a segment with thousands of patterns.
        let mut at = seen.iter();
        let _ = values.dictionary().sorted_ords_to_term_cb(&seen, |bytes| {
            let Some(&ord) = at.next() else {
                return;
            };
            let ord = ord as usize;
            out.insert(
                String::from_utf8_lossy(bytes).into_owned(),
                Trend {
                    count: self.counts[ord],
                    first: self.first[ord],
                    last: self.last[ord],
                    buckets: self.per_bucket[ord * n..(ord + 1) * n].to_vec(),
                },
            );
        });
        out
    }
}
