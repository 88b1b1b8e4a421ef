//! The Tantivy schema of a partition and the mapping between [`Record`]s and documents.
//!
//! Each value is stored once. The zstd-compressed docstore (`_source`) holds only what
//! no column holds: `message`, `labels`, and `fields` only when the columns could not give
//! them back exactly (arrays, nulls, floats, dotted keys; see [`columns_hold_exactly`]).
//! Time, host, container, container id, image, stream, level, the delivery identity and
//! the `fields` values live in fast columns, and a hit is put back together from both
//! ([`RecordLoader`]). A record that came through the Elasticsearch-compatible API keeps
//! only its original document (with its index and id) in the docstore, so its `_source`
//! comes back as sent; its message, labels and fields are mapped from that document again
//! when it is read ([`skein_model::es_mapping::from_original`]), so the docstore holds
//! and compresses each such document once, not twice.
//! Fields read back from columns come in key order, not as sent. `@timestamp` and `_ord` (the ingest order,
//! a tie-breaker that makes paging stable) need no inverted index: Tantivy answers range
//! queries on fast fields from the columns.

use crate::es_source;
use crate::json_value::JsonRef;
use serde::{Deserialize, Serialize};
use skein_model::es_mapping::Part;
use skein_model::{Level, Record, Timestamp};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use tantivy::columnar::{Column, DynamicColumn, StrColumn};
use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, JsonObjectOptions, Schema,
    TextFieldIndexing, TextOptions, Value, FAST, STORED,
};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenizerManager,
};
use tantivy::{DateTime, DocAddress, Searcher, TantivyDocument};

/// Name of the case-sensitive keyword tokenizer used for exact-value fields.
pub const KEYWORD_TOKENIZER: &str = "skein_keyword";
/// Name of the tokenizer of `message`.
pub const TEXT_TOKENIZER: &str = "skein_text";

/// Keyword values longer than this are kept in `_source` but not indexed; such values
/// are never typed into a search box, and Tantivy refuses terms over 64 KiB.
const MAX_KEYWORD_BYTES: usize = 1024;
const MAX_WORD_BYTES: usize = 64;

/// Handles to every field of the schema.
#[derive(Debug, Clone)]
pub struct Fields {
    /// `@timestamp`, nanosecond precision, fast.
    pub timestamp: Field,
    /// Ingest order: `lsn << 24 | position in batch`, fast.
    pub ord: Field,
    /// `host` keyword.
    pub host: Field,
    /// `container` keyword.
    pub container: Field,
    /// `container_id` keyword.
    pub container_id: Field,
    /// `_source_id`, fast only.
    pub source_id: Field,
    /// `_seq`, fast only.
    pub seq: Field,
    /// `image` keyword.
    pub image: Field,
    /// `stream` keyword.
    pub stream: Field,
    /// `level` keyword.
    pub level: Field,
    /// `pattern` keyword: the id of the message template ([`skein_model::PatternId`]).
    /// Last in the schema: partitions written before it had the same fields without it
    /// (see `partition::upgrade_schema`).
    pub pattern: Field,
    /// `message` full text with positions (phrases).
    pub message: Field,
    /// `fields` JSON object.
    pub fields: Field,
    /// `labels` JSON object.
    pub labels: Field,
    /// `message`, `fields` and `labels` as compact JSON, stored only.
    pub source: Field,
}

/// Field names as they appear in the schema (and in queries).
pub mod names {
    /// Record time.
    pub const TIMESTAMP: &str = "@timestamp";
    /// Ingest-order tie-breaker.
    pub const ORD: &str = "_ord";
    /// Stored part of the record.
    pub const SOURCE: &str = "_source";
    /// Delivery source.
    pub const SOURCE_ID: &str = "_source_id";
    /// Delivery position.
    pub const SEQ: &str = "_seq";
    /// The keyword fields kept as columns, in the order the record loader reads them.
    pub const KEYWORDS: [&str; 7] = [
        "host",
        "container",
        "container_id",
        "image",
        "stream",
        "level",
        "pattern",
    ];
}

