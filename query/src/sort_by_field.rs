//! Hits sorted on fields other than time: keyword, numeric and date columns, several
//! keys, each ascending or descending, records without a value last in either order.
//!
//! Tantivy's `TopDocs::order_by` reads one typed column per key and fails on a segment
//! where the column is absent, which is common here: a `fields.` path exists only in the
//! segments whose records carried it, and a path can hold numbers in one record and
//! text in another. So each segment is read by its own collector: every column the path
//! has in that segment (any type), a record's value taken from the first that holds one
//! (numbers before text), an absent column meaning "missing" for every record. Within a
//! segment text compares by dictionary ordinal (the dictionary is sorted, so that is
//! the order of the strings); only a segment's own top hits are turned into strings, and
//! those are what segments and partitions are merged on.
//!
//! The order is total: after the keys comes the ingest order (`_ord`, unique per
//! record, ascending), so "strictly after this hit" is exact across pages, segments and
//! daily partitions.

use crate::page::{self, Bounds, CountMode};
use crate::search::{Order, SearchError};
use crate::shard::Shard;
use crate::stop::{collect_segment, Stop};
use skein_indexer::schema::{names, RecordLoader};
use skein_model::{Record, Timestamp};
use std::cmp::Ordering;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, DynamicColumn, StrColumn};
use tantivy::query::{EnableScoring, Query};
use tantivy::{DocAddress, DocId, Executor, Searcher, SegmentReader};

/// One sort key: a column path (`level`, `fields.status`, `labels.app`, `@timestamp`)
/// and its direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortField {
    /// The column, as the query language names it.
    pub field: String,
    /// Ascending or descending; missing values come last either way.
    pub order: Order,
}

/// A record's value of one sort key. Dates and booleans are numbers (epoch
/// milliseconds, 0 and 1), as Elasticsearch gives them in a hit's `sort`.
#[derive(Debug, Clone, PartialEq)]
pub enum SortValue {
    /// The record has no value (sorts last in both orders).
    Missing,
    /// A signed integer (also a date in epoch milliseconds, or a boolean).
    Int(i64),
    /// An unsigned integer past `i64::MAX`.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// Text.
    Str(String),
}

/// A hit's place in a field-sorted search: its values, then its ingest order.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldKey {
    /// One value per [`SortField`].
    pub values: Vec<SortValue>,
    /// `_ord`: the tiebreaker, ascending whatever the keys' directions.
    pub ord: u64,
}

/// What a shard is asked for a field-sorted page.
#[derive(Debug, Clone)]
pub struct FieldRequest<'a> {
    /// Query string.
    pub q: &'a str,
    /// What `now` means in the query's date math.
    pub now: Timestamp,
    /// Inclusive lower time bound.
    pub start: Option<Timestamp>,
    /// Inclusive upper time bound.
    pub end: Option<Timestamp>,
    /// The keys, most significant first.
    pub keys: &'a [SortField],
    /// Hits wanted.
    pub limit: usize,
    /// Only hits strictly after this key.
    pub after: Option<&'a FieldKey>,
    /// Only hits whose values equal those of `after` (the rest of its ties).
    pub ties_only: bool,
    /// Only hits strictly before this key (the last hit other shards already hold).
    pub before: Option<&'a FieldKey>,
    /// Whether to count all matches (ignoring `after`).
    pub count: bool,
    /// Whether hits come with their records; without, each hit's record is empty (for
    /// callers that need only the values, such as exact percentiles).
    pub load: bool,
    /// Stop reading a segment once it has shown more than this many records with a
    /// value of the first key (its hits are then cut short): for callers that only need
    /// every value while they are few, and to know when they are not.
    pub enough: Option<usize>,
    /// When to stop scanning.
    pub stop: &'a Stop,
}

/// A shard's answer: its count and its top hits in key order.
#[derive(Debug, Default)]
pub struct FieldResult {
    /// Matches in the shard (0 when not asked to count).
    pub total: u64,
    /// Top hits with their keys.
    pub hits: Vec<(FieldKey, Record)>,
    /// Per key, whether the shard holds numbers (or dates) under its path: the kind a
    /// missing value is shown as.
    pub numeric: Vec<bool>,
}

