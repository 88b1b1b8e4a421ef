//! An Elasticsearch document to a [`skein_model::Record`], and the names users query it
//! by: the mapping itself lives in [`skein_model::es_mapping`], where the indexer can
//! reach it to rebuild records stored as their original document.

pub use skein_model::es_mapping::*;