/// Builds the schema used by every partition.
pub fn build_schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let timestamp = b.add_date_field(
        names::TIMESTAMP,
        DateOptions::default()
            .set_fast()
            .set_precision(DateTimePrecision::Nanoseconds),
    );
    let ord = b.add_u64_field(names::ORD, FAST);
    let keyword = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(KEYWORD_TOKENIZER)
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        )
        .set_fast("raw");
    let host = b.add_text_field("host", keyword.clone());
    let container = b.add_text_field("container", keyword.clone());
    let container_id = b.add_text_field("container_id", keyword.clone());
    let image = b.add_text_field("image", keyword.clone());
    let stream = b.add_text_field("stream", keyword.clone());
    let level = b.add_text_field("level", keyword.clone());
    let message = b.add_text_field(
        "message",
        TextOptions::default().set_indexing_options(
            // Hits are ordered by time, never by relevance: no field norms needed.
            TextFieldIndexing::default()
                .set_tokenizer(TEXT_TOKENIZER)
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    // `fields` holds many high-cardinality values (trace ids, user ids, paths): an
    // inverted index of them was the largest part of the index. They are columns only;
    // exact matches on them are answered by scanning the column, which Tantivy does for
    // range queries on fast fields.
    let fields = b.add_json_field(
        "fields",
        JsonObjectOptions::default()
            .set_expand_dots_enabled()
            .set_fast("raw"),
    );
    let labels = b.add_json_field(
        "labels",
        JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(KEYWORD_TOKENIZER)
                    .set_fieldnorms(false)
                    .set_index_option(IndexRecordOption::Basic),
            )
            .set_expand_dots_enabled()
            .set_fast("raw"),
    );
    let source = b.add_text_field(names::SOURCE, STORED);
    let source_id = b.add_text_field(names::SOURCE_ID, TextOptions::default().set_fast("raw"));
    let seq = b.add_u64_field(names::SEQ, FAST);
    // Added last, so every field before it keeps the number it had in partitions
    // written without it.
    let pattern = b.add_text_field("pattern", keyword);
    (
        b.build(),
        Fields {
            timestamp,
            ord,
            host,
            container,
            container_id,
            source_id,
            seq,
            image,
            stream,
            level,
            pattern,
            message,
            fields,
            labels,
            source,
        },
    )
}

/// The tokenizers the schema refers to; register them on every opened index.
pub fn tokenizers() -> TokenizerManager {
    let manager = TokenizerManager::default();
    manager.register(
        KEYWORD_TOKENIZER,
        TextAnalyzer::builder(RawTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_KEYWORD_BYTES))
            .build(),
    );
    manager.register(
        TEXT_TOKENIZER,
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_WORD_BYTES))
            .filter(LowerCaser)
            .build(),
    );
    manager
}

/// Converts a record timestamp to Tantivy's.
pub fn to_tantivy_time(ts: Timestamp) -> DateTime {
    DateTime::from_timestamp_nanos(ts.0)
}

/// The stored part of a record: what no column holds.
#[derive(Serialize)]
struct StoredRef<'a> {
    #[serde(rename = "m")]
    message: &'a str,
    #[serde(rename = "f", skip_serializing_if = "serde_json::Map::is_empty")]
    fields: &'a serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "l", skip_serializing_if = "BTreeMap::is_empty")]
    labels: &'a BTreeMap<String, String>,
    #[serde(rename = "o", skip_serializing_if = "Option::is_none")]
    original: Option<&'a skein_model::Original>,
}

