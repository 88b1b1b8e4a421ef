//! `fields.<path>:true|false`: the records whose payload field is that boolean.
//!
//! Payload fields are columns without an inverted index, and exact values elsewhere are
//! one-value ranges over the column; Tantivy's range query refuses a boolean JSON term,
//! so boolean columns are scanned here.

use tantivy::query::{BitSetDocSet, ConstScorer, EmptyScorer, EnableScoring, Explanation};
use tantivy::query::{Query, Scorer, Weight};
use tantivy::{BitSet, DocId, Score, SegmentReader, TantivyError};

/// Documents whose boolean column `path` (e.g. `fields.ok`) holds `value`.
#[derive(Debug, Clone)]
pub struct BoolColumnQuery {
    path: String,
    value: bool,
}

impl BoolColumnQuery {
    /// Matches the documents with `value` among the values of the column `path`.
    pub fn new(path: String, value: bool) -> BoolColumnQuery {
        BoolColumnQuery { path, value }
    }
}

impl Query for BoolColumnQuery {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for BoolColumnQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let Some(column) = reader.fast_fields().column_opt::<bool>(&self.path)? else {
            return Ok(Box::new(EmptyScorer));
        };
        let mut docs = BitSet::with_max_value(reader.max_doc());
        for doc in 0..reader.max_doc() {
            if column.values_for_doc(doc).any(|v| v == self.value) {
                docs.insert(doc);
            }
        }
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(docs), boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not have {}:{}",
                self.path, self.value
            )));
        }
        Ok(Explanation::new("BoolColumnQuery", 1.0))
    }
}
