//! Shared parts of the benchmarks in `bench/`:
//!
//! - [`compare`]: arms measured in the same run, alternating, with their ratios.
//! - [`corpus`]: the generated json-file corpus (made once, reused) and its conversion
//!   into the ingest batches an agent would send.
//! - [`server`]: the real `skein` release binary as a child process, with its CPU time
//!   and peak memory read from `/proc`.
//! - [`stats`]: percentiles and the machine description printed with every figure.
//! - [`agent`]: the real `skein agent` as a child process, with its metrics.
//! - [`sink`]: a counting stand-in for the server's ingest endpoint.
//! - [`procfs`]: CPU time, memory and context switches of a process.
//! - [`send`]: the corpus's batches sent to the ingest endpoint as agents send them.
//! - [`fuzz`]: generated and mutated inputs for the parsers (`bench/fuzz`).
//! - [`otlp`]: the corpus as OpenTelemetry export requests, sent over OTLP/HTTP and
//!   OTLP/gRPC.
//! - [`table`]: the parsed records as a CSV table, for loading SQL engines to compare with.

pub mod agent;
pub mod compare;
pub mod corpus;
pub mod fuzz;
pub mod otlp;
pub mod procfs;
pub mod send;
pub mod server;
pub mod sink;
pub mod stats;
pub mod table;