/// Either stored form. A stored part with `o` and without `m` is what [`es_source::stored_text`] writes;
/// one with both (written before records were stored as their original only) is read
/// as it was written.
#[derive(Deserialize)]
struct Stored {
    #[serde(rename = "m", default)]
    message: Option<String>,
    #[serde(rename = "f", default)]
    fields: serde_json::Map<String, serde_json::Value>,
    #[serde(rename = "l", default)]
    labels: BTreeMap<String, String>,
    #[serde(rename = "o", default)]
    original: Option<skein_model::Original>,
    #[serde(rename = "i", default)]
    index: String,
    #[serde(rename = "d", default)]
    id: Option<String>,
    /// Which values a column holds were cut out of `o` ([`es_source`]).
    #[serde(rename = "c", default)]
    cuts: String,
}

/// The index and id of a record that came through `/es`, when it can be stored as its
/// original document only: mapping that document again must give the record back, which
/// holds for what `/es/_bulk` builds (it puts the index in `fields._index`, and only
/// `/es/_bulk` may set `_original`: `/api/v1/ingest` refuses it).
fn es_identity(record: &Record) -> Option<(&skein_model::Original, &str, Option<&str>)> {
    let original = record.original.as_ref()?;
    let (index, id) = skein_model::es_mapping::identity(&record.fields)?;
    Some((original, index, id))
}

/// Strings longer than this keep `fields` in the docstore too.
pub(crate) const MAX_COLUMN_STRING: usize = 32 * 1024;
/// Integers beyond this could be coerced to f64 in a column shared with floats.
const MAX_EXACT_INT: u64 = 1 << 53;

/// Whether `fields` can be read back from the fast columns unchanged (up to key order):
/// non-empty objects with plain keys whose leaves are strings, booleans or integers.
/// Anything else (arrays, nulls, floats, empty objects, keys with dots, which the columns
/// cannot tell from nesting) is kept in the docstore as well.
pub fn columns_hold_exactly(fields: &serde_json::Map<String, serde_json::Value>) -> bool {
    use serde_json::Value as V;
    !fields.is_empty()
        && fields.iter().all(|(k, v)| {
            !k.is_empty()
                && !k.contains(['.', '\\', '\u{1}', '\0'])
                && match v {
                    V::String(s) => s.len() <= MAX_COLUMN_STRING,
                    V::Bool(_) => true,
                    V::Number(n) => {
                        n.as_u64().is_some_and(|u| u <= MAX_EXACT_INT)
                            || n.as_i64()
                                .is_some_and(|i| i.unsigned_abs() <= MAX_EXACT_INT)
                    }
                    V::Object(o) => columns_hold_exactly(o),
                    V::Array(_) | V::Null => false,
                }
        })
}

impl Fields {
    /// Builds the document for `record` with ingest order `ord`.
    pub fn document(&self, record: &Record, ord: u64) -> TantivyDocument {
        self.document_pruned(record, ord, None)
    }

    /// Builds the document for `record`, its `fields` and `labels` columns held to what
    /// `budget` admits; the paths it refuses are kept in the stored record only.
    pub(crate) fn document_within(
        &self,
        record: &Record,
        ord: u64,
        budget: &mut crate::field_budget::FieldBudget,
    ) -> TantivyDocument {
        let pruned = budget.admit(&record.fields, &record.labels);
        self.document_pruned(record, ord, pruned.as_ref())
    }

