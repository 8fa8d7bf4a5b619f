//! hydrant: an ingest engine that InfluxDB clients cannot tell from InfluxDB.
//!
//! ```text
//! accept (per core, SO_REUSEPORT)   one glommio executor pinned to each CPU
//!   -> http     request parsing, limits, auth, routing, responses
//!   -> decode   Content-Encoding (libdeflate gzip), size caps
//!   -> lp       line protocol: SIMD structural scan, arena strings, per-line errors
//!   -> write    schema check against the shared catalog, WAL append + group commit
//!   -> shard    this core's Arrow column builders per table -> RecordBatches -> Parquet
//! query: http -> influxql -> fan out to every core's shard -> merge -> encode
//! ```
//!
//! A core owns its shard outright; nothing on the write path takes a lock.
//! Modules appear below in pipeline order as they are built.

pub mod auth;
pub mod catalog;
pub mod config;
pub mod decode;
pub mod files;
pub mod http;
pub mod logging;
pub mod lp;
pub mod metrics;
pub mod persist;
pub mod query;
pub mod retention;
pub mod runtime;
pub mod shard;
pub mod wal;
pub mod write;