/// The answer of [`search_sorted`].
#[derive(Debug, Default)]
pub struct Sorted {
    /// Matches in every shard (0 when not asked to count).
    pub total: u64,
    /// The top hits in key order.
    pub hits: Vec<(FieldKey, Record)>,
    /// Per key, whether some shard holds numbers (or dates) under its path.
    pub numeric: Vec<bool>,
}

/// A field-sorted search over several shards.
#[derive(Debug, Clone)]
pub struct FieldSearch {
    /// Query string.
    pub q: String,
    /// What `now` means in the query's date math.
    pub now: Timestamp,
    /// Inclusive lower time bound.
    pub start: Option<Timestamp>,
    /// Inclusive upper time bound.
    pub end: Option<Timestamp>,
    /// The keys, most significant first.
    pub keys: Vec<SortField>,
    /// Hits wanted.
    pub limit: usize,
    /// Only hits strictly after this key.
    pub after: Option<FieldKey>,
    /// Only hits whose values equal those of `after`.
    pub ties_only: bool,
    /// Whether to count all matches.
    pub count: bool,
    /// When to stop.
    pub stop: Stop,
}

/// Compares two values of one key: numbers before text, missing last in both orders.
pub fn cmp_value(a: &SortValue, b: &SortValue, order: Order) -> Ordering {
    use SortValue::*;
    let natural = match (a, b) {
        (Missing, Missing) => return Ordering::Equal,
        (Missing, _) => return Ordering::Greater,
        (_, Missing) => return Ordering::Less,
        (Str(x), Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        (Str(_), _) => Ordering::Greater,
        (_, Str(_)) => Ordering::Less,
        (Int(x), Int(y)) => x.cmp(y),
        (UInt(x), UInt(y)) => x.cmp(y),
        (Int(x), UInt(y)) => i128::from(*x).cmp(&i128::from(*y)),
        (UInt(x), Int(y)) => i128::from(*x).cmp(&i128::from(*y)),
        (x, y) => as_f64(x).total_cmp(&as_f64(y)),
    };
    match order {
        Order::Asc => natural,
        Order::Desc => natural.reverse(),
    }
}

fn as_f64(v: &SortValue) -> f64 {
    match v {
        SortValue::Int(i) => *i as f64,
        SortValue::UInt(u) => *u as f64,
        SortValue::Float(f) => *f,
        SortValue::Missing | SortValue::Str(_) => f64::NAN,
    }
}

/// Compares two keys: values in the keys' directions, then ingest order ascending.
pub fn cmp_key(keys: &[SortField], a: &FieldKey, b: &FieldKey) -> Ordering {
    cmp_values(keys, &a.values, &b.values).then(a.ord.cmp(&b.ord))
}

fn cmp_values(keys: &[SortField], a: &[SortValue], b: &[SortValue]) -> Ordering {
    for ((k, x), y) in keys.iter().zip(a).zip(b) {
        match cmp_value(x, y, k.order) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

/// Runs a field-sorted search over `shards`: the exact total and the global top
/// `limit` hits. Every shard may hold hits wherever its time range lies, so each is
/// asked, with the last hit held so far as a bound, so that it loads only records that
/// can still make the page.
pub fn search_sorted<S: Shard>(shards: &[S], req: &FieldSearch) -> Result<Sorted, SearchError> {
    let mut total = 0;
    let mut numeric = vec![false; req.keys.len()];
    let mut hits: Vec<(FieldKey, Record)> = Vec::new();
    for shard in shards {
        if req.stop.should_stop() {
            break;
        }
        let before =
            (req.limit > 0 && hits.len() >= req.limit).then(|| hits[req.limit - 1].0.clone());
        let sreq = FieldRequest {
            q: &req.q,
            now: req.now,
            start: req.start,
            end: req.end,
            keys: &req.keys,
            limit: req.limit,
            after: req.after.as_ref(),
            ties_only: req.ties_only,
            before: before.as_ref(),
            count: req.count,
            load: true,
            enough: None,
            stop: &req.stop,
        };
        let mut r = match shard.search_by_field(&sreq) {
            Ok(r) => r,
            Err(_) if req.stop.is_cancelled() => return Err(SearchError::Cancelled),
            Err(e) => return Err(e),
        };
        total += r.total;
        for (n, m) in numeric.iter_mut().zip(&r.numeric) {
            *n |= m;
        }
        hits.append(&mut r.hits);
        hits.sort_by(|a, b| cmp_key(&req.keys, &a.0, &b.0));
        hits.truncate(req.limit);
    }
    if req.stop.is_cancelled() {
        return Err(SearchError::Cancelled);
    }
    Ok(Sorted {
        total,
        hits,
        numeric,
    })
}

/// One shard's part of [`search_sorted`]: `query` is the shard's filtered query,
/// `count` whether this shard counts at all.
pub fn search_shard(
    searcher: &Searcher,
    query: &dyn Query,
    count: bool,
    req: &FieldRequest<'_>,
    executor: &Executor,
) -> Result<FieldResult, SearchError> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let total = if count && req.count {
        // The query carries its time range, so the bounds add nothing.
        page::count(
            searcher,
            query,
            weight.as_ref(),
            Bounds::ALL,
            CountMode::Exact,
            executor,
            req.stop,
        )?
        .unwrap_or(0)
    } else {
        0
    };
    let mut numeric = Vec::with_capacity(req.keys.len());
    for key in req.keys {
        let mut any = false;
        for reader in searcher.segment_readers() {
            any |= reader
                .fast_fields()
                .dynamic_column_handles(&key.field)?
                .iter()
                .any(|h| {
                    use tantivy::columnar::ColumnType as T;
                    matches!(
                        h.column_type(),
                        T::I64 | T::U64 | T::F64 | T::Bool | T::DateTime
                    )
                });
        }
        numeric.push(any);
    }
    if req.limit == 0 {
        return Ok(FieldResult {
            total,
            hits: Vec::new(),
            numeric,
        });
    }
    let collector = TopByField {
        keys: req.keys.to_vec(),
        limit: req.limit,
        after: req.after.cloned(),
        ties_only: req.ties_only,
        before: req.before.cloned(),
        enough: req.enough,
    };
    let fruits = executor.map(
        |(ord, reader)| collect_segment(&collector, weight.as_ref(), ord as u32, reader, req.stop),
        searcher.segment_readers().iter().enumerate(),
    )?;
    let top = collector.merge_fruits(fruits)?;
    let mut loader = RecordLoader::new(searcher);
    let mut hits = Vec::with_capacity(top.len());
    for (key, addr) in top {
        let record = if req.load {
            loader.load(addr)?
        } else {
            Record::new(Timestamp(0), String::new())
        };
        hits.push((key, record));
    }
    Ok(FieldResult {
        total,
        hits,
        numeric,
    })
}

/// The top `limit` matches of each segment by field keys, merged.
pub struct TopByField {
    /// The keys, most significant first.
    pub keys: Vec<SortField>,
    /// Hits wanted.
    pub limit: usize,
    /// Only hits strictly after this key.
    pub after: Option<FieldKey>,
    /// Only hits whose values equal those of `after`.
    pub ties_only: bool,
    /// Only hits strictly before this key.
    pub before: Option<FieldKey>,
    /// See [`FieldRequest::enough`].
    pub enough: Option<usize>,
}

impl Collector for TopByField {
    type Fruit = Vec<(FieldKey, DocAddress)>;
    type Child = SegmentTop;

    fn for_segment(&self, segment_ord: u32, reader: &SegmentReader) -> tantivy::Result<SegmentTop> {
        let columns = self
            .keys
            .iter()
            .map(|k| KeyColumns::open(reader, &k.field))
            .collect::<tantivy::Result<Vec<_>>>()?;
        let ords = reader.fast_fields().u64(names::ORD)?;
        let to_segment = |k: &FieldKey| -> tantivy::Result<SegKey> {
            let mut values = Vec::with_capacity(k.values.len());
            for (v, c) in k.values.iter().zip(&columns) {
                values.push(c.position_of(v)?);
            }
            Ok(SegKey { values, ord: k.ord })
        };
        Ok(SegmentTop {
            segment_ord,
            orders: self.keys.iter().map(|k| k.order).collect(),
            after: self.after.as_ref().map(to_segment).transpose()?,
            ties_only: self.ties_only,
            before: self.before.as_ref().map(to_segment).transpose()?,
            columns,
            ords,
            limit: self.limit,
            held: Vec::new(),
            enough: self.enough,
            with_value: 0,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        let mut all: Vec<(FieldKey, DocAddress)> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| cmp_key(&self.keys, &a.0, &b.0));
        all.truncate(self.limit);
        Ok(all)
    }
}

/// A value as one segment compares it: text as a position in the segment's
/// dictionary (`2 * ordinal + 1` for a term it holds; an even number for text that
/// falls between two of its terms), so comparing positions compares the strings.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SegValue {
    Missing,
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(u64),
}

impl SegValue {
    fn cmp(&self, other: &SegValue, order: Order) -> Ordering {
        use SegValue::*;
        let natural = match (self, other) {
            (Missing, Missing) => return Ordering::Equal,
            (Missing, _) => return Ordering::Greater,
            (_, Missing) => return Ordering::Less,
            (Text(x), Text(y)) => x.cmp(y),
            (Text(_), _) => Ordering::Greater,
            (_, Text(_)) => Ordering::Less,
            (Int(x), Int(y)) => x.cmp(y),
            (UInt(x), UInt(y)) => x.cmp(y),
            (Int(x), UInt(y)) => i128::from(*x).cmp(&i128::from(*y)),
            (UInt(x), Int(y)) => i128::from(*x).cmp(&i128::from(*y)),
            (x, y) => x.as_f64().total_cmp(&y.as_f64()),
        };
        match order {
            Order::Asc => natural,
            Order::Desc => natural.reverse(),
        }
    }

    fn as_f64(&self) -> f64 {
        match self {
            SegValue::Int(i) => *i as f64,
            SegValue::UInt(u) => *u as f64,
            SegValue::Float(f) => *f,
            SegValue::Missing | SegValue::Text(_) => f64::NAN,
        }
    }
}

#[derive(Debug, Clone)]
struct SegKey {
    values: Vec<SegValue>,
    ord: u64,
}

fn cmp_seg_values(orders: &[Order], a: &[SegValue], b: &[SegValue]) -> Ordering {
    for ((o, x), y) in orders.iter().zip(a).zip(b) {
        match x.cmp(y, *o) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    Ordering::Equal
}

fn cmp_seg(orders: &[Order], a: &SegKey, b: &SegKey) -> Ordering {
    cmp_seg_values(orders, &a.values, &b.values).then(a.ord.cmp(&b.ord))
}

/// The columns one key's path has in one segment (none when no record of the segment
/// has it), numbers first.
struct KeyColumns {
    numbers: Vec<NumColumn>,
    text: Option<StrColumn>,
}

enum NumColumn {
    I64(Column<i64>),
    U64(Column<u64>),
    F64(Column<f64>),
    Bool(Column<bool>),
    Date(Column<tantivy::DateTime>),
}

impl KeyColumns {
    fn open(reader: &SegmentReader, field: &str) -> tantivy::Result<KeyColumns> {
        let mut out = KeyColumns {
            numbers: Vec::new(),
            text: None,
        };
        for handle in reader.fast_fields().dynamic_column_handles(field)? {
            match handle.open()? {
                DynamicColumn::I64(c) => out.numbers.push(NumColumn::I64(c)),
                DynamicColumn::U64(c) => out.numbers.push(NumColumn::U64(c)),
                DynamicColumn::F64(c) => out.numbers.push(NumColumn::F64(c)),
                DynamicColumn::Bool(c) => out.numbers.push(NumColumn::Bool(c)),
                DynamicColumn::DateTime(c) => out.numbers.push(NumColumn::Date(c)),
                DynamicColumn::Str(c) => out.text = Some(c),
                // Addresses and raw bytes have no order a log user sorts by.
                DynamicColumn::IpAddr(_) | DynamicColumn::Bytes(_) => {}
            }
        }
        Ok(out)
    }

    /// A record's value: the smallest in ascending order, the largest in descending
    /// (Elasticsearch's default `mode` for fields with several values).
    fn value(&self, doc: DocId, order: Order) -> SegValue {
        let mut best = SegValue::Missing;
        let consider = |best: &mut SegValue, v: SegValue| {
            if best.cmp(&v, order) == Ordering::Greater {
                *best = v;
            }
        };
        for c in &self.numbers {
            match c {
                NumColumn::I64(c) => c
                    .values_for_doc(doc)
                    .for_each(|v| consider(&mut best, SegValue::Int(v))),
                NumColumn::U64(c) => c.values_for_doc(doc).for_each(|v| {
                    let v = match i64::try_from(v) {
                        Ok(i) => SegValue::Int(i),
                        Err(_) => SegValue::UInt(v),
                    };
                    consider(&mut best, v)
                }),
                NumColumn::F64(c) => c
                    .values_for_doc(doc)
                    .for_each(|v| consider(&mut best, SegValue::Float(v))),
                NumColumn::Bool(c) => c
                    .values_for_doc(doc)
                    .for_each(|v| consider(&mut best, SegValue::Int(i64::from(v)))),
                NumColumn::Date(c) => c
                    .values_for_doc(doc)
                    .for_each(|v| consider(&mut best, SegValue::Int(v.into_timestamp_millis()))),
            }
        }
        if matches!(best, SegValue::Missing) {
            if let Some(t) = &self.text {
                t.term_ords(doc)
                    .for_each(|o| consider(&mut best, SegValue::Text(2 * o + 1)));
            }
        }
        best
    }

    /// Where `v` (from another segment or a client) falls among this segment's values.
    fn position_of(&self, v: &SortValue) -> tantivy::Result<SegValue> {
        Ok(match v {
            SortValue::Missing => SegValue::Missing,
            SortValue::Int(i) => SegValue::Int(*i),
            SortValue::UInt(u) => SegValue::UInt(*u),
            SortValue::Float(f) => SegValue::Float(*f),
            SortValue::Str(s) => match &self.text {
                // No text here: any position compares the same against numbers.
                None => SegValue::Text(0),
                Some(t) => {
                    let dict = t.dictionary();
                    match dict.term_ord_or_next(s.as_bytes())? {
                        tantivy::columnar::TermOrdHit::Exact(o) => SegValue::Text(2 * o + 1),
                        tantivy::columnar::TermOrdHit::Next(o) => {
                            SegValue::Text(2 * o.min(dict.num_terms() as u64))
                        }
                    }
                }
            },
        })
    }

    fn to_value(&self, v: SegValue) -> tantivy::Result<SortValue> {
        Ok(match v {
            SegValue::Missing => SortValue::Missing,
            SegValue::Int(i) => SortValue::Int(i),
            SegValue::UInt(u) => SortValue::UInt(u),
            // A segment holding both integers and fractions of a path keeps them all
            // as floats; a whole number reads the same whichever segment it is in.
            SegValue::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => SortValue::Int(f as i64),
            SegValue::Float(f) => SortValue::Float(f),
            SegValue::Text(p) => {
                let mut s = String::new();
                if let Some(t) = &self.text {
                    t.ord_to_str(p / 2, &mut s)?;
                }
                SortValue::Str(s)
            }
        })
    }
}

/// One segment's top hits, kept to at most twice `limit` between cuts.
pub struct SegmentTop {
    segment_ord: u32,
    orders: Vec<Order>,
    after: Option<SegKey>,
    ties_only: bool,
    before: Option<SegKey>,
    columns: Vec<KeyColumns>,
    ords: Column<u64>,
    limit: usize,
    held: Vec<(SegKey, DocId)>,
    enough: Option<usize>,
    /// Records seen with a value of the first key.
    with_value: usize,
}

impl SegmentTop {
    fn cut(&mut self) {
        let orders = &self.orders;
        if self.held.len() > self.limit {
            self.held
                .select_nth_unstable_by(self.limit - 1, |a, b| cmp_seg(orders, &a.0, &b.0));
            self.held.truncate(self.limit);
            // The worst held hit bounds the rest of the scan: nothing after it can enter.
            let worst = self
                .held
                .iter()
                .max_by(|a, b| cmp_seg(orders, &a.0, &b.0))
                .map(|h| h.0.clone());
            if let Some(w) = worst {
                let tighter = match &self.before {
                    Some(b) => cmp_seg(orders, &w, b) == Ordering::Less,
                    None => true,
                };
                if tighter {
                    self.before = Some(w);
                }
            }
        }
    }
}

impl SegmentCollector for SegmentTop {
    type Fruit = Vec<(FieldKey, DocAddress)>;

    fn collect(&mut self, doc: DocId, _score: tantivy::Score) {
        if self.limit == 0 || self.enough.is_some_and(|n| self.with_value > n) {
            return;
        }
        let key = SegKey {
            values: self
                .columns
                .iter()
                .zip(&self.orders)
                .map(|(c, o)| c.value(doc, *o))
                .collect(),
            ord: self.ords.first(doc).unwrap_or(0),
        };
        if key.values.first().is_some_and(|v| *v != SegValue::Missing) {
            self.with_value += 1;
        }
        if let Some(a) = &self.after {
            if cmp_seg(&self.orders, &key, a) != Ordering::Greater {
                return;
            }
            if self.ties_only
                && cmp_seg_values(&self.orders, &key.values, &a.values) != Ordering::Equal
            {
                return;
            }
        }
        if let Some(b) = &self.before {
            if cmp_seg(&self.orders, &key, b) != Ordering::Less {
                return;
            }
        }
        self.held.push((key, doc));
        if self.held.len() >= 2 * self.limit.max(16) {
            self.cut();
        }
    }

    fn harvest(mut self) -> Self::Fruit {
        self.cut();
        let orders = &self.orders;
        self.held.sort_by(|a, b| cmp_seg(orders, &a.0, &b.0));
        let mut out = Vec::with_capacity(self.held.len());
        for (k, doc) in std::mem::take(&mut self.held) {
            let mut values = Vec::with_capacity(k.values.len());
            for (v, c) in k.values.into_iter().zip(&self.columns) {
                // A term ordinal read from this segment's own column always resolves.
                values.push(c.to_value(v).unwrap_or(SortValue::Missing));
            }
            out.push((
                FieldKey { values, ord: k.ord },
                DocAddress::new(self.segment_ord, doc),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_sorts_last_in_both_orders_and_numbers_before_text() {
        use SortValue::*;
        for order in [Order::Asc, Order::Desc] {
            assert_eq!(cmp_value(&Missing, &Int(1), order), Ordering::Greater);
            assert_eq!(cmp_value(&Str("a".into()), &Missing, order), Ordering::Less);
            assert_eq!(cmp_value(&Missing, &Missing, order), Ordering::Equal);
        }
        assert_eq!(cmp_value(&Int(2), &Float(2.5), Order::Asc), Ordering::Less);
        assert_eq!(
            cmp_value(&Int(2), &Float(2.5), Order::Desc),
            Ordering::Greater
        );
        assert_eq!(
            cmp_value(&Int(-1), &UInt(u64::MAX), Order::Asc),
            Ordering::Less
        );
        assert_eq!(
            cmp_value(&Int(5), &Str("1".into()), Order::Asc),
            Ordering::Less
        );
        assert_eq!(
            cmp_value(&Str("b".into()), &Str("a".into()), Order::Desc),
            Ordering::Less
        );
    }

    #[test]
    fn keys_tie_on_values_then_ingest_order() {
        let keys = [SortField {
            field: "level".into(),
            order: Order::Desc,
        }];
        let k = |v: &str, ord| FieldKey {
            values: vec![SortValue::Str(v.into())],
            ord,
        };
        assert_eq!(cmp_key(&keys, &k("info", 1), &k("info", 2)), Ordering::Less);
        assert_eq!(cmp_key(&keys, &k("warn", 9), &k("info", 2)), Ordering::Less);
    }

    #[test]
    fn segment_text_positions_order_as_strings() {
        let p = |o: u64| SegValue::Text(o);
        // "between term 0 and term 1" is 2; term 1 is 3.
        assert_eq!(p(2).cmp(&p(1), Order::Asc), Ordering::Greater);
        assert_eq!(p(2).cmp(&p(3), Order::Asc), Ordering::Less);
        assert_eq!(SegValue::Missing.cmp(&p(3), Order::Desc), Ordering::Greater);
    }
}