    fn document_pruned(
        &self,
        record: &Record,
        ord: u64,
        pruned: Option<&crate::field_budget::Pruned>,
    ) -> TantivyDocument {
        let (fields, labels) = match pruned {
            Some(p) => (&p.fields, &p.labels),
            None => (&record.fields, &record.labels),
        };
        let mut doc = TantivyDocument::new();
        doc.add_date(self.timestamp, to_tantivy_time(record.timestamp));
        doc.add_u64(self.ord, ord);
        for (field, value) in [
            (self.host, &record.host),
            (self.container, &record.container),
            (self.container_id, &record.container_id),
            (self.image, &record.image),
            (self.stream, &record.stream),
        ] {
            if !value.is_empty() {
                doc.add_text(field, value);
            }
        }
        if let Some(level) = record.level {
            doc.add_text(self.level, level.as_str());
        }
        if let Some(pattern) = record.pattern {
            let chars = pattern.to_chars();
            doc.add_text(
                self.pattern,
                std::str::from_utf8(&chars).expect("pattern ids are ASCII"),
            );
        }
        if let (Some(src), Some(seq)) = (&record.source_id, record.seq) {
            doc.add_text(self.source_id, src);
            doc.add_u64(self.seq, seq);
        }
        doc.add_text(self.message, &record.message);
        if !fields.is_empty() {
            doc.add_field_value(self.fields, JsonRef::Fields(fields));
        }
        if !labels.is_empty() {
            doc.add_field_value(self.labels, JsonRef::Labels(labels));
        }
        // One buffer per indexing thread for the stored text, which Tantivy copies.
        thread_local! {
            static STORED: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        STORED.with_borrow_mut(|stored| {
            if let Some((original, index, id)) = es_identity(record) {
                es_source::write_stored(stored, original, index, id);
            } else {
                let empty = serde_json::Map::new();
                let text = serde_json::to_string(&StoredRef {
                    message: &record.message,
                    // Fields some columns refused are read back from here.
                    fields: if pruned.is_none() && columns_hold_exactly(&record.fields) {
                        &empty
                    } else {
                        &record.fields
                    },
                    labels: &record.labels,
                    original: record.original.as_ref(),
                })
                .expect("serialisable");
                *stored = text;
            }
            doc.add_text(self.source, &*stored);
        });
        doc
    }
}

/// The columns of one segment a record is read back from.
struct SegmentColumns {
    timestamp: Column<DateTime>,
    keywords: Vec<Option<StrColumn>>,
    source_id: Option<StrColumn>,
    seq: Column<u64>,
    /// Every column under `fields`, with its path.
    fields: Vec<(Vec<String>, DynamicColumn)>,
}

impl SegmentColumns {
    /// The columns of `reader`'s segment, opened once per segment: listing a segment's
    /// fields and opening hundreds of `fields.*` columns took longer than reading a
    /// page of hits from them.
    fn of(reader: &tantivy::SegmentReader) -> tantivy::Result<Arc<SegmentColumns>> {
        static CACHE: OnceLock<Mutex<HashMap<tantivy::index::SegmentId, Arc<SegmentColumns>>>> =
            OnceLock::new();
        // Past this many segments the cache starts again, dropping segments merged away.
        const CACHED_SEGMENTS: usize = 4096;
        let cache = CACHE.get_or_init(Default::default);
        let id = reader.segment_id();
        if let Some(c) = cache.lock().expect("columns cache").get(&id) {
            return Ok(c.clone());
        }
        let ff = reader.fast_fields();
        let keywords = names::KEYWORDS
            .iter()
            .map(|n| ff.str(n))
            .collect::<tantivy::Result<Vec<_>>>()?;
        let mut fields = Vec::new();
        for meta in reader.fields_metadata()? {
            let Some(path) = meta.field_name.strip_prefix("fields.") else {
                continue;
            };
            if meta.fast_size.is_none() {
                continue;
            }
            let path: Vec<String> = path.split('.').map(str::to_string).collect();
            for handle in ff.dynamic_column_handles(&meta.field_name)? {
                fields.push((path.clone(), handle.open()?));
            }
        }
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        fields.dedup_by(|a, b| a.0 == b.0 && a.1.column_type() == b.1.column_type());
        let cols = Arc::new(SegmentColumns {
            timestamp: ff.date(names::TIMESTAMP)?,
            keywords,
            source_id: ff.str(names::SOURCE_ID)?,
            seq: ff.u64(names::SEQ)?,
            fields,
        });
        let mut cache = cache.lock().expect("columns cache");
        if cache.len() >= CACHED_SEGMENTS {
            cache.clear();
        }
        cache.insert(id, cols.clone());
        Ok(cols)
    }
}

/// Strings of column values already looked up by one loader, by column and ordinal.
/// Every lookup in a column's dictionary decompresses a block of it (with a new zstd
/// context each time); the hits of one page share most of their hosts, containers and
/// levels.
#[derive(Default)]
struct Strings(HashMap<(usize, u64), String>);

impl Strings {
    /// The value of `col` (the `slot`-th string column) for `doc`.
    fn get(&mut self, slot: usize, col: &StrColumn, doc: u32) -> tantivy::Result<Option<&str>> {
        let Some(ord) = col.term_ords(doc).next() else {
            return Ok(None);
        };
        let s = match self.0.entry((slot, ord)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let mut s = String::new();
                col.ord_to_str(ord, &mut s)?;
                e.insert(s)
            }
        };
        Ok(Some(s))
    }
}

