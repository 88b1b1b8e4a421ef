//! The Tantivy schema of a partition and the mapping between [`Record`]s and documents.
//!
//! Each value is stored once: the record's JSON form goes into the zstd-compressed
//! docstore as `_source`, and every other field is indexed and/or columnar (fast) only.
//! `@timestamp` and `_ord` (the ingest order, a tie-breaker that makes paging stable) are
//! fast fields; Tantivy answers range queries on them from the columns, so they need no
//! inverted index.

use skein_model::{Record, Timestamp};
use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, JsonObjectOptions, OwnedValue,
    Schema, TextFieldIndexing, TextOptions, Value, FAST, STORED,
};
use tantivy::tokenizer::{
    LowerCaser, RawTokenizer, RemoveLongFilter, SimpleTokenizer, TextAnalyzer, TokenizerManager,
};
use tantivy::{DateTime, TantivyDocument};

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
    /// `image` keyword.
    pub image: Field,
    /// `stream` keyword.
    pub stream: Field,
    /// `level` keyword.
    pub level: Field,
    /// `message` full text with positions (phrases).
    pub message: Field,
    /// `fields` JSON object.
    pub fields: Field,
    /// `labels` JSON object.
    pub labels: Field,
    /// The record's JSON form, stored only.
    pub source: Field,
}

/// Field names as they appear in the schema (and in queries).
pub mod names {
    /// Record time.
    pub const TIMESTAMP: &str = "@timestamp";
    /// Ingest-order tie-breaker.
    pub const ORD: &str = "_ord";
    /// Stored record.
    pub const SOURCE: &str = "_source";
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
    let container_id = b.add_text_field(
        "container_id",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(KEYWORD_TOKENIZER)
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        ),
    );
    let image = b.add_text_field("image", keyword.clone());
    let stream = b.add_text_field("stream", keyword.clone());
    let level = b.add_text_field("level", keyword);
    let message = b.add_text_field(
        "message",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TEXT_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let json = JsonObjectOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(KEYWORD_TOKENIZER)
                .set_fieldnorms(false)
                .set_index_option(IndexRecordOption::Basic),
        )
        .set_expand_dots_enabled()
        .set_fast("raw");
    let fields = b.add_json_field("fields", json.clone());
    let labels = b.add_json_field("labels", json);
    let source = b.add_text_field(names::SOURCE, STORED);
    (
        b.build(),
        Fields {
            timestamp,
            ord,
            host,
            container,
            container_id,
            image,
            stream,
            level,
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

impl Fields {
    /// Builds the document for `record`, whose JSON form is `json` and ingest order `ord`.
    pub fn document(&self, record: &Record, json: &str, ord: u64) -> TantivyDocument {
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
        doc.add_text(self.message, &record.message);
        if !record.fields.is_empty() {
            doc.add_field_value(self.fields, &OwnedValue::from(record.fields.clone()));
        }
        if !record.labels.is_empty() {
            let labels: serde_json::Map<String, serde_json::Value> = record
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect();
            doc.add_field_value(self.labels, &OwnedValue::from(labels));
        }
        doc.add_text(self.source, json);
        doc
    }

    /// Reads the record back from a stored document.
    pub fn record(&self, doc: &TantivyDocument) -> Option<Record> {
        let json = doc.get_first(self.source)?.as_str()?;
        Record::from_json(json.as_bytes()).ok()
    }
}
