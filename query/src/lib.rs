//! Finding records again: from a query string and a time range to merged hits.
//!
//! - [`parse`]: the query string (Lucene style, as typed in Kibana) to a Tantivy query,
//!   through [`lang`]: its parser and compiler.
//! - [`shard`]: the [`Shard`] seam. A search is scatter-gather over shards; today each
//!   shard is a local daily partition, later it can be a remote indexer.
//! - [`search`](mod@search): [`SearchRequest`] → [`SearchResponse`]: picks the shards overlapping the
//!   time range, asks each for its top hits and count, merges by `(@timestamp, ingest
//!   order)` and hands out a [`cursor::Cursor`] for the next page.
//! - [`page`]: one partition's first page, read from the newest (or oldest) blocks of
//!   documents until nothing unread can beat it, and its exact count, from document
//!   frequencies where the query allows; [`time_blocks`]: where each stretch of time
//!   lies in a segment, which both use.
//! - [`cursor`]: the opaque paging cursor.
//! - [`follow`]: history then live records for `GET /api/v1/tail` and `skein logs -f`.
//! - [`fields`](mod@fields) and [`sources`](mod@sources): what the index holds, for field lists and name lookup:
//!   field names with types and top values; hosts and containers with their time spans.
//! - [`aggregate`](mod@aggregate): Elasticsearch-style aggregations over the same shards, merged
//!   exactly from each shard's intermediate results.
//! - [`patterns`](mod@patterns): the message templates of a query's records, with counts,
//!   trends, and which are new or surging (`/api/v1/patterns`).
//! - [`stop`]: a request's time limit and its client's disconnect, checked while
//!   segments are scanned.

pub mod aggregate;
pub mod cursor;
pub mod fields;
pub mod follow;
pub mod lang;
pub mod page;
pub mod parse;
pub mod patterns;
pub mod search;
pub mod shard;
pub mod sort_by_field;
pub mod sources;
pub mod stop;
pub mod time_blocks;

pub use aggregate::{aggregate, AggLimits, AggregateError, AggregateRequest, AggregateResponse};
pub use cursor::Cursor;
pub use fields::{fields, FieldsRequest, FieldsResponse};
pub use parse::QueryError;
pub use search::{search, search_over, Order, SearchError, SearchRequest, SearchResponse, Total};
pub use shard::{PartitionShard, Shard, SortKey};
pub use sources::{sources, Source, SourcesResponse};
pub use stop::{Stop, StopOnDrop};