/// Column slots in [`Strings`]: the keywords first, then `_source_id`, then `fields`.
const SOURCE_ID_SLOT: usize = names::KEYWORDS.len();

/// Reads whole records back for hits: the stored part from the docstore, the rest from
/// the columns.
pub struct RecordLoader<'s> {
    searcher: &'s Searcher,
    source: Field,
    segments: HashMap<u32, (Arc<SegmentColumns>, Strings)>,
}

impl<'s> RecordLoader<'s> {
    /// A loader for hits of `searcher`.
    pub fn new(searcher: &'s Searcher) -> RecordLoader<'s> {
        RecordLoader {
            searcher,
            source: searcher
                .schema()
                .get_field(names::SOURCE)
                .expect("every partition has _source"),
            segments: HashMap::new(),
        }
    }

    /// The record at `addr`.
    pub fn load(&mut self, addr: DocAddress) -> tantivy::Result<Record> {
        let doc: TantivyDocument = self.searcher.doc(addr)?;
        let stored: Stored = doc
            .get_first(self.source)
            .and_then(|v| v.as_str())
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| {
                tantivy::TantivyError::InternalError(format!(
                    "document {addr:?} has no readable _source"
                ))
            })?;
        let (cols, strings) = match self.segments.entry(addr.segment_ord) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert((
                SegmentColumns::of(self.searcher.segment_reader(addr.segment_ord))?,
                Strings::default(),
            )),
        };
        let doc_id = addr.doc_id;
        let mut kw = [const { String::new() }; names::KEYWORDS.len()];
        for (slot, (out, col)) in kw.iter_mut().zip(&cols.keywords).enumerate() {
            if let Some(col) = col {
                if let Some(v) = strings.get(slot, col, doc_id)? {
                    out.push_str(v);
                }
            }
        }
        let [host, container, container_id, image, stream, level, pattern] = kw;
        let pattern = pattern.parse().ok();
        let source_id = match &cols.source_id {
            Some(col) => strings
                .get(SOURCE_ID_SLOT, col, doc_id)?
                .map(str::to_string),
            None => None,
        };
        let seq = source_id.as_ref().and_then(|_| cols.seq.first(doc_id));
        let timestamp = Timestamp(
            cols.timestamp
                .first(doc_id)
                .map_or(0, |t| t.into_timestamp_nanos()),
        );
        let Some(message) = stored.message else {
            // Stored as the original document only: map it again.
            let original = stored.original.ok_or_else(|| {
                tantivy::TantivyError::InternalError(format!(
                    "document {addr:?} has neither a message nor an original in _source"
                ))
            })?;
            let original = if stored.cuts.is_empty() {
                original
            } else {
                let mut buf = String::new();
                let rebuilt = es_source::rebuild(original.get(), &stored.cuts, |part, key| {
                    let v = match part {
                        Part::Host => &host,
                        Part::Container => &container,
                        Part::ContainerId => &container_id,
                        Part::Image => &image,
                        Part::Stream => &stream,
                        Part::Level => &level,
                        Part::Timestamp => return Some(timestamp.to_rfc3339()),
                        Part::Field => {
                            let col = cols.fields.iter().find_map(|(path, col)| match col {
                                DynamicColumn::Str(c) if path.len() == 1 && path[0] == key => {
                                    Some(c)
                                }
                                _ => None,
                            })?;
                            let ord = col.term_ords(doc_id).next()?;
                            buf.clear();
                            col.ord_to_str(ord, &mut buf).ok()?;
                            &buf
                        }
                    };
                    (!v.is_empty()).then(|| v.clone())
                })
                .and_then(|text| skein_model::Original::from_json(&text).map_err(|e| e.to_string()))
                .map_err(|e| {
                    tantivy::TantivyError::InternalError(format!(
                        "document {addr:?}: cannot rebuild its stored original: {e}"
                    ))
                })?;
                rebuilt
            };
            let mut record = skein_model::es_mapping::from_original(
                original,
                &stored.index,
                stored.id.as_deref(),
                timestamp,
            )
            .map_err(|e| {
                tantivy::TantivyError::InternalError(format!(
                    "document {addr:?}: cannot map its stored original again: {}",
                    e.0
                ))
            })?;
            // The columns are what was indexed; they win over the mapping for the time.
            record.timestamp = timestamp;
            record.source_id = source_id;
            record.seq = seq;
            record.pattern = pattern;
            return Ok(record);
        };
        let fields = if stored.fields.is_empty() {
            fields_from_columns(&cols.fields, doc_id, strings)?
        } else {
            stored.fields
        };
        Ok(Record {
            timestamp,
            host,
            container,
            container_id,
            image,
            stream,
            level: Level::parse_loose(&level),
            pattern,
            message,
            labels: stored.labels,
            fields,
            source_id,
            seq,
            original: stored.original,
        })
    }
}

/// Rebuilds a record's `fields` from the columns it has values in. Only records whose
/// fields [`columns_hold_exactly`] get here, and those hold no floats: an f64 read back
/// is an integer coerced because other records put floats in the same column.
fn fields_from_columns(
    columns: &[(Vec<String>, DynamicColumn)],
    doc: u32,
    strings: &mut Strings,
) -> tantivy::Result<serde_json::Map<String, serde_json::Value>> {
    use serde_json::Value as V;
    let mut out = serde_json::Map::new();
    for (i, (path, col)) in columns.iter().enumerate() {
        let value = match col {
            DynamicColumn::Str(c) => strings
                .get(SOURCE_ID_SLOT + 1 + i, c, doc)?
                .map(|s| V::String(s.to_string())),
            DynamicColumn::U64(c) => c.first(doc).map(V::from),
            DynamicColumn::I64(c) => c.first(doc).map(V::from),
            DynamicColumn::F64(c) => c.first(doc).map(|f| {
                if f >= 0.0 {
                    V::from(f as u64)
                } else {
                    V::from(f as i64)
                }
            }),
            DynamicColumn::Bool(c) => c.first(doc).map(V::from),
            _ => None,
        };
        let Some(value) = value else { continue };
        insert_at(&mut out, path, value);
    }
    Ok(out)
}

fn insert_at(
    obj: &mut serde_json::Map<String, serde_json::Value>,
    path: &[String],
    value: serde_json::Value,
) {
    match path {
        [] => {}
        [last] => {
            obj.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = obj
                .entry(first.clone())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let serde_json::Value::Object(inner) = entry {
                insert_at(inner, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn roundtrip(records: &[Record]) -> Vec<Record> {
        let (schema, fields) = build_schema();
        let index = tantivy::Index::builder()
            .schema(schema)
            .tokenizers(tokenizers())
            .create_in_ram()
            .unwrap();
        let mut w: tantivy::IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        for (i, r) in records.iter().enumerate() {
            w.add_document(fields.document(r, i as u64)).unwrap();
        }
        w.commit().unwrap();
        let searcher = index.reader().unwrap().searcher();
        let mut loader = RecordLoader::new(&searcher);
        let mut out: Vec<Record> = (0..records.len() as u32)
            .map(|d| loader.load(DocAddress::new(0, d)).unwrap())
            .collect();
        out.sort_by_key(|r| r.message.clone());
        out
    }

    #[test]
    fn records_come_back_whole() {
        let t = Timestamp::parse_rfc3339("2026-11-20T10:00:00.123456789Z").unwrap();
        let mut full = Record::new(t, "a payment failed");
        full.host = "node-1".into();
        full.container = "web".into();
        full.container_id = "3f2a".into();
        full.image = "shop/web:1.4".into();
        full.stream = "stderr".into();
        full.level = Some(Level::Error);
        full.labels
            .insert("com.docker.compose.service".into(), "web".into());
        full.source_id = Some("node-1/3f2a/stderr".into());
        full.seq = Some(1048576);
        let columnar = json!({"user_id": 42, "neg": -7, "ok": true, "path": "/api/pay",
            "http": {"status": 503, "method": "POST"}, "big": 9007199254740992u64});
        full.fields = columnar.as_object().unwrap().clone();
        let mut stored = Record::new(Timestamp(t.0 + 1), "b odd fields");
        let odd = json!({"ratio": 0.5, "tags": ["x", "y"], "none": null, "a.b": 1, "empty": {}});
        stored.fields = odd.as_object().unwrap().clone();
        // Shares a column with the float above: the integer must come back as one.
        let mut coerced = Record::new(Timestamp(t.0 + 2), "c coerced");
        coerced.fields = json!({"ratio": 3}).as_object().unwrap().clone();
        let mut bare = Record::new(Timestamp(t.0 + 3), "d bare");
        bare.original = Some(
            skein_model::Original::from_json(r#"{"msg": "d bare",  "z": 1.50, "a": [1]}"#).unwrap(),
        );
        // As `/es/_bulk` builds it: stored as the document only, mapped again on read.
        let sent = r#"{"log":"e from es\n", "kubernetes": {"pod_name": "p-1", "host": "n"},  "n": 1.50, "level": "warn", "stream": "stdout", "label": {"app": "x"}, "svc": "pay", "image":"shop/pay:1", "timestamp": "2026-11-20T10:00:00.000000004Z", "trace": "t\u0031"}"#;
        let es =
            skein_model::es_mapping::map_document(sent, "logs", Some("id-\"1"), Timestamp(t.0 + 4))
                .unwrap();
        assert!(es_identity(&es).is_some());
        assert!(columns_hold_exactly(&full.fields));
        assert!(!columns_hold_exactly(&stored.fields));
        let got = roundtrip(&[
            full.clone(),
            stored.clone(),
            coerced.clone(),
            bare.clone(),
            es.clone(),
        ]);
        let as_value = |r: &Record| serde_json::to_value(r).unwrap();
        assert_eq!(as_value(&got[0]), as_value(&full));
        assert_eq!(as_value(&got[1]), as_value(&stored));
        assert_eq!(
            got[1].fields.keys().collect::<Vec<_>>(),
            stored.fields.keys().collect::<Vec<_>>(),
            "docstore keeps key order"
        );
        assert_eq!(got[2].fields["ratio"], json!(3));
        assert_eq!(as_value(&got[3]), as_value(&bare));
        assert_eq!(
            got[3].original, bare.original,
            "the original comes back byte for byte"
        );
        assert_eq!(got[0].original, None);
        assert_eq!(
            got[4], es,
            "an /es record comes back whole from its original"
        );
        assert_eq!(got[4].message, "e from es");
        assert_eq!(got[4].original.as_ref().unwrap().get(), sent);
        // What came back had values cut out of the docstore and read from the columns.
        let stored = es_source::stored_text(es.original.as_ref().unwrap(), "logs", Some("id-\"1"));
        for cut in ["shop/pay:1", "\"pay\"", "stdout", "warn", "10:00:00"] {
            assert!(!stored.contains(cut), "{cut} in {stored}");
        }
        assert_eq!(got[4].fields["n"], json!(1.5));
    }
}
